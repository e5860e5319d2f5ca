"""MinHash signatures and LSH band keys, computed in batches by a compiled kernel.

datasketch is the source of truth for the scheme: the permutations are
taken from a ``datasketch.MinHash`` built with the configured seed, number
of permutations, :data:`~dedup.config.MINHASH_SCHEME` and
:func:`~dedup.shingle.shingle_hash`, and a signature here equals that
MinHash's ``hashvalues`` after ``update_batch`` with the same shingles.
What differs is speed: the shingles of many sets go to one numba kernel
(compiled at import, cached on disk, see :func:`dedup.shingle.kernel`)
that keeps each set's signature in a small array and updates all of its
permutations a few shingles at a time, in uint32 arithmetic the compiler
turns into SIMD instructions.

LSH banding uses datasketch's own choice of bands and rows for a
threshold; a band key is a 64-bit mix of the band's rows, so an index
stores band keys and a small sketch rather than whole signatures.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from itertools import pairwise

import numba
import numpy as np
from datasketch import MinHash
from datasketch.lsh import _optimal_param
from numba import types

from dedup.config import MINHASH_SCHEME, ShingleConfig
from dedup.shingle import kernel, shingle_hash

EMPTY_HASH = np.uint32(0xFFFFFFFF)
#: Bits kept per permutation in an index sketch (see :func:`sketch`).
SKETCH_BITS = 4
# Shingles handed to the kernel per call: the concatenated copy stays small (256 KB) however
# large the batch, and a set at least this large is passed as it is, without a copy.
_GROUP = 1 << 16
_BAND_MIX = np.uint64(0x9E3779B97F4A7C15)
_MASK32 = np.uint64(0xFFFFFFFF)


def datasketch_minhash(config: ShingleConfig) -> MinHash:
    """An empty datasketch MinHash with exactly our scheme, for reference use."""
    return MinHash(num_perm=config.num_perm, seed=config.seed, hashfunc=shingle_hash, scheme=MINHASH_SCHEME)


@lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    reference = datasketch_minhash(ShingleConfig(num_perm=num_perm, seed=seed))
    a, b = (np.array(p, dtype=np.uint32) for p in reference.permutations)
    a.flags.writeable = b.flags.writeable = False  # shared by every caller through the cache
    return a, b


_READONLY_U32 = types.Array(types.uint32, 1, "C", readonly=True)
_READONLY_I64 = types.Array(types.int64, 1, "C", readonly=True)


@numba.njit(inline="always")  # compiled into the kernel below, with it
def _fmix32(h: np.uint32) -> np.uint32:
    # uint64 with explicit masks: numba types uint32 arithmetic as 64-bit, and the wrap must be at 2**32.
    x = np.uint64(h)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x85EBCA6B)) & _MASK32
    x ^= x >> np.uint64(13)
    x = (x * np.uint64(0xC2B2AE35)) & _MASK32
    x ^= x >> np.uint64(16)
    return np.uint32(x)


@kernel(types.void(_READONLY_U32, _READONLY_I64, _READONLY_U32, _READONLY_U32, types.uint32[:, ::1]))
def _sign_sets(flat: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """Write the signature of ``flat[offsets[i]:offsets[i + 1]]`` to ``out[i]``, for every set ``i``."""
    num_perm = len(a)
    row = np.empty(num_perm, dtype=np.uint32)
    for s in range(len(offsets) - 1):
        row[:] = np.uint32(0xFFFFFFFF)
        i, end = offsets[s], offsets[s + 1]
        # Four shingles per pass over the permutations: a, b and the row are loaded and the row
        # stored once for four products, which is most of the kernel's work at 128 permutations.
        while i + 4 <= end:
            x0, x1, x2, x3 = _fmix32(flat[i]), _fmix32(flat[i + 1]), _fmix32(flat[i + 2]), _fmix32(flat[i + 3])
            for p in range(num_perm):
                # The products are 64-bit to numba; truncating to uint32 is the modulo 2**32 (and
                # lets the compiler use 32-bit vector multiplies).
                m01 = min(np.uint32(a[p] * x0 + b[p]), np.uint32(a[p] * x1 + b[p]))
                m23 = min(np.uint32(a[p] * x2 + b[p]), np.uint32(a[p] * x3 + b[p]))
                row[p] = min(row[p], min(m01, m23))
            i += 4
        while i < end:
            x = _fmix32(flat[i])
            for p in range(num_perm):
                row[p] = min(row[p], np.uint32(a[p] * x + b[p]))
            i += 1
        out[s, :] = row


def _signatures(hash_sets: Sequence[np.ndarray], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Signatures under the permutations ``(a, b)``, whatever their number; see :func:`signatures`."""
    a = np.ascontiguousarray(a, dtype=np.uint32)
    b = np.ascontiguousarray(b, dtype=np.uint32)
    n = len(hash_sets)
    out = np.empty((n, len(a)), dtype=np.uint32)
    if not n:
        return out
    sizes = np.fromiter((len(h) for h in hash_sets), dtype=np.int64, count=n)
    ends = np.cumsum(sizes)
    # Kernel calls cover consecutive sets of about _GROUP shingles in all; a set of _GROUP or more
    # shingles is a call of its own, so it is never copied.
    starts = ends - sizes
    large = sizes >= _GROUP
    cuts = np.flatnonzero((np.diff(starts // _GROUP) > 0) | large[1:] | large[:-1]) + 1
    bounds = [0, *cuts.tolist(), n]
    for first, stop in pairwise(bounds):
        if stop - first == 1:
            flat = np.ascontiguousarray(hash_sets[first], dtype=np.uint32)
        else:
            flat = np.concatenate([hash_sets[k] for k in range(first, stop)]).astype(np.uint32, copy=False)
        offsets = np.zeros(stop - first + 1, dtype=np.int64)
        offsets[1:] = ends[first:stop] - starts[first]
        _sign_sets(flat, offsets, a, b, out[first:stop])
    return out


def signatures(hash_sets: Sequence[np.ndarray], config: ShingleConfig) -> np.ndarray:
    """MinHash signatures of many shingle sets at once.

    Args:
        hash_sets: One ``uint32`` array of shingle hashes per set.
        config: Permutation count and seed.

    Returns:
        A ``(len(hash_sets), num_perm)`` ``uint32`` array; an empty set gets
        the all-``0xFFFFFFFF`` signature, as datasketch does.
    """
    return _signatures(hash_sets, *_permutations(config.num_perm, config.seed))


def union_signature(signature_rows: np.ndarray, num_perm: int) -> np.ndarray:
    """The signature of the union of several sets: the element-wise minimum."""
    if len(signature_rows) == 0:
        return np.full(num_perm, EMPTY_HASH, dtype=np.uint32)
    return signature_rows.min(axis=0)


#: How far below the decision threshold LSH bands are tuned when candidates are
#: cheap to verify: datasketch's optimum for threshold t finds only about half
#: of the pairs whose similarity is exactly t; tuned for t - 0.15 it finds 99 %.
RECALL_SLACK = 0.15


@lru_cache(maxsize=64)
def lsh_params(threshold: float, num_perm: int, slack: float = 0.0) -> tuple[int, int]:
    """Bands and rows for a Jaccard threshold, as datasketch's ``MinHashLSH`` picks them.

    Candidates are always verified afterwards, so a missed pair costs more
    than a false candidate: false negatives weigh 0.7, false positives 0.3,
    and ``slack`` tunes the bands for a lower threshold than the decision's.
    """
    bands, rows = _optimal_param(max(threshold - slack, 0.05), num_perm, 0.3, 0.7)
    return int(bands), int(rows)


def band_keys(signature_rows: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """64-bit LSH keys, one per band, for each signature.

    Two signatures share a key in band ``i`` when their rows of band ``i``
    are equal (up to a 2**-64 chance of a false match, which verification
    removes). The band number is mixed in, so all bands share one key space.

    Returns:
        A ``(len(signature_rows), bands)`` ``uint64`` array.
    """
    with np.errstate(over="ignore"):
        keys = np.zeros((len(signature_rows), bands), dtype=np.uint64)
        for r in range(rows):
            # Row r of every band at once (columns r, rows + r, ...): no widened copy of the signatures.
            keys ^= signature_rows[:, r : bands * rows : rows]
            keys *= _BAND_MIX
        keys ^= (np.arange(bands, dtype=np.uint64) + np.uint64(1)) * np.uint64(0xBF58476D1CE4E5B9)
        keys ^= keys >> np.uint64(31)
    return keys


def sketch(signature: np.ndarray) -> bytes:
    """A compact form of a signature for verifying index candidates.

    The lowest :data:`SKETCH_BITS` bits of each permutation's minimum
    (b-bit MinHash, Li and König 2010), two to a byte: an eighth of the
    signature's size. With 128 permutations the estimate's spread is
    dominated by the sampling of permutations, not by the lost bits
    (standard deviation 0.042 at a similarity of 0.7, against 0.040 for the
    full signature).
    """
    return sketches(signature[None, :])[0]


def sketches(signature_rows: np.ndarray) -> list[bytes]:
    """:func:`sketch` of each row of a signature matrix, in one pass."""
    low = (signature_rows & np.uint32((1 << SKETCH_BITS) - 1)).astype(np.uint8)
    if low.shape[1] % 2:
        low = np.hstack([low, np.zeros((len(low), 1), dtype=np.uint8)])
    packed = low[:, 0::2] | (low[:, 1::2] << np.uint8(SKETCH_BITS))
    return [row.tobytes() for row in packed]


def sketch_similarity(left: bytes, right: bytes) -> float:
    """Estimated Jaccard similarity of the sets behind two sketches.

    Unequal minima agree in their low bits by chance with probability
    ``2**-b``; the estimate removes that bias.
    """
    a = np.frombuffer(left, dtype=np.uint8)
    b = np.frombuffer(right, dtype=np.uint8)
    mask = np.uint8((1 << SKETCH_BITS) - 1)
    differ = a ^ b
    agree = np.count_nonzero((differ & mask) == 0) + np.count_nonzero((differ >> np.uint8(SKETCH_BITS)) == 0)
    chance = 1.0 / (1 << SKETCH_BITS)
    return max(0.0, (agree / (2 * len(a)) - chance) / (1.0 - chance))


def jaccard(left: np.ndarray, right: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted, unique hash arrays."""
    if not len(left) and not len(right):
        return 1.0
    inter = len(np.intersect1d(left, right, assume_unique=True))
    return inter / (len(left) + len(right) - inter)
