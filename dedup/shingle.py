"""Normalise paragraphs and turn them into hashed character shingles.

Normalisation (NFKC, case folding, punctuation and symbols to spaces,
whitespace collapsed) makes curly vs straight quotes, case and spacing cost
nothing. Shingles are overlapping character n-grams of the normalised text:
they keep enough overlap on short paragraphs, and need no word boundaries,
so Chinese and Japanese text works as well as English.

The shingle hash is a 64-bit polynomial over code points folded to 32 bits.
It is computed for all shingles of a paragraph in one compiled loop (numba,
cached on disk, see :func:`kernel`), and :func:`shingle_hash` computes the
same value for one shingle in pure Python, so the same hash can be handed to
datasketch as ``hashfunc``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import struct
import unicodedata
from collections.abc import Callable
from typing import Any, TypeVar

import numba
import numpy as np
from numba import types

_F = TypeVar("_F", bound=Callable[..., Any])

_NON_WORD = re.compile(r"[\W_]+")
# The same classes as _NON_WORD for ASCII text: letters and digits are kept, all else (``_`` too) is a separator.
_ASCII_SEPARATORS = bytes(c if chr(c).isalnum() else 0x20 for c in range(128)) + b" " * 128
_MULTIPLIER = np.uint64(0x100000001B3)  # FNV-1a 64-bit prime: odd, well spread bits
_MULTIPLIER_INT = int(_MULTIPLIER)
_MASK64 = (1 << 64) - 1
_CODEPOINT = struct.Struct("<I")
_EMPTY = np.zeros(0, dtype=np.uint32)


def kernel(signature: Any) -> Callable[[_F], _F]:
    """Compile a function ahead of its first call, with numba, caching the machine code on disk.

    Compiling at import means processes forked afterwards (the worker pool)
    never compile, and the on-disk cache means a new process loads the
    code instead of compiling it again. numba keeps the cache beside the
    source, or in the user's cache directory when the package directory is
    not writable; when neither is, it refuses to cache, and the function
    is compiled for this process alone.

    Args:
        signature: The numba signature: the argument types must be exact.
    """

    def compile_(function: _F) -> _F:
        try:
            compiled = numba.njit(signature, cache=True, nogil=True)(function)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            logging.getLogger(__name__).info("no writable numba cache directory: compiling %s", function.__name__)
            compiled = numba.njit(signature, nogil=True)(function)
        return compiled

    return compile_


def normalise(text: str) -> str:
    """Return the comparison form of a paragraph.

    Example:
        >>> normalise("  “Police  stations”, it SAID. ")
        'police stations it said'
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    if folded.isascii():
        # The same result as the regular expression below, three times faster: most text is ASCII.
        return b" ".join(folded.encode("ascii").translate(_ASCII_SEPARATORS).split()).decode("ascii")
    return _NON_WORD.sub(" ", folded).strip()


def exact_key(normalised: str) -> int:
    """A 64-bit key of a normalised paragraph, for exact-repeat lookups."""
    # surrogatepass: JSON may carry lone surrogates ("\\ud800"); they must hash, not crash.
    data = normalised.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def codepoints(text: str) -> np.ndarray:
    """The Unicode code points of ``text`` as a ``uint64`` array."""
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.uint64)


_READONLY_CODEPOINTS = types.Array(types.uint32, 1, "C", readonly=True)


@kernel(types.uint32[::1](_READONLY_CODEPOINTS, types.int64))
def _hash_shingles(cp: np.ndarray, size: int) -> np.ndarray:
    count = len(cp) - size + 1
    if count <= 0:
        count, size = 1, len(cp)
    # One pass per position in the shingle, each over all shingles: the inner loop has no carried
    # dependency, so it vectorises. uint64 wrap-around is the modulo 2**64 of the polynomial.
    h = np.empty(count, dtype=np.uint64)
    for i in range(count):
        h[i] = cp[i]
    for j in range(1, size):
        for i in range(count):
            h[i] = h[i] * _MULTIPLIER + np.uint64(cp[i + j])
    out = np.empty(count, dtype=np.uint32)
    for i in range(count):
        out[i] = np.uint32((h[i] ^ (h[i] >> np.uint64(32))) & np.uint64(0xFFFFFFFF))
    return out


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
    # "<u4" is uint32 on every little-endian machine; elsewhere astype makes it native for the kernel.
    cp = np.frombuffer(normalised.encode("utf-32-le"), dtype="<u4").astype(np.uint32, copy=False)
    return _hash_shingles(cp, size)


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
