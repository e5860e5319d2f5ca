"""The ``dedup`` command line: seeds end to end, every option, exit codes and messages."""

from __future__ import annotations

import gzip
import io
import itertools
import json
import os
import pickle
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import click
import numpy as np
import pytest
import zstandard
from conftest import stable_stderr

from dedup import __version__
from dedup.cli import cli
from dedup.config import Config

README = Path(__file__).resolve().parent.parent / "README.md"
SEED_000 = "000_93c3f7158df3345d.txt"
SEED_002 = "002_c1d64411474b32a4.txt"

# -- seeds ---------------------------------------------------------------------------------------

#: Per seed: the 1-based lines of the clean result, and the reason each removed line (0-based
#: paragraph index) is reported with.
SEEDS: dict[str, dict[str, Any]] = {
    SEED_000: {
        "lines": 15,
        "keep": list(range(1, 9)),
        "removed": dict.fromkeys(range(8, 15), "duplicate"),
    },
    SEED_002: {
        "lines": 22,
        "keep": [*range(1, 4), *range(5, 19)],
        "removed": {3: "furniture", **dict.fromkeys([18, 19, 20, 21], "off_topic")},
    },
}


def seed_lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert not data.endswith(b"\n"), "the seeds end without a line break; the expected bytes rely on it"
    return data.split(b"\n")


def expected_seed_bytes(path: Path) -> bytes:
    lines = seed_lines(path)
    return b"\n".join(lines[i - 1] for i in SEEDS[path.name]["keep"])


def check_seed_report(lines: list[dict[str, Any]], path: Path) -> None:
    seed = SEEDS[path.name]
    paragraphs = seed_lines(path)
    assert [(r["id"], r["paragraph"], r["reason"]) for r in lines] == [
        (path.name, index, reason) for index, reason in seed["removed"].items()
    ]
    for record in lines:
        assert record["text"] == paragraphs[record["paragraph"]].decode("utf-8")
        if record["reason"] == "duplicate":
            # The body was scraped twice: paragraph 8 repeats paragraph 1, and so on.
            assert record["duplicate_of"] == {"id": path.name, "paragraph": record["paragraph"] - 7}
            assert record["score"] == 1.0
        else:
            assert record["duplicate_of"] is None
            assert 0.5 <= record["score"] <= 1.0


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_clean_seed(run, seeds_dir, tmp_path, read_jsonl, name):
    seed = SEEDS[name]
    report, summary = tmp_path / "report.jsonl", tmp_path / "summary.json"
    result = run("clean", seeds_dir / name, "-o", tmp_path / "out", "--report", report, "--summary", summary)

    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "out").iterdir()] == [name]
    assert (tmp_path / "out" / name).read_bytes() == expected_seed_bytes(seeds_dir / name)
    check_seed_report(read_jsonl(report), seeds_dir / name)
    counts = json.loads(summary.read_text())
    assert counts["documents"] == {"in": 1, "out": 1, "dropped": 0, "skipped": 0}
    assert counts["paragraphs"] == {"in": seed["lines"], "out": len(seed["keep"])}
    assert counts["removed"] == {"paragraphs": dict(Counter(seed["removed"].values())), "documents": {}}
    assert counts["version"] == __version__
    assert counts["fingerprint"] == Config().fingerprint()
    assert result.stdout == ""
    assert f"dedup: documents 1 in, 1 out, 0 dropped, 0 skipped; paragraphs {seed['lines']} in" in result.stderr


def test_clean_seed_directory(run, seeds_dir, tmp_path, read_jsonl):
    report, summary = tmp_path / "report.jsonl", tmp_path / "summary.json"
    result = run("clean", f"{seeds_dir}/", "-o", tmp_path / "out", "--report", report, "--summary", summary)

    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(SEEDS)
    for name in SEEDS:
        assert (tmp_path / "out" / name).read_bytes() == expected_seed_bytes(seeds_dir / name)
    lines = read_jsonl(report)
    for name in SEEDS:
        check_seed_report([r for r in lines if r["id"] == name], seeds_dir / name)
    assert [r["id"] for r in lines] == sorted(r["id"] for r in lines), "the report follows the input order"
    counts = json.loads(summary.read_text())
    assert counts["documents"] == {"in": 2, "out": 2, "dropped": 0, "skipped": 0}
    assert counts["paragraphs"] == {"in": 37, "out": 25}
    assert counts["removed"]["paragraphs"] == {"duplicate": 7, "furniture": 1, "off_topic": 4}


def seed_records(seeds_dir: Path) -> list[dict[str, Any]]:
    """The seeds as JSONL records with extra fields around the text."""
    return [
        {"id": name[:3], "url": f"https://example.org/{name}", "text": (seeds_dir / name).read_text("utf-8"),
         "meta": {"lang": "en", "tags": ["news"]}, "n": i}
        for i, name in enumerate(sorted(SEEDS))
    ]


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("in.jsonl", "out.jsonl"),
        ("in.jsonl.gz", "out.jsonl.zst"),
        ("in.jsonl.zst", "out.jsonl.gz"),
        ("in.jsonl", "-"),
        ("-", "out.jsonl"),
        ("-", "-"),
    ],
)
def test_clean_jsonl_keeps_fields_and_order(run, seeds_dir, tmp_path, write_jsonl, read_jsonl, source, target):
    records = seed_records(seeds_dir)
    stdin = None
    if source == "-":
        stdin = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    else:
        write_jsonl(tmp_path / source, records)
    output = target if target == "-" else tmp_path / target

    result = run("clean", source if source == "-" else tmp_path / source, "-o", output, input=stdin)

    assert result.exit_code == 0, result.output
    if target == "-":
        lines = [json.loads(line) for line in result.stdout.splitlines()]
    else:
        lines = read_jsonl(tmp_path / target)
        magic = {".gz": b"\x1f\x8b", ".zst": b"\x28\xb5\x2f\xfd"}.get(Path(target).suffix)
        if magic:
            assert (tmp_path / target).read_bytes().startswith(magic)
        assert result.stdout == ""
    expected = [
        {**r, "text": expected_seed_bytes(seeds_dir / name).decode("utf-8")}
        for r, name in zip(records, sorted(SEEDS), strict=True)
    ]
    assert lines == expected
    assert [list(line) for line in lines] == [list(r) for r in records], "field order is kept"


def test_clean_jsonl_lone_surrogates(run, tmp_path, read_jsonl):
    # Scraped JSON sometimes escapes half a surrogate pair; it has no UTF-8 form but must survive.
    (tmp_path / "in.jsonl").write_text('{"id": "a\\udcff", "text": "broken \\ud83d emoji"}\n')

    result = run("clean", tmp_path / "in.jsonl", "-o", tmp_path / "out.jsonl", "--report", "-")

    assert result.exit_code == 0, result.output
    assert read_jsonl(tmp_path / "out.jsonl") == [{"id": "a\udcff", "text": "broken \ud83d emoji"}]


# -- line breaks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("end", ["", "\n", "\r\n", "\r"], ids=["no-final-break", "lf", "crlf", "cr"])
@pytest.mark.parametrize("separator", ["\n", "\r\n", "\r", "\n\n", "\r\n \r\n"], ids=repr)
def test_kept_paragraphs_are_byte_identical(run, seeds_dir, tmp_path, separator, end):
    lines = (seeds_dir / SEED_000).read_text("utf-8").split("\n")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "page.txt").write_bytes((separator.join(lines) + end).encode("utf-8"))

    result = run("clean", tmp_path / "in", "-o", tmp_path / "out")

    assert result.exit_code == 0, result.output
    expected = separator.join(lines[:8]) + end
    assert (tmp_path / "out" / "page.txt").read_bytes() == expected.encode("utf-8")


def test_text_directory_is_mirrored(run, seeds_dir, tmp_path, write_jsonl, read_jsonl):
    (tmp_path / "in" / "site" / "2024").mkdir(parents=True)
    shutil.copy(seeds_dir / SEED_000, tmp_path / "in" / "site" / "2024" / "a.txt")
    shutil.copy(seeds_dir / SEED_002, tmp_path / "in" / "b.txt")
    write_jsonl(tmp_path / "in" / "site" / "c.jsonl.gz", [{"id": "c", "text": "One line only."}])
    (tmp_path / "in" / "notes.md").write_text("not an input")

    result = run("clean", tmp_path / "in", "-o", tmp_path / "out", "--report", tmp_path / "report.jsonl")

    assert result.exit_code == 0, result.output
    files = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert files == ["b.txt", "site/2024/a.txt", "site/c.jsonl.gz"]
    assert (tmp_path / "out" / "site" / "2024" / "a.txt").read_bytes() == expected_seed_bytes(seeds_dir / SEED_000)
    assert read_jsonl(tmp_path / "out" / "site" / "c.jsonl.gz") == [{"id": "c", "text": "One line only."}]
    ids = {r["id"] for r in read_jsonl(tmp_path / "report.jsonl")}
    assert ids == {"site/2024/a.txt", "b.txt"}, "a text document's id is its path relative to the argument"


def test_dropped_text_document_is_absent_from_output(run, seeds_dir, tmp_path, read_jsonl):
    (tmp_path / "in").mkdir()
    for name in ("a.txt", "b.txt"):
        shutil.copy(seeds_dir / SEED_000, tmp_path / "in" / name)

    result = run("clean", tmp_path / "in", "-o", tmp_path / "out", "--report", tmp_path / "report.jsonl")

    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.txt"]
    dropped = [r for r in read_jsonl(tmp_path / "report.jsonl") if r["paragraph"] is None]
    assert dropped == [
        {
            "id": "b.txt",
            "paragraph": None,
            "reason": "duplicate_document",
            "score": 1.0,
            "duplicate_of": {"id": "a.txt", "paragraph": None},
            "text": (seeds_dir / SEED_000).read_text("utf-8")[:1000],
        }
    ]


# -- options, each changing the result ---------------------------------------------------------------

ARTICLES = [
    ["The city council approved a new budget for public libraries on Tuesday, adding two branches in the north.",
     "Librarians welcomed the decision, saying that visitor numbers had doubled since the reading programme began."],
    ["A storm brought heavy snow to the mountain passes overnight, closing three roads and stranding dozens of "
     "lorries.",
     "Rescue teams reached the drivers by morning, and the roads are expected to reopen once ploughs clear the "
     "drifts."],
    ["The national orchestra announced its autumn season, opening with a rarely performed symphony by a local "
     "composer.",
     "Tickets go on sale next week, and students will be offered seats at half price for every concert."],
    ["Farmers in the valley reported an early harvest of apples after an unusually warm and dry summer.",
     "Growers said the fruit was smaller than usual but sweeter, and prices at the market have already fallen."],
]


@pytest.fixture
def clean_jsonl(run, tmp_path, write_jsonl, read_jsonl):
    """``clean_jsonl(records, *options)``: clean ``records`` as one JSONL file.

    Returns the output records, the report lines and the summary as Python values, and the click result.
    """

    def clean(records: list[Any], *options: str) -> dict[str, Any]:
        source = write_jsonl(tmp_path / "in.jsonl", records)
        output, report, summary = tmp_path / "out.jsonl", tmp_path / "report.jsonl", tmp_path / "summary.json"
        for path in (output, report, summary):
            path.unlink(missing_ok=True)
        result = run("clean", source, "-o", output, "--report", report, "--summary", summary, *options)
        assert result.exit_code == 0, result.output
        return {
            "out": read_jsonl(output),
            "report": read_jsonl(report),
            "summary": json.loads(summary.read_text()),
            "result": result,
        }

    return clean


def removed(run_output: dict[str, Any]) -> list[tuple[str, int | None, str]]:
    return [(r["id"], r["paragraph"], r["reason"]) for r in run_output["report"]]


def test_no_topic_keeps_teasers(run, seeds_dir, tmp_path):
    result = run("clean", seeds_dir / SEED_002, "-o", tmp_path / "out", "--no-topic")

    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / SEED_002).read_bytes() == (seeds_dir / SEED_002).read_bytes()


def test_no_dedup_keeps_the_repeated_body(run, seeds_dir, tmp_path):
    result = run("clean", seeds_dir / SEED_000, "-o", tmp_path / "out", "--no-dedup")

    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / SEED_000).read_bytes() == (seeds_dir / SEED_000).read_bytes()


def test_topic_threshold(clean_jsonl, seeds_dir):
    # A closing paragraph on a neighbouring subject, cut off as a teaser is (a lone last paragraph in plain
    # prose is the article's own ending, whatever its score): the threshold decides.
    body = (seeds_dir / SEED_000).read_text("utf-8").split("\n")[:8]
    aside = (
        "The prime minister has also faced questions this year over the coalition's handling of migration policy "
        "and of the"
    )
    records = [{"id": "a", "text": "\n".join([*body, aside])}]
    score = clean_jsonl(records, "--annotate")["out"][0]["dedup"]["decisions"][-1]["score"]
    assert 0.06 < score < 0.95, f"the aside scores {score}: choose one the model is less sure about"

    above = clean_jsonl(records, "--topic-threshold", f"{score + 0.05:.2f}")
    below = clean_jsonl(records, "--topic-threshold", f"{score - 0.05:.2f}")

    assert removed(above) == []
    assert above["out"][0]["text"] == records[0]["text"]
    assert removed(below) == [("a", 8, "off_topic")]
    assert below["out"][0]["text"] == "\n".join(body)


P = "The minister said the new rail line would open in the spring, cutting the journey between the two cities."
P_EDITED = "The minister said the new rail line would open in the summer, cutting the journey between the two cities."
P_REWORDED = "The minister said a new rail line could open by spring, cutting the trip between both cities."


@pytest.mark.parametrize(
    ("copy", "options", "expected"),
    [
        (P_EDITED, [], [("a", 3, "near_duplicate")]),
        (P_EDITED, ["--dup-threshold", "0.95"], []),
        (P_REWORDED, [], []),
        (P_REWORDED, ["--dup-threshold", "0.3"], [("a", 3, "near_duplicate")]),
    ],
    ids=["edited-default", "edited-strict", "reworded-default", "reworded-loose"],
)
def test_dup_threshold(clean_jsonl, copy, options, expected):
    records = [{"id": "a", "text": "\n".join([P, *ARTICLES[2], copy])}]

    got = clean_jsonl(records, "--no-topic", *options)

    assert removed(got) == expected
    for line in got["report"]:
        assert line["duplicate_of"] == {"id": "a", "paragraph": 0}


@pytest.mark.parametrize(("options", "kept"), [([], ["a", "b"]), (["--doc-threshold", "0.3"], ["a"])])
def test_doc_threshold(clean_jsonl, options, kept):
    # b shares four of its six paragraphs with a: similar, but under the default threshold.
    long = ARTICLES[0] + ARTICLES[1] + ARTICLES[2]
    records = [{"id": "a", "text": "\n".join(long)}, {"id": "b", "text": "\n".join(long[:4] + ARTICLES[3])}]

    got = clean_jsonl(records, "--no-topic", *options)

    assert [r["id"] for r in got["out"]] == kept
    if kept == ["a"]:
        assert removed(got) == [("b", None, "duplicate_document")]
        assert got["report"][0]["duplicate_of"] == {"id": "a", "paragraph": None}


@pytest.mark.parametrize(("options", "kept"), [([], ["a", "c"]), (["--no-doc-dedup"], ["a", "b", "c"])])
def test_no_doc_dedup(clean_jsonl, options, kept):
    text = "\n".join(ARTICLES[0] + ARTICLES[1])
    records = [{"id": "a", "text": text}, {"id": "b", "text": text}, {"id": "c", "text": "\n".join(ARTICLES[2])}]

    got = clean_jsonl(records, "--no-topic", *options)

    assert [r["id"] for r in got["out"]] == kept
    assert all(r["text"] == text for r in got["out"] if r["id"] in ("a", "b"))
    assert got["summary"]["documents"]["dropped"] == 3 - len(kept)


@pytest.mark.parametrize("flag", [False, True])
def test_cross_doc_paragraphs(clean_jsonl, flag):
    shared = "“We will not accept any interference in our internal affairs,” the spokesman told reporters on Monday."
    records = [
        {"id": "a", "text": "\n".join([*ARTICLES[0], shared])},
        {"id": "b", "text": "\n".join([*ARTICLES[1], shared])},
    ]

    got = clean_jsonl(records, "--no-topic", *(["--cross-doc-paragraphs"] if flag else []))

    assert got["out"][0]["text"] == records[0]["text"]
    if flag:
        assert got["out"][1]["text"] == "\n".join(ARTICLES[1])
        assert removed(got) == [("b", 2, "duplicate")]
        assert got["report"][0]["duplicate_of"] == {"id": "a", "paragraph": 2}
    else:
        assert got["out"][1]["text"] == records[1]["text"]
        assert removed(got) == []


@pytest.mark.parametrize("flag", [False, True])
def test_boilerplate(clean_jsonl, flag):
    menu = "Home News Sport Weather Contact"
    records = [{"id": f"d{i}", "text": "\n".join([menu, *article])} for i, article in enumerate(ARTICLES)]

    got = clean_jsonl(records, "--no-topic", *(["--boilerplate"] if flag else []))

    texts = [r["text"] for r in got["out"]]
    if flag:
        # Kept in the first two documents; from the third on it has been seen twice before.
        assert texts == [records[0]["text"], records[1]["text"], *("\n".join(a) for a in ARTICLES[2:])]
        assert removed(got) == [("d2", 0, "boilerplate"), ("d3", 0, "boilerplate")]
        assert got["summary"]["removed"]["paragraphs"] == {"boilerplate": 2}
    else:
        assert texts == [r["text"] for r in records]


def test_text_field(clean_jsonl, seeds_dir):
    body = (seeds_dir / SEED_000).read_text("utf-8")
    title = "Italy hosts most unofficial Chinese police stations\nItaly hosts most unofficial Chinese police stations"
    records = [{"id": "a", "text": title, "body": body}]

    by_default = clean_jsonl(records)["out"]
    with_body = clean_jsonl(records, "--text-field", "body")["out"]

    assert by_default == [{"id": "a", "text": title.split("\n")[0], "body": body}]
    assert with_body == [{"id": "a", "text": title, "body": expected_seed_bytes(seeds_dir / SEED_000).decode()}]


def test_id_field(run, clean_jsonl, write_jsonl, seeds_dir, tmp_path):
    records = [{"doc_id": "x-1", "text": (seeds_dir / SEED_000).read_text("utf-8")}]
    write_jsonl(tmp_path / "in.jsonl", records)

    missing = run("clean", tmp_path / "in.jsonl", "-o", tmp_path / "out.jsonl")
    got = clean_jsonl(records, "--id-field", "doc_id")

    assert missing.exit_code == 1
    assert "in.jsonl:1: no 'id' field; name the id field with --id-field" in missing.stderr
    assert {r["id"] for r in got["report"]} == {"x-1"}
    assert {r["duplicate_of"]["id"] for r in got["report"]} == {"x-1"}
    assert got["out"] == [{"doc_id": "x-1", "text": expected_seed_bytes(seeds_dir / SEED_000).decode()}]


@pytest.fixture
def keep_teasers_model(run, seeds_dir, tmp_path, write_jsonl):
    """A topic model fitted on seed 002 with its labels inverted: it learns that teasers belong."""
    lines = (seeds_dir / SEED_002).read_text("utf-8").split("\n")
    off_topic = SEEDS[SEED_002]["removed"]
    labelled = [
        {"id": "002", "text": line, "label": "keep" if i in off_topic else "drop"} for i, line in enumerate(lines)
    ]
    write_jsonl(tmp_path / "labelled.jsonl", labelled)
    result = run("fit-topic", tmp_path / "labelled.jsonl", "-o", tmp_path / "model.npz")
    assert result.exit_code == 0, result.output
    assert "fitted a topic model on 22 paragraphs" in result.stderr
    return tmp_path / "model.npz"


def test_model(run, seeds_dir, tmp_path, keep_teasers_model):
    summary = tmp_path / "summary.json"
    result = run(
        "clean", seeds_dir / SEED_002, "-o", tmp_path / "out", "--model", keep_teasers_model, "--summary", summary
    )

    assert result.exit_code == 0, result.output
    text = (tmp_path / "out" / SEED_002).read_text("utf-8")
    for teaser in seed_lines(seeds_dir / SEED_002)[18:]:
        assert teaser.decode("utf-8") in text
    assert json.loads(summary.read_text())["config"]["topic"]["model"] == str(keep_teasers_model)


@pytest.mark.parametrize(
    ("labelled", "message"),
    [
        ([{"text": "a", "label": "keep"}, {"text": "b", "label": "maybe"}], 'labelled.jsonl:2: label must be "keep"'),
        ([{"text": "a", "label": "keep"}, "{oops"], "labelled.jsonl:2: not valid JSON"),
        ([{"body": "a", "label": "keep"}], "labelled.jsonl:1: expected an object with a string 'text' field"),
        ([], "labelled.jsonl: no labelled records"),
        ([{"text": "a", "label": "keep"}, {"text": "b", "label": "keep"}], "both off-topic (1) and belonging (0)"),
    ],
    ids=["bad-label", "bad-json", "no-text", "empty", "one-class"],
)
def test_fit_topic_bad_input(run, tmp_path, write_jsonl, labelled, message):
    write_jsonl(tmp_path / "labelled.jsonl", labelled)

    result = run("fit-topic", tmp_path / "labelled.jsonl", "-o", tmp_path / "model.npz")

    assert result.exit_code == 1
    assert message in result.stderr
    assert not (tmp_path / "model.npz").exists()


def many_records() -> list[dict[str, Any]]:
    """Enough documents for several batches, with repeats across batch boundaries."""
    records = []
    for i in range(700):
        article = ARTICLES[i % 4] if i % 5 else ARTICLES[(i // 5) % 4][::-1]
        records.append({"id": f"doc-{i}", "text": "\n".join([f"Report {i // 3} from the desk.", *article])})
    return records


@pytest.mark.slow
def test_workers_do_not_change_the_output(run, seeds_dir, tmp_path, write_jsonl):
    write_jsonl(tmp_path / "in" / "many.jsonl", many_records())
    for name in SEEDS:
        shutil.copy(seeds_dir / name, tmp_path / "in" / name)
    outputs = []
    for workers in ("1", "2"):
        out, report = tmp_path / f"out{workers}", tmp_path / f"report{workers}.jsonl"
        result = run("clean", tmp_path / "in", "-o", out, "--report", report, "--workers", workers)
        assert result.exit_code == 0, result.output
        outputs.append(
            ({p.name: p.read_bytes() for p in sorted(out.iterdir())}, report.read_bytes(), stable_stderr(result.stderr))
        )

    assert outputs[0] == outputs[1]
    assert b"duplicate_document" in outputs[0][1], "the input has repeats across batches"


def test_on_error_skip(clean_jsonl, tmp_path):
    records = [
        {"id": "a", "text": "\n".join(ARTICLES[0])},
        '{"id": "b", "text": ',
        {"id": "c", "body": "no text field"},
        {"id": "d", "text": "\n".join(ARTICLES[1])},
    ]

    got = clean_jsonl(records, "--no-topic", "--on-error", "skip")

    assert [r["id"] for r in got["out"]] == ["a", "d"]
    invalid = [r for r in got["report"] if r["reason"] == "invalid"]
    assert [(r["id"], r["line"], r["paragraph"]) for r in invalid] == [(f"{tmp_path / 'in.jsonl'}:2", 2, None),
                                                                      ("c", 3, None)]
    assert "not valid JSON" in invalid[0]["error"]
    assert "no 'text' field" in invalid[1]["error"]
    assert all(r["source"] == str(tmp_path / "in.jsonl") for r in invalid)
    assert got["summary"]["documents"] == {"in": 4, "out": 2, "dropped": 0, "skipped": 2}
    assert got["summary"]["removed"]["documents"] == {"invalid": 2}
    assert "2 skipped" in got["result"].stderr


@pytest.mark.parametrize("kind", ["jsonl", "txt"])
@pytest.mark.parametrize(
    ("option", "value"), [("--max-doc-bytes", len("\n".join(ARTICLES[0]).encode())), ("--max-paragraphs", 2)]
)
def test_limits(run, tmp_path, write_jsonl, read_jsonl, kind, option, value):
    text = "\n".join(ARTICLES[0])  # two paragraphs
    if kind == "jsonl":
        source = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": text}])
        where = "in.jsonl:1"
    else:
        source = tmp_path / "in.txt"
        source.write_text(text, encoding="utf-8")
        where = "in.txt"

    at_limit = run("clean", source, "-o", tmp_path / "out", "--no-topic", option, str(value))
    over = run("clean", source, "-o", tmp_path / "out2", "--no-topic", option, str(value - 1))
    skipped = run(
        "clean", source, "-o", tmp_path / "out3", "--no-topic", option, str(value - 1), "--on-error", "skip",
        "--report", tmp_path / "report.jsonl",
    )

    assert at_limit.exit_code == 0, at_limit.output
    assert over.exit_code == 1
    assert where in over.stderr
    assert f"raise it with {option}" in over.stderr
    assert not (tmp_path / "out2").exists()
    assert skipped.exit_code == 0, skipped.output
    assert [r["reason"] for r in read_jsonl(tmp_path / "report.jsonl")] == ["invalid"]
    assert "1 skipped" in skipped.stderr


def test_annotate_keeps_every_document(clean_jsonl, seeds_dir):
    text = (seeds_dir / SEED_000).read_text("utf-8")
    records = [{"id": "a", "text": text, "site": "x"}, {"id": "b", "text": text, "site": "y"}]

    plain = clean_jsonl(records)
    got = clean_jsonl(records, "--annotate")

    assert [r["id"] for r in plain["out"]] == ["a"]
    assert [{k: v for k, v in r.items() if k != "dedup"} for r in got["out"]] == records, "the input is unchanged"
    first, second = (r["dedup"] for r in got["out"])
    assert first["dropped"] is None
    assert first["text"] == expected_seed_bytes(seeds_dir / SEED_000).decode()
    assert [d["reason"] for d in first["decisions"]] == [None] * 8 + ["duplicate"] * 7
    assert second["dropped"] == "duplicate_document"
    assert second["duplicate_of"] == {"id": "a", "paragraph": None}
    assert second["text"] == ""
    assert got["report"] == plain["report"], "the report does not depend on --annotate"


def test_report_and_summary_of_a_mixed_run(clean_jsonl, seeds_dir, tmp_path):
    long_text = (seeds_dir / SEED_002).read_text("utf-8")
    assert len(long_text) > 1000
    records = [
        {"id": "a", "text": long_text},
        {"id": "b", "text": long_text},  # duplicate document
        {"id": "c", "text": "  \n\n"},  # nothing left: empty
        "[1, 2]",  # invalid
        {"id": "e", "text": (seeds_dir / SEED_000).read_text("utf-8")},
    ]

    got = clean_jsonl(records, "--on-error", "skip")

    documents = got["summary"]["documents"]
    assert documents == {"in": 5, "out": 2, "dropped": 2, "skipped": 1}
    assert documents["in"] == documents["out"] + documents["dropped"] + documents["skipped"]
    assert got["summary"]["removed"] == {
        "paragraphs": {"duplicate": 7, "furniture": 2, "off_topic": 8},  # b's teasers are reported too, then b itself
        "documents": {"duplicate_document": 1, "empty": 1, "invalid": 1},
    }
    by_paragraph = Counter(r["reason"] for r in got["report"] if r["paragraph"] is not None)
    assert by_paragraph == got["summary"]["removed"]["paragraphs"], "the summary counts the report"
    whole = {r["id"]: r for r in got["report"] if r["paragraph"] is None}
    assert whole["b"]["text"] == long_text[:1000]
    assert whole["b"]["duplicate_of"] == {"id": "a", "paragraph": None}
    assert whole["c"]["reason"] == "empty"
    assert set(whole) == {"b", "c", f"{tmp_path / 'in.jsonl'}:4"}
    for line in got["report"]:
        assert {"id", "paragraph", "reason", "score", "duplicate_of", "text"} <= set(line)
    assert "documents 5 in, 2 out, 2 dropped, 1 skipped" in got["result"].stderr


def test_report_to_stdout(run, seeds_dir, tmp_path):
    result = run("clean", seeds_dir / SEED_000, "-o", tmp_path / "out", "--report", "-")

    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    check_seed_report(lines, seeds_dir / SEED_000)
    assert "dedup: documents" not in result.stdout, "messages go to stderr"


# -- failures ------------------------------------------------------------------------------------------


GOOD = {"id": "ok", "text": "A good first record."}
TRUNCATED_GZIP = gzip.compress(
    b"".join(b'{"id": %d, "text": "Line %d of a long file."}\n' % (i, i) for i in range(2000))
)[:2000]

#: Per case: the files to create under the input directory (bytes, JSONL records, or None for a
#: directory), the arguments ({in} is that directory), and what the message must say.
BAD_INPUT: dict[str, tuple[dict[str, Any], list[str], list[str]]] = {
    "broken-json": ({"in.jsonl": [GOOD, {"id": "b", "text": "x"}, '{"id": "c", "text": ']}, ["{in}/in.jsonl"],
                    ["in.jsonl:3: not valid JSON"]),
    "invalid-utf8": ({"in.jsonl": b'{"id": "a", "text": "fine"}\n{"id": "b", "text": "caf\xe9"}\n'},
                     ["{in}/in.jsonl"], ["in.jsonl:2: invalid UTF-8"]),
    "missing-text": ({"in.jsonl": [GOOD, {"id": "b", "body": "x"}]}, ["{in}/in.jsonl"],
                     ["in.jsonl:2: no 'text' field (keys: body, id)", "--text-field"]),
    "text-not-string": ({"in.jsonl": [{"id": "a", "text": ["x"]}]}, ["{in}/in.jsonl"],
                        ["in.jsonl:1: field 'text' must be a string, found list"]),
    "not-an-object": ({"in.jsonl": [GOOD, "[1, 2]"]}, ["{in}/in.jsonl"],
                      ["in.jsonl:2: expected a JSON object, found list"]),
    "duplicate-id": ({"in.jsonl": [GOOD, GOOD]}, ["{in}/in.jsonl"], ["in.jsonl:2: duplicate id 'ok'"]),
    "txt-nul": ({"page.txt": b"Some text\n\0\1\2"}, ["{in}/page.txt"], ["page.txt: binary file (NUL bytes)"]),
    "txt-invalid-utf8": ({"page.txt": b"line one\nline \xff two\n"}, ["{in}/page.txt"],
                         ["page.txt:2: invalid UTF-8"]),
    "missing-path": ({}, ["{in}/nope.jsonl"], ["nope.jsonl: no such file or directory"]),
    "empty-directory": ({"empty": None}, ["{in}/empty"], ["empty: directory has no input files"]),
    "unknown-kind": ({"data.csv": b"a,b\n"}, ["{in}/data.csv"], ["data.csv: unknown input type"]),
    "over-max-doc-bytes": ({"in.jsonl": [{"id": "a", "text": "x" * 50}]},
                           ["{in}/in.jsonl", "--max-doc-bytes", "49"],
                           ["in.jsonl:1: document 'a' has 50 bytes, more than the limit of 49"]),
    "truncated-gzip": ({"in.jsonl.gz": TRUNCATED_GZIP}, ["{in}/in.jsonl.gz"],
                       ["in.jsonl.gz:", "is the file truncated?"]),
    "bad-model": ({"in.jsonl": [GOOD], "model.npz": b"not a model"}, ["{in}/in.jsonl", "--model", "{in}/model.npz"],
                  ["model.npz: not a readable dedup topic model"]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
@pytest.mark.parametrize("output", ["out.jsonl", "out"])
def test_bad_input_exits_1_without_output(run, tmp_path, write_jsonl, case, output):
    files, arguments, messages = BAD_INPUT[case]
    if output == "out.jsonl" and any(name.endswith(".txt") for name in files):
        pytest.skip("a text input makes the output a directory: a file name is a usage error")
    (tmp_path / "in").mkdir()
    for name, content in files.items():
        if content is None:
            (tmp_path / "in" / name).mkdir()
        elif isinstance(content, bytes):
            (tmp_path / "in" / name).write_bytes(content)
        else:
            write_jsonl(tmp_path / "in" / name, content)
    arguments = [a.format(**{"in": tmp_path / "in"}) for a in arguments]
    if output == "out":  # a text input next to the bad one makes the output a directory
        (tmp_path / "in" / "extra.txt").write_text("Some text.\n")
        arguments = [str(tmp_path / "in" / "extra.txt"), *arguments]

    result = run("clean", *arguments, "-o", tmp_path / output, "--report", tmp_path / "report.jsonl")

    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: ")
    for message in messages:
        assert message in result.stderr
    assert not (tmp_path / output).exists()
    assert not (tmp_path / "report.jsonl").exists()
    assert not list(tmp_path.rglob("*.partial"))


@pytest.mark.parametrize("output", ["out.jsonl", "out"])
def test_failure_after_output_started_keeps_previous_output(run, tmp_path, write_jsonl, output):
    # The bad record comes after the first batches have been written.
    records: list[Any] = [{"id": f"d{i}", "text": f"Record number {i} of the file."} for i in range(600)]
    write_jsonl(tmp_path / "in.jsonl", [*records, "{broken"])
    extra = tmp_path / "extra.txt"
    extra.write_text("Some text.\n")
    sources = [tmp_path / "in.jsonl"] if output == "out.jsonl" else [extra, tmp_path / "in.jsonl"]
    previous = tmp_path / output if output == "out.jsonl" else tmp_path / output / "in.jsonl"
    previous.parent.mkdir(exist_ok=True)
    previous.write_text("previous run\n")

    result = run("clean", *sources, "-o", tmp_path / output, "--no-topic", "--workers", "1")

    assert result.exit_code == 1, result.output
    assert "in.jsonl:601: not valid JSON" in result.stderr
    assert previous.read_text() == "previous run\n"
    assert not list(tmp_path.rglob("*.partial"))
    assert not (tmp_path / "out" / "extra.txt").exists()


@pytest.fixture
def inputs(tmp_path, write_jsonl):
    jsonl = write_jsonl(tmp_path / "in.jsonl", [GOOD])
    text = tmp_path / "page.txt"
    text.write_text("Some text.\n")
    (tmp_path / "model.npz").write_bytes(b"")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "same.txt").write_text("one\n")
    (tmp_path / "b" / "same.txt").write_text("two\n")
    return {"jsonl": str(jsonl), "txt": str(text), "dir": str(tmp_path)}


USAGE_ERRORS = {
    "dup-threshold": ("{jsonl} -o {dir}/o.jsonl --dup-threshold 2", "Invalid value for '--dup-threshold'"),
    "doc-threshold": ("{jsonl} -o {dir}/o.jsonl --doc-threshold 0", "Invalid value for '--doc-threshold'"),
    "topic-threshold": ("{jsonl} -o {dir}/o.jsonl --topic-threshold 1.5", "Invalid value for '--topic-threshold'"),
    "workers": ("{jsonl} -o {dir}/o.jsonl --workers 0", "Invalid value for '--workers'"),
    "on-error": ("{jsonl} -o {dir}/o.jsonl --on-error ignore", "Invalid value for '--on-error'"),
    "max-doc-bytes": ("{jsonl} -o {dir}/o.jsonl --max-doc-bytes 0", "Invalid value for '--max-doc-bytes'"),
    "max-paragraphs": ("{jsonl} -o {dir}/o.jsonl --max-paragraphs -1", "Invalid value for '--max-paragraphs'"),
    "same-fields": ("{jsonl} -o {dir}/o.jsonl --text-field id", "text_field and id_field must differ"),
    "missing-model": ("{jsonl} -o {dir}/o.jsonl --model {dir}/none.npz", "Invalid value for '--model'"),
    "no-output": ("{jsonl}", "Missing option '-o' / '--output'"),
    "text-to-stdout": ("{txt} -o -", "text inputs need an output directory, not - (stdout)"),
    "annotate-text": ("{txt} -o {dir}/o --annotate", "--annotate adds a field to JSON records"),
    "output-is-report": ("{jsonl} -o {dir}/o.jsonl --report {dir}/o.jsonl", "must be different files"),
    "output-is-report-alias": ("{jsonl} -o {dir}/o.jsonl --report {dir}/a/../o.jsonl", "must be different files"),
    "report-is-summary": ("{jsonl} -o - --report {dir}/r.json --summary {dir}/r.json", "must be different files"),
    "two-stdouts": ("{jsonl} -o - --report -", "only one of --output, --report and --summary can be -"),
    "stdin-twice": ("- - -o {dir}/o.jsonl", "- (stdin) can be given once"),
    "no-dedup-cross-doc": ("{jsonl} -o {dir}/o.jsonl --no-dedup --cross-doc-paragraphs", "--cross-doc-paragraphs"),
    "no-topic-model": ("{jsonl} -o {dir}/o.jsonl --no-topic --model {dir}/model.npz", "--model is the topic model"),
    "jsonl-to-directory": ("{jsonl} -o {dir}/a", "is a directory, but JSONL inputs make one output file; end it "
                                                 "with / to write a .jsonl per input into it"),
    "text-to-jsonl-name": ("{txt} -o {dir}/mixed.jsonl", "but {dir}/mixed.jsonl is named like a file; give a "
                                                         "directory"),
    "output-inside-input": ("{dir}/a -o {dir}/a/clean", "--output {dir}/a/clean is inside the input directory "
                                                        "{dir}/a: a later run over that directory would read it"),
    "report-inside-input": ("{dir}/a -o {dir}/o --report {dir}/a/r.jsonl", "--report {dir}/a/r.jsonl is inside"),
    "annotate-directory": ("{jsonl} -o {dir}/o/ --annotate", "it needs JSONL inputs and one output file"),
    "text-to-file": ("{txt} -o {jsonl}", "is a file, but text inputs need an output directory"),
    "colliding-mirror": ("{dir}/a/same.txt {dir}/b/same.txt -o {dir}/o", "would both be written to"),
}


@pytest.mark.parametrize("case", sorted(USAGE_ERRORS))
def test_usage_errors_exit_2(run, inputs, tmp_path, case):
    arguments, message = USAGE_ERRORS[case]
    before = sorted(tmp_path.rglob("*"))

    result = run("clean", *(a.format(**inputs) for a in arguments.split()))

    assert result.exit_code == 2, result.output
    assert "Usage: dedup clean" in result.stderr
    assert message.format(**inputs) in " ".join(result.stderr.split())
    assert result.stdout == ""
    assert sorted(tmp_path.rglob("*")) == before, "nothing is written"


def test_trailing_slash_mirrors_jsonl_inputs_into_a_directory(run, tmp_path, write_jsonl):
    first = write_jsonl(tmp_path / "in" / "one.jsonl", [GOOD])
    write_jsonl(tmp_path / "in" / "sub" / "two.jsonl.gz", [{**GOOD, "id": "2"}])
    one = run("clean", first, "-o", tmp_path / "single.jsonl")
    mirrored = run("clean", tmp_path / "in", "-o", f"{tmp_path / 'out'}/")
    assert one.exit_code == mirrored.exit_code == 0, mirrored.output
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.*")) == [
        "one.jsonl", "sub/two.jsonl.gz"
    ]
    assert (tmp_path / "out" / "one.jsonl").read_bytes() == (tmp_path / "single.jsonl").read_bytes()


# -- the entry point -------------------------------------------------------------------------------------


def dedup_process(*args: str | Path, **kwargs: Any) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from dedup.cli import main; main()", *map(str, args)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["--version"], 0, ""),
        (["clean", "{dir}/in.jsonl", "-o", "{dir}/out.jsonl"], 1, "Error: {dir}/in.jsonl:3: not valid JSON"),
        (["clean", "{dir}/in.jsonl", "-o", "{dir}/out.jsonl", "--dup-threshold", "2"], 2,
         "Invalid value for '--dup-threshold'"),
        (["clean"], 2, "Missing argument 'INPUTS...'"),
    ],
    ids=["done", "bad-input", "bad-option", "missing-argument"],
)
def test_main_exit_codes(tmp_path, write_jsonl, arguments, code, message):
    write_jsonl(tmp_path / "in.jsonl", [GOOD, {"id": "b", "text": "x"}, "{"])

    proc = dedup_process(*(a.format(dir=tmp_path) for a in arguments))
    stdout, stderr = proc.communicate(timeout=60)

    assert proc.returncode == code, stderr
    assert message.format(dir=tmp_path) in stderr.decode()
    assert b"Traceback" not in stderr
    if arguments == ["--version"]:
        assert stdout.decode() == f"dedup, version {__version__}\n"


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("output", ["out.jsonl", "out.jsonl.gz", "-"])
def test_main_ctrl_c_exits_130_without_output(tmp_path, workers, output):
    out = output if output == "-" else tmp_path / output
    report = tmp_path / "report.jsonl"
    report.write_text("previous report\n")
    # Its own process group, as a shell runs a job: Ctrl-C signals the whole group, workers included.
    proc = dedup_process("clean", "-", "-o", out, "--report", report, "--workers", workers, stdin=subprocess.PIPE,
                         start_new_session=True)
    assert proc.stdin is not None
    # More than a pipe buffer holds: once the write returns, dedup is running and reading its input.
    proc.stdin.write(b"".join(json.dumps({"id": i, "text": "word " * 20_000}).encode() + b"\n" for i in range(3)))
    proc.stdin.flush()

    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)

    assert proc.returncode == 130, stderr
    assert b"dedup: interrupted" in stderr
    assert b"Traceback" not in stderr
    assert output == "-" or not (tmp_path / output).exists()
    assert report.read_text() == "previous report\n"
    assert not list(tmp_path.glob(".*.partial"))


def test_importing_the_command_line_leaves_the_cleaner_unloaded():
    # `dedup --help` and option errors answer at once: numba and scikit-learn load when a command runs.
    code = "import dedup.cli, sys; print('numba' in sys.modules, 'sklearn' in sys.modules)"

    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, check=True)

    assert completed.stdout == b"False False\n"


# -- help and documentation ----------------------------------------------------------------------------------

COMMANDS = sorted(cli.commands)


def option_names() -> list[tuple[str, str]]:
    """(command, option) for every long option; the group's own options have command ``""``."""
    names = []
    for name, command in [("", cli), *((name, cli.commands[name]) for name in COMMANDS)]:
        for param in command.params:
            if isinstance(param, click.Option):
                names += [(name, opt) for opt in param.opts if opt.startswith("--") and opt != "--help"]
    return names


def test_commands_and_options_of_the_spec():
    assert {"clean", "config", "explain", "fit-topic", "report"} <= set(COMMANDS)
    assert {opt for _, opt in option_names()} >= {
        "--output", "--report", "--summary", "--annotate", "--dup-threshold", "--doc-threshold", "--topic-threshold",
        "--no-dedup", "--no-topic", "--no-doc-dedup", "--cross-doc-paragraphs", "--boilerplate", "--text-field",
        "--id-field", "--model", "--workers", "--on-error", "--max-doc-bytes", "--max-paragraphs", "--html",
    }


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)], ids=lambda c: " ".join(c) or "dedup")
def test_every_command_has_help(run, command):
    result = run(*command, "--help")

    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: dedup {' '.join(command)}".rstrip())
    if command:
        for param in cli.commands[command[0]].params:
            if isinstance(param, click.Option):
                assert param.help, f"{param.opts[0]} has no help text"
                assert param.opts[-1] in result.stdout


def test_version(run):
    result = run("--version")

    assert result.exit_code == 0
    assert result.stdout == f"dedup, version {__version__}\n"


@pytest.mark.parametrize(("command", "option"), [(name, None) for name in COMMANDS] + option_names())
def test_readme_documents_every_command_and_option(command, option):
    readme = README.read_text("utf-8")

    usage = f"dedup {command}".strip()
    assert usage in readme
    if option is not None:
        assert option in readme, f"README.md does not mention {option} of `{usage}`"


# -- every input document is accounted for ---------------------------------------------------------------------

GOOD_RECORDS = [
    {"id": "en", "text": "\n".join(ARTICLES[0] + [ARTICLES[0][0]]), "site": "a"},
    {"id": "zh", "text": "市议会周二批准了公共图书馆的新预算，在北部增加了两个分馆。\n"
                         "馆员们对此表示欢迎，称自阅读计划开始以来访客人数翻了一番。\n"
                         "市议会周二批准了公共图书馆的新预算，在北部增加了两个分馆。"},
    {"id": "ja", "text": "東京の西部にある公園の周りには、若い女性たちが立っている。\n\n"
                         "東京の西部にある公園の周りには、若い女性たちが立っている。"},
    {"id": "rtl", "text": "وافق مجلس المدينة يوم الثلاثاء على ميزانية جديدة للمكتبات العامة.\r\n"
                          "מועצת העיר אישרה ביום שלישי תקציב חדש לספריות הציבוריות."},
    {"id": "emoji", "text": "Cafe\u0301 cre\u0300me \U0001f600\U0001f44d\U0001f3fd opens downtown today.\n"
                            "\u05d0\u05b8 combining marks and \u200d\u2764\ufe0f joiners stay as they are."},
    {"id": "empty", "text": "  \n\t\r\n"},  # dropped, reason empty
    {"id": "mixed-breaks", "text": "One line.\r\nTwo lines.\rThree lines.\nOne line.\r\n"},
    {"id": "escaped-nul", "text": "A NUL \u0000 escaped in JSON is text.\nAnother line."},
    {"id": 42, "text": "An integer id is a string id in the output."},
    {"id": "long-line", "text": "word " * 200_000},  # one line of a million bytes: within the limits
    {"id": "copy", "text": "\n".join(ARTICLES[0] + [ARTICLES[0][0]])},  # dropped, duplicate_document
]


def _good_file(directory: Path, write_jsonl: Any, name: str, records: list[Any]) -> list[str]:
    write_jsonl(directory / name, records)
    return [str(r["id"]) for r in records]


def _truncated(data: bytes, decompress: Any) -> tuple[bytes, list[str]]:
    """Cut ``data`` (compressed) in the middle; the ids of the lines complete before the cut."""
    cut = data[: len(data) * 2 // 3]
    readable = decompress(cut)
    return cut, [str(json.loads(line)["id"]) for line in readable.split(b"\n")[:-1] if line.strip()]


def _gzip_prefix(data: bytes) -> bytes:
    return zlib.decompressobj(wbits=31).decompress(data)


def _zstd_prefix(data: bytes) -> bytes:
    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


_WORDS = sorted({w for article in ARTICLES for p in article for w in p.split()})
_RNG = random.Random(3)
MANY = "".join(
    json.dumps({"id": f"t{i}", "text": " ".join(_RNG.choices(_WORDS, k=25))}) + "\n" for i in range(3000)
).encode()


def _bad_case(case: str, directory: Path, write_jsonl: Any) -> tuple[list[str], list[str], int]:
    """Write the bad input of ``case`` into ``directory``.

    Returns the ids of the documents the bad file still holds, extra options, and how many
    invalid records the run must report.
    """
    records = {
        "invalid-utf8": [b'{"id": "u", "text": "caf\xe9"}'],
        "not-json": [b'{"id": "j", "text": '],
        "not-an-object": [b"[1, 2]", b'"a string"', b"7"],
        "missing-text": [b'{"id": "m", "body": "x"}'],
        "text-not-string": [b'{"id": "n", "text": 12}'],
        "null-text": [b'{"id": "z", "text": null}'],
        "duplicate-id": [b'{"id": "en", "text": "Same id as an earlier document."}'],
        "missing-id": [b'{"text": "No id at all."}'],
        "raw-nul": [b'{"id": "raw-nul", "text": "a raw \x00 byte"}'],
    }
    if case in records:
        (directory / "bad.jsonl").write_bytes(b'{"id": "before", "text": "Fine."}\n' + b"\n".join(records[case])
                                              + b'\n{"id": "after", "text": "Also fine."}\n')
        return ["before", "after"], [], len(records[case])
    if case == "over-max-doc-bytes":
        write_jsonl(directory / "bad.jsonl", [{"id": "big", "text": "x" * 3_000_001}])
        return [], ["--max-doc-bytes", "3000000"], 1
    if case == "over-max-paragraphs":
        write_jsonl(directory / "bad.jsonl", [{"id": "paras", "text": "\n".join(f"p{i}" for i in range(60))}])
        return [], ["--max-paragraphs", "50"], 1
    if case == "line-over-limit":  # skipped without being read into memory whole
        (directory / "bad.jsonl").write_bytes(b'{"id": "huge", "text": "' + b"y" * 10_000_000 + b'"}\n')
        return [], ["--max-doc-bytes", "1000000"], 1
    if case == "binary-jsonl":
        data = bytes(range(256)) * 8 + b"\n" + bytes(range(255, -1, -1)) * 8
        (directory / "bad.jsonl").write_bytes(data)
        return [], [], sum(1 for line in data.split(b"\n") if line.strip())
    if case == "truncated-gzip":
        cut, ids = _truncated(gzip.compress(MANY), _gzip_prefix)
        (directory / "bad.jsonl.gz").write_bytes(cut)
        return ids, [], 1
    if case == "truncated-zstd":
        cut, ids = _truncated(zstandard.ZstdCompressor().compress(MANY), _zstd_prefix)
        (directory / "bad.jsonl.zst").write_bytes(cut)
        return ids, [], 1
    if case == "not-gzip":
        (directory / "bad.jsonl.gz").write_bytes(b'{"id": "plain", "text": "not compressed"}\n')
        return [], [], 1
    if case == "binary-txt":
        (directory / "bad.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
        return [], [], 1
    if case == "invalid-utf8-txt":
        (directory / "bad.txt").write_bytes(b"A good line.\nA bad \xff line.\n")
        return [], [], 1
    if case == "unreadable":
        if os.geteuid() == 0:
            pytest.skip("runs as root: chmod does not deny reads")
        write_jsonl(directory / "bad.jsonl", [{"id": "hidden", "text": "Cannot be read."}])
        (directory / "bad.jsonl").chmod(0)
        return [], [], 1
    raise AssertionError(case)


TEXT_ONLY_CASES = ["binary-txt", "invalid-utf8-txt"]
ACCOUNTING_CASES = [
    "invalid-utf8", "not-json", "not-an-object", "missing-text", "text-not-string", "null-text", "duplicate-id",
    "missing-id", "raw-nul", "over-max-doc-bytes", "over-max-paragraphs", "line-over-limit", "binary-jsonl",
    "truncated-gzip", "truncated-zstd", "not-gzip", "unreadable", *TEXT_ONLY_CASES,
]


def _output_ids(path: Path, read_jsonl: Any) -> list[str]:
    if path.is_file():
        return [str(r["id"]) for r in read_jsonl(path)]
    ids = []
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        if file.name.endswith(".txt"):
            ids.append(file.relative_to(path).as_posix())
        else:
            ids += [str(r["id"]) for r in read_jsonl(file)]
    return ids


@pytest.mark.parametrize("mode", ["jsonl", "directory"])
@pytest.mark.parametrize("case", ACCOUNTING_CASES)
def test_every_input_document_is_accounted_for(run, tmp_path, write_jsonl, read_jsonl, case, mode):
    if case in TEXT_ONLY_CASES and mode == "jsonl":
        pytest.skip("a text input makes the output a directory")
    inputs = tmp_path / "in"
    inputs.mkdir()
    good = _good_file(inputs, write_jsonl, "a-good.jsonl", GOOD_RECORDS[:6])
    good += _good_file(inputs, write_jsonl, "z-good.jsonl.gz", GOOD_RECORDS[6:])
    if mode == "directory":
        (inputs / "page.txt").write_bytes(b"First line.\r\nSecond line.\rFirst line.\n")
        good.append("page.txt")
    held, options, expected_invalid = _bad_case(case, inputs, write_jsonl)
    good += held
    output = tmp_path / ("out.jsonl" if mode == "jsonl" else "out")
    report, summary = tmp_path / "report.jsonl", tmp_path / "summary.json"

    result = run("clean", inputs, "-o", output, "--report", report, "--summary", summary, "--on-error", "skip",
                 "--no-topic", *options)

    assert result.exit_code == 0, result.output
    kept = _output_ids(output, read_jsonl)
    lines = read_jsonl(report)
    dropped = {r["id"]: r["reason"] for r in lines if r["paragraph"] is None and r["reason"] != "invalid"}
    invalid = [r for r in lines if r["reason"] == "invalid"]
    assert len(kept) == len(set(kept)) and not set(kept) & set(dropped)
    assert sorted(kept + list(dropped)) == sorted(set(good)), "every good document is in the output or the report"
    assert dropped == {"empty": "empty", "copy": "duplicate_document"}
    assert len(invalid) == expected_invalid
    for line in invalid:
        assert Path(line["source"]).name.startswith("bad."), line
        assert line["error"]
    counts = json.loads(summary.read_text())["documents"]
    assert counts["in"] == counts["out"] + counts["dropped"] + counts["skipped"] == len(good) + expected_invalid
    assert counts["skipped"] == expected_invalid
    assert f"{expected_invalid} skipped" in result.stderr


#: Where the message of each case points: the line after the file name (None: the whole file).
WHERE = {
    **dict.fromkeys(["invalid-utf8", "not-json", "not-an-object", "missing-text", "text-not-string", "null-text",
                     "duplicate-id", "missing-id", "raw-nul", "invalid-utf8-txt"], 2),
    **dict.fromkeys(["over-max-doc-bytes", "over-max-paragraphs", "line-over-limit", "binary-jsonl", "not-gzip"], 1),
    "truncated-gzip": "any", "truncated-zstd": "any", "binary-txt": None, "unreadable": None,
}


@pytest.mark.parametrize("case", ACCOUNTING_CASES)
def test_bad_input_stops_by_default_naming_file_and_line(run, tmp_path, write_jsonl, case):
    inputs = tmp_path / "in"
    inputs.mkdir()
    _good_file(inputs, write_jsonl, "a-good.jsonl", GOOD_RECORDS[:3])
    _, options, _ = _bad_case(case, inputs, write_jsonl)
    bad = next(inputs.glob("bad.*"))
    output = tmp_path / ("out" if case in TEXT_ONLY_CASES else "out.jsonl")

    result = run("clean", inputs, "-o", output, "--report", tmp_path / "report.jsonl", "--no-topic", *options)

    assert result.exit_code == 1, result.output
    where = WHERE[case]
    if where is None:
        assert result.stderr.startswith(f"Error: {bad}: ")
    elif where == "any":
        assert re.match(rf"Error: {re.escape(str(bad))}:\d+: ", result.stderr)
    else:
        assert result.stderr.startswith(f"Error: {bad}:{where}: ")
    assert not output.exists()
    assert not (tmp_path / "report.jsonl").exists()
    assert not list(tmp_path.rglob("*.partial"))


@pytest.mark.parametrize(
    ("arguments", "option"),
    [
        ("{jsonl} -o {jsonl}", "--output"),
        ("{jsonl} -o {dir}/o.jsonl --report {jsonl}", "--report"),
        ("{jsonl} -o - --summary {jsonl}", "--summary"),
        ("{jsonl} -o {dir}/sub/../in.jsonl", "--output"),
        ("{jsonl} -o {dir}/link.jsonl", "--output"),
        ("{jsonl} -o {dir}/hardlink.jsonl", "--output"),
        ("{dir}/texts -o {dir}/texts", "--output"),
        ("{dir}/texts/page.txt -o {dir}/texts", "--output"),
        ("{dir}/texts -o {dir}/out --report {dir}/texts/page.txt", "--report"),
    ],
    ids=["output", "report", "summary", "alias", "symlink", "hard-link", "mirror-onto-itself", "mirror-onto-input",
         "report-onto-text-input"],
)
def test_output_that_is_an_input_is_a_usage_error(run, tmp_path, write_jsonl, arguments, option):
    jsonl = write_jsonl(tmp_path / "in.jsonl", [GOOD])
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.jsonl").symlink_to(jsonl)
    os.link(jsonl, tmp_path / "hardlink.jsonl")
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "page.txt").write_text("Line one.\nLine one.\n")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    result = run("clean", *arguments.format(jsonl=jsonl, dir=tmp_path).split())

    assert result.exit_code == 2, result.output
    assert f"{option} would write" in result.stderr
    assert "which is the input" in result.stderr
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before, "the inputs are unchanged"


def _npz_bytes(**arrays: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


FOREIGN_MODELS = {
    "random-bytes": random.Random(0).randbytes(5000),
    "json-renamed": json.dumps({"format": "dedup-topic-model", "version": 1}).encode(),
    "wrong-header": _npz_bytes(header=np.frombuffer(b'{"format": "something-else", "version": 1}', dtype=np.uint8)),
    "header-not-json": _npz_bytes(header=np.frombuffer(b"\xff\xfe{", dtype=np.uint8)),
    "no-header": _npz_bytes(coef=np.zeros(3)),
    "object-array": _npz_bytes(header=np.array([{"format": "dedup-topic-model"}], dtype=object)),
    "pickle": pickle.dumps({"format": "dedup-topic-model"}),
    "empty": b"",
}


@pytest.mark.parametrize(
    "case",
    sorted(FOREIGN_MODELS),
)
def test_foreign_model_is_refused(run, tmp_path, write_jsonl, case):
    source = write_jsonl(tmp_path / "in.jsonl", [GOOD])
    model = tmp_path / "model.npz"
    model.write_bytes(FOREIGN_MODELS[case])

    result = run("clean", source, "-o", tmp_path / "out.jsonl", "--model", model)

    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"Error: {model}: ")
    assert "dedup topic model" in result.stderr
    assert "allow_pickle" not in result.stderr, "the message must not suggest enabling pickle"
    assert not (tmp_path / "out.jsonl").exists()


def test_index_file_is_not_a_model(run, tmp_path, write_jsonl):
    source = write_jsonl(tmp_path / "in.jsonl", [GOOD])
    first = write_jsonl(tmp_path / "first.jsonl", [GOOD])
    assert run("clean", first, "-o", tmp_path / "first-out.jsonl", "--state", tmp_path / "state").exit_code == 0
    index = next((tmp_path / "state").glob("index-*.npz"))

    result = run("clean", source, "-o", tmp_path / "out.jsonl", "--model", index)

    assert result.exit_code == 1
    assert f"{index}: not a dedup topic model (format 'dedup-index')" in result.stderr


def _memory_guard() -> None:
    """Cap the address space of a child at three quarters of the machine's memory: a run that needs
    more fails with MemoryError instead of waking the out-of-memory killer."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    resource.setrlimit(resource.RLIMIT_AS, (total * 3 // 4, resource.RLIM_INFINITY))


@pytest.mark.slow
def test_200_mb_document_with_raised_limits(tmp_path):
    """One text document of about 200 MB, cleaned as a subprocess with the limits raised.

    About four minutes and 8 GB on a 2-core machine (39 bytes of memory per byte of text).
    """
    rng = random.Random(11)
    vocabulary = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 9))) for _ in range(5000)]
    source, planted, size = tmp_path / "in" / "huge.txt", 0, 0
    source.parent.mkdir()
    recent: list[str] = []
    with open(source, "w", encoding="utf-8") as handle:
        for n in itertools.count():
            if size >= 200_000_000:
                break
            if n % 50 == 49:  # every fiftieth paragraph repeats one of the twenty before it
                line, planted = rng.choice(recent), planted + 1
            else:
                line = " ".join(rng.choices(vocabulary, k=14)) + f", line {n}."
                recent = [*recent[-19:], line]
            handle.write(line + "\n")
            size += len(line) + 1
    summary = tmp_path / "summary.json"
    command = [sys.executable, "-c", "from dedup.cli import main; main()", "clean", str(source), "-o",
               str(tmp_path / "out"), "--summary", str(summary), "--max-doc-bytes", "300000000", "--max-paragraphs",
               "10000000", "--workers", "1"]

    # The timeout and the memory cap guard the machine against a hang or a swap storm; neither is a target.
    completed = subprocess.run(command, capture_output=True, timeout=4 * 3600, preexec_fn=_memory_guard)

    assert completed.returncode == 0, completed.stderr.decode()[-2000:]
    removed = json.loads(summary.read_text())["removed"]["paragraphs"]
    assert removed.get("duplicate", 0) + removed.get("near_duplicate", 0) >= planted
    with open(tmp_path / "out" / "huge.txt", encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    assert len(lines) == len(set(lines)), "no paragraph is left twice"


@pytest.mark.slow
def test_out_of_memory_is_an_error_without_output(tmp_path):
    """A run that exhausts its memory (here a 2 GiB address-space cap) ends with a message, not a traceback."""
    rng = random.Random(5)
    source = tmp_path / "in" / "big.txt"
    source.parent.mkdir()
    with open(source, "w", encoding="utf-8") as handle:
        for n in range(1_500_000):  # ~100 MB in 1.5M paragraphs: signatures alone need 768 MB
            handle.write(f"{rng.random()} {rng.random()} {rng.random()} line {n}\n")
    report = tmp_path / "report.jsonl"
    report.write_text("previous\n")

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, resource.RLIM_INFINITY))

    completed = subprocess.run(
        [sys.executable, "-c", "from dedup.cli import main; main()", "clean", str(source), "-o", str(tmp_path / "out"),
         "--report", str(report), "--max-doc-bytes", "200000000", "--max-paragraphs", "2000000", "--workers", "1"],
        capture_output=True, timeout=600, preexec_fn=cap,
        # One BLAS thread: on a machine with many cores their buffers alone would use up the cap.
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    )

    assert completed.returncode == 1, completed.stderr.decode()[-2000:]
    assert completed.stderr.decode().startswith("Error: out of memory")
    assert not (tmp_path / "out").exists()
    assert report.read_text() == "previous\n"
    assert not list(tmp_path.rglob("*.partial"))
