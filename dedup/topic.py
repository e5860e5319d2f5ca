"""The topic model: how far each paragraph is from its document's topic.

:class:`TopicModel` is a scikit-learn estimator. It turns a document's
paragraphs into TF-IDF vectors over hashed character shingles (the same
shingles the repeat stages use, so nothing is tokenised twice), measures
how each paragraph coheres with the rest of its document, adds signals of
form and position, and combines them with a logistic regression into the
probability that a paragraph does not belong. It scores; it never drops:
:mod:`dedup.decide` turns scores into removals.

Signals per paragraph (see ``docs/topic.md``):

- ``cohesion``: cosine with the length- and position-weighted centroid of
  the other paragraphs (leave one out); the lead weighs most, since teasers
  and widgets come after the article.
- ``lead``: cosine with the document's first paragraph.
- ``prefix``: cosine with the centroid of the paragraphs before it: text
  appended after an article coheres with nothing before it.
- ``best_earlier``: the highest cosine with any earlier paragraph.
- ``relative_cohesion``: ``cohesion`` against the document's best.
  The four cosine signals enter as logarithms.
- ``position``: relative position in the document.
- ``unterminated``, ``kicker``: cut mid-sentence; starts with a CAPS kicker.
  ``long_unterminated``: cut mid-sentence and long, as teasers are (a short
  unterminated line is more often a list item of the article).
- ``caption``, ``chrome``: the shape of photo credits and page chrome.
- ``short_run``: a short line among short lines (a list); ``under_header``:
  an unterminated line in such a run opened by a chrome header ("Most read").
  ``short_plain``: a short line with no caption or chrome shape: too short
  for cohesion to say much, and often the article's own list item.
- ``log_length``, ``length_ratio``: length, and length against the median.
- ``known``: the share of shingles the IDF table has seen; on text unlike
  anything the model was fitted on the cohesion signals say little, and the
  model learns to lean on them less.

A saved model is a ``.npz`` of plain arrays plus a JSON header, loaded with
``allow_pickle=False``: it holds the IDF weights of hashed shingles and the
fitted coefficients, never text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from itertools import islice
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from dedup.errors import ModelError
from dedup.shingle import normalise, shingle_hashes

FEATURES = (
    "cohesion",
    "prefix",
    "lead",
    "best_earlier",
    "relative_cohesion",
    "position",
    "unterminated",
    "long_unterminated",
    "kicker",
    "caption",
    "chrome",
    "short_run",
    "under_header",
    "short_plain",
    "log_length",
    "length_ratio",
    "known",
)
FORMAT = "dedup-topic-model"
_EPS = 0.005
FORMAT_VERSION = 1

_TERMINAL = set(".!?…\"”’')»」』。！？;")
# Each shape is two patterns: what it must start with, and what may stand anywhere (every
# alternative behind one ``\b``): far fewer attempts per character than one pattern mixing
# ``^`` alternatives with unanchored ones.
_CAPTION_START = re.compile(
    r"^(?:[\s(\[]*(?:photo(?:graph)?s?|pictures?|pictured|pic|images?|image caption|caption|credits?|video|"
    r"illustration|source|file photo)\s*(?:credit|caption)?\s*(?::|,|by\b|\||/|-|–|—)"
    r"|image source\b)",
    re.IGNORECASE,
)
_CAPTION_ANYWHERE = re.compile(
    r"\b(?:(?:photo(?:graph)?s?|pictures?|images?|credits?)\s*:\s*\S|(?:photo(?:graph)?|picture) by\b)",
    re.IGNORECASE,
)
_AGENCY = re.compile(
    r"\b(?:getty(?: images)?|afp|reuters|epa(?:-efe)?|ap photo|associated press|pa wire|pa media|"
    r"press association|xinhua|shutterstock|alamy|bloomberg|anadolu|efe|dpa|camera press|empics|allsport|"
    r"corbis|kyodo|sipa(?: press)?|action images|rex features|wireimage|eyevine|pa(?: images)?|ansa|ap)\b",
    re.IGNORECASE,
)
_TRAILING_CREDIT = re.compile(r"\(([^()]{2,40})\)\s*$")
# Widgets, prompts and notices that news pages put around articles (English sites).
_CHROME_START = re.compile(
    r"^(?:share$|follow @|advert(?:isement)?\b|most (?:read|popular|viewed|shared)\b|"
    r"related(?: (?:stories|articles|topics|content|links|internet links|coverage))?$|read more\b|"
    r"(?:log|sign) in\b|skip to\b|back to top\b|(?:more|top) (?:stories|news)\b|"
    r"more (?:on|from|about) \w|you may also like\b|recommended\b|(?:story )?continues? (?:reading )?below\b|"
    r"continue reading\b|copy link$|print(?: this)?(?: page| article)?$|e-?mail(?: this)?(?: page| article)?$|"
    r"comments?\b|have your say\b|report an error\b|listen to (?:this|the) (?:article|story)\b|"
    r"watch(?: the)? video\b|(?:page )?last updated\b|(?:published|updated|posted)\s*(?:on|at)?\s*:|"
    r"(?:home|news)\s*[>|/»·•]|e-?mail (?:this|to a friend)\b|tweet$|pin it$|"
    r"editor'?s'? (?:picks?|choice)\b|(?:top|latest) headlines\b|trending\b|explore more\b)",
    re.IGNORECASE,
)
_CHROME_ANYWHERE = re.compile(
    r"\b(?:share (?:this|on|via)\b|follow (?:us|@)|like us on\b|sign up\b|newsletter\b|"
    r"subscribe\b|sponsored\b|all rights reserved\b|copyright\b|may not be (?:published|reproduced|redistributed)\b|"
    r"click here\b|cookie (?:policy|settings|preferences)\b|(?:we use|accept(?: all)?) cookies\b|"
    r"printable version\b)|©",
    re.IGNORECASE,
)
# Three or more short items joined by separators: a menu or a breadcrumb.
_MENU = re.compile(
    r"^[^|·•»>/]{1,30}(?:(?:[|·•»]|\s[>/]\s)[^|·•»>/]{1,30}){2,}$"
    r"|^[A-ZÀ-Þ][\w&'’-]*(?: {2,}[A-ZÀ-Þ][\w&'’-]*){2,}$"  # capitalised words set apart by runs of spaces
)


def _form_signals(text: str) -> tuple[float, float, float, float]:
    """(unterminated, kicker, caption, chrome) for one paragraph."""
    stripped = text.strip()
    unterminated = 0.0 if stripped and stripped[-1] in _TERMINAL else 1.0
    head, colon, _ = stripped[:64].partition(":")
    kicker = float(bool(colon) and sum(map(str.isalpha, head)) >= 3 and head.upper() == head and head.lower() != head)
    if len(stripped) > 160:  # captions and chrome are short: spare long paragraphs the searches
        return unterminated, kicker, 0.0, 0.0
    caption = bool(_CAPTION_START.match(stripped) or _CAPTION_ANYWHERE.search(stripped)) or _credit(stripped)
    chrome = bool(_CHROME_START.match(stripped) or _CHROME_ANYWHERE.search(stripped) or _MENU.match(stripped))
    return unterminated, kicker, float(caption), float(chrome)


def _credit(stripped: str) -> bool:
    """Whether a short paragraph has the shape of a photo credit naming an agency."""
    trailing = _TRAILING_CREDIT.search(stripped)
    if trailing and _AGENCY.search(trailing.group(1)):
        return True
    if len(stripped) < 80 and stripped[-1:] != "." and _AGENCY.search(stripped):
        return True
    head, slash, _ = stripped.partition("/")
    return bool(slash) and len(stripped) < 60 and bool(_AGENCY.fullmatch(head.strip()))


class TopicModel(BaseEstimator):
    """Scores how far each paragraph is from its document's topic.

    Args:
        n_features: Hash buckets of the TF-IDF vectors (a power of two).
        shingle_size: Characters per shingle (as in the repeat stages).
        C: Inverse regularisation strength of the logistic regression.
        lead_weight: Extra centroid weight of the first paragraph.
        decay: How fast later paragraphs lose centroid weight.
        keep_weight: Weight of belonging paragraphs in the fit, relative to
            off-topic ones: losing article text costs more than keeping junk.
        max_loss: Sets ``offset_``: the share of belonging paragraphs of the
            fitting data whose score is above 0.5 (the default threshold).

    Example:
        >>> from dedup.topic import TopicModel
        >>> model = TopicModel.default()
        >>> scores = model.score_document(["Rain fell on Paris.", "Rain is expected in Paris again."])
        >>> scores.shape
        (2,)
    """

    def __init__(
        self,
        n_features: int = 2**18,
        shingle_size: int = 5,
        C: float = 1.0,
        lead_weight: float = 2.0,
        decay: float = 0.25,
        keep_weight: float = 4.0,
        max_loss: float = 0.01,
    ) -> None:
        self.n_features = n_features
        self.shingle_size = shingle_size
        self.C = C
        self.lead_weight = lead_weight
        self.decay = decay
        self.keep_weight = keep_weight
        self.max_loss = max_loss

    # -- features -----------------------------------------------------------------------------

    def _counts(self, hash_sets: Sequence[np.ndarray]) -> sp.csr_matrix:
        mask = np.uint32(self.n_features - 1)
        indptr = np.zeros(len(hash_sets) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(h) for h in hash_sets])
        indices = (np.concatenate(hash_sets) & mask).astype(np.int32) if len(hash_sets) else np.zeros(0, np.int32)
        data = np.ones(len(indices), dtype=np.float64)
        counts = sp.csr_matrix((data, indices, indptr), shape=(len(hash_sets), self.n_features))
        counts.sum_duplicates()
        return counts

    def _hashes(self, paragraphs: Sequence[str]) -> list[np.ndarray]:
        return [shingle_hashes(normalise(p), self.shingle_size) for p in paragraphs]

    def features(self, paragraphs: Sequence[str], hashes: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """The signal matrix of one document, one row per paragraph (columns: :data:`FEATURES`).

        Args:
            paragraphs: The document's paragraphs, in order.
            hashes: Their shingle hashes, if already computed.
        """
        return self.features_batch([paragraphs], None if hashes is None else [hashes])[0]

    def features_batch(
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
            One ``(paragraphs, len(FEATURES))`` matrix per document.

        Raises:
            ValueError: ``hashes`` does not have the shape of ``documents``.
        """
        self._check_fitted("idf_")
        if hashes is None:
            hashes = [self._hashes(doc) for doc in documents]
        if len(hashes) != len(documents):
            raise ValueError(f"got {len(documents)} documents but hashes for {len(hashes)}")
        out: list[np.ndarray] = [np.zeros((0, len(FEATURES))) for _ in documents]
        group: list[int] = []
        shingles = cells = 0
        for k, (paragraphs, doc_hashes) in enumerate(zip(documents, hashes, strict=True)):
            m = len(paragraphs)
            if len(doc_hashes) != m:
                raise ValueError(f"a document has {m} paragraphs but hashes for {len(doc_hashes)}")
            if m == 0:
                continue
            size = sum(map(len, doc_hashes))
            if m > _BLOCK or size > _CHUNK:
                out[k] = self._large_features(paragraphs, doc_hashes)
                continue
            if group and (shingles + size > _CHUNK or cells + m * (m + 1) // 2 > _CELLS):
                self._group_features(documents, hashes, group, out)
                group, shingles, cells = [], 0, 0
            group.append(k)
            shingles += size
            cells += m * (m + 1) // 2
        if group:
            self._group_features(documents, hashes, group, out)
        return out

    def _entries(
        self, hashes: Sequence[np.ndarray], row_doc: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The L2-normalised TF-IDF entries of some paragraphs, and their ``known`` signal.

        The arithmetic is scikit-learn's ``TfidfTransformer(sublinear_tf=True)``
        to the last bit: ``1 + log(count)`` times the IDF, each row divided by
        its norm summed in bucket order.

        Args:
            hashes: Each paragraph's shingle hashes.
            row_doc: Each paragraph's document, if they are of several.

        Returns:
            ``(row, new_column, bucket, value, known)``: the entries sorted by
            bucket, then row; ``new_column`` marks where a (bucket, document)
            column begins, so that they are a CSC matrix as they stand.
        """
        n = len(hashes)
        mask = self.n_features - 1
        row_bits = max((n - 1).bit_length(), 1)
        # One int64 key per shingle sorts by (bucket, row): runs of equal keys are the term counts.
        sizes = np.fromiter(map(len, hashes), np.int64, n)
        keys_parts, count_parts = [], []
        for lo, hi in _pieces(sizes):
            if hi - lo == 1 and sizes[lo] > _CHUNK:  # one huge paragraph: count its buckets in slices
                counts = np.zeros(self.n_features, np.int64)
                for s in range(0, int(sizes[lo]), _CHUNK):
                    counts += np.bincount(hashes[lo][s : s + _CHUNK] & np.uint32(mask), minlength=self.n_features)
                buckets = np.flatnonzero(counts)
                keys_parts.append((buckets << row_bits) | lo)
                count_parts.append(counts[buckets])
                continue
            keys = (np.concatenate(hashes[lo:hi]) & np.uint32(mask)).astype(np.int64)
            keys <<= row_bits
            keys |= np.repeat(np.arange(lo, hi), sizes[lo:hi])
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
        row = keys & ((1 << row_bits) - 1)
        bucket = keys >> row_bits
        del keys
        new_column = np.empty(len(row), dtype=bool)
        new_column[:1] = True
        np.not_equal(bucket[1:], bucket[:-1], out=new_column[1:])
        if row_doc is not None:
            doc = row_doc[row]
            new_column[1:] |= doc[1:] != doc[:-1]
        value = np.log(counts.astype(np.float64))
        value += 1.0
        value *= self._tfidf.idf_[bucket]
        value /= np.sqrt(np.bincount(row, weights=value * value, minlength=n))[row]
        known = np.bincount(row, weights=self.seen_[bucket], minlength=n).astype(np.float64)  # int64 when empty
        known /= np.maximum(np.bincount(row, minlength=n), 1)
        return row, new_column, bucket, value, known

    def _weights(self, lengths: np.ndarray, local: np.ndarray) -> np.ndarray:
        weight = np.minimum(1.0, np.sqrt(lengths / 200.0)) / (1.0 + self.decay * local)
        weight[local == 0] *= self.lead_weight
        return weight

    def _group_features(
        self,
        documents: Sequence[Sequence[str]],
        hashes: Sequence[Sequence[np.ndarray]],
        group: list[int],
        out: list[np.ndarray],
    ) -> None:
        """Features of the documents ``group`` (each of at most ``_BLOCK`` paragraphs), into ``out``.

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
        row, new_column, _, value, known = self._entries([h for k in group for h in hashes[k]], row_doc)
        columns = _csc(row, new_column, value, len(paragraphs))
        # Columns are (bucket, document) pairs: the product holds each document's pairs only.
        products = (columns.tocsr() @ columns.T).tocoo()
        lower = products.col <= products.row
        tri_start = np.cumsum(local) + np.arange(len(local)) - local  # where each row's cells begin
        gram = np.zeros(int(tri_start[-1] + local[-1] + 1))
        gram[tri_start[products.row[lower]] + local[products.col[lower]]] = products.data[lower]
        del columns, products, lower
        lengths = np.fromiter(map(len, paragraphs), np.float64, len(paragraphs))
        features = np.empty((len(paragraphs), len(FEATURES)), dtype=np.float64)
        features[:, :4] = np.column_stack(
            _group_cosines(gram, tri_start, local, starts, row_doc, self._weights(lengths, local))
        )
        features[:, 16] = known
        self._assemble(paragraphs, lengths, local, starts, row_doc, features)
        for i, k in enumerate(group):
            out[k] = features[starts[i] : starts[i + 1]]

    def _large_features(self, paragraphs: Sequence[str], hashes: Sequence[np.ndarray]) -> np.ndarray:
        """Features of one long or large document, in blocks of paragraphs."""
        m = len(paragraphs)
        lengths = np.fromiter(map(len, paragraphs), np.float64, m)
        local = np.arange(m)
        out = np.empty((m, len(FEATURES)), dtype=np.float64)
        self._blocked_cosines(hashes, self._weights(lengths, local), out)
        self._assemble(paragraphs, lengths, local, np.array([0, m]), None, out)
        return out

    def _block_rows(self, hashes: Sequence[np.ndarray]) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
        """TF-IDF rows of consecutive paragraphs of one document, over the buckets they use.

        Returns:
            ``(rows, buckets, known, squared_norms)``: ``rows`` is CSR, column
            ``j`` standing for bucket ``buckets[j]``.
        """
        n = len(hashes)
        row, new_column, bucket, value, known = self._entries(hashes)
        rows = _csc(row, new_column, value, n).tocsr()
        return rows, bucket[new_column], known, np.bincount(row, weights=value * value, minlength=n)

    def _blocked_cosines(self, hashes: Sequence[np.ndarray], weight: np.ndarray, out: np.ndarray) -> None:
        """The cosine signals and ``known`` of one document, a span of blocks at a time.

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
            out: The document's signal matrix: ``(cohesion, prefix, lead,
                best_earlier)`` go to its first four columns, ``known`` to
                its last (held there rather than twice: a document may have
                millions of paragraphs).
        """
        m = len(hashes)
        spans = _spans(np.fromiter(map(len, hashes), np.int64, m))
        centroid = np.zeros(self.n_features)
        used = np.zeros(self.n_features, dtype=bool)
        head = np.zeros(self.n_features)  # the lead paragraph's vector
        diag, lead, earlier, known = np.empty(m), out[:, 2], out[:, 3], out[:, 16]
        kept: list[tuple[sp.csr_matrix, np.ndarray]] | None = []
        kept_size = 0
        for s, e in spans:
            rows, buckets, known[s:e], diag[s:e] = self._block_rows(hashes[s:e])
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
            out[:, :4] = 1.0
            return
        lead[0] = lead[1]
        columns = np.flatnonzero(used)
        full = m * max(len(columns), 1) <= _DENSE_LIMIT
        sw, dots = np.empty(m), np.empty(m)
        if kept is not None:
            position = np.zeros(self.n_features, dtype=np.int64)
            position[columns] = np.arange(len(columns))
            width = len(columns)
            pieces = [sp.csr_matrix((r.data, position[b[r.indices]], r.indptr), (r.shape[0], width)) for r, b in kept]
            whole = sp.vstack(pieces, format="csr")
            del pieces
            kept = None
            _sweep(whole, 0, 0, weight, centroid[columns], np.zeros(len(columns)), full, (sw, dots, earlier))
        else:
            # Not kept: more than _DENSE_LIMIT cells, so never a full look-back.
            running = np.zeros(self.n_features)  # sum of w_j x_j over the rows swept so far
            for s, e in spans:
                lo = max(s - _BLOCK, 0)  # the block before, for best_earlier
                rows, buckets, _, _ = self._block_rows(hashes[lo:e])
                partial = running[buckets]
                _sweep(rows, lo, s - lo, weight, centroid[buckets], partial, False, (sw, dots, earlier))
                running[buckets] = partial
        earlier[0] = lead[0]
        out[:, 0] = _leave_one_out(sw, diag, weight, float(centroid @ centroid))
        out[:, 1] = _prefix(dots, diag, weight, out[:, 0])

    def _assemble(
        self,
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
            out: The matrix, its first four columns holding the cosines
                (cohesion, prefix, lead, best_earlier), its last ``known``.
        """
        n = len(lengths)
        sizes = np.diff(starts)
        first, last = starts[:-1], starts[1:] - 1

        def spread(per_doc: np.ndarray) -> np.ndarray | float:
            return per_doc[row_doc] if row_doc is not None else float(per_doc[0])

        forms = map(_form_signals, paragraphs)
        for s in range(0, n, _ROWS):  # (unterminated, kicker, caption, chrome) into columns 6, 8, 9, 10
            e = min(s + _ROWS, n)
            form = np.fromiter(islice(forms, e - s), np.dtype((np.float64, 4)), e - s)
            out[s:e, 6] = form[:, 0]
            out[s:e, 8:11] = form[:, 1:]
        unterminated, caption, chrome = out[:, 6] > 0, out[:, 9] > 0, out[:, 10] > 0
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
        best = np.log(np.maximum(np.maximum.reduceat(out[:, 0], first), 0.0) + _EPS)
        # Cosines between paragraphs of one article are small but stable within it;
        # logs make "ten times less than its neighbours" one step, whatever the scale.
        for column in range(4):
            out[:, column] = np.log(out[:, column] + _EPS)
        out[:, 4] = out[:, 0] - spread(best)
        out[:, 5] = local / spread(np.maximum(sizes - 1, 1))
        out[:, 7] = out[:, 6] * (lengths > 200)
        out[:, 11] = short_run
        out[:, 12] = under_header
        out[:, 13] = short & ~caption & ~chrome & ~under_header
        out[:, 14] = np.log1p(lengths)
        out[:, 15] = np.log((lengths + 1) / (spread(_medians(lengths, local, sizes, row_doc)) + 1))

    # -- estimator API -----------------------------------------------------------------------

    def fit(self, documents: Sequence[Sequence[str]], labels: Sequence[Sequence[int]]) -> TopicModel:
        """Fit the IDF table on ``documents`` and the coefficients on ``labels``.

        Args:
            documents: Each document as its list of paragraphs.
            labels: Per document, one label per paragraph: 1 off-topic,
                0 belongs, -1 ignore (e.g. a repeat the repeat stage removes).

        Returns:
            self
        """
        if len(documents) != len(labels):
            raise ValueError(f"got {len(documents)} documents but {len(labels)} label lists")
        hashes = [self._hashes(doc) for doc in documents]
        doc_counts = sp.vstack([self._counts([np.concatenate(h) if h else np.zeros(0, np.uint32)]) for h in hashes])
        self._tfidf = TfidfTransformer(sublinear_tf=True).fit(doc_counts)
        self.idf_ = self._tfidf.idf_.astype(np.float32)
        self.seen_ = (np.asarray((doc_counts > 0).sum(axis=0)).ravel() > 0).astype(np.float64)
        rows, ys = [], []
        for doc, doc_hashes, doc_labels in zip(documents, hashes, labels, strict=False):
            if len(doc) != len(doc_labels):
                raise ValueError(f"a document has {len(doc)} paragraphs but {len(doc_labels)} labels")
            keep = np.asarray(doc_labels) >= 0
            if not keep.any():
                continue
            kept = [p for p, k in zip(doc, keep, strict=False) if k]
            kept_hashes = [h for h, k in zip(doc_hashes, keep, strict=False) if k]
            rows.append(self.features(kept, kept_hashes))
            ys.append(np.asarray(doc_labels)[keep])
        x, y = np.vstack(rows), np.concatenate(ys)
        if len(set(y.tolist())) < 2:
            raise ValueError("labels must contain both off-topic (1) and belonging (0) paragraphs")
        scaler = StandardScaler().fit(x)
        weights = {0: self.keep_weight, 1: 1.0}
        classifier = LogisticRegression(C=self.C, max_iter=1000, class_weight=weights).fit(scaler.transform(x), y)
        self.mean_ = scaler.mean_
        self.scale_ = scaler.scale_
        self.coef_ = classifier.coef_.ravel()
        self.intercept_ = float(classifier.intercept_[0])
        self.offset_ = 0.0
        # Like IsolationForest's contamination: put 0.5 where only max_loss of the
        # belonging paragraphs score higher, so the default threshold is an operating point.
        belonging = self.decision_function(x[y == 0])
        self.offset_ = float(np.quantile(belonging, 1.0 - self.max_loss))
        return self

    def _check_fitted(self, attribute: str = "coef_") -> None:
        if not hasattr(self, attribute):
            raise NotFittedError(
                "This TopicModel is not fitted yet: call fit(), or use TopicModel.default() or TopicModel.load()"
            )

    def decision_function(self, features: np.ndarray) -> np.ndarray:
        """Off-topic log-odds per row of a :meth:`features` matrix, minus ``offset_``."""
        self._check_fitted()
        if features.ndim != 2 or len(features) <= _ROWS:
            return ((features - self.mean_) / self.scale_) @ self.coef_ + self.intercept_ - self.offset_
        # In slices of rows: a document of millions of paragraphs needs no standardised copy of its matrix.
        out = np.empty(len(features))
        for s in range(0, len(features), _ROWS):
            out[s : s + _ROWS] = (
                ((features[s : s + _ROWS] - self.mean_) / self.scale_) @ self.coef_ + self.intercept_ - self.offset_
            )
        return out

    def score_samples(self, features: np.ndarray) -> np.ndarray:
        """Off-topic probability per row of a :meth:`features` matrix."""
        return 1.0 / (1.0 + np.exp(-self.decision_function(features)))

    def score_document(self, paragraphs: Sequence[str], hashes: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """Off-topic probability of each paragraph of one document."""
        self._check_fitted()
        return self.score_samples(self.features(paragraphs, hashes))

    @staticmethod
    def shapes(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What the form of each paragraph allows the decide stage to do.

        Returns:
            ``(junk, substantial)`` masks: ``junk`` paragraphs have the shape
            of page furniture (caption, chrome, a kicker, a line under a chrome
            header) and may be removed wherever they stand; ``substantial``
            ones are not short plain lines, so they can open a trailing run.
        """
        column = {name: i for i, name in enumerate(FEATURES)}
        junk = (
            (features[:, column["caption"]] > 0)
            | (features[:, column["chrome"]] > 0)
            | (features[:, column["kicker"]] > 0)
            | (features[:, column["under_header"]] > 0)
        )
        substantial = junk | (features[:, column["short_plain"]] == 0)
        return junk, substantial

    def contributions(self, features: np.ndarray) -> list[dict[str, float]]:
        """Per-signal contributions to the log-odds, for explaining a score."""
        self._check_fitted()
        parts = ((features - self.mean_) / self.scale_) * self.coef_
        return [{name: round(float(v), 4) for name, v in zip(FEATURES, row, strict=False)} for row in parts]

    # -- persistence -------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Save the fitted model as a pickle-free ``.npz`` file."""
        self._check_fitted()
        header = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "params": self.get_params(),
            "features": list(FEATURES),
            "intercept": self.intercept_,
            "offset": self.offset_,
        }
        nonzero = np.flatnonzero(self.seen_).astype(np.int32)
        with open(path, "wb") as handle:
            np.savez_compressed(
                handle,
                header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
                seen=nonzero,
                idf_seen=self.idf_[nonzero],
                idf_unseen=np.float32(self.idf_.max()),
                mean=self.mean_,
                scale=self.scale_,
                coef=self.coef_,
            )

    @classmethod
    def load(cls, path: str | Path) -> TopicModel:
        """Load a model saved by :meth:`save`.

        Raises:
            ModelError: The file is missing, not a dedup topic model, or damaged.
        """
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(bytes(data["header"]).decode())
                if header.get("format") != FORMAT or header.get("version") != FORMAT_VERSION:
                    raise ModelError(f"{path}: not a dedup topic model (format {header.get('format')!r})")
                if header.get("features") != list(FEATURES):
                    raise ModelError(f"{path}: the model was fitted on other signals: {header.get('features')}")
                model = cls(**header["params"])
                idf = np.full(model.n_features, data["idf_unseen"], dtype=np.float32)
                seen = data["seen"]
                if len(seen) and (seen.min() < 0 or seen.max() >= model.n_features):
                    raise ModelError(f"{path}: bucket numbers out of range")
                idf[seen] = data["idf_seen"]
                model.idf_ = idf
                model.seen_ = np.zeros(model.n_features)
                model.seen_[seen] = 1.0
                model.mean_, model.scale_, model.coef_ = data["mean"], data["scale"], data["coef"]
                if not (len(model.mean_) == len(model.scale_) == len(model.coef_) == len(FEATURES)):
                    raise ModelError(f"{path}: coefficient arrays do not match the {len(FEATURES)} signals")
                model.intercept_ = float(header["intercept"])
                model.offset_ = float(header["offset"])
        except ModelError:
            raise
        except FileNotFoundError as exc:
            raise ModelError(f"{path}: no such model file; create one with `dedup fit-topic`") from exc
        except (OSError, EOFError, ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
            # numpy's own message for a pickle suggests allow_pickle=True: never our advice.
            detail = "it holds pickled objects, which dedup never loads" if "pickle" in str(exc) else str(exc)
            raise ModelError(
                f"{path}: not a readable dedup topic model ({detail}); create one with `dedup fit-topic`"
            ) from exc
        model._tfidf = _transformer(model.idf_)
        return model

    @classmethod
    def default(cls) -> TopicModel:
        """The model shipped with the package (see ``docs/topic.md`` for how it was fitted)."""
        return cls.load(default_model_path())

    def __getstate__(self) -> dict:
        # The sklearn transformer is rebuilt from idf_; keeping it out halves what workers receive.
        state = self.__dict__.copy()
        state.pop("_tfidf", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if hasattr(self, "idf_"):
            self._tfidf = _transformer(self.idf_)


_BLOCK = 256  # paragraphs compared at once in long documents; best_earlier looks back 1 to 2 blocks
_DENSE_LIMIT = 1 << 21  # (paragraphs x buckets) cells up to which best_earlier looks back at every paragraph
_CHUNK = 1 << 19  # shingles turned into TF-IDF rows at once: about 50 bytes of working memory each
_CELLS = 1 << 20  # pairs of paragraphs compared at once
_KEEP = 1 << 20  # TF-IDF entries of one long document kept between its two passes rather than recomputed
_ROWS = 1 << 16  # paragraphs whose form signals are gathered at once


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
    """The second pass of :meth:`TopicModel._blocked_cosines` over some rows, a ``_BLOCK`` at a time.

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


def _transformer(idf: np.ndarray) -> TfidfTransformer:
    transformer = TfidfTransformer(sublinear_tf=True)
    transformer.idf_ = idf.astype(np.float64)
    return transformer


def default_model_path() -> Path:
    """Where the shipped model lives inside the package."""
    return Path(__file__).resolve().parent / "models" / "default.npz"
