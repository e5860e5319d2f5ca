"""Checks of the real-page benchmark's metric, on hand-made pages.

The metric is the one of the data's README: ``\\w+`` tokens, 4-token
shingles counted as multisets, precision and recall per page averaged over
pages, F1 of the averages, empty outputs left out of precision.
"""

from __future__ import annotations

import pytest

from benchmarks.pages import (
    LOST_DROP,
    Page,
    PageScore,
    as_is,
    page_score,
    run,
    shingles,
    summarise,
    tabulate,
)


def test_shingles_are_word_runs_across_lines_and_punctuation() -> None:
    assert shingles("Rain, fell\non: Paris!") == shingles("Rain fell on Paris")
    assert sum(shingles("one two three").values()) == 0
    assert shingles("a b c d a b c d")[("a", "b", "c", "d")] == 2


def test_shingles_keep_case() -> None:
    assert not set(shingles("Rain fell on Paris")) & set(shingles("rain fell on paris"))


@pytest.mark.parametrize(
    ("output", "gold", "expected"),
    [
        ("a b c d e", "a b c d e", PageScore(1.0, 1.0, 1.0)),
        ("", "a b c d e", PageScore(None, 0.0, 0.0)),
        ("a b c", "a b c d e", PageScore(None, 0.0, 0.0)),  # under four tokens: no shingle, as empty
        ("x y z w a b c d e", "a b c d e", PageScore(2 / 6, 1.0, 1.0)),
        ("a b c d", "a b c d e f", PageScore(1.0, 1 / 3, 1 / 3)),
        # Multisets: a body twice over has half its shingles in excess.
        ("a b c d a b c d", "a b c d", PageScore(1 / 5, 1.0, 1.0)),
        # A gold holding its body twice: one copy has about half the recall; of the distinct shingles,
        # it lacks only those across the join.
        ("a b c d", "a b c d a b c d", PageScore(1.0, 1 / 5, 1 / 4)),
    ],
)
def test_page_score(output: str, gold: str, expected: PageScore) -> None:
    got = page_score(output, gold)
    assert got.recall == pytest.approx(expected.recall)
    assert got.set_recall == pytest.approx(expected.set_recall)
    if expected.precision is None:
        assert got.precision is None
    else:
        assert got.precision == pytest.approx(expected.precision)


def test_f1_is_of_the_averages_and_empty_pages_leave_precision() -> None:
    scores = [PageScore(1.0, 1.0), PageScore(0.5, 0.2), PageScore(None, 0.0)]
    summary = summarise(scores)
    assert summary.precision == pytest.approx(0.75)
    assert summary.recall == pytest.approx(0.4)
    assert summary.f1 == pytest.approx(2 * 0.75 * 0.4 / 1.15)
    assert summary.empty == 1
    assert summary.lost == 0  # no as-is scores given


def test_a_page_is_lost_when_recall_falls_by_more_than_the_margin() -> None:
    base = [PageScore(1.0, 1.0)] * 3
    scores = [PageScore(1.0, 1.0 - LOST_DROP), PageScore(1.0, 1.0 - LOST_DROP - 0.01), PageScore(None, 0.0)]
    summary = summarise(scores, base)
    assert summary.lost == 2
    assert summary.lost_share == pytest.approx(2 / 3)


def test_summarise_refuses_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="2 scores but 1"):
        summarise([PageScore(1.0, 1.0)] * 2, [PageScore(1.0, 1.0)])


PAGES = (
    Page("dragnet-1", "dragnet", "Home News\nthe cat sat on the mat all day", "the cat sat on the mat all day",
         "the cat sat on the mat all day"),
    Page("cleaneval-1", "cleaneval", "menu one two three four\nrain fell on paris at noon", "",
         "rain fell on paris at noon"),
)


def test_run_scores_each_input_and_tabulate_splits_sources() -> None:
    base = run(as_is, PAGES)
    assert base["trafilatura"][0] == PageScore(1.0, 1.0, 1.0)
    assert base["trafilatura"][1] == PageScore(None, 0.0, 0.0)  # an empty input stays empty
    assert base["text"][1].precision == pytest.approx(3 / 8)  # 11 tokens, 8 shingles, 3 in the gold

    def drop_first_line(page: Page):  # a method that loses the CleanEval page's article
        return lambda text: text.split("\n", 1)[-1] if page.source == "dragnet" else text.split("\n", 1)[0]

    table = tabulate(PAGES, run(drop_first_line, PAGES), base)
    assert table["text"]["dragnet"].precision == 1.0
    assert table["text"]["cleaneval"].lost == 1
    assert table["text"]["all"].pages == 2
    assert table["text"]["all"].lost == 1


def test_a_page_that_lost_only_its_gold_s_own_repeats_is_counted_apart() -> None:
    body = " ".join(f"word{i}" for i in range(40))
    as_is = [page_score(f"{body} {body}", f"{body} {body}"), page_score(body, body)]
    cleaned = [page_score(body, f"{body} {body}"), page_score("the council", body)]
    summary = summarise(cleaned, as_is)
    assert (summary.lost, summary.lost_repeats) == (2, 1)
