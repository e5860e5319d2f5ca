"""The furniture detector: which lines of a scraped page are not the article.

Page furniture is what a page carries around its main content: menus,
breadcrumbs, share and follow widgets, lists of other headlines, bylines of
other stories, comment forms, footers. :class:`FurnitureModel` scores each
paragraph (one non-blank line, as :func:`dedup.split.split_paragraphs`
gives) with the probability that it is furniture, from the text alone: no
HTML, no list of site phrases. It scores; it never drops: the caller (the
decide stage, or :meth:`FurnitureModel.predict`) turns scores into removals.

Signals (:data:`SIGNALS`, see ``docs/furniture.md``) come in four families:

- *form* of the line itself: length in characters and words, word length,
  stop-word density (a small multilingual set, jusText's idea), shares of
  letters, digits, capitals, title-case words and punctuation, terminal
  punctuation, a closing colon, separators (``|``, ``»``, ``·``, ``>``…),
  and the shape of URLs, e-mail addresses, dates and copyright notices;
- *neighbours*: length, stop-word density and terminal punctuation of the
  previous and next lines, and their means over a window of lines;
- *runs*: the length of the run of short lines the line stands in;
- *page*: relative position, distance from the page's core (its longest
  block of prose), the line's share of the page's text, the page's size,
  and whether the line is repeated elsewhere on the page.

Every signal is computed for a whole batch of documents at once: the
paragraphs are joined into one string, character classes are counted over
its code points with numpy, and the few regular expressions run once over
the joined string.

A saved model is a ``.npz`` of plain arrays and a JSON header, loaded with
``allow_pickle=False``: coefficients and scaling, no text.

Example:
    >>> model = FurnitureModel.default()
    >>> page = ["Home | News | Sport | Contact", "The council approved the budget on Monday, "
    ...         "after a debate that lasted most of the afternoon and ended in a narrow vote."]
    >>> menu, prose = model.score_samples([page])[0]
    >>> bool(menu > prose)
    True
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from dedup.errors import ModelError, reading_model
from dedup.words import STOP_WORDS, ascii_punctuation_to_spaces

FORMAT = "dedup-furniture-model"
FORMAT_VERSION = 1

# Signal families, in column order; SIGNALS is their concatenation.
FORM_SIGNALS = (
    "log_chars",
    "log_words",
    "word_length",
    "stop_density",
    "no_stop_words",
    "letter_share",
    "digit_share",
    "upper_share",
    "title_share",
    "punct_share",
    "terminal",
    "ends_colon",
    "separators",
    "separator_density",
    "link_shape",
    "date_shape",
    "copyright",
    "bullet",
)
NEIGHBOUR_SIGNALS = (
    "prev_log_chars",
    "next_log_chars",
    "prev_stop_density",
    "next_stop_density",
    "prev_terminal",
    "next_terminal",
    "window_log_chars",
    "window_stop_density",
    "window_prose",
)
RUN_SIGNALS = ("short_run",)
PAGE_SIGNALS = (
    "position",
    "core_distance",
    "before_core",
    "after_core",
    "in_core",
    "text_share",
    "log_page_lines",
    "repeated",
)
SIGNALS = FORM_SIGNALS + NEIGHBOUR_SIGNALS + RUN_SIGNALS + PAGE_SIGNALS
FAMILIES = {"form": FORM_SIGNALS, "neighbours": NEIGHBOUR_SIGNALS, "runs": RUN_SIGNALS, "page": PAGE_SIGNALS}

_TERMINAL = frozenset(".!?…\"”’'»)。！？;")
_BULLETS = frozenset("•*-–—·►▶▸◦‣○●■□>»")
_SEPARATORS = frozenset("|»«·•›‹►▶◄◀→←¦/\\")
# ASCII punctuation becomes a space in the UTF-8 bytes (dedup.words), the commonest typographic marks
# by replacement: then str.split() gives \w+ runs closely enough.
_MARKS = ("“", "”", "‘", "’", "«", "»", "…", "–", "—", "·", "•", "©", "®")
# Few, general shapes, searched in the lowercased text: web and mail addresses, dates and times,
# copyright notices. Every alternative starts with a literal or a narrow class: cheap to scan.
_LINK = re.compile(r"https?://|www\.|\w@\w|\.(?:com|org|net|html?|php)\b")
_DATE = re.compile(r"[0-9][/.:-][0-9]|[12][0-9]{3}")
_COPYRIGHT = re.compile(r"©|\(c\)|copyright|rights reserved")

SHORT_WORDS = 8  # a line of fewer words is short (a menu item, a headline, a label)
PROSE_CHARS = 80  # a line of this many characters with stop words is prose
PROSE_GAP = 2  # short lines allowed inside a block of prose (a subheading, a caption)
WINDOW = 3  # lines either side for the window means


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _line_sums(flags: np.ndarray, starts: np.ndarray) -> np.ndarray:
    # Lines are never empty, so reduceat's segments are exactly the lines (and their "\n").
    return np.add.reduceat(flags.astype(np.int64), starts) if len(starts) else np.zeros(0, np.int64)


def _match_counts(pattern: re.Pattern[str], text: str, starts: np.ndarray) -> np.ndarray:
    positions = np.fromiter((m.start() for m in pattern.finditer(text)), dtype=np.int64)
    lines = np.searchsorted(starts, positions, side="right") - 1
    return np.bincount(lines, minlength=len(starts))


def _shift(values: np.ndarray, doc: np.ndarray, step: int, fill: float) -> np.ndarray:
    out = np.full(len(values), fill, dtype=np.float64)
    if step > 0:
        same = doc[step:] == doc[:-step]
        out[step:][same] = values[:-step][same]
    else:
        same = doc[:step] == doc[-step:]
        out[:step][same] = values[-step:][same]
    return out


def _window_mean(values: np.ndarray, first: np.ndarray, last: np.ndarray, k: int) -> np.ndarray:
    index = np.arange(len(values))
    lo = np.maximum(index - k, first)
    hi = np.minimum(index + k, last)
    cumulative = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    return (cumulative[hi + 1] - cumulative[lo]) / (hi - lo + 1)


def _runs(flag: np.ndarray, doc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run number and run length of each line, runs being maximal stretches of equal ``flag`` in one doc."""
    if not len(flag):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    new = np.ones(len(flag), dtype=bool)
    new[1:] = (flag[1:] != flag[:-1]) | (doc[1:] != doc[:-1])
    run = np.cumsum(new) - 1
    return run, np.bincount(run)[run]


def signals(documents: Sequence[Sequence[str]]) -> np.ndarray:
    """The signal matrix of a batch of documents.

    Args:
        documents: Each document as its list of paragraphs (non-blank lines
            without line breaks).

    Returns:
        A ``(paragraphs, len(SIGNALS))`` float array, the documents'
        paragraphs in order, columns named by :data:`SIGNALS`.
    """
    lines = [p for doc in documents for p in doc]
    n = len(lines)
    out = np.zeros((n, len(SIGNALS)), dtype=np.float64)
    if not n:
        return out
    sizes = np.fromiter((len(doc) for doc in documents), dtype=np.int64, count=len(documents))
    doc = np.repeat(np.arange(len(documents)), sizes)
    doc_start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    first = doc_start[doc]
    last = first + sizes[doc] - 1
    col = {name: i for i, name in enumerate(SIGNALS)}

    joined = "\n".join(lines)
    chars = np.fromiter((len(p) for p in lines), dtype=np.int64, count=n)
    starts = np.concatenate([[0], np.cumsum(chars + 1)[:-1]])

    # Character classes over code points.
    cp = _codepoints(joined)
    digit = (cp >= 48) & (cp <= 57)
    upper = ((cp >= 65) & (cp <= 90)) | ((cp >= 0xC0) & (cp <= 0xDE) & (cp != 0xD7))
    lower = ((cp >= 97) & (cp <= 122)) | ((cp >= 0xDF) & (cp <= 0xFF) & (cp != 0xF7))
    other_letter = (cp >= 0x100) & ~((cp >= 0x2000) & (cp <= 0x2BFF)) & ~((cp >= 0x3000) & (cp <= 0x303F))
    letter = upper | lower | other_letter
    space = (cp == 32) | (cp == 9) | (cp == 10) | (cp == 0xA0) | ((cp >= 0x2000) & (cp <= 0x200B)) | (cp == 0x3000)
    alnum = letter | digit
    previous_alnum = np.concatenate([[False], alnum[:-1]])
    word_start = letter & ~previous_alnum
    separator = np.isin(cp, np.fromiter((ord(c) for c in _SEPARATORS), dtype=np.uint32))
    n_letters = _line_sums(letter, starts)
    n_digits = _line_sums(digit, starts)
    n_upper = _line_sums(upper, starts)
    n_visible = np.maximum(_line_sums(~space, starts), 1)
    n_punct = _line_sums(~space & ~alnum, starts)
    n_word_starts = _line_sums(word_start, starts)
    n_title = _line_sums(word_start & upper, starts)
    n_separators = _line_sums(separator, starts)

    # Words as the benchmark counts them (\w+ runs), and stop words among them.
    lowered = joined.lower()
    lowered_starts = starts
    if len(lowered) != len(joined):
        # A few capitals lowercase to two code points (İ): line starts must be found again.
        lowered_starts = np.concatenate([[0], np.cumsum([len(p.lower()) + 1 for p in lines])[:-1]])
    plain = ascii_punctuation_to_spaces(lowered)
    for mark in _MARKS:
        plain = plain.replace(mark, " ")
    words = [line.split() for line in plain.split("\n")]
    n_words = np.fromiter((len(w) for w in words), dtype=np.int64, count=n)
    n_stop = np.fromiter((sum(map(STOP_WORDS.__contains__, w)) for w in words), dtype=np.int64, count=n)
    stripped = [p.rstrip() for p in lines]
    terminal = np.fromiter((p[-1:] in _TERMINAL for p in stripped), dtype=bool, count=n)
    colon = np.fromiter((p[-1:] in ":：" for p in stripped), dtype=bool, count=n)
    bullet = np.fromiter((p.lstrip()[:1] in _BULLETS for p in lines), dtype=bool, count=n)

    log_chars = np.log1p(chars)
    stop_density = n_stop / np.maximum(n_words, 1)
    out[:, col["log_chars"]] = log_chars
    out[:, col["log_words"]] = np.log1p(n_words)
    out[:, col["word_length"]] = np.log1p(n_letters / np.maximum(n_word_starts, 1))
    out[:, col["stop_density"]] = stop_density
    out[:, col["no_stop_words"]] = n_stop == 0
    out[:, col["letter_share"]] = n_letters / n_visible
    out[:, col["digit_share"]] = n_digits / n_visible
    out[:, col["upper_share"]] = n_upper / np.maximum(n_letters, 1)
    out[:, col["title_share"]] = n_title / np.maximum(n_word_starts, 1)
    out[:, col["punct_share"]] = n_punct / n_visible
    out[:, col["terminal"]] = terminal
    out[:, col["ends_colon"]] = colon
    out[:, col["separators"]] = np.log1p(n_separators)
    out[:, col["separator_density"]] = n_separators / np.maximum(n_words, 1)
    out[:, col["link_shape"]] = _match_counts(_LINK, lowered, lowered_starts) > 0
    out[:, col["date_shape"]] = _match_counts(_DATE, lowered, lowered_starts) > 0
    out[:, col["copyright"]] = _match_counts(_COPYRIGHT, lowered, lowered_starts) > 0
    out[:, col["bullet"]] = bullet

    # Neighbours.
    terminal_f = terminal.astype(np.float64)
    out[:, col["prev_log_chars"]] = _shift(log_chars, doc, 1, 0.0)
    out[:, col["next_log_chars"]] = _shift(log_chars, doc, -1, 0.0)
    out[:, col["prev_stop_density"]] = _shift(stop_density, doc, 1, 0.0)
    out[:, col["next_stop_density"]] = _shift(stop_density, doc, -1, 0.0)
    out[:, col["prev_terminal"]] = _shift(terminal_f, doc, 1, 0.0)
    out[:, col["next_terminal"]] = _shift(terminal_f, doc, -1, 0.0)
    prose = (chars >= PROSE_CHARS) & ((n_stop > 0) | (n_words == 0) | terminal)
    out[:, col["window_log_chars"]] = _window_mean(log_chars, first, last, WINDOW)
    out[:, col["window_stop_density"]] = _window_mean(stop_density, first, last, WINDOW)
    out[:, col["window_prose"]] = _window_mean(prose.astype(np.float64), first, last, WINDOW)

    # Runs of short lines.
    short = n_words < SHORT_WORDS
    _, run_length = _runs(short, doc)
    out[:, col["short_run"]] = np.where(short, np.log1p(run_length), 0.0)

    # The page: position, the core block of prose and the distance from it.
    index = np.arange(n)
    out[:, col["position"]] = (index - first) / np.maximum(sizes[doc] - 1, 1)
    core_start, core_end = _core(prose, chars, doc, len(documents))
    before = index < core_start[doc]
    after = index > core_end[doc]
    distance = np.where(before, core_start[doc] - index, np.where(after, index - core_end[doc], 0))
    out[:, col["core_distance"]] = np.log1p(distance)
    out[:, col["before_core"]] = before
    out[:, col["after_core"]] = after
    out[:, col["in_core"]] = ~before & ~after
    page_chars = np.bincount(doc, weights=chars, minlength=len(documents))
    out[:, col["text_share"]] = chars / np.maximum(page_chars[doc], 1)
    out[:, col["log_page_lines"]] = np.log1p(sizes[doc])
    keys = Counter(zip(doc.tolist(), stripped, strict=True))
    out[:, col["repeated"]] = np.fromiter(
        (keys[(d, p)] > 1 for d, p in zip(doc.tolist(), stripped, strict=True)), dtype=bool, count=n
    )
    return out


def _core(prose: np.ndarray, chars: np.ndarray, doc: np.ndarray, n_docs: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last line (global indices) of each document's core: its longest block of prose.

    A block is a stretch of prose lines with gaps of at most :data:`PROSE_GAP`
    other lines; its weight is the characters of its prose lines. A document
    without prose has its longest line as its core.
    """
    n = len(prose)
    # Documents without prose: the longest line (the first of the longest).
    longest = np.lexsort((np.arange(n), -chars, doc))
    core_start = longest[np.minimum(np.searchsorted(doc[longest], np.arange(n_docs)), n - 1)]
    core_end = core_start.copy()
    where = np.flatnonzero(prose)
    if not len(where):
        return core_start, core_end
    opens = np.ones(len(where), dtype=bool)
    opens[1:] = (doc[where[1:]] != doc[where[:-1]]) | (where[1:] - where[:-1] > PROSE_GAP + 1)
    block = np.cumsum(opens) - 1
    weight = np.bincount(block, weights=chars[where])
    block_first = where[opens]
    block_last = where[np.r_[opens[1:], True]]
    block_doc = doc[block_first]
    order = np.lexsort((block_first, -weight, block_doc))
    best = order[np.r_[True, block_doc[order][1:] != block_doc[order][:-1]]]
    core_start[block_doc[best]] = block_first[best]
    core_end[block_doc[best]] = block_last[best]
    return core_start, core_end


class FurnitureModel(BaseEstimator):
    """Probability that each paragraph of a page is furniture, from text alone.

    A logistic regression over :data:`SIGNALS`, standardised.

    Args:
        C: Inverse regularisation strength of the logistic regression.
        content_weight: Weight of content paragraphs against furniture ones
            in fitting (losing article text is worse than keeping furniture).
        threshold: Paragraphs scoring at or above this are furniture in
            :meth:`predict`; chosen by cross-validation in
            ``benchmarks/train_furniture.py``.

    Example:
        >>> pages = [["Home | About | Contact", "Rain fell on Paris all day, and the river rose by a metre."]] * 4
        >>> model = FurnitureModel().fit(pages, [[1, 0]] * 4)
        >>> [len(s) for s in model.score_samples(pages[:1])]
        [2]
    """

    def __init__(self, C: float = 1.0, content_weight: float = 1.0, threshold: float = 0.5) -> None:
        self.C = C
        self.content_weight = content_weight
        self.threshold = threshold

    def fit(self, X: Sequence[Sequence[str]], y: Sequence[Sequence[int]]) -> FurnitureModel:
        """Fit the coefficients.

        Args:
            X: Documents, each a list of paragraphs.
            y: Per document, one label per paragraph: 1 furniture, 0 content,
                -1 ignore.

        Returns:
            self
        """
        if len(X) != len(y):
            raise ValueError(f"got {len(X)} documents but {len(y)} label lists")
        for number, (doc, labels) in enumerate(zip(X, y, strict=True)):
            if len(doc) != len(labels):
                raise ValueError(f"document {number} has {len(doc)} paragraphs but {len(labels)} labels")
        features = signals(X)
        target = np.concatenate([np.asarray(labels, dtype=np.int64) for labels in y]) if len(y) else np.zeros(0)
        keep = target >= 0
        features, target = features[keep], target[keep]
        if len(set(target.tolist())) < 2:
            raise ValueError("labels must contain both furniture (1) and content (0) paragraphs")
        scaler = StandardScaler().fit(features)
        classifier = LogisticRegression(C=self.C, max_iter=2000, class_weight={0: self.content_weight, 1: 1.0})
        classifier.fit(scaler.transform(features), target)
        self.mean_ = scaler.mean_
        self.scale_ = scaler.scale_
        self.coef_ = classifier.coef_.ravel()
        self.intercept_ = float(classifier.intercept_[0])
        self.threshold_ = float(self.threshold)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError(
                "This FurnitureModel is not fitted yet: call fit(), or use FurnitureModel.default() or .load()"
            )

    def _split(self, values: np.ndarray, X: Sequence[Sequence[str]]) -> list[np.ndarray]:
        bounds = np.cumsum([len(doc) for doc in X])[:-1]
        return list(np.split(values, bounds)) if len(X) else []

    def decision_function(self, X: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Furniture log-odds of each paragraph, per document."""
        self._check_fitted()
        return self._split(self.log_odds(signals(X)), X)

    def log_odds(self, matrix: np.ndarray) -> np.ndarray:
        """Furniture log-odds of each row of a signal matrix (:func:`signals`)."""
        self._check_fitted()
        return ((matrix - self.mean_) / self.scale_) @ self.coef_ + self.intercept_

    def score_signals(self, matrix: np.ndarray) -> np.ndarray:
        """Furniture probability of each row of a signal matrix (:func:`signals`)."""
        return 1.0 / (1.0 + np.exp(-self.log_odds(matrix)))

    def signal_contributions(self, matrix: np.ndarray) -> list[dict[str, float]]:
        """Each signal's term in the log-odds, per row of a signal matrix, to explain a call.

        The terms of a row plus ``intercept_`` add up to its :meth:`log_odds`,
        up to the rounding of each term to 4 decimals.
        """
        self._check_fitted()
        parts = ((matrix - self.mean_) / self.scale_) * self.coef_
        return [{s: round(float(v), 4) for s, v in zip(SIGNALS, row, strict=True)} for row in parts]

    def score_samples(self, X: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Furniture probability of each paragraph, per document.

        Args:
            X: Documents, each a list of paragraphs.

        Returns:
            One float array per document, one probability per paragraph.
        """
        return [1.0 / (1.0 + np.exp(-d)) for d in self.decision_function(X)]

    def predict(self, X: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Which paragraphs are furniture (score at or above ``threshold_``), per document.

        A document is never emptied: when every paragraph is furniture, the
        one that scores lowest is kept.
        """
        self._check_fitted()
        out = []
        for scores in self.score_samples(X):
            drop = scores >= self.threshold_
            if len(drop) and drop.all():
                drop[int(np.argmin(scores))] = False
            out.append(drop)
        return out

    def contributions(self, X: Sequence[Sequence[str]]) -> list[list[dict[str, float]]]:
        """Per-signal contributions to each paragraph's log-odds, for explaining a call.

        Returns:
            Per document, per paragraph, a dict from signal name to its term
            in the log-odds (the intercept under ``"intercept"``).
        """
        self._check_fitted()
        intercept = round(self.intercept_, 4)
        rows = [{"intercept": intercept, **terms} for terms in self.signal_contributions(signals(X))]
        bounds = np.cumsum([0] + [len(doc) for doc in X])
        return [rows[bounds[i] : bounds[i + 1]] for i in range(len(X))]

    # -- persistence -------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Save the fitted model as a pickle-free ``.npz`` file."""
        self._check_fitted()
        header = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "params": self.get_params(),
            "signals": list(SIGNALS),
            "intercept": self.intercept_,
            "threshold": self.threshold_,
        }
        with open(path, "wb") as handle:
            np.savez_compressed(
                handle,
                header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
                mean=self.mean_,
                scale=self.scale_,
                coef=self.coef_,
            )

    @classmethod
    def load(cls, path: str | Path) -> FurnitureModel:
        """Load a model saved by :meth:`save`.

        Raises:
            ModelError: The file is missing, not a dedup furniture model, fitted
                on other signals, or damaged.
        """
        fix = "refit it with `python benchmarks/train_furniture.py`"
        with reading_model(path, "furniture", fix), np.load(path, allow_pickle=False) as data:
            header = json.loads(bytes(data["header"]).decode())
            if header.get("format") != FORMAT or header.get("version") != FORMAT_VERSION:
                raise ModelError(
                    f"{path}: not a dedup furniture model version {FORMAT_VERSION} "
                    f"(found format {header.get('format')!r} version {header.get('version')!r}); {fix}"
                )
            if header.get("signals") != list(SIGNALS):
                raise ModelError(f"{path}: the model was fitted on other signals; {fix}")
            model = cls(**header["params"])
            model.mean_, model.scale_, model.coef_ = data["mean"], data["scale"], data["coef"]
            if not (len(model.mean_) == len(model.scale_) == len(model.coef_) == len(SIGNALS)):
                raise ModelError(f"{path}: coefficient arrays do not match the {len(SIGNALS)} signals; {fix}")
            model.intercept_ = float(header["intercept"])
            model.threshold_ = float(header["threshold"])
        return model

    @classmethod
    def default(cls) -> FurnitureModel:
        """The model shipped with the package (see ``docs/furniture.md`` for how it was fitted)."""
        return cls.load(default_model_path())


def default_model_path() -> Path:
    """Where the shipped furniture model lives."""
    return Path(__file__).resolve().parent / "models" / "furniture.npz"


@lru_cache(maxsize=4)
def cached_model(path: str | None) -> FurnitureModel:
    """The model saved at ``path`` (the shipped one for ``None``), loaded once per process.

    The furniture stage of :func:`dedup.analysis.analyse_batch` calls this in
    every process that analyses batches (a worker of the local pool, a Ray
    task), so the configuration alone says which model scores, and nothing
    but the path crosses a process boundary.

    Raises:
        ModelError: The file cannot be read as a furniture model.
    """
    return FurnitureModel.default() if path is None else FurnitureModel.load(path)
