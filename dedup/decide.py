"""The one place that decides what is removed, and why.

Stages measure (repeats, topic scores, index matches); this module turns
measurements into :class:`~dedup.data.Decision` records, each removal
carrying exactly one :class:`~dedup.data.Reason`, and builds every
:class:`~dedup.data.CleanResult`. No other module makes a removal (a test
holds this). The stages call the rules in a fixed order, each given the
decisions made so far, since what the index answers depends on them (a
document's signature is built from the paragraphs still kept, and only
unmatched items are inserted):

1. :func:`repeat_decisions`: repeats within the document;
2. :func:`region_decisions`: paragraphs outside the page's article region
   (:mod:`dedup.region`) are ``furniture``, with :func:`promote_copies` after it;
3. :func:`furniture_decisions` (when the learned furniture model is on):
   page furniture, with :func:`promote_copies` after it;
4. :func:`topic_decisions`: off-topic paragraphs, with :func:`promote_copies`
   after each round: a repeat never points at a paragraph that a later
   within-document stage removed. A removal whose form is a caption, a
   photo credit or a chrome line is named ``furniture``, any other
   ``off_topic``: the reason says what the text is;
5. :func:`boilerplate`: short lines seen in earlier documents;
6. :func:`duplicate_document`: the document repeats an earlier one;
7. :func:`cross_document_repeats`: paragraphs of earlier documents;
8. :func:`empty`: nothing left; then :func:`result`.

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

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from dedup import region
from dedup.config import DedupConfig, TopicConfig
from dedup.data import CleanResult, Decision, Document, Reason, Ref
from dedup.match import Repeat
from dedup.store import Match

if TYPE_CHECKING:
    from dedup.read import InvalidRecord


class Drop(NamedTuple):
    """Why a whole document goes."""

    reason: Reason
    score: float
    duplicate_of: Ref | None = None


#: A short line (at most this many characters) that recurs alone is the page's own, not a copy.
LONE_REPEAT_MAX_CHARS = 40


def repeat_decisions(
    doc_id: str, repeats: Sequence[Repeat | None], lengths: Sequence[int] | None = None
) -> list[Decision]:
    """Decisions after the within-document repeat stage.

    Copies come in runs: a page scraped twice, a block repeated. A short
    line (``lengths``: at most :data:`LONE_REPEAT_MAX_CHARS` characters)
    that exactly repeats an earlier line but stands alone, with neither
    neighbour a repeat and not right after the line it repeats, is the
    page's own recurrence and is kept: a refrain, a heading that recurs
    through a report, the same price under two lots, a list quoted twice
    item by item with text between. Longer paragraphs, near repeats and
    repeats in runs go.

    Example:
        >>> lone = repeat_decisions("d", [None, None, Repeat(0, 1.0, True), None], [12, 300, 12, 300])
        >>> [d.kept for d in lone]
        [True, True, True, True]
        >>> run = repeat_decisions("d", [None, None, Repeat(0, 1.0, True), Repeat(1, 1.0, True)], [12, 300, 12, 300])
        >>> [d.kept for d in run]
        [True, True, False, False]
    """
    out = []
    for i, repeat in enumerate(repeats):
        if repeat is not None and lengths is not None and _lone(repeats, lengths, i):
            repeat = None
        if repeat is None:
            out.append(Decision(i, True))
        else:
            reason = Reason.DUPLICATE if repeat.exact else Reason.NEAR_DUPLICATE
            out.append(Decision(i, False, reason, repeat.score, Ref(doc_id, repeat.earlier)))
    return out


def _lone(repeats: Sequence[Repeat | None], lengths: Sequence[int], i: int) -> bool:
    """Whether paragraph ``i``, a repeat, is a short exact repeat standing alone (see :func:`repeat_decisions`)."""
    repeat = repeats[i]
    return (
        repeat is not None
        and repeat.exact
        and lengths[i] <= LONE_REPEAT_MAX_CHARS
        and i - repeat.earlier > 1
        and (i == 0 or repeats[i - 1] is None)
        and (i + 1 == len(repeats) or repeats[i + 1] is None)
    )


#: Changes whenever a rule of the topic stage below changes what it removes (the trailing run, the
#: furniture shapes before it, the gallery rule): part of an index's settings, like the signals'
#: version (:meth:`dedup.config.Config.index_settings`). 1: the gallery rule. 2: a teaser's form needs
#: a teaser's length.
TOPIC_RULES_VERSION = 2

#: An off-topic probability below this share of the threshold ends a trailing run.
CLEARLY_BELONGS = 0.4


def _log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


#: The most of a document's text a trailing run may take. Teasers are appended to an article; a run
#: of them can outweigh a short article (up to about two thirds of the text in the BBC benchmark), but a
#: "trailer" three times the size of what stands before it is the article itself, read as a trailer
#: because page furniture before it set the centroid (on real pages such runs take 72-100 % of the text).
TRAILER_MAX_SHARE = 0.75

#: The least text, in characters, that a trailing run must follow: about a hundred words. Less is too
#: little to tell the page's topic from another's (on real pages, trailing runs after a few lines were
#: mostly the article's second half, after an extractor had already cut the page to its article).
TRAILER_MIN_BEFORE = 600

#: The longest paragraph that a furniture shape can remove before the trailing run. Captions, credits,
#: chrome lines and a teaser's kicker line are short; a paragraph of more than a thousand characters
#: that starts like a kicker is the article's (a transcript's "SPEAKER NAME: ..." turns, a long
#: paragraph under a label).
JUNK_MAX_CHARS = 1000

#: The longest paragraph whose form (a kicker, a cut sentence, a caption, chrome) makes a trailing run
#: one of teasers. A teaser is another story's lead, cut short; a block of 1,500 characters or more that
#: does not end like a sentence, or opens with a label, is a section of a long page (on real pages, the
#: trailing runs that took such blocks were the article's own later sections; 1,000 also spared those,
#: but let one of the BBC benchmark's appended teasers through).
TEASER_MAX_CHARS = 1500

#: The share of a document's characters from which its captions are its content: a photo gallery is
#: an introduction and captions, and the captions are what the page is (on real pages, gallery golds
#: keep them; in the BBC benchmark, captions added to an article hold a few per cent of its text).
GALLERY_SHARE = 0.5


def off_topic(
    scores: np.ndarray,
    junk: np.ndarray,
    substantial: np.ndarray,
    topic: TopicConfig,
    lengths: np.ndarray | None = None,
    teaser_form: np.ndarray | None = None,
    captions: np.ndarray | None = None,
) -> np.ndarray:
    """Which of a document's (non-repeat) paragraphs are off-topic.

    The trailing run is the suffix whose summed log-odds against
    ``topic.threshold`` is largest (when positive): a change point after
    which the text stays off-topic. One borderline teaser among clear ones
    goes with them; a paragraph that clearly belongs ends the run, and the
    run starts at a substantial paragraph (a teaser, a widget), never at a
    short plain line: articles end in lists of names and fixtures, and those
    are theirs. The run never holds more than :data:`TRAILER_MAX_SHARE` of
    the document's characters, follows at least :data:`TRAILER_MIN_BEFORE`
    characters of text, and holds a paragraph with a teaser's form
    (``teaser_form``: a kicker, a cut sentence, a caption or chrome, on a
    paragraph of at most :data:`TEASER_MAX_CHARS`): last
    paragraphs in plain prose are the article's own ending far more often
    than teasers (on unedited BBC articles, 15 of the 25 false removals were
    a lone last paragraph; requiring the form of runs of any length took
    those articles' false removals from 9 lines to 5). Before the run,
    only paragraphs shaped like page furniture (captions, chrome, kickers)
    and no longer than :data:`JUNK_MAX_CHARS` are removed, at
    ``topic.inner_threshold``; captions are not among them when they hold
    at least :data:`GALLERY_SHARE` of the text (a photo gallery, whose
    captions are its content).

    Args:
        scores: Off-topic probabilities, in document order.
        junk: Paragraphs shaped like page furniture (see :meth:`TopicModel.shapes`).
        substantial: Paragraphs that may open a trailing run.
        topic: Thresholds.
        lengths: The paragraphs' lengths in characters (no length limit when not given).
        teaser_form: Paragraphs with a teaser's form (see :meth:`TopicModel.teaser_form`);
            when not given, a run needs none.
        captions: Paragraphs with the form of a caption or a photo credit (with
            ``lengths``, for the gallery rule).

    Returns:
        A boolean mask over ``scores``.
    """
    m = len(scores)
    drop = np.zeros(m, dtype=bool)
    if m < 2:
        return drop
    end = trailer_start(scores, substantial, topic, lengths, teaser_form)
    drop[end:] = True
    inner = (scores[:end] >= topic.inner_threshold) & junk[:end]
    if lengths is not None:
        inner &= lengths[:end] <= JUNK_MAX_CHARS
        if captions is not None and lengths[captions].sum() >= GALLERY_SHARE * lengths.sum():
            inner &= ~captions[:end]
    drop[:end] = inner
    if drop.all():
        drop[int(np.argmin(scores))] = False
    return drop


def trailer_start(
    scores: np.ndarray,
    substantial: np.ndarray,
    topic: TopicConfig,
    lengths: np.ndarray | None = None,
    teaser_form: np.ndarray | None = None,
) -> int:
    """Where the trailing run of off-topic paragraphs starts (``len(scores)`` when there is none).

    See :func:`off_topic` for the rule.
    """
    m = len(scores)
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
    if lengths is not None and (
        lengths[end:].sum() > TRAILER_MAX_SHARE * lengths.sum() or lengths[:end].sum() < TRAILER_MIN_BEFORE
    ):
        end = m
    if teaser_form is not None:
        formed = teaser_form[end:] if lengths is None else teaser_form[end:] & (lengths[end:] <= TEASER_MAX_CHARS)
        if not formed.any():
            end = m
    return end


def topic_decisions(
    decisions: list[Decision],
    candidates: Sequence[int],
    scores: np.ndarray,
    junk: np.ndarray,
    substantial: np.ndarray,
    topic: TopicConfig,
    explain: Callable[[list[int]], list[dict[str, float]]] | None = None,
    lengths: np.ndarray | None = None,
    furniture_shaped: np.ndarray | None = None,
    teaser_form: np.ndarray | None = None,
    captions: np.ndarray | None = None,
) -> list[Decision]:
    """Apply the topic stage to the paragraphs still kept.

    A removed paragraph is ``off_topic`` (text about another subject: a
    teaser) unless its form is that of page furniture (``furniture_shaped``:
    a caption, a photo credit, a chrome line), which is ``furniture``,
    wherever it stands: the reason names what the text is, the rules say
    whether it goes. The probability is then the topic model's, and the
    decision's ``metadata["model"]`` says so.

    Args:
        decisions: Decisions so far, one per paragraph.
        candidates: Indexes of the paragraphs the topic stage scored, in order.
        scores: Their off-topic probabilities.
        junk: Which of them are shaped like page furniture.
        substantial: Which of them may open a trailing run.
        topic: Thresholds.
        explain: Given positions among ``candidates``, each one's signal
            contributions to its log-odds (:meth:`TopicModel.contributions`);
            a removal then carries the strongest in ``metadata["signals"]``.
        lengths: The candidates' lengths in characters (see :func:`off_topic`).
        furniture_shaped: Which candidates have the form of page furniture.
        teaser_form: Which candidates have a teaser's form (see :func:`off_topic`).
        captions: Which candidates have a caption's form (see :func:`off_topic`).
    """
    out = list(decisions)
    drops = off_topic(scores, junk, substantial, topic, lengths, teaser_form, captions)
    removed = np.flatnonzero(drops).tolist()
    why = dict(zip(removed, explain(removed), strict=True)) if explain is not None and removed else {}
    for n, (i, drop, score) in enumerate(zip(candidates, drops, scores.tolist(), strict=True)):
        if drop:
            metadata: dict[str, Any] = {"signals": strongest(why[n])} if n in why else {}
            if furniture_shaped is not None and furniture_shaped[n]:
                out[i] = Decision(i, False, Reason.FURNITURE, score, None, {**metadata, "model": "topic"})
            else:
                out[i] = Decision(i, False, Reason.OFF_TOPIC, score, None, metadata)
        else:
            out[i] = Decision(i, True, None, score)
    return out


def region_decisions(decisions: list[Decision], scores: np.ndarray) -> list[Decision]:
    """Remove the paragraphs still kept that stand outside the page's article region.

    ``scores`` are :func:`dedup.region.outside_scores` of the paragraphs
    still kept (0 for the others); a paragraph goes when its score exceeds
    :data:`dedup.region.OUTSIDE`. The rule keeps the heaviest block of
    prose, so it never empties a page that has prose, and removes nothing
    from a page without a block of :data:`dedup.region.BLOCK_CHARS`.

    Example:
        >>> import numpy as np
        >>> kept = [Decision(0, True), Decision(1, True), Decision(2, True)]
        >>> [d.reason for d in region_decisions(kept, np.array([1.0, 0.0, 0.5]))]
        [<Reason.FURNITURE: 'furniture'>, None, None]
    """
    out = list(decisions)
    for d in decisions:
        score = float(scores[d.index])
        if d.kept and score > region.OUTSIDE:
            metadata = {"signals": {"outside_article": round(score, 3)}, "model": "region"}
            out[d.index] = Decision(d.index, False, Reason.FURNITURE, score, None, metadata)
    return out


def comments_decisions(decisions: list[Decision], start: int) -> list[Decision]:
    """Remove the page's reader comments: every paragraph still kept from index ``start`` on.

    ``start`` is the paragraph that opens them (:func:`dedup.region.comments_start`,
    which leaves most of the page's prose before it). They go as
    ``furniture`` scored 1, with the signal ``reader_comments``. Everything
    from ``start`` on goes, so no kept repeat can point at them: a repeat's
    first copy stands before it. When no paragraph before ``start`` is
    still kept, nothing goes: the rule never empties a page.

    Example:
        >>> kept = [Decision(0, True), Decision(1, True), Decision(2, True)]
        >>> [(d.reason, d.metadata) for d in comments_decisions(kept, 2) if not d.kept]
        [(<Reason.FURNITURE: 'furniture'>, {'signals': {'reader_comments': 1.0}, 'model': 'region'})]
    """
    out = list(decisions)
    if not any(d.kept for d in decisions[:start]):
        return out  # the stages before removed the article: the comments are all that is left
    for d in decisions[start:]:
        if d.kept:
            metadata = {"signals": {"reader_comments": 1.0}, "model": "region"}
            out[d.index] = Decision(d.index, False, Reason.FURNITURE, 1.0, None, metadata)
    return out


def furniture_decisions(
    decisions: list[Decision],
    scores: np.ndarray,
    threshold: float,
    explain: Callable[[list[int]], list[dict[str, float]]] | None = None,
) -> list[Decision]:
    """Remove the paragraphs still kept whose furniture probability reaches ``threshold``.

    The furniture model scores every paragraph of the page as it stands
    (its neighbours and place are signals); only paragraphs that earlier
    stages kept can be removed here. A document is never emptied: when
    every kept paragraph is furniture, the one that scores lowest stays.

    Args:
        decisions: Decisions so far, one per paragraph.
        scores: Furniture probabilities, one per paragraph.
        threshold: The probability at or above which a paragraph goes.
        explain: Given paragraph indexes, each one's signal terms in the
            log-odds; a removal then carries the strongest in ``metadata["signals"]``.

    Example:
        >>> import numpy as np
        >>> kept = [Decision(0, True), Decision(1, True)]
        >>> [d.reason for d in furniture_decisions(kept, np.array([0.99, 0.1]), 0.9)]
        [<Reason.FURNITURE: 'furniture'>, None]
    """
    kept = [d.index for d in decisions if d.kept]
    drop = [i for i in kept if scores[i] >= threshold]
    if drop and len(drop) == len(kept):
        drop.remove(min(kept, key=lambda i: (scores[i], i)))
    if not drop:
        return list(decisions)
    why = dict(zip(drop, explain(drop), strict=True)) if explain is not None else {}
    out = list(decisions)
    for i in drop:
        metadata: dict[str, Any] = {"signals": strongest(why[i])} if i in why else {}
        out[i] = Decision(i, False, Reason.FURNITURE, float(scores[i]), None, {**metadata, "model": "furniture"})
    return out


#: How many signals a removal names.
SIGNALS_SHOWN = 3


def strongest(contributions: Mapping[str, float], count: int = SIGNALS_SHOWN) -> dict[str, float]:
    """The signals that pushed a score up most, strongest first (a removal's "why").

    Example:
        >>> strongest({"cohesion": 2.5, "position": 0.4, "kicker": 1.2, "caption": -0.3}, 2)
        {'cohesion': 2.5, 'kicker': 1.2}
    """
    pushing = sorted(((v, k) for k, v in contributions.items() if v > 0), key=lambda kv: (-kv[0], kv[1]))
    return {k: round(v, 3) for v, k in pushing[:count]}


_REPEATS = (Reason.DUPLICATE, Reason.NEAR_DUPLICATE)


def promote_copies(decisions: Sequence[Decision]) -> tuple[list[Decision], list[int]]:
    """Let the next copy stand in for a first occurrence that a later stage removed.

    The repeat stage keeps the first copy of each repeated paragraph. When a
    later within-document stage removes that copy (a headline repeated in a
    menu that the topic stage removes with the menu), the earliest other
    copy is put back, to be judged on its own at its own place, and the
    remaining copies point at it. If that stage removes it too, the next
    copy follows, and so on: the copy that survives is the first one the
    other stages keep, and when they keep none, each copy is removed for
    their reason, never as a repeat of removed text.

    Args:
        decisions: One decision per paragraph, after a round of a later stage.

    Returns:
        The new decisions, and the indexes of the copies put back (to be judged).
    """
    out = list(decisions)
    copies: dict[int, list[int]] = {}
    for d in out:
        if d.reason in _REPEATS and d.duplicate_of is not None and d.duplicate_of.paragraph is not None:
            copies.setdefault(d.duplicate_of.paragraph, []).append(d.index)
    promoted = []
    for first, later in sorted(copies.items()):
        if out[first].kept or out[first].reason in _REPEATS:
            continue
        heir, rest = later[0], later[1:]
        out[heir] = Decision(heir, True, None, 0.0, None, out[heir].metadata)
        for i in rest:
            d = out[i]
            out[i] = Decision(i, False, d.reason, d.score, Ref(d.duplicate_of.id, heir), d.metadata)  # type: ignore[union-attr]
        promoted.append(heir)
    return out, promoted


def remove(decision: Decision, reason: Reason, score: float, duplicate_of: Ref | None = None) -> Decision:
    """A kept paragraph's decision turned into a removal."""
    return Decision(decision.index, False, reason, score, duplicate_of, decision.metadata)


def boilerplate(decisions: Sequence[Decision], seen: Mapping[int, int], dedup: DedupConfig) -> list[Decision]:
    """Remove short lines that ``dedup.boilerplate_min_docs`` earlier documents had.

    Args:
        decisions: Decisions so far, one per paragraph.
        seen: For each short kept line, how many earlier documents had it.
        dedup: The settings.
    """
    out = list(decisions)
    for i, count in seen.items():
        if count >= dedup.boilerplate_min_docs:
            out[i] = remove(out[i], Reason.BOILERPLATE, float(count))
    return out


def duplicate_document(match: Match | None) -> Drop | None:
    """A document whose kept text the index matched (at the document threshold) repeats that one."""
    return None if match is None else Drop(Reason.DUPLICATE_DOCUMENT, match.score, match.ref)


def cross_document_repeats(
    decisions: Sequence[Decision], exact: Mapping[int, Ref], near: Mapping[int, Match]
) -> list[Decision]:
    """Remove paragraphs that repeat paragraphs of earlier documents.

    Args:
        decisions: Decisions so far, one per paragraph.
        exact: Paragraphs whose normalised text an earlier paragraph had, and where.
        near: Paragraphs the index matched with an earlier one at the repeat threshold.
    """
    out = list(decisions)
    for i, ref in exact.items():
        out[i] = remove(out[i], Reason.DUPLICATE, 1.0, ref)
    for i, match in near.items():
        out[i] = remove(out[i], Reason.NEAR_DUPLICATE, match.score, match.ref)
    return out


def empty(decisions: Sequence[Decision]) -> Drop | None:
    """A document with no paragraph left (or none on input) is dropped."""
    return None if any(d.kept for d in decisions) else Drop(Reason.EMPTY, 0.0)


def result(
    doc: Document,
    decisions: Sequence[Decision],
    drop: Drop | None,
    text: str,
    removed: dict[int, str],
    paragraphs: str | None = None,
) -> CleanResult:
    """The outcome for one document.

    Args:
        doc: The document.
        decisions: The paragraph decisions.
        drop: Why the whole document goes, or ``None``.
        text: The kept text (ignored when the document is dropped).
        removed: The texts of the paragraphs ``decisions`` removed.
        paragraphs: The mode the document was split in (``"line"`` or
            ``"blank"``), kept in ``metadata["paragraphs"]``: what the
            decisions' indexes count.
    """
    mode = {} if paragraphs is None else {"paragraphs": paragraphs}
    if drop is None:
        return CleanResult(
            doc.id, text, None, tuple(decisions), doc.fields, source=doc.source, line=doc.line,
            metadata={**({"removed": removed} if removed else {}), **mode},
        )
    metadata: dict[str, Any] = {"original": doc.text, **({"removed": removed} if removed else {}), **mode}
    return CleanResult(
        doc.id,
        "",
        drop.reason,
        tuple(remove(d, drop.reason, drop.score, drop.duplicate_of) if d.kept else d for d in decisions),
        doc.fields,
        drop.score,
        drop.duplicate_of,
        source=doc.source,
        line=doc.line,
        metadata=metadata,
    )


def invalid(record: InvalidRecord) -> CleanResult:
    """The ``invalid`` result that accounts for a record the readers skipped."""
    where = record.source if record.line is None else f"{record.source}:{record.line}"
    return CleanResult(
        record.id if record.id is not None else where,
        "",
        Reason.INVALID,
        (),
        record.fields,
        source=record.source,
        line=record.line,
        metadata={"error": record.message},
    )
