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
_CAPTION = re.compile(
    r"^[\s(\[]*(?:photo(?:graph)?s?|pictures?|pictured|pic|images?|image caption|caption|credits?|video|"
    r"illustration|source|file photo)\s*(?:credit|caption)?\s*(?::|,|by\b|\||/|-|–|—)"
    r"|\b(?:photo(?:graph)?s?|pictures?|images?|credits?)\s*:\s*\S|\b(?:photo(?:graph)?|picture) by\b|"
    r"^image source\b",
    re.IGNORECASE,
)
_AGENCY = re.compile(
    r"\b(?:getty(?: images)?|afp|reuters|epa(?:-efe)?|ap photo|associated press|pa wire|pa media|"
    r"press association|xinhua|shutterstock|alamy|bloomberg|anadolu|efe|dpa|camera press|empics|allsport|"
    r"corbis|kyodo|sipa(?: press)?|action images|rex features|wireimage|eyevine|pa(?: images)?|ansa|ap)\b",
    re.IGNORECASE,
)
_TRAILING_CREDIT = re.compile(r"\(([^()]{2,40})\)\s*$")
_CHROME = re.compile(
    # Widgets, prompts and notices that news pages put around articles (English sites).
    r"(?:\bshare (?:this|on|via)\b|^share$|\bfollow (?:us|@)|^follow @|\blike us on\b|\bsign up\b|\bnewsletter\b|"
    r"\bsubscribe\b|^advert(?:isement)?\b|\bsponsored\b|\ball rights reserved\b|©|\bcopyright\b|"
    r"\bmay not be (?:published|reproduced|redistributed)\b|^most (?:read|popular|viewed|shared)\b|"
    r"^related(?: (?:stories|articles|topics|content|links|internet links|coverage))?$|^read more\b|"
    r"\bclick here\b|\bcookie (?:policy|settings|preferences)\b|\b(?:we use|accept(?: all)?) cookies\b|"
    r"^(?:log|sign) in\b|^skip to\b|^back to top\b|^(?:more|top) (?:stories|news)\b|"
    r"^more (?:on|from|about) \w|^you may also like\b|^recommended\b|^(?:story )?continues? (?:reading )?below\b|"
    r"^continue reading\b|^copy link$|^print(?: this)?(?: page| article)?$|^e-?mail(?: this)?(?: page| article)?$|"
    r"^comments?\b|^have your say\b|^report an error\b|^listen to (?:this|the) (?:article|story)\b|"
    r"^watch(?: the)? video\b|^(?:page )?last updated\b|^(?:published|updated|posted)\s*(?:on|at)?\s*:|"
    r"^(?:home|news)\s*[>|/»·•]|^e-?mail (?:this|to a friend)\b|\bprintable version\b|^tweet$|^pin it$|"
    r"^editor'?s'? (?:picks?|choice)\b|^(?:top|latest) headlines\b|^trending\b|^explore more\b)",
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
    letters = [c for c in head if c.isalpha()]
    kicker = float(bool(colon) and len(letters) >= 3 and head.upper() == head and head.lower() != head)
    if len(stripped) > 160:  # captions and chrome are short: spare long paragraphs the searches
        return unterminated, kicker, 0.0, 0.0
    trailing = _TRAILING_CREDIT.search(stripped)
    head_credit, slash, _ = stripped.partition("/")
    credit = (
        bool(trailing and _AGENCY.search(trailing.group(1)))
        or (bool(_AGENCY.search(stripped)) and len(stripped) < 80 and stripped[-1:] != ".")
        or (bool(slash) and len(stripped) < 60 and bool(_AGENCY.fullmatch(head_credit.strip())))
    )
    caption = float(bool(_CAPTION.search(stripped)) or credit)
    chrome = float(bool(_CHROME.search(stripped)) or bool(_MENU.match(stripped)))
    return unterminated, kicker, caption, chrome


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
        """Signal matrices of many documents, sharing one TF-IDF transform.

        Args:
            documents: Each document's paragraphs, in order.
            hashes: Their shingle hashes, if already computed (same shape).

        Returns:
            One ``(paragraphs, len(FEATURES))`` matrix per document.
        """
        self._check_fitted("idf_")
        if hashes is None:
            hashes = [self._hashes(doc) for doc in documents]
        flat = [h for doc_hashes in hashes for h in doc_hashes]
        if not flat:
            return [np.zeros((0, len(FEATURES))) for _ in documents]
        counts = self._counts(flat)
        # The share of each paragraph's buckets the IDF table has seen.
        rows = np.repeat(np.arange(len(flat)), np.diff(counts.indptr))
        known = np.bincount(rows, weights=self.seen_[counts.indices], minlength=len(flat)).astype(np.float64)
        known /= np.maximum(np.diff(counts.indptr), 1)
        vectors = self._tfidf.transform(counts)
        out = []
        start = 0
        for paragraphs in documents:
            m = len(paragraphs)
            out.append(self._document_features(paragraphs, _rows(vectors, start, start + m), known[start : start + m]))
            start += m
        return out

    def _document_features(
        self, paragraphs: Sequence[str], vectors: sp.csr_matrix | np.ndarray, known: np.ndarray
    ) -> np.ndarray:
        m = len(paragraphs)
        out = np.zeros((m, len(FEATURES)), dtype=np.float64)
        if m == 0:
            return out
        lengths = np.array([len(p) for p in paragraphs], dtype=np.float64)
        weight = np.minimum(1.0, np.sqrt(lengths / 200.0)) / (1.0 + self.decay * np.arange(m))
        weight[0] *= self.lead_weight
        cohesion, prefix, lead, earlier = _cosines(vectors, weight)
        median_len = float(np.median(lengths)) or 1.0
        form = np.array([_form_signals(p) for p in paragraphs])
        short = lengths < 100
        short_run = short & (np.r_[False, short[:-1]] | np.r_[short[1:], False])
        under_header = np.zeros(m, dtype=bool)
        for i in range(1, m):
            under_header[i] = short_run[i] and form[i, 0] > 0 and (form[i - 1, 3] > 0 or under_header[i - 1])
        # Cosines between paragraphs of one article are small but stable within it;
        # logs make "ten times less than its neighbours" one step, whatever the scale.
        out[:, 0] = np.log(cohesion + _EPS)
        out[:, 1] = np.log(prefix + _EPS)
        out[:, 2] = np.log(lead + _EPS)
        out[:, 3] = np.log(earlier + _EPS)
        out[:, 4] = out[:, 0] - np.log(max(float(cohesion.max()), 0.0) + _EPS)
        out[:, 5] = np.arange(m) / max(m - 1, 1)
        out[:, 6] = form[:, 0]
        out[:, 7] = form[:, 0] * (lengths > 200)
        out[:, 8:11] = form[:, 1:4]
        out[:, 11] = short_run
        out[:, 12] = under_header
        out[:, 13] = short & (form[:, 2] == 0) & (form[:, 3] == 0) & ~under_header
        out[:, 14] = np.log1p(lengths)
        out[:, 15] = np.log((lengths + 1) / (median_len + 1))
        out[:, 16] = known
        return out

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
        return ((features - self.mean_) / self.scale_) @ self.coef_ + self.intercept_ - self.offset_

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


_BLOCK = 256
_DENSE_LIMIT = 1 << 21  # cells of a document's (paragraphs x columns) matrix held densely


def _leave_one_out(sw: np.ndarray, diag: np.ndarray, weight: np.ndarray, total: float) -> np.ndarray:
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


def _dense_cosines(x: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, ...]:
    """:func:`_cosines` for a document held densely: the same signals from its Gram matrix."""
    m = x.shape[0]
    if m == 1:
        return np.ones(1), np.ones(1), np.ones(1), np.ones(1)
    sim = x @ x.T
    diag = np.diag(sim).copy()
    sw = sim @ weight
    total = float(weight @ sw)
    cohesion = _leave_one_out(sw, diag, weight, total)
    lead = sim[0].copy()
    lead[0] = lead[1]
    lower = np.tril(sim, -1)
    dots = lower @ weight
    below = np.tri(m, k=-1, dtype=bool)
    earlier = np.max(np.where(below, sim, -np.inf), axis=1)
    earlier[0] = lead[0]
    return cohesion, _prefix(dots, diag, weight, cohesion), lead, earlier


def _cosines(vectors: sp.csr_matrix | np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, ...]:
    """The cosine signals of one document, in blocks of rows.

    Memory and time grow with ``paragraphs x _BLOCK``, not with the square of
    the paragraph count, so documents of a million paragraphs are scored too.
    ``best_earlier`` looks back at most ``_BLOCK`` to ``2 * _BLOCK``
    paragraphs (every earlier one in documents of up to ``_BLOCK``).

    Args:
        vectors: L2-normalised TF-IDF rows, one per paragraph.
        weight: Each paragraph's weight in the centroids.

    Returns:
        ``(cohesion, prefix, lead, best_earlier)`` arrays.
    """
    if isinstance(vectors, np.ndarray):
        return _dense_cosines(vectors, weight)
    x = sp.csr_matrix(vectors)
    m = x.shape[0]
    centroid = np.asarray(x.T @ weight).ravel()
    sw = np.asarray(x @ centroid).ravel()
    diag = np.asarray(x.multiply(x).sum(axis=1)).ravel()
    total = float(centroid @ centroid)
    cohesion = _leave_one_out(sw, diag, weight, total)
    if m == 1:
        return np.ones(1), np.ones(1), np.ones(1), np.ones(1)
    lead = np.asarray((x @ x[0].T).todense()).ravel()
    lead[0] = lead[1]
    dots = np.zeros(m)  # x_i . (sum of w_j x_j over j < i)
    earlier = np.zeros(m)
    running = np.zeros(x.shape[1])
    for start in range(0, m, _BLOCK):
        end = min(start + _BLOCK, m)
        block = x[start:end]
        inner = (block @ block.T).toarray()
        dots[start:end] = np.asarray(block @ running).ravel() + np.tril(inner, -1) @ weight[start:end]
        back = max(0, start - _BLOCK)
        cross = (block @ x[back:start].T).toarray() if start else np.zeros((end - start, 0))
        lower = np.where(np.tri(end - start, k=-1, dtype=bool), inner, -np.inf)
        earlier[start:end] = np.max(np.hstack([cross, lower]), axis=1, initial=-np.inf)
        running += np.asarray(block.T @ weight[start:end]).ravel()
    earlier[0] = lead[0]
    return cohesion, _prefix(dots, diag, weight, cohesion), lead, earlier


def _rows(matrix: sp.csr_matrix, start: int, end: int) -> sp.csr_matrix | np.ndarray:
    """Rows ``start:end`` of ``matrix`` over only the columns they use.

    A document touches a few thousand of the 2**18 buckets; vectors over its
    own columns keep the per-document work small. Most documents are small
    enough for a dense array, which spares scipy's per-call overhead.
    """
    low, high = matrix.indptr[start], matrix.indptr[end]
    columns, inverse = np.unique(matrix.indices[low:high], return_inverse=True)
    indptr = matrix.indptr[start : end + 1] - low
    shape = (end - start, max(len(columns), 1))
    if shape[0] * shape[1] <= _DENSE_LIMIT:
        dense = np.zeros(shape)
        dense[np.repeat(np.arange(shape[0]), np.diff(indptr)), inverse.ravel()] = matrix.data[low:high]
        return dense
    return sp.csr_matrix((matrix.data[low:high], inverse.ravel(), indptr), shape=shape)


def _transformer(idf: np.ndarray) -> TfidfTransformer:
    transformer = TfidfTransformer(sublinear_tf=True)
    transformer.idf_ = idf.astype(np.float64)
    return transformer


def default_model_path() -> Path:
    """Where the shipped model lives inside the package."""
    return Path(__file__).resolve().parent / "models" / "default.npz"
