"""The signal matrix: what the topic model knows about each paragraph.

A document's paragraphs become TF-IDF vectors over hashed character
shingles (the shingles the repeat stages use, so nothing is tokenised
twice); cosines between them say how each paragraph coheres with the rest of
its document; :mod:`dedup.topic.form` and the paragraph's length and
position add the rest. The result is one row per paragraph and one column
per :class:`Signal`: always address a column by its name, as
``matrix[:, Signal.POSITION]``.

Signals (see ``docs/topic.md``):

- ``cohesion``: cosine with the length- and position-weighted centroid of
  the other paragraphs (leave one out); the lead weighs most, since teasers
  and widgets come after the article.
- ``prefix``: cosine with the centroid of the paragraphs before it: text
  appended after an article coheres with nothing before it.
- ``lead``: cosine with the document's first paragraph.
- ``best_earlier``: the highest cosine with any earlier paragraph.
- ``relative_cohesion``: ``cohesion`` against the document's best.
  The four cosine signals (:data:`COSINES`) enter as logarithms.
- ``position``: relative position in the document.
- ``unterminated``, ``kicker``: cut mid-sentence; starts with a CAPS kicker.
  A label that opens two paragraphs of one document or more is no kicker:
  each teaser carries its own, while a speaker's name in a transcript or
  an interview ("MARGARET WARNER:") and a recurring section label open
  many paragraphs of the article (:func:`recurring_labels`).
  ``long_unterminated``: cut mid-sentence and long, as teasers are (a short
  unterminated line is more often a list item of the article).
- ``caption``, ``chrome``: the shape of photo credits and page chrome.
- ``short_run``: a short line among short lines (a list); ``under_header``:
  an unterminated line in such a run opened by a chrome header ("Most read").
  A line with a year or a time of day is no list item under a header: it
  is a byline or a dateline ("Posted by Dave on August 13th, 2012"),
  which belongs to the article.
  ``short_plain``: a short line with no caption or chrome shape: too short
  for cohesion to say much, and often the article's own list item.
- ``log_length``, ``length_ratio``: length, and length against the median.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from itertools import islice
from typing import Any

import numpy as np
import scipy.sparse as sp

from dedup.errors import InputError
from dedup.shingle import normalise, shingle_hashes
from dedup.topic.form import FORM_SIGNALS, form_signals, kicker_label


class Signal(IntEnum):
    """The columns of a signal matrix: ``matrix[:, Signal.CAPTION]``.

    The saved model records :data:`FEATURES` and refuses to load against
    other names or another order.
    """

    COHESION = 0
    PREFIX = 1
    LEAD = 2
    BEST_EARLIER = 3
    RELATIVE_COHESION = 4
    POSITION = 5
    UNTERMINATED = 6
    LONG_UNTERMINATED = 7
    KICKER = 8
    CAPTION = 9
    CHROME = 10
    SHORT_RUN = 11
    UNDER_HEADER = 12
    SHORT_PLAIN = 13
    LOG_LENGTH = 14
    LENGTH_RATIO = 15


#: The signal names, in column order.
FEATURES = tuple(signal.name.lower() for signal in Signal)
#: The cosine signals, computed together and entered as logarithms.
COSINES = (Signal.COHESION, Signal.PREFIX, Signal.LEAD, Signal.BEST_EARLIER)
#: What the signals measure, as a number: part of an index's settings (see
#: :meth:`dedup.config.Config.index_settings`), since a change to it changes what the topic stage
#: keeps. 2: a label that recurs in a document is no kicker; a dated line is not under a header.
#: 3: a notice or credit after an ended sentence of eight words does not make the line chrome.
SIGNALS_VERSION = 3
_FORM_COLUMNS = np.array([Signal[name.upper()] for name in FORM_SIGNALS])
_EPS = 0.005  # added to the cosines before their logarithm
# What dates a byline or a dateline: a year of the last two centuries or a time of day.
_DATED = re.compile(r"\b(?:1[89]|20)[0-9]{2}\b|\b[0-9]{1,2}:[0-5][0-9]\b")

_BLOCK = 256  # paragraphs compared at once in long documents; best_earlier looks back 1 to 2 blocks
_DENSE_LIMIT = 1 << 21  # (paragraphs x buckets) cells up to which best_earlier looks back at every paragraph
_CHUNK = 1 << 19  # shingles turned into TF-IDF rows at once: about 50 bytes of working memory each
_CELLS = 1 << 20  # pairs of paragraphs compared at once
_KEEP = 1 << 20  # TF-IDF entries of one long document kept between its two passes rather than recomputed
_ROWS = 1 << 16  # paragraphs whose form signals are gathered at once


def paragraph_hashes(paragraphs: Sequence[str], size: int) -> list[np.ndarray]:
    """The shingle hashes of each paragraph, as the repeat stages make them."""
    return [shingle_hashes(normalise(p), size) for p in paragraphs]


def bucket_counts(hash_sets: Sequence[np.ndarray], n_features: int) -> sp.csr_matrix:
    """A ``(len(hash_sets), n_features)`` matrix counting each row's hashes per bucket."""
    mask = np.uint32(n_features - 1)
    indptr = np.zeros(len(hash_sets) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(h) for h in hash_sets])
    indices = (np.concatenate(hash_sets) & mask).astype(np.int32) if len(hash_sets) else np.zeros(0, np.int32)
    data = np.ones(len(indices), dtype=np.float64)
    counts = sp.csr_matrix((data, indices, indptr), shape=(len(hash_sets), n_features))
    counts.sum_duplicates()
    return counts


@dataclass(frozen=True, eq=False)
class SignalBuilder:
    """Builds signal matrices with fitted IDF weights.

    :class:`dedup.topic.TopicModel` makes one from its parameters and fitted
    arrays; use :meth:`dedup.topic.TopicModel.signals_batch` rather than this.

    Attributes:
        idf: IDF weight of each hash bucket (the number of buckets is a power of two).
        shingle_size: Characters per shingle.
        lead_weight: Extra centroid weight of the first paragraph.
        decay: How fast later paragraphs lose centroid weight.
    """

    idf: np.ndarray
    shingle_size: int
    lead_weight: float
    decay: float

    def batch(
        self,
        documents: Sequence[Sequence[str]],
        hashes: Sequence[Sequence[np.ndarray]] | None = None,
    ) -> list[np.ndarray]:
        """Signal matrices of many documents.

        Documents of up to ``_BLOCK`` paragraphs are scored together, a group
        of them at a time, with array operations over the whole group. A
        longer or larger document is scored on its own in blocks of
        paragraphs, so its working memory beyond the hashes and the returned
        matrix stays under about 100 bytes a paragraph plus a few tens of MB.

        Args:
            documents: Each document's paragraphs, in order.
            hashes: Their shingle hashes, if already computed (same shape).

        Returns:
            One ``(paragraphs, len(Signal))`` matrix per document.

        Raises:
            InputError: ``hashes`` does not have the shape of ``documents``.
        """
        if hashes is None:
            hashes = [paragraph_hashes(doc, self.shingle_size) for doc in documents]
        if len(hashes) != len(documents):
            raise InputError(f"got {len(documents)} documents but hashes for {len(hashes)}")
        out: list[np.ndarray] = [np.zeros((0, len(Signal))) for _ in documents]
        group: list[int] = []
        shingles = cells = 0
        for k, (paragraphs, doc_hashes) in enumerate(zip(documents, hashes, strict=True)):
            m = len(paragraphs)
            if len(doc_hashes) != m:
                raise InputError(f"a document has {m} paragraphs but hashes for {len(doc_hashes)}")
            if m == 0:
                continue
            size = sum(map(len, doc_hashes))
            if m > _BLOCK or size > _CHUNK:
                out[k] = self._large(paragraphs, doc_hashes)
                continue
            if group and (shingles + size > _CHUNK or cells + m * (m + 1) // 2 > _CELLS):
                self._group(documents, hashes, group, out)
                group, shingles, cells = [], 0, 0
            group.append(k)
            shingles += size
            cells += m * (m + 1) // 2
        if group:
            self._group(documents, hashes, group, out)
        return out

    def _entries(
        self, hashes: Sequence[np.ndarray], row_doc: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The L2-normalised TF-IDF entries of some paragraphs.

        The arithmetic is scikit-learn's ``TfidfTransformer(sublinear_tf=True)``
        to the last bit: ``1 + log(count)`` times the IDF, each row divided by
        its norm summed in bucket order.

        Args:
            hashes: Each paragraph's shingle hashes.
            row_doc: Each paragraph's document, if they are of several.

        Returns:
            ``(row, new_column, bucket, value)``: the entries sorted by
            bucket, then row; ``new_column`` marks where a (bucket, document)
            column begins, so that they are a CSC matrix as they stand.
        """
        n = len(hashes)
        n_features = len(self.idf)
        mask = n_features - 1
        row_bits = max((n - 1).bit_length(), 1)
        # One key per shingle sorts by (bucket, row): runs of equal keys are the term counts. A 32-bit
        # key, when bucket and row fit in one, sorts in about 60 % of the time of a 64-bit one.
        key_type = np.dtype(np.uint32 if mask.bit_length() + row_bits <= 32 else np.int64)
        sizes = np.fromiter(map(len, hashes), np.int64, n)
        keys_parts, count_parts = [], []
        for lo, hi in _pieces(sizes):
            if hi - lo == 1 and sizes[lo] > _CHUNK:  # one huge paragraph: count its buckets in slices
                counts = np.zeros(n_features, np.int64)
                for s in range(0, int(sizes[lo]), _CHUNK):
                    counts += np.bincount(hashes[lo][s : s + _CHUNK] & np.uint32(mask), minlength=n_features)
                buckets = np.flatnonzero(counts)
                keys_parts.append((buckets << row_bits) | lo)
                count_parts.append(counts[buckets])
                continue
            keys: np.ndarray[Any, Any] = (np.concatenate(hashes[lo:hi]) & np.uint32(mask)).astype(key_type, copy=False)
            keys <<= row_bits
            keys |= np.repeat(np.arange(lo, hi, dtype=key_type), sizes[lo:hi])
            keys.sort()
            first = np.empty(len(keys), dtype=bool)
            first[:1] = True
            np.not_equal(keys[1:], keys[:-1], out=first[1:])
            where = np.flatnonzero(first)
            keys_parts.append(keys[where])
            count_parts.append(np.diff(where, append=len(keys)))
            del keys, first
        if len(keys_parts) == 1:
            keys, counts = keys_parts[0], count_parts[0]
        elif keys_parts:
            keys, counts = np.concatenate(keys_parts), np.concatenate(count_parts)
            order = np.argsort(keys)
            keys, counts = keys[order], counts[order]
        else:
            keys, counts = np.zeros(0, np.int64), np.zeros(0, np.int64)
        del keys_parts, count_parts
        row = (keys & ((1 << row_bits) - 1)).astype(np.int64)
        bucket = (keys >> row_bits).astype(np.int64)
        del keys
        new_column = np.empty(len(row), dtype=bool)
        new_column[:1] = True
        np.not_equal(bucket[1:], bucket[:-1], out=new_column[1:])
        if row_doc is not None:
            doc = row_doc[row]
            new_column[1:] |= doc[1:] != doc[:-1]
        value = np.log(counts.astype(np.float64))
        value += 1.0
        value *= self.idf[bucket]
        value /= np.sqrt(np.bincount(row, weights=value * value, minlength=n))[row]
        return row, new_column, bucket, value

    def _weights(self, lengths: np.ndarray, local: np.ndarray) -> np.ndarray:
        weight = np.minimum(1.0, np.sqrt(lengths / 200.0)) / (1.0 + self.decay * local)
        weight[local == 0] *= self.lead_weight
        return weight

    def _group(
        self,
        documents: Sequence[Sequence[str]],
        hashes: Sequence[Sequence[np.ndarray]],
        group: list[int],
        out: list[np.ndarray],
    ) -> None:
        """Signals of the documents ``group`` (each of at most ``_BLOCK`` paragraphs), into ``out``.

        The cosines of each document's pairs of paragraphs come from one
        sparse product for all documents at once; they are kept in one flat
        array holding, per document, the lower triangle of its (paragraphs x
        paragraphs) matrix, row after row.
        """
        paragraphs = [p for k in group for p in documents[k]]
        sizes = np.fromiter((len(documents[k]) for k in group), np.int64, len(group))
        starts = np.zeros(len(group) + 1, dtype=np.int64)
        np.cumsum(sizes, out=starts[1:])
        row_doc = np.repeat(np.arange(len(group)), sizes)
        local = np.arange(len(paragraphs)) - starts[row_doc]
        row, new_column, _, value = self._entries([h for k in group for h in hashes[k]], row_doc)
        columns = _csc(row, new_column, value, len(paragraphs))
        # Columns are (bucket, document) pairs: the product holds each document's pairs only.
        products = (columns.tocsr() @ columns.T).tocoo()
        lower = products.col <= products.row
        tri_start = np.cumsum(local) + np.arange(len(local)) - local  # where each row's cells begin
        gram = np.zeros(int(tri_start[-1] + local[-1] + 1))
        gram[tri_start[products.row[lower]] + local[products.col[lower]]] = products.data[lower]
        del columns, products, lower
        lengths = np.fromiter(map(len, paragraphs), np.float64, len(paragraphs))
        features = np.empty((len(paragraphs), len(Signal)), dtype=np.float64)
        cosines = _group_cosines(gram, tri_start, local, starts, row_doc, self._weights(lengths, local))
        for signal, values in zip(COSINES, cosines, strict=True):
            features[:, signal] = values
        _assemble(paragraphs, lengths, local, starts, row_doc, features)
        for i, k in enumerate(group):
            out[k] = features[starts[i] : starts[i + 1]]

    def _large(self, paragraphs: Sequence[str], hashes: Sequence[np.ndarray]) -> np.ndarray:
        """Signals of one long or large document, in blocks of paragraphs."""
        m = len(paragraphs)
        lengths = np.fromiter(map(len, paragraphs), np.float64, m)
        local = np.arange(m)
        out = np.empty((m, len(Signal)), dtype=np.float64)
        self._blocked_cosines(hashes, self._weights(lengths, local), out)
        _assemble(paragraphs, lengths, local, np.array([0, m]), None, out)
        return out

    def _block_rows(self, hashes: Sequence[np.ndarray]) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """TF-IDF rows of consecutive paragraphs of one document, over the buckets they use.

        Returns:
            ``(rows, buckets, squared_norms)``: ``rows`` is CSR, column
            ``j`` standing for bucket ``buckets[j]``.
        """
        n = len(hashes)
        row, new_column, bucket, value = self._entries(hashes)
        rows = _csc(row, new_column, value, n).tocsr()
        return rows, bucket[new_column], np.bincount(row, weights=value * value, minlength=n)

    def _blocked_cosines(self, hashes: Sequence[np.ndarray], weight: np.ndarray, out: np.ndarray) -> None:
        """The cosine signals of one document, a span of blocks at a time.

        A first pass accumulates what needs the whole document (the weighted
        centroid, the lead paragraph, per-row norms); a second computes the
        signals block by block, recomputing the TF-IDF rows from the hashes
        unless the whole document's rows are small enough to keep.
        ``best_earlier`` looks back ``_BLOCK`` to ``2 * _BLOCK`` paragraphs,
        or at every earlier one in a document that would fit in
        ``_DENSE_LIMIT`` cells densely (the model was fitted that way).

        Args:
            hashes: The document's shingle hashes, one array per paragraph.
            weight: Each paragraph's centroid weight.
            out: The document's signal matrix: the :data:`COSINES` go to
                their columns (held there rather than twice: a document may
                have millions of paragraphs).
        """
        m = len(hashes)
        spans = _spans(np.fromiter(map(len, hashes), np.int64, m))
        n_features = len(self.idf)
        centroid = np.zeros(n_features)
        used = np.zeros(n_features, dtype=bool)
        head = np.zeros(n_features)  # the lead paragraph's vector
        diag, lead, earlier = np.empty(m), out[:, Signal.LEAD], out[:, Signal.BEST_EARLIER]
        kept: list[tuple[sp.csr_matrix, np.ndarray]] | None = []
        kept_size = 0
        for s, e in spans:
            rows, buckets, diag[s:e] = self._block_rows(hashes[s:e])
            if s == 0:
                lead_row = rows[0]
                head[buckets[lead_row.indices]] = lead_row.data
            lead[s:e] = rows @ head[buckets]
            centroid[buckets] += rows.T @ weight[s:e]
            used[buckets] = True
            if kept is not None:
                kept_size += rows.nnz
                kept.append((rows, buckets))
                # A document that may still look back at every paragraph must be kept
                # (it holds at most _DENSE_LIMIT entries); others only while small.
                if kept_size > _KEEP and m * np.count_nonzero(used) > _DENSE_LIMIT:
                    kept = None
        if m == 1:
            out[:, COSINES] = 1.0
            return
        lead[0] = lead[1]
        columns = np.flatnonzero(used)
        full = m * max(len(columns), 1) <= _DENSE_LIMIT
        sw, dots = np.empty(m), np.empty(m)
        if kept is not None:
            position = np.zeros(n_features, dtype=np.int64)
            position[columns] = np.arange(len(columns))
            width = len(columns)
            pieces = [sp.csr_matrix((r.data, position[b[r.indices]], r.indptr), (r.shape[0], width)) for r, b in kept]
            whole = sp.vstack(pieces, format="csr")
            del pieces
            kept = None
            _sweep(whole, 0, 0, weight, centroid[columns], np.zeros(len(columns)), full, (sw, dots, earlier))
        else:
            # Not kept: more than _DENSE_LIMIT cells, so never a full look-back.
            running = np.zeros(n_features)  # sum of w_j x_j over the rows swept so far
            for s, e in spans:
                lo = max(s - _BLOCK, 0)  # the block before, for best_earlier
                rows, buckets, _ = self._block_rows(hashes[lo:e])
                partial = running[buckets]
                _sweep(rows, lo, s - lo, weight, centroid[buckets], partial, False, (sw, dots, earlier))
                running[buckets] = partial
        earlier[0] = lead[0]
        out[:, Signal.COHESION] = _leave_one_out(sw, diag, weight, float(centroid @ centroid))
        out[:, Signal.PREFIX] = _prefix(dots, diag, weight, out[:, Signal.COHESION])


def _assemble(
    paragraphs: Sequence[str],
    lengths: np.ndarray,
    local: np.ndarray,
    starts: np.ndarray,
    row_doc: np.ndarray | None,
    out: np.ndarray,
) -> None:
    """Complete the signal matrix ``out`` of consecutive documents.

    Args:
        paragraphs: The documents' paragraphs, one after another.
        lengths: Their lengths.
        local: Their positions in their documents.
        starts: Where each document begins.
        row_doc: Each row's document, or ``None`` for one document.
        out: The matrix, its :data:`COSINES` columns filled in.
    """
    n = len(lengths)
    sizes = np.diff(starts)
    first, last = starts[:-1], starts[1:] - 1

    def spread(per_doc: np.ndarray) -> np.ndarray | float:
        return per_doc[row_doc] if row_doc is not None else float(per_doc[0])

    forms = map(form_signals, paragraphs)
    for s in range(0, n, _ROWS):
        e = min(s + _ROWS, n)
        out[s:e, _FORM_COLUMNS] = np.fromiter(islice(forms, e - s), np.dtype((np.float64, len(FORM_SIGNALS))), e - s)
    kickers = np.flatnonzero(out[:, Signal.KICKER])
    if len(kickers) > 1:
        doc = row_doc[kickers] if row_doc is not None else np.zeros(len(kickers), np.int64)
        out[kickers[recurring_labels(doc, [paragraphs[i] for i in kickers.tolist()])], Signal.KICKER] = 0.0
    unterminated = out[:, Signal.UNTERMINATED] > 0
    caption, chrome = out[:, Signal.CAPTION] > 0, out[:, Signal.CHROME] > 0
    short = lengths < 100
    neighbour = np.zeros(n, dtype=bool)
    neighbour[1:] = short[:-1]
    neighbour[first] = False
    after = np.zeros(n, dtype=bool)
    after[:-1] = short[1:]
    after[last] = False
    neighbour |= after
    short_run = short & neighbour
    # under_header[i] = candidate[i] and (chrome[i - 1] or under_header[i - 1]): within a run of
    # consecutive candidates, true from the first one that follows a chrome line.
    under_header = np.zeros(n, dtype=bool)
    candidates = np.flatnonzero(short_run & unterminated & (local > 0))
    trigger = chrome[candidates - 1]
    fresh = np.ones(len(candidates), dtype=bool)
    fresh[1:] = candidates[1:] != candidates[:-1] + 1
    seen = np.cumsum(trigger)
    under_header[candidates] = seen > (seen - trigger)[fresh][np.cumsum(fresh) - 1]
    headed = np.flatnonzero(under_header)
    under_header[[i for i in headed.tolist() if _DATED.search(paragraphs[i])]] = False
    best = np.log(np.maximum(np.maximum.reduceat(out[:, Signal.COHESION], first), 0.0) + _EPS)
    # Cosines between paragraphs of one article are small but stable within it;
    # logs make "ten times less than its neighbours" one step, whatever the scale.
    for signal in COSINES:
        out[:, signal] = np.log(out[:, signal] + _EPS)
    out[:, Signal.RELATIVE_COHESION] = out[:, Signal.COHESION] - spread(best)
    out[:, Signal.POSITION] = local / spread(np.maximum(sizes - 1, 1))
    out[:, Signal.LONG_UNTERMINATED] = out[:, Signal.UNTERMINATED] * (lengths > 200)
    out[:, Signal.SHORT_RUN] = short_run
    out[:, Signal.UNDER_HEADER] = under_header
    out[:, Signal.SHORT_PLAIN] = short & ~caption & ~chrome & ~under_header
    out[:, Signal.LOG_LENGTH] = np.log1p(lengths)
    out[:, Signal.LENGTH_RATIO] = np.log((lengths + 1) / (spread(_medians(lengths, local, sizes, row_doc)) + 1))


def recurring_labels(doc: np.ndarray, paragraphs: Sequence[str]) -> np.ndarray:
    """Which of some kicker paragraphs open with a label that another of their document's opens with.

    Each teaser appended to an article carries its own kicker; a label
    found twice in one document is a speaker's name (a transcript, an
    interview) or a section label of the article itself.

    Args:
        doc: Each paragraph's document.
        paragraphs: Paragraphs that open with a kicker (:func:`dedup.topic.form.kicker_label`).

    Example:
        >>> recurring_labels(np.array([0, 0, 0, 1]), ["WARNER: Why?", "AIDE: So.", "WARNER: And?", "WARNER: Hi."])
        array([ True, False,  True, False])
    """
    keys = [(int(d), (kicker_label(p) or "").casefold()) for d, p in zip(doc.tolist(), paragraphs, strict=True)]
    counts = Counter(keys)
    return np.array([counts[key] > 1 for key in keys], dtype=bool)


def _pieces(sizes: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges of at most ``_CHUNK`` shingles each, a larger row alone."""
    if int(sizes.sum()) <= _CHUNK:
        return [(0, len(sizes))] if len(sizes) and sizes.any() else []
    pieces, lo, total = [], 0, 0
    for i, size in enumerate(sizes.tolist()):
        if i > lo and total + size > _CHUNK:
            pieces.append((lo, i))
            lo, total = i, 0
        total += size
    pieces.append((lo, len(sizes)))
    return [(a, b) for a, b in pieces if sizes[a:b].any()]


def _spans(sizes: np.ndarray) -> list[tuple[int, int]]:
    """Ranges of whole ``_BLOCK``-row blocks of at most ``_CHUNK`` shingles, with the block before each.

    A block larger than that makes a range alone.
    """
    per_block = np.add.reduceat(sizes, np.arange(0, len(sizes), _BLOCK)).tolist()
    spans, lo, total = [], 0, 0
    for b, size in enumerate(per_block):
        if b * _BLOCK > lo and total + size > _CHUNK:
            spans.append((lo, b * _BLOCK))
            lo, total = b * _BLOCK, per_block[b - 1]  # the second pass reads the block before again
        total += size
    spans.append((lo, len(sizes)))
    return spans


def _csc(row: np.ndarray, new_column: np.ndarray, value: np.ndarray, n: int) -> sp.csc_matrix:
    """The CSC matrix of entries sorted by column, then row (columns begin where ``new_column``)."""
    pointers = np.append(np.flatnonzero(new_column), len(row))
    return sp.csc_matrix((value, row, pointers), shape=(n, len(pointers) - 1))


def _group_cosines(
    gram: np.ndarray,
    tri_start: np.ndarray,
    local: np.ndarray,
    starts: np.ndarray,
    row_doc: np.ndarray,
    weight: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """The cosine signals of consecutive documents from the lower triangles of their cosine matrices.

    Cell ``(i, j)`` (``j <= i``, positions in the document) of row ``r`` is
    ``gram[tri_start[r] + j]``.

    Returns:
        ``(cohesion, prefix, lead, best_earlier)`` arrays.
    """
    n = len(local)
    per_row = local + 1
    cell_row = np.repeat(np.arange(n), per_row)
    cell_col = np.repeat(np.arange(n) - local, per_row) + (np.arange(len(gram)) - np.repeat(tri_start, per_row))
    diagonal = tri_start + local
    diag = gram[diagonal]
    sw = np.bincount(cell_row, weights=gram * weight[cell_col], minlength=n)
    below = cell_col < cell_row
    lower, lower_row, lower_col = gram[below], cell_row[below], cell_col[below]
    sw += np.bincount(lower_col, weights=lower * weight[lower_row], minlength=n)
    dots = np.bincount(lower_row, weights=lower * weight[lower_col], minlength=n).astype(np.float64)
    total = np.bincount(row_doc, weights=weight * sw, minlength=len(starts) - 1)
    cohesion = _leave_one_out(sw, diag, weight, total[row_doc])
    first = starts[:-1]
    sizes = np.diff(starts)
    lead = gram[tri_start]  # cell (i, 0)
    several = first[sizes > 1]
    lead[several] = lead[several + 1]
    masked = gram.copy()
    masked[diagonal] = -np.inf
    earlier = np.maximum.reduceat(masked, tri_start)
    earlier[first] = lead[first]
    # The prefix norms are cumulative sums within each document: a padded grid keeps their order.
    steps = np.zeros((len(first), int(sizes.max())))
    steps[row_doc, local] = 2 * weight * dots + weight**2 * diag
    np.cumsum(steps, axis=1, out=steps)
    before = np.zeros(n)
    later = local > 0
    before[later] = steps[row_doc[later], local[later] - 1]
    prefix_norm = np.sqrt(np.maximum(before, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        prefix = np.where(prefix_norm > 0, dots / prefix_norm, 0.0)
    prefix[first] = cohesion[first]  # nothing comes before the first paragraph
    single = first[sizes == 1]
    for signal in (cohesion, prefix, lead, earlier):
        signal[single] = 1.0
    return cohesion, prefix, lead, earlier


def _sweep(
    rows: sp.csr_matrix,
    offset: int,
    skip: int,
    weight: np.ndarray,
    centroid: np.ndarray,
    running: np.ndarray,
    full: bool,
    out: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """The second pass of :meth:`SignalBuilder._blocked_cosines` over some rows, a ``_BLOCK`` at a time.

    Args:
        rows: TF-IDF rows from document row ``offset`` on (``offset`` a
            multiple of ``_BLOCK``); the first ``skip`` ones were swept before
            and are only looked back at.
        weight: The document's centroid weights.
        centroid: The document's weighted centroid, over the columns of ``rows``.
        running: The sum of ``w_j x_j`` over the rows before ``offset + skip``;
            updated in place.
        full: Look back at every earlier row, not only the block before.
        out: ``(sw, dots, best_earlier)`` arrays of the document, filled in.
    """
    sw, dots, earlier = out
    for start in range(skip, rows.shape[0], _BLOCK):
        end = min(start + _BLOCK, rows.shape[0])
        block = rows[start:end]
        w = weight[offset + start : offset + end]
        sw[offset + start : offset + end] = block @ centroid
        near = max(0, start - _BLOCK)
        products = (block @ rows[near:end].T).toarray()  # the block before and this one, in one product
        inner = products[:, start - near :]
        dots[offset + start : offset + end] = block @ running + np.tril(inner, -1) @ w
        best = np.max(np.where(np.tri(end - start, k=-1, dtype=bool), inner, -np.inf), axis=1)
        if start > near:
            np.maximum(best, products[:, : start - near].max(axis=1), out=best)
        step = max(1, _CELLS // (end - start))
        for lo in range(0, near if full else 0, step):
            cross = (block @ rows[lo : min(lo + step, near)].T).toarray()
            np.maximum(best, cross.max(axis=1), out=best)
        earlier[offset + start : offset + end] = best
        running += block.T @ w


def _medians(lengths: np.ndarray, local: np.ndarray, sizes: np.ndarray, row_doc: np.ndarray | None) -> np.ndarray:
    """Each document's median length (1 where it is 0), as ``np.median`` computes it."""
    if row_doc is None:
        median = np.array([float(np.median(lengths))])
    else:
        grid = np.full((len(sizes), int(sizes.max())), np.inf)
        grid[row_doc, local] = lengths
        grid.sort(axis=1)
        docs = np.arange(len(sizes))
        median = (grid[docs, (sizes - 1) // 2] + grid[docs, sizes // 2]) / 2
    median[median == 0] = 1.0
    return median


def _leave_one_out(sw: np.ndarray, diag: np.ndarray, weight: np.ndarray, total: float | np.ndarray) -> np.ndarray:
    """Cosine of each row with the weighted centroid of the other rows.

    ``sw`` is each row's dot product with the full centroid, ``diag`` its
    squared norm, ``total`` the centroid's squared norm.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        norms = np.sqrt(np.maximum(total - 2 * weight * sw + weight**2 * diag, 0.0))
        return np.where(norms > 0, (sw - weight * diag) / norms, 0.0)


def _prefix(dots: np.ndarray, diag: np.ndarray, weight: np.ndarray, cohesion: np.ndarray) -> np.ndarray:
    """Cosine of each row with the weighted centroid of the rows before it.

    ``dots`` holds each row's dot product with that prefix centroid; the
    centroid's squared norm grows by ``2 w dot + w^2 |x|^2`` per row.
    """
    steps = 2 * weight * dots + weight**2 * diag
    prefix_norm = np.sqrt(np.maximum(np.concatenate(([0.0], np.cumsum(steps)[:-1])), 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        prefix = np.where(prefix_norm > 0, dots / prefix_norm, 0.0)
    prefix[0] = cohesion[0]  # nothing comes before the first paragraph
    return prefix
