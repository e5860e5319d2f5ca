"""The topic model: the probability that a paragraph does not belong to its document.

:class:`TopicModel` is a scikit-learn estimator. It turns each document's
paragraphs into a signal matrix (:mod:`dedup.topic.features`) and combines
the signals with a logistic regression into the probability that a
paragraph is off-topic. It scores; it never drops: :mod:`dedup.decide`
turns scores into removals.

Its public methods come in two layers:

- the estimator's, on documents: :meth:`~TopicModel.fit`,
  :meth:`~TopicModel.decision_function` and :meth:`~TopicModel.score_samples`
  all take ``X``, a sequence of documents, each a sequence of paragraph
  strings, and return (or take, as ``y``) one array per document;
- the signal layer, for a caller that already holds the shingle hashes and
  scores many documents a round at a time (the cleaner):
  :meth:`~TopicModel.signals_batch` makes signal matrices, and
  :meth:`~TopicModel.score_signals`, :meth:`~TopicModel.decision_from_signals`,
  :meth:`~TopicModel.shapes` and :meth:`~TopicModel.contributions` read them.

A saved model is a ``.npz`` of plain arrays plus a JSON header, loaded with
``allow_pickle=False``: it holds the IDF weights of hashed shingles and the
fitted coefficients, never text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from dedup.config import ShingleConfig
from dedup.errors import InputError, ModelError, reading_model
from dedup.topic.features import FEATURES, Signal, SignalBuilder, bucket_counts, paragraph_hashes

FORMAT = "dedup-topic-model"
FORMAT_VERSION = 2
#: Version 1 also held a ``known`` signal after the last of :data:`FEATURES`: the share of a
#: paragraph's buckets the IDF table saw. Fitted with the IDF on the same documents, it was 1
#: for every paragraph and got no weight; such a file loads with that column left out.
_V1_FEATURES = [*FEATURES, "known"]

_ROWS = 1 << 16  # rows of a signal matrix standardised at once


class TopicModel(BaseEstimator):
    """Scores how far each paragraph is from its document's topic.

    Args:
        n_features: Hash buckets of the TF-IDF vectors (a power of two).
        shingle_size: Characters per shingle; must be the repeat stages'
            (``ShingleConfig.size``), whose hashes the cleaner passes on
            (see :meth:`check_compatible`).
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
        >>> [scores] = model.score_samples([["Rain fell on Paris.", "Rain is expected in Paris again."]])
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

    # -- the estimator: documents in, one array per document out ----------------------------

    def fit(self, X: Sequence[Sequence[str]], y: Sequence[Sequence[int]]) -> TopicModel:
        """Fit the IDF table on the documents ``X`` and the coefficients on the labels ``y``.

        Args:
            X: Documents, each a sequence of paragraphs in order.
            y: Per document, one label per paragraph: 1 off-topic, 0 belongs,
                -1 ignore (e.g. a repeat the repeat stage removes).

        Returns:
            self

        Raises:
            InputError: ``X`` and ``y`` do not have the same shape, or the
                labels are all of one kind.
        """
        _check_documents(X)
        if len(X) != len(y):
            raise InputError(f"got {len(X)} documents but {len(y)} label lists")
        hashes = [paragraph_hashes(doc, self.shingle_size) for doc in X]
        doc_counts = sp.vstack(
            [bucket_counts([np.concatenate(h) if h else np.zeros(0, np.uint32)], self.n_features) for h in hashes]
        )
        tfidf = TfidfTransformer(sublinear_tf=True).fit(doc_counts)
        self.idf_ = tfidf.idf_.astype(np.float32)
        self.seen_ = (np.asarray((doc_counts > 0).sum(axis=0)).ravel() > 0).astype(np.float64)
        # The fit's signals use the transformer's float64 IDF; a saved model keeps idf_ (float32).
        self._idf64 = tfidf.idf_
        self._source: str | None = None  # fitted here, not loaded from a file
        builder = self._builder()
        rows, ys = [], []
        for doc, doc_hashes, doc_labels in zip(X, hashes, y, strict=False):
            if len(doc) != len(doc_labels):
                raise InputError(f"a document has {len(doc)} paragraphs but {len(doc_labels)} labels")
            keep = np.asarray(doc_labels) >= 0
            if not keep.any():
                continue
            kept = [p for p, k in zip(doc, keep, strict=False) if k]
            kept_hashes = [h for h, k in zip(doc_hashes, keep, strict=False) if k]
            rows.append(builder.batch([kept], [kept_hashes])[0])
            ys.append(np.asarray(doc_labels)[keep])
        x, labels = np.vstack(rows), np.concatenate(ys)
        if len(set(labels.tolist())) < 2:
            raise InputError("labels must contain both off-topic (1) and belonging (0) paragraphs")
        scaler = StandardScaler().fit(x)
        weights = {0: self.keep_weight, 1: 1.0}
        classifier = LogisticRegression(C=self.C, max_iter=1000, class_weight=weights).fit(scaler.transform(x), labels)
        self.mean_ = scaler.mean_
        self.scale_ = scaler.scale_
        self.coef_ = classifier.coef_.ravel()
        self.intercept_ = float(classifier.intercept_[0])
        self.offset_ = 0.0
        # Like IsolationForest's contamination: put 0.5 where only max_loss of the
        # belonging paragraphs score higher, so the default threshold is an operating point.
        belonging = self.decision_from_signals(x[labels == 0])
        self.offset_ = float(np.quantile(belonging, 1.0 - self.max_loss))
        return self

    def decision_function(self, X: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Off-topic log-odds of each paragraph, minus ``offset_``: one array per document of ``X``."""
        return [self.decision_from_signals(matrix) for matrix in self.signals_batch(X)]

    def score_samples(self, X: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Off-topic probability of each paragraph: one array per document of ``X``.

        Args:
            X: Documents, each a sequence of paragraphs in order.

        Returns:
            Per document, one probability per paragraph, as ``fit`` takes ``y``.
        """
        return [self.score_signals(matrix) for matrix in self.signals_batch(X)]

    # -- signal matrices: one row per paragraph, one column per Signal ----------------------

    def signals(self, paragraphs: Sequence[str], hashes: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """The signal matrix of one document (see :meth:`signals_batch`)."""
        return self.signals_batch([paragraphs], None if hashes is None else [hashes])[0]

    def signals_batch(
        self,
        documents: Sequence[Sequence[str]],
        hashes: Sequence[Sequence[np.ndarray]] | None = None,
    ) -> list[np.ndarray]:
        """Signal matrices of many documents, one row per paragraph, columns :class:`Signal`.

        Many small documents are scored together in array operations, so
        one call per batch is much faster than one per document.

        Args:
            documents: Each document's paragraphs, in order.
            hashes: Their shingle hashes (``shingle_hashes(normalise(p),
                shingle_size)``), if already computed; same shape.

        Returns:
            One ``(paragraphs, len(Signal))`` matrix per document.

        Raises:
            NotFittedError: The model is not fitted.
            InputError: ``hashes`` does not have the shape of ``documents``.
        """
        self._check_fitted("idf_")
        _check_documents(documents)
        return self._builder().batch(documents, hashes)

    def decision_from_signals(self, matrix: np.ndarray) -> np.ndarray:
        """Off-topic log-odds per row of a signal matrix, minus ``offset_``."""
        self._check_fitted()
        if matrix.ndim != 2 or len(matrix) <= _ROWS:
            return ((matrix - self.mean_) / self.scale_) @ self.coef_ + self.intercept_ - self.offset_
        # In slices of rows: a document of millions of paragraphs needs no standardised copy of its matrix.
        out = np.empty(len(matrix))
        for s in range(0, len(matrix), _ROWS):
            out[s : s + _ROWS] = (
                ((matrix[s : s + _ROWS] - self.mean_) / self.scale_) @ self.coef_ + self.intercept_ - self.offset_
            )
        return out

    def score_signals(self, matrix: np.ndarray) -> np.ndarray:
        """Off-topic probability per row of a signal matrix."""
        return 1.0 / (1.0 + np.exp(-self.decision_from_signals(matrix)))

    @staticmethod
    def shapes(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What the form of each paragraph allows the decide stage to do.

        Args:
            matrix: A signal matrix.

        Returns:
            ``(junk, substantial)`` masks: ``junk`` paragraphs have the shape
            of page furniture (caption, chrome, a kicker, a line under a chrome
            header) and may be removed wherever they stand; ``substantial``
            ones are not short plain lines, so they can open a trailing run.
        """
        junk = (
            (matrix[:, Signal.CAPTION] > 0)
            | (matrix[:, Signal.CHROME] > 0)
            | (matrix[:, Signal.KICKER] > 0)
            | (matrix[:, Signal.UNDER_HEADER] > 0)
        )
        substantial = junk | (matrix[:, Signal.SHORT_PLAIN] == 0)
        return junk, substantial

    @staticmethod
    def furniture_shaped(matrix: np.ndarray) -> np.ndarray:
        """Which rows have the form of page furniture rather than of another story.

        Captions, photo credits and chrome lines (and lines under a chrome
        header) are page furniture; a kicker opens a teaser, which is text
        about another subject. The decide stage names a removal ``furniture``
        or ``off_topic`` by this.
        """
        return (
            (matrix[:, Signal.CAPTION] > 0) | (matrix[:, Signal.CHROME] > 0) | (matrix[:, Signal.UNDER_HEADER] > 0)
        ) & (matrix[:, Signal.KICKER] == 0)

    @staticmethod
    def captions(matrix: np.ndarray) -> np.ndarray:
        """Which rows have the form of a caption or a photo credit (see :func:`dedup.decide.off_topic`)."""
        return matrix[:, Signal.CAPTION] > 0

    @staticmethod
    def teaser_form(matrix: np.ndarray) -> np.ndarray:
        """Which rows have a form that marks text added to a page: a kicker, a cut sentence, a caption, chrome.

        The decide stage lets a trailing run go only when one of its
        paragraphs has such a form (:func:`dedup.decide.off_topic`).
        """
        return (
            (matrix[:, Signal.KICKER] > 0)
            | (matrix[:, Signal.UNTERMINATED] > 0)
            | (matrix[:, Signal.CAPTION] > 0)
            | (matrix[:, Signal.CHROME] > 0)
        )

    def contributions(self, matrix: np.ndarray) -> list[dict[str, float]]:
        """Each signal's share of the log-odds, per row of a signal matrix, to explain a score.

        The shares of a row, plus ``intercept_`` minus ``offset_``, add up to
        its :meth:`decision_from_signals`, up to the rounding of each share to 4
        decimals.
        """
        self._check_fitted()
        parts = ((matrix - self.mean_) / self.scale_) * self.coef_
        return [{name: round(float(v), 4) for name, v in zip(FEATURES, row, strict=False)} for row in parts]

    # -- compatibility -----------------------------------------------------------------------

    def check_compatible(self, shingle: ShingleConfig) -> None:
        """Check that the cleaner's shingles are the ones this model reads.

        The cleaner passes on the shingle hashes the repeat stages made with
        ``shingle``; hashes of another shingle size fall in buckets whose IDF
        weights mean something else, and every score would be quietly wrong.

        Args:
            shingle: The cleaner's shingle settings.

        Raises:
            ModelError: ``shingle.size`` is not this model's ``shingle_size``.
        """
        if shingle.size != self.shingle_size:
            where = f"{self._source}: " if getattr(self, "_source", None) else ""
            raise ModelError(
                f"{where}the topic model reads {self.shingle_size}-character shingles but the shingle size "
                f"is {shingle.size}; use ShingleConfig(size={self.shingle_size}) with this model, or one fitted "
                f"with TopicModel(shingle_size={shingle.size})"
            )

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
        _check_not_data(path)
        fix = "create one with `dedup fit-topic`"
        with reading_model(path, "topic", fix), np.load(path, allow_pickle=False) as data:
            header = json.loads(bytes(data["header"]).decode())
            if header.get("format") != FORMAT or header.get("version") not in (1, FORMAT_VERSION):
                raise ModelError(f"{path}: not a dedup topic model (format {header.get('format')!r})")
            old = header.get("version") == 1 and header.get("features") == _V1_FEATURES
            if header.get("features") != list(FEATURES) and not old:
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
            if old and len(model.coef_) == len(_V1_FEATURES):
                if model.coef_[-1] != 0.0:
                    raise ModelError(f"{path}: the model weighs the `known` signal, which dedup no longer has; {fix}")
                model.mean_, model.scale_, model.coef_ = model.mean_[:-1], model.scale_[:-1], model.coef_[:-1]
            if not (len(model.mean_) == len(model.scale_) == len(model.coef_) == len(FEATURES)):
                raise ModelError(f"{path}: coefficient arrays do not match the {len(FEATURES)} signals")
            model.intercept_ = float(header["intercept"])
            model.offset_ = float(header["offset"])
        model._idf64 = model.idf_.astype(np.float64)
        model._source = str(path)  # named by check_compatible's message
        return model

    @classmethod
    def default(cls) -> TopicModel:
        """The model shipped with the package (see ``docs/topic.md`` for how it was fitted)."""
        return cls.load(default_model_path())

    def __getstate__(self) -> dict:
        # The float64 IDF is rebuilt from idf_; keeping it out halves what workers receive.
        state = self.__dict__.copy()
        state.pop("_idf64", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if hasattr(self, "idf_"):
            self._idf64 = self.idf_.astype(np.float64)

    # -- internals ---------------------------------------------------------------------------

    def _builder(self) -> SignalBuilder:
        return SignalBuilder(
            idf=self._idf64,
            shingle_size=self.shingle_size,
            lead_weight=self.lead_weight,
            decay=self.decay,
        )

    def _check_fitted(self, attribute: str = "coef_") -> None:
        if not hasattr(self, attribute):
            raise NotFittedError(
                "This TopicModel is not fitted yet: call fit(), or use TopicModel.default() or TopicModel.load()"
            )


def _check_not_data(path: str | Path) -> None:
    """Refuse a JSON file given as a model, with a message that says what it looks like.

    The file most often given by mistake is the labelled data itself, where
    the model fitted on it was meant.

    Raises:
        ModelError: The file starts like JSON.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return  # np.load says what is wrong
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        raise ModelError(
            f"{path}: JSON lines (labelled paragraphs?), not a dedup topic model; a model is the .npz file that "
            f"`dedup fit-topic {path} -o model.npz` fits on labelled paragraphs: give that file"
        )


def _check_documents(documents: Sequence[Sequence[str]]) -> None:
    """Refuse the two likeliest mistakes: one document's paragraphs, or a signal matrix, for documents."""
    if isinstance(documents, np.ndarray) and documents.dtype.kind in "fiub":
        raise InputError(
            "expected documents (a sequence of paragraph lists) but got a numeric array; "
            "score a signal matrix with score_signals() or decision_from_signals()"
        )
    if isinstance(documents, str) or any(isinstance(doc, str) for doc in documents):
        raise InputError("expected documents, each a sequence of paragraphs, but got a string; pass [paragraphs]")


def default_model_path() -> Path:
    """Where the shipped model lives inside the package."""
    return Path(__file__).resolve().parents[1] / "models" / "default.npz"
