"""The one place that decides what is removed, and why.

Stages before this one measure (repeats, topic scores, index matches);
this module turns measurements into :class:`~dedup.data.Decision` records,
each removal carrying exactly one :class:`~dedup.data.Reason`.

Off-topic rules (see ``docs/topic.md``): teasers, related-story lists and
widgets come after the article, as a run. The trailing run is the suffix
with the largest summed evidence (log-odds against ``topic.threshold``); it
cannot reach back past a paragraph that clearly belongs, it opens at a
substantial paragraph (never at a short plain line: articles end in lists
of names and fixtures), and it must follow some article text. Before the
run, only paragraphs shaped like page furniture (captions, chrome, kickers)
are removed, and only at the stricter ``topic.inner_threshold``; a short
quote inside the article is never removed for topic. The topic stage alone
never empties a document.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dedup.config import TopicConfig
from dedup.data import Decision, Reason, Ref
from dedup.match import Repeat


def repeat_decisions(doc_id: str, repeats: Sequence[Repeat | None]) -> list[Decision]:
    """Decisions after the within-document repeat stage."""
    out = []
    for i, repeat in enumerate(repeats):
        if repeat is None:
            out.append(Decision(i, True))
        else:
            reason = Reason.DUPLICATE if repeat.exact else Reason.NEAR_DUPLICATE
            out.append(Decision(i, False, reason, repeat.score, Ref(doc_id, repeat.earlier)))
    return out


#: An off-topic probability below this share of the threshold ends a trailing run.
CLEARLY_BELONGS = 0.4


def _log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def off_topic(scores: np.ndarray, junk: np.ndarray, substantial: np.ndarray, topic: TopicConfig) -> np.ndarray:
    """Which of a document's (non-repeat) paragraphs are off-topic.

    The trailing run is the suffix whose summed log-odds against
    ``topic.threshold`` is largest (when positive): a change point after
    which the text stays off-topic. One borderline teaser among clear ones
    goes with them; a paragraph that clearly belongs ends the run, and the
    run starts at a substantial paragraph (a teaser, a widget), never at a
    short plain line: articles end in lists of names and fixtures, and those
    are theirs. Before the run, only paragraphs shaped like page furniture
    (captions, chrome, kickers) are removed, at ``topic.inner_threshold``.

    Args:
        scores: Off-topic probabilities, in document order.
        junk: Paragraphs shaped like page furniture (see :meth:`TopicModel.shapes`).
        substantial: Paragraphs that may open a trailing run.
        topic: Thresholds.

    Returns:
        A boolean mask over ``scores``.
    """
    m = len(scores)
    drop = np.zeros(m, dtype=bool)
    if m < 2:
        return drop
    belongs = np.flatnonzero(scores < CLEARLY_BELONGS * topic.threshold)
    first = int(belongs[-1]) + 1 if len(belongs) else 0
    end = m
    if first < m and scores[-1] >= topic.threshold:
        evidence = _log_odds(scores[first:]) - _log_odds(np.array(topic.threshold))
        suffix = np.cumsum(evidence[::-1])[::-1]
        start = int(np.argmax(suffix))
        if suffix[start] > 0:
            openers = np.flatnonzero(substantial[first + start :])
            if len(openers):
                end = first + start + int(openers[0])
    if end == 0:
        end = m  # a "run" from the first paragraph has no article to stand apart from
    drop[end:] = True
    drop[:end] = (scores[:end] >= topic.inner_threshold) & junk[:end]
    if drop.all():
        drop[int(np.argmin(scores))] = False
    return drop


def topic_decisions(
    decisions: list[Decision],
    candidates: Sequence[int],
    scores: np.ndarray,
    junk: np.ndarray,
    substantial: np.ndarray,
    topic: TopicConfig,
) -> list[Decision]:
    """Apply the topic stage to the paragraphs still kept.

    Args:
        decisions: Decisions so far, one per paragraph.
        candidates: Indexes of the paragraphs the topic stage scored, in order.
        scores: Their off-topic probabilities.
        junk: Which of them are shaped like page furniture.
        substantial: Which of them may open a trailing run.
        topic: Thresholds.
    """
    out = list(decisions)
    for i, drop, score in zip(candidates, off_topic(scores, junk, substantial, topic), scores.tolist(), strict=True):
        if drop:
            out[i] = Decision(i, False, Reason.OFF_TOPIC, score)
        else:
            out[i] = Decision(i, True, None, score)
    return out


def remove(decision: Decision, reason: Reason, score: float, duplicate_of: Ref | None = None) -> Decision:
    """A kept paragraph's decision turned into a removal."""
    return Decision(decision.index, False, reason, score, duplicate_of, decision.metadata)
