"""Resumable runs: what a long run has finished, kept in a state directory.

A run given a state directory ``DIR`` (``state=`` of
:func:`dedup.run.clean_files`, ``--state DIR`` on the command line) cleans
its inputs one file at a time. When an input is done, its output, its report
lines and its counts are written to ``DIR`` as *chunks*. A *checkpoint* then
saves the cross-document index and, last, the *manifest*: the settings of
the run, the index snapshot, and the completed inputs with their size,
modification time and the SHA-256 of each chunk. Every file in ``DIR`` is
written under a temporary name and renamed once complete, the manifest last,
so a run killed at any moment leaves the previous checkpoint whole.
Checkpoints follow the first input, the last one, and in between any input
that ends once ten times as long as the last checkpoint took has passed:
saving a large index after every small file would cost more than the work it
saves.

Resume the run (``resume=True``, ``--resume``): the inputs the manifest
lists, which must be the first inputs of the new run (same path, size and
modification time, same order), are not read again; the index is restored
from the snapshot; the other inputs are cleaned as if the run had never
stopped, and the outputs are assembled from the chunks at the end: the same
bytes as one uninterrupted run.

Nothing is pickled: the manifest and the per-input records are JSON, the
index a ``.npz`` read with ``allow_pickle=False``, and every file is checked
against the digest the manifest holds, so a state made with other settings,
changed, damaged or foreign is an error (:class:`StateError`), never a
silently different output.

Layout::

    DIR/manifest.json            format, settings, index snapshot, completed inputs
    DIR/index-000004.npz         the index after the first 4 inputs
    DIR/chunks/000000.meta.json  counts and document ids of input 0
    DIR/chunks/000000.out        its output: JSONL lines, or the file it mirrors to
    DIR/chunks/000000.report     its report lines
    DIR/lock                     held while a run uses DIR
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from dedup import objstore
from dedup.errors import IndexFileError, IndexMismatchError, StateError
from dedup.objstore import is_uri
from dedup.read import InputFile
from dedup.store import IndexStore, MemoryStore
from dedup.write import Summary, atomic_binary

STATE_FORMAT = "dedup-state"
STATE_VERSION = 1
MANIFEST = "manifest.json"
#: A checkpoint is due once this many times the last checkpoint's duration has passed.
CHECKPOINT_RATIO = 10.0

_SHA256 = re.compile(r"[0-9a-f]{64}")
_INDEX_FILE = re.compile(r"index-\d{6}\.npz")
_BLOCK = 1 << 20


@dataclass(frozen=True)
class Stamp:
    """Which input file a chunk was made from, as it was then.

    Attributes:
        path: The absolute path.
        relative: The path relative to the input argument (a text document's id).
        kind: ``"jsonl"`` or ``"txt"``.
        size: Size in bytes.
        mtime_ns: Modification time, in nanoseconds.
    """

    path: str
    relative: str
    kind: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, file: InputFile) -> Stamp:
        """The stamp of ``file`` now (size and time -1 when it cannot be found: reading it will say why).

        An object in object storage (a URI) is stamped with the size and
        time the store gives it, under its URI.
        """
        if is_uri(file.path):
            try:
                entry = objstore.stat(file.path)
            except OSError:
                entry = objstore.Entry("missing", None)
            return cls(file.path, file.relative, file.kind, -1 if entry.size is None else entry.size,
                       -1 if entry.mtime_ns is None else entry.mtime_ns)
        try:
            stat = os.stat(file.path)
        except OSError:
            return cls(os.path.abspath(file.path), file.relative, file.kind, -1, -1)
        return cls(os.path.abspath(file.path), file.relative, file.kind, stat.st_size, stat.st_mtime_ns)

    @classmethod
    def from_dict(cls, data: Any) -> Stamp:
        """Read a stamp from the manifest.

        Raises:
            ValueError: ``data`` is not a stamp.
        """
        if not isinstance(data, dict) or set(data) != {"path", "relative", "kind", "size", "mtime_ns"}:
            raise ValueError(f"not an input stamp: {data!r}")
        if not all(isinstance(data[k], str) for k in ("path", "relative")) or data["kind"] not in ("jsonl", "txt"):
            raise ValueError(f"not an input stamp: {data!r}")
        if not all(isinstance(data[k], int) and not isinstance(data[k], bool) for k in ("size", "mtime_ns")):
            raise ValueError(f"not an input stamp: {data!r}")
        return cls(**data)

    def describe(self) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.mtime_ns / 1e9))
        return f"{self.path} ({self.size} bytes, modified {stamp})"


@dataclass(frozen=True)
class Completed:
    """A completed input: its stamp and the SHA-256 of each of its chunks (``out`` is ``None`` when
    the input has no output, e.g. a text document that was dropped)."""

    stamp: Stamp
    meta: str
    out: str | None
    report: str

    def to_dict(self) -> dict[str, Any]:
        return {"input": asdict(self.stamp), "chunks": {"meta": self.meta, "out": self.out, "report": self.report}}

    @classmethod
    def from_dict(cls, data: Any) -> Completed:
        if not isinstance(data, dict) or set(data) != {"input", "chunks"}:
            raise ValueError(f"not a completed input: {data!r}")
        chunks = data["chunks"]
        if not isinstance(chunks, dict) or set(chunks) != {"meta", "out", "report"}:
            raise ValueError(f"not the chunks of an input: {chunks!r}")
        for name, value in chunks.items():
            if not (_is_digest(value) or (name == "out" and value is None)):
                raise ValueError(f"chunk {name}: not a SHA-256 digest: {value!r}")
        return cls(Stamp.from_dict(data["input"]), chunks["meta"], chunks["out"], chunks["report"])


def settings_fingerprint(settings: dict[str, Any]) -> str:
    """A short hash of everything that decides a run's output."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def file_digest(path: str | Path) -> str:
    """The SHA-256 of a file, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


class RunState:
    """The state directory of a resumable run.

    Open it with :meth:`open`; it holds a lock on the directory until
    :meth:`close`.

    Args:
        directory: The state directory.
        settings: Everything that decides the output (:func:`dedup.run.clean_files`
            passes the config, the model's digest, the output kind and options); a
            state made with other settings is refused.
    """

    def __init__(self, directory: Path, settings: dict[str, Any]) -> None:
        self.directory = directory
        self.settings = settings
        self.fingerprint = settings_fingerprint(settings)
        self.completed: list[Completed] = []
        self._saved = 0  # how many of the completed inputs the manifest on disk lists
        self._index_file: str | None = None
        self._index_digest: str | None = None
        self._last_cost = 0.0
        self._last_end = 0.0
        self._stack = ExitStack()

    # -- opening --------------------------------------------------------------------------------

    @classmethod
    def open(cls, directory: str | Path, settings: dict[str, Any], *, resume: bool) -> RunState:
        """Open (or create) a state directory.

        Args:
            directory: Where the state is kept.
            settings: See :class:`RunState`.
            resume: Continue the run recorded there. Without it the
                directory must hold no earlier state.

        Raises:
            StateError: The directory is in use, holds an earlier run's state
                and ``resume`` is false, holds a state made with other
                settings, or holds a damaged or foreign one.
        """
        state = cls(Path(directory), settings)
        try:
            state._open(resume)
        except BaseException:
            state.close()
            raise
        return state

    def _open(self, resume: bool) -> None:
        root = self.directory
        manifest = root / MANIFEST
        if root.exists() and not root.is_dir():
            raise StateError("{root}: the state directory is a file; give a directory", root=root)
        if root.is_dir() and not manifest.exists():  # checked before anything is written there
            foreign = [p.name for p in root.iterdir() if p.name not in ("chunks", "lock") and not _ours(p.name)]
            if foreign:
                raise StateError(
                    "{root}: the directory holds other files ({files}) and no dedup state; give a new or empty "
                    "directory as {state}",
                    root=root,
                    files=", ".join(sorted(foreign)[:3]),
                )
        try:
            (root / "chunks").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(
                "{root}: cannot create the state directory: {why}", root=root, why=exc.strerror or exc
            ) from exc
        self._lock()
        if manifest.exists():
            if not resume:
                raise StateError(
                    "{root}: holds the state of an earlier run; pass {resume} to continue it, or remove the "
                    "directory to start again",
                    root=root,
                )
            self._read_manifest(manifest)
        self._clean_up()

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not on POSIX: no lock
            return
        handle = self._stack.enter_context(open(self.directory / "lock", "a+b"))  # noqa: SIM115 - closed by close()
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise StateError("{root}: the state directory is in use by another dedup run", root=self.directory) from exc

    def _read_manifest(self, path: Path) -> None:
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StateError("{path}: not a dedup state manifest (not JSON: {why})", path=path, why=exc) from exc
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise StateError("{path}: not a dedup state manifest (format {found})", path=path, found=repr(found))
        if data.get("version") != STATE_VERSION:
            raise StateError(
                "{path}: state format version {found}; this dedup reads version {version}: remove the directory "
                "to start again",
                path=path,
                found=repr(data.get("version")),
                version=STATE_VERSION,
            )
        settings = data.get("settings")
        if data.get("fingerprint") != self.fingerprint or settings != self.settings:
            changes = _differences(settings if isinstance(settings, dict) else {}, self.settings)
            raise StateError(
                "{root}: the state was made with other settings ({changes}); resume with the same settings, or "
                "remove the directory to start again",
                root=self.directory,
                changes="; ".join(changes[:5]) or "unknown",
            )
        try:
            completed = [Completed.from_dict(entry) for entry in data["completed"]]
            index = data["index"]
            if completed:
                if not isinstance(index, dict) or not _INDEX_FILE.fullmatch(str(index.get("file"))):
                    raise ValueError(f"not an index snapshot entry: {index!r}")
                if not _is_digest(index.get("sha256")):
                    raise ValueError(f"not a SHA-256 digest: {index.get('sha256')!r}")
            elif index is not None:
                raise ValueError("an index snapshot but no completed input")
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError("{path}: not a valid dedup state manifest ({why})", path=path, why=exc) from exc
        self.completed = completed
        self._saved = len(completed)
        self._index_file = index["file"] if completed else None
        self._index_digest = index["sha256"] if completed else None

    def _clean_up(self) -> None:
        """Remove what a killed run left: temporary files, and snapshots the manifest does not name."""
        for folder in (self.directory, self.directory / "chunks"):
            for path in folder.iterdir():
                stale_index = _INDEX_FILE.fullmatch(path.name) and path.name != self._index_file
                if (path.name.startswith(".") and path.name.endswith(".partial")) or stale_index:
                    with suppress(FileNotFoundError):
                        path.unlink()

    def close(self) -> None:
        """Release the directory."""
        self._stack.close()

    def __enter__(self) -> RunState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- resuming -------------------------------------------------------------------------------

    def resume_point(self, files: Sequence[InputFile]) -> int:
        """How many of ``files``, from the first, are already completed.

        Raises:
            StateError: The completed inputs are not the first of ``files``,
                unchanged.
        """
        if len(self.completed) > len(files):
            raise StateError(
                "{root}: the state has {completed} completed inputs, but this run has only {inputs}; resume with "
                "the same inputs, or remove the directory to start again",
                root=self.directory,
                completed=len(self.completed),
                inputs=len(files),
            )
        for number, (done, file) in enumerate(zip(self.completed, files, strict=False), 1):
            now = Stamp.of(file)
            if now != done.stamp:
                raise StateError(
                    "{root}: input {number} was {then} when the state was written, and is now {now}; a resumed run "
                    "needs the same inputs, unchanged and in the same order (remove the directory to start again)",
                    root=self.directory,
                    number=number,
                    then=done.stamp.describe(),
                    now=now.describe(),
                )
        return len(self.completed)

    def load_index(self, fingerprint: str) -> MemoryStore:
        """The cross-document index after the completed inputs (empty when there are none).

        Raises:
            StateError: The snapshot is missing, changed or damaged, or was
                built with other settings.
        """
        if self._index_file is None:
            return MemoryStore(fingerprint)
        path = self.directory / self._index_file
        try:
            digest = file_digest(path)
        except FileNotFoundError as exc:
            raise StateError(
                "{path}: the index snapshot is missing; remove the directory to start again", path=path
            ) from exc
        if digest != self._index_digest:
            raise StateError("{path}: the index snapshot does not match the manifest (changed or damaged)", path=path)
        try:
            return MemoryStore.load(path, fingerprint)
        except (IndexFileError, IndexMismatchError) as exc:
            raise StateError("{root}: {why}", root=self.directory, why=exc) from exc

    def load_meta(self, index: int) -> tuple[Summary, list[str], bool]:
        """The counts, document ids and whether there is an output chunk, of completed input ``index``.

        Raises:
            StateError: The record is missing, changed or damaged.
        """
        path = self._chunk(index, "meta")
        data = self._check_digest(path, self.completed[index].meta, f"the record of input {index + 1}")
        try:
            meta = json.loads(data.decode("utf-8"))
            if not isinstance(meta, dict) or set(meta) != {"input", "summary", "ids", "output"}:
                raise ValueError("unexpected keys")
            if Stamp.from_dict(meta["input"]) != self.completed[index].stamp:
                raise ValueError("it is the record of another input")
            ids = meta["ids"]
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise ValueError("ids are not a list of strings")
            if not isinstance(meta["output"], bool) or meta["output"] != (self.completed[index].out is not None):
                raise ValueError("output flag does not match the manifest")
            return Summary.from_counts(meta["summary"]), ids, meta["output"]
        except (UnicodeDecodeError, ValueError) as exc:
            raise StateError("{path}: not a valid record of a completed input ({why})", path=path, why=exc) from exc

    # -- recording ------------------------------------------------------------------------------

    @contextmanager
    def chunks(self, index: int) -> Iterator[tuple[IO[bytes], IO[bytes]]]:
        """Open the output and report chunks of input ``index``: ``(out, report)`` binary streams.

        They appear under their names only when the block ends without an
        exception; either way nothing the manifest lists is touched.
        """
        if index < self._saved:
            raise ValueError(f"input {index} is already completed")
        for name in ("out", "report", "meta"):
            self._chunk(index, name).unlink(missing_ok=True)
        with atomic_binary(self._chunk(index, "out")) as out, atomic_binary(self._chunk(index, "report")) as report:
            yield out, report

    def complete(self, index: int, stamp: Stamp, summary: Summary, ids: list[str], output: bool) -> None:
        """Record that input ``index`` is done (its chunks written by :meth:`chunks`).

        Args:
            index: The input's position in the run.
            stamp: The input as it was before it was read.
            summary: Its counts.
            ids: The ids of its documents (read again to find duplicate ids
                across inputs in a resumed run).
            output: Whether it has an output chunk (a dropped text document has none).
        """
        if index != len(self.completed):
            raise ValueError(f"input {index} completed out of order; {len(self.completed)} are completed")
        meta = {"input": asdict(stamp), "summary": summary.to_counts(), "ids": ids, "output": output}
        meta_path = self._chunk(index, "meta")
        with atomic_binary(meta_path) as handle:
            # ensure_ascii: ids may hold lone surrogates, which have no UTF-8 form.
            handle.write(json.dumps(meta, ensure_ascii=True).encode("ascii"))
        out_path = self._chunk(index, "out")
        if not output:
            out_path.unlink(missing_ok=True)
        self.completed.append(
            Completed(
                stamp,
                file_digest(meta_path),
                file_digest(out_path) if output else None,
                file_digest(self._chunk(index, "report")),
            )
        )

    def checkpoint(self, store: IndexStore, *, force: bool = False) -> bool:
        """Save the index and then the manifest, if a checkpoint is due (or ``force``).

        Returns:
            Whether a checkpoint was written.
        """
        if len(self.completed) == self._saved:
            return False
        now = time.monotonic()
        due = self._saved == 0 or now - self._last_end >= CHECKPOINT_RATIO * self._last_cost
        if not (force or due):
            return False
        previous = self._index_file
        name = f"index-{len(self.completed):06d}.npz"
        store.save(self.directory / name)
        digest = file_digest(self.directory / name)
        manifest = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "fingerprint": self.fingerprint,
            "settings": self.settings,
            "index": {"file": name, "sha256": digest},
            "completed": [c.to_dict() for c in self.completed],
        }
        with atomic_binary(self.directory / MANIFEST) as handle:
            handle.write(json.dumps(manifest, indent=1, ensure_ascii=True).encode("ascii"))
        self._saved, self._index_file, self._index_digest = len(self.completed), name, digest
        if previous is not None and previous != name:
            (self.directory / previous).unlink(missing_ok=True)
        self._last_end = time.monotonic()
        self._last_cost = self._last_end - now
        return True

    # -- assembling -----------------------------------------------------------------------------

    def chunk_lines(self, index: int, name: str) -> Iterator[str]:
        """The lines of a completed input's ``out`` or ``report`` chunk, checked against the manifest.

        Raises:
            StateError: The chunk is missing or is not what was recorded.
                The check ends with the last line, so write the lines
                somewhere that the error discards (an atomic output).
        """
        expected = getattr(self.completed[index], name)
        path = self._chunk(index, name)
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as handle:
                for line in handle:
                    digest.update(line)
                    # The chunks were written as UTF-8; a damaged byte is replaced here and the digest
                    # check below rejects the chunk, after its last line, before any output is final.
                    yield line.decode("utf-8", "replace")
        except FileNotFoundError as exc:
            raise StateError(
                "{path}: a chunk of the state is missing; remove the directory to start again", path=path
            ) from exc
        if digest.hexdigest() != expected:
            raise StateError("{path}: the chunk does not match the manifest (changed or damaged)", path=path)

    def chunk_blocks(self, index: int, name: str) -> Iterator[bytes]:
        """Like :meth:`chunk_lines`, in blocks of bytes."""
        expected = getattr(self.completed[index], name)
        path = self._chunk(index, name)
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as handle:
                while block := handle.read(_BLOCK):
                    digest.update(block)
                    yield block
        except FileNotFoundError as exc:
            raise StateError(
                "{path}: a chunk of the state is missing; remove the directory to start again", path=path
            ) from exc
        if digest.hexdigest() != expected:
            raise StateError("{path}: the chunk does not match the manifest (changed or damaged)", path=path)

    # -- internals ------------------------------------------------------------------------------

    def _chunk(self, index: int, name: str) -> Path:
        suffix = {"meta": ".meta.json", "out": ".out", "report": ".report"}[name]
        return self.directory / "chunks" / f"{index:06d}{suffix}"

    def _check_digest(self, path: Path, expected: str | None, what: str) -> bytes:
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise StateError(
                "{path}: {what} is missing from the state; remove the directory to start again", path=path, what=what
            ) from exc
        if hashlib.sha256(data).hexdigest() != expected:
            raise StateError("{path}: {what} does not match the manifest (changed or damaged)", path=path, what=what)
        return data


def _is_digest(value: Any) -> bool:
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def _ours(name: str) -> bool:
    return name == MANIFEST or _INDEX_FILE.fullmatch(name) is not None or (
        name.startswith(".") and name.endswith(".partial")
    )


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """``key: was X, now Y`` for every setting that differs."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: was {json.dumps(a)}, now {json.dumps(b)}")
    return out
