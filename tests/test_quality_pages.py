"""Quality gate on real pages: dedup must not lose more article text, or keep more furniture, than before.

Runs the cleaner (``--no-doc-dedup``, a fresh cleaner per page) on the real
pages of ``../shared/data/pages-dev.jsonl.gz`` (read in place) and holds the
floors in ``benchmarks/pages_baseline.json``. Without the data the gate is
skipped on a developer machine and fails in CI (``CI`` set).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import require_data

from benchmarks.pages import SOURCES, as_is, dedup_factory, find_pages_data, load_pages, run, summarise

BASELINE = json.loads((Path(__file__).resolve().parents[1] / "benchmarks" / "pages_baseline.json").read_text())


@pytest.fixture(scope="module")
def summaries() -> dict[str, dict[str, Any]]:
    require_data(find_pages_data, "real-page data")
    pages = load_pages()
    before, after = run(as_is, pages), run(dedup_factory(), pages)
    out: dict[str, dict[str, Any]] = {}
    for name in BASELINE["floors"]:
        out[name] = {}
        for source in BASELINE["floors"][name]:
            keep = [k for k, page in enumerate(pages) if source == "all" or page.source == source]
            out[name][source] = summarise([after[name][k] for k in keep], [before[name][k] for k in keep])
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "source"), [(n, s) for n in ("text", "trafilatura") for s in ("all", "dragnet", "cleaneval")]
)
def test_real_page_floors(summaries: dict[str, dict[str, Any]], name: str, source: str) -> None:
    floor = BASELINE["floors"][name][source]
    measured = summaries[name][source]
    assert measured.f1 >= floor["f1"], f"{name}/{source}: F1 {measured.f1:.4f} below the floor {floor['f1']}"
    assert measured.lost <= floor["lost"], f"{name}/{source}: {measured.lost} pages lost, more than {floor['lost']}"


def test_the_gate_covers_every_source() -> None:
    assert set(BASELINE["floors"]["text"]) == {"all", *SOURCES}
