"""The store contract, run against every registered store."""

from __future__ import annotations

import numpy as np
import pytest

from dedup.config import Config, ShingleConfig
from dedup.data import Ref
from dedup.errors import ConfigError, IndexMismatchError
from dedup.minhash import band_keys, lsh_params, signatures, sketch
from dedup.shingle import normalise, shingle_hashes
from dedup.store import IndexStore, MemoryStore, open_store

FINGERPRINT = Config().fingerprint()


@pytest.fixture(params=["memory://"])
def store(request: pytest.FixtureRequest) -> IndexStore:
    return open_store(request.param, FINGERPRINT)


def _item(text: str, threshold: float = 0.7) -> tuple[list[int], bytes]:
    config = ShingleConfig()
    sig = signatures([shingle_hashes(normalise(text), config.size)], config)
    bands, rows = lsh_params(threshold, config.num_perm)
    return band_keys(sig, bands, rows)[0].tolist(), sketch(sig[0])


BASE = " ".join(f"word{i}" for i in range(300))


def test_near_duplicate_found_after_insert(store: IndexStore) -> None:
    keys, sk = _item(BASE)
    assert store.check_and_insert("doc", keys, sk, Ref("a"), 0.7) is None
    keys2, sk2 = _item(BASE.replace("word5 ", "other "))
    match = store.check_and_insert("doc", keys2, sk2, Ref("b"), 0.7)
    assert match is not None
    assert match.ref == Ref("a")
    assert 0.7 <= match.score <= 1.0


def test_matched_item_is_not_inserted(store: IndexStore) -> None:
    keys, sk = _item(BASE)
    store.check_and_insert("doc", keys, sk, Ref("a"), 0.7)
    store.check_and_insert("doc", keys, sk, Ref("b"), 0.7)
    match = store.check_and_insert("doc", keys, sk, Ref("c"), 0.7)
    assert match is not None and match.ref == Ref("a")


def test_dissimilar_items_are_both_inserted(store: IndexStore) -> None:
    keys, sk = _item(BASE)
    assert store.check_and_insert("doc", keys, sk, Ref("a"), 0.7) is None
    keys2, sk2 = _item(" ".join(f"other{i}" for i in range(300)))
    assert store.check_and_insert("doc", keys2, sk2, Ref("b"), 0.7) is None


def test_namespaces_are_separate(store: IndexStore) -> None:
    keys, sk = _item(BASE)
    store.check_and_insert("doc", keys, sk, Ref("a"), 0.7)
    assert store.check_and_insert("para", keys, sk, Ref("b", 0), 0.7) is None


def test_exact(store: IndexStore) -> None:
    assert store.check_and_insert_exact("para", 99, Ref("a", 1)) is None
    assert store.check_and_insert_exact("para", 99, Ref("b", 2)) == Ref("a", 1)
    assert store.check_and_insert_exact("other", 99, Ref("b", 2)) is None


def test_add_and_count_counts_documents_not_lines(store: IndexStore) -> None:
    assert store.add_and_count("line", 7, "a") == 0
    assert store.add_and_count("line", 7, "a") == 0
    assert store.add_and_count("line", 7, "b") == 1
    assert store.add_and_count("line", 7, "c") == 2


def test_fingerprint_mismatch_is_a_clear_error() -> None:
    store = MemoryStore("abc")
    with pytest.raises(IndexMismatchError, match="built with settings abc"):
        store.check_fingerprint("def")
    assert isinstance(IndexMismatchError("x"), ValueError)


def test_unknown_store_lists_available() -> None:
    with pytest.raises(ConfigError, match="available: memory"):
        open_store("nosuch://x", FINGERPRINT)


def test_keys_are_64_bit() -> None:
    keys, _ = _item(BASE)
    assert all(0 <= k < 2**64 for k in keys)
    assert np.array(keys, dtype=np.uint64).dtype == np.uint64
