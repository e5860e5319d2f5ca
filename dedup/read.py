"""Read documents from JSONL files, Parquet files, text files, directories and stdin.

Every record is checked as it is read. A bad record raises
:class:`~dedup.errors.InputError` naming the file and line, or, when the
caller asked to skip bad input, becomes an :class:`InvalidRecord` that the
cleaner reports with reason ``invalid``: nothing is dropped silently.

JSONL files may be compressed (``.gz``, ``.zst``); standard input and a
file whose name does not say so are recognised as gzip or zstd by their
first bytes. Text files are read as bytes and decoded strictly, so line
breaks and every other byte reach the output exactly as they were. A UTF-8
byte-order mark at the start of a file or of standard input is not text:
it is not part of the first record or of the document.

Parquet files (``.parquet``, read with ``pyarrow``) hold one record per
row: the text and id columns as ``--text-field`` and ``--id-field`` name
them, and other columns, which pass through. A record's errors are JSONL's,
placed at the row (counted from 1) where JSONL places them at the line.

An input may also be an object-storage URI (``s3://bucket/corpus.jsonl``,
``gs://bucket/crawl/``; :mod:`dedup.objstore`): an object is read as a file
of the same name, a prefix as a directory, and errors name the URI.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, cast

from dedup import objstore
from dedup.config import InputConfig
from dedup.data import Document
from dedup.errors import InputError
from dedup.objstore import is_uri
from dedup.split import split_paragraphs

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".ndjson", ".ndjson.gz", ".ndjson.zst")
TEXT_SUFFIXES = (".txt",)
PARQUET_SUFFIXES = (".parquet",)
STDIN = "-"

OnError = Literal["raise", "skip"]
#: Told the number of bytes each time some are read from an input as stored (compressed or not).
OnRead = Callable[[int], None]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputFile:
    """One file to read.

    Attributes:
        path: Where it is (``"-"`` for stdin).
        relative: Its path relative to the input argument that named it:
            the id of a text document, and where its output goes in an
            output directory.
        kind: ``"jsonl"``, ``"parquet"`` or ``"txt"``.
        size: Its size in bytes when the listing gave it (the objects of
            an object-storage prefix), so that it is not asked for again;
            ``None`` otherwise.
    """

    path: str
    relative: str
    kind: Literal["jsonl", "txt", "parquet"]
    size: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class InvalidRecord:
    """A record that could not be read and was skipped, with why."""

    source: str
    line: int | None
    message: str
    id: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)


def kind_of(path: str | Path) -> Literal["jsonl", "txt", "parquet"] | None:
    """The input kind a file name (or a URI, without its query) says, or ``None`` for other files."""
    name = objstore.name_of(str(path)).lower()
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(TEXT_SUFFIXES):
        return "txt"
    return None


def list_inputs(arguments: Iterable[str | Path]) -> list[InputFile]:
    """Expand input arguments into files, in a stable order.

    Directories are walked recursively in sorted order and contribute
    their ``.jsonl`` (optionally compressed), ``.parquet`` and ``.txt`` files.

    Raises:
        InputError: An argument does not exist, has an unknown kind, or is
            a directory with no input files.
    """
    files: list[InputFile] = []
    for argument in arguments:
        if str(argument) == STDIN:
            files.append(InputFile(STDIN, "stdin.jsonl", "jsonl"))
            continue
        if is_uri(argument):
            files.extend(_list_uri(str(argument)))
            continue
        path = Path(argument)
        if path.is_dir():
            found = [
                InputFile(str(p), p.relative_to(path).as_posix(), kind)
                for p in sorted(path.rglob("*"), key=lambda p: p.relative_to(path).as_posix())
                if p.is_file() and (kind := kind_of(p)) is not None
            ]
            if not found:
                raise InputError(
                    "directory has no input files (expected *.jsonl, *.jsonl.gz, *.jsonl.zst, *.parquet or *.txt)", path
                )
            files.extend(found)
        elif path.is_file():
            kind = kind_of(path)
            if kind is None:
                raise InputError(
                    "unknown input type: name JSONL files *.jsonl[.gz|.zst], Parquet files *.parquet and text files "
                    "*.txt",
                    path,
                )
            files.append(InputFile(str(path), path.name, kind))
        elif path.exists():
            raise InputError("not a regular file or directory", path)
        else:
            raise InputError("no such file or directory", path)
    return files


def _list_uri(uri: str) -> list[InputFile]:
    """The input files of an object-storage URI: the object it names, or those under the prefix it names."""
    entry = objstore.stat(uri)
    if entry.kind == "file":
        kind = kind_of(uri)
        if kind is None:
            raise InputError(
                "unknown input type: name JSONL objects *.jsonl[.gz|.zst], Parquet objects *.parquet and text "
                "objects *.txt", uri,
            )
        return [InputFile(uri, objstore.name_of(uri).rstrip("/").rsplit("/", 1)[-1], kind, entry.size)]
    if entry.kind == "missing":
        raise InputError(objstore.missing(uri, objstore.locate(uri)), uri)
    found = [InputFile(path, relative, kind, size) for path, relative, size in objstore.walk(uri)
             if (kind := kind_of(relative)) is not None]
    if not found:
        raise InputError(
            "prefix has no input objects (expected *.jsonl, *.jsonl.gz, *.jsonl.zst, *.parquet or *.txt)", uri
        )
    return found


def document_from_record(record: Any, config: InputConfig, source: str, line: int | None) -> Document:
    """Check one JSON record and make it a :class:`Document`.

    Raises:
        InputError: The record is not an object, or its text or id field is
            missing or of the wrong type.
    """
    if not isinstance(record, Mapping):
        raise InputError(f"expected a JSON object, found {type(record).__name__}", source, line)
    text = record.get(config.text_field)
    if config.text_field not in record:
        keys = ", ".join(sorted(map(str, record))) or "none"
        raise InputError(
            f"no {config.text_field!r} field (keys: {keys}); name the text field with --text-field", source, line
        )
    if not isinstance(text, str):
        raise InputError(
            f"field {config.text_field!r} must be a string, found {type(text).__name__}", source, line
        )
    doc_id = record.get(config.id_field)
    if doc_id is None:
        raise InputError(f"no {config.id_field!r} field; name the id field with --id-field", source, line)
    if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
        raise InputError(f"field {config.id_field!r} must be a string or integer, found {type(doc_id).__name__}",
                         source, line)
    return Document(str(doc_id), text, dict(record), source, line)


BOM = b"\xef\xbb\xbf"
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _open_binary(path: str, on_read: OnRead | None = None) -> IO[bytes]:
    """The decompressed bytes of ``path`` (``-`` is stdin, which is not closed with them).

    A ``.gz`` or ``.zst`` name says how a file is compressed. Other inputs
    are recognised by their first bytes: neither magic number can begin a
    JSON text, so plain JSONL is never taken for compressed data.
    ``on_read`` is told how many bytes are read from the file or stdin
    itself, before decompression.
    """
    if path == STDIN:
        head = _read_exactly(sys.stdin.buffer, len(_ZSTD_MAGIC))  # a pipe cannot be rewound: the head is put back
        if on_read is not None:
            on_read(len(head))
        stream = io.BufferedReader(_Prefixed(head, sys.stdin.buffer, on_read))
        return _decompressed(stream, _compression(head))
    if is_uri(path):
        return _open_object(path, on_read)
    compression = _named_compression(path)
    if compression is None:
        with open(path, "rb") as handle:
            compression = _compression(handle.read(len(_ZSTD_MAGIC)))
    if on_read is None:
        return _decompressed(open(path, "rb"), compression)
    counted = io.BufferedReader(_Counted(open(path, "rb", buffering=0), on_read))  # noqa: SIM115 - returned
    return _decompressed(cast(IO[bytes], counted), compression)


def _named_compression(name: str) -> str | None:
    """The compression a file name says (``"gzip"`` for ``.gz``, ``"zstd"`` for ``.zst``), or ``None``."""
    lower = name.lower()
    if lower.endswith(".gz"):
        return "gzip"
    if lower.endswith(".zst"):
        return "zstd"
    return None


def _open_object(uri: str, on_read: OnRead | None) -> IO[bytes]:
    """:func:`_open_binary` of an object in object storage, streamed from the store."""
    raw = objstore.open_input(uri)
    stream = io.BufferedReader(_Counted(raw, on_read) if on_read is not None else raw, _OBJECT_BUFFER)
    compression = _named_compression(objstore.name_of(uri))
    if compression is None:
        try:
            compression = _compression(stream.peek(len(_ZSTD_MAGIC))[: len(_ZSTD_MAGIC)])
        except BaseException:
            stream.close()
            raise
    return _decompressed(cast(IO[bytes], stream), compression)


#: Bytes asked of an object store at a time when streaming an object, and when looking for the line break
#: that ends a range (:func:`line_ranges`: the driver reads this much per range, not the corpus).
_OBJECT_BUFFER = 1 << 20
_OBJECT_SEEK_BUFFER = 1 << 16


class _Counted(io.RawIOBase):
    """A file that tells ``on_read`` how many bytes each read gave; closing it closes the file."""

    def __init__(self, raw: io.RawIOBase, on_read: OnRead) -> None:
        super().__init__()
        self._raw = raw
        self._on_read = on_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._raw.readinto(buffer)
        if count:
            self._on_read(count)
        return count

    def close(self) -> None:
        self._raw.close()
        super().close()


def _compression(head: bytes) -> str | None:
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    return None


def _decompressed(stream: IO[bytes], compression: str | None) -> IO[bytes]:
    """``stream`` decompressed; closing the result closes ``stream``."""
    if compression == "gzip":
        return cast(IO[bytes], _GzipReader(stream))
    if compression == "zstd":
        return io.BufferedReader(_ZstdReader(stream))
    return stream


class _GzipReader(gzip.GzipFile):
    """A gzip stream that closes the stream it reads from when closed (GzipFile leaves a given one open)."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(fileobj=stream, mode="rb")
        self._stream = stream

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._stream.close()


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    """The first ``size`` bytes of ``stream``, fewer only at its end (a pipe may give them one by one)."""
    data = b""
    while len(data) < size and (more := stream.read(size - len(data))):
        data += more
    return data


class _Prefixed(io.RawIOBase):
    """``head``, the bytes already read from ``rest``, then the rest of it; ``rest`` is left open."""

    def __init__(self, head: bytes, rest: IO[bytes], on_read: OnRead | None = None) -> None:
        super().__init__()
        self._head = head
        # read1 returns what has come: read(n) on a pipe would wait for n bytes, holding back a slow writer's lines.
        self._read = getattr(rest, "read1", rest.read)
        self._on_read = on_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            count = min(len(view), len(self._head))
            view[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        data = self._read(len(view))
        view[: len(data)] = data
        if data and self._on_read is not None:
            self._on_read(len(data))
        return len(data)


class _ZstdReader(io.RawIOBase):
    """Decompresses a ``.zst`` stream frame by frame, and notices when it is cut short.

    zstandard's own stream reader ends quietly where the data ends, even in
    the middle of a frame, so a truncated file would read as a shorter
    complete one. Input is fed in small steps, which also bounds the output
    of one step (a highly compressed stream cannot expand without limit).
    """

    _STEP = 1 << 13

    def __init__(self, raw: IO[bytes]) -> None:
        import zstandard

        super().__init__()
        self._raw = raw
        self._error = zstandard.ZstdError
        self._decompressor = zstandard.ZstdDecompressor()
        self._frame = self._decompressor.decompressobj()
        self._in_frame = False
        self._pending = b""
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._offset >= len(self._pending):
            data = self._raw.read(self._STEP)
            if not data:
                if self._in_frame:
                    raise EOFError("compressed file ended before the end of a zstd frame")
                return 0
            self._pending, self._offset = self._feed(data), 0
        view = memoryview(buffer).cast("B")
        count = min(len(view), len(self._pending) - self._offset)
        view[:count] = self._pending[self._offset : self._offset + count]
        self._offset += count
        return count

    def _feed(self, data: bytes) -> bytes:
        out = []
        while data:
            self._in_frame = True
            try:
                out.append(self._frame.decompress(data))
            except self._error as exc:
                raise OSError(f"not zstd data, or damaged ({exc})") from exc
            if not self._frame.eof:
                break
            data = self._frame.unused_data  # a file may hold several frames one after another
            self._frame = self._decompressor.decompressobj()
            self._in_frame = False
        return b"".join(out)

    def close(self) -> None:
        self._raw.close()
        super().close()


def line_limit(config: InputConfig) -> int:
    """The longest JSONL line read: room for a document at the size limit, JSON-escaped, and other fields."""
    return 8 * config.max_doc_bytes + (1 << 20)


def _lines(handle: IO[bytes], source: str, limit: int, before: int = 0) -> Iterator[tuple[int, bytes | None]]:
    """Number the lines of ``handle`` from ``before + 1``; a line over ``limit`` bytes comes as ``None``, read past.

    Raises:
        InputError: The stream cannot be read on (truncated, not compressed as its name says).
    """
    number = before
    try:
        while raw := handle.readline(limit + 1):
            number += 1
            if len(raw) > limit and not raw.endswith(b"\n"):
                while (rest := handle.readline(1 << 20)) and not rest.endswith(b"\n"):
                    pass
                yield number, None
            else:
                yield number, raw
    except EOFError as exc:
        raise InputError(f"the data ends in the middle of line {number + 1}: {exc} (is the file truncated?)",
                         source, number + 1) from exc
    except (gzip.BadGzipFile, zlib.error, OSError) as exc:
        what = "cannot read the file" if number == 0 else f"cannot read past line {number}"
        raise InputError(f"{what}: {exc} (is it damaged, or not compressed as its name says?)", source,
                         number + 1) from exc


def _parse(raw: bytes, config: InputConfig, source: str, number: int) -> Document:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"invalid UTF-8 at byte {exc.start} of the line", source, number) from exc
    line = line.removesuffix("\n").removesuffix("\r")  # JSON whitespace: an error is not placed past the line
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(json_error(exc, line), source, number) from exc
    return document_from_record(record, config, source, number)


def json_error(exc: json.JSONDecodeError, line: str) -> str:
    """The message for ``line`` (one line, without its line break), which ``json.loads`` refused with ``exc``.

    It says what is wrong and the column, counted in characters from 1, once.

    >>> line = '{"id": 1'
    >>> try:
    ...     json.loads(line)
    ... except json.JSONDecodeError as exc:
    ...     print(json_error(exc, line))
    not valid JSON: Expecting ',' delimiter at column 9, where the line ends (is it cut short?)
    """
    if exc.msg.startswith("Unexpected UTF-8 BOM"):
        return ("not valid JSON: a byte-order mark (U+FEFF) at column 1; only the start of a file may have one "
                "(were files concatenated with theirs?)")
    what = exc.msg.removesuffix(" at")  # "Unterminated string starting at": the column follows, once
    end = len(line) + 1  # the column just past the last character
    message = f"not valid JSON: {what} at column {exc.pos + 1}"  # one line: its position is the column
    if exc.pos + 1 >= end:
        return f"{message}, where the line ends (is it cut short?)"
    if what.startswith("Unterminated string"):
        return f"{message}, not closed when the line ends at column {end} (is it cut short?)"
    return message


def _salvage_id(raw: bytes, config: InputConfig) -> str | None:
    """The id of a rejected record, when the line is JSON enough to have one."""
    try:
        record = json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        return None
    value = record.get(config.id_field) if isinstance(record, dict) else None
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def read_jsonl(
    file: InputFile, config: InputConfig, on_error: OnError = "raise", on_read: OnRead | None = None
) -> Iterator[Document | InvalidRecord]:
    """Read documents from one JSONL file (one object per line; blank lines are not records).

    With ``on_error="skip"`` a bad line becomes an :class:`InvalidRecord`,
    and so does a file that cannot be opened or read to its end (its
    records after that point cannot be known: the invalid record stands
    for the rest of the file). ``on_read`` is told the bytes read from the
    file as stored.
    """
    source = "<stdin>" if file.path == STDIN else file.path
    try:
        handle = _open_binary(file.path, on_read)
    except OSError as exc:
        error = InputError(f"cannot open: {exc.strerror or exc}", source)
        if on_error == "raise":
            raise error from exc
        yield InvalidRecord(source, None, error.reason)
        return
    try:
        yield from _jsonl_records(handle, source, config, on_error)
    finally:
        handle.close()


def _jsonl_records(
    handle: IO[bytes], source: str, config: InputConfig, on_error: OnError, before: int = 0
) -> Iterator[Document | InvalidRecord]:
    """The records of the JSONL lines in ``handle``, numbered from ``before + 1`` (:func:`read_jsonl`)."""
    limit = line_limit(config)
    lines = _lines(handle, source, limit, before)
    while True:
        try:
            item = next(lines, None)
        except InputError as exc:
            if on_error == "raise":
                raise
            yield InvalidRecord(source, exc.line, exc.reason)
            return
        if item is None:
            return
        number, raw = item
        if raw is None:
            error = InputError(
                f"line is longer than {limit} bytes (8 x --max-doc-bytes + 1 MiB); raise --max-doc-bytes",
                source, number,
            )
            if on_error == "raise":
                raise error
            yield InvalidRecord(source, number, error.reason)
            continue
        raw = _record_line(number, raw)
        if raw is None:
            continue
        try:
            yield _parse(raw, config, source, number)
        except InputError as exc:
            if on_error == "raise":
                raise
            yield InvalidRecord(source, number, exc.reason, _salvage_id(raw, config))


def _record_line(number: int, raw: bytes) -> bytes | None:
    """The line of a record, or ``None`` when line ``number`` is blank (not a record)."""
    if number == 1:
        raw = raw.removeprefix(BOM)  # a byte-order mark is not text, nor part of the first record
    return raw if raw.strip() else None


# -- plain JSONL files read in parts ------------------------------------------------------------------


def is_plain_jsonl(file: InputFile) -> bool:
    """Whether ``file`` is JSONL stored as it is, so that its lines can be read from byte ranges.

    Not stdin, not compressed (by name or by its first bytes), and a file
    that can be opened (the readers say what is wrong with one that cannot).
    """
    if file.kind != "jsonl" or file.path == STDIN or _named_compression(objstore.name_of(file.path)) is not None:
        return False
    try:
        if is_uri(file.path):
            return _compression(objstore.read_range(file.path, 0, len(_ZSTD_MAGIC))) is None
        with open(file.path, "rb") as handle:
            return _compression(handle.read(len(_ZSTD_MAGIC))) is None
    except OSError:
        return False


def file_size(path: str) -> int:
    """The size in bytes of a file, or of an object when ``path`` is a URI.

    Raises:
        OSError: It cannot be looked at (an :class:`~dedup.errors.ObjectStoreError` for an object).
    """
    return objstore.size(path) if is_uri(path) else os.path.getsize(path)


def _open_random(path: str) -> IO[bytes]:
    """A file, or an object when ``path`` is a URI, opened to read with ``seek``."""
    if is_uri(path):
        return io.BufferedReader(objstore.open_random(path), _OBJECT_SEEK_BUFFER)
    return open(path, "rb")


def line_ranges(path: str | Path, size: int) -> list[tuple[int, int]]:
    """Byte ranges ``[start, end)`` that cover the file, each of whole lines, of about ``size`` bytes or more.

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile(suffix=".jsonl") as handle:
        ...     _ = handle.write(b"one\\ntwo\\nthree\\nfour")
        ...     handle.flush()
        ...     line_ranges(handle.name, 5)
        [(0, 8), (8, 14), (14, 18)]
    """
    if size < 1:
        raise ValueError(f"a range has at least one byte, not {size}")
    total = file_size(str(path))
    ranges = []
    with _open_random(str(path)) as handle:
        start = 0
        while start < total:
            handle.seek(min(start + size, total) - 1)
            while (chunk := handle.readline(1 << 20)) and not chunk.endswith(b"\n"):
                pass  # a long line: read on to its end
            end = min(handle.tell(), total)
            ranges.append((start, end))
            start = end
    return ranges


def count_records(file: InputFile, config: InputConfig, start: int, end: int | None) -> tuple[int, int]:
    """The lines in bytes ``[start, end)`` of a plain JSONL file, and how many :func:`read_jsonl` makes items of.

    Every line but a blank one is an item, a record or an invalid one, so
    the items of a range are known before it is parsed. With ``end=None``
    (and ``start`` 0) the range is the whole file, decompressed when it is
    compressed: a compressed stream cannot be entered in the middle. A
    file that cannot be opened or read to its end counts the one invalid
    record :func:`read_jsonl` makes of it (with ``on_error="skip"``).
    """
    if end is None:
        return _count_whole(file, config)
    lines = items = 0
    not_first = 0 if start == 0 else 1  # only the number of the file's first line matters here (its mark)
    for number, raw in _lines(_range(file.path, start, end), file.path, line_limit(config), not_first):
        lines += 1
        items += raw is None or _record_line(number, raw) is not None
    return lines, items


def read_jsonl_range(
    file: InputFile, config: InputConfig, on_error: OnError, start: int, end: int | None, before: int
) -> Iterator[Document | InvalidRecord]:
    """What :func:`read_jsonl` reads from the lines in bytes ``[start, end)`` of a plain JSONL file.

    Args:
        file: The file (:func:`is_plain_jsonl`), or any JSONL file when
            ``end`` is ``None``.
        config: Fields and limits.
        on_error: As for :func:`read_jsonl`.
        start: Where the range begins: 0 or just after a line break.
        end: Where it ends: just after a line break, or the end of the file;
            ``None`` for the whole file (``start`` 0), decompressed when it
            is compressed (:func:`read_jsonl` itself).
        before: The number of lines before ``start``, so that errors name
            the line :func:`read_jsonl` would name.

    Yields:
        Its records and invalid records, each checked as :func:`read_inputs`
        checks it (:func:`checked_limits`) but for the ids, whose
        uniqueness needs every earlier one (:func:`duplicate_id`).
    """
    if end is None:
        items = read_jsonl(file, config, on_error)
    else:
        items = _jsonl_records(_range(file.path, start, end), file.path, config, on_error, before)
    for item in items:
        yield checked_limits(item, config, on_error, file.path)


def _count_whole(file: InputFile, config: InputConfig) -> tuple[int, int]:
    """:func:`count_records` of a whole JSONL file, compressed or not."""
    try:
        handle = _open_binary(file.path)
    except OSError:
        return 0, 1  # read_jsonl's invalid record for a file it cannot open
    lines = items = 0
    try:
        for number, raw in _lines(handle, file.path, line_limit(config)):
            lines += 1
            items += raw is None or _record_line(number, raw) is not None
    except InputError:
        items += 1  # the invalid record that stands for the rest of the file
    finally:
        handle.close()
    return lines, items


def count_range(file: InputFile, config: InputConfig, start: int = 0, end: int | None = None) -> tuple[int, int]:
    """The lines and the items that :func:`read_range` reads from the same part of ``file``.

    A text file is one item; a Parquet file (read whole) one per row, and
    one for an error that stops it, as :func:`read_parquet` makes them
    (its rows are read to be counted: a damaged file counts as it reads).

    Returns:
        The lines in the part (JSONL only: what the next part of the file
        is numbered from) and its items.
    """
    if file.kind == "txt":
        return 0, 1
    if file.kind == "parquet":
        return 0, sum(1 for _ in read_parquet(file, config, "skip"))
    return count_records(file, config, start, end)


def read_range(
    file: InputFile, config: InputConfig, on_error: OnError, start: int = 0, end: int | None = None, before: int = 0
) -> Iterator[Document | InvalidRecord]:
    """What :func:`read_inputs` reads from a part of one input, but for the check that ids are unique.

    The part is bytes ``[start, end)`` of a plain JSONL file
    (:func:`read_jsonl_range`), or, with ``end=None``, the whole file of
    any kind: JSONL, compressed or not, Parquet, or text. A worker reads it
    with the readers of the local engine, so that its errors are theirs.

    Yields:
        Its records and invalid records, each checked as :func:`read_inputs`
        checks it (:func:`checked_limits`) but for the ids (:func:`duplicate_id`).
    """
    if file.kind == "jsonl":
        yield from read_jsonl_range(file, config, on_error, start, end, before)
        return
    reader = read_parquet if file.kind == "parquet" else read_text
    for item in reader(file, config, on_error):
        yield checked_limits(item, config, on_error, file.path)


def _range(path: str, start: int, end: int) -> IO[bytes]:
    if is_uri(path):
        return io.BytesIO(objstore.read_range(path, start, end))
    with open(path, "rb") as handle:
        handle.seek(start)
        return io.BytesIO(handle.read(end - start))


def checked_limits(
    item: Document | InvalidRecord, config: InputConfig, on_error: OnError, source: str
) -> Document | InvalidRecord:
    """``item``, or the invalid record it is when it breaks a limit (:func:`limit_error`).

    Raises:
        InputError: It breaks one, and ``on_error`` is ``"raise"``.
    """
    if not isinstance(item, Document):
        return item
    message = limit_error(item, config)
    if message is None:
        return item
    error = InputError(message, item.source, item.line)
    if on_error == "raise":
        raise error
    return InvalidRecord(item.source or source, item.line, error.reason, item.id, item.fields)


def duplicate_id(doc_id: str, source: str | None, line: int | None) -> InputError:
    """The error of a record whose id an earlier record of the run has."""
    return InputError(f"duplicate id {doc_id!r}: ids must be unique across the inputs", source, line)


def read_text(
    file: InputFile, config: InputConfig, on_error: OnError = "raise", on_read: OnRead | None = None
) -> Iterator[Document | InvalidRecord]:
    """Read one text file as one document whose id is its relative path.

    The document's text is the file's bytes, decoded, without a UTF-8
    byte-order mark at the start: the mark is not text, so the output of a
    file that had one does not have it. Byte offsets in messages count
    from the start of the file, mark included. ``on_read`` is told the
    bytes read.
    """
    skipped = 0
    try:
        with objstore.open_input(file.path) if is_uri(file.path) else open(file.path, "rb") as handle:
            data = handle.read(config.max_doc_bytes + len(BOM) + 1)  # over the limit, with or without a mark
        if on_read is not None:
            on_read(len(data))
    except OSError as exc:
        error: InputError | None = InputError(f"cannot read: {exc.strerror or exc}", file.path)
    else:
        error = None
        if data.startswith(BOM):
            data, skipped = data[len(BOM) :], len(BOM)
        if b"\0" in data:
            error = InputError("binary file (NUL bytes), not text; remove it from the input", file.path)
        elif len(data) > config.max_doc_bytes:
            error = InputError(
                f"file is larger than the limit of {config.max_doc_bytes} bytes; raise it with --max-doc-bytes",
                file.path,
            )
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                line = data.count(b"\n", 0, exc.start) + 1
                error = InputError(f"invalid UTF-8 at byte {skipped + exc.start}", file.path, line)
    if error is not None:
        if on_error == "raise":
            raise error
        yield InvalidRecord(file.path, error.line, error.reason, file.relative)
        return
    yield Document(file.relative, text, {}, file.path, None)


def read_parquet(
    file: InputFile, config: InputConfig, on_error: OnError = "raise", on_read: OnRead | None = None
) -> Iterator[Document | InvalidRecord]:
    """Read documents from one Parquet file, a row at a time (rows numbered from 1 where JSONL has lines).

    A file without the text column, or that cannot be read, is one error
    (with ``on_error="skip"``, one :class:`InvalidRecord` standing for the
    file); a row whose text or id is missing or of the wrong type is
    JSONL's error for a record, at its row. ``on_read`` is told the file's
    bytes in proportion to the rows read.
    """
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise InputError('reading Parquet needs pyarrow: pip install "dedup[ray]" or pip install pyarrow',
                         file.path) from exc
    import pyarrow as pa

    row = told = 0
    try:
        parquet = pq.ParquetFile(objstore.open_random(file.path) if is_uri(file.path) else file.path)
        size, rows = file_size(file.path), max(1, parquet.metadata.num_rows)
        columns = parquet.schema_arrow.names
        if config.text_field not in columns:
            raise InputError(
                f"no {config.text_field!r} column (columns: {', '.join(columns) or 'none'}); name the text column "
                "with --text-field",
                file.path,
            )
        for batch in parquet.iter_batches(batch_size=1024):
            if on_read is not None:
                share = size * (row + batch.num_rows) // rows
                on_read(share - told)
                told = share
            for record in batch.to_pylist():
                row += 1
                try:
                    yield document_from_record(record, config, file.path, row)
                except InputError as exc:
                    if on_error == "raise":
                        raise
                    yield InvalidRecord(file.path, row, exc.reason, _record_id(record, config))
    except (OSError, pa.ArrowException) as exc:
        where = "cannot read the file" if row == 0 else f"cannot read past row {row}"
        error = InputError(f"{where}: {exc} (is it a whole Parquet file?)", file.path, row + 1 if row else None)
        if on_error == "raise":
            raise error from exc
        yield InvalidRecord(file.path, error.line, error.reason)
    except InputError as exc:
        if on_error == "raise" or exc.line is not None:
            raise
        yield InvalidRecord(file.path, None, exc.reason)


def _record_id(record: Mapping[str, Any], config: InputConfig) -> str | None:
    value = record.get(config.id_field)
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def limit_error(doc: Document, config: InputConfig) -> str | None:
    """The message for a document over ``max_doc_bytes`` or ``max_paragraphs``, or ``None``."""
    text = doc.text
    if len(text) * 4 > config.max_doc_bytes:  # a character is at most 4 bytes: shorter texts are under the limit
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > config.max_doc_bytes:
            return (
                f"document {doc.id!r} has {size} bytes, more than the limit of {config.max_doc_bytes}; "
                "raise it with --max-doc-bytes"
            )
    # Fewer characters, or fewer line breaks, than the limit: fewer paragraphs too.
    if len(text) >= config.max_paragraphs and text.count("\n") + text.count("\r") >= config.max_paragraphs:
        count = len(split_paragraphs(text, config.paragraphs)[0])
        if count > config.max_paragraphs:
            return (
                f"document {doc.id!r} has {count} paragraphs, more than the limit of {config.max_paragraphs}; "
                "raise it with --max-paragraphs"
            )
    return None


def read_inputs(
    files: Iterable[InputFile],
    config: InputConfig,
    on_error: OnError = "raise",
    seen: set[str] | None = None,
    on_read: OnRead | None = None,
) -> Iterator[Document | InvalidRecord]:
    """Read all files in order, checking the limits and that ids are unique across the run.

    Args:
        files: The inputs, in order.
        config: Fields and limits.
        on_error: ``"raise"`` an :class:`InputError` at the first bad record,
            or ``"skip"`` it as an :class:`InvalidRecord`.
        seen: Ids read earlier in the run (a resumed run passes those of
            the inputs it does not read again); the ids read are added.
        on_read: Told the number of bytes each time some are read from an
            input as stored (before decompression): a measure of progress.
    """
    if seen is None:
        seen = set()
    for file in files:
        logger.info("reading %s", "<stdin>" if file.path == STDIN else file.path)
        reader = {"jsonl": read_jsonl, "parquet": read_parquet, "txt": read_text}[file.kind]
        for read in reader(file, config, on_error, on_read):
            item = checked_limits(read, config, on_error, file.path)
            if isinstance(item, Document):
                if item.id in seen:
                    error = duplicate_id(item.id, item.source, item.line)
                    if on_error == "raise":
                        raise error
                    yield InvalidRecord(item.source or file.path, item.line, error.reason, None, item.fields)
                    continue
                seen.add(item.id)
            yield item
