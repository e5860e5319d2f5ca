"""The cleaner: runs the stages over a stream of documents.

Work is split in two, so that it can run anywhere:

- :func:`analyse_batch` is a pure function of a batch of documents and the
  settings: split, normalise, shingle, sign (one vectorised call per batch),
  find repeats within each document, score topics, decide. It holds no
  state between batches, so local worker processes (or a cluster engine)
  can run batches in any order and the results are the same.
- :meth:`Cleaner._resolve` then takes each analysed document in input
  order and consults the cross-document index (boilerplate lines,
  near-duplicate documents, optionally repeated paragraphs): the first
  occurrence in input order wins, whatever the number of workers.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any

import numpy as np

from dedup import decide
from dedup.config import Config
from dedup.data import CleanResult, Decision, Document, Paragraph, Reason, Ref
from dedup.errors import InputError
from dedup.match import find_repeats, repeat_lsh_params
from dedup.minhash import RECALL_SLACK, band_keys, lsh_params, signatures, sketch, sketches, union_signature
from dedup.read import InvalidRecord, document_from_record, limit_error
from dedup.shingle import exact_key, normalise, shingle_hashes
from dedup.split import join_paragraphs, split_paragraphs
from dedup.store import IndexStore, MemoryStore
from dedup.topic import FEATURES, TopicModel

logger = logging.getLogger(__name__)

BATCH_SIZE = 256


@dataclass
class Analysis:
    """What the pure stage learnt about one document."""

    doc: Document
    paragraphs: list[Paragraph] = field(default_factory=list)
    head: str = ""
    tail: str = ""
    decisions: list[Decision] = field(default_factory=list)
    keys: list[int] = field(default_factory=list)
    long: list[bool] = field(default_factory=list)
    signatures: np.ndarray | None = None
    doc_keys: list[int] | None = None
    doc_sketch: bytes = b""
    text: str | None = None
    removed: dict[int, str] | None = None
    error: str | None = None

    def packed(self, paragraph_stages: bool) -> Analysis:
        """What a worker sends back: no document (the parent has it), and unless a
        cross-document stage looks at paragraphs, the kept text joined and the removed
        paragraphs' texts instead of paragraph objects and signatures."""
        if paragraph_stages:
            return replace(self, doc=_SENT_BACK)
        kept = [self.paragraphs[d.index] for d in self.decisions if d.kept]
        return replace(
            self, doc=_SENT_BACK, paragraphs=[], head="", tail="", signatures=None,
            text=join_paragraphs(kept, self.head, self.tail),
            removed=self.removed_texts(self.decisions),
        )

    def removed_texts(self, decisions: Iterable[Decision]) -> dict[int, str]:
        """The texts of the paragraphs these decisions remove."""
        if self.removed is not None:
            return {d.index: self.removed[d.index] for d in decisions if not d.kept}
        return {d.index: self.paragraphs[d.index].text for d in decisions if not d.kept}


def analyse_batch(docs: list[Document], config: Config, model: TopicModel | None) -> list[Analysis]:
    """Run every within-document stage on a batch of documents.

    A pure function: the result depends only on the arguments.

    Args:
        docs: The documents.
        config: The settings.
        model: The topic model, or ``None`` when the topic stage is off.

    Returns:
        One :class:`Analysis` per document, in order.
    """
    size = config.shingle.size
    analyses: list[Analysis] = []
    all_hashes: list[np.ndarray] = []
    for doc in docs:
        # The readers check the same limits; documents given to the library directly meet them here.
        error = limit_error(doc, config.input)
        if error is not None:
            analyses.append(Analysis(doc, error=error))
            continue
        paragraphs, head, tail = split_paragraphs(doc.text)
        analysis = Analysis(doc, paragraphs, head, tail)
        for paragraph in paragraphs:
            norm = normalise(paragraph.text)
            # Lines of punctuation only ("***") compare by their raw form, not as one empty key.
            analysis.keys.append(exact_key(norm) if norm else exact_key("\0" + paragraph.text.strip()))
            analysis.long.append(len(norm) >= config.dedup.min_chars)
            all_hashes.append(shingle_hashes(norm, size))
        analyses.append(analysis)
    all_signatures = signatures(all_hashes, config.shingle)
    all_band_keys = band_keys(all_signatures, *repeat_lsh_params(config.dedup, config.shingle))
    offset = 0
    ready = [analysis for analysis in analyses if analysis.error is None]
    per_doc_hashes = []
    for analysis in ready:
        n = len(analysis.paragraphs)
        per_doc_hashes.append(all_hashes[offset : offset + n])
        analysis.signatures = all_signatures[offset : offset + n]
        analysis.decisions = _repeat_decisions(analysis, per_doc_hashes[-1], all_band_keys[offset : offset + n], config)
        offset += n
    if model is not None and config.topic.enabled:
        _topic_decisions(ready, per_doc_hashes, config, model)
    if config.dedup.documents and ready:
        # What the document stage will look up, for the whole batch at once (the parent, which
        # consults the index in input order, is the one process that cannot be parallel).
        doc_signatures = np.stack([_doc_signature(analysis, config) for analysis in ready])
        doc_keys = band_keys(doc_signatures, *_doc_lsh_params(config)).tolist()
        for analysis, keys, doc_sketch in zip(ready, doc_keys, sketches(doc_signatures), strict=True):
            analysis.doc_keys, analysis.doc_sketch = keys, doc_sketch
    return analyses


def _doc_signature(analysis: Analysis, config: Config) -> np.ndarray:
    """The signature of the text a document keeps: the union of its kept paragraphs' sets."""
    assert analysis.signatures is not None
    kept = [d.index for d in analysis.decisions if d.kept]
    return union_signature(analysis.signatures[kept], config.shingle.num_perm)


def _doc_lsh_params(config: Config) -> tuple[int, int]:
    return lsh_params(config.dedup.doc_threshold, config.shingle.num_perm, RECALL_SLACK)


def _repeat_decisions(
    analysis: Analysis, hashes: list[np.ndarray], keys: np.ndarray, config: Config
) -> list[Decision]:
    if not config.dedup.enabled:
        return decide.repeat_decisions(analysis.doc.id, [None] * len(analysis.paragraphs))
    assert analysis.signatures is not None
    repeats = find_repeats(
        analysis.keys, hashes, analysis.signatures, analysis.long, config.dedup, config.shingle, keys
    )
    return decide.repeat_decisions(analysis.doc.id, repeats)


def _topic_decisions(
    analyses: list[Analysis], hashes: list[list[np.ndarray]], config: Config, model: TopicModel
) -> None:
    """Score the paragraphs the repeat stage kept, for the whole batch in one transform per round.

    Removing a run of teasers leaves a document with a new last paragraph and
    a cleaner centroid, so the kept paragraphs of each document that lost
    some are scored again, up to ``config.topic.rounds`` times: a teaser
    that scored below the threshold beside the others often stands out
    once they are gone, and cleaning the output again then finds (almost)
    nothing more to remove. Later rounds keep each paragraph's position in
    the first round: a paragraph does not look more like a trailer because
    the trailer after it was removed.
    """
    position = FEATURES.index("position")
    first = [[d.index for d in analysis.decisions if d.kept] for analysis in analyses]
    pending = [k for k in range(len(analyses)) if first[k]]
    for round_ in range(config.topic.rounds):
        candidates = [[d.index for d in analyses[k].decisions if d.kept] for k in pending]
        features = model.features_batch(
            [[analyses[k].paragraphs[i].text for i in kept] for k, kept in zip(pending, candidates, strict=True)],
            [[hashes[k][i] for i in kept] for k, kept in zip(pending, candidates, strict=True)],
        )
        changed = []
        for k, kept, matrix in zip(pending, candidates, features, strict=True):
            analysis = analyses[k]
            if round_:
                rank = {index: n for n, index in enumerate(first[k])}
                matrix[:, position] = [rank[i] / max(len(first[k]) - 1, 1) for i in kept]
            junk, substantial = model.shapes(matrix)
            scores = model.score_samples(matrix)
            analysis.decisions = decide.topic_decisions(
                analysis.decisions, kept, scores, junk, substantial, config.topic
            )
            if sum(d.kept for d in analysis.decisions) < len(kept):
                changed.append(k)
        if not changed:
            return
        pending = changed


class Cleaner:
    """Removes repeated and off-topic paragraphs, and repeated documents.

    Args:
        config: Settings; defaults to ``Config()``.
        index: The cross-document index store; defaults to a fresh in-memory one.
        model: The topic model; defaults to the one named by
            ``config.topic.model``, else the model shipped with the package.
        workers: Processes for the within-document stages (1: in-process).
            The output is the same for any number.

    Example:
        >>> from dedup import Cleaner
        >>> result = Cleaner().clean_text("Rain fell on Paris all day.\\nRain fell on Paris all day.\\n")
        >>> result.text
        'Rain fell on Paris all day.\\n'
        >>> [d.reason.value for d in result.removed]
        ['duplicate']
    """

    def __init__(
        self,
        config: Config | None = None,
        index: IndexStore | None = None,
        *,
        model: TopicModel | None = None,
        workers: int = 1,
    ) -> None:
        self.config = config or Config()
        fingerprint = self.config.fingerprint()
        if index is None:
            index = MemoryStore(fingerprint)
        index.check_fingerprint(fingerprint)
        self.index = index
        if model is None and self.config.topic.enabled:
            path = self.config.topic.model
            model = TopicModel.load(path) if path else TopicModel.default()
        self.model = model
        self.workers = max(1, int(workers))
        self._texts = 0

    # -- public API ---------------------------------------------------------------------------

    def clean_text(self, text: str, id: str | None = None) -> CleanResult:
        """Clean one text, as one more document of this cleaner's run."""
        if id is None:
            self._texts += 1
            id = f"text-{self._texts}"
        return next(self.clean([Document(id, text)]))

    def clean(self, documents: Iterable[Document | Mapping[str, Any] | InvalidRecord]) -> Iterator[CleanResult]:
        """Clean a stream of documents.

        Args:
            documents: ``Document`` objects or dicts with the configured
                text and id fields (other keys pass through); readers may
                also yield :class:`~dedup.read.InvalidRecord` for input
                they skipped, which comes out as an ``invalid`` result.

        Yields:
            One :class:`CleanResult` per input document, in input order,
            dropped ones included.

        Raises:
            InputError: A record has no usable text or id, or breaks a limit.
        """
        batches = self._batches(documents)
        if self.workers == 1:
            analysed: Iterator[list[Analysis | InvalidRecord]] = (self._analyse(b) for b in batches)
            yield from self._resolve_all(analysed)
            return
        with _executor(self.workers, self.config, self.model) as executor:
            mapped = _ordered_map(executor, self._analyse_remote, batches, self.workers * 2)
            yield from self._resolve_all(_reattach(batch, analysed) for batch, analysed in mapped)

    # -- internals ----------------------------------------------------------------------------

    def _batches(self, documents: Iterable[Any]) -> Iterator[list[Document | InvalidRecord]]:
        iterator = iter(documents)
        position = 0
        while True:
            batch: list[Document | InvalidRecord] = []
            for item in islice(iterator, BATCH_SIZE):
                position += 1
                if isinstance(item, (Document, InvalidRecord)):
                    batch.append(item)
                else:
                    batch.append(document_from_record(item, self.config.input, "<documents>", position))
            if not batch:
                return
            yield batch

    def _analyse(self, batch: list[Document | InvalidRecord]) -> list[Analysis | InvalidRecord]:
        docs = [item for item in batch if isinstance(item, Document)]
        analyses = iter(analyse_batch(docs, self.config, self.model))
        return [item if isinstance(item, InvalidRecord) else next(analyses) for item in batch]

    @staticmethod
    def _analyse_remote(batch: list[Document | InvalidRecord]) -> list[Analysis | InvalidRecord]:
        # What goes back through the pipe is pickled and copied, and unpickled by the parent,
        # the one serial process: send as little, in as few objects, as the parent needs.
        config = _WORKER_CLEANER.config
        paragraph_stages = config.dedup.boilerplate or config.dedup.cross_doc_paragraphs
        return [
            item.packed(paragraph_stages) if isinstance(item, Analysis) else item
            for item in _WORKER_CLEANER._analyse(batch)
        ]

    def _resolve_all(self, analysed: Iterable[list[Analysis | InvalidRecord]]) -> Iterator[CleanResult]:
        for batch in analysed:
            for item in batch:
                if isinstance(item, InvalidRecord):
                    yield item.result()
                elif item.error is not None:
                    doc = item.doc
                    raise InputError(item.error, doc.source or "<documents>", doc.line)
                else:
                    yield self._resolve(item)

    def _resolve(self, analysis: Analysis) -> CleanResult:
        """The cross-document stages, run in input order."""
        config, store, doc = self.config, self.index, analysis.doc
        decisions = analysis.decisions
        kept = [d.index for d in decisions if d.kept]
        boilerplate_removed = False
        if config.dedup.boilerplate and kept:
            for i in kept:
                paragraph = analysis.paragraphs[i]
                if len(paragraph.text) > config.dedup.boilerplate_max_chars:
                    continue
                seen = store.add_and_count("line", analysis.keys[i], doc.id)
                if seen >= config.dedup.boilerplate_min_docs:
                    decisions[i] = decide.remove(decisions[i], Reason.BOILERPLATE, float(seen))
                    boilerplate_removed = True
            kept = [d.index for d in decisions if d.kept]
        if config.dedup.documents and kept:
            keys, doc_sketch = analysis.doc_keys, analysis.doc_sketch
            if boilerplate_removed or keys is None:
                signature = _doc_signature(analysis, config)
                keys = band_keys(signature[None, :], *_doc_lsh_params(config))[0].tolist()
                doc_sketch = sketch(signature)
            match = store.check_and_insert("doc", keys, doc_sketch, Ref(doc.id), config.dedup.doc_threshold)
            if match is not None:
                return self._dropped(analysis, Reason.DUPLICATE_DOCUMENT, match.score, match.ref)
        if config.dedup.cross_doc_paragraphs and kept:
            bands, rows = lsh_params(config.dedup.threshold, config.shingle.num_perm)
            assert analysis.signatures is not None
            all_keys = band_keys(analysis.signatures[kept], bands, rows)
            for i, keys in zip(kept, all_keys.tolist(), strict=False):
                ref = Ref(doc.id, i)
                earlier = store.check_and_insert_exact("para-exact", analysis.keys[i], ref)
                if earlier is not None:
                    decisions[i] = decide.remove(decisions[i], Reason.DUPLICATE, 1.0, earlier)
                    continue
                if not analysis.long[i]:
                    continue
                signature = analysis.signatures[i]
                match = store.check_and_insert("para", keys, sketch(signature), ref, config.dedup.threshold)
                if match is not None:
                    decisions[i] = decide.remove(decisions[i], Reason.NEAR_DUPLICATE, match.score, match.ref)
            kept = [d.index for d in decisions if d.kept]
        if not kept:
            return self._dropped(analysis, Reason.EMPTY, 0.0, None)
        if analysis.text is not None:  # joined by the worker: no later stage removed anything
            text = analysis.text
        else:
            text = join_paragraphs((analysis.paragraphs[i] for i in kept), analysis.head, analysis.tail)
        removed = analysis.removed_texts(decisions)
        return CleanResult(
            doc.id, text, None, tuple(decisions), doc.fields, source=doc.source, line=doc.line,
            metadata={"removed": removed} if removed else {},
        )

    @staticmethod
    def _dropped(analysis: Analysis, reason: Reason, score: float, duplicate_of: Ref | None) -> CleanResult:
        doc = analysis.doc
        decisions = tuple(
            decide.remove(d, reason, score, duplicate_of) if d.kept else d for d in analysis.decisions
        )
        removed = analysis.removed_texts(analysis.decisions)  # the removals before the whole document's
        metadata = {"original": doc.text, **({"removed": removed} if removed else {})}
        return CleanResult(
            doc.id, "", reason, decisions, doc.fields, score, duplicate_of, source=doc.source, line=doc.line,
            metadata=metadata,
        )


# -- worker processes ---------------------------------------------------------------------------

_WORKER_CLEANER: Cleaner  # set in each worker process by _init_worker
_PARENT_POLL_SECONDS = 0.5
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _init_worker(config: Config, model: TopicModel | None, parent: int, death_signal: bool) -> None:
    global _WORKER_CLEANER
    # Ctrl-C goes to the whole process group: the parent handles it and stops the pool; a
    # worker that raised KeyboardInterrupt too would only print a traceback. SIGTERM is the
    # parent-death signal, so it must end the worker, not run a handler inherited by fork.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):  # blocked by _WorkerPool.submit while this process was forked
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    _exit_with_parent(parent, death_signal)
    cleaner = Cleaner.__new__(Cleaner)
    cleaner.config, cleaner.model, cleaner.workers = config, model, 1
    _WORKER_CLEANER = cleaner


def _exit_with_parent(parent: int, death_signal: bool) -> None:
    """Make this worker exit within seconds once ``parent`` is gone, however it ended (even SIGKILL).

    A pool's workers otherwise wait for work forever on a queue that no one
    will ever write to or close. On Linux the kernel sends SIGTERM when the
    parent dies (``PR_SET_PDEATHSIG``); everywhere, a daemon thread polls
    the parent pid, which changes when the worker is re-parented.
    """
    if death_signal and sys.platform.startswith("linux"):
        with suppress(OSError, AttributeError):  # no usable libc: the thread below still works
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the death signal was set
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="dedup-parent-watch", daemon=True).start()


class _WorkerPool(ProcessPoolExecutor):
    """A process pool that, left by an exception (Ctrl-C, bad input), stops its workers at once.

    ``ProcessPoolExecutor`` would wait for the batches in flight, so Ctrl-C
    would take as long as the slowest batch.
    """

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        # Workers are started inside submit. Ctrl-C or SIGTERM arriving while one is being forked would
        # interrupt the parent before it records the new worker (which then waits for work forever, and
        # the parent for it at exit) and hit the child before _init_worker: hold them until submit returns;
        # the children start with them blocked, and unblock them once their own handling is set.
        if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
            return super().submit(fn, *args, **kwargs)
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            return super().submit(fn, *args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> bool:
        if exc_type is None:
            return bool(super().__exit__(exc_type, exc, traceback))
        # shutdown() drops these references; keep them to finish the job.
        processes = list((getattr(self, "_processes", None) or {}).values())
        manager = getattr(self, "_executor_manager_thread", None)
        results = getattr(self, "_result_queue", None)
        self.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=10)
        # A worker stopped while sending a result leaves half a message in the result pipe, and the pool's
        # manager thread waiting for the rest forever (the interpreter, at exit, waits for that thread).
        # With every worker gone, closing this process's end of the pipe turns the wait into end of file,
        # which the thread handles as a broken pool, and ends.
        writer = getattr(results, "_writer", None)
        if writer is not None:
            with suppress(OSError):
                writer.close()
        if manager is not None:
            manager.join(timeout=10)
        return False


def _executor(workers: int, config: Config, model: TopicModel | None) -> Executor:
    # The kernel's parent-death signal follows the thread that forks the workers (the first submit
    # runs in the thread that created the pool): only the main thread is sure to outlive the pool.
    death_signal = threading.current_thread() is threading.main_thread()
    return _WorkerPool(
        max_workers=workers, initializer=_init_worker, initargs=(config, model, os.getpid(), death_signal)
    )


def _ordered_map(executor: Executor, fn: Any, items: Iterable[Any], ahead: int) -> Iterator[tuple[Any, Any]]:
    """``executor.map`` that keeps at most ``ahead`` items in flight, so input streams.

    Yields:
        ``(item, fn(item))`` pairs, in input order.
    """
    pending: list[tuple[Any, Any]] = []
    for item in items:
        pending.append((item, executor.submit(fn, item)))
        if len(pending) >= ahead:
            item, future = pending.pop(0)
            yield item, future.result()
    while pending:
        item, future = pending.pop(0)
        yield item, future.result()


#: Stands for the document in an analysis sent back by a worker; :func:`_reattach` puts it back.
_SENT_BACK = Document("", "")


def _reattach(
    batch: list[Document | InvalidRecord], analysed: list[Analysis | InvalidRecord]
) -> list[Analysis | InvalidRecord]:
    for sent, item in zip(batch, analysed, strict=True):
        if isinstance(item, Analysis):
            assert isinstance(sent, Document)
            item.doc = sent
    return analysed


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1
