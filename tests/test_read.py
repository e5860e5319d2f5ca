"""Reading inputs: file discovery, JSONL and text records, limits, and where errors point."""

from __future__ import annotations

import doctest
import gzip
import io
import itertools
import os
import sys
import threading
import time
from pathlib import Path

import pytest
import zstandard

import dedup.read
from dedup import decide
from dedup.config import InputConfig
from dedup.data import Document, Reason
from dedup.errors import InputError
from dedup.read import (
    STDIN,
    InputFile,
    InvalidRecord,
    checked_limits,
    count_range,
    count_records,
    is_plain_jsonl,
    kind_of,
    limit_error,
    line_limit,
    line_ranges,
    list_inputs,
    read_inputs,
    read_jsonl,
    read_jsonl_range,
    read_range,
    read_text,
)

CONFIG = InputConfig()


def jsonl_file(path: Path) -> InputFile:
    return InputFile(str(path), path.name, "jsonl")


def text_file(path: Path, relative: str | None = None) -> InputFile:
    return InputFile(str(path), relative or path.name, "txt")


# -- finding the inputs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.jsonl", "jsonl"),
        ("a.jsonl.gz", "jsonl"),
        ("A.JSONL.ZST", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.txt", "txt"),
        ("a.json", None),
        ("a.gz", None),
        ("a.txt.gz", None),
        ("jsonl", None),
    ],
)
def test_kind_of(name, kind):
    assert kind_of(name) == kind


def test_list_inputs_walks_directories_in_sorted_order(tmp_path):
    for name in ("b/2.txt", "b/10.txt", "a.jsonl.gz", "b/c/d.jsonl", "README.md", "b/image.png", "Z.txt"):
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / name).write_bytes(b"")
    single = tmp_path / "single.txt"
    single.write_text("x")

    files = list_inputs([single, tmp_path / "in", STDIN])

    assert [(f.relative, f.kind) for f in files] == [
        ("single.txt", "txt"),
        ("Z.txt", "txt"),
        ("a.jsonl.gz", "jsonl"),
        ("b/10.txt", "txt"),
        ("b/2.txt", "txt"),
        ("b/c/d.jsonl", "jsonl"),
        ("stdin.jsonl", "jsonl"),
    ]
    assert files[0].path == str(single)
    assert files[3].path == str(tmp_path / "in" / "b" / "10.txt")
    assert files[-1] == InputFile(STDIN, "stdin.jsonl", "jsonl")


@pytest.mark.parametrize(
    ("files", "argument", "message"),
    [
        ([], "missing.jsonl", "no such file or directory"),
        ([], ".", "directory has no input files"),
        (["notes.md", "sub/data.json"], ".", "directory has no input files"),
        (["data.csv"], "data.csv", "unknown input type"),
    ],
    ids=["missing", "empty-directory", "no-input-files", "unknown-kind"],
)
def test_list_inputs_errors(tmp_path, files, argument, message):
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    argument = tmp_path / argument

    with pytest.raises(InputError, match=message) as caught:
        list_inputs([argument])

    assert caught.value.source == str(argument)
    assert str(caught.value).startswith(f"{argument}: ")


# -- JSONL ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["in.jsonl", "in.jsonl.gz", "in.jsonl.zst"])
def test_read_jsonl(tmp_path, write_jsonl, name):
    path = write_jsonl(
        tmp_path / name,
        [{"url": "u", "id": "a", "text": "one\r\ntwo"}, "", "   ", {"id": 7, "text": "", "extra": [1, {"b": None}]}],
    )

    docs = list(read_jsonl(jsonl_file(path), CONFIG))

    assert docs == [
        Document("a", "one\r\ntwo", {"url": "u", "id": "a", "text": "one\r\ntwo"}, str(path), 1),
        Document("7", "", {"id": 7, "text": "", "extra": [1, {"b": None}]}, str(path), 4),
    ]
    assert list(docs[0].fields) == ["url", "id", "text"], "field order is kept"


def test_read_jsonl_other_fields(tmp_path, write_jsonl):
    path = write_jsonl(tmp_path / "in.jsonl", [{"key": "k1", "body": "hello", "text": 3}])

    docs = list(read_jsonl(jsonl_file(path), InputConfig(text_field="body", id_field="key")))

    assert [(d.id, d.text) for d in docs] == [("k1", "hello")]


BAD_LINES = {
    "broken-json": ('{"id": "b", "text": "x"', "not valid JSON"),
    "trailing-garbage": ('{"id": "b", "text": "x"} x', "not valid JSON"),
    "invalid-utf8": (b'{"id": "b", "text": "caf\xe9"}', "invalid UTF-8 at byte 24 of the line"),
    "array": ("[1, 2]", "expected a JSON object, found list"),
    "string": ('"text"', "expected a JSON object, found str"),
    "no-text": ('{"id": "b", "body": "x"}', "no 'text' field (keys: body, id); name the text field with --text-field"),
    "text-null": ('{"id": "b", "text": null}', "field 'text' must be a string, found NoneType"),
    "no-id": ('{"text": "x"}', "no 'id' field; name the id field with --id-field"),
    "id-bool": ('{"id": true, "text": "x"}', "field 'id' must be a string or integer, found bool"),
    "id-float": ('{"id": 1.5, "text": "x"}', "field 'id' must be a string or integer, found float"),
}


def write_with_bad_line(path: Path, bad: str | bytes) -> Path:
    bad_bytes = bad if isinstance(bad, bytes) else bad.encode()
    path.write_bytes(b'{"id": "a", "text": "fine"}\n' + bad_bytes + b'\n{"id": "c", "text": "also fine"}\n')
    return path


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_read_jsonl_bad_line_names_file_and_line(tmp_path, case):
    bad, message = BAD_LINES[case]
    path = write_with_bad_line(tmp_path / "in.jsonl", bad)
    records = read_jsonl(jsonl_file(path), CONFIG)

    assert next(records).id == "a", "records before the bad line are read"
    with pytest.raises(InputError) as caught:
        next(records)

    assert (caught.value.source, caught.value.line) == (str(path), 2)
    assert str(caught.value) == f"{path}:2: {caught.value.reason}"
    assert message in caught.value.reason


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_read_jsonl_skip_bad_line(tmp_path, case):
    bad, message = BAD_LINES[case]
    path = write_with_bad_line(tmp_path / "in.jsonl", bad)

    items = list(read_jsonl(jsonl_file(path), CONFIG, on_error="skip"))

    assert [type(item) for item in items] == [Document, InvalidRecord, Document]
    invalid = items[1]
    assert isinstance(invalid, InvalidRecord)
    assert (invalid.source, invalid.line) == (str(path), 2)
    assert message in invalid.message
    # The id is kept when the line is JSON enough to have one; otherwise the report names the line.
    salvaged = "b" if case in ("no-text", "text-null", "invalid-utf8") else None
    assert invalid.id == salvaged
    result = decide.invalid(invalid)
    assert result.dropped is Reason.INVALID
    assert result.id == (salvaged or f"{path}:2")
    assert result.metadata == {"error": invalid.message}


def test_read_jsonl_truncated_gzip(tmp_path):
    data = gzip.compress(b"".join(b'{"id": %d, "text": "line %d of many"}\n' % (i, i) for i in range(5000)))
    path = tmp_path / "in.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(InputError, match=r"is the file truncated\?") as caught:
        list(read_jsonl(jsonl_file(path), CONFIG))

    assert caught.value.source == str(path)
    assert caught.value.line is not None and caught.value.line > 1


def test_read_jsonl_from_stdin(monkeypatch):
    data = b'{"id": "a", "text": "from stdin"}\n{"id": "b"}\n'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    records = read_jsonl(InputFile(STDIN, "stdin.jsonl", "jsonl"), CONFIG)

    assert next(records) == Document("a", "from stdin", {"id": "a", "text": "from stdin"}, "<stdin>", 1)
    with pytest.raises(InputError, match=r"^<stdin>:2: no 'text' field"):
        next(records)


# -- text files ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"one\ntwo\n", b"one\r\ntwo", b"one\rtwo\r", b"\n\n  one  \n\n\ntwo\t\n", "caf\u00e9 \u00fcber\n".encode(), b""],
    ids=["lf", "crlf", "cr", "blank-lines", "non-ascii", "empty"],
)
def test_read_text_is_exact(tmp_path, data):
    path = tmp_path / "page.txt"
    path.write_bytes(data)

    docs = list(read_text(text_file(path, "site/page.txt"), CONFIG))

    assert docs == [Document("site/page.txt", data.decode("utf-8"), {}, str(path), None)]


@pytest.mark.parametrize(
    ("data", "line", "message"),
    [
        (b"\0\1\2binary", None, "binary file (NUL bytes)"),
        (b"x" * 10_000 + b"\0", None, "binary file (NUL bytes)"),
        (b"first\nsecond \xff\nthird", 2, "invalid UTF-8 at byte 13"),
        (b"x" * 20_001, None, "file is larger than the limit of 20000 bytes; raise it with --max-doc-bytes"),
    ],
    ids=["nul", "late-nul", "invalid-utf8", "too-large"],
)
def test_read_text_errors(tmp_path, data, line, message):
    path = tmp_path / "page.txt"
    path.write_bytes(data)
    config = InputConfig(max_doc_bytes=20_000)

    with pytest.raises(InputError) as caught:
        list(read_text(text_file(path), config))
    skipped = list(read_text(text_file(path, "rel/page.txt"), config, on_error="skip"))

    assert (caught.value.source, caught.value.line) == (str(path), line)
    assert message in caught.value.reason
    assert skipped == [InvalidRecord(str(path), line, caught.value.reason, "rel/page.txt")]


def test_read_text_at_the_size_limit(tmp_path):
    path = tmp_path / "page.txt"
    path.write_bytes(b"x" * 100)

    assert [d.text for d in read_text(text_file(path), InputConfig(max_doc_bytes=100))] == ["x" * 100]


# -- all inputs: ids and limits ---------------------------------------------------------------------------


def test_read_inputs_in_order(tmp_path, write_jsonl):
    first = write_jsonl(tmp_path / "1.jsonl", [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}])
    page = tmp_path / "page.txt"
    page.write_text("z")

    docs = list(read_inputs([jsonl_file(first), text_file(page)], CONFIG))

    assert [(d.id, d.source, d.line) for d in docs] == [
        ("a", str(first), 1),
        ("b", str(first), 2),
        ("page.txt", str(page), None),
    ]


def test_read_inputs_duplicate_ids(tmp_path, write_jsonl):
    first = write_jsonl(tmp_path / "1.jsonl", [{"id": "a", "text": "x"}])
    second = write_jsonl(tmp_path / "2.jsonl", [{"id": "b", "text": "y"}, {"id": "a", "text": "z"}])
    files = [jsonl_file(first), jsonl_file(second)]

    with pytest.raises(InputError, match="duplicate id 'a': ids must be unique across the inputs") as caught:
        list(read_inputs(files, CONFIG))
    skipped = list(read_inputs(files, CONFIG, on_error="skip"))

    assert (caught.value.source, caught.value.line) == (str(second), 2)
    assert [type(item).__name__ for item in skipped] == ["Document", "Document", "InvalidRecord"]
    assert skipped[2].fields == {"id": "a", "text": "z"}


@pytest.mark.parametrize(
    ("text", "config", "message"),
    [
        ("x" * 100, InputConfig(max_doc_bytes=100), None),
        ("x" * 101, InputConfig(max_doc_bytes=100), "document 'a' has 101 bytes, more than the limit of 100"),
        ("\u00e9" * 50, InputConfig(max_doc_bytes=100), None),
        ("\u00e9" * 51, InputConfig(max_doc_bytes=100), "document 'a' has 102 bytes"),
        ("one\r\n\r\n  \r\ntwo\r\n", InputConfig(max_paragraphs=2), None),
        ("one\r\n\r\ntwo\rthree", InputConfig(max_paragraphs=2), "document 'a' has 3 paragraphs, more than the limit"),
    ],
    ids=["bytes-at-limit", "bytes-over", "utf8-at-limit", "utf8-over", "paragraphs-at-limit", "paragraphs-over"],
)
def test_limit_error(text, config, message):
    error = limit_error(Document("a", text), config)

    if message is None:
        assert error is None
    else:
        assert error is not None and message in error
        assert "--max-doc-bytes" in error or "--max-paragraphs" in error


@pytest.mark.parametrize("kind", ["jsonl", "txt"])
def test_read_inputs_limits(tmp_path, write_jsonl, kind):
    text = "first paragraph\nsecond paragraph\nthird paragraph"
    if kind == "jsonl":
        file = jsonl_file(write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": text}, {"id": "b", "text": "ok"}]))
        where = (file.path, 1)
    else:
        (tmp_path / "in.txt").write_text(text)
        file = text_file(tmp_path / "in.txt")
        where = (file.path, None)
    config = InputConfig(max_paragraphs=2)

    with pytest.raises(InputError, match="has 3 paragraphs, more than the limit of 2") as caught:
        list(read_inputs([file], config))
    skipped = list(read_inputs([file], config, on_error="skip"))

    assert (caught.value.source, caught.value.line) == where
    assert isinstance(skipped[0], InvalidRecord)
    assert (skipped[0].source, skipped[0].line) == where
    assert decide.invalid(skipped[0]).id == ("a" if kind == "jsonl" else "in.txt")
    assert [d.id for d in skipped[1:]] == (["b"] if kind == "jsonl" else [])


# -- damaged and compressed files, file-level errors ------------------------------------------------------

RECORDS = b"".join(b'{"id": "r%d", "text": "Record %d."}\n' % (i, i) for i in range(4000))


def test_read_jsonl_zstd_frames_one_after_another(tmp_path):
    # zstd files may be concatenated (e.g. `cat a.zst b.zst`): every frame is read.
    compressor = zstandard.ZstdCompressor()
    path = tmp_path / "in.jsonl.zst"
    path.write_bytes(compressor.compress(RECORDS[:1000]) + compressor.compress(RECORDS[1000:]))

    docs = list(read_jsonl(jsonl_file(path), CONFIG))

    assert [d.id for d in docs] == [f"r{i}" for i in range(4000)]


@pytest.mark.parametrize("keep", [0.5, 0.99, 6], ids=["half", "all-but-the-end", "header-only"])
def test_read_jsonl_truncated_zstd_is_an_error(tmp_path, keep):
    # zstandard's stream reader ends quietly inside a cut frame; the file would pass for a shorter one.
    data = zstandard.ZstdCompressor().compress(RECORDS)
    path = tmp_path / "in.jsonl.zst"
    path.write_bytes(data[: int(len(data) * keep) if keep < 1 else keep])

    with pytest.raises(InputError, match=r"is the file truncated\?") as caught:
        list(read_jsonl(jsonl_file(path), CONFIG))
    skipped = list(read_jsonl(jsonl_file(path), CONFIG, on_error="skip"))

    assert caught.value.source == str(path)
    assert isinstance(skipped[-1], InvalidRecord)
    assert all(isinstance(item, Document) for item in skipped[:-1])
    assert len(skipped) - 1 < 4000


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("in.jsonl.gz", b'{"id": "a", "text": "plain"}\n', "cannot read the file: Not a gzipped file"),
        ("in.jsonl.zst", b'{"id": "a", "text": "plain"}\n', "cannot read the file: not zstd data, or damaged"),
        ("in.jsonl.gz", gzip.compress(RECORDS)[:10] + b"\xff" * 50, "cannot read"),
    ],
    ids=["not-gzip", "not-zstd", "damaged-gzip"],
)
def test_read_jsonl_not_compressed_as_named(tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)

    with pytest.raises(InputError, match=message) as caught:
        list(read_jsonl(jsonl_file(path), CONFIG))
    skipped = list(read_jsonl(jsonl_file(path), CONFIG, on_error="skip"))

    assert (caught.value.source, caught.value.line) == (str(path), 1)
    assert skipped == [InvalidRecord(str(path), 1, caught.value.reason)]
    assert decide.invalid(skipped[0]).id == f"{path}:1"


def test_read_jsonl_unopenable_file_is_skipped_as_one_record(tmp_path):
    path = tmp_path / "in.jsonl"
    path.mkdir()  # opening a directory fails for root too

    with pytest.raises(InputError, match="cannot open") as caught:
        list(read_jsonl(jsonl_file(path), CONFIG))
    skipped = list(read_jsonl(jsonl_file(path), CONFIG, on_error="skip"))

    assert caught.value.source == str(path)
    assert skipped == [InvalidRecord(str(path), None, caught.value.reason)]


def test_read_jsonl_line_limit(tmp_path):
    config = InputConfig(max_doc_bytes=1000)
    limit = line_limit(config)
    assert limit == 8 * 1000 + 2**20
    long_line = b'{"id": "long", "text": "' + b"x" * limit + b'"}'
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"id": "a", "text": "x"}\n' + long_line + b'\n{"id": "b", "text": "y"}\n')

    with pytest.raises(InputError, match="line is longer than") as caught:
        list(read_jsonl(jsonl_file(path), config))
    skipped = list(read_jsonl(jsonl_file(path), config, on_error="skip"))

    assert caught.value.line == 2
    assert [type(item).__name__ for item in skipped] == ["Document", "InvalidRecord", "Document"]
    assert skipped[2].line == 3, "reading goes on after the long line, with the right line numbers"


def test_read_inputs_seen_ids_carry_over(tmp_path, write_jsonl):
    path = write_jsonl(tmp_path / "2.jsonl", [{"id": "b", "text": "y"}, {"id": "a", "text": "z"}])
    seen = {"a"}

    with pytest.raises(InputError, match="duplicate id 'a'"):
        list(read_inputs([jsonl_file(path)], CONFIG, seen=seen))

    assert seen == {"a", "b"}


# -- compressed data recognised by its first bytes ---------------------------------------------------------

PLAIN = b'{"id": "a", "text": "caf\xc3\xa9"}\n{"id": "b", "text": "two\\nlines"}\n'
COMPRESSIONS = {
    "plain": lambda data: data,
    "gzip": lambda data: gzip.compress(data, mtime=0),
    "zstd": zstandard.ZstdCompressor().compress,
    "gzip-members": lambda data: gzip.compress(data[:20]) + gzip.compress(data[20:]),
}
EXPECTED = [("a", "caf\u00e9", 1), ("b", "two\nlines", 2)]


@pytest.fixture
def pipe_stdin(monkeypatch):
    """``pipe_stdin(data)``: make stdin a real pipe that ``data`` comes through, its first byte alone."""
    opened = []

    def feed(data: bytes) -> None:
        read_end, write_end = os.pipe()

        def write() -> None:
            with os.fdopen(write_end, "wb", buffering=0) as pipe:
                pipe.write(data[:1])
                time.sleep(0.05)  # the reader sees one byte before the rest
                pipe.write(data[1:])

        threading.Thread(target=write, daemon=True).start()
        stdin = open(read_end, encoding="utf-8")  # noqa: SIM115 - closed after the test
        opened.append(stdin)
        monkeypatch.setattr(sys, "stdin", stdin)

    yield feed
    for stdin in opened:
        stdin.close()


@pytest.mark.parametrize("compression", sorted(COMPRESSIONS))
def test_read_jsonl_from_compressed_stdin(pipe_stdin, compression):
    pipe_stdin(COMPRESSIONS[compression](PLAIN))

    docs = list(read_jsonl(InputFile(STDIN, "stdin.jsonl", "jsonl"), CONFIG))

    assert [(d.id, d.text, d.line) for d in docs] == EXPECTED
    assert {d.source for d in docs} == {"<stdin>"}
    assert not sys.stdin.closed, "stdin is not closed by the reader"


def test_read_jsonl_from_stdin_yields_each_line_as_it_comes(monkeypatch):
    # A slow writer (a crawler piping records in): a line is read once it is complete, not when more data came.
    read_end, write_end = os.pipe()
    stdin = open(read_end, encoding="utf-8")  # noqa: SIM115 - closed below
    monkeypatch.setattr(sys, "stdin", stdin)
    records = read_jsonl(InputFile(STDIN, "stdin.jsonl", "jsonl"), CONFIG)
    first = threading.Event()
    ids = []

    def consume() -> None:
        for doc in records:
            ids.append(doc.id)
            first.set()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    try:
        os.write(write_end, b'{"id": "a", "text": "first"}\n')
        arrived = first.wait(timeout=10)
        os.write(write_end, b'{"id": "b", "text": "second"}\n')
    finally:
        os.close(write_end)
        thread.join(timeout=10)
        stdin.close()

    assert arrived, "the first record waited for more input"
    assert ids == ["a", "b"]


@pytest.mark.parametrize("data", [b"", b"\n", b"\x1f"], ids=["empty", "blank-line", "one-magic-byte"])
def test_read_jsonl_from_short_stdin(pipe_stdin, data):
    pipe_stdin(data)

    items = list(read_jsonl(InputFile(STDIN, "stdin.jsonl", "jsonl"), CONFIG, on_error="skip"))

    assert [type(item).__name__ for item in items] == ([] if data.strip() == b"" else ["InvalidRecord"])


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_read_jsonl_truncated_compressed_stdin(pipe_stdin, compression):
    data = COMPRESSIONS[compression](RECORDS)
    pipe_stdin(data[: len(data) // 2])

    with pytest.raises(InputError, match=r"is the file truncated\?") as caught:
        list(read_jsonl(InputFile(STDIN, "stdin.jsonl", "jsonl"), CONFIG))

    assert caught.value.source == "<stdin>"


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
@pytest.mark.parametrize("name", ["in.jsonl", "in.ndjson"])
def test_read_jsonl_compressed_under_a_plain_name(tmp_path, compression, name):
    path = tmp_path / name
    path.write_bytes(COMPRESSIONS[compression](PLAIN))

    docs = list(read_jsonl(jsonl_file(path), CONFIG))

    assert [(d.id, d.text, d.line) for d in docs] == EXPECTED


# -- byte-order marks -----------------------------------------------------------------------------------------

BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize("compression", ["plain", "gzip", "zstd"])
def test_read_jsonl_byte_order_mark(tmp_path, compression):
    path = tmp_path / "in.jsonl"
    path.write_bytes(COMPRESSIONS[compression](BOM + PLAIN))

    docs = list(read_jsonl(jsonl_file(path), CONFIG))

    assert [(d.id, d.text, d.line) for d in docs] == EXPECTED
    assert list(docs[0].fields) == ["id", "text"]


def test_read_jsonl_byte_order_mark_on_stdin(pipe_stdin):
    pipe_stdin(BOM + PLAIN)

    docs = list(read_jsonl(InputFile(STDIN, "stdin.jsonl", "jsonl"), CONFIG))

    assert [(d.id, d.text, d.line) for d in docs] == EXPECTED


def test_read_jsonl_byte_order_mark_alone(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(BOM + b"\n" + PLAIN)

    assert [(d.id, d.line) for d in read_jsonl(jsonl_file(path), CONFIG)] == [("a", 2), ("b", 3)]


def test_read_jsonl_byte_order_mark_inside_the_file_is_an_error(tmp_path):
    # Only the start of the file may have one; later, it is most likely two files joined with `cat`.
    path = tmp_path / "in.jsonl"
    path.write_bytes(BOM + PLAIN + BOM + PLAIN)

    with pytest.raises(InputError) as caught:
        list(read_jsonl(jsonl_file(path), CONFIG))

    assert str(caught.value) == (
        f"{path}:3: not valid JSON: a byte-order mark (U+FEFF) at column 1; only the start of a file may have one "
        "(were files concatenated with theirs?)"
    )


@pytest.mark.parametrize(
    "data", [b"one\r\ntwo\n", "caf\u00e9\n\nnext".encode(), b"", b"\xef\xbb\xbf"], ids=["crlf", "utf8", "empty", "bom"]
)
def test_read_text_byte_order_mark_is_not_text(tmp_path, data):
    path = tmp_path / "page.txt"
    path.write_bytes(BOM + data)

    docs = list(read_text(text_file(path), CONFIG))

    assert docs == [Document("page.txt", data.decode("utf-8"), {}, str(path), None)]


def test_read_text_byte_order_mark_and_the_size_limit(tmp_path):
    config = InputConfig(max_doc_bytes=100)
    path = tmp_path / "page.txt"

    path.write_bytes(BOM + b"x" * 100)
    assert [d.text for d in read_text(text_file(path), config)] == ["x" * 100], "the mark is not counted"

    path.write_bytes(BOM + b"x" * 101)
    with pytest.raises(InputError, match="file is larger than the limit of 100 bytes"):
        list(read_text(text_file(path), config))


def test_read_text_byte_order_mark_error_offsets_count_from_the_file_start(tmp_path):
    path = tmp_path / "page.txt"
    path.write_bytes(BOM + b"first\nsecond \xff")

    with pytest.raises(InputError) as caught:
        list(read_text(text_file(path), CONFIG))

    assert str(caught.value) == f"{path}:2: invalid UTF-8 at byte 16"


# -- JSON error messages ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"id": "a", "text": "abc',
         "Unterminated string starting at column 21, not closed when the line ends at column 25 (is it cut short?)"),
        (b'{"id": "a", "text": "abc"', "Expecting ',' delimiter at column 26, where the line ends (is it cut short?)"),
        (b'{"id": "a", "text": "abc"\r',
         "Expecting ',' delimiter at column 26, where the line ends (is it cut short?)"),
        (b'{"id": "a",',
         "Expecting property name enclosed in double quotes at column 12, where the line ends (is it cut short?)"),
        (b'{"id": "a", "text": "tab\there"}', "Invalid control character at column 25"),
        (b'{"id": "a", "text": "x"} x', "Extra data at column 26"),
        (b'{"id": "a" "text": "x"}', "Expecting ',' delimiter at column 12"),
        ('{"id": "\u00e9\u00e9", oops}'.encode(), "Expecting property name enclosed in double quotes at column 14"),
    ],
    ids=["unterminated-string", "unclosed-object", "unclosed-object-crlf", "after-comma", "control-character",
         "extra-data", "missing-comma", "columns-in-characters"],
)
def test_json_error_names_file_line_and_column_once(tmp_path, line, message):
    path = write_with_bad_line(tmp_path / "in.jsonl", line)

    with pytest.raises(InputError) as caught:
        list(read_jsonl(jsonl_file(path), CONFIG))
    skipped = list(read_jsonl(jsonl_file(path), CONFIG, on_error="skip"))

    assert str(caught.value) == f"{path}:2: not valid JSON: {message}"
    assert str(caught.value).count(" at ") == message.count(" at ")
    assert skipped[1] == InvalidRecord(str(path), 2, f"not valid JSON: {message}")


def test_docstring_examples():
    assert doctest.testmod(dedup.read).failed == 0



# -- plain JSONL read in byte ranges -------------------------------------------------------------------------

RANGED_CONFIG = InputConfig(max_paragraphs=3)
RANGED_LINES = [
    BOM + b'{"id": "a", "text": "first"}\n',
    b"\n",
    b'{"id": "b", "text": "one\\ntwo\\nthree\\nfour"}\n',  # over max_paragraphs
    b"not json\r\n",
    b"   \n",
    b'{"id": "c", "text": "caf\xc3\xa9"}\r\n',
    b'{"id": "d", "text": "\xff"}\n',  # not UTF-8
    b'{"id": "e"}\n',  # no text
    b'{"id": "f", "text": "' + b"x" * 300 + b'"}\n',
    b'{"id": "g", "text": "last, without a line break"}',
]


def _ranged(tmp_path: Path) -> InputFile:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"".join(RANGED_LINES))
    return jsonl_file(path)


@pytest.mark.parametrize("size", [1, 7, 40, 64, 100, 1000, 10_000])
def test_line_ranges_cover_the_file_with_whole_lines(tmp_path, size):
    file = _ranged(tmp_path)
    data = Path(file.path).read_bytes()

    ranges = line_ranges(file.path, size)

    assert ranges[0][0] == 0
    assert ranges[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert all(end == len(data) or data[end - 1 : end] == b"\n" for _, end in ranges)
    assert all(end - start >= min(size, len(data) - start) for start, end in ranges)


def test_line_ranges_of_an_empty_file(tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    assert line_ranges(tmp_path / "empty.jsonl", 10) == []


@pytest.mark.parametrize("size", [1, 40, 100, 10_000])
def test_ranges_read_what_the_reader_reads_and_count_it_first(tmp_path, size):
    file = _ranged(tmp_path)
    whole = [checked_limits(item, RANGED_CONFIG, "skip", file.path)
             for item in read_jsonl(file, RANGED_CONFIG, on_error="skip")]
    assert {type(item) for item in whole} == {Document, InvalidRecord}

    items, before = [], 0
    for start, end in line_ranges(file.path, size):
        lines, count = count_records(file, RANGED_CONFIG, start, end)
        part = list(read_jsonl_range(file, RANGED_CONFIG, "skip", start, end, before))
        assert len(part) == count, "the count is known before the range is parsed"
        items += part
        before += lines

    assert items == whole
    assert before == len(RANGED_LINES)


@pytest.mark.parametrize("size", [1, 60, 10_000])
def test_a_range_raises_the_error_the_reader_raises(tmp_path, size):
    file = _ranged(tmp_path)
    with pytest.raises(InputError) as whole:
        list(read_inputs([file], RANGED_CONFIG))
    with pytest.raises(InputError) as ranged:
        before = 0
        for start, end in line_ranges(file.path, size):
            list(read_jsonl_range(file, RANGED_CONFIG, "raise", start, end, before))
            before += count_records(file, RANGED_CONFIG, start, end)[0]

    assert str(ranged.value) == str(whole.value)
    assert whole.value.line == 3


def _whole_files(tmp_path: Path) -> dict[str, InputFile]:
    """Inputs read whole: compressed JSONL (sound, cut short, compressed under a plain name), text files."""
    data = b"".join(RANGED_LINES)
    packed = {"gzip": gzip.compress(data, mtime=0), "zstd": zstandard.ZstdCompressor().compress(data)}
    files = {
        "gzip": (tmp_path / "in.jsonl.gz", packed["gzip"]),
        "zstd": (tmp_path / "in.jsonl.zst", packed["zstd"]),
        "gzip-cut": (tmp_path / "cut.jsonl.gz", packed["gzip"][: len(packed["gzip"]) * 2 // 3]),
        "zstd-cut": (tmp_path / "cut.jsonl.zst", packed["zstd"][: len(packed["zstd"]) * 2 // 3]),
        "not-gzip": (tmp_path / "plain.jsonl.gz", data),
        "disguised": (tmp_path / "disguised.jsonl", packed["gzip"]),
        "text": (tmp_path / "page.txt", b"caf\xc3\xa9\r\nand more\n"),
        "text-not-utf-8": (tmp_path / "latin.txt", b"caf\xe9\n"),
    }
    for path, content in files.values():
        path.write_bytes(content)
    return {name: (text_file if path.suffix == ".txt" else jsonl_file)(path) for name, (path, _) in files.items()}


@pytest.mark.parametrize(
    "name", ["gzip", "zstd", "gzip-cut", "zstd-cut", "not-gzip", "disguised", "text", "text-not-utf-8", "missing"]
)
def test_a_whole_file_is_read_as_the_reader_reads_it_and_counted_first(tmp_path, name):
    files = _whole_files(tmp_path)
    file = files.get(name) or jsonl_file(tmp_path / "missing.jsonl.gz")
    whole = list(read_inputs([file], RANGED_CONFIG, "skip"))

    lines, count = count_range(file, RANGED_CONFIG)
    read = list(read_range(file, RANGED_CONFIG, "skip"))

    assert read == whole
    assert len(read) == count, "the count is known before the file is parsed"
    if name in ("gzip", "zstd", "disguised"):
        assert lines == len(RANGED_LINES)
    if name == "text":
        assert list(read_range(file, RANGED_CONFIG, "raise")) == whole
        return
    assert any(isinstance(item, InvalidRecord) for item in whole)
    with pytest.raises(InputError) as local:
        list(read_inputs([file], RANGED_CONFIG))
    with pytest.raises(InputError) as part:
        list(read_range(file, RANGED_CONFIG, "raise"))
    assert str(part.value) == str(local.value)


def test_is_plain_jsonl(tmp_path, write_jsonl):
    plain = tmp_path / "plain.jsonl"
    plain.write_bytes(b'{"id": "a", "text": "t"}\n')
    disguised = tmp_path / "disguised.jsonl"
    disguised.write_bytes(gzip.compress(plain.read_bytes()))
    named = tmp_path / "named.jsonl.gz"
    named.write_bytes(gzip.compress(plain.read_bytes()))

    assert is_plain_jsonl(jsonl_file(plain))
    assert not is_plain_jsonl(jsonl_file(disguised))
    assert not is_plain_jsonl(jsonl_file(named))
    assert not is_plain_jsonl(InputFile(STDIN, "stdin.jsonl", "jsonl"))
    assert not is_plain_jsonl(jsonl_file(tmp_path / "missing.jsonl"))
    assert not is_plain_jsonl(text_file(plain))
