"""Configuration files: ``--config dedup.toml``, ``[tool.dedup]`` in ``pyproject.toml``, and ``dedup config``."""

from __future__ import annotations

import inspect
import json
import re
import tomllib
from pathlib import Path

import pytest

from dedup.cli import _settings_of, config_from_options
from dedup.config import Config
from dedup.configfile import find_config_file, read_config_file, to_toml
from dedup.errors import ConfigError

TEXT = "The council approved the budget for the city's libraries on Tuesday evening."


@pytest.fixture
def source(write_jsonl, tmp_path) -> Path:
    return write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": f"{TEXT}\n{TEXT}"}])


def summary_of(run, source: Path, tmp_path: Path, *options: str | Path) -> dict:
    summary = tmp_path / "summary.json"
    result = run("clean", source, "-o", tmp_path / "out.jsonl", "--summary", summary, *options)
    assert result.exit_code == 0, result.output
    return json.loads(summary.read_text("utf-8"))


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    """Run in an empty directory: no pyproject.toml of the checkout is picked up."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


# -- precedence: command line over file over defaults -------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "threshold"),
    [
        ((), 0.6),  # the file over the default
        (("--dup-threshold", "0.8"), 0.8),  # the command line over the file
        (("--dup-threshold", "0.5"), 0.5),  # also when the value given is the default
    ],
    ids=["file", "flag", "flag-equal-to-default"],
)
def test_the_command_line_overrides_the_file_which_overrides_the_defaults(
    run, source, tmp_path, in_tmp, options, threshold
):
    config = tmp_path / "dedup.toml"
    config.write_text("[dedup]\nthreshold = 0.6\nboilerplate = true\n\n[input]\nmax_paragraphs = 50\n")

    got = summary_of(run, source, tmp_path, "--config", config, *options)

    assert got["config"]["dedup"]["threshold"] == threshold
    assert got["config"]["dedup"]["boilerplate"] is True
    assert got["config"]["input"]["max_paragraphs"] == 50
    assert got["config"]["dedup"]["doc_threshold"] == Config().dedup.doc_threshold, "keys left out keep defaults"
    assert got["config_file"] == str(config)


def test_without_a_file_the_defaults_hold_and_no_file_is_recorded(run, source, tmp_path, in_tmp):
    got = summary_of(run, source, tmp_path)

    assert got["config"] == Config().to_dict()
    assert got["config_file"] is None


def test_a_switch_set_in_the_file_can_be_undone_on_the_command_line(run, source, tmp_path, in_tmp):
    config = tmp_path / "dedup.toml"
    config.write_text("[dedup]\nenabled = false\ndocuments = false\nboilerplate = true\n")

    by_file = summary_of(run, source, tmp_path, "--config", config)
    undone = summary_of(run, source, tmp_path, "--config", config, "--dedup", "--doc-dedup", "--no-boilerplate")

    assert by_file["paragraphs"] == {"in": 2, "out": 2}
    assert undone["paragraphs"] == {"in": 2, "out": 1}
    assert (undone["config"]["dedup"]["enabled"], undone["config"]["dedup"]["boilerplate"]) == (True, False)


def test_the_file_gives_the_same_run_as_the_options(run, source, tmp_path, in_tmp):
    config = tmp_path / "dedup.toml"
    config.write_text("[dedup]\nenabled = false\ndocuments = false\n\n[topic]\nenabled = false\n")

    by_file = summary_of(run, source, tmp_path, "--config", config)
    by_options = summary_of(run, source, tmp_path, "--no-dedup", "--no-topic")

    assert by_file.pop("config_file") == str(config) and by_options.pop("config_file") is None
    for summary in (by_file, by_options):
        del summary["timing"]  # differs from run to run
    assert by_file == by_options


def test_a_relative_model_path_is_relative_to_the_file(run, source, tmp_path, in_tmp):
    folder = tmp_path / "settings"
    folder.mkdir()
    (folder / "dedup.toml").write_text('[topic]\nmodel = "models/mine.npz"\n')

    result = run("clean", source, "-o", tmp_path / "out.jsonl", "--config", folder / "dedup.toml")

    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {folder / 'models' / 'mine.npz'}: no such model file; create one with `dedup fit-topic`\n"
    )


# -- pyproject.toml --------------------------------------------------------------------------------------------


def test_tool_dedup_in_pyproject_is_read_from_the_working_directory(run, source, tmp_path, in_tmp):
    (in_tmp / "pyproject.toml").write_text(
        '[project]\nname = "crawler"\n\n[tool.dedup.dedup]\nthreshold = 0.65\n\n[tool.dedup.topic]\nenabled = false\n'
    )

    got = summary_of(run, source, tmp_path)

    assert got["config"]["dedup"]["threshold"] == 0.65
    assert got["config"]["topic"]["enabled"] is False
    assert got["config_file"] == str(in_tmp / "pyproject.toml")
    other = tmp_path / "other.toml"
    other.write_text("[dedup]\nthreshold = 0.9\n")
    given = summary_of(run, source, tmp_path, "--config", other)
    assert given["config"]["dedup"]["threshold"] == 0.9, "--config replaces pyproject.toml"
    assert given["config"]["topic"]["enabled"] is True, "pyproject.toml is not read at all then"


def test_a_pyproject_without_tool_dedup_is_ignored(run, source, tmp_path, in_tmp):
    (in_tmp / "pyproject.toml").write_text('[project]\nname = "crawler"\n\n[tool.black]\nline-length = 100\n')

    assert find_config_file(in_tmp) is None
    assert summary_of(run, source, tmp_path)["config_file"] is None


def test_a_pyproject_given_with_config_needs_tool_dedup(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "crawler"\n')

    with pytest.raises(ConfigError, match=r"pyproject.toml: no \[tool.dedup\] table"):
        read_config_file(path)


# -- errors ------------------------------------------------------------------------------------------------------

BAD_FILES = {
    "unknown-key": ("[dedup]\nthreshold = 0.6\nthreshhold = 0.7\n",
                    "{file}: dedup: unknown setting 'threshhold'; the settings are boilerplate, "
                    "boilerplate_max_chars, boilerplate_min_docs, cross_doc_paragraphs, doc_threshold, documents, "
                    "enabled, min_chars, threshold"),
    "unknown-section": ("[dedupe]\nthreshold = 0.6\n",
                        "{file}: unknown section 'dedupe'; the sections are dedup, furniture, input, shingle, "
                        "topic"),
    "wrong-type": ('[topic]\nrounds = "3"\n', "{file}: topic.rounds: expected an integer, got '3'"),
    "out-of-range": ("[dedup]\nthreshold = 1.5\n",
                     "{file}: dedup: dup threshold must be between 0.05 and 1.0, got 1.5"),
    "broken-toml": ("[dedup]\nthreshold = 0.6\nboilerplate = yes\n",
                    "{file}: not valid TOML: Invalid value (at line 3, column 15)"),
    "a-date": ("[input]\ntext_field = 1979-05-27\n", "{file}: input.text_field: expected a string, got "
                                                     "datetime.date(1979, 5, 27)"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_is_refused_naming_it(run, source, tmp_path, in_tmp, case):
    content, message = BAD_FILES[case]
    config = tmp_path / "dedup.toml"
    config.write_text(content)

    result = run("clean", source, "-o", tmp_path / "out.jsonl", "--config", config)

    assert result.exit_code == 1
    assert result.stderr == f"Error: {message.format(file=config)}\n"
    assert not (tmp_path / "out.jsonl").exists()
    with pytest.raises(ConfigError):
        read_config_file(config)


def test_a_broken_pyproject_is_an_error_not_ignored(run, source, tmp_path, in_tmp):
    (in_tmp / "pyproject.toml").write_text("[tool.dedup.dedup\nthreshold = 0.6\n")

    result = run("clean", source, "-o", tmp_path / "out.jsonl")

    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {in_tmp / 'pyproject.toml'}: not valid TOML: ")
    assert "(at line 1, column " in result.stderr


def test_a_missing_config_file_is_a_usage_error(run, source, tmp_path, in_tmp):
    result = run("clean", source, "-o", tmp_path / "out.jsonl", "--config", tmp_path / "nope.toml")

    assert result.exit_code == 2
    assert "nope.toml' does not exist" in result.stderr


# -- dedup config --show -------------------------------------------------------------------------------------------


def test_config_show_prints_a_file_that_reads_back(run, tmp_path, in_tmp):
    config = tmp_path / "dedup.toml"
    config.write_text("[dedup]\nthreshold = 0.6\n")

    result = run("config", "--show", "--config", config, "--no-topic")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"# dedup 0.1.0: defaults, {config}, command-line options\n")
    assert f"threshold = 0.6  # from {config}\n" in result.stdout
    assert "enabled = false  # from the command line\n" in result.stdout
    assert "# model = (not set)\n" in result.stdout
    expected = Config.from_dict({"dedup": {"threshold": 0.6}, "topic": {"enabled": False}})
    shown = tmp_path / "shown.toml"
    shown.write_text(result.stdout)
    assert read_config_file(shown).config() == expected
    again = run("config", "--show", "--format", "json", "--config", shown)
    assert json.loads(again.stdout) == {"config_file": str(shown), "config": expected.to_dict()}


def test_config_show_with_nothing_set_is_the_defaults(run, in_tmp):
    result = run("config", "--show")

    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "# dedup 0.1.0: defaults only"
    settings = [line for line in result.stdout.splitlines()[1:] if not re.fullmatch(r"# \w+ = \(not set\)", line)]
    assert not any("#" in line for line in settings), "no setting is marked as coming from a file"
    data = tomllib.loads(result.stdout)
    assert Config.from_dict(data) == Config()


def test_config_without_show_is_a_usage_error(run, in_tmp):
    result = run("config")

    assert result.exit_code == 2
    assert "give --show" in result.stderr


def test_to_toml_writes_what_tomllib_reads():
    data = Config.from_dict({"input": {"text_field": 'body "main"\\\u00e9\t'}, "topic": {"model": "a b.npz"}}).to_dict()

    read = tomllib.loads(to_toml(data))

    assert read == {section: {k: v for k, v in values.items() if v is not None} for section, values in data.items()}
    assert Config.from_dict(read).to_dict() == data, "a key left out (TOML has no null) is its default, None"


def test_every_option_of_the_config_names_the_settings_it_sets():
    keys = Config().to_dict()

    for name in inspect.signature(config_from_options).parameters:
        settings = _settings_of(name)
        assert settings and all(key in keys[section] for section, key in settings), name
