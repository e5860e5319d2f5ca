"""The decide stage: trailing runs, inner junk, never emptying a document."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import dedup
from dedup.config import TopicConfig
from dedup.data import Decision, Reason, Ref
from dedup.decide import (
    LONE_REPEAT_MAX_CHARS,
    TRAILER_MIN_BEFORE,
    comments_decisions,
    furniture_decisions,
    off_topic,
    promote_copies,
    remove,
    repeat_decisions,
    topic_decisions,
)
from dedup.match import Repeat

TOPIC = TopicConfig(threshold=0.5, inner_threshold=0.9)


def _mask(scores: list[float], junk: list[bool] | None = None, substantial: list[bool] | None = None) -> list[bool]:
    n = len(scores)
    junk_arr = np.array(junk if junk is not None else [False] * n)
    subst = np.array(substantial if substantial is not None else [True] * n)
    return off_topic(np.array(scores), junk_arr, subst, TOPIC).tolist()


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([0.01, 0.02, 0.01], [False, False, False]),
        ([0.01, 0.02, 0.99, 0.98], [False, False, True, True]),
        # a borderline teaser between clear ones goes with the run
        ([0.01, 0.02, 0.99, 0.45, 0.99], [False, False, True, True, True]),
        # a clearly belonging paragraph ends the run
        ([0.01, 0.99, 0.05, 0.99], [False, False, False, True]),
        # a lone low-cohesion paragraph mid-article stays (not junk-shaped)
        ([0.01, 0.95, 0.02, 0.03], [False, False, False, False]),
        # the run must end the document
        ([0.01, 0.99, 0.99, 0.3], [False, False, False, False]),
    ],
)
def test_trailing_run(scores: list[float], expected: list[bool]) -> None:
    assert _mask(scores) == expected


def test_inner_junk_needs_the_strict_threshold() -> None:
    assert _mask([0.01, 0.95, 0.02], junk=[False, True, False]) == [False, True, False]
    assert _mask([0.01, 0.85, 0.02], junk=[False, True, False]) == [False, False, False]


def test_run_opens_at_a_substantial_paragraph() -> None:
    # short list items ending an article are not a run on their own
    assert _mask([0.01, 0.9, 0.9], substantial=[True, False, False]) == [False, False, False]
    # but short lines after a teaser go with it
    assert _mask([0.01, 0.99, 0.9], substantial=[True, True, False]) == [False, True, True]


def test_never_removes_everything() -> None:
    # nothing to stand apart from: no run; junk-shaped lines still go, but one stays
    assert _mask([0.99, 0.97, 0.98]) == [False, False, False]
    assert _mask([0.99, 0.97, 0.98], junk=[True, True, True]) == [True, False, True]


def test_single_paragraph_is_kept() -> None:
    assert _mask([0.99]) == [False]


def test_repeat_decisions_carry_reason_and_reference() -> None:
    out = repeat_decisions("d", [None, Repeat(0, 1.0, True), Repeat(0, 0.8, False)])
    assert out[0] == Decision(0, True)
    assert out[1].reason is Reason.DUPLICATE and out[1].duplicate_of == Ref("d", 0)
    assert out[2].reason is Reason.NEAR_DUPLICATE and out[2].score == 0.8


def test_topic_decisions_only_touch_candidates() -> None:
    before = [Decision(0, True), Decision(1, False, Reason.DUPLICATE, 1.0, Ref("d", 0)), Decision(2, True)]
    after = topic_decisions(
        before, [0, 2], np.array([0.01, 0.99]), np.array([False, False]), np.array([True, True]), TOPIC
    )
    assert after[1] == before[1]
    assert after[0].kept and after[0].score == pytest.approx(0.01)
    assert after[2].reason is Reason.OFF_TOPIC and after[2].score == pytest.approx(0.99)


def test_remove_keeps_metadata() -> None:
    d = Decision(3, True, metadata={"k": 1})
    r = remove(d, Reason.BOILERPLATE, 4.0)
    assert (r.index, r.kept, r.reason, r.score, r.metadata) == (3, False, Reason.BOILERPLATE, 4.0, {"k": 1})


def test_only_decide_builds_decisions_and_results() -> None:
    """One place decides: no other module of the package constructs a Decision or a CleanResult,
    or removes with ``decide.remove``, so every removal and its reason comes from ``dedup.decide``.

    The one exception restores, in the parent process, decisions that ``decide`` made in a worker
    (``analysis.from_wire``); ``tests/test_analysis.py`` checks that they come back equal.
    """
    package = Path(dedup.__file__).parent
    allowed = {("analysis.py", "from_wire")}
    offenders = []
    for path in sorted(package.rglob("*.py")):
        if path.name in ("decide.py", "data.py"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        exempt = {
            id(node)
            for function in ast.walk(tree)
            if isinstance(function, ast.FunctionDef) and (path.name, function.name) in allowed
            for node in ast.walk(function)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or id(node) in exempt:
                continue
            func = node.func
            called = func.id if isinstance(func, ast.Name) else ""
            if isinstance(func, ast.Attribute):
                owner = func.value.id if isinstance(func.value, ast.Name) else ""
                called = func.attr if func.attr != "replace" or owner == "dataclasses" else ""
            if called in ("Decision", "CleanResult", "remove", "replace"):
                offenders.append(f"{path.relative_to(package)}:{node.lineno}: {called}(...)")
    assert offenders == []


def _repeat(i: int, of: int, reason: Reason = Reason.DUPLICATE) -> Decision:
    return Decision(i, False, reason, 1.0, Ref("d", of))


def test_promote_copies_puts_back_the_next_copy() -> None:
    decisions = [
        Decision(0, False, Reason.OFF_TOPIC, 0.9),
        Decision(1, True),
        _repeat(2, 0),
        _repeat(3, 0, Reason.NEAR_DUPLICATE),
        _repeat(4, 1),
    ]
    out, promoted = promote_copies(decisions)
    assert promoted == [2]
    assert out[2] == Decision(2, True)
    assert out[3].reason is Reason.NEAR_DUPLICATE and out[3].duplicate_of == Ref("d", 2)
    assert out[4] == decisions[4]  # its first copy is kept: nothing to do
    assert promote_copies(out) == (out, [])


def test_promote_copies_when_every_copy_is_removed_for_another_reason() -> None:
    decisions = [Decision(0, False, Reason.OFF_TOPIC, 0.9), Decision(1, False, Reason.OFF_TOPIC, 0.8)]
    assert promote_copies(decisions) == (decisions, [])


def test_a_trailing_run_never_takes_most_of_the_text() -> None:
    """A page whose furniture sets the centroid: the article, long and last, is not a trailer."""
    scores = np.array([0.01, 0.02, 0.01, 0.99])
    junk, substantial = np.zeros(4, dtype=bool), np.ones(4, dtype=bool)
    short_menu = np.array([10, 12, 9, 2000])
    assert off_topic(scores, junk, substantial, TOPIC).tolist() == [False, False, False, True]
    assert off_topic(scores, junk, substantial, TOPIC, short_menu).tolist() == [False, False, False, False]
    article_first = np.array([900, 800, 700, 300])  # teasers appended to an article go, as before
    assert off_topic(scores, junk, substantial, TOPIC, article_first).tolist() == [False, False, False, True]


def test_a_trailing_run_follows_enough_text_to_have_a_topic() -> None:
    """A few lines are too little article to tell a teaser from the article's second half."""
    scores = np.array([0.01, 0.02, 0.99])
    junk, substantial = np.zeros(3, dtype=bool), np.ones(3, dtype=bool)
    before = TRAILER_MIN_BEFORE // 2
    assert off_topic(scores, junk, substantial, TOPIC, np.array([before - 1, before, 300])).tolist() == [
        False, False, False
    ]
    assert off_topic(scores, junk, substantial, TOPIC, np.array([before, before, 300])).tolist() == [
        False, False, True
    ]


def test_furniture_decisions_keep_earlier_removals_and_never_empty_a_document() -> None:
    repeat = Decision(2, False, Reason.DUPLICATE, 1.0, Ref("d", 0))
    decisions = [Decision(0, True), Decision(1, True), repeat]
    scores = np.array([0.97, 0.99, 0.999])
    out = furniture_decisions(decisions, scores, 0.9, explain=lambda rows: [{"short_run": 1.5, "x": -1.0}] * len(rows))
    assert out[2] is repeat  # an earlier stage's removal stands
    assert out[0].kept and out[0] == decisions[0]  # the lowest-scoring paragraph stays: never an empty document
    assert out[1].reason is Reason.FURNITURE and out[1].score == 0.99
    assert out[1].metadata == {"signals": {"short_run": 1.5}, "model": "furniture"}
    below = furniture_decisions(decisions, np.array([0.2, 0.3, 0.99]), 0.9)
    assert below == decisions


def test_a_long_paragraph_shaped_like_a_kicker_is_not_removed_before_the_run() -> None:
    """A transcript's "SPEAKER: ..." turn has a kicker's shape and may score as foreign, but a paragraph
    of more than JUNK_MAX_CHARS characters is not a caption, a chrome line or a teaser's kicker line."""
    from dedup.decide import JUNK_MAX_CHARS

    topic = TopicConfig()
    scores = np.array([0.1, 0.95, 0.95, 0.1])
    junk = np.array([False, True, True, False])
    substantial = np.ones(4, dtype=bool)
    lengths = np.array([300, 80, JUNK_MAX_CHARS + 1, 300])
    assert off_topic(scores, junk, substantial, topic, lengths).tolist() == [False, True, False, False]
    assert off_topic(scores, junk, substantial, topic).tolist() == [False, True, True, False]


def test_a_galleries_captions_are_its_content() -> None:
    """Captions go as furniture beside an article, but a page that is mostly captions is a photo gallery:
    they are what it is (from GALLERY_SHARE of its text on)."""
    from dedup.decide import GALLERY_SHARE

    topic = TopicConfig()
    scores = np.array([0.05, 0.97, 0.97, 0.97, 0.1])
    captions = np.array([False, True, True, True, False])
    substantial = np.ones(5, dtype=bool)
    article = np.array([600, 40, 40, 40, 600])
    assert off_topic(scores, captions, substantial, topic, article, None, captions).tolist() == [
        False, True, True, True, False
    ]
    intro = 100
    gallery = np.array([intro, 120, 120, 120, 60])
    assert gallery[captions].sum() >= GALLERY_SHARE * gallery.sum()
    assert off_topic(scores, captions, substantial, topic, gallery, None, captions).tolist() == [False] * 5
    # other furniture on a gallery page still goes
    chrome = np.array([False, False, False, False, True])
    scores[-1] = 0.97
    kept = off_topic(scores, captions | chrome, substantial, topic, gallery, None, captions)
    assert kept.tolist() == [False, False, False, False, True]


def test_a_trailing_run_needs_a_teasers_form_to_go() -> None:
    """A trailing run in plain prose is the article's own ending; with a kicker or a cut sentence in it,
    it is teasers."""
    topic = TopicConfig()
    scores = np.array([0.05, 0.1, 0.1, 0.97])
    junk = np.zeros(4, dtype=bool)
    substantial = np.ones(4, dtype=bool)
    plain = np.zeros(4, dtype=bool)
    kicker = np.array([False, False, False, True])
    assert off_topic(scores, junk, substantial, topic, teaser_form=plain).tolist() == [False] * 4
    assert off_topic(scores, junk, substantial, topic, teaser_form=kicker).tolist() == [False, False, False, True]
    assert off_topic(scores, junk, substantial, topic).tolist() == [False, False, False, True]
    two = np.array([0.05, 0.1, 0.97, 0.97])
    assert off_topic(two, junk, substantial, topic, teaser_form=plain).tolist() == [False] * 4
    one_cut = np.array([False, False, True, False])
    assert off_topic(two, junk, substantial, topic, teaser_form=one_cut).tolist() == [False, False, True, True]


def test_a_long_block_has_no_teasers_form() -> None:
    """A block of TEASER_MAX_CHARS or more that does not end like a sentence is a long page's section,
    not another story's lead cut short: it does not make a trailing run one of teasers."""
    from dedup.decide import TEASER_MAX_CHARS

    topic = TopicConfig()
    scores = np.array([0.05, 0.1, 0.97])
    junk = np.zeros(3, dtype=bool)
    substantial = np.ones(3, dtype=bool)
    cut = np.array([False, False, True])
    teaser = np.array([900, 900, 300])
    section = np.array([900, 900, TEASER_MAX_CHARS + 1])
    assert off_topic(scores, junk, substantial, topic, teaser, cut).tolist() == [False, False, True]
    assert off_topic(scores, junk, substantial, topic, section, cut).tolist() == [False, False, False]


def test_a_short_line_that_recurs_alone_is_kept() -> None:
    """Copies come in runs; a refrain or a recurring heading stands alone, with text around each copy."""
    repeats = [None, None, None, Repeat(0, 1.0, True), None]
    lengths = [11, 300, 250, 11, 280]
    assert all(d.kept for d in repeat_decisions("d", repeats, lengths))
    # Without the lengths (or longer than the limit), every repeat goes, as before.
    assert not repeat_decisions("d", repeats)[3].kept
    assert not repeat_decisions("d", repeats, [11, 300, 250, LONE_REPEAT_MAX_CHARS + 1, 280])[3].kept


@pytest.mark.parametrize(
    ("repeats", "why"),
    [
        ([None, None, Repeat(0, 1.0, True), Repeat(1, 1.0, True)], "a run: the page scraped twice"),
        ([None, Repeat(0, 1.0, True), None], "right after the line it repeats"),
        ([None, None, Repeat(0, 0.8, False), None], "a near repeat"),
        ([None, None, Repeat(0, 1.0, True), Repeat(1, 0.7, False)], "next to a near repeat"),
    ],
)
def test_repeats_that_do_not_stand_alone_go(repeats: list[Repeat | None], why: str) -> None:
    decisions = repeat_decisions("d", repeats, [20] * len(repeats))
    assert not decisions[2 if len(repeats) > 3 else 1].kept, why


def test_reader_comments_never_empty_a_page() -> None:
    before = [Decision(0, False, Reason.OFF_TOPIC, 0.99), Decision(1, True), Decision(2, True)]
    assert comments_decisions(before, 1) == before
    cut = comments_decisions([Decision(0, True), Decision(1, True), Decision(2, True)], 1)
    assert [d.kept for d in cut] == [True, False, False]
