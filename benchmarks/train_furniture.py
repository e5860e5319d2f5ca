"""Fit the furniture model shipped with dedup (``dedup/models/furniture.npz``).

Protocol (no tuning to the pages a model is scored on):

- Labels come from real pages: a line of a page's tag-stripped ``text`` is
  content (0) when at least half of its 4-token shingles are in the gold
  text, or, for a line of fewer than four tokens, when its tokens stand in
  the gold in a row; furniture (1) otherwise (see :func:`line_labels`).
  The title and paragraphs of the BBC *train* articles are content
  examples too.
- The shipped model is fitted on BBC train and the CleanEval pages only,
  never on Dragnet: Dragnet's licence forbids shipping anything derived
  from it. The benchmark scores Dragnet with it.
- CleanEval is scored with a second model fitted the same way on BBC train
  and the Dragnet pages, at run time and never saved
  (:func:`furniture_factory`).
- The threshold is chosen by cross-validation within the pages a model is
  fitted on: 5 folds grouped by page (seeded), each fold scored by a model
  fitted on the BBC train articles and the other folds; the threshold
  maximises the recall-weighted F-score (:data:`BETA`) of the page metric,
  averaged over the two inputs (``text`` and ``trafilatura``) of the
  held-out pages, among the thresholds that lose at most :data:`MAX_LOST`
  of the pages on either input. Losing article text is worse than keeping
  furniture.

Usage::

    python benchmarks/train_furniture.py [-o dedup/models/furniture.npz] [--seed 0]
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from random import Random

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.corpus import load_articles  # noqa: E402
from benchmarks.pages import INPUTS, Page, PageScore, load_pages, page_score, summarise  # noqa: E402
from dedup.furniture import SIGNALS, FurnitureModel  # noqa: E402
from dedup.split import join_paragraphs, split_paragraphs  # noqa: E402

SHIPPED_SOURCE = "cleaneval"  # the only page source the shipped model may learn from
FOLDS = 5
BETA = 1.5  # recall counts BETA times as much as precision when choosing the threshold
MAX_LOST = 0.005  # share of pages whose recall may fall by more than 0.2 (benchmarks.pages.LOST_DROP)
THRESHOLDS = tuple(round(t, 3) for t in np.arange(0.30, 0.981, 0.02))
C = 1.0
CONTENT_WEIGHT = 1.0

_TOKEN = re.compile(r"\w+")


def line_labels(lines: Sequence[str], gold: str) -> list[int]:
    """Label each line of a page: 0 content, 1 furniture.

    A line of four tokens or more is content when at least half of its
    4-token shingles are shingles of the gold; a shorter line when its
    tokens occur in a row in the gold; a line without tokens is furniture.

    Example:
        >>> line_labels(["Home", "the cat sat on the mat", "Share this"], "The cat sat on the mat. Home again.")
        [0, 0, 1]
    """
    gold_tokens = _TOKEN.findall(gold)
    gold_shingles = set(zip(gold_tokens, gold_tokens[1:], gold_tokens[2:], gold_tokens[3:], strict=False))
    padded = " " + " ".join(gold_tokens) + " "
    labels = []
    for line in lines:
        tokens = _TOKEN.findall(line)
        if len(tokens) >= 4:
            shingles = list(zip(tokens, tokens[1:], tokens[2:], tokens[3:], strict=False))
            inside = sum(s in gold_shingles for s in shingles)
            labels.append(0 if 2 * inside >= len(shingles) else 1)
        elif tokens:
            labels.append(0 if " " + " ".join(tokens) + " " in padded else 1)
        else:
            labels.append(1)
    return labels


def paragraphs(text: str) -> list[str]:
    """The paragraphs of ``text`` as :func:`dedup.split.split_paragraphs` gives them."""
    return [p.text for p in split_paragraphs(text)[0]]


def bbc_documents() -> list[list[str]]:
    """BBC train articles, title first: content examples."""
    return [[a.title, *a.paragraphs] for a in load_articles().split("train")]


def training_set(pages: Sequence[Page], bbc: Sequence[Sequence[str]]) -> tuple[list[list[str]], list[list[int]]]:
    """Documents and labels: the pages' ``text`` lines labelled from the gold, then the BBC articles."""
    documents: list[list[str]] = []
    labels: list[list[int]] = []
    for page in pages:
        lines = paragraphs(page.text)
        documents.append(lines)
        labels.append(line_labels(lines, page.gold))
    for doc in bbc:
        documents.append(list(doc))
        labels.append([0] * len(doc))
    return documents, labels


def remove(text: str, drop: np.ndarray) -> str:
    """``text`` without the paragraphs marked in ``drop``, separators kept as the cleaner keeps them."""
    parts, head, tail = split_paragraphs(text)
    return join_paragraphs((p for p, d in zip(parts, drop, strict=True) if not d), head, tail)


def _keep_one(scores: np.ndarray, threshold: float) -> np.ndarray:
    drop = scores >= threshold
    if len(drop) and drop.all():
        drop[int(np.argmin(scores))] = False
    return drop


def _f_beta(precision: float, recall: float, beta: float) -> float:
    b2 = beta * beta
    return (1 + b2) * precision * recall / (b2 * precision + recall) if precision + recall else 0.0


def cross_validate(
    pages: Sequence[Page], bbc: Sequence[Sequence[str]], seed: int, folds: int = FOLDS
) -> dict[str, list[np.ndarray]]:
    """Out-of-fold furniture scores of each page's paragraphs, per input.

    Pages are shuffled (seeded) and cut into ``folds`` groups; each group is
    scored by a model fitted on the BBC articles and the other groups.
    """
    order = list(range(len(pages)))
    Random(seed).shuffle(order)
    scores: dict[str, list[np.ndarray]] = {name: [np.zeros(0)] * len(pages) for name in INPUTS}
    for k in range(folds):
        held = order[k::folds]
        held_set = set(held)
        train = [p for i, p in enumerate(pages) if i not in held_set]
        documents, labels = training_set(train, bbc)
        model = FurnitureModel(C=C, content_weight=CONTENT_WEIGHT).fit(documents, labels)
        for name in INPUTS:
            for i, s in zip(held, model.score_samples([paragraphs(pages[i].input(name)) for i in held]), strict=True):
                scores[name][i] = s
    return scores


def threshold_curve(
    pages: Sequence[Page], scores: dict[str, list[np.ndarray]], thresholds: Sequence[float] = THRESHOLDS
) -> list[dict[str, float]]:
    """The page metric of each input at each threshold, from out-of-fold scores."""
    base = {name: [page_score(p.input(name), p.gold) for p in pages] for name in INPUTS}
    # Neighbouring thresholds mostly drop the same lines: score each distinct removal once.
    cache: dict[tuple[str, int, bytes], PageScore] = {}
    curve = []
    for t in thresholds:
        row: dict[str, float] = {"threshold": t}
        objective = 0.0
        for name in INPUTS:
            page_scores = []
            for i, (page, s) in enumerate(zip(pages, scores[name], strict=True)):
                drop = _keep_one(s, t)
                key = (name, i, np.packbits(drop).tobytes())
                if key not in cache:
                    cache[key] = page_score(remove(page.input(name), drop), page.gold) if drop.any() else base[name][i]
                page_scores.append(cache[key])
            summary = summarise(page_scores, base[name])
            row[f"{name}_p"], row[f"{name}_r"], row[f"{name}_f1"] = summary.precision, summary.recall, summary.f1
            row[f"{name}_lost"] = summary.lost
            row[f"{name}_lost_share"] = summary.lost_share
            objective += _f_beta(summary.precision, summary.recall, BETA) / len(INPUTS)
        row["objective"] = objective
        curve.append(row)
    return curve


def choose_threshold(curve: Sequence[dict[str, float]]) -> dict[str, float]:
    """The row of the curve with the best objective among those losing at most
    :data:`MAX_LOST` of the pages on each input; the least lossy row when none does."""
    allowed = [row for row in curve if all(row[f"{name}_lost_share"] <= MAX_LOST for name in INPUTS)]
    if not allowed:
        return min(curve, key=lambda row: (sum(row[f"{name}_lost"] for name in INPUTS), row["threshold"]))
    return max(allowed, key=lambda row: (row["objective"], -row["threshold"]))


def fit_model(
    pages: Sequence[Page], bbc: Sequence[Sequence[str]], seed: int, verbose: bool = False
) -> tuple[FurnitureModel, list[dict[str, float]]]:
    """Choose the threshold by cross-validation on ``pages``, then fit on all of them.

    Returns:
        The fitted model and the cross-validation curve.
    """
    curve = threshold_curve(pages, cross_validate(pages, bbc, seed))
    best = choose_threshold(curve)
    if verbose:
        for row in curve:
            mark = " <" if row is best else ""
            print(
                f"  t={row['threshold']:.2f} text F1 {row['text_f1']:.3f} R {row['text_r']:.3f} "
                f"lost {row['text_lost']:3.0f} | trafilatura F1 {row['trafilatura_f1']:.3f} "
                f"R {row['trafilatura_r']:.3f} lost {row['trafilatura_lost']:3.0f}{mark}",
                file=sys.stderr,
            )
    documents, labels = training_set(pages, bbc)
    model = FurnitureModel(C=C, content_weight=CONTENT_WEIGHT, threshold=best["threshold"]).fit(documents, labels)
    return model, curve


def furniture_models(
    seed: int = 0, shipped: FurnitureModel | None = None, threshold: float | None = None
) -> dict[str, FurnitureModel]:
    """The model that scores each page source (the protocol in the module docstring).

    Dragnet pages are scored with the shipped model (or ``shipped``);
    CleanEval pages with a model fitted here on BBC train and every Dragnet
    page, which is never saved.

    Args:
        seed: Seed of the cross-validation folds of the run-time model.
        shipped: The model for Dragnet pages; the shipped one when ``None``.
        threshold: Use this threshold for both models instead of the
            cross-validated ones (no cross-validation is run): to trace
            the trade-off between precision and pages lost.
    """
    dragnet = [p for p in load_pages() if p.source == "dragnet"]
    shipped = shipped or FurnitureModel.default()
    if threshold is None:
        runtime = fit_model(dragnet, bbc_documents(), seed)[0]
    else:
        documents, labels = training_set(dragnet, bbc_documents())
        runtime = FurnitureModel(C=C, content_weight=CONTENT_WEIGHT, threshold=threshold).fit(documents, labels)
        shipped = copy.copy(shipped)  # the same coefficients, another operating point
        shipped.threshold = shipped.threshold_ = threshold
    models = {"dragnet": shipped, "cleaneval": runtime}
    print(
        f"furniture thresholds: {models['dragnet'].threshold_:.2f} (shipped, for Dragnet), "
        f"{models['cleaneval'].threshold_:.2f} (fitted on Dragnet, for CleanEval)",
        file=sys.stderr,
    )
    return models


def furniture_factory(
    seed: int = 0, shipped: FurnitureModel | None = None, threshold: float | None = None
) -> Callable[[Page], Callable[[str], str]]:
    """The benchmark's furniture cleaner factory: :func:`furniture_models`' model of the page's source, alone."""
    models = furniture_models(seed, shipped, threshold)

    def factory(page: Page) -> Callable[[str], str]:
        model = models[page.source]

        def clean(text: str) -> str:
            return remove(text, model.predict([paragraphs(text)])[0])

        return clean

    return factory


def bbc_check(model: FurnitureModel) -> dict[str, float]:
    """False positives and speed on the unedited BBC *test* articles (title line, then one paragraph a line).

    Returns:
        ``paragraphs``, ``removed`` (paragraphs :meth:`FurnitureModel.predict`
        calls furniture), ``removed_share``, ``megabytes`` (UTF-8 text
        scored) and ``mb_per_s`` (scoring speed, best of three runs).
    """
    documents = [[a.title, *a.paragraphs] for a in load_articles().split("test")]
    removed = int(sum(d.sum() for d in model.predict(documents)))
    paragraphs_n = sum(len(d) for d in documents)
    megabytes = sum(len("\n".join(d).encode()) + 1 for d in documents) / 1e6
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        model.score_samples(documents)
        best = min(best, time.perf_counter() - start)
    return {
        "paragraphs": paragraphs_n,
        "removed": removed,
        "removed_share": removed / paragraphs_n,
        "megabytes": megabytes,
        "mb_per_s": megabytes / best,
    }


def _print_check(model: FurnitureModel) -> None:
    check = bbc_check(model)
    print(
        f"BBC test articles: {check['removed']} of {check['paragraphs']} paragraphs called furniture "
        f"({100 * check['removed_share']:.2f} %); scoring {check['megabytes']:.2f} MB at {check['mb_per_s']:.2f} MB/s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "dedup" / "models" / "furniture.npz")
    parser.add_argument("--seed", type=int, default=0, help="seed of the cross-validation folds")
    parser.add_argument("--check", action="store_true", help="only measure the saved model on BBC test articles")
    args = parser.parse_args(argv)
    if args.check:
        _print_check(FurnitureModel.load(args.output))
        return 0
    start = time.perf_counter()
    pages = [p for p in load_pages() if p.source == SHIPPED_SOURCE]
    model, _ = fit_model(pages, bbc_documents(), args.seed, verbose=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.output)
    print(f"fitted on {len(pages)} {SHIPPED_SOURCE} pages and the BBC train articles in "
          f"{time.perf_counter() - start:.1f} s; threshold {model.threshold_:.2f}")
    for name, coef in sorted(zip(SIGNALS, model.coef_, strict=True), key=lambda x: -abs(x[1])):
        print(f"  {name:20s} {coef:+.3f}")
    print(f"saved {args.output} ({args.output.stat().st_size / 1024:.1f} KiB)")
    _print_check(model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
