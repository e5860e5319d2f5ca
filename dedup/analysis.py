"""The within-document stages, as one pure function of a batch of documents.

:func:`analyse_batch` splits each document into paragraphs, normalises and
shingles them, signs them (one vectorised call per batch), finds repeats
within each document, scores topics and lets :mod:`dedup.decide` decide. It
holds no state between batches, so worker processes or a cluster engine can
run batches in any order with the same results.

Its result, an :class:`Analysis` per document, has one shape: every field is
filled, whatever the settings and wherever it was computed. What crosses a
process or machine boundary is stated here and nowhere else:
:func:`to_wire` turns a batch of analyses into a dict of plain arrays and
strings (no document text: the receiver has the documents), and
:func:`from_wire` turns it back, equal field for field.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dedup import decide, furniture, region
from dedup.config import Config
from dedup.data import Decision, Document, Reason, Ref
from dedup.match import find_repeats, repeat_lsh_params
from dedup.minhash import RECALL_SLACK, band_keys, lsh_params, signatures, sketches, union_signature
from dedup.read import limit_error
from dedup.shingle import exact_key, normalise, shingle_hashes
from dedup.split import flatten, paragraph_layout
from dedup.topic import Signal, TopicModel

#: Wire format version: bump when the arrays below change meaning.
WIRE_VERSION = 3
_REASONS = tuple(Reason)
_NO_REF = -1


@dataclass(frozen=True, slots=True, eq=False)
class Analysis:
    """What the within-document stages learnt about one document.

    Attributes:
        doc: The document.
        spans: ``(n, 2)`` start and end of each paragraph in ``doc.text``
            (:func:`dedup.split.paragraph_spans`).
        keys: ``(n,)`` uint64 keys of the normalised paragraphs (exact repeats).
        long: ``(n,)`` whether each paragraph is long enough for near-repeat matching.
        signatures: ``(n, num_perm)`` uint32 MinHash signatures of the paragraphs.
        decisions: One decision per paragraph (repeats within the document, topic).
        doc_keys: uint64 LSH band keys of the text the decisions keep.
        doc_sketch: The sketch of that text's signature.
        error: Why the document could not be analysed (a limit it breaks),
            else ``None``; an analysis with an error has no paragraphs.
        paragraphs: The mode the document was split in, ``"line"`` or
            ``"blank"`` (``auto`` chooses one per document).
    """

    doc: Document
    spans: np.ndarray
    keys: np.ndarray
    long: np.ndarray
    signatures: np.ndarray
    decisions: tuple[Decision, ...]
    doc_keys: np.ndarray
    doc_sketch: bytes
    error: str | None = None
    paragraphs: str = "line"

    def paragraph(self, index: int) -> str:
        """The text of paragraph ``index``, as in the input."""
        start, end = self.spans[index]
        return self.doc.text[start:end]

    def removed_texts(self, decisions: Sequence[Decision]) -> dict[int, str]:
        """The texts of the paragraphs these decisions remove."""
        return {d.index: self.paragraph(d.index) for d in decisions if not d.kept}


def analyse_batch(docs: Sequence[Document], config: Config, model: TopicModel | None) -> list[Analysis]:
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
    work: list[_Work] = []
    all_hashes: list[np.ndarray] = []
    for doc in docs:
        # The readers check the same limits; documents given to the library directly meet them here.
        error = limit_error(doc, config.input)
        if error is not None:
            work.append(_Work(doc, np.zeros((0, 2), np.int64), [], error=error))
            continue
        mode, spans, texts = paragraph_layout(doc.text, config.input.paragraphs)
        if mode == "blank":  # the shingles and the topic model see a wrapped paragraph as one line
            texts = [flatten(text) for text in texts]
        item = _Work(doc, spans, texts, paragraphs=mode)
        for text in item.texts:
            norm = normalise(text)
            # Lines of punctuation only ("***") compare by their raw form, not as one empty key.
            item.keys.append(exact_key(norm) if norm else exact_key("\0" + text.strip()))
            item.long.append(len(norm) >= config.dedup.min_chars)
            all_hashes.append(shingle_hashes(norm, size))
        work.append(item)
    all_signatures = signatures(all_hashes, config.shingle)
    all_band_keys = band_keys(all_signatures, *repeat_lsh_params(config.dedup, config.shingle))
    ready = [item for item in work if item.error is None]
    offset = 0
    for item in ready:
        n = len(item.texts)
        item.hashes = all_hashes[offset : offset + n]
        item.signatures = all_signatures[offset : offset + n]
        if config.dedup.enabled:
            repeats = find_repeats(
                item.keys, item.hashes, item.signatures, item.long, config.dedup, config.shingle,
                all_band_keys[offset : offset + n],
            )
        else:
            repeats = [None] * n
        item.decisions = decide.repeat_decisions(item.doc.id, repeats, [len(text) for text in item.texts])
        offset += n
    if config.furniture.region:
        _region_stage(ready)
    if config.furniture.enabled:
        _furniture_stage(ready, config)
    if model is not None and config.topic.enabled:
        _topic_stage(ready, config, model)
    for item in ready:
        if item.comments is not None:
            item.decisions = decide.comments_decisions(item.decisions, item.comments)
    return _freeze(work, config)


def document_signature(signature_rows: np.ndarray, decisions: Sequence[Decision], num_perm: int) -> np.ndarray:
    """The signature of the text a document keeps: the union of its kept paragraphs' sets."""
    return union_signature(signature_rows[[d.index for d in decisions if d.kept]], num_perm)


def document_lsh_params(config: Config) -> tuple[int, int]:
    """LSH bands and rows of the document index."""
    return lsh_params(config.dedup.doc_threshold, config.shingle.num_perm, RECALL_SLACK)


@dataclass
class _Work:
    """An analysis under construction, inside :func:`analyse_batch` only."""

    doc: Document
    spans: np.ndarray
    texts: list[str]
    error: str | None = None
    paragraphs: str = "line"
    keys: list[int] = field(default_factory=list)
    long: list[bool] = field(default_factory=list)
    hashes: list[np.ndarray] = field(default_factory=list)
    signatures: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.uint32))
    decisions: list[Decision] = field(default_factory=list)
    #: The paragraph that opens the page's reader comments (:func:`dedup.region.comments_start`), if any.
    comments: int | None = None


def _freeze(work: list[_Work], config: Config) -> list[Analysis]:
    """The analyses of a batch, with the band keys and sketches of each document's kept text computed at once."""
    num_perm = config.shingle.num_perm
    ready = [item for item in work if item.error is None]
    doc_signatures = np.full((len(ready) + 1, num_perm), np.iinfo(np.uint32).max, np.uint32)  # last: for errors
    for k, item in enumerate(ready):
        doc_signatures[k] = document_signature(item.signatures, item.decisions, num_perm)
    doc_keys = band_keys(doc_signatures, *document_lsh_params(config))
    doc_sketches = sketches(doc_signatures)
    out = []
    next_ready = iter(range(len(ready)))
    for item in work:
        k = len(ready) if item.error is not None else next(next_ready)
        out.append(
            Analysis(
                item.doc,
                item.spans,
                np.array(item.keys, dtype=np.uint64),
                np.array(item.long, dtype=bool),
                item.signatures if item.error is None else np.zeros((0, num_perm), np.uint32),
                tuple(item.decisions),
                doc_keys[k],
                doc_sketches[k] if item.error is None else b"",
                item.error,
                item.paragraphs,
            )
        )
    return out


def _region_stage(work: list[_Work]) -> None:
    """Remove what stands outside each page's article region (:mod:`dedup.region`).

    The region, and where the reader comments start, are found among the
    paragraphs the repeat stage kept (a page scraped twice is read once),
    so that cleaning the output again finds the same region. When the rule
    removes the first copy of a repeated paragraph, the next copy is put
    back (:func:`dedup.decide.promote_copies`) and the region is found
    again with it in its place. The comments go later, once the topic
    stage has read the page (:func:`analyse_batch`).
    """
    for item in work:
        while True:
            kept = [d.index for d in item.decisions if d.kept]
            texts = [item.texts[i] for i in kept]
            weights = region.article_weights(texts)
            scores = np.zeros(len(item.texts))
            scores[kept] = region.outside_scores(weights)
            start = region.comments_start(texts, weights)
            item.comments = kept[start] if start < len(kept) else None
            if not scores.any():
                break
            item.decisions = decide.region_decisions(item.decisions, scores)
            item.decisions, heirs = decide.promote_copies(item.decisions)
            if not heirs:
                break


def _furniture_stage(work: list[_Work], config: Config) -> None:
    """Score every paragraph of the batch as page furniture, in one pass, and remove what reaches the threshold.

    The model reads each page as it stands, repeats included (a line's
    neighbours and place in the page are signals). When it removes the first
    copy of a repeated paragraph, the next copy is put back
    (:func:`dedup.decide.promote_copies`) and judged by its own score, so a
    repeat never points at removed text.
    """
    model = furniture.cached_model(config.furniture.model)
    threshold = model.threshold_ if config.furniture.threshold is None else config.furniture.threshold
    matrix = furniture.signals([item.texts for item in work])
    scores = model.score_signals(matrix)
    offset = 0
    for item in work:
        n = len(item.texts)
        rows = matrix[offset : offset + n]
        while True:
            item.decisions = decide.furniture_decisions(
                item.decisions, scores[offset : offset + n], threshold,
                explain=lambda indexes, rows=rows: model.signal_contributions(rows[indexes]),  # type: ignore[misc]
            )
            item.decisions, heirs = decide.promote_copies(item.decisions)
            if not heirs:
                break
        offset += n


def _topic_stage(work: list[_Work], config: Config, model: TopicModel) -> None:
    """Score the paragraphs the repeat stage kept, for the whole batch in one transform per round.

    Removing a run of teasers leaves a document with a new last paragraph and
    a cleaner centroid, so the kept paragraphs of each document that lost
    some are scored again, up to ``config.topic.rounds`` times: a teaser
    that scored below the threshold beside the others often stands out
    once they are gone, and cleaning the output again then finds (almost)
    nothing more to remove. Later rounds keep each paragraph's position in
    the first round: a paragraph does not look more like a trailer because
    the trailer after it was removed.

    When a round removes the first copy of a repeated paragraph, the next
    copy is put back (:func:`dedup.decide.promote_copies`) and judged in the
    next round, at its own position, even past the round limit.
    """
    placed = [[d.index for d in item.decisions if d.kept] for item in work]
    pending = [k for k in range(len(work)) if placed[k]]
    round_ = 0
    while pending:
        candidates = [[d.index for d in work[k].decisions if d.kept] for k in pending]
        features = model.signals_batch(
            [[work[k].texts[i] for i in kept] for k, kept in zip(pending, candidates, strict=True)],
            [[work[k].hashes[i] for i in kept] for k, kept in zip(pending, candidates, strict=True)],
        )
        changed, promoted_now = [], set()
        for k, kept, matrix in zip(pending, candidates, features, strict=True):
            item = work[k]
            if round_:
                rank = {index: n for n, index in enumerate(placed[k])}
                matrix[:, Signal.POSITION] = [rank[i] / max(len(placed[k]) - 1, 1) for i in kept]
            junk, substantial = model.shapes(matrix)
            scores = model.score_signals(matrix)
            item.decisions = decide.topic_decisions(
                item.decisions, kept, scores, junk, substantial, config.topic,
                explain=lambda rows, matrix=matrix: model.contributions(matrix[rows]),  # type: ignore[misc]
                lengths=np.fromiter((len(item.texts[i]) for i in kept), np.int64, len(kept)),
                furniture_shaped=model.furniture_shaped(matrix),
                teaser_form=model.teaser_form(matrix),
                captions=model.captions(matrix),
            )
            removed = sum(d.kept for d in item.decisions) < len(kept)
            item.decisions, heirs = decide.promote_copies(item.decisions)
            if heirs:
                placed[k] = sorted(placed[k] + heirs)
                promoted_now.add(k)
            if removed or heirs:
                changed.append(k)
        round_ += 1
        # Past the round limit, only documents with copies put back are judged again.
        pending = changed if round_ < config.topic.rounds else [k for k in changed if k in promoted_now]


# -- the wire -------------------------------------------------------------------------------------


def to_wire(analyses: Sequence[Analysis]) -> dict[str, Any]:
    """A batch of analyses as plain arrays and strings, for another process or machine.

    The documents themselves are left out: the receiver has them (it sent
    them). Within-document repeats point into their own document, so a
    decision's ``duplicate_of`` travels as a paragraph index.

    Returns:
        A dict of numpy arrays, plus ``errors`` and ``metadata`` as JSON text.
    """
    counts = np.array([len(a.spans) for a in analyses], dtype=np.int64)
    decisions = [d for a in analyses for d in a.decisions]
    if len(decisions) != int(counts.sum()):
        raise ValueError("every analysis needs one decision per paragraph")
    num_perm = analyses[0].signatures.shape[1] if analyses else 0
    return {
        "version": WIRE_VERSION,
        "counts": counts,
        "spans": _concat([a.spans for a in analyses], (0, 2), np.int64),
        "keys": _concat([a.keys for a in analyses], (0,), np.uint64),
        "long": _concat([a.long for a in analyses], (0,), bool),
        "signatures": _concat([a.signatures for a in analyses], (0, num_perm), np.uint32),
        "kept": np.fromiter((d.kept for d in decisions), bool, len(decisions)),
        "reason": np.fromiter(
            (-1 if d.reason is None else _REASONS.index(d.reason) for d in decisions), np.int8, len(decisions)
        ),
        "score": np.fromiter((d.score for d in decisions), np.float64, len(decisions)),
        "repeat_of": np.fromiter(
            (_NO_REF if d.duplicate_of is None else d.duplicate_of.paragraph for d in decisions),
            np.int64,
            len(decisions),
        ),
        "metadata": json.dumps({str(n): d.metadata for n, d in enumerate(decisions) if d.metadata}),
        "doc_keys": _concat([a.doc_keys[None, :] for a in analyses], (0, 0), np.uint64),
        "doc_sketches": np.frombuffer(b"".join(a.doc_sketch for a in analyses), np.uint8),
        "sketch_lengths": np.array([len(a.doc_sketch) for a in analyses], dtype=np.int64),
        "errors": json.dumps([a.error for a in analyses]),
        "blank": np.fromiter((a.paragraphs == "blank" for a in analyses), bool, len(analyses)),
    }


def from_wire(wire: dict[str, Any], docs: Sequence[Document]) -> list[Analysis]:
    """The analyses :func:`to_wire` encoded, given the documents they are of.

    Raises:
        ValueError: The wire holds another format version or another number of documents.
    """
    if wire.get("version") != WIRE_VERSION:
        raise ValueError(f"analysis wire format {wire.get('version')!r}, expected {WIRE_VERSION}")
    counts = wire["counts"]
    if len(counts) != len(docs):
        raise ValueError(f"the wire holds {len(counts)} analyses for {len(docs)} documents")
    ends = np.cumsum(counts).tolist()
    sketch_ends = np.cumsum(wire["sketch_lengths"]).tolist()
    kept = wire["kept"].tolist()
    reasons = wire["reason"].tolist()
    scores = wire["score"].tolist()
    repeat_of = wire["repeat_of"].tolist()
    metadata = {int(n): value for n, value in json.loads(wire["metadata"]).items()}
    errors = json.loads(wire["errors"])
    blank = wire["blank"].tolist()
    sketch_bytes = wire["doc_sketches"].tobytes()
    out = []
    start = sketch_start = 0
    for k, doc in enumerate(docs):
        end, sketch_end = ends[k], sketch_ends[k]
        decisions = tuple(
            Decision(
                n - start,
                kept[n],
                None if reasons[n] < 0 else _REASONS[reasons[n]],
                scores[n],
                None if repeat_of[n] == _NO_REF else Ref(doc.id, repeat_of[n]),
                metadata.get(n, {}),
            )
            for n in range(start, end)
        )
        out.append(
            Analysis(
                doc,
                wire["spans"][start:end],
                wire["keys"][start:end],
                wire["long"][start:end],
                wire["signatures"][start:end],
                decisions,
                wire["doc_keys"][k],
                sketch_bytes[sketch_start:sketch_end],
                errors[k],
                "blank" if blank[k] else "line",
            )
        )
        start, sketch_start = end, sketch_end
    return out


def _concat(parts: list[np.ndarray], empty: tuple[int, ...], dtype: Any) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(empty, dtype)


def analyse_to_wire(docs: Sequence[Document], config: Config, model: TopicModel | None) -> dict[str, Any]:
    """:func:`analyse_batch`, encoded for the wire: what a worker process runs."""
    return to_wire(analyse_batch(docs, config, model))
