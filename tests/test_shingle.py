"""Normalisation and shingle hashing."""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dedup.shingle import exact_key, normalise, shingle_hash, shingle_hashes, shingles


def _normalise_by_regex(text: str) -> str:
    """The definition of the comparison form, which the ASCII shortcut of :func:`normalise` must match."""
    return re.sub(r"[\W_]+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()


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


def test_every_ascii_character_normalises_as_the_regex_does() -> None:
    for code in range(128):
        text = f"a{chr(code)}b {chr(code)}"
        assert normalise(text) == _normalise_by_regex(text), repr(chr(code))
    every = "".join(map(chr, range(128)))
    letters = "abcdefghijklmnopqrstuvwxyz"
    assert normalise(every) == _normalise_by_regex(every) == f"0123456789 {letters} {letters}"


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=60))
def test_ascii_normalises_as_the_regex_does(text: str) -> None:
    assert normalise(text) == _normalise_by_regex(text)


@given(st.text(max_size=60))
def test_any_text_normalises_as_the_regex_does(text: str) -> None:
    assert normalise(text) == _normalise_by_regex(text)


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


@given(st.text(min_size=1, max_size=80), st.integers(2, 32))
def test_hashes_of_any_code_points_and_size_match(text: str, size: int) -> None:
    """Not only normalised text: any code point, up to U+10FFFF, and every configurable shingle size."""
    assert shingle_hashes(text, size).tolist() == [shingle_hash(s) for s in shingles(text, size)]


@pytest.mark.parametrize("size", [2, 5, 32])
def test_hashes_of_a_long_text_match(size: int) -> None:
    codes = np.random.default_rng(3).integers(0x20, 0x10FFFF, size=20_000)
    text = "".join(chr(c) for c in codes if not 0xD800 <= c < 0xE000)  # no surrogates: they cannot be encoded
    text += "\U0010ffff" * 40
    hashes = shingle_hashes(text, size)
    assert hashes.dtype == np.uint32
    assert hashes.tolist() == [shingle_hash(s) for s in shingles(text, size)]


def test_hashes_are_fresh_arrays() -> None:
    """Callers keep the arrays of many paragraphs: none may share memory with another."""
    first, second = shingle_hashes("some text here", 5), shingle_hashes("some text here", 5)
    assert np.array_equal(first, second)
    assert not np.shares_memory(first, second)


def test_distinct_shingles_rarely_collide() -> None:
    text = " ".join(f"w{i:06d}" for i in range(20000))
    hashes = shingle_hashes(text, 7)
    grams = {text[i : i + 7] for i in range(len(hashes))}
    assert len(set(hashes.tolist())) >= len(grams) - 2
