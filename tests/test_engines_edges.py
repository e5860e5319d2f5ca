"""Match edges resolved in input order give the store's answer, with bounded verification."""

from __future__ import annotations

import numpy as np
import pytest

from dedup.bands import BandIndex
from dedup.data import Ref
from dedup.engines.edges import Edge, bucket_edges, resolve, resolve_buckets
from dedup.minhash import band_keys, lsh_params, sketch
from dedup.store import MemoryStore

THRESHOLD = 0.7
NUM_PERM = 128


def _variant(rng: np.random.Generator, signature: np.ndarray, share: float) -> np.ndarray:
    out = signature.copy()
    changed = rng.random(len(out)) < share
    out[changed] = rng.integers(0, 2**32, changed.sum(), dtype=np.uint32)
    return out


def _store_matches(keys: list[list[int]], sketches: list[bytes]) -> dict[int, tuple[int, float]]:
    store = MemoryStore("f")
    found = {}
    for position, (item_keys, item_sketch) in enumerate(zip(keys, sketches, strict=True)):
        match = store.check_and_insert("doc", item_keys, item_sketch, Ref(str(position)), THRESHOLD)
        if match is not None:
            found[position] = (int(match.ref.id), match.score)
    return found


def _buckets(keys: list[list[int]], sketches: list[bytes]) -> dict[int, list[tuple[int, bytes]]]:
    """Items grouped by band key as the store groups them: by the key folded to 32 bits."""
    buckets: dict[int, list[tuple[int, bytes]]] = {}
    for position, item_keys in enumerate(keys):
        for key in set(BandIndex.fold(item_keys)):
            buckets.setdefault(key, []).append((position, sketches[position]))
    return buckets


@pytest.mark.parametrize("seed", range(8))
def test_same_matches_as_the_store(seed: int) -> None:
    """Families of signatures at random distances: chains, near copies, strangers."""
    rng = np.random.default_rng(seed)
    bases = [rng.integers(0, 2**32, NUM_PERM, dtype=np.uint32) for _ in range(20)]
    rows = [_variant(rng, bases[rng.integers(len(bases))], rng.uniform(0.0, 0.45)) for _ in range(400)]
    signatures = np.stack(rows)
    keys = band_keys(signatures, *lsh_params(THRESHOLD, NUM_PERM, 0.15)).tolist()
    sketches = [sketch(row) for row in signatures]

    matches, _ = resolve_buckets(_buckets(keys, sketches), THRESHOLD)

    expected = _store_matches(keys, sketches)
    assert {p: (e.earlier, e.score) for p, e in matches.items()} == expected
    assert len(expected) > 100, "the families must repeat"


def test_a_shadowing_representative_removed_elsewhere_is_corrected() -> None:
    """R matches P (bucket 1), so R is dropped; in bucket 2, J matched R and was not a representative,
    yet J is kept, and K, which matches J only, must be found to repeat J."""
    rng = np.random.default_rng(5)
    r = rng.integers(0, 2**32, NUM_PERM, dtype=np.uint32)
    p, j = r.copy(), r.copy()
    p[:20] += 1
    j[40:60] += 1
    k = j.copy()
    k[80:100] += 1
    sketches = [sketch(s) for s in (p, r, j, k)]
    keys = [[1], [1, 2], [2], [2]]
    buckets = _buckets(keys, sketches)

    first = bucket_edges(buckets[2], THRESHOLD)
    assert first.shadowed == {2}, "J matches R, so it is no representative"
    assert not [edge for edge in first.edges if edge.later == 3], "K was compared with R only, and misses"
    matches, _ = resolve_buckets(buckets, THRESHOLD)

    expected = _store_matches(keys, sketches)
    assert {pos: (e.earlier, e.score) for pos, e in matches.items()} == expected
    assert sorted(expected) == [1, 3] and expected[3][0] == 2


def test_a_line_in_every_document_costs_one_comparison_per_item() -> None:
    """50,000 items in one bucket: the store compares each with the one it kept; so does the bound."""
    rng = np.random.default_rng(0)
    footer = rng.integers(0, 2**32, NUM_PERM, dtype=np.uint32)
    count = 50_000
    items = [(position, sketch(footer)) for position in range(count)]

    matches, comparisons = resolve_buckets({7: items}, THRESHOLD)

    assert comparisons == count - 1  # all pairs would be 1.25 billion
    assert sorted(matches) == list(range(1, count))
    assert all(edge.earlier == 0 and edge.score == 1.0 for edge in matches.values())


def test_resolve_keeps_the_earliest_of_equal_scores_and_skips_dropped_items() -> None:
    edges = [Edge(0, 1, 0.9), Edge(0, 2, 0.8), Edge(1, 2, 0.95), Edge(0, 3, 0.8), Edge(2, 3, 0.8)]
    matches = resolve(range(5), edges)
    assert matches == {1: Edge(0, 1, 0.9), 2: Edge(0, 2, 0.8), 3: Edge(0, 3, 0.8)}


def test_line_counts_from_partitioned_reducers_are_the_store_s() -> None:
    """Each reducer ranks the documents with a line: the store's count of earlier documents with it."""
    pa = pytest.importorskip("pyarrow")
    from dedup.engines.shuffle import partition, reduce_groups

    rng = np.random.default_rng(3)
    lines = [sorted({int(k) for k in rng.integers(0, 12, rng.integers(1, 5))}) for _ in range(300)]
    keys = [(2**63 + 977 * key) for doc in lines for key in doc]  # uint64 keys above 2**63 too
    items = [position for position, doc in enumerate(lines) for _ in doc]
    table = pa.table({"key": pa.array(keys, pa.uint64()), "item": pa.array(items, pa.int64())})
    parts = partition(table, 3)
    assert sum(part.num_rows for part in parts) == table.num_rows

    found = {}
    for part in parts:
        rows = reduce_groups("count", (), None, part)
        if rows is not None:
            found.update({(p, k): c for k, p, c in zip(*(rows[c].to_pylist() for c in ("key", "item", "count")),
                                                        strict=True)})

    store = MemoryStore("f")
    expected = {}
    for position, doc in enumerate(lines):
        for key in doc:
            count = store.add_and_count("line", 2**63 + 977 * key, str(position))
            if count:
                expected[position, 2**63 + 977 * key] = count
    assert found == expected
    assert max(expected.values()) > 20


def test_buckets_through_the_reducers_settle_to_the_store_s_matches() -> None:
    """The band stage's rows, verified by partitioned reducers and settled in rounds, give the store's matches."""
    pa = pytest.importorskip("pyarrow")
    from dedup.engines.shuffle import partition, reduce_groups, settle

    rng = np.random.default_rng(11)
    bases = [rng.integers(0, 2**32, NUM_PERM, dtype=np.uint32) for _ in range(10)]
    signatures = np.stack([_variant(rng, bases[rng.integers(len(bases))], rng.uniform(0.0, 0.4)) for _ in range(300)])
    keys = band_keys(signatures, *lsh_params(THRESHOLD, NUM_PERM, 0.15)).tolist()
    sketches = [sketch(row) for row in signatures]
    rows = [(key, p) for p, item_keys in enumerate(keys) for key in sorted(set(BandIndex.fold(item_keys)))]
    table = pa.table({"key": pa.array([k for k, _ in rows], pa.uint32()),
                      "item": pa.array([p for _, p in rows], pa.int64())})
    items = pa.table({"item": pa.array(range(len(keys)), pa.int64()), "sketch": pa.array(sketches, pa.binary()),
                      "id": pa.array([f"doc{p}".encode() for p in range(len(keys))], pa.binary())})
    parts = partition(table, 3)

    def verify(forced: dict[int, set[int]], only: set[int] | None) -> list[dict[str, list[object]]]:
        found = [reduce_groups("bucket", (THRESHOLD, forced), only, part, fetch=lambda _: [items])
                 for part in parts]
        return [rows.to_pydict() for rows in found if rows is not None]

    settled = settle(verify)

    expected = _store_matches(keys, sketches)
    assert {p: (e.earlier, e.score) for p, e in settled.matches.items()} == expected
    assert all(settled.ids[e.earlier] == f"doc{e.earlier}".encode() for e in settled.matches.values())
    assert len(expected) > 100


def _band_tables(seed: int, count: int) -> tuple[list[list[int]], list[bytes], object, object]:
    """Items at item numbers of real positions (several batches), as the workers send them: a row per
    band key of each item, and each item's sketch and id once."""
    pa = pytest.importorskip("pyarrow")
    from dedup.engines.shuffle import item_number

    rng = np.random.default_rng(seed)
    bases = [rng.integers(0, 2**32, NUM_PERM, dtype=np.uint32) for _ in range(10)]
    signatures = np.stack([_variant(rng, bases[rng.integers(len(bases))], rng.uniform(0.0, 0.4))
                           for _ in range(count)])
    keys = band_keys(signatures, *lsh_params(THRESHOLD, NUM_PERM, 0.15)).tolist()
    sketches = [sketch(row) for row in signatures]
    numbers = [item_number(p, None) for p in range(count)]
    rows = [(key, numbers[p]) for p, item_keys in enumerate(keys) for key in sorted(set(BandIndex.fold(item_keys)))]
    table = pa.table({"key": pa.array([k for k, _ in rows], pa.uint32()),
                      "item": pa.array([n for _, n in rows], pa.int64())})
    items = pa.table({"item": pa.array(numbers, pa.int64()), "sketch": pa.array(sketches, pa.binary()),
                      "id": pa.array([f"doc{p}".encode() for p in range(count)], pa.binary())})
    return keys, sketches, table, items


def test_batches_of_items() -> None:
    from dedup.cleaner import BATCH_SIZE
    from dedup.engines.shuffle import batches_of, item_number

    items = [item_number(BATCH_SIZE * 5 + 1, 3), item_number(0, None), item_number(BATCH_SIZE - 1, 7),
             item_number(BATCH_SIZE * 5, None)]
    assert batches_of(items) == [0, 5]
    assert batches_of([]) == []


def test_join_sketches_keeps_the_wanted_items_only_and_names_a_missing_one() -> None:
    pa = pytest.importorskip("pyarrow")
    from dedup.engines.shuffle import join_sketches
    from dedup.errors import DedupError

    first = pa.table({"item": pa.array([1, 2, 3], pa.int64()), "sketch": [b"s1", b"s2", b"s3"],
                      "id": [b"a", b"b", b"c"]})
    second = pa.table({"item": pa.array([8, 9], pa.int64()), "sketch": [b"s8", b"s9"], "id": [b"h", b"i"]})

    assert join_sketches(np.array([3, 8, 1]), [first, second]) == {1: (b"s1", b"a"), 3: (b"s3", b"c"),
                                                                   8: (b"s8", b"h")}
    with pytest.raises(DedupError, match=r"items \[7\]"):
        join_sketches(np.array([1, 7]), [first, second])


@pytest.mark.parametrize("at_once", [1, 7, 1 << 17])
def test_buckets_with_fetched_sketches_settle_to_the_store_s_matches(at_once: int) -> None:
    """Rows of a key and an item only: each reducer fetches the sketches of its shared buckets' items from
    the batches that hold them, a few rows of buckets at a time, and the result is the store's."""
    from dedup.cleaner import BATCH_SIZE
    from dedup.engines.shuffle import partition, partitions_for, reduce_groups, settle

    count = 2 * BATCH_SIZE + 90
    keys, sketches, table, items = _band_tables(5, count)
    by_batch = [items.slice(n * BATCH_SIZE, BATCH_SIZE) for n in range(-(-count // BATCH_SIZE))]
    partitions = partitions_for(table.num_rows, 2, per_reducer=table.num_rows // 4)
    assert partitions > 2, "more reducers than CPUs"
    parts = partition(table, partitions)
    fetched: list[int] = []

    def fetch(numbers: list[int]) -> list[object]:
        fetched.extend(numbers)
        return [by_batch[n] for n in numbers]

    def verify(forced: dict[int, set[int]], only: set[int] | None) -> list[dict[str, list[object]]]:
        found = [reduce_groups("bucket", (THRESHOLD, forced), only, part, fetch=fetch, sketches_at_once=at_once)
                 for part in parts]
        return [rows.to_pydict() for rows in found if rows is not None]

    settled = settle(verify)

    def number(p: int) -> int:
        return p << 32

    expected = {number(p): (number(e), s) for p, (e, s) in _store_matches(keys, sketches).items()}
    assert {p: (e.earlier, e.score) for p, e in settled.matches.items()} == expected
    assert all(settled.ids[e.earlier] == f"doc{e.earlier >> 32}".encode() for e in settled.matches.values())
    assert len(expected) > 100
    assert set(fetched) == set(range(len(by_batch))), "every batch holds an item of a shared bucket"


def test_a_bucket_row_without_sketches_and_nothing_to_fetch_them_from_is_an_error() -> None:
    from dedup.engines.shuffle import reduce_groups
    from dedup.errors import DedupError

    _, _, table, _ = _band_tables(2, 40)
    with pytest.raises(DedupError, match="no sketches"):
        reduce_groups("bucket", (THRESHOLD, {}), None, table)


def test_a_reducer_s_result_made_a_few_rows_at_a_time_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reducer makes its result table from Python rows in slices; the slices join into the same table."""
    from dedup.engines import shuffle

    _, _, table, items = _band_tables(9, 300)
    expected = shuffle.reduce_groups("bucket", (THRESHOLD, {}), None, table, fetch=lambda _: [items])
    monkeypatch.setattr(shuffle, "ROWS_AT_ONCE", 3)
    found = shuffle.reduce_groups("bucket", (THRESHOLD, {}), None, table, fetch=lambda _: [items])
    assert expected.num_rows > 10
    assert found.to_pylist() == expected.to_pylist()
