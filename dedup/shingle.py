"""Normalise paragraphs and turn them into hashed character shingles.

Normalisation (NFKC, case folding, punctuation and symbols to spaces,
whitespace collapsed) makes curly vs straight quotes, case and spacing cost
nothing. Shingles are overlapping character n-grams of the normalised text:
they keep enough overlap on short paragraphs, and need no word boundaries,
so Chinese and Japanese text works as well as English.

The shingle hash is a 64-bit polynomial over code points folded to 32 bits.
It is computed for all shingles of a paragraph in a few numpy operations,
and :func:`shingle_hash` computes the same value for one shingle, so the
same hash can be handed to datasketch as ``hashfunc``.
"""

from __future__ import annotations

import hashlib
import re
import struct
import unicodedata

import numpy as np

_NON_WORD = re.compile(r"[\W_]+")
_MULTIPLIER = np.uint64(0x100000001B3)  # FNV-1a 64-bit prime: odd, well spread bits
_MULTIPLIER_INT = int(_MULTIPLIER)
_MASK64 = (1 << 64) - 1
_CODEPOINT = struct.Struct("<I")
_EMPTY = np.zeros(0, dtype=np.uint32)


def normalise(text: str) -> str:
    """Return the comparison form of a paragraph.

    Example:
        >>> normalise("  “Police  stations”, it SAID. ")
        'police stations it said'
    """
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def exact_key(normalised: str) -> int:
    """A 64-bit key of a normalised paragraph, for exact-repeat lookups."""
    # surrogatepass: JSON may carry lone surrogates ("\\ud800"); they must hash, not crash.
    data = normalised.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def codepoints(text: str) -> np.ndarray:
    """The Unicode code points of ``text`` as a ``uint64`` array."""
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.uint64)


def _fold(h: np.ndarray) -> np.ndarray:
    return ((h ^ (h >> np.uint64(32))) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def shingle_hashes(normalised: str, size: int) -> np.ndarray:
    """Hash every character ``size``-gram of a normalised paragraph.

    A text shorter than ``size`` is one shingle; an empty text has none.

    Args:
        normalised: Output of :func:`normalise`.
        size: Characters per shingle.

    Returns:
        ``uint32`` hashes, one per shingle position (repeats included).
    """
    if not normalised:
        return _EMPTY
    cp = codepoints(normalised)
    count = len(cp) - size + 1
    if count <= 0:
        count, size = 1, len(cp)
    with np.errstate(over="ignore"):  # wrap-around is the modulo 2**64
        h = cp[:count].copy()
        for j in range(1, size):
            h *= _MULTIPLIER
            h += cp[j : j + count]
    return _fold(h)


def shingles(normalised: str, size: int) -> list[bytes]:
    """The shingles themselves, encoded as :func:`shingle_hash` expects.

    This is the slow, one-shingle-at-a-time form, for feeding datasketch.
    """
    if not normalised:
        return []
    count = max(len(normalised) - size + 1, 1)
    return [normalised[i : i + size].encode("utf-32-le") for i in range(count)]


def shingle_hash(shingle: bytes) -> int:
    """Hash one shingle (UTF-32-LE bytes) exactly as :func:`shingle_hashes` does.

    Pass it to datasketch as ``MinHash(hashfunc=shingle_hash)``.
    """
    h = 0
    for (c,) in _CODEPOINT.iter_unpack(shingle):
        h = (h * _MULTIPLIER_INT + c) & _MASK64
    return (h ^ (h >> 32)) & 0xFFFFFFFF
