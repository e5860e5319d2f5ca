"""MinHash signatures and LSH band keys, computed in batches with numpy.

datasketch is the source of truth for the scheme: the permutations are
taken from a ``datasketch.MinHash`` built with the configured seed, number
of permutations, :data:`~dedup.config.MINHASH_SCHEME` and
:func:`~dedup.shingle.shingle_hash`, and a signature here equals that
MinHash's ``hashvalues`` after ``update_batch`` with the same shingles.
What differs is speed: all shingles of a batch are permuted in one matrix
operation and reduced per paragraph, with no per-shingle Python loop.

LSH banding uses datasketch's own choice of bands and rows for a
threshold; a band key is a 64-bit mix of the band's rows, so an index
stores band keys and a small sketch rather than whole signatures.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from dedup.config import MINHASH_SCHEME, ShingleConfig
from dedup.shingle import shingle_hash

EMPTY_HASH = np.uint32(0xFFFFFFFF)
#: Bits kept per permutation in an index sketch (see :func:`sketch`).
SKETCH_BITS = 4
_CHUNK = 1 << 15  # shingles permuted at once: bounds the (chunk x num_perm) matrix to a few MB
_FMIX = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))
_BAND_MIX = np.uint64(0x9E3779B97F4A7C15)


def datasketch_minhash(config: ShingleConfig) -> MinHash:
    """An empty datasketch MinHash with exactly our scheme, for reference use."""
    return MinHash(num_perm=config.num_perm, seed=config.seed, hashfunc=shingle_hash, scheme=MINHASH_SCHEME)


@lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = datasketch_minhash(ShingleConfig(num_perm=num_perm, seed=seed)).permutations
    return np.ascontiguousarray(a, dtype=np.uint32), np.ascontiguousarray(b, dtype=np.uint32)


def _fmix32(h: np.ndarray) -> np.ndarray:
    s1, m1, s2, m2, s3 = _FMIX
    h = h ^ (h >> s1)
    h = h * m1
    h = h ^ (h >> s2)
    h = h * m2
    return h ^ (h >> s3)


def signatures(hash_sets: Sequence[np.ndarray], config: ShingleConfig) -> np.ndarray:
    """MinHash signatures of many shingle sets at once.

    Args:
        hash_sets: One ``uint32`` array of shingle hashes per set.
        config: Permutation count and seed.

    Returns:
        A ``(len(hash_sets), num_perm)`` ``uint32`` array; an empty set gets
        the all-``0xFFFFFFFF`` signature, as datasketch does.
    """
    a, b = _permutations(config.num_perm, config.seed)
    # Permutations run along rows of a (num_perm, shingles) matrix: the per-set
    # minimum is then a reduceat over contiguous memory, several times faster.
    a_col, b_col = a[:, None], b[:, None]
    out = np.full((len(hash_sets), config.num_perm), EMPTY_HASH, dtype=np.uint32)
    sizes = np.fromiter((len(h) for h in hash_sets), dtype=np.int64, count=len(hash_sets))
    if not sizes.sum():
        return out
    with np.errstate(over="ignore"):
        # Walk the sets in groups of about _CHUNK shingles; a set larger than
        # that is folded chunk by chunk with a running minimum.
        i = 0
        n = len(hash_sets)
        while i < n:
            if sizes[i] == 0:
                i += 1
                continue
            if sizes[i] >= _CHUNK:
                h = _fmix32(hash_sets[i].astype(np.uint32, copy=False))
                row = out[i]
                for start in range(0, len(h), _CHUNK):
                    part = a_col * h[None, start : start + _CHUNK] + b_col
                    np.minimum(row, part.min(axis=1), out=row)
                i += 1
                continue
            j, total = i, 0
            while j < n and sizes[j] < _CHUNK and total + sizes[j] <= _CHUNK:
                total += sizes[j]
                j += 1
            members = [k for k in range(i, j) if sizes[k]]
            h = _fmix32(np.concatenate([hash_sets[k] for k in members]).astype(np.uint32, copy=False))
            permuted = a_col * h[None, :] + b_col
            starts = np.concatenate(([0], np.cumsum(sizes[members])[:-1]))
            out[members] = np.minimum.reduceat(permuted, starts, axis=1).T
            i = j
    return out


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
    sig = signature_rows[:, : bands * rows].astype(np.uint64).reshape(len(signature_rows), bands, rows)
    with np.errstate(over="ignore"):
        keys = np.zeros(sig.shape[:2], dtype=np.uint64)
        for r in range(rows):
            keys = (keys ^ sig[:, :, r]) * _BAND_MIX
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
    low = (signature & np.uint32((1 << SKETCH_BITS) - 1)).astype(np.uint8)
    if len(low) % 2:
        low = np.append(low, np.uint8(0))
    return (low[0::2] | (low[1::2] << np.uint8(SKETCH_BITS))).tobytes()


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
