"""Config.from_dict and Config.from_summary: the inverse of to_dict, validated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dedup.config import Config, DedupConfig, InputConfig, ShingleConfig, TopicConfig
from dedup.errors import ConfigError, DedupError
from dedup.run import clean_files

NON_DEFAULT = [
    Config(),
    Config(dedup=DedupConfig(threshold=0.6, doc_threshold=0.85, cross_doc_paragraphs=True, boilerplate=True)),
    Config(shingle=ShingleConfig(size=7, num_perm=64, seed=9), topic=TopicConfig(enabled=False, model="m.npz")),
    Config(input=InputConfig(text_field="body", id_field="url", max_paragraphs=50), topic=TopicConfig(rounds=1)),
]


@pytest.mark.parametrize("config", NON_DEFAULT)
def test_from_dict_inverts_to_dict(config: Config) -> None:
    assert Config.from_dict(config.to_dict()) == config
    # Through JSON too, as a summary stores it.
    assert Config.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_missing_sections_and_keys_take_defaults() -> None:
    assert Config.from_dict({}) == Config()
    config = Config.from_dict({"dedup": {"doc_threshold": 0.8}, "topic": {}})
    assert config == Config(dedup=DedupConfig(doc_threshold=0.8))


def test_an_int_is_accepted_for_a_float() -> None:
    assert Config.from_dict({"topic": {"threshold": 1}}).topic.threshold == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"dedupe": {}}, "unknown section 'dedupe'; the sections are dedup, furniture, input, shingle, topic"),
        ({"dedup": {"treshold": 0.5}}, "dedup: unknown setting 'treshold'; the settings are boilerplate,"),
        ({"dedup": {"threshold": "0.5"}}, "dedup.threshold: expected a number, got '0.5'"),
        ({"dedup": {"enabled": 1}}, "dedup.enabled: expected true or false, got 1"),
        ({"shingle": {"size": 5.0}}, "shingle.size: expected an integer, got 5.0"),
        ({"shingle": {"seed": True}}, "shingle.seed: expected an integer, got True"),
        ({"topic": {"model": 3}}, "topic.model: expected a string or null, got 3"),
        ({"dedup": {"threshold": 2.0}}, "dedup: dup threshold must be between 0.05 and 1.0, got 2.0"),
        ({"shingle": {"num_perm": 100}}, "num_perm must be a multiple of 16"),
        ({"topic": [1]}, "topic: expected a dict of settings, got list"),
        ([], "expected a dict of sections, got list"),
    ],
)
def test_from_dict_refuses_bad_data(data: object, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^config: ") as caught:
        Config.from_dict(data)
    assert message in str(caught.value)
    assert isinstance(caught.value, DedupError)


def test_from_summary_repeats_a_run(tmp_path: Path) -> None:
    inputs = tmp_path / "in.jsonl"
    rain = "Rain fell on Paris all day and the river rose."
    lines = [
        {"id": "a", "text": f"{rain}\n{rain}"},
        {"id": "b", "text": "A new bakery opened on the corner of the market square this week."},
    ]
    inputs.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    config = Config(dedup=DedupConfig(threshold=0.7, doc_threshold=0.9), topic=TopicConfig(enabled=False))
    clean_files([inputs], tmp_path / "out.jsonl", config, summary=tmp_path / "summary.json", workers=1)

    loaded = Config.from_summary(tmp_path / "summary.json")
    assert loaded == config
    assert loaded.fingerprint() == json.loads((tmp_path / "summary.json").read_text())["fingerprint"]

    # The loaded settings repeat the run byte for byte.
    clean_files([inputs], tmp_path / "again.jsonl", loaded, summary=tmp_path / "again.json", workers=1)
    assert (tmp_path / "again.jsonl").read_bytes() == (tmp_path / "out.jsonl").read_bytes()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the summary"),
        ("not json", "not a summary JSON file"),
        ('{"version": "1"}', 'no "config" object'),
        ('{"config": {"dedup": {"x": 1}}}', "summary.json: config: dedup: unknown setting 'x'"),
    ],
)
def test_from_summary_refuses_bad_files(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "summary.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"summary\.json") as caught:
        Config.from_summary(path)
    assert message in str(caught.value)
