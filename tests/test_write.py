"""Writing: atomic files, compression, output records, the report and the summary."""

from __future__ import annotations

import gzip
import io
import json
import os
import socket
import stat
from pathlib import Path

import pytest
import zstandard

from dedup.data import CleanResult, Decision, Reason, Ref
from dedup.write import (
    REPORT_TEXT_CHARS,
    OutputError,
    Summary,
    annotation,
    atomic_binary,
    binary_writer,
    dumps,
    open_binary_output,
    open_output,
    output_record,
    render,
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


# -- devices, FIFOs, sockets and symbolic links ------------------------------------------------------------


def make_null_device(path: Path) -> Path:
    """A character device like /dev/null (writes vanish), made in the test's directory, not the real one."""
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    return path


def entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_atomic_binary_writes_into_a_character_device(tmp_path):
    device = make_null_device(tmp_path / "null")

    with atomic_binary(device) as handle:
        handle.write(b"gone")

    mode = device.lstat()
    assert stat.S_ISCHR(mode.st_mode) and mode.st_rdev == os.makedev(1, 3), "still the device, not a file"
    assert entries(tmp_path) == ["null"], "no temporary file either"


def test_atomic_binary_writes_into_a_fifo(fifo_reader, tmp_path):
    reader = fifo_reader(tmp_path / "fifo")

    with atomic_binary(reader.path) as handle:
        handle.write(b"first, ")
        handle.write(b"second")

    assert reader.result() == b"first, second"
    assert stat.S_ISFIFO(reader.path.lstat().st_mode)
    assert entries(tmp_path) == ["fifo"]


def test_a_fifo_keeps_what_was_written_before_an_error(fifo_reader, tmp_path):
    # Not atomic: the reader has had the data already.
    reader = fifo_reader(tmp_path / "fifo")

    with pytest.raises(RuntimeError, match="disk on fire"), atomic_binary(reader.path) as handle:
        handle.write(b"partial")
        raise RuntimeError("disk on fire")

    assert reader.result() == b"partial"
    assert stat.S_ISFIFO(reader.path.lstat().st_mode)


def test_open_output_compresses_into_a_fifo_by_its_name(fifo_reader, tmp_path):
    reader = fifo_reader(tmp_path / "out.jsonl.gz")

    with open_output(reader.path) as out:
        out.write(dumps({"a": "\u00e9"}))

    assert gzip.decompress(reader.result()) == '{"a": "\u00e9"}\n'.encode()


def test_atomic_binary_writes_through_a_symbolic_link(tmp_path):
    (tmp_path / "data").mkdir()
    real = tmp_path / "data" / "out.bin"
    real.write_bytes(b"previous")
    link = tmp_path / "out.bin"
    link.symlink_to("data/out.bin")

    with atomic_binary(link) as handle:
        handle.write(b"new")
        assert real.read_bytes() == b"previous", "the target is replaced only when complete"
        assert [name.endswith(".partial") for name in entries(tmp_path / "data")] == [True, False]
        assert entries(tmp_path) == ["data", "out.bin"], "the temporary file is beside the target"

    assert link.is_symlink() and os.readlink(link) == "data/out.bin"
    assert real.read_bytes() == b"new"
    assert entries(tmp_path / "data") == ["out.bin"]


def test_a_symbolic_link_keeps_its_target_on_error(tmp_path):
    real = tmp_path / "real.bin"
    real.write_bytes(b"previous")
    link = tmp_path / "out.bin"
    link.symlink_to(real)

    with pytest.raises(RuntimeError, match="disk on fire"), atomic_binary(link) as handle:
        handle.write(b"new")
        raise RuntimeError("disk on fire")

    assert link.is_symlink() and real.read_bytes() == b"previous"
    assert entries(tmp_path) == ["out.bin", "real.bin"]


@pytest.mark.parametrize("target", ["missing.bin", "new/dir/missing.bin"], ids=["file", "in-new-directory"])
def test_a_dangling_symbolic_link_gets_its_target(tmp_path, target):
    link = tmp_path / "out.bin"
    link.symlink_to(target)

    with atomic_binary(link) as handle:
        handle.write(b"new")

    assert link.is_symlink() and os.readlink(link) == target
    assert (tmp_path / target).read_bytes() == b"new"
    assert not (tmp_path / target).is_symlink()


@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-file", "dangling"])
def test_atomic_binary_follows_a_chain_of_links(tmp_path, dangling):
    # out.bin -> a/link -> ../b/real.bin, each link relative to its own directory.
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    real = tmp_path / "b" / "real.bin"
    if not dangling:
        real.write_bytes(b"previous")
    (tmp_path / "a" / "link").symlink_to("../b/real.bin")
    (tmp_path / "out.bin").symlink_to("a/link")

    with open_output(tmp_path / "out.bin") as out:
        out.write("new\n")

    assert os.readlink(tmp_path / "out.bin") == "a/link"
    assert os.readlink(tmp_path / "a" / "link") == "../b/real.bin"
    assert real.read_bytes() == b"new\n" and not real.is_symlink()
    assert entries(tmp_path / "b") == ["real.bin"]


def test_a_symbolic_link_to_a_device_writes_into_the_device(tmp_path):
    device = make_null_device(tmp_path / "null")
    link = tmp_path / "out.jsonl"
    link.symlink_to(device)

    with open_output(link) as out:
        out.write(dumps({"a": 1}))

    assert link.is_symlink() and stat.S_ISCHR(device.lstat().st_mode)
    assert entries(tmp_path) == ["null", "out.jsonl"]


def test_a_symbolic_link_loop_is_an_error(tmp_path):
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")

    with pytest.raises(OutputError) as caught, atomic_binary(tmp_path / "a"):
        pass

    assert str(caught.value) == f"{tmp_path / 'a'}: symbolic link loop; give a path that leads to a file"
    assert os.readlink(tmp_path / "a") == "b" and os.readlink(tmp_path / "b") == "a"


def test_a_socket_is_an_error_and_stays(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative name: socket paths are limited to about 100 bytes
    server = socket.socket(socket.AF_UNIX)
    server.bind("sock")
    try:
        with pytest.raises(OutputError) as caught, atomic_binary("sock") as handle:
            handle.write(b"data")
    finally:
        server.close()

    assert str(caught.value) == "sock: is a socket, which cannot be opened as a file; give a file, a FIFO or - (stdout)"
    assert isinstance(caught.value, OSError)
    assert stat.S_ISSOCK((tmp_path / "sock").lstat().st_mode)
    assert entries(tmp_path) == ["sock"]


def test_a_directory_is_an_error(tmp_path):
    (tmp_path / "out").mkdir()

    with pytest.raises(OutputError) as caught, atomic_binary(tmp_path / "out"):
        pass

    assert str(caught.value) == f"{tmp_path / 'out'}: is a directory; give the path of a file"


def test_an_unwritable_place_is_an_error(tmp_path):
    (tmp_path / "file").write_bytes(b"")  # a file where a directory is needed: refused to root too
    target = tmp_path / "file" / "out.bin"

    with pytest.raises(OutputError) as caught, atomic_binary(target):
        pass

    assert str(caught.value).startswith(f"{target}: cannot create a file in {tmp_path / 'file'}: ")
    assert str(caught.value).endswith("; give a path in a writable directory")


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


@pytest.mark.parametrize("name", ["out.jsonl", "out.jsonl.gz", "out.jsonl.zst"])
def test_bytes_copied_in_parts_compress_as_the_text_written_line_by_line(name):
    lines = [dumps({"n": n, "text": f"caf\u00e9 number {n} " * (n % 7)}) for n in range(3000)]
    as_text = io.BytesIO()
    with text_writer(as_text, name) as text:
        for line in lines:
            text.write(line)
    in_parts = io.BytesIO()
    with binary_writer(in_parts, name) as binary:
        for start in range(0, len(lines), 256):
            binary.write("".join(lines[start:start + 256]).encode("utf-8"))

    assert not in_parts.closed, "the caller owns the raw stream"
    assert in_parts.getvalue() == as_text.getvalue()


@pytest.mark.parametrize("name", ["report.jsonl", "report.jsonl.gz", "report.jsonl.zst"])
def test_open_binary_output_writes_what_open_output_writes(tmp_path, name):
    with open_output(tmp_path / "text" / name) as out:
        out.write(dumps({"a": "\u00e9"}))
    with open_binary_output(tmp_path / "bytes" / name) as out:
        out.write(dumps({"a": "\u00e9"}).encode("utf-8"))

    assert (tmp_path / "bytes" / name).read_bytes() == (tmp_path / "text" / name).read_bytes()


def test_open_binary_output_leaves_no_file_on_error(tmp_path):
    with pytest.raises(KeyboardInterrupt), open_binary_output(tmp_path / "out.jsonl") as out:
        out.write(b"{}\n")
        raise KeyboardInterrupt

    assert list(tmp_path.iterdir()) == []


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


# -- rendered parts -------------------------------------------------------------------------------------------


def _written(results, text_field="text", annotate=False):
    """What the local sinks write for ``results``, and their counts."""
    counts = Summary()
    output = []
    report = []
    for result in results:
        counts.add(result)
        if result.dropped is None or (annotate and result.fields):
            output.append(dumps(output_record(result, text_field, annotate)))
        report.extend(dumps(line) for line in report_lines(result))
    return "".join(output).encode("utf-8"), "".join(report).encode("utf-8"), counts


@pytest.mark.parametrize("annotate", [False, True])
def test_render_gives_the_bytes_and_counts_of_the_results_in_order(annotate):
    results = [KEPT, DUPLICATE, EMPTY, INVALID, KEPT]
    output, report, counts = _written(results, annotate=annotate)

    part = render(results, "text", annotate=annotate)

    assert part.output == [("", output)]
    assert part.report == report
    assert part.counts == counts
    assert render(results, "text", annotate=annotate, report=False).report == b""


def test_rendered_parts_concatenate_and_merge_to_the_whole():
    results = [KEPT, DUPLICATE, EMPTY, INVALID, KEPT, EMPTY, KEPT]
    output, report, counts = _written(results)
    parts = [render(results[start:start + 3], "text") for start in range(0, len(results), 3)]
    merged = Summary()
    for part in parts:
        merged.merge(part.counts)

    assert b"".join(data for part in parts for _, data in part.output) == output
    assert b"".join(part.report for part in parts) == report
    assert merged == counts


def test_render_for_a_mirrored_directory_gives_a_piece_per_input():
    page = CleanResult("a/page.txt", "Clean text.\n", None, (Decision(0, True),), source="in/a/page.txt")
    gone = CleanResult("a/gone.txt", "", Reason.EMPTY, (), source="in/a/gone.txt", metadata={"original": ""})
    other = CleanResult("x", "Other.", None, (Decision(0, True),), {"id": "x", "text": "T"}, source="in/b.jsonl",
                        line=1)
    part = render([KEPT, DUPLICATE, page, gone, INVALID, other], "text", mirrored=True)

    assert part.output == [
        ("in.jsonl", dumps(output_record(KEPT, "text", False)).encode("utf-8")),
        ("in/a/page.txt", b"Clean text.\n"),
        ("in.jsonl", b""),  # the invalid record: the input's file exists even when nothing of it is kept
        ("in/b.jsonl", b'{"id": "x", "text": "Other."}\n'),
    ]
    assert part.counts.documents_in == 6


# -- the summary -------------------------------------------------------------------------------------------------


def test_summary_counts_add_up():
    summary = Summary()
    for result in (KEPT, DUPLICATE, EMPTY, INVALID, KEPT):
        summary.add(result)

    data = summary.to_dict("1.2.3", "f" * 16, {"any": "config"})

    assert data == {
        "version": "1.2.3",
        "engine": "local",
        "config_file": None,
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
