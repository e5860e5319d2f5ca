"""The Ray engine: the local engine's output, with the work on a Ray cluster.

The work splits as in :mod:`dedup.cleaner`:

- The within-document stages (:func:`dedup.analysis.analyse_batch`, the
  expensive part: shingling, MinHash, topic scores) run as Ray tasks, one
  per batch of :data:`dedup.cleaner.BATCH_SIZE` documents. The batches are
  dedup's own, formed in input order here (a topic score may depend on the
  batch in its last bits). Each batch's records and its analysis
  (:func:`dedup.analysis.to_wire`'s encoding, packed as a pickle-free
  ``.npz``) stay in the object store.
- The cross-document stages (boilerplate lines, duplicate documents,
  repeated paragraphs) run as shuffles on the cluster
  (:mod:`dedup.engines.shuffle`): workers group the keys, verify the band
  buckets and send back only counts and match edges, to which this process
  applies the first-in-input-order rule.
- A last pass runs :meth:`dedup.cleaner.Cleaner.resolve` on each batch
  against those answers, as a Ray task per batch that also renders the
  results (:func:`dedup.write.render`: output records, report lines,
  counts) as bytes: the output, the report and the summary (but for its
  ``engine`` field) are the local engine's, byte for byte.

Records are read with :mod:`dedup.read` (never ``ray.data.read_json``, which
turns ``1`` into ``1.0``, adds null fields and rejects mixed id types), so
a bad record gets the same error, and ``--on-error`` the same effect. The
inputs are read on the workers (:func:`clean_inputs`), their items cut at
the batches' edges: plain JSONL in line-aligned byte ranges, a compressed
JSONL or a Parquet file whole, text files several at a time; from a shared
volume, or from the object store when the input is a URI (``s3://``), so
that the driver does not stream the corpus; only the ids come back, to be
checked for uniqueness here, in input order. Stdin, and a file no worker
sees, are read by this process, and their records go to the object store
a batch at a time. Writing does not pass through it
either: :func:`clean_inputs` and :func:`clean_rendered` bring back each
batch's rendered bytes in input order, which :func:`dedup.run.clean_files`
copies into the outputs without parsing them (a Parquet output and
``--html`` still take every result back, through :func:`clean_stream`).

The settings and the topic model are shipped once (``ray.put``), and
workers get a writable numba cache (``NUMBA_CACHE_DIR``) when this module
starts Ray, so that they compile the shingling kernels once, not per task.
A Ray started here also keeps in the driver's own memory only the task
results under :data:`INLINE_BYTES` (Ray's default is 100 KB, and the
shuffles make a small piece per batch and reducer, which would all stay
in the driver); a cluster started elsewhere needs the same setting
(``RAY_max_direct_call_object_size=1024`` for ``ray start``).

What the driver (this process) holds: two object refs per batch, the
answers of the cross-document questions that found something, and the
match edges while a stage settles (the sizes are in
:mod:`dedup.engines.shuffle`), and the ids seen; no index, and no document
text but a batch of an input it reads itself and the rendered bytes of the
batch being written.

Example:
    >>> from dedup.engines.ray import clean_files_ray  # doctest: +SKIP
    >>> clean_files_ray("in.jsonl", "out.jsonl", report="report.jsonl")  # doctest: +SKIP
"""

from __future__ import annotations

import io
import os
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from dedup import decide
from dedup.analysis import analyse_to_wire, from_wire
from dedup.cleaner import BATCH_SIZE, Cleaner
from dedup.config import Config, InputConfig
from dedup.data import CleanResult, Document
from dedup.engines.shuffle import KINDS, Answers, AnswerStore, ShuffleStats, cross_document
from dedup.errors import DedupError, InputError
from dedup.read import (
    STDIN,
    InputFile,
    InvalidRecord,
    OnError,
    OnRead,
    count_range,
    document_from_record,
    duplicate_id,
    file_size,
    is_plain_jsonl,
    line_ranges,
    read_inputs,
    read_range,
)
from dedup.write import Rendered, dumps, render, report_lines, written_record

if TYPE_CHECKING:
    import ray.data

    from dedup.run import PathArg
    from dedup.topic import TopicModel
    from dedup.write import Summary

__all__ = [
    "RANGE_BYTES", "WINDOW", "RayMissingError", "clean_dataset", "clean_files_ray", "clean_inputs", "clean_rendered",
    "clean_stream", "connect",
]

#: Reading waits for the cluster when ``WINDOW * AHEAD`` analysis tasks are unfinished.
WINDOW = 16
AHEAD = 2
#: Plain JSONL inputs are read on the workers in line-aligned byte ranges of about this size, and text files
#: in groups of at most this many bytes.
RANGE_BYTES = 16 << 20
#: Text files (a document each) are read on the workers up to this many in one task.
TEXT_FILES = 256
#: A Ray started here keeps a task's result in the driver's own memory only below this size (Ray's
#: default is 100 KB): the shuffles' many small pieces go to the object store, which spills to disk.
INLINE_BYTES = 1 << 10

_Batch = list[Document | InvalidRecord]

INSTALL_HINT = 'the Ray engine needs Ray Data: install it with pip install "dedup[ray]" (ray[data] and pyarrow)'


class RayMissingError(DedupError, ImportError):
    """Ray is not installed, and the Ray engine was asked for."""


def _ray() -> Any:
    try:
        import ray
        import ray.data  # the engine needs the Data library, not only the core
    except ImportError as exc:
        raise RayMissingError(f"{INSTALL_HINT} ({exc})") from exc
    return ray


def connect(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to Ray, or start a local Ray, unless this process is connected already.

    Args:
        address: A cluster's address (``"auto"``, ``"ray://head:10001"``,
            ``"10.0.0.5:6379"``); ``None`` starts Ray on this machine.
        num_cpus: CPUs of a Ray started here (all when ``None``); ignored
            when connecting to a cluster.

    A Ray started here stays up for later runs in this process
    (``ray.shutdown()`` stops it); a command stops it when it exits.

    Raises:
        RayMissingError: Ray is not installed.
    """
    ray = _ray()
    if ray.is_initialized():
        return
    cache = os.path.join(tempfile.gettempdir(), "dedup-numba-cache")
    ray.init(
        address=address,
        num_cpus=None if address else num_cpus,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"NUMBA_CACHE_DIR": cache}},
        **({} if address else {"_system_config": {"max_direct_call_object_size": INLINE_BYTES}}),
    )
    ray.data.DataContext.get_current().enable_progress_bars = False


def clean_files_ray(
    inputs: PathArg | Iterable[PathArg],
    output: PathArg,
    config: Config | None = None,
    *,
    report: PathArg | None = None,
    summary: PathArg | None = None,
    annotate: bool = False,
    on_error: Any = "raise",
    workers: int | None = None,
    state: PathArg | None = None,
    resume: bool = False,
    ray_address: str | None = None,
) -> Summary:
    """:func:`dedup.run.clean_files` on the Ray engine: the same arguments, files and result.

    ``workers`` is the number of CPUs of a Ray started on this machine
    (ignored with ``ray_address``). ``state`` and ``resume`` are refused
    (:class:`~dedup.errors.ArgumentError`): a Ray run is not resumable yet.
    """
    from dedup.run import clean_files

    return clean_files(
        inputs, output, config, report=report, summary=summary, annotate=annotate, on_error=on_error,
        workers=workers, state=state, resume=resume, engine="ray", ray_address=ray_address,
    )


def clean_stream(
    items: Iterable[Document | InvalidRecord],
    config: Config,
    model: TopicModel | None = None,
    *,
    window: int = WINDOW,
    stats: ShuffleStats | None = None,
) -> Iterator[CleanResult]:
    """Clean documents on the connected Ray, as :meth:`dedup.cleaner.Cleaner.clean` does here.

    The whole input is read and analysed before the first result comes:
    the cross-document stages (:mod:`dedup.engines.shuffle`) need every
    document's keys. The results are made here, in the last pass;
    :func:`clean_rendered` makes them on the workers.

    Args:
        items: Documents and the readers' invalid records, in input order.
        config: The settings.
        model: The topic model (the configured one when ``None``).
        window: Reading waits for the cluster when ``window * AHEAD``
            analysis tasks are unfinished.
        stats: Filled with what the cross-document stages did, when given.

    Yields:
        One result per item, in input order.

    Raises:
        InputError: A document breaks a limit.
        RayMissingError: Ray is not installed.
    """
    ray = _ray()
    cleaner = Cleaner(config, model=model)  # loads the model once
    context = [ray.put(config), ray.put(cleaner.model)]
    batches = _analysed(ray, _put_batches(ray, items), context, window)
    answers = cross_document(ray, config, context, batches, stats)
    for number, (batch_ref, wire_ref) in enumerate(batches):
        batch, packed = ray.get([batch_ref, wire_ref])
        batches[number] = (None, None)  # let the object store free them
        yield from _resolved(cleaner, batch, packed, answers[number], number * BATCH_SIZE)
        answers[number] = {}


def clean_rendered(
    items: Iterable[Document | InvalidRecord],
    config: Config,
    model: TopicModel | None = None,
    *,
    annotate: bool = False,
    mirrored: bool = False,
    report: bool = True,
    window: int = WINDOW,
    stats: ShuffleStats | None = None,
) -> Iterator[Rendered]:
    """Clean documents on the connected Ray, and render the results there: the bytes a run writes, by batch.

    :func:`clean_stream`, with its last pass on the workers too: a task per
    batch resolves it against the answers of the cross-document stages and
    renders the results (:func:`dedup.write.render`): output records,
    report lines and counts. Only those bytes come back, one batch at a
    time in input order (at most ``window * AHEAD`` batches are rendered
    ahead), to be copied into the outputs: what this process holds while
    writing does not grow with the input.

    Args:
        items: Documents and the readers' invalid records, in input order.
        config: The settings.
        model: The topic model (the configured one when ``None``).
        annotate: Render every record with its decisions (``--annotate``).
        mirrored: Render for an output directory that mirrors the inputs.
        report: Render the report lines.
        window: As for :func:`clean_stream`; also how far rendering runs ahead.
        stats: Filled with what the cross-document stages did, when given.

    Yields:
        One :class:`~dedup.write.Rendered` per batch of
        :data:`~dedup.cleaner.BATCH_SIZE` items, in input order.

    Raises:
        InputError: A document breaks a limit (the first one in input order).
        RayMissingError: Ray is not installed.
    """
    ray = _ray()
    yield from _render(ray, _put_batches(ray, items), config, model, window, stats,
                       {"annotate": annotate, "mirrored": mirrored, "report": report})


def clean_inputs(
    files: Sequence[InputFile],
    config: Config,
    model: TopicModel | None = None,
    *,
    on_error: OnError = "raise",
    on_read: OnRead | None = None,
    annotate: bool = False,
    mirrored: bool = False,
    report: bool = True,
    window: int = WINDOW,
    stats: ShuffleStats | None = None,
    range_bytes: int | None = None,
) -> Iterator[Rendered]:
    """:func:`clean_rendered` of the records of input files, read on the workers.

    The inputs are cut into parts: a plain (uncompressed) JSONL file
    (:func:`dedup.read.is_plain_jsonl`) into line-aligned byte ranges
    (:func:`dedup.read.line_ranges`); a compressed JSONL file, which cannot
    be entered in the middle, or a Parquet file is one part; consecutive
    text files (a document each) make a part of up to :data:`TEXT_FILES`
    files or ``range_bytes`` bytes. A first task per part counts its lines
    and items (:func:`dedup.read.count_range`; a text file is one item,
    without a task): from those, each part's first line number and where
    dedup's batches of :data:`~dedup.cleaner.BATCH_SIZE` items cut it are
    known before it is parsed. A task per part then reads it
    (:func:`dedup.read.read_range`: the local engine's readers and limits,
    so that an error names the file and line the local reader names) and
    returns its items cut at those places, which stay in the object store;
    a batch made of several pieces is put together by a task. Only the ids
    come back here, to be checked for uniqueness in input order as
    :func:`dedup.read.read_inputs` checks them (a repeated id makes its
    record invalid, or raises). Stdin is read here, and so is a file that a
    worker does not see (no shared volume).

    Args:
        files: The inputs, in order (:func:`dedup.read.list_inputs`).
        config: The settings.
        model: The topic model (the configured one when ``None``).
        on_error: As for :func:`dedup.read.read_inputs`.
        on_read: Told the bytes read (for a range read by a worker, once it is read).
        annotate: As for :func:`clean_rendered`.
        mirrored: As for :func:`clean_rendered`.
        report: As for :func:`clean_rendered`.
        window: As for :func:`clean_rendered`; also how many parts are counted and read ahead.
        stats: Filled with what the cross-document stages did, when given.
        range_bytes: About how many bytes a range of a plain JSONL file has, and at most how many a
            part of text files has (:data:`RANGE_BYTES` when ``None``).

    Yields:
        One :class:`~dedup.write.Rendered` per batch, in input order.

    Raises:
        InputError: A bad record (unless skipped), or a document over a
            limit: the first in input order, as the local engine raises it.
        RayMissingError: Ray is not installed.
    """
    ray = _ray()
    batches = _read_batches(ray, files, config.input, on_error, on_read, window, range_bytes or RANGE_BYTES)
    yield from _render(ray, batches, config, model, window, stats,
                       {"annotate": annotate, "mirrored": mirrored, "report": report})


def _render(
    ray: Any, batch_refs: Iterable[Any], config: Config, model: TopicModel | None, window: int,
    stats: ShuffleStats | None, options: dict[str, bool],
) -> Iterator[Rendered]:
    tasks = _last_pass(ray, batch_refs, config, model, window, stats, ray.remote(_render_batch), options)
    pending = deque(islice(tasks, window * AHEAD))
    while pending:
        part = ray.get(pending.popleft())
        pending.extend(islice(tasks, 1))
        yield _rendered(part)


def _last_pass(
    ray: Any, batch_refs: Iterable[Any], config: Config, model: TopicModel | None, window: int,
    stats: ShuffleStats | None, task: Any, options: dict[str, Any],
) -> Iterator[Any]:
    """Analyse the batches, answer the cross-document questions, then start ``task`` on each batch, in order.

    ``task`` gets the batch, its packed analysis, its answers, the position
    of its first item, the context (object refs of the settings and the
    model) and ``options``. A task is started when the next object ref is
    asked for, so that the caller decides how far they run ahead.
    """
    cleaner = Cleaner(config, model=model)  # loads the model once
    context = [ray.put(config), ray.put(cleaner.model)]
    batches = _analysed(ray, batch_refs, context, window)
    answers = cross_document(ray, config, context, batches, stats)
    for number, (batch_ref, wire_ref) in enumerate(batches):
        ref = task.remote(batch_ref, wire_ref, answers[number], number * BATCH_SIZE, context, options)
        batches[number] = (None, None)  # the task holds them now
        answers[number] = {}
        yield ref


def clean_dataset(
    dataset: ray.data.Dataset,
    config: Config | None = None,
    *,
    position: str = "position",
    annotate: bool = False,
    model: TopicModel | None = None,
) -> ray.data.Dataset:
    """Clean a dataset of records: the Ray Data form of :func:`clean_stream`.

    Args:
        dataset: Records with the configured text and id fields, and an
            integer ``position`` column giving the input order (Ray Data
            does not keep the order of rows by default).
        config: The settings.
        position: The name of the column holding the input order.
        annotate: Add the decisions to every output record, as ``--annotate`` does.
        model: The topic model (the configured one when ``None``).

    Returns:
        A dataset with one row per input record: ``position``, ``id``,
        ``dropped`` (the reason, or ``None`` when kept), ``record`` (the
        output JSONL line, ``None`` when there is none) and ``report``
        (its report lines, JSONL).

    Raises:
        InputError: A record has no usable text or id, or breaks a limit.
    """
    ray = _ray()
    config = config or Config()
    rows = dataset.sort(position).iter_rows()  # streamed in order: the cross-document stages need it
    docs = (
        # The position goes in as the document's line: the workers put it in the rows they make.
        document_from_record({k: v for k, v in row.items() if k != position}, config.input, "<dataset>",
                             int(row[position]))
        for row in rows
    )
    task = ray.remote(_dataset_rows).options(num_returns=2)
    done = list(_last_pass(ray, _put_batches(ray, docs), config, model, WINDOW, None, task, {"annotate": annotate}))
    for failed in ray.get([status for status, _ in done]):  # small; the tables stay in the object store
        if failed is not None:
            raise InputError(failed.message, failed.source, failed.line)
    if not done:
        return ray.data.from_items([])
    return ray.data.from_arrow_refs([table for _, table in done])


# -- what crosses to the workers and back ---------------------------------------------------------


def _batches(items: Iterable[Document | InvalidRecord]) -> Iterator[_Batch]:
    """Batches of BATCH_SIZE items in input order, invalid records in place (as the cleaner forms them)."""
    iterator = iter(items)
    while batch := list(islice(iterator, BATCH_SIZE)):
        yield batch


def _put_batches(ray: Any, items: Iterable[Document | InvalidRecord]) -> Iterator[Any]:
    """The items, put into the object store by batch as they are read."""
    for batch in _batches(items):
        yield ray.put(batch)


def _analysed(ray: Any, batch_refs: Iterable[Any], context: list[Any], window: int) -> list[Any]:
    """Start an analysis task for each batch, as the batches come.

    Returns:
        The object refs of each batch and of its packed analysis, in input order.
    """
    analyse = ray.remote(_analyse_batch)
    batches: list[tuple[Any, Any]] = []
    running: list[Any] = []
    for batch_ref in batch_refs:
        wire = analyse.remote(batch_ref, context)
        batches.append((batch_ref, wire))
        running.append(wire)
        if len(running) >= window * AHEAD:
            _, running = ray.wait(running, num_returns=len(running) - window * AHEAD + 1)
    return batches


class _Part(NamedTuple):
    """What one read task reads: bytes ``[start, end)`` of a plain JSONL file, or whole files (``end`` is ``None``).

    Whole files are a compressed JSONL file (a compressed stream cannot be
    entered in the middle), a Parquet file, or up to :data:`TEXT_FILES`
    text files (each one document). ``sizes`` are the files' sizes as this
    process sees them: a worker that sees other sizes, or none, does not
    see the files (:func:`_sees`).
    """

    files: tuple[InputFile, ...]
    sizes: tuple[int, ...]
    start: int
    end: int | None

    def stored_bytes(self) -> int:
        return sum(self.sizes) if self.end is None else self.end - self.start


def _parts(files: Sequence[InputFile], range_bytes: int) -> Iterator[_Part | InputFile]:
    """The parts the workers read, in input order; an input this process reads itself comes as its file.

    This process reads stdin, and a file it cannot look at (the reader then
    says what is wrong with it). Consecutive text files are read by one
    task, up to :data:`TEXT_FILES` files or ``range_bytes`` bytes.
    """
    texts: list[tuple[InputFile, int]] = []
    for file in files:
        size = _size(file)
        if texts and (file.kind != "txt" or size is None or len(texts) == TEXT_FILES
                      or sum(s for _, s in texts) + (size or 0) > range_bytes):
            yield _Part(tuple(f for f, _ in texts), tuple(s for _, s in texts), 0, None)
            texts = []
        if size is None:
            yield file
        elif file.kind == "txt":
            texts.append((file, size))
        elif is_plain_jsonl(file):
            yield from (_Part((file,), (size,), start, end) for start, end in line_ranges(file.path, range_bytes))
        else:
            yield _Part((file,), (size,), 0, None)
    if texts:
        yield _Part(tuple(f for f, _ in texts), tuple(s for _, s in texts), 0, None)


def _size(file: InputFile) -> int | None:
    """The size of an input as this process sees it; ``None`` for stdin and a file it cannot look at."""
    if file.path == STDIN:
        return None
    if file.size is not None:
        return file.size
    try:
        return file_size(file.path)
    except OSError:
        return None


class _Reading(NamedTuple):
    """A part being read on a worker: its first line's number minus one, its pieces' sizes, the task's refs."""

    part: _Part
    before: int
    sizes: list[int]
    refs: list[Any]


def _read_batches(
    ray: Any, files: Sequence[InputFile], config: InputConfig, on_error: OnError, on_read: OnRead | None,
    window: int, range_bytes: int,
) -> Iterator[Any]:
    """The object refs of the inputs' batches, in input order (:func:`clean_inputs`).

    Parts are counted up to ``window`` ahead of the one being planned, and
    read up to ``window`` ahead of the one whose ids are checked, across
    files: several compressed files are read at once.
    """
    count, read, assemble = ray.remote(_count_range), ray.remote(_read_range), ray.remote(_assemble_batch)
    seen: set[str] = set()
    batch = _Pieces()
    parts = _parts(files, range_bytes)
    counting: deque[tuple[_Part | InputFile, Any]] = deque()
    reading: deque[_Reading] = deque()
    planned = before = 0  # the items planned so far; the lines of the part's file before it

    def checked(done: _Reading) -> Iterator[Any]:
        """Check the ids of a part read, in input order, and add its pieces to the batches."""
        found = ray.get(done.refs[0])
        refs = done.refs
        if found is None:  # the worker could not see the files: read the part here
            here = _read_part(done.part, config, on_error, done.before, done.sizes)
            found, *pieces = here if done.sizes else [here]
            refs = [None, *pieces]
        ids, failure = found
        replaced: list[dict[int, str]] = [{} for _ in done.sizes]
        for piece, index, doc_id, source, line in ids:
            if doc_id in seen:
                error = duplicate_id(doc_id, source, line)
                if on_error == "raise":
                    raise error
                replaced[piece][index] = error.reason
            else:
                seen.add(doc_id)
        if failure is not None:
            raise InputError(failure.message, failure.source, failure.line)
        if on_read is not None:
            on_read(done.part.stored_bytes())
        for items, piece, marks in zip(done.sizes, refs[1:], replaced, strict=True):
            if batch.add_piece(piece, items, marks):
                yield batch.put(ray, assemble)

    while True:
        counting.extend((part, _start_count(count, part, config)) for part in islice(parts, window - len(counting)))
        if not counting:
            break
        part, counted = counting.popleft()
        if isinstance(part, InputFile):  # read here, in input order: after the parts before it
            while reading:
                yield from checked(reading.popleft())
            for item in read_inputs([part], config, on_error, seen, on_read):
                planned += 1
                if batch.add_item(item):
                    yield batch.put(ray, assemble)
            continue
        found = counted if isinstance(counted, tuple) else ray.get(counted)
        # A worker that cannot see the files (no shared volume) leaves them to this process.
        lines, items = _count_part(part, config) if found is None else found
        before = 0 if part.start == 0 else before
        sizes = _cut(planned, items)
        refs = read.options(num_returns=len(sizes) + 1).remote(part, config, on_error, before, sizes)
        reading.append(_Reading(part, before, sizes, refs if isinstance(refs, list) else [refs]))
        before += lines
        planned += items
        if len(reading) > window:
            yield from checked(reading.popleft())
    while reading:
        yield from checked(reading.popleft())
    if batch.size:
        yield batch.put(ray, assemble)


def _start_count(count: Any, part: _Part | InputFile, config: InputConfig) -> Any:
    """The count task of a part, or its count when it is known (text files are a document each)."""
    if isinstance(part, InputFile):
        return None
    if part.files[0].kind == "txt":
        return 0, len(part.files)
    return count.remote(part, config)


def _cut(position: int, items: int) -> list[int]:
    """The sizes of the pieces that dedup's batches cut ``items`` items into, the first at ``position``."""
    sizes = []
    while items:
        size = min(items, BATCH_SIZE - position % BATCH_SIZE)
        sizes.append(size)
        position += size
        items -= size
    return sizes


def _sees(file: InputFile, size: int) -> bool:
    """Whether this process sees the file the driver listed (a worker may not: no shared volume).

    An object in object storage is seen when the store answers with its size
    (the worker's credentials and endpoint reach it): the worker then reads
    its range from the store itself.
    """
    try:
        return file_size(file.path) == size
    except OSError:
        return False


def _count_range(part: _Part, config: InputConfig) -> tuple[int, int] | None:
    """What a Ray worker does to count a part: :func:`_count_part`, or ``None`` when it does not see the files."""
    return _count_part(part, config) if _sees_part(part) else None


def _sees_part(part: _Part) -> bool:
    return all(_sees(file, size) for file, size in zip(part.files, part.sizes, strict=True))


def _count_part(part: _Part, config: InputConfig) -> tuple[int, int]:
    """The lines and the items of a part (:func:`dedup.read.count_range` of each of its files)."""
    lines = items = 0
    for file in part.files:
        more_lines, more_items = count_range(file, config, part.start, part.end)
        lines += more_lines
        items += more_items
    return lines, items


class _Pieces:
    """The batch being formed: pieces of items read here (lists) or on the workers (object refs)."""

    def __init__(self) -> None:
        self.pieces: list[Any] = []
        self.marks: list[dict[int, str]] = []
        self.size = 0

    def _clear(self) -> None:
        self.pieces, self.marks, self.size = [], [], 0

    def add_item(self, item: Document | InvalidRecord) -> bool:
        """Add an item read here; whether the batch is full."""
        if not self.pieces or not isinstance(self.pieces[-1], list):
            self.pieces.append([])
            self.marks.append({})
        self.pieces[-1].append(item)
        self.size += 1
        return self.size == BATCH_SIZE

    def add_piece(self, ref: Any, size: int, marks: dict[int, str]) -> bool:
        """Add ``size`` items read on a worker, with the indexes of the repeated ids; whether the batch is full."""
        self.pieces.append(ref)
        self.marks.append(marks)
        self.size += size
        return self.size == BATCH_SIZE

    def put(self, ray: Any, assemble: Any) -> Any:
        """The batch's object ref (an empty batch follows)."""
        if all(isinstance(piece, list) for piece in self.pieces):
            ref = ray.put(_assemble_batch(self.marks, *self.pieces))
        else:
            ref = assemble.remote(self.marks, *self.pieces)
        self._clear()
        return ref


def _read_range(part: _Part, config: InputConfig, on_error: OnError, before: int, sizes: list[int]) -> Any:
    """What a Ray worker does with a part of the inputs: :func:`_read_part`, unless it does not see the files.

    Returns:
        :func:`_read_part`'s values; ``None`` for each of them when this
        process does not see the files.
    """
    if not _sees_part(part):
        return [None] * (len(sizes) + 1) if sizes else None
    return _read_part(part, config, on_error, before, sizes)


def _read_part(part: _Part, config: InputConfig, on_error: OnError, before: int, sizes: list[int]) -> Any:
    """Read a part (:func:`dedup.read.read_range`), and cut its items at the batches' edges.

    Returns:
        The ids of its documents with where they are (piece, index in the
        piece, id, source, line) and the error that stopped it (``on_error``
        is ``"raise"``), then each piece's items.
    """
    items: list[Document | InvalidRecord] = []
    failure = None
    try:
        for file in part.files:
            items.extend(read_range(file, config, on_error, part.start, part.end, before))
    except InputError as exc:
        failure = _Failed(exc.reason, exc.source, exc.line)
    if failure is None and len(items) != sum(sizes):
        where = ", ".join(file.path for file in part.files)
        if part.end is not None:
            where += f" bytes {part.start}-{part.end}"
        raise DedupError(f"{where}: {len(items)} items read, but {sum(sizes)} were counted")
    pieces, ids, offset = [], [], 0
    for piece, size in enumerate(sizes):
        pieces.append(items[offset : offset + size])
        ids += [(piece, index, item.id, item.source, item.line)
                for index, item in enumerate(pieces[-1]) if isinstance(item, Document)]
        offset += size
    return [(ids, failure), *pieces] if sizes else (ids, failure)


def _assemble_batch(marks: list[dict[int, str]], *pieces: list[Document | InvalidRecord]) -> _Batch:
    """What a Ray worker does to put a batch together from its pieces: a record whose id was seen earlier is invalid."""
    batch: _Batch = []
    for piece, repeated in zip(pieces, marks, strict=True):
        for index, item in enumerate(piece):
            reason = repeated.get(index)
            if reason is not None and isinstance(item, Document):
                item = InvalidRecord(item.source or "", item.line, reason, None, item.fields)
            batch.append(item)
    return batch


def _resolved(cleaner: Cleaner, batch: _Batch, packed: bytes, answers: Answers, start: int) -> Iterator[CleanResult]:
    """The results of one batch, resolved against the answers of the cross-document stages.

    Raises:
        InputError: A document breaks a limit.
    """
    store = AnswerStore(cleaner.config.fingerprint(), answers, KINDS)
    docs = [item for item in batch if isinstance(item, Document)]
    analyses = iter(from_wire(unpack_wire(packed), docs))
    for position, item in enumerate(batch, start):
        if isinstance(item, InvalidRecord):
            yield decide.invalid(item)
            continue
        analysis = next(analyses)
        store.position = position
        if analysis.error is not None:
            raise InputError(analysis.error, item.source or "<documents>", item.line)
        yield cleaner.resolve(analysis, store)


class _Failed(NamedTuple):
    """A batch's :class:`~dedup.errors.InputError`, sent back as a value (Ray wraps what a task raises)."""

    message: str
    source: str | None
    line: int | None


def _render_batch(
    batch: _Batch, packed: bytes, answers: Answers, start: int, context: list[Any], options: dict[str, bool]
) -> Rendered | _Failed:
    """What a Ray worker does in the last pass: resolve one batch and render its results."""
    import ray

    config, model = ray.get(context)
    try:
        results = list(_resolved(Cleaner(config, model=model), batch, packed, answers, start))
    except InputError as exc:
        return _Failed(exc.reason, exc.source, exc.line)
    return render(results, config.input.text_field, **options)


def _dataset_rows(
    batch: _Batch, packed: bytes, answers: Answers, start: int, context: list[Any], options: dict[str, bool]
) -> tuple[_Failed | None, Any]:
    """What a Ray worker does in :func:`clean_dataset`'s last pass: a batch's rows, as an Arrow table."""
    import pyarrow as pa
    import ray

    config, model = ray.get(context)
    try:
        results = list(_resolved(Cleaner(config, model=model), batch, packed, answers, start))
    except InputError as exc:
        return _Failed(exc.reason, exc.source, exc.line), None
    text_field = config.input.text_field
    rows = []
    for result in results:
        record = written_record(result, text_field, options["annotate"])
        rows.append({
            "position": result.line,
            "id": result.id,
            "dropped": None if result.dropped is None else result.dropped.value,
            "record": None if record is None else dumps(record),
            "report": "".join(dumps(line) for line in report_lines(result)),
        })
    return None, pa.Table.from_pylist(rows, schema=_dataset_schema())


def _dataset_schema() -> Any:
    import pyarrow as pa

    return pa.schema([("position", pa.int64()), ("id", pa.string()), ("dropped", pa.string()),
                      ("record", pa.string()), ("report", pa.string())])


def _rendered(part: Rendered | _Failed) -> Rendered:
    if isinstance(part, _Failed):
        raise InputError(part.message, part.source, part.line)
    return part


def _analyse_batch(batch: _Batch, context: list[Any]) -> bytes:
    """What a Ray worker does with one batch: analyse it and pack the wire.

    ``context`` holds the object refs of the settings and the model (in a
    list, so that they reach here unresolved): read from the object store,
    not shipped with every task.
    """
    import ray

    config, model = ray.get(context)
    return _pack_wire(analyse_to_wire([item for item in batch if isinstance(item, Document)], config, model))


def _pack_wire(wire: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    arrays: dict[str, Any] = {name: np.asarray(value) for name, value in wire.items()}
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def unpack_wire(packed: bytes) -> dict[str, Any]:
    """The analysis wire a worker packed (a pickle-free ``.npz``)."""
    with np.load(io.BytesIO(packed), allow_pickle=False) as data:
        return {name: data[name].item() if data[name].ndim == 0 else data[name] for name in data.files}
