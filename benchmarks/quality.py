"""Quality benchmark: how well a cleaner restores the damaged news corpus.

Builds the corpus of :mod:`benchmarks.corpus`, runs a cleaner over it and
compares the output with the ground truth::

    python benchmarks/quality.py [--split test] [--seed 0] [--n-docs N]
                                 [--cleaner dedup|noop|oracle] [--json OUT.json]
                                 [--paragraphs line|blank|auto] [--second-pass]

Cleaners
--------
``dedup`` is the package's :class:`dedup.Cleaner` with default settings.
``noop`` keeps everything: the score of the damage itself. ``oracle``
returns the ground truth and must score 1.0 everywhere, which checks the
scorer. Any object with ``clean(docs)`` yielding, per input document and in
order, a result with ``id``, ``text``, ``dropped`` and ``decisions`` (one per
input line, each with ``kept`` and ``reason``) can be passed to
:func:`evaluate`.

Scores
------
- Document text: precision and recall of word 4-shingles of the output
  against the expected text, averaged over documents, overall and per damage
  tag. Shingles are taken line by line and counted as a multiset: as sets, a body scraped twice
  would have the same shingles as the body once and a cleaner that leaves
  the copy would lose almost nothing. The set-based figures are reported
  too (``set_precision`` etc.). A text under four words is its words. A
  document rightly dropped scores 1/1; one that should have been dropped
  but was kept scores precision 0, recall 1; one wrongly dropped scores
  precision 1, recall 0.
- Paragraphs, by label, over documents that should be kept: the share kept
  (``article``) or removed (every other label), and the reasons given.
- Documents: syndicated copies dropped, story-pair reports kept whole
  (not dropped, no ``article`` line removed), clean documents changed at
  all, documents dropped that should have been kept.

:data:`TARGETS` lists the pass marks printed beside the scores.

Second pass
-----------
``--second-pass`` cleans the output of a first pass again with a fresh
:class:`dedup.Cleaner` and counts the documents the second pass changes (a
paragraph removed, or the document dropped), by reason. The repeat stages
are idempotent (``tests/test_properties.py``); the topic stage need not be,
since removing a run of teasers leaves new last paragraphs to score: the
target is at most :data:`SECOND_PASS_TARGET` of the documents.

Unedited articles
-----------------
With the ``dedup`` cleaner the benchmark also cleans the split's articles
undamaged, title line first, and counts the lines removed as off-topic (or
as furniture): every one is a false removal. The target is at most
:data:`UNEDITED_TARGET` of the lines (:func:`unedited`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

if __package__ in (None, ""):
    # Run as a script: make ``benchmarks`` and ``dedup`` importable from the checkout.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.corpus import (
    DAMAGE_TAGS,
    LABELS,
    REPEAT_LABELS,
    SPLITS,
    Sample,
    build_corpus,
    composition,
    format_composition,
    format_source_report,
    load_articles,
)

SHINGLE_SIZE = 4
#: Labels whose lines are split, in the scores, by whether ``dedup.topic.form`` sees a caption
#: or chrome shape in them: what the detector was written to match, and the rest.
FORM_LABELS = ("caption", "chrome")

# (key in the results' "targets", description, threshold); every target is
# "at least".
TARGETS: tuple[tuple[str, str, float], ...] = (
    ("article_kept", "article paragraphs kept", 0.995),
    ("repeats_removed", "repeated paragraphs (all repeat_*) removed", 0.99),
    ("teaser_other_removed", "teaser_other paragraphs removed", 0.97),
    ("mean_f1", "mean document F1", 0.97),
)

#: Most documents a second pass may change, as a share of those the first pass kept.
SECOND_PASS_TARGET = 0.01
#: Most paragraphs of unedited articles that may be removed as off-topic (or furniture), as a share.
UNEDITED_TARGET = 0.002
#: The removal reasons :func:`unedited` counts, those of them the package has.
UNEDITED_REASONS = ("off_topic", "furniture")

_ORACLE_REASONS = {
    "repeat_exact": "duplicate",
    "repeat_edited": "near_duplicate",
    "repeat_block": "near_duplicate",
    "teaser_other": "off_topic",
    "teaser_same": "off_topic",
    "caption": "boilerplate",
    "chrome": "boilerplate",
}


class CleanerLike(Protocol):
    """What :func:`evaluate` needs from a cleaner."""

    def clean(self, docs: Iterable[dict[str, str]]) -> Iterable[Any]: ...


# --------------------------------------------------------------------------
# Reference cleaners


@dataclass(frozen=True)
class RefDecision:
    """A paragraph decision, as :class:`dedup.Cleaner` reports one."""

    index: int
    kept: bool
    reason: str | None = None
    score: float = 0.0
    duplicate_of: Any = None


@dataclass(frozen=True)
class RefTarget:
    """What a duplicate repeats: a document id and a paragraph index."""

    id: str
    paragraph: int | None = None


@dataclass(frozen=True)
class RefResult:
    """A document result, as :class:`dedup.Cleaner` reports one."""

    id: str
    text: str
    dropped: str | None
    decisions: tuple[RefDecision, ...]
    duplicate_of: RefTarget | None = None


class NoopCleaner:
    """Keeps every paragraph of every document: the damage baseline."""

    def clean(self, docs: Iterable[dict[str, str]]) -> Iterator[RefResult]:
        for doc in docs:
            lines = doc["text"].split("\n")
            decisions = tuple(RefDecision(i, True) for i in range(len(lines)))
            yield RefResult(doc["id"], doc["text"], None, decisions)


class OracleCleaner:
    """Returns the ground truth; a scorer check, it must score 1.0 everywhere.

    Args:
        samples: The corpus whose documents will be cleaned.
    """

    def __init__(self, samples: Sequence[Sample]) -> None:
        self._samples = {s.id: s for s in samples}

    def clean(self, docs: Iterable[dict[str, str]]) -> Iterator[RefResult]:
        for doc in docs:
            sample = self._samples[doc["id"]]
            if sample.expected_drop is not None:
                decisions = tuple(RefDecision(i, False) for i in range(len(sample.paragraph_labels)))
                original = RefTarget(sample.duplicate_of) if sample.duplicate_of else None
                yield RefResult(doc["id"], "", sample.expected_drop, decisions, original)
                continue
            decisions = tuple(
                RefDecision(i, label == "article", _ORACLE_REASONS.get(label))
                for i, label in enumerate(sample.paragraph_labels)
            )
            yield RefResult(doc["id"], sample.expected_text or "", None, decisions)


def make_cleaner(name: str, samples: Sequence[Sample], paragraphs: str = "auto") -> CleanerLike:
    """The cleaner called ``name``: ``dedup``, ``noop`` or ``oracle``.

    ``paragraphs`` is what a paragraph is for ``dedup`` (:data:`dedup.split.MODES`).

    Raises:
        ValueError: Unknown name.
        ImportError: ``dedup`` is not importable.
    """
    if name == "noop":
        return NoopCleaner()
    if name == "oracle":
        return OracleCleaner(samples)
    if name == "dedup":
        # Imported here so that the reference cleaners run without the package.
        from dedup import Cleaner, Config, InputConfig

        return Cleaner(Config(input=InputConfig(paragraphs=paragraphs)))
    raise ValueError(f"unknown cleaner {name!r}; expected dedup, noop or oracle")


# --------------------------------------------------------------------------
# Scoring


def shingles(text: str, size: int = SHINGLE_SIZE) -> Counter[tuple[str, ...]]:
    """The multiset of word ``size``-grams of ``text``, line by line.

    Shingles do not cross line breaks, so a foreign line left between two
    article lines costs precision only, not recall. A line of fewer than
    ``size`` words contributes its words.

    Example:
        >>> sorted(shingles("a b c d e\\nf g"))
        [('a', 'b', 'c', 'd'), ('b', 'c', 'd', 'e'), ('f',), ('g',)]
    """
    counts: Counter[tuple[str, ...]] = Counter()
    for line in text.split("\n"):
        tokens = line.split()
        if len(tokens) < size:
            counts.update((token,) for token in tokens)
        else:
            counts.update(tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1))
    return counts


def overlap(output: str, expected: str, as_set: bool = False) -> tuple[float, float]:
    """Shingle precision and recall of ``output`` against ``expected``.

    An empty side scores 1.0 on the ratio it is the denominator of: an empty
    output has nothing wrong in it, an empty expectation nothing to miss.

    Args:
        output: The cleaner's text.
        expected: The true clean text.
        as_set: Count each distinct shingle once.

    Returns:
        ``(precision, recall)``.
    """
    out, exp = shingles(output), shingles(expected)
    if as_set:
        out, exp = Counter(set(out)), Counter(set(exp))
    common = sum((out & exp).values())
    n_out, n_exp = sum(out.values()), sum(exp.values())
    return (common / n_out if n_out else 1.0, common / n_exp if n_exp else 1.0)


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _reason(value: Any) -> str:
    # The package's reasons are str enums; the reference cleaners use plain strings.
    if value is None:
        return "none"
    return str(getattr(value, "value", value))


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _form_shaped() -> Callable[[str], bool] | None:
    """Whether a line has a caption or chrome shape of ``dedup.topic.form``; ``None`` without the package."""
    try:
        from dedup.topic.form import FORM_SIGNALS, form_signals
    except ImportError:
        return None
    def shaped(line: str) -> bool:
        signals = dict(zip(FORM_SIGNALS, form_signals(line), strict=True))
        return bool(signals["caption"] or signals["chrome"])

    return shaped


def document_scores(sample: Sample, result: Any) -> dict[str, float]:
    """Precision, recall and F1 (multiset and set) for one document."""
    dropped = result.dropped is not None
    if sample.expected_text is None:
        scores = {"precision": 1.0 if dropped else 0.0, "recall": 1.0}
        scores.update(set_precision=scores["precision"], set_recall=1.0)
    elif dropped:
        scores = {"precision": 1.0, "recall": 0.0, "set_precision": 1.0, "set_recall": 0.0}
    else:
        precision, recall = overlap(result.text, sample.expected_text)
        set_precision, set_recall = overlap(result.text, sample.expected_text, as_set=True)
        scores = {
            "precision": precision,
            "recall": recall,
            "set_precision": set_precision,
            "set_recall": set_recall,
        }
    scores["f1"] = _f1(scores["precision"], scores["recall"])
    scores["set_f1"] = _f1(scores["set_precision"], scores["set_recall"])
    return scores


def _check(sample: Sample, result: Any, position: int) -> None:
    if result.id != sample.id:
        raise ValueError(
            f"result {position} has id {result.id!r}, expected {sample.id!r}: results must follow input order"
        )
    lines = len(sample.paragraph_labels)
    # A dropped document may come without paragraph decisions.
    if len(result.decisions) != lines and not (result.dropped is not None and not result.decisions):
        raise ValueError(
            f"document {sample.id}: {len(result.decisions)} decisions for {lines} input lines; "
            "a cleaner must return one decision per input paragraph"
        )


def evaluate(cleaner: CleanerLike, samples: Sequence[Sample]) -> dict[str, Any]:
    """Run ``cleaner`` over the corpus and score it against the ground truth.

    Args:
        cleaner: Anything with ``clean(docs)`` (see the module docstring).
        samples: A corpus from :func:`benchmarks.corpus.build_corpus`.

    Returns:
        A JSON-serialisable dict: ``documents`` (overall mean ``precision``,
        ``recall``, ``f1`` and set-based variants), ``by_damage`` (the same
        per damage tag, with ``n``), ``paragraphs`` (per label and for
        ``repeat_all``: ``lines``, ``kept``, ``removed``, ``rate`` - kept for
        ``article``, removed otherwise - and ``reasons``),
        ``document_level``, ``targets`` (``value``, ``threshold``,
        ``passed`` per :data:`TARGETS` key), ``per_document`` (scores of
        each document, to find the worst) and ``timing``.

    Raises:
        ValueError: The cleaner broke the protocol (wrong number or order of
            results, wrong number of decisions).
    """
    docs = [dict(sample.doc) for sample in samples]
    started = time.perf_counter()
    results = list(cleaner.clean(docs))
    seconds = time.perf_counter() - started
    if len(results) != len(samples):
        raise ValueError(
            f"{len(results)} results for {len(samples)} documents: a cleaner returns one per input"
        )

    per_doc: list[dict[str, float]] = []
    by_tag: dict[str, list[dict[str, float]]] = {tag: [] for tag in DAMAGE_TAGS}
    lines: dict[str, Counter[str]] = {label: Counter() for label in LABELS}
    reasons: dict[str, Counter[str]] = {label: Counter() for label in LABELS}
    doc_level: Counter[str] = Counter()
    false_drops: list[dict[str, str]] = []
    per_doc_rows: list[dict[str, Any]] = []
    shaped = _form_shaped()
    by_form = {label: {"shaped": Counter[str](), "plain": Counter[str]()} for label in FORM_LABELS}

    for position, (sample, result) in enumerate(zip(samples, results, strict=True)):
        _check(sample, result, position)
        scores = document_scores(sample, result)
        per_doc.append(scores)
        for tag in sample.damage:
            by_tag.setdefault(tag, []).append(scores)
        dropped = result.dropped is not None
        decisions = list(result.decisions) or [None] * len(sample.paragraph_labels)
        kept = [not dropped and bool(d.kept) for d in decisions]
        per_doc_rows.append(
            {
                "id": sample.id,
                "damage": "+".join(sample.damage),
                "dropped": None if not dropped else _reason(result.dropped),
                **{key: round(scores[key], 4) for key in ("precision", "recall", "f1")},
            }
        )

        kept_text = "\n".join(line for line, k in zip(sample.lines, kept, strict=True) if k)
        if not dropped and result.text != kept_text:
            doc_level["text_inconsistent_with_decisions"] += 1
        if sample.expected_drop is not None:
            doc_level["copies"] += 1
            doc_level["copies_dropped"] += dropped
            doc_level["copies_dropped_as_duplicate"] += _reason(result.dropped) == sample.expected_drop
            target = getattr(result, "duplicate_of", None)
            doc_level["copies_duplicate_of_right"] += getattr(target, "id", None) == sample.duplicate_of
            continue
        if dropped:
            damage = "+".join(sample.damage)
            false_drops.append({"id": sample.id, "reason": _reason(result.dropped), "damage": damage})
        if sample.damage == ["clean"]:
            doc_level["clean"] += 1
            doc_level["clean_changed"] += dropped or result.text != sample.doc["text"]
        if "story_pair" in sample.damage:
            doc_level["story_pair"] += 1
            labelled = zip(kept, sample.paragraph_labels, strict=True)
            doc_level["story_pair_whole"] += all(k for k, label in labelled if label == "article")
        labelled_lines = zip(sample.paragraph_labels, sample.lines, kept, decisions, strict=True)
        for label, line, is_kept, decision in labelled_lines:
            lines[label]["lines"] += 1
            lines[label]["kept" if is_kept else "removed"] += 1
            if label in by_form and shaped is not None:
                counts = by_form[label]["shaped" if shaped(line) else "plain"]
                counts["lines"] += 1
                counts["removed"] += not is_kept
            if is_kept:
                reasons[label]["kept"] += 1
            elif dropped:
                reasons[label][f"document:{_reason(result.dropped)}"] += 1
            else:
                reasons[label][_reason(decision.reason)] += 1

    paragraphs: dict[str, dict[str, Any]] = {}
    for label in LABELS:
        counts = lines[label]
        wanted = "kept" if label == "article" else "removed"
        paragraphs[label] = {
            "lines": counts["lines"],
            "kept": counts["kept"],
            "removed": counts["removed"],
            "rate": _rate(counts[wanted], counts["lines"]),
            "reasons": dict(reasons[label].most_common()),
        }
        if label in by_form and shaped is not None:
            paragraphs[label]["by_form"] = {
                shape: {
                    "lines": counts["lines"],
                    "removed": counts["removed"],
                    "rate": _rate(counts["removed"], counts["lines"]),
                }
                for shape, counts in by_form[label].items()
            }
    repeat_counts = sum((lines[label] for label in REPEAT_LABELS), Counter())
    repeat_reasons = sum((reasons[label] for label in REPEAT_LABELS), Counter())
    paragraphs["repeat_all"] = {
        "lines": repeat_counts["lines"],
        "kept": repeat_counts["kept"],
        "removed": repeat_counts["removed"],
        "rate": _rate(repeat_counts["removed"], repeat_counts["lines"]),
        "reasons": dict(repeat_reasons.most_common()),
    }

    def summary(rows: Sequence[dict[str, float]]) -> dict[str, Any]:
        keys = ("precision", "recall", "f1", "set_precision", "set_recall", "set_f1")
        return {"n": len(rows), **{key: _mean([row[key] for row in rows]) for key in keys}}

    documents = summary(per_doc)
    values = {
        "article_kept": paragraphs["article"]["rate"],
        "repeats_removed": paragraphs["repeat_all"]["rate"],
        "teaser_other_removed": paragraphs["teaser_other"]["rate"],
        "mean_f1": documents["f1"],
    }
    targets = {
        key: {
            "description": description,
            "value": values[key],
            "threshold": threshold,
            "passed": values[key] is not None and values[key] >= threshold,
        }
        for key, description, threshold in TARGETS
    }
    return {
        "documents": documents,
        "by_damage": {tag: summary(rows) for tag, rows in by_tag.items()},
        "paragraphs": paragraphs,
        "document_level": {
            "syndicated_copies": doc_level["copies"],
            "syndicated_copies_dropped": _rate(doc_level["copies_dropped"], doc_level["copies"]),
            "syndicated_copies_dropped_as_duplicate": _rate(
                doc_level["copies_dropped_as_duplicate"], doc_level["copies"]
            ),
            "syndicated_copies_duplicate_of_right": _rate(
                doc_level["copies_duplicate_of_right"], doc_level["copies"]
            ),
            "story_pair_documents": doc_level["story_pair"],
            "story_pair_kept_whole": _rate(doc_level["story_pair_whole"], doc_level["story_pair"]),
            "clean_documents": doc_level["clean"],
            "clean_changed": _rate(doc_level["clean_changed"], doc_level["clean"]),
            "false_document_drops": len(false_drops),
            "false_document_drop_examples": false_drops[:20],
            "text_inconsistent_with_decisions": doc_level["text_inconsistent_with_decisions"],
        },
        "targets": targets,
        "per_document": per_doc_rows,
        "timing": {
            "seconds": seconds,
            "documents": len(samples),
            "docs_per_second": len(samples) / seconds if seconds > 0 else None,
        },
    }


def second_pass(samples: Sequence[Sample], paragraphs: str = "auto") -> dict[str, Any]:
    """Clean the corpus with :class:`dedup.Cleaner`, then clean what it kept again with a fresh one.

    Returns:
        A JSON-serialisable dict: ``documents`` (kept by the first pass and
        cleaned again), ``changed`` (changed by the second pass), ``rate``,
        ``changed_by`` (documents changed, per reason of a removal),
        ``removed`` (paragraphs and documents removed, per reason),
        ``removed_labels`` (the true labels of the paragraphs the second
        pass removed), ``target``, ``passed`` and ``examples`` (ids of
        changed documents).
    """
    from dedup import Cleaner, Config, InputConfig

    config = Config(input=InputConfig(paragraphs=paragraphs))
    docs = [dict(sample.doc) for sample in samples]
    first = list(Cleaner(config).clean(docs))
    kept_pairs = [(s, r) for s, r in zip(samples, first, strict=True) if r.dropped is None]
    kept = [{**dict(s.doc), "text": r.text} for s, r in kept_pairs]
    second = list(Cleaner(config).clean(kept))
    changed: list[str] = []
    changed_by: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    labels: Counter[str] = Counter()
    for doc, (sample, before), result in zip(kept, kept_pairs, second, strict=True):
        lines = [d.index for d in before.decisions if d.kept]  # input line of each paragraph of the first output
        reasons = {_reason(d.reason) for d in result.decisions if not d.kept and d.reason is not result.dropped}
        if result.dropped is not None:
            reasons.add(f"document:{_reason(result.dropped)}")
            removed[f"document:{_reason(result.dropped)}"] += 1
        for decision in result.decisions:
            if not decision.kept and decision.reason is not result.dropped:
                removed[_reason(decision.reason)] += 1
                labels[sample.paragraph_labels[lines[decision.index]]] += 1
        if result.dropped is not None or result.text != doc["text"]:
            changed.append(doc["id"])
            changed_by.update(reasons)
    rate = _rate(len(changed), len(kept))
    return {
        "documents": len(kept),
        "changed": len(changed),
        "rate": rate,
        "changed_by": dict(changed_by.most_common()),
        "removed": dict(removed.most_common()),
        "removed_labels": dict(labels.most_common()),
        "target": SECOND_PASS_TARGET,
        "passed": rate is not None and rate <= SECOND_PASS_TARGET,
        "examples": changed[:20],
    }


def unedited(split: str = "test", path: str | Path | None = None) -> dict[str, Any]:
    """Clean the unedited articles of a split and count the paragraphs removed as off-topic.

    Each article becomes one document: its title line, then one paragraph a
    line, no damage. Every such line belongs to its document, so every
    removal for a reason of :data:`UNEDITED_REASONS` (``furniture`` counts
    when ``dedup.data.Reason`` has it) is a false removal. The cleaner is
    :class:`dedup.Cleaner` with document deduplication off
    (``Config(dedup=DedupConfig(documents=False))``, the CLI's
    ``--no-doc-dedup``), a fresh one per article sharing one loaded topic
    model: no index or boilerplate state crosses articles, so the figure is
    the within-document stages' alone and does not depend on article order.

    Args:
        split: ``"train"`` or ``"test"``; the shipped topic model is fitted
            on ``train``, so ``test`` is the held-out figure.
        path: The BBC data file; :func:`benchmarks.corpus.find_bbc_data`
            when ``None``.

    Returns:
        A JSON-serialisable dict: ``split``, ``documents``, ``lines`` (title
        lines included) and ``body_lines`` (without them), ``reasons`` (the
        counted reasons present), ``removed`` and ``removed_body`` (lines
        removed per reason, every reason), ``counted`` and ``counted_body``
        (lines removed for a counted reason), ``rate`` and ``rate_body``,
        ``target``, ``passed`` (``rate`` at most the target) and
        ``examples`` (``[id, line, reason]`` of counted removals; line 0 is
        the title).
    """
    from dedup import Cleaner, Config, DedupConfig, Reason, TopicModel

    known = {reason.value for reason in Reason}
    counted_reasons = [reason for reason in UNEDITED_REASONS if reason in known]
    config = Config(dedup=DedupConfig(documents=False))
    model = TopicModel.load(config.topic.model) if config.topic.model else TopicModel.default()
    articles = load_articles(path).split(split)
    removed: Counter[str] = Counter()
    removed_body: Counter[str] = Counter()
    examples: list[list[Any]] = []
    lines = 0
    for article in articles:
        text = "\n".join([article.title, *article.paragraphs])
        result = Cleaner(config, model=model).clean_text(text, id=article.id)
        lines += 1 + len(article.paragraphs)
        reasons = (
            [_reason(result.dropped)] * (1 + len(article.paragraphs))
            if result.dropped is not None and not result.decisions
            else [None if d.kept else _reason(d.reason) for d in result.decisions]
        )
        for index, reason in enumerate(reasons):
            if reason is None:
                continue
            removed[reason] += 1
            removed_body[reason] += index > 0
            if reason in counted_reasons:
                examples.append([article.id, index, reason])
    body_lines = lines - len(articles)
    counted = sum(removed[reason] for reason in counted_reasons)
    counted_body = sum(removed_body[reason] for reason in counted_reasons)
    rate = _rate(counted, lines)
    return {
        "split": split,
        "documents": len(articles),
        "lines": lines,
        "body_lines": body_lines,
        "reasons": counted_reasons,
        "removed": dict(removed.most_common()),
        "removed_body": {reason: count for reason, count in removed_body.most_common() if count},
        "counted": counted,
        "counted_body": counted_body,
        "rate": rate,
        "rate_body": _rate(counted_body, body_lines),
        "target": UNEDITED_TARGET,
        "passed": rate is not None and rate <= UNEDITED_TARGET,
        "examples": examples[:20],
    }


def format_unedited(values: dict[str, Any]) -> str:
    """The result of :func:`unedited` as printable lines."""
    verdict = "PASS" if values["passed"] else "FAIL"
    reasons = " or ".join(values["reasons"])
    others = ", ".join(f"{reason} {count}" for reason, count in values["removed"].items()) or "none"
    return (
        f"Unedited articles ({values['split']} split, title line + one paragraph a line, no document dedup):\n"
        f"  {verdict}  lines removed as {reasons} {values['counted']:>4} of {values['lines']}"
        f"  {_pct(values['rate'])} %  (<= {100 * values['target']:.1f} %)\n"
        f"        without the title lines   {values['counted_body']:>4} of {values['body_lines']}"
        f"  {_pct(values['rate_body'])} %\n"
        f"  every removal, by reason: {others}"
    )


def format_second_pass(values: dict[str, Any]) -> str:
    """The result of :func:`second_pass` as printable lines."""
    verdict = "PASS" if values["passed"] else "FAIL"
    reasons = ", ".join(f"{reason} {count}" for reason, count in values["changed_by"].items()) or "none"
    labels = ", ".join(f"{label} {count}" for label, count in values["removed_labels"].items()) or "none"
    return (
        f"Second pass (the output cleaned again):\n"
        f"  {verdict}  documents changed {values['changed']:>5} of {values['documents']}"
        f"  {_pct(values['rate'])} %  (<= {100 * values['target']:.1f} %)\n"
        f"  changed by: {reasons}\n"
        f"  paragraphs removed, by true label: {labels}"
    )


# --------------------------------------------------------------------------
# Report


def _pct(value: float | None) -> str:
    return "   n/a" if value is None else f"{100 * value:6.2f}"


def _num(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:.3f}"


def format_results(results: dict[str, Any]) -> str:
    """The results of :func:`evaluate` as a printable table."""
    out: list[str] = []
    docs = results["documents"]
    out.append("Document text (4-shingle multiset; set-based in brackets):")
    out.append(f"  {'':<18} {'n':>5}  {'P':>5}  {'R':>5}  {'F1':>5}   {'[P':>6}  {'R':>5}  {'F1]':>5}")

    def row(name: str, values: dict[str, Any]) -> str:
        return (
            f"  {name:<18} {values['n']:>5}  {_num(values['precision'])}  {_num(values['recall'])}  "
            f"{_num(values['f1'])}   [{_num(values['set_precision'])}  {_num(values['set_recall'])}  "
            f"{_num(values['set_f1'])}]"
        )

    out.append(row("all", docs))
    for tag, values in results["by_damage"].items():
        if values["n"]:
            out.append(row(tag, values))

    out.append("Paragraphs (documents to keep): % kept for article, % removed otherwise")
    for label, values in results["paragraphs"].items():
        verb = "kept" if label == "article" else "removed"
        reasons = ", ".join(f"{reason} {count}" for reason, count in values["reasons"].items())
        out.append(f"  {label:<14} {values['lines']:>6} lines  {_pct(values['rate'])} % {verb:<8} {reasons}")
        if "by_form" in values:
            shaped, plain = values["by_form"]["shaped"], values["by_form"]["plain"]
            out.append(
                f"    {shaped['lines']} with a caption or chrome shape of dedup.topic.form {_pct(shaped['rate'])} %"
                f" removed; {plain['lines']} without {_pct(plain['rate'])} % removed"
            )

    level = results["document_level"]
    out.append("Documents:")
    out.append(
        f"  syndicated copies dropped          {_pct(level['syndicated_copies_dropped'])} %"
        f"  (of {level['syndicated_copies']}; as duplicate_document"
        f" {_pct(level['syndicated_copies_dropped_as_duplicate'])} %,"
        f" right original {_pct(level['syndicated_copies_duplicate_of_right'])} %)"
    )
    out.append(
        f"  story-pair reports kept whole      {_pct(level['story_pair_kept_whole'])} %"
        f"  (of {level['story_pair_documents']})"
    )
    out.append(
        f"  clean documents changed            {_pct(level['clean_changed'])} %"
        f"  (of {level['clean_documents']})"
    )
    out.append(f"  false document drops               {level['false_document_drops']:>6}")
    if level["text_inconsistent_with_decisions"]:
        count = level["text_inconsistent_with_decisions"]
        out.append(f"  text is not the kept lines joined  {count:>6}  (protocol error)")

    out.append("Targets:")
    for values in results["targets"].values():
        verdict = "PASS" if values["passed"] else "FAIL"
        out.append(
            f"  {verdict}  {values['description']:<45} {_pct(values['value'])} %"
            f"  (>= {100 * values['threshold']:.1f} %)"
        )
    timing = results["timing"]
    rate = timing["docs_per_second"]
    out.append(f"Timing: {timing['seconds']:.2f} s wall, {rate:,.0f} docs/s" if rate else "Timing: n/a")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Build the corpus, run the chosen cleaner and print the scores.

    Returns:
        0, or 1 with ``--strict`` when a target fails, or 2 when the cleaner
        cannot be loaded.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--split", choices=SPLITS, default="test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-docs", type=int, default=None, help="corpus size (default about 1,000)")
    parser.add_argument("--cleaner", choices=("dedup", "noop", "oracle"), default="dedup")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT.json", help="write every number here")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    parser.add_argument("--paragraphs", choices=("line", "blank", "auto"), default="auto",
                        help="what a paragraph is for the dedup cleaner (default: auto)")
    parser.add_argument("--second-pass", action="store_true",
                        help="also clean the output again and count the documents that changes (dedup only)")
    args = parser.parse_args(argv)
    if args.second_pass and args.cleaner != "dedup":
        parser.error("--second-pass measures the dedup cleaner: it cannot be combined with --cleaner "
                     f"{args.cleaner}")

    started = time.perf_counter()
    source = load_articles()
    try:
        samples = build_corpus(args.split, args.seed, args.n_docs)
    except ValueError as exc:
        parser.error(str(exc))
    build_seconds = time.perf_counter() - started
    counts = composition(samples)
    print("Source cleaning:")
    print(format_source_report(source.report))
    print(f"Corpus: {args.split} split, seed {args.seed}, built in {build_seconds:.2f} s")
    print(format_composition(counts))

    try:
        cleaner = make_cleaner(args.cleaner, samples, args.paragraphs)
    except ImportError as exc:
        print(f"cannot load the {args.cleaner} cleaner: {exc}; try --cleaner noop or oracle", file=sys.stderr)
        return 2
    results = evaluate(cleaner, samples)
    print(f"Cleaner: {args.cleaner}")
    print(format_results(results))
    if args.second_pass:
        results["second_pass"] = second_pass(samples, args.paragraphs)
        print(format_second_pass(results["second_pass"]))
    if args.cleaner == "dedup":
        results["unedited"] = unedited(args.split)
        print(format_unedited(results["unedited"]))

    if args.json is not None:
        payload = {
            "config": {
                "split": args.split,
                "seed": args.seed,
                "n_docs": len(samples),
                "cleaner": args.cleaner,
                "paragraphs": args.paragraphs,
            },
            "source_cleaning": source.report,
            "corpus": counts,
            "corpus_build_seconds": build_seconds,
            **results,
        }
        args.json.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        print(f"Wrote {args.json}")
    failed = [key for key, values in results["targets"].items() if not values["passed"]]
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
