"""Fit the topic model shipped with dedup (``dedup/models/default.npz``).

The model is fitted on damaged corpora built from the *train* half of the
BBC data (see :mod:`benchmarks.corpus`), their page chrome drawn from the
CleanEval pages (never Dragnet's: its licence forbids shipping anything
derived from it); the quality benchmark scores it on the *test* half, with
chrome from the Dragnet pages. The saved file holds IDF weights of hashed shingles and
one coefficient per signal (:class:`dedup.topic.Signal`): no text.

Usage::

    python benchmarks/train_topic.py [--docs 1000] [--seeds 4] [-o dedup/models/default.npz]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.corpus import build_corpus  # noqa: E402
from dedup.topic import FEATURES, TopicModel  # noqa: E402

OFF_TOPIC = {"teaser_other", "teaser_same", "caption", "chrome"}


def training_set(docs: int, seeds: int) -> tuple[list[list[str]], list[list[int]]]:
    """Paragraphs and labels (1 off-topic, 0 article, -1 repeat) from the train split."""
    documents, labels = [], []
    for seed in range(seeds):
        for sample in build_corpus(split="train", seed=1000 + seed, n_docs=docs, chrome_source="cleaneval"):
            if sample.expected_drop:
                continue
            documents.append(sample.lines)
            labels.append([1 if lab in OFF_TOPIC else -1 if lab.startswith("repeat") else 0
                           for lab in sample.paragraph_labels])
    return documents, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000, help="documents per corpus")
    parser.add_argument("--seeds", type=int, default=4, help="corpora (different damage draws)")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "dedup" / "models" / "default.npz")
    args = parser.parse_args()
    start = time.perf_counter()
    documents, labels = training_set(args.docs, args.seeds)
    model = TopicModel().fit(documents, labels)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.output)
    paragraphs = sum(len(x) for x in labels)
    print(f"fitted on {len(documents)} documents, {paragraphs} paragraphs in {time.perf_counter() - start:.1f} s")
    for name, coef in sorted(zip(FEATURES, model.coef_, strict=True), key=lambda x: -abs(x[1])):
        print(f"  {name:18s} {coef:+.3f}")
    print(f"saved {args.output} ({args.output.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
