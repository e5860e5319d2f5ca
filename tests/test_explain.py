"""``dedup explain`` and :func:`dedup.explain.explain`: one document's decisions, with the evidence."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest
from test_region import ARTICLE  # a three-paragraph article the region keeps whole

from dedup.config import Config, DedupConfig
from dedup.errors import InputError
from dedup.explain import escape, explain, render

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")
BODY = [
    "The council approved the budget for the city's libraries on Tuesday evening.",
    "Librarians welcomed the decision, saying visits have doubled since the reading scheme began.",
]
SEED_000 = "000_93c3f7158df3345d.txt"  # the body scraped twice: paragraphs 8-14 repeat 1-7
SEED_002 = "002_c1d64411474b32a4.txt"  # teasers of other stories after the article, and a credit line
SEEDS = {  # as in test_cli: the paragraphs and the removals of each seed
    SEED_000: {"lines": 15, "removed": dict.fromkeys(range(8, 15), "duplicate")},
    SEED_002: {"lines": 22, "removed": {3: "furniture", **dict.fromkeys([18, 19, 20, 21], "off_topic")}},
}
#: Data that would act on a terminal: colour, a cursor move, C1's CSI, and a right-to-left override.
HOSTILE = "Breaking \x1b[31mred\x1b[0m \x1b[2J \x9b1m and \u202eevil\u202c and \u2066isolated\u2069 text."


def test_a_doubled_body_names_each_repeat(seeds_dir):
    path = seeds_dir / SEED_000
    removed = SEEDS[SEED_000]["removed"]

    found = explain(path, SEED_000, Config())

    assert found.dropped is None and found.earlier_documents == 0
    assert len(found.paragraphs) == SEEDS[SEED_000]["lines"]
    lines = path.read_text("utf-8").split("\n")
    for p in found.paragraphs:
        assert p.text == lines[p.index]
        if p.index in removed:
            assert (p.kept, p.reason, p.score) == (False, "duplicate", 1.0)
            assert (p.duplicate_of.id, p.duplicate_of.paragraph) == (SEED_000, p.index - 7)
        else:
            assert (p.kept, p.reason, p.duplicate_of) == (True, None, None)
            assert 0.0 <= p.score < 0.5, "a kept paragraph shows its off-topic probability"


def test_teasers_carry_their_score_and_signals(run, seeds_dir):
    found = explain(seeds_dir / SEED_002, SEED_002)

    removed = {p.index: p for p in found.paragraphs if not p.kept}
    assert {i: p.reason for i, p in removed.items()} == SEEDS[SEED_002]["removed"]
    for p in removed.values():
        assert 0.5 <= p.score <= 1.0
        assert p.signals and all(value > 0 for value in p.signals.values()), "a topic call names its signals"

    result = run("explain", seeds_dir / SEED_002, "--id", SEED_002)

    assert result.exit_code == 0, result.output
    assert [p.model for p in removed.values()] == ["topic", None, None, None, None], "the credit line's scorer"
    for p in removed.values():
        first_signal = next(iter(p.signals))
        scorer = "" if p.model is None else f"  ({p.model} model)"
        assert f"[{p.index}] removed  {p.reason}  score {p.score:.3f}{scorer}  signals: {first_signal} " \
            in result.stdout
    assert f"kept, {found.kept} of {len(found.paragraphs)} paragraphs" in result.stdout


def test_options_are_those_of_clean(run, seeds_dir, tmp_path):
    result = run("explain", seeds_dir / SEED_000, "--id", SEED_000, "--no-dedup", "--no-topic")

    assert result.exit_code == 0, result.output
    assert "removed" not in result.stdout
    config = tmp_path / "dedup.toml"
    config.write_text("[dedup]\nenabled = false\ndocuments = false\n")
    by_file = run("explain", seeds_dir / SEED_000, "--id", SEED_000, "--no-topic", "--config", config)
    assert by_file.stdout == result.stdout


def test_a_repeated_document_names_the_earlier_one_and_later_ones_are_not_read(run, write_jsonl, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [
        {"id": "first", "text": "\n".join(BODY)},
        {"id": "other", "text": "A storm closed the coastal road overnight, and crews worked until dawn to clear it."},
        {"id": "copy", "text": "\n".join(BODY)},
    ])
    with open(source, "a", encoding="utf-8") as handle:
        handle.write("{not json: a document after the one explained is never read\n")

    found = explain(source, "copy")

    assert found.dropped == "duplicate_document" and found.score == pytest.approx(1.0)
    assert (found.duplicate_of.id, found.earlier_documents) == ("first", 2)
    assert [p.reason for p in found.paragraphs] == ["duplicate_document"] * 2
    assert str(found.places["first"]) == f"{source}:1"

    result = run("explain", source, "--id", "copy")

    assert result.exit_code == 0, result.output
    assert "processed 2 earlier documents for cross-document decisions" in result.stdout
    assert f"repeats document 'first' ({source}:1)" in result.stdout


def test_stdin_and_the_id_field(run):
    records = [{"key": "a", "text": BODY[0]}, {"key": "b", "text": f"{BODY[1]}\n{BODY[1]}"}]

    result = run("explain", "-", "--id", "b", "--id-field", "key",
                 input="".join(json.dumps(r) + "\n" for r in records))

    assert result.exit_code == 0, result.output
    assert "[1] removed  duplicate  score 1.000  repeats paragraph 0 of this document" in result.stdout
    assert "processed 1 earlier document for" in result.stdout


def test_an_unknown_id_names_the_file(run, write_jsonl, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": BODY[0]}, {"id": "b", "text": BODY[1]}])

    result = run("explain", source, "--id", "nope")

    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {source}: no document with id 'nope' among its 2 documents; ids are the records' 'id' field "
        "(--id-field), or for a .txt file its path\n"
    )
    with pytest.raises(InputError, match="no document with id 'nope'"):
        explain(source, "nope")


def test_escape_sequences_in_the_data_are_shown_escaped(run, write_jsonl, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "x\x1b]0;title\x07", "text": f"{BODY[0]}\n{HOSTILE}"}])

    result = run("explain", source, "--id", "x\x1b]0;title\x07")

    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\x9b" not in result.stdout and "\u202e" not in result.stdout
    assert "x\\x1b]0;title\\x07" in result.stdout
    assert "Breaking \\x1b[31mred\\x1b[0m \\x1b[2J \\x9b1m and \\u202eevil\\u202c and \\u2066isolated\\u2069 text." \
        in result.stdout


def test_escape_covers_controls_and_bidi_marks():
    unsafe = [*map(chr, range(0x20)), *map(chr, range(0x7F, 0xA0)), *map(chr, range(0x202A, 0x202F)),
              *map(chr, range(0x2066, 0x206A))]

    for char in unsafe:
        assert escape(char) in (f"\\x{ord(char):02x}", f"\\u{ord(char):04x}")
    assert escape("café 市议会 \U0001f600 \\x41") == "café 市议会 \U0001f600 \\x41"


def _explain_process(arguments: list[str], stdout: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    return subprocess.Popen([sys.executable, "-m", "dedup", "explain", *arguments], stdout=stdout,
                            stderr=subprocess.PIPE, env=env, cwd=ROOT / "fixtures")


def test_a_terminal_gets_colour_and_a_pipe_plain_text(write_jsonl, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": f"{BODY[0]}\n{BODY[0]}\n{HOSTILE}"}])
    arguments = [str(source), "--id", "a"]

    piped = _explain_process(arguments, subprocess.PIPE)
    plain, errors = piped.communicate(timeout=120)
    assert piped.returncode == 0, errors
    assert b"\x1b" not in plain, "piped output has no escape sequences at all"

    primary, secondary = pty.openpty()
    process = _explain_process(arguments, secondary)
    os.close(secondary)
    shown = b""
    while True:
        ready, _, _ = select.select([primary], [], [], 120)
        if not ready:
            break
        try:
            block = os.read(primary, 65536)
        except OSError:  # the terminal closed: the process exited
            break
        if not block:
            break
        shown += block
    os.close(primary)
    assert process.wait(timeout=120) == 0
    text = shown.decode("utf-8").replace("\r\n", "\n")
    assert ANSI.search(text), "a terminal gets colour"
    assert ANSI.sub("", text) == plain.decode("utf-8"), "the same text, coloured"
    assert all(m.group() in {"\x1b[0m", "\x1b[1m", "\x1b[2m", "\x1b[31m", "\x1b[32m"} for m in ANSI.finditer(text))
    assert "\x1b[31mred" not in text and "\\x1b[31mred" in text, "the data's own sequences stay escaped"


def test_render_without_style_is_plain(seeds_dir):
    text = render(explain(seeds_dir / SEED_000, SEED_000, Config(dedup=DedupConfig(threshold=0.9))))

    assert "\x1b" not in text
    assert text.startswith(f"{SEED_000} ({seeds_dir / SEED_000}): kept, 8 of 15 paragraphs\n")


def test_reader_comments_are_named_as_such(write_jsonl, tmp_path):
    comment = "I have lived here for twenty years and I think the library matters more than the roads do."
    path = write_jsonl(tmp_path / "page.jsonl", [{"id": "p", "text": "\n".join([*ARTICLE, "2 Comments", comment])}])

    text = render(explain(path, "p", Config()))

    assert "[3] removed  furniture  score 1.000  (reader comments)  signals: reader_comments +1.000" in text
    assert "[4] removed  furniture  score 1.000  (reader comments)" in text
