"""Normalisation and shingle hashing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dedup.shingle import exact_key, normalise, shingle_hash, shingle_hashes, shingles


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("“Police stations”", "police stations"),
        ('"Police  stations"', "police stations"),
        ("Madrid-based  group.", "madrid based group"),
        ("ＦＵＬＬ width", "full width"),
        ("  ", ""),
        ("***", ""),
        ("中国的警察站", "中国的警察站"),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_quotes_and_case_do_not_change_the_key() -> None:
    assert exact_key(normalise("He said “no”.")) == exact_key(normalise('he said "NO"'))
    assert exact_key(normalise("licence")) != exact_key(normalise("license"))


@pytest.mark.parametrize("size", [2, 3, 5, 8])
@pytest.mark.parametrize("text", ["hello world", "中国的警察站在意大利", "ab", "a", "police stations in italy"])
def test_vectorised_hash_equals_single_shingle_hash(text: str, size: int) -> None:
    norm = normalise(text)
    vector = shingle_hashes(norm, size)
    single = [shingle_hash(s) for s in shingles(norm, size)]
    assert vector.tolist() == single
    assert vector.dtype == np.uint32


def test_empty_text_has_no_shingles() -> None:
    assert len(shingle_hashes("", 5)) == 0
    assert shingles("", 5) == []


def test_short_text_is_one_shingle() -> None:
    assert len(shingle_hashes("abc", 5)) == 1


@given(st.text(max_size=80))
def test_hashes_never_crash_and_match(text: str) -> None:
    norm = normalise(text)
    assert shingle_hashes(norm, 4).tolist() == [shingle_hash(s) for s in shingles(norm, 4)]


def test_distinct_shingles_rarely_collide() -> None:
    text = " ".join(f"w{i:06d}" for i in range(20000))
    hashes = shingle_hashes(text, 7)
    grams = {text[i : i + 7] for i in range(len(hashes))}
    assert len(set(hashes.tolist())) >= len(grams) - 2
