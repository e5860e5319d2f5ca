"""The compact band index finds exactly the items a plain dict would."""

from __future__ import annotations

import numpy as np
import pytest

import dedup.bands
from dedup.bands import BandIndex


@pytest.mark.parametrize("buffer", [4, 64, 1 << 16])
def test_candidates_match_a_dict(monkeypatch: pytest.MonkeyPatch, buffer: int) -> None:
    monkeypatch.setattr(dedup.bands, "_BUFFER", buffer)
    rng = np.random.default_rng(buffer)
    index, reference = BandIndex(), {}
    for item in range(500):
        keys = rng.integers(0, 300, 5).tolist()  # small key space: many shared keys
        for key in BandIndex.fold(keys):
            reference.setdefault(key, set()).add(item)
        index.add(keys, item)
        query = rng.integers(0, 300, 5).tolist()
        expected = set().union(*(reference.get(k, set()) for k in BandIndex.fold(query)))
        assert index.candidates(query) == expected
    assert len(index) == 2500
    if buffer < 500:
        assert len(index._runs) <= 2 * int(np.log2(2500 / buffer) + 1)


def test_export_restore_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dedup.bands, "_BUFFER", 16)
    index = BandIndex()
    for item in range(100):
        index.add([item, item + 1, 2**63 + item], item)
    restored = BandIndex.restore(*index.export())
    for key in (0, 50, 2**63 + 7, 12345):
        assert restored.candidates([key]) == index.candidates([key])


def test_entries_cost_eight_bytes() -> None:
    index = BandIndex()
    for item in range(100_000):
        index.add([item * 7919, item * 104729], item)
    index.export()
    assert index.nbytes == 8 * len(index)
