"""Signatures equal datasketch's; LSH parameters are datasketch's choice."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH

from dedup.config import MINHASH_SCHEME, ShingleConfig
from dedup.minhash import (
    band_keys,
    datasketch_minhash,
    jaccard,
    lsh_params,
    signatures,
    sketch,
    sketch_similarity,
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


def test_exact_jaccard() -> None:
    assert jaccard(np.array([1, 2, 3]), np.array([2, 3, 4])) == 0.5
    assert jaccard(np.array([], dtype=np.uint32), np.array([], dtype=np.uint32)) == 1.0
