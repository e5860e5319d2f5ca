"""Write the clean corpus, the report and the summary.

Files are written to a temporary name in the target directory and renamed
into place only when complete, so an interrupted run leaves either no file
at the final path or the complete previous one. A symbolic link is written
through: its target is replaced that way, and the link stays. Standard
output, character and block devices and FIFOs cannot be replaced without
ceasing to be what they are, so they are written directly: a run killed
while writing to ``-`` or to ``/dev/...`` leaves what it had written.

An object-storage URI (``s3://bucket/out.jsonl``; :mod:`dedup.objstore`) is
written the same way: to a temporary key beside the target, moved onto it
once complete and deleted on failure, so that the target key appears only
when complete (an upload left unfinished would be completed, half written,
when its stream is closed).
"""

from __future__ import annotations

import errno
import gzip
import io
import json
import os
import secrets
import stat
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from dedup import objstore
from dedup.data import CleanResult, Reason
from dedup.errors import DedupError
from dedup.progress import Timing
from dedup.read import kind_of

STDOUT = "-"
REPORT_TEXT_CHARS = 1000


class OutputError(DedupError, OSError):
    """An output path cannot be written: a socket, a directory, a symbolic link loop, no permission."""

    def __init__(self, message: str, path: str | Path) -> None:
        self.path = str(path)
        super().__init__(f"{path}: {message}")


@contextmanager
def atomic_binary(path: str | Path) -> Iterator[IO[bytes]]:
    """Open ``path`` for writing so that it appears only once complete.

    The data goes to a temporary file beside the final path, which is
    flushed to disk and renamed onto it at the end. On an exception the
    temporary file is removed and the previous file, if any, is untouched.

    A symbolic link (or a chain of them) is written through: its final
    target is replaced in the same way and the link stays a link; a
    dangling link gets its target created. A character or block device or
    a FIFO at the path (say ``/dev/null``) is written directly, not
    atomically: a rename would put a regular file in its place. What was
    written before an exception stays written.

    An object-storage URI is written to a temporary key beside it, which
    is moved onto it at the end (a copy and a delete, in S3), and deleted on
    an exception (:func:`_atomic_object`).

    Raises:
        OutputError: The path is a directory or a socket, a symbolic link
            loop, or cannot be opened for writing. Nothing is written.
        ObjectStoreError: The object store cannot be written (unreachable,
            credentials refused, no such bucket). Nothing is written.
    """
    if objstore.is_uri(path):
        with _atomic_object(str(path)) as handle:
            yield handle
        return
    target = _final_target(Path(path))
    kind = _existing_kind(target)
    if kind is not None:
        with _direct(target, kind) as handle:
            yield handle
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    except OSError as exc:
        raise OutputError(
            f"cannot create a file in {target.parent}: {exc.strerror or exc}; give a path in a writable directory",
            path,
        ) from exc
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a finished file gets the usual mode
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextmanager
def _atomic_object(uri: str) -> Iterator[IO[bytes]]:
    """:func:`atomic_binary` of an object: a temporary key ``.NAME.RANDOM.partial`` beside it, then a move."""
    location = objstore.locate(uri)
    directory, _, name = location.path.rpartition("/")
    if not directory or not name:
        raise OutputError("names a bucket or a prefix, not an object; give the object's key (bucket/.../name)", uri)
    temporary = f"{directory}/.{name}.{secrets.token_hex(4)}.partial"
    with objstore.store_errors(uri, location):
        stream = location.fs.open_output_stream(temporary)
    handle = io.BufferedWriter(stream, 1 << 20)
    try:
        yield cast(IO[bytes], handle)
        with objstore.store_errors(uri, location):
            handle.close()  # completes the temporary object
            location.fs.move(temporary, location.path)
    except BaseException:
        # Closing the stream completes the upload of what was written: the temporary object is then deleted.
        with suppress(Exception):
            handle.close()
        with suppress(Exception):
            location.fs.delete_file(temporary)
        raise


def _final_target(path: Path) -> Path:
    """The path that is written for ``path``: the end of its symbolic links, or ``path`` itself."""
    if not path.is_symlink():
        return path  # the directories on the way may be links: the rename happens inside them all the same
    try:
        return Path(os.path.realpath(path, strict=True))
    except FileNotFoundError:
        return Path(os.path.realpath(path))  # a dangling link: its target is created
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OutputError("symbolic link loop; give a path that leads to a file", path) from exc
        raise OutputError(f"cannot follow the symbolic link: {exc.strerror or exc}; give a path that leads to a file",
                          path) from exc


def _existing_kind(target: Path) -> str | None:
    """What is at ``target`` when it must be written directly (a device or FIFO); ``None`` for a file or nothing.

    Raises:
        OutputError: A directory or a socket is at ``target``.
    """
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a loop in the directories on the way
            raise OutputError("symbolic link loop; give a path that leads to a file", target) from exc
        return None  # mkstemp in its directory says what is wrong
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        raise OutputError("is a directory; give the path of a file", target)
    if stat.S_ISSOCK(mode):
        raise OutputError("is a socket, which cannot be opened as a file; give a file, a FIFO or - (stdout)", target)
    if stat.S_ISFIFO(mode):
        return "FIFO"
    return "device"  # character or block device, or a kind of file this platform adds


@contextmanager
def _direct(target: Path, kind: str) -> Iterator[IO[bytes]]:
    """``target``, opened to write as it is: no truncation or creation, no fsync (a FIFO or a tty refuses it)."""
    try:
        fd = os.open(target, os.O_WRONLY | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise OutputError(f"cannot open the {kind} for writing: {exc.strerror or exc}", target) from exc
    with os.fdopen(fd, "wb") as handle:
        yield handle
        handle.flush()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def binary_writer(raw: IO[bytes], name: str) -> Iterator[IO[bytes]]:
    """``raw``, compressed when ``name`` ends in ``.gz`` or ``.zst``; the compressor is closed at the end.

    The compressed bytes depend only on the bytes written, not on how they
    are split into writes (:class:`_Blocks`): bytes copied here in parts
    compress as the same text written line by line (:func:`text_writer`) does.
    """
    lower = objstore.name_of(name).lower()
    compressor: IO[bytes]
    if lower.endswith(".gz"):
        compressor = cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="wb", mtime=0))  # mtime=0: same input, same bytes
    elif lower.endswith(".zst"):
        import zstandard

        compressor = zstandard.ZstdCompressor().stream_writer(raw, closefd=False)
    else:
        yield raw
        return
    binary = _Blocks(compressor)
    yield cast(IO[bytes], binary)
    binary.close()


class _Blocks(io.BufferedIOBase):
    """Passes the bytes written on to a compressor in blocks of :attr:`SIZE`, and the rest when closed.

    zlib and zstd compress the same bytes differently when they come in
    other pieces (or with a flush between them): fed in fixed blocks, and
    never flushed, a compressor's output depends on the bytes alone.
    """

    SIZE = 1 << 16

    def __init__(self, compressor: IO[bytes]) -> None:
        super().__init__()
        self._compressor = compressor
        self._pending = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._pending += data
        if len(self._pending) >= self.SIZE:
            whole = len(self._pending) - len(self._pending) % self.SIZE
            view = memoryview(self._pending)
            for start in range(0, whole, self.SIZE):
                self._compressor.write(view[start : start + self.SIZE])
            view.release()
            del self._pending[:whole]
        return len(data)

    def flush(self) -> None:
        """Nothing: a flush would change the compressed bytes (the rest goes when closed)."""

    def close(self) -> None:
        if not self.closed:
            self._compressor.write(bytes(self._pending))
            self._pending.clear()
            self._compressor.close()
        super().close()


@contextmanager
def text_writer(raw: IO[bytes], name: str) -> Iterator[IO[str]]:
    """A UTF-8 text stream over ``raw``, compressed when ``name`` ends in ``.gz`` or ``.zst``."""
    with binary_writer(raw, name) as binary:
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        yield text
        text.flush()
        text.detach()


@contextmanager
def open_output(path: str | Path) -> Iterator[IO[str]]:
    """A text stream to ``path`` (``-`` is stdout), compressed by the suffix of ``path``.

    The file is written as :func:`atomic_binary` writes it: atomically, or
    directly when ``path`` is a device or a FIFO.
    """
    if str(path) == STDOUT:
        yield sys.stdout
        sys.stdout.flush()
        return
    with atomic_binary(path) as raw, text_writer(raw, str(path)) as text:
        yield text


@contextmanager
def open_binary_output(path: str | Path) -> Iterator[IO[bytes]]:
    """:func:`open_output` for bytes already encoded as UTF-8: the same file, written the same way."""
    if str(path) == STDOUT:
        sys.stdout.flush()  # what was written as text comes first
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with atomic_binary(path) as raw, binary_writer(raw, str(path)) as binary:
        yield binary


PARQUET_SUFFIXES = (".parquet",)


def is_parquet(path: str | Path) -> bool:
    """Whether an output path names a Parquet file."""
    return objstore.name_of(str(path)).lower().endswith(PARQUET_SUFFIXES)


class ParquetRecords:
    """Output records written as the rows of a Parquet file (with ``pyarrow``), in row groups.

    The columns and their types are the first row group's (the first
    :attr:`ROWS` records); a later record that does not fit them is an
    :class:`OutputError`. The bytes depend only on the records (and the
    pyarrow version), so the same run writes the same file.

    Args:
        raw: Where the file goes (from :func:`atomic_binary`).
        path: Its name, for messages.
    """

    ROWS = 10_000

    def __init__(self, raw: IO[bytes], path: str | Path) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise OutputError('writing Parquet needs pyarrow: pip install "dedup[ray]" or pip install pyarrow',
                              path) from exc
        self._pa, self._pq = pa, pq
        self.raw, self.path = raw, str(path)
        self._rows: list[dict[str, Any]] = []
        self._writer: Any = None
        self._schema: Any = None

    def write(self, record: dict[str, Any]) -> None:
        self._rows.append(record)
        if len(self._rows) >= self.ROWS:
            self._flush()

    def close(self) -> None:
        """Write the last rows and the file's footer (an empty input gives a file without columns)."""
        self._flush()
        if self._writer is None:
            self._pq.write_table(self._pa.table({}), self.raw)
        else:
            self._writer.close()

    def _flush(self) -> None:
        if not self._rows:
            return
        pa = self._pa
        try:
            table = pa.Table.from_pylist(self._rows, schema=self._schema)
        except (pa.ArrowException, UnicodeEncodeError, TypeError, ValueError) as exc:
            raise OutputError(
                f"cannot write the records as Parquet ({exc}): a column changes type, or a text is not valid "
                "Unicode; write JSONL (-o out.jsonl) instead",
                self.path,
            ) from exc
        if self._writer is None:
            self._schema = table.schema
            self._writer = self._pq.ParquetWriter(self.raw, table.schema)
        self._writer.write_table(table)
        self._rows = []


def output_record(result: CleanResult, text_field: str, annotate: bool) -> dict[str, Any]:
    """The JSON record of a result: the input's fields, in order, with the text replaced."""
    record = dict(result.fields)
    if annotate:
        record["dedup"] = annotation(result)
    else:
        record[text_field] = result.text
    return record


def written_record(result: CleanResult, text_field: str, annotate: bool) -> dict[str, Any] | None:
    """The record an output file gets for ``result``: a kept document's, or with ``annotate`` every
    record's (with its decisions); ``None`` when it gets none (a dropped document, an invalid line)."""
    if result.dropped is not None and not (annotate and result.fields):
        return None
    return output_record(result, text_field, annotate)


def mirrored_piece(result: CleanResult, text_field: str) -> tuple[str, bytes | None]:
    """What an output directory that mirrors the inputs gets for ``result``, and for which input.

    A text input's file is its kept document's clean text (``None`` when it
    is dropped: no file); a JSONL input's gets the kept record (``b""`` for
    a dropped one: the file is there all the same).
    """
    source = result.source or ""
    # A text document's source is its .txt file (list_inputs names a text input by that suffix).
    if kind_of(source) == "txt":
        return source, None if result.dropped is not None else result.text.encode("utf-8")
    record = written_record(result, text_field, False)
    return source, b"" if record is None else dumps(record).encode("utf-8")


def annotation(result: CleanResult) -> dict[str, Any]:
    """The ``dedup`` field that ``--annotate`` adds."""
    return {
        "dropped": None if result.dropped is None else result.dropped.value,
        "score": round(result.score, 6),
        "duplicate_of": None if result.duplicate_of is None else result.duplicate_of.to_dict(),
        "text": result.text,
        "decisions": [d.to_dict() for d in result.decisions],
        **({"paragraphs": result.metadata["paragraphs"]} if "paragraphs" in result.metadata else {}),
    }


_ENCODER = json.JSONEncoder(ensure_ascii=False)  # one encoder: json.dumps with options builds one per call


def dumps(record: dict[str, Any]) -> str:
    """One JSONL line."""
    line = _ENCODER.encode(record)
    if not line.isascii():  # isascii is free on CPython's strings; encoding checks faster than a search
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate (JSON "\\ud800" in the input) has no UTF-8 form: keep it as the escape it came as.
            line = json.dumps(record)
    return line + "\n"


def report_lines(result: CleanResult) -> Iterator[dict[str, Any]]:
    """The report records of one result: one per removed paragraph, one per dropped document."""
    removed_text = result.metadata.get("removed", {})
    for decision in result.decisions:
        if decision.kept or decision.reason in (Reason.DUPLICATE_DOCUMENT, Reason.EMPTY):
            continue
        line = {
            "id": result.id,
            "paragraph": decision.index,
            # What the index counts: lines, or blocks between blank lines.
            **({"paragraphs": result.metadata["paragraphs"]} if "paragraphs" in result.metadata else {}),
            "reason": decision.reason.value if decision.reason else None,
            "score": round(decision.score, 6),
            "duplicate_of": None if decision.duplicate_of is None else decision.duplicate_of.to_dict(),
            "text": removed_text.get(decision.index),
        }
        if "signals" in decision.metadata:  # why a model-scored removal went: its strongest signals
            line["signals"] = decision.metadata["signals"]
        if "model" in decision.metadata:  # which model scored a furniture removal: "furniture" or "topic"
            line["model"] = decision.metadata["model"]
        yield line
    if result.dropped is not None:
        line = {
            "id": result.id,
            "paragraph": None,
            "reason": result.dropped.value,
            "score": round(result.score, 6),
            "duplicate_of": None if result.duplicate_of is None else result.duplicate_of.to_dict(),
            "text": (result.metadata.get("original") or "")[:REPORT_TEXT_CHARS],
        }
        if result.dropped is Reason.INVALID:
            line["source"] = result.source
            line["line"] = result.line
            line["error"] = result.metadata.get("error")
        yield line


@dataclass
class Rendered:
    """The bytes a run writes for some consecutive results: what :func:`render` makes of them.

    The parts of consecutive runs of results, concatenated in order, are
    the bytes the run writes for all of them (before any compression).

    Attributes:
        output: The output's bytes, as ``(source, bytes)`` pieces in input
            order. For one output file there is one piece, whose source is
            ``""``. For an output directory that mirrors the inputs there is
            a piece per run of results from one input: for a JSONL input
            its kept records (possibly none: the piece says the input's
            output file exists), for a text input the kept document's text
            (no piece when it is dropped).
        report: The report's lines.
        counts: The results' counts, to :meth:`Summary.merge` in order.
    """

    output: list[tuple[str, bytes]]
    report: bytes
    counts: Summary


def render(
    results: Iterable[CleanResult], text_field: str, *, annotate: bool = False, mirrored: bool = False,
    report: bool = True,
) -> Rendered:
    """The bytes the output, the report and the summary get from ``results``, as the local run writes them.

    Args:
        results: Consecutive results of a run, in input order.
        text_field: The field that holds a record's text.
        annotate: Every record with its decisions, as ``--annotate`` writes them (one output file only).
        mirrored: The output is a directory that mirrors the inputs (see :attr:`Rendered.output`).
        report: Render the report lines (``False``: the run writes no report).

    Example:
        >>> from dedup.data import CleanResult, Decision
        >>> kept = CleanResult("a", "Some text.", None, (Decision(0, True),), {"id": "a", "text": "Some text."})
        >>> part = render([kept], "text")
        >>> part.output, part.counts.documents_out
        ([('', b'{"id": "a", "text": "Some text."}\\n')], 1)
    """
    counts = Summary()
    pieces: list[tuple[str, bytearray]] = [] if mirrored else [("", bytearray())]
    report_bytes = bytearray()
    for result in results:
        counts.add(result)
        if report:
            for line in report_lines(result):
                report_bytes += dumps(line).encode("utf-8")
        if mirrored:
            source, data = mirrored_piece(result, text_field)
            if data is None:
                continue
            if not pieces or pieces[-1][0] != source:  # a text input has one document: a piece of its own
                pieces.append((source, bytearray()))
            pieces[-1][1].extend(data)
        elif (record := written_record(result, text_field, annotate)) is not None:
            pieces[0][1].extend(dumps(record).encode("utf-8"))
    return Rendered([(source, bytes(data)) for source, data in pieces], bytes(report_bytes), counts)


@dataclass
class Summary:
    """Counts of a run; documents in = out + dropped + skipped.

    ``timing`` is how long the run took (set when the run is done); it is
    no part of the counts, so two summaries with the same counts are equal.
    """

    documents_in: int = 0
    documents_out: int = 0
    documents_dropped: int = 0
    documents_skipped: int = 0
    paragraphs_in: int = 0
    paragraphs_out: int = 0
    paragraphs_removed: Counter[str] = field(default_factory=Counter)
    documents_removed: Counter[str] = field(default_factory=Counter)
    timing: Timing | None = field(default=None, compare=False)

    def add(self, result: CleanResult) -> None:
        """Count one result."""
        self.documents_in += 1
        if result.dropped is Reason.INVALID:
            self.documents_skipped += 1
            self.documents_removed[Reason.INVALID.value] += 1
            return
        self.paragraphs_in += len(result.decisions)
        for decision in result.decisions:
            if decision.kept:
                self.paragraphs_out += 1
            elif decision.reason not in (Reason.DUPLICATE_DOCUMENT, Reason.EMPTY) and decision.reason is not None:
                self.paragraphs_removed[decision.reason.value] += 1
        if result.dropped is None:
            self.documents_out += 1
        else:
            self.documents_dropped += 1
            self.documents_removed[result.dropped.value] += 1

    def merge(self, other: Summary) -> None:
        """Add the counts of ``other`` (e.g. of one input file) to these."""
        self.documents_in += other.documents_in
        self.documents_out += other.documents_out
        self.documents_dropped += other.documents_dropped
        self.documents_skipped += other.documents_skipped
        self.paragraphs_in += other.paragraphs_in
        self.paragraphs_out += other.paragraphs_out
        self.paragraphs_removed.update(other.paragraphs_removed)
        self.documents_removed.update(other.documents_removed)

    def to_counts(self) -> dict[str, Any]:
        """The counts as plain JSON values; :meth:`from_counts` reads them back."""
        return {
            "documents_in": self.documents_in,
            "documents_out": self.documents_out,
            "documents_dropped": self.documents_dropped,
            "documents_skipped": self.documents_skipped,
            "paragraphs_in": self.paragraphs_in,
            "paragraphs_out": self.paragraphs_out,
            "paragraphs_removed": dict(self.paragraphs_removed),
            "documents_removed": dict(self.documents_removed),
        }

    @classmethod
    def from_counts(cls, data: Any) -> Summary:
        """The summary :meth:`to_counts` wrote.

        Raises:
            ValueError: ``data`` is not such counts.
        """
        names = ("documents_in", "documents_out", "documents_dropped", "documents_skipped", "paragraphs_in",
                 "paragraphs_out")
        if not isinstance(data, dict) or set(data) != {*names, "paragraphs_removed", "documents_removed"}:
            raise ValueError("not the counts of a summary")
        reasons = {reason.value for reason in Reason}
        for name in names:
            if not _count(data[name]):
                raise ValueError(f"{name} is not a count: {data[name]!r}")
        for name in ("paragraphs_removed", "documents_removed"):
            value = data[name]
            if not isinstance(value, dict) or not all(k in reasons and _count(v) for k, v in value.items()):
                raise ValueError(f"{name} is not a count per reason: {value!r}")
        return cls(
            **{name: data[name] for name in names},
            paragraphs_removed=Counter(data["paragraphs_removed"]),
            documents_removed=Counter(data["documents_removed"]),
        )

    def to_dict(
        self, version: str, fingerprint: str, config: dict[str, Any], engine: str = "local",
        config_file: str | None = None,
    ) -> dict[str, Any]:
        """The ``--summary`` JSON; ``engine`` is where the run ran (``"local"`` or ``"ray"``), ``config_file``
        the configuration file its settings were read from (``None``: none).

        Its ``timing`` section (:meth:`dedup.progress.Timing.to_dict`) is
        there when :attr:`timing` is set; it differs from run to run, so
        comparisons of runs leave it out, as they leave out ``engine``.
        """
        data: dict[str, Any] = {
            "version": version,
            "engine": engine,
            "config_file": config_file,
            "fingerprint": fingerprint,
            "documents": {
                "in": self.documents_in,
                "out": self.documents_out,
                "dropped": self.documents_dropped,
                "skipped": self.documents_skipped,
            },
            "paragraphs": {"in": self.paragraphs_in, "out": self.paragraphs_out},
            "removed": {
                "paragraphs": dict(sorted(self.paragraphs_removed.items())),
                "documents": dict(sorted(self.documents_removed.items())),
            },
            "config": config,
        }
        if self.timing is not None:
            data["timing"] = self.timing.to_dict()
        return data

    def short(self) -> str:
        """One line for stderr."""
        removed = ", ".join(f"{k} {v}" for k, v in sorted((self.paragraphs_removed + self.documents_removed).items()))
        return (
            f"dedup: documents {self.documents_in} in, {self.documents_out} out, {self.documents_dropped} dropped, "
            f"{self.documents_skipped} skipped; paragraphs {self.paragraphs_in} in, {self.paragraphs_out} out"
            + (f"; removed: {removed}" if removed else "")
        )


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
