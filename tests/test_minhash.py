"""Signatures equal datasketch's; LSH parameters are datasketch's choice."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.config import MINHASH_SCHEME, ShingleConfig
from dedup.minhash import (
    _GROUP,
    EMPTY_HASH,
    _signatures,
    band_keys,
    datasketch_minhash,
    jaccard,
    lsh_params,
    signatures,
    sketch,
    sketch_similarity,
    sketches,
    union_signature,
)
from dedup.shingle import normalise, shingle_hashes, shingles

TEXTS = [
    "China has a network of over 100 unofficial “police stations” around the world.",
    "China has a network of more than 100 unofficial police stations around the world",
    "中国在世界各地有一百多个非官方的警察站。",
    "x",
    "",
    "word " * 20000,  # larger than one permutation chunk
]


@pytest.mark.parametrize("config", [ShingleConfig(), ShingleConfig(size=3, num_perm=64, seed=7)])
def test_signatures_equal_datasketch(config: ShingleConfig) -> None:
    hashes = [shingle_hashes(normalise(t), config.size) for t in TEXTS]
    ours = signatures(hashes, config)
    for text, row in zip(TEXTS, ours, strict=True):
        reference = MinHash(num_perm=config.num_perm, seed=config.seed, hashfunc=datasketch_minhash(config).hashfunc,
                            scheme=MINHASH_SCHEME)
        reference.update_batch(shingles(normalise(text), config.size))
        assert np.array_equal(reference.hashvalues, row)


def _datasketch_signature(hashes: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """datasketch's MinHash of shingles whose hashes are ``hashes`` (the hash function is the identity)."""
    reference = MinHash(num_perm=num_perm, seed=seed, hashfunc=int, scheme=MINHASH_SCHEME)
    reference.update_batch(hashes.tolist())
    return reference.hashvalues


def _sign(hash_sets: list[np.ndarray], num_perm: int, seed: int) -> np.ndarray:
    """Our signatures for any number of permutations (the config accepts only multiples of 16)."""
    a, b = MinHash(num_perm=num_perm, seed=seed, scheme=MINHASH_SCHEME).permutations
    return _signatures(hash_sets, a, b)


def _u32(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.uint32)


EDGE_SETS = [
    _u32([]),
    _u32([0]),  # the smallest hash
    _u32([0xFFFFFFFF]),  # the largest, equal to the empty signature's value
    _u32([]),  # empty between non-empty sets
    _u32([0, 0xFFFFFFFF, 0, 0xFFFFFFFF]),  # repeats
    # Sizes either side of the four shingles the kernel takes per pass.
    *(np.arange(1, n + 1, dtype=np.uint32) * np.uint32(2654435761) for n in (2, 3, 4, 5, 7, 8, 9)),
    np.random.default_rng(5).integers(0, 2**32, size=100_003, dtype=np.uint32),  # a call of its own, not copied
    _u32([123456789]),
    _u32([]),
]


@pytest.mark.parametrize("num_perm", [1, 7, 128, 200])
@pytest.mark.parametrize("seed", [0, 1, 42, 2**32 - 1])
def test_kernel_equals_datasketch_on_edge_cases(num_perm: int, seed: int) -> None:
    ours = _sign(EDGE_SETS, num_perm, seed)
    assert ours.shape == (len(EDGE_SETS), num_perm)
    assert ours.dtype == np.uint32
    for hashes, row in zip(EDGE_SETS, ours, strict=True):
        assert np.array_equal(row, _datasketch_signature(hashes, num_perm, seed))
    assert (ours[0] == EMPTY_HASH).all()


@settings(max_examples=60, deadline=None)
@given(
    sets=st.lists(st.lists(st.integers(0, 2**32 - 1), max_size=30), max_size=12),
    num_perm=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
)
def test_kernel_equals_datasketch_on_random_sets(sets: list[list[int]], num_perm: int, seed: int) -> None:
    hash_sets = [_u32(values) for values in sets]
    ours = _sign(hash_sets, num_perm, seed)
    assert ours.shape == (len(sets), num_perm)
    for hashes, row in zip(hash_sets, ours, strict=True):
        assert np.array_equal(row, _datasketch_signature(hashes, num_perm, seed))


def test_batch_signatures_equal_one_set_at_a_time() -> None:
    """However a batch is cut into kernel calls, each set's signature is its own."""
    rng = np.random.default_rng(11)
    sizes = [0, 1, _GROUP - 1, 5, _GROUP, 0, 3, 2 * _GROUP + 7, 1, *rng.integers(0, 3000, size=200).tolist(), 0]
    hash_sets = [rng.integers(0, 2**32, size=n, dtype=np.uint32) for n in sizes]
    config = ShingleConfig()
    batch = signatures(hash_sets, config)
    for hashes, row in zip(hash_sets, batch, strict=True):
        assert np.array_equal(row, signatures([hashes], config)[0])
    for i in (1, 2, 4, 7):
        assert np.array_equal(batch[i], _datasketch_signature(hash_sets[i], config.num_perm, config.seed))


def test_signatures_of_no_sets_and_of_empty_sets() -> None:
    config = ShingleConfig(num_perm=32)
    assert signatures([], config).shape == (0, 32)
    empty = signatures([_u32([]), _u32([])], config)
    assert empty.shape == (2, 32)
    assert (empty == EMPTY_HASH).all()


def test_signatures_take_read_only_and_other_integer_arrays() -> None:
    config = ShingleConfig()
    hashes = _u32([7, 0, 0xFFFFFFFF, 99])
    read_only = hashes.copy()
    read_only.flags.writeable = False
    expected = signatures([hashes], config)
    assert np.array_equal(signatures([read_only], config), expected)
    assert np.array_equal(signatures([hashes.astype(np.int64)], config), expected)
    reversed_view = hashes[::-1].copy()[::-1]  # the same values, not contiguous
    assert np.array_equal(signatures([reversed_view], config), expected)


def test_signature_of_union_is_elementwise_min() -> None:
    config = ShingleConfig()
    a, b = (shingle_hashes(normalise(t), 5) for t in TEXTS[:2])
    both = signatures([np.concatenate([a, b])], config)[0]
    assert np.array_equal(union_signature(signatures([a, b], config), config.num_perm), both)


@pytest.mark.parametrize(("threshold", "num_perm"), [(0.5, 128), (0.7, 128), (0.8, 256)])
def test_lsh_params_are_datasketchs(threshold: float, num_perm: int) -> None:
    bands, rows = lsh_params(threshold, num_perm)
    assert bands * rows <= num_perm
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=(0.3, 0.7))
    assert (lsh.b, lsh.r) == (bands, rows)


def test_band_keys_collide_exactly_when_a_band_matches() -> None:
    config = ShingleConfig()
    sigs = signatures([shingle_hashes(normalise(t), 5) for t in TEXTS[:3]], config)
    bands, rows = lsh_params(0.5, config.num_perm)
    keys = band_keys(sigs, bands, rows)
    for i in range(3):
        for j in range(3):
            same_band = set()
            for b in range(bands):
                band = slice(b * rows, (b + 1) * rows)
                if np.array_equal(sigs[i, band], sigs[j, band]):
                    same_band.add(b)
            assert {b for b in range(bands) if keys[i, b] == keys[j, b]} == same_band


def test_candidates_match_datasketch_lsh() -> None:
    """Our banding finds the same candidate pairs as datasketch's MinHashLSH with the same b x r."""
    config = ShingleConfig()
    texts = [f"the quick brown fox number {i} jumps over the lazy dog {i % 7}" for i in range(60)]
    sigs = signatures([shingle_hashes(normalise(t), 5) for t in texts], config)
    bands, rows = lsh_params(0.5, config.num_perm)
    lsh = MinHashLSH(num_perm=config.num_perm, params=(bands, rows))
    for i, row in enumerate(sigs):
        m = datasketch_minhash(config)
        m.hashvalues = row.copy()
        lsh.insert(i, m)
    keys = band_keys(sigs, bands, rows)
    for i, row in enumerate(sigs):
        m = datasketch_minhash(config)
        m.hashvalues = row.copy()
        theirs = set(lsh.query(m))
        ours = {j for j in range(len(texts)) if np.any(keys[i] == keys[j])}
        assert ours == theirs


def test_sketch_similarity_estimates_jaccard() -> None:
    config = ShingleConfig(num_perm=256)
    base = " ".join(f"token{i}" for i in range(400))
    edited = base.replace("token1 ", "other1 ").replace("token2 ", "other2 ")
    a, b = (shingle_hashes(normalise(t), 5) for t in (base, edited))
    sa, sb = signatures([a, b], config)
    truth = jaccard(np.unique(a), np.unique(b))
    assert abs(sketch_similarity(sketch(sa), sketch(sb)) - truth) < 0.1
    unrelated = signatures([shingle_hashes(normalise("completely different words here"), 5)], config)[0]
    assert sketch_similarity(sketch(sa), sketch(unrelated)) < 0.15
    assert sketch_similarity(sketch(sa), sketch(sa)) == 1.0


@pytest.mark.parametrize("num_perm", [1, 7, 128])
def test_sketches_of_a_matrix_equal_one_by_one(num_perm: int) -> None:
    rows = np.random.default_rng(num_perm).integers(0, 2**32, size=(5, num_perm), dtype=np.uint64).astype(np.uint32)
    low = [[int(v) & 0xF for v in row] + [0] * (num_perm % 2) for row in rows]
    expected = [bytes(row[i] | row[i + 1] << 4 for i in range(0, len(row), 2)) for row in low]
    assert sketches(rows) == expected
    assert [sketch(row) for row in rows] == expected
    assert sketches(rows[:0]) == []


def test_exact_jaccard() -> None:
    assert jaccard(np.array([1, 2, 3]), np.array([2, 3, 4])) == 0.5
    assert jaccard(np.array([], dtype=np.uint32), np.array([], dtype=np.uint32)) == 1.0
