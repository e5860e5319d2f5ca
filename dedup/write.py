"""Write the clean corpus, the report and the summary.

Files are written to a temporary name in the target directory and renamed
into place only when complete, so an interrupted run leaves either no file
at the final path or the complete previous one. Standard output cannot be
replaced atomically: a run killed while writing to ``-`` leaves what it
had written.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from dedup.data import CleanResult, Reason

STDOUT = "-"
REPORT_TEXT_CHARS = 1000


@contextmanager
def atomic_binary(path: str | Path) -> Iterator[IO[bytes]]:
    """Open ``path`` for writing so that it appears only once complete.

    On an exception the temporary file is removed and the previous file,
    if any, is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def text_writer(raw: IO[bytes], name: str) -> Iterator[IO[str]]:
    """A UTF-8 text stream over ``raw``, compressed when ``name`` ends in ``.gz`` or ``.zst``."""
    lower = name.lower()
    binary: IO[bytes]
    if lower.endswith(".gz"):
        binary = cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="wb", mtime=0))  # mtime=0: same input, same bytes
    elif lower.endswith(".zst"):
        import zstandard

        binary = zstandard.ZstdCompressor().stream_writer(raw, closefd=False)
    else:
        binary = raw
    text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
    yield text
    text.flush()
    text.detach()
    if binary is not raw:
        binary.close()


@contextmanager
def open_output(path: str | Path) -> Iterator[IO[str]]:
    """A text stream to ``path`` (``-`` is stdout), compressed by suffix, written atomically."""
    if str(path) == STDOUT:
        yield sys.stdout
        sys.stdout.flush()
        return
    with atomic_binary(path) as raw, text_writer(raw, str(path)) as text:
        yield text


def output_record(result: CleanResult, text_field: str, annotate: bool) -> dict[str, Any]:
    """The JSON record of a result: the input's fields, in order, with the text replaced."""
    record = dict(result.fields)
    if annotate:
        record["dedup"] = annotation(result)
    else:
        record[text_field] = result.text
    return record


def annotation(result: CleanResult) -> dict[str, Any]:
    """The ``dedup`` field that ``--annotate`` adds."""
    return {
        "dropped": None if result.dropped is None else result.dropped.value,
        "score": round(result.score, 6),
        "duplicate_of": None if result.duplicate_of is None else result.duplicate_of.to_dict(),
        "text": result.text,
        "decisions": [d.to_dict() for d in result.decisions],
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
        yield {
            "id": result.id,
            "paragraph": decision.index,
            "reason": decision.reason.value if decision.reason else None,
            "score": round(decision.score, 6),
            "duplicate_of": None if decision.duplicate_of is None else decision.duplicate_of.to_dict(),
            "text": removed_text.get(decision.index),
        }
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
class Summary:
    """Counts of a run; documents in = out + dropped + skipped."""

    documents_in: int = 0
    documents_out: int = 0
    documents_dropped: int = 0
    documents_skipped: int = 0
    paragraphs_in: int = 0
    paragraphs_out: int = 0
    paragraphs_removed: Counter[str] = field(default_factory=Counter)
    documents_removed: Counter[str] = field(default_factory=Counter)

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

    def to_dict(self, version: str, fingerprint: str, config: dict[str, Any], engine: str = "local") -> dict[str, Any]:
        """The ``--summary`` JSON; ``engine`` is where the run ran (``"local"`` or ``"ray"``)."""
        return {
            "version": version,
            "engine": engine,
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
