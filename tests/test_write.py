"""Writing: atomic files, compression, output records, the report and the summary."""

from __future__ import annotations

import gzip
import io
import json
import os
import stat

import pytest
import zstandard

from dedup.data import CleanResult, Decision, Reason, Ref
from dedup.write import (
    REPORT_TEXT_CHARS,
    Summary,
    annotation,
    atomic_binary,
    dumps,
    open_output,
    output_record,
    report_lines,
    text_writer,
)

# -- atomic files ----------------------------------------------------------------------------------------


def test_atomic_binary_appears_only_when_complete(tmp_path):
    target = tmp_path / "sub" / "out.bin"

    with atomic_binary(target) as handle:
        handle.write(b"part one, ")
        assert not target.exists()
        assert [p.name.endswith(".partial") for p in target.parent.iterdir()] == [True]
        handle.write(b"part two")

    assert target.read_bytes() == b"part one, part two"
    assert [p.name for p in target.parent.iterdir()] == ["out.bin"]


def test_atomic_binary_keeps_the_previous_file_on_error(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"previous")

    with pytest.raises(RuntimeError, match="disk on fire"), atomic_binary(target) as handle:
        handle.write(b"new")
        raise RuntimeError("disk on fire")

    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_atomic_binary_mode_follows_umask(tmp_path):
    old = os.umask(0o027)
    try:
        with atomic_binary(tmp_path / "out.bin") as handle:
            handle.write(b"x")
    finally:
        os.umask(old)

    assert stat.S_IMODE((tmp_path / "out.bin").stat().st_mode) == 0o640


# -- compression and line breaks ---------------------------------------------------------------------------

TEXT = "caf\u00e9\r\nline two\rline three\n"


@pytest.mark.parametrize(
    ("name", "decompress"),
    [
        ("out.jsonl", lambda data: data),
        ("out.jsonl.gz", gzip.decompress),
        ("out.jsonl.zst", lambda data: zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()),
    ],
)
def test_text_writer(name, decompress):
    raw = io.BytesIO()

    with text_writer(raw, name) as text:
        text.write(TEXT)

    assert not raw.closed, "the caller owns the raw stream"
    assert decompress(raw.getvalue()) == TEXT.encode("utf-8"), "line breaks are written as given"


def test_gzip_output_is_reproducible():
    outputs = []
    for _ in range(2):
        raw = io.BytesIO()
        with text_writer(raw, "out.jsonl.gz") as text:
            text.write(TEXT)
        outputs.append(raw.getvalue())

    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("name", ["report.jsonl", "report.jsonl.gz", "report.jsonl.zst"])
def test_open_output(tmp_path, read_jsonl, name):
    path = tmp_path / name

    with open_output(path) as out:
        out.write(dumps({"a": 1}))
        out.write(dumps({"b": "\u00e9"}))

    assert read_jsonl(path) == [{"a": 1}, {"b": "\u00e9"}]


def test_open_output_leaves_no_file_on_error(tmp_path):
    with pytest.raises(KeyboardInterrupt), open_output(tmp_path / "out.jsonl.gz") as out:
        out.write(dumps({"a": 1}))
        raise KeyboardInterrupt

    assert list(tmp_path.iterdir()) == []


def test_open_output_stdout(capsys):
    with open_output("-") as out:
        out.write(dumps({"a": "\u00e9"}))

    assert capsys.readouterr().out == '{"a": "\u00e9"}\n'


# -- records --------------------------------------------------------------------------------------------------

KEPT = CleanResult(
    "doc-1",
    "Kept one.\nKept two.",
    None,
    (
        Decision(0, True, score=0.01),
        Decision(1, False, Reason.DUPLICATE, 1.0, Ref("doc-1", 0)),
        Decision(2, True, score=0.2),
        Decision(3, False, Reason.OFF_TOPIC, 0.98765432, metadata={"signal": "kicker"}),
    ),
    {"url": "https://example.org", "text": "Kept one.\nKept one.\nKept two.\nTEASER: elsewhere", "n": 3},
    source="in.jsonl",
    line=1,
    metadata={"removed": {1: "Kept one.", 3: "TEASER: elsewhere"}},
)
ORIGINAL = "A long document. " * 100
DUPLICATE = CleanResult(
    "doc-2",
    "",
    Reason.DUPLICATE_DOCUMENT,
    (
        Decision(0, False, Reason.DUPLICATE_DOCUMENT, 0.9, Ref("doc-1")),
        Decision(1, False, Reason.NEAR_DUPLICATE, 0.75, Ref("doc-2", 0)),
    ),
    {"text": ORIGINAL, "id": "doc-2"},
    0.9,
    Ref("doc-1"),
    source="in.jsonl",
    line=2,
    metadata={"original": ORIGINAL, "removed": {1: "A long document."}},
)
EMPTY = CleanResult("doc-3", "", Reason.EMPTY, (), {"text": "\n\n", "id": "doc-3"}, metadata={"original": "\n\n"})
INVALID = CleanResult(
    "in.jsonl:4", "", Reason.INVALID, (), {}, source="in.jsonl", line=4, metadata={"error": "not valid JSON"}
)


def test_output_record_replaces_the_text_only():
    record = output_record(KEPT, "text", annotate=False)

    assert record == {"url": "https://example.org", "text": "Kept one.\nKept two.", "n": 3}
    assert list(record) == ["url", "text", "n"]
    assert KEPT.fields["text"].startswith("Kept one.\nKept one."), "the result is not changed"


def test_output_record_other_text_field():
    result = CleanResult("a", "clean", None, (Decision(0, True),), {"id": "a", "body": "raw", "text": "title"})

    assert output_record(result, "body", annotate=False) == {"id": "a", "body": "clean", "text": "title"}


def test_annotate_keeps_the_text_and_adds_the_decisions():
    record = output_record(DUPLICATE, "text", annotate=True)

    assert record["text"] == ORIGINAL
    assert record["dedup"] == annotation(DUPLICATE)
    assert record["dedup"] == {
        "dropped": "duplicate_document",
        "score": 0.9,
        "duplicate_of": {"id": "doc-1", "paragraph": None},
        "text": "",
        "decisions": [
            {"index": 0, "kept": False, "reason": "duplicate_document", "score": 0.9,
             "duplicate_of": {"id": "doc-1", "paragraph": None}},
            {"index": 1, "kept": False, "reason": "near_duplicate", "score": 0.75,
             "duplicate_of": {"id": "doc-2", "paragraph": 0}},
        ],
    }
    json.dumps(record)


@pytest.mark.parametrize(
    "record",
    [
        {"id": "a", "text": "plain"},
        {"id": "a", "text": "caf\u00e9 \u4e2d\u6587 \U0001f600", "n": [1, None, True]},
        {"id": "a", "text": "lone \ud800 surrogate \udfff"},
        {"id": "\udcff", "text": "caf\u00e9 and \ud83d"},
    ],
    ids=["ascii", "unicode", "lone-surrogates", "surrogate-id"],
)
def test_dumps_round_trips_as_utf8(record):
    line = dumps(record)

    assert line.endswith("\n") and line.count("\n") == 1
    assert json.loads(line.encode("utf-8").decode("utf-8")) == record


def test_dumps_keeps_unicode_readable():
    assert dumps({"t": "caf\u00e9"}) == '{"t": "caf\u00e9"}\n'


# -- the report ------------------------------------------------------------------------------------------------


def test_report_lines_of_removed_paragraphs():
    assert list(report_lines(KEPT)) == [
        {"id": "doc-1", "paragraph": 1, "reason": "duplicate", "score": 1.0,
         "duplicate_of": {"id": "doc-1", "paragraph": 0}, "text": "Kept one."},
        {"id": "doc-1", "paragraph": 3, "reason": "off_topic", "score": 0.987654, "duplicate_of": None,
         "text": "TEASER: elsewhere"},
    ]


def test_report_lines_of_a_dropped_document():
    lines = list(report_lines(DUPLICATE))

    assert lines == [
        {"id": "doc-2", "paragraph": 1, "reason": "near_duplicate", "score": 0.75,
         "duplicate_of": {"id": "doc-2", "paragraph": 0}, "text": "A long document."},
        {"id": "doc-2", "paragraph": None, "reason": "duplicate_document", "score": 0.9,
         "duplicate_of": {"id": "doc-1", "paragraph": None}, "text": ORIGINAL[:REPORT_TEXT_CHARS]},
    ]
    assert REPORT_TEXT_CHARS == 1000
    assert len(ORIGINAL) > 1000


def test_report_lines_of_empty_and_invalid_documents():
    assert list(report_lines(EMPTY)) == [
        {"id": "doc-3", "paragraph": None, "reason": "empty", "score": 0.0, "duplicate_of": None, "text": "\n\n"}
    ]
    assert list(report_lines(INVALID)) == [
        {"id": "in.jsonl:4", "paragraph": None, "reason": "invalid", "score": 0.0, "duplicate_of": None, "text": "",
         "source": "in.jsonl", "line": 4, "error": "not valid JSON"}
    ]


# -- the summary -------------------------------------------------------------------------------------------------


def test_summary_counts_add_up():
    summary = Summary()
    for result in (KEPT, DUPLICATE, EMPTY, INVALID, KEPT):
        summary.add(result)

    data = summary.to_dict("1.2.3", "f" * 16, {"any": "config"})

    assert data == {
        "version": "1.2.3",
        "engine": "local",
        "fingerprint": "f" * 16,
        "documents": {"in": 5, "out": 2, "dropped": 2, "skipped": 1},
        "paragraphs": {"in": 10, "out": 4},
        "removed": {
            "paragraphs": {"duplicate": 2, "near_duplicate": 1, "off_topic": 2},
            "documents": {"duplicate_document": 1, "empty": 1, "invalid": 1},
        },
        "config": {"any": "config"},
    }
    documents = data["documents"]
    assert documents["in"] == documents["out"] + documents["dropped"] + documents["skipped"]
    assert summary.short() == (
        "dedup: documents 5 in, 2 out, 2 dropped, 1 skipped; paragraphs 10 in, 4 out; removed: duplicate 2, "
        "duplicate_document 1, empty 1, invalid 1, near_duplicate 1, off_topic 2"
    )


def test_summary_of_nothing():
    summary = Summary()

    assert summary.to_dict("v", "f", {})["documents"] == {"in": 0, "out": 0, "dropped": 0, "skipped": 0}
    assert summary.short() == "dedup: documents 0 in, 0 out, 0 dropped, 0 skipped; paragraphs 0 in, 0 out"


def test_summary_merge_equals_counting_together():
    results = (KEPT, DUPLICATE, EMPTY, INVALID, KEPT)
    together, first, second = Summary(), Summary(), Summary()
    for n, result in enumerate(results):
        together.add(result)
        (first if n < 2 else second).add(result)

    first.merge(second)

    assert first == together


def test_summary_counts_round_trip_through_json():
    summary = Summary()
    for result in (KEPT, DUPLICATE, EMPTY, INVALID):
        summary.add(result)

    assert Summary.from_counts(json.loads(json.dumps(summary.to_counts()))) == summary


@pytest.mark.parametrize(
    "counts",
    [
        [],
        {"documents_in": 1},
        {**Summary().to_counts(), "documents_in": -1},
        {**Summary().to_counts(), "documents_in": True},
        {**Summary().to_counts(), "documents_in": "1"},
        {**Summary().to_counts(), "paragraphs_removed": {"not_a_reason": 1}},
        {**Summary().to_counts(), "documents_removed": {"empty": 1.5}},
        {**Summary().to_counts(), "extra": 0},
    ],
    ids=["list", "missing", "negative", "bool", "string", "unknown-reason", "float", "extra-key"],
)
def test_summary_counts_reject_other_data(counts):
    with pytest.raises(ValueError):
        Summary.from_counts(counts)
