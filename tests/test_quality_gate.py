"""Quality gate: the development benchmark must not regress.

Builds the labelled damaged corpus from the BBC News 2005 data, with page
chrome drawn from the real-page data (both read in place, never copied into
the repository), runs the default cleaner and compares with the pinned
floors in ``benchmarks/quality_baseline.json``; also cleans the unedited
test articles and holds the count of paragraphs removed from them. Without
the data the gate is skipped on a developer machine and fails in CI (``CI``
set), so a missing data set can never pass for good quality.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import require_data

from benchmarks.corpus import build_corpus, find_bbc_data
from benchmarks.pages import find_pages_data
from benchmarks.quality import evaluate, second_pass, unedited
from dedup import Cleaner

BASELINE = json.loads((Path(__file__).resolve().parents[1] / "benchmarks" / "quality_baseline.json").read_text())


@pytest.fixture(scope="module")
def samples() -> list[Any]:
    require_data(find_bbc_data, "BBC data")
    require_data(find_pages_data, "real-page data (the page chrome of the corpus)")
    return build_corpus(**BASELINE["corpus"])


@pytest.fixture(scope="module")
def results(samples: list[Any]) -> dict[str, Any]:
    return evaluate(Cleaner(), samples)


def test_floors_are_never_below_the_targets() -> None:
    for name, target in BASELINE["targets"].items():
        assert BASELINE["floors"][name] >= target, f"the floor of {name} is below its target {target}"


def _measured(results: dict[str, Any]) -> dict[str, float]:
    paragraphs, documents = results["paragraphs"], results["document_level"]
    return {
        "article_kept": paragraphs["article"]["rate"],
        "repeats_removed": paragraphs["repeat_all"]["rate"],
        "teaser_other_removed": paragraphs["teaser_other"]["rate"],
        "mean_f1": results["documents"]["f1"],
        "teaser_same_removed": paragraphs["teaser_same"]["rate"],
        "caption_removed": paragraphs["caption"]["rate"],
        "chrome_removed": paragraphs["chrome"]["rate"],
        "syndicated_copies_dropped": documents["syndicated_copies_dropped_as_duplicate"],
        "story_pair_kept_whole": documents["story_pair_kept_whole"],
    }


_NOT_RATES = {
    "false_document_drops_max",
    "second_pass_changed_max",
    "unedited_removed_max",
    "unedited_body_removed_max",
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(BASELINE["floors"]) - _NOT_RATES))
def test_quality_floor(results: dict[str, Any], name: str) -> None:
    value = _measured(results)[name]
    assert value >= BASELINE["floors"][name], f"{name} fell to {value:.4f}, below its floor {BASELINE['floors'][name]}"


@pytest.mark.slow
def test_no_false_document_drops(results: dict[str, Any]) -> None:
    assert results["document_level"]["false_document_drops"] <= BASELINE["floors"]["false_document_drops_max"]
    assert results["document_level"]["text_inconsistent_with_decisions"] == 0


@pytest.mark.slow
def test_second_pass_changes_few_documents(samples: list[Any]) -> None:
    """Cleaning the output again changes at most the pinned share of documents (the topic stage's rounds)."""
    values = second_pass(samples)
    assert values["rate"] <= BASELINE["floors"]["second_pass_changed_max"], values


@pytest.mark.slow
def test_unedited_articles_lose_no_more_paragraphs() -> None:
    """Of the unedited test articles, no more lines are removed as off-topic (or furniture) than pinned.

    The figure is deterministic, so the pins are the measured counts: any
    further false removal fails. Its target (``UNEDITED_TARGET``, 0.2 %) is
    met: 10 of 5,877 lines (0.17 %); see benchmarks/README.md.
    """
    require_data(find_bbc_data, "BBC data")
    values = unedited("test")
    floors = BASELINE["floors"]
    examples = values["examples"]
    assert values["counted"] <= floors["unedited_removed_max"], (values["counted"], examples)
    assert values["counted_body"] <= floors["unedited_body_removed_max"], (values["counted_body"], examples)
