"""The driver's memory while a band stage settles (:func:`dedup.engines.shuffle.settle`), per edge.

Synthetic reducer rows, no Ray: ``--pairs`` pairs of near-copies, each pair
sharing ``--buckets`` band buckets, so each bucket gives an edge, an item
found not to be a representative and a count of comparisons (the rows a
reducer sends), in slices of ``shuffle.ROWS_AT_ONCE`` rows as the driver gets
them. ``tracemalloc`` reports the peak while settling and what the result
holds, per distinct edge; the rows of one bucket (made here) are counted in
the peak too and reported apart.

    python benchmarks/settle_memory.py --pairs 100000 --buckets 1,20
"""

from __future__ import annotations

import argparse
import sys
import tracemalloc
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dedup.engines import shuffle


def rows(pairs: int, buckets: int) -> Iterator[dict[str, Any]]:
    """Each bucket's rows, bucket by bucket: an edge, a shadowed item and the comparisons of every pair."""
    earlier = np.arange(pairs, dtype=np.int64) * 2 << 32
    later = earlier + (1 << 32)
    ids = np.array([f"doc-{2 * p}".encode() for p in range(pairs)], dtype=object)
    for bucket in range(buckets):
        key = np.arange(pairs, dtype=np.int64) * buckets + bucket
        kind = np.repeat(np.array([0, 1, 2], dtype=np.int8), pairs)
        columns = {
            "key": np.tile(key, 3), "kind": kind, "earlier": np.r_[earlier, np.full(2 * pairs, -1, np.int64)],
            "later": np.r_[later, later, np.ones(pairs, np.int64)],
            "score": np.r_[np.full(pairs, 0.9), np.zeros(2 * pairs)],
            "id": np.r_[ids, np.full(2 * pairs, b"", dtype=object)],
        }
        for at in range(0, 3 * pairs, shuffle.ROWS_AT_ONCE):
            yield {name: values[at : at + shuffle.ROWS_AT_ONCE] for name, values in columns.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--buckets", default="1,20", help="buckets shared by each pair, comma-separated")
    args = parser.parse_args(argv)
    print("| pairs | buckets a pair | edges | peak MB | peak B/edge | held MB | held B/edge | one bucket's rows MB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for buckets in (int(b) for b in args.buckets.split(",")):
        tracemalloc.start()
        for _ in rows(args.pairs, 1):
            break
        one_slice = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()

        def verify(forced: Mapping[int, set[int]], keys: set[int] | None, n: int = buckets) -> Iterator[Any]:
            return rows(args.pairs, n)

        tracemalloc.start()
        settled = shuffle.settle(verify)
        held, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"| {args.pairs} | {buckets} | {settled.edges} | {peak / 1e6:.0f} | {peak / settled.edges:.0f} | "
              f"{held / 1e6:.0f} | {held / settled.edges:.0f} | {one_slice / 1e6:.0f} |")
        del settled
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
