"""The cleaner: runs the stages over a stream of documents.

Work is split in two, so that it can run anywhere:

- :func:`dedup.analysis.analyse_batch` is a pure function of a batch of
  documents and the settings (every within-document stage). Batches run in
  this process, or in worker processes (:mod:`dedup.pool`), whose results
  cross back in the encoding :mod:`dedup.analysis` defines.
- :meth:`Cleaner.resolve` then takes each analysed document in input
  order and consults the cross-document index (boilerplate lines,
  near-duplicate documents, optionally repeated paragraphs): the first
  occurrence in input order wins, whatever the number of workers.

Every decision is :mod:`dedup.decide`'s; this module measures and asks.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from itertools import chain, islice
from types import TracebackType
from typing import Any

from dedup import decide
from dedup.analysis import Analysis, analyse_batch, analyse_to_wire, document_lsh_params, document_signature, from_wire
from dedup.config import Config
from dedup.data import CleanResult, Decision, Document, Ref
from dedup.errors import InputError
from dedup.minhash import band_keys, lsh_params, sketch
from dedup.pool import default_workers, ordered_map
from dedup.read import InvalidRecord, document_from_record
from dedup.split import join_kept
from dedup.store import IndexStore, Match, MemoryStore, open_store
from dedup.topic import TopicModel

__all__ = ["BATCH_SIZE", "Cleaner", "default_workers"]

logger = logging.getLogger(__name__)

BATCH_SIZE = 256

_Batch = list[Document | InvalidRecord]


class Cleaner:
    """Removes repeated and off-topic paragraphs, and repeated documents.

    Args:
        config: Settings; defaults to ``Config()``.
        index: The cross-document index: a store, or the URL of one for
            :func:`dedup.store.open_store` (``file:///abs/index.npz`` or a
            path, ``redis://host:6379/0?prefix=crawl``), which the cleaner
            then opens and closes; defaults to a fresh in-memory one.
        model: The topic model; defaults to the one named by
            ``config.topic.model``, else the model shipped with the package.
        workers: Processes for the within-document stages (1: in-process).
            The output is the same for any number; an input of one batch
            (a single document, say) is always cleaned in-process.

    A cleaner remembers the documents it has seen (in its index): the same
    text given twice comes back the second time as a ``duplicate_document``
    with empty text. ``clean_text(text, remember=False)`` cleans one text
    against nothing but itself. A cleaner that opened its index from a URL
    saves a file index when closed: use it in a ``with`` block or call
    :meth:`close` (leaving the block by an exception keeps the file as it was).

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
        index: IndexStore | str | os.PathLike[str] | None = None,
        *,
        model: TopicModel | None = None,
        workers: int = 1,
    ) -> None:
        self.config = config or Config()
        fingerprint, settings = self.config.fingerprint(), self.config.index_settings()
        self._owns_index = not isinstance(index, IndexStore)
        if index is None:
            index = MemoryStore(fingerprint, settings)
        elif not isinstance(index, IndexStore):
            index = open_store(os.fspath(index), fingerprint, settings)
        index.check_fingerprint(fingerprint, settings)
        self.index = index
        if model is None and self.config.topic.enabled:
            path = self.config.topic.model
            model = TopicModel.load(path) if path else TopicModel.default()
        if model is not None and self.config.topic.enabled:
            model.check_compatible(self.config.shingle)
        self.model = model
        self.workers = max(1, int(workers))
        self._texts = 0

    def close(self) -> None:
        """Close the index if the cleaner opened it (a file index is saved then)."""
        if self._owns_index:
            self.index.close()

    def __enter__(self) -> Cleaner:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._owns_index:
            self.index.__exit__(exc_type, exc, traceback)

    # -- public API ---------------------------------------------------------------------------

    def clean_text(self, text: str, id: str | None = None, *, remember: bool = True) -> CleanResult:
        """Clean one text, in-process.

        Args:
            text: The text.
            id: Its id (``text-N`` when not given).
            remember: Clean it as one more document of this cleaner's run
                (checked against, and added to, the index); with ``False``
                only the within-document stages and an empty index see it,
                and the index is left as it was.
        """
        if id is None:
            self._texts += 1
            id = f"text-{self._texts}"
        doc = Document(id, text)
        if remember:
            return next(self.clean([doc]))
        analysis = analyse_batch([doc], self.config, self.model)[0]
        if analysis.error is not None:
            raise InputError(analysis.error, "<documents>", None)
        return self.resolve(analysis, MemoryStore(self.config.fingerprint()))

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
        first = next(batches, None)
        second = next(batches, None) if self.workers > 1 else None
        if second is None:  # one batch is not worth starting processes for
            analysed = (self._analyse(batch) for batch in chain([first] if first else [], batches))
        else:
            analysed = (
                _reattach(batch, from_wire(wire, [item for item in batch if isinstance(item, Document)]))
                for batch, wire in ordered_map(
                    _analyse_wire, chain([first, second], batches), workers=self.workers,
                    context=(self.config, self.model),
                )
            )
        for batch in analysed:
            for item in batch:
                if isinstance(item, InvalidRecord):
                    yield decide.invalid(item)
                elif item.error is not None:
                    raise InputError(item.error, item.doc.source or "<documents>", item.doc.line)
                else:
                    yield self.resolve(item)

    # -- internals ----------------------------------------------------------------------------

    def _batches(self, documents: Iterable[Any]) -> Iterator[_Batch]:
        iterator = iter(documents)
        position = 0
        while True:
            batch: _Batch = []
            for item in islice(iterator, BATCH_SIZE):
                position += 1
                if isinstance(item, (Document, InvalidRecord)):
                    batch.append(item)
                else:
                    batch.append(document_from_record(item, self.config.input, "<documents>", position))
            if not batch:
                return
            logger.info("batch of documents %d to %d", position - len(batch) + 1, position)
            yield batch

    def _analyse(self, batch: _Batch) -> list[Analysis | InvalidRecord]:
        analyses = analyse_batch([item for item in batch if isinstance(item, Document)], self.config, self.model)
        return _reattach(batch, analyses)

    def resolve(self, analysis: Analysis, store: IndexStore | None = None) -> CleanResult:
        """The cross-document stages for one analysed document, against ``store`` (this cleaner's index).

        Call it in input order: the first occurrence wins. It measures with
        the index and lets :mod:`dedup.decide` decide. Engines that analyse
        batches elsewhere (:mod:`dedup.engines`) finish each document here.
        """
        config, doc = self.config, analysis.doc
        store = self.index if store is None else store
        decisions: list[Decision] = list(analysis.decisions)
        drop, resigned = None, False
        if config.dedup.boilerplate:
            short = [
                i for i in _kept(decisions)
                if analysis.spans[i, 1] - analysis.spans[i, 0] <= config.dedup.boilerplate_max_chars
            ]
            seen = {i: store.add_and_count("line", int(analysis.keys[i]), doc.id) for i in short}
            decisions = decide.boilerplate(decisions, seen, config.dedup)
            resigned = any(not d.kept for d, before in zip(decisions, analysis.decisions, strict=True) if before.kept)
        if config.dedup.documents and any(d.kept for d in decisions):
            keys, doc_sketch = analysis.doc_keys, analysis.doc_sketch
            if resigned:  # the kept text changed since the analysis signed it
                signature = document_signature(analysis.signatures, decisions, config.shingle.num_perm)
                keys = band_keys(signature[None, :], *document_lsh_params(config))[0]
                doc_sketch = sketch(signature)
            match = store.check_and_insert("doc", keys.tolist(), doc_sketch, Ref(doc.id), config.dedup.doc_threshold)
            drop = decide.duplicate_document(match)
        if drop is None and config.dedup.cross_doc_paragraphs:
            decisions = self._cross_document_repeats(analysis, decisions, store)
        if drop is None:
            drop = decide.empty(decisions)
        text = join_kept(doc.text, analysis.spans, [d.kept for d in decisions]) if drop is None else ""
        return decide.result(doc, decisions, drop, text, analysis.removed_texts(decisions), analysis.paragraphs)

    def _cross_document_repeats(
        self, analysis: Analysis, decisions: list[Decision], store: IndexStore
    ) -> list[Decision]:
        config, doc = self.config, analysis.doc
        kept = _kept(decisions)
        if not kept:
            return decisions
        all_keys = band_keys(analysis.signatures[kept], *lsh_params(config.dedup.threshold, config.shingle.num_perm))
        exact: dict[int, Ref] = {}
        near: dict[int, Match] = {}
        threshold = config.dedup.threshold
        for i, keys in zip(kept, all_keys.tolist(), strict=True):
            ref = Ref(doc.id, i)
            earlier = store.check_and_insert_exact("para-exact", int(analysis.keys[i]), ref)
            if earlier is not None:
                exact[i] = earlier
            elif analysis.long[i]:
                match = store.check_and_insert("para", keys, sketch(analysis.signatures[i]), ref, threshold)
                if match is not None:
                    near[i] = match
        return decide.cross_document_repeats(decisions, exact, near)


def _kept(decisions: Iterable[Decision]) -> list[int]:
    return [d.index for d in decisions if d.kept]


def _reattach(batch: _Batch, analyses: list[Analysis]) -> list[Analysis | InvalidRecord]:
    """The batch in order, each document replaced by its analysis."""
    it = iter(analyses)
    return [item if isinstance(item, InvalidRecord) else next(it) for item in batch]


def _analyse_wire(batch: _Batch, config: Config, model: TopicModel | None) -> dict[str, Any]:
    """What a worker process does with a batch: analyse it and encode the result for the wire."""
    return analyse_to_wire([item for item in batch if isinstance(item, Document)], config, model)
