"""The first-in-input-order rule of :meth:`dedup.store.IndexStore.check_and_insert`, from match edges.

A cluster cannot run the store's rule item by item. It can group items by
LSH band key (a shuffle) and verify the pairs in each group; the rule is
then applied in one place, in input order, to the pairs found (edges: an
earlier item, a later item and their similarity), which are few. These are
the two halves, as pure functions over positions (an item's place in input
order) and sketches; :func:`resolve_buckets` runs them to the store's exact
answer. To match :class:`dedup.store.MemoryStore` exactly, group by the band
keys as it stores them, folded to 32 bits (:meth:`dedup.bands.BandIndex.fold`).

The Ray engine runs :func:`bucket_edges` on its workers, one bucket at a
time, and :func:`resolve` with the correction rounds of
:func:`resolve_buckets` in the driver (:mod:`dedup.engines.shuffle`).

The store's rule: an item is compared with the earlier *inserted* items
sharing a band key; the most similar one at or above the threshold (the
earliest among equals) is its match, and an item with a match is not
inserted. So a chain A≈B≈C with A≉C keeps A and C.

The bound: a band key shared by a line that recurs in 50,000 documents makes
a bucket of 50,000, and verifying every pair of it would take 1.25 billion
comparisons, where the store (which holds only inserted items) makes
50,000. :func:`bucket_edges` compares each item only with the bucket's
*representatives*: the earlier items of the bucket that matched no earlier
representative (one, for a line repeated as is), plus those a previous round
found inserted. An item that matches a representative is not one itself,
which is only right if that representative is inserted; :func:`resolve_buckets`
checks that every item the rule inserts is a representative of each of its
buckets, and otherwise makes it one and verifies again (rarely needed: it
takes a representative that another bucket's match removes). The result is
the store's, and the work per item is the number of representatives of its
buckets.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import NamedTuple

from dedup.minhash import sketch_similarity

__all__ = ["Edge", "bucket_edges", "resolve", "resolve_buckets"]


class Edge(NamedTuple):
    """An earlier item, a later one, and their estimated similarity (at or above the threshold)."""

    earlier: int
    later: int
    score: float


class BucketResult(NamedTuple):
    """What verifying one bucket found."""

    edges: list[Edge]
    shadowed: set[int]
    comparisons: int


def bucket_edges(
    items: Sequence[tuple[int, bytes]], threshold: float, forced: Iterable[int] = ()
) -> BucketResult:
    """The matching pairs of one bucket, each item compared with the bucket's representatives only.

    Args:
        items: ``(position, sketch)`` of the bucket's items, in any order.
        threshold: Smallest similarity that counts as a match.
        forced: Positions to treat as representatives even if they match
            an earlier one (found inserted by an earlier round).

    Returns:
        The edges, the positions that were not representatives, and the
        number of comparisons made.
    """
    forced = set(forced)
    representatives: list[tuple[int, bytes]] = []
    edges: list[Edge] = []
    shadowed: set[int] = set()
    comparisons = 0
    for position, sketch in sorted(items):
        matched = False
        for earlier, other in representatives:
            comparisons += 1
            score = sketch_similarity(sketch, other)
            if score >= threshold:
                edges.append(Edge(earlier, position, score))
                matched = True
        if not matched or position in forced:
            representatives.append((position, sketch))
        else:
            shadowed.add(position)
    return BucketResult(edges, shadowed, comparisons)


def resolve(positions: Iterable[int], edges: Iterable[Edge]) -> dict[int, Edge]:
    """Apply the store's rule in input order: the match of each item that has one.

    Args:
        positions: Every item's position (the items without edges are inserted).
        edges: Matching pairs; duplicates (a pair found in several buckets) are harmless.

    Returns:
        For each item with a match, the edge to its match: the most
        similar earlier inserted item, the earliest among equals. The other
        items are inserted.
    """
    into: dict[int, list[Edge]] = {}
    for edge in edges:
        into.setdefault(edge.later, []).append(edge)
    matches: dict[int, Edge] = {}
    for position in sorted(set(positions) | set(into)):
        best: Edge | None = None
        for edge in sorted(into.get(position, ())):
            if edge.earlier not in matches and (best is None or edge.score > best.score):
                best = edge
        if best is not None:
            matches[position] = best
    return matches


def resolve_buckets(
    buckets: Mapping[Hashable, Sequence[tuple[int, bytes]]], threshold: float, max_rounds: int = 100
) -> tuple[dict[int, Edge], int]:
    """The store's matches for items grouped by band key, with the bounded verification.

    Args:
        buckets: The items ``(position, sketch)`` of each band key.
        threshold: Smallest similarity that counts as a match.
        max_rounds: A guard: each round adds at least one representative, so
            the rounds end; this many would mean a fault.

    Returns:
        The match of each matched item (as :func:`resolve`), and the
        number of comparisons made over all rounds.

    Raises:
        RuntimeError: The rounds did not settle within ``max_rounds``.
    """
    forced: dict[Hashable, set[int]] = {key: set() for key in buckets}
    positions = {position for items in buckets.values() for position, _ in items}
    comparisons = 0
    for _ in range(max_rounds):
        results = {key: bucket_edges(items, threshold, forced[key]) for key, items in buckets.items()}
        comparisons += sum(result.comparisons for result in results.values())
        matches = resolve(positions, (edge for result in results.values() for edge in result.edges))
        settled = True
        for key, result in results.items():
            wrongly_shadowed = {p for p in result.shadowed if p not in matches}
            if wrongly_shadowed:
                forced[key] |= wrongly_shadowed
                settled = False
        if settled:
            return matches, comparisons
    raise RuntimeError(f"the match rounds did not settle in {max_rounds} rounds")
