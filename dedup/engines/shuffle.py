"""The cross-document stages on a Ray cluster: shuffles on keys, whose small results reach the driver.

:meth:`dedup.cleaner.Cleaner.resolve` asks an index four kinds of
question, in input order, for each document:

- ``line``: how many earlier documents had this short line (boilerplate);
- ``doc``: the earlier document this one repeats (its band keys and sketch);
- ``para-exact``: the earlier paragraph with this exact key;
- ``para``: the earlier paragraph this long one nearly repeats.

Each answer depends on earlier documents only, and which questions a
document asks depends only on the answers to the kinds before (a document
found a copy asks no paragraph question; a paragraph with an exact earlier
one asks no near one). So the stages run one kind at a time, over the whole
input:

1. Every batch asks its questions of that kind, on a worker:
   :meth:`~dedup.cleaner.Cleaner.resolve` runs unchanged against an
   :class:`AnswerStore` that answers from what earlier stages found and
   records the questions of the kind at hand. Only these rows leave the
   worker (keys, positions, sketches, ids), as Arrow tables in the object store.
2. Each worker splits its rows by key over one reducer per cluster CPU
   (:func:`partition`, Ray tasks with one return per reducer: a hash
   shuffle); a reducer sorts its rows by key and handles each group of
   two rows or more (:func:`reduce_groups`): the rank of a document among
   those with a line (:func:`_count_line`), the first paragraph with a key
   (:func:`_first_exact`), or the verified pairs of one band bucket, each
   item compared with the bucket's representatives only
   (:func:`dedup.engines.edges.bucket_edges`, :func:`_bucket`). Ray Data's
   ``groupby(...).map_groups`` gives the same groups, but took 15 to 30
   seconds a shuffle on 300 documents (2 CPUs, with two partitions as with
   its default 200), where these tasks take about two.
3. The driver applies the first-in-input-order rule to the edges
   (:func:`dedup.engines.edges.resolve`), with the correction rounds of
   :func:`dedup.engines.edges.resolve_buckets` (only the buckets concerned
   are verified again), and files the answers by batch.

A last pass runs :meth:`~dedup.cleaner.Cleaner.resolve` once more, in input
order, against every answer: :mod:`dedup.decide` makes each decision from
exactly the answers :class:`dedup.store.MemoryStore` would give, so the
result is the local engine's.

What the driver holds (sizes are CPython's, estimated):

- per batch of 256 items: two object refs (its records and its analysis
  stay in the object store) and four empty dicts, about 1 KB, so some
  4 bytes a document;
- per question that found something: its position and the answer, in the
  dict of its batch (a ``line`` count: a key and an int, about 150 bytes;
  a match: a :class:`~dedup.store.Match` with the earlier item's id and
  paragraph, about 300 bytes). A document none of whose short lines,
  paragraphs or text repeat adds nothing;
- while a band stage settles: each distinct edge (two positions and a
  score, about 200 bytes; an edge found in several buckets is kept once),
  each bucket item found not to be a representative (a band key and a
  position, about 100 bytes, per bucket) and the id of every earlier item
  of an edge. A line in every document gives one count per document; a
  family of n near-copies about n edges, and n items per shared bucket.

The local engine's index, by contrast, grows by about 290 bytes with every
indexed document, repeated or not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from dedup.analysis import from_wire
from dedup.bands import BandIndex
from dedup.cleaner import BATCH_SIZE, Cleaner
from dedup.config import Config
from dedup.data import Document, Ref
from dedup.engines.edges import Edge, bucket_edges, resolve
from dedup.errors import DedupError
from dedup.store import IndexStore, Match

__all__ = [
    "KINDS", "AnswerStore", "Answers", "Settled", "ShuffleStats", "cross_document", "item_number", "partition",
    "reduce_groups", "settle",
]

#: The kinds of question, in the order their stages run.
KINDS = ("line", "doc", "para-exact", "para")
#: The correction rounds of a band stage end well before this; more would mean a fault.
MAX_ROUNDS = 100
#: The reducers' rows are turned into Python values this many at a time, in the driver.
ROWS_AT_ONCE = 1 << 16

# What a row of a bucket's result is (the ``kind`` column of :func:`_bucket`).
_EDGE, _SHADOWED, _COMPARED = 0, 1, 2

#: Answers of one batch: per kind, the answer of each question by (position, detail), where the
#: detail is the line key for ``line``, the paragraph for ``para-exact`` and ``para``, -1 for ``doc``.
Answers = dict[str, dict[tuple[int, int], Any]]


@dataclass
class ShuffleStats:
    """What the cross-document stages did, per kind of question."""

    comparisons: dict[str, int] = field(default_factory=dict)
    rounds: dict[str, int] = field(default_factory=dict)
    edges: dict[str, int] = field(default_factory=dict)


def item_number(position: int, paragraph: int | None) -> int:
    """One integer per item, in input order: the document's position, then the paragraph."""
    return position << 32 | (paragraph or 0)


def _detail(ref: Ref) -> int:
    return -1 if ref.paragraph is None else ref.paragraph


class AnswerStore(IndexStore):
    """An index that answers from what the shuffles found, and records the questions not found yet.

    Args:
        fingerprint: The settings' fingerprint (the cleaner checks it).
        answers: What the stages found for the batch (:data:`Answers`).
        answered: The kinds whose stage has run: a question of such a kind
            without an answer has none (no earlier item, a count of 0).
            A question of another kind is recorded in :attr:`asked` and
            answered as if nothing came before.

    Set :attr:`position` to the document's position before each
    :meth:`~dedup.cleaner.Cleaner.resolve`.
    """

    name = "answers"

    def __init__(self, fingerprint: str, answers: Answers, answered: Iterable[str]) -> None:
        super().__init__(fingerprint)
        self.answers = answers
        self.answered = frozenset(answered)
        self.position = 0
        self.asked: dict[str, list[tuple[Any, ...]]] = {kind: [] for kind in KINDS}

    def _answer(self, kind: str, detail: int, question: tuple[Any, ...]) -> Any:
        if kind in self.answered:
            return self.answers.get(kind, {}).get((self.position, detail))
        self.asked[kind].append(question)
        return None

    def check_and_insert(
        self, namespace: str, keys: Sequence[int], sketch: bytes, ref: Ref, threshold: float
    ) -> Match | None:
        detail = _detail(ref)
        answer: Match | None = self._answer(namespace, detail, (self.position, ref, keys, sketch))
        return answer

    def check_and_insert_exact(self, namespace: str, key: int, ref: Ref) -> Ref | None:
        answer: Ref | None = self._answer(namespace, _detail(ref), (self.position, ref, key))
        return answer

    def add_and_count(self, namespace: str, key: int, doc: str) -> int:
        count = self._answer(namespace, key, (self.position, key))
        return 0 if count is None else int(count)


# -- on the workers ---------------------------------------------------------------------------------


def _schema(kind: str) -> Any:
    import pyarrow as pa

    if kind == "line":
        return pa.schema([("key", pa.uint64()), ("item", pa.int64())])
    if kind == "para-exact":
        return pa.schema([("key", pa.uint64()), ("item", pa.int64()), ("id", pa.binary())])
    return pa.schema([("key", pa.uint32()), ("item", pa.int64()), ("sketch", pa.binary()), ("id", pa.binary())])


def _id_bytes(doc_id: str) -> bytes:
    # Ids read from JSON may hold lone surrogates, which Arrow strings cannot.
    return doc_id.encode("utf-8", "surrogatepass")


def _id_text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogatepass")


def ask_batch(
    kind: str,
    context: list[Any],
    batch: Sequence[Any],
    wire: dict[str, Any],
    answers: Answers,
    answered: Sequence[str],
    start: int,
) -> Any:
    """The questions of one kind a batch asks, as an Arrow table: what a worker runs.

    Args:
        kind: One of :data:`KINDS`.
        context: ``[config, model]``, or their object refs.
        batch: The batch's documents and invalid records, in input order.
        wire: The batch's analysis (:func:`dedup.analysis.to_wire`).
        answers: What earlier stages found for the batch.
        answered: The kinds of those stages.
        start: The position of the batch's first item.
    """
    import pyarrow as pa

    config, model = _context(context)
    docs = [item for item in batch if isinstance(item, Document)]
    analyses = iter(from_wire(wire, docs))
    store = AnswerStore(config.fingerprint(), answers, answered)
    cleaner = Cleaner(config, model=model)
    for position, item in enumerate(batch, start):
        if not isinstance(item, Document):
            continue
        analysis = next(analyses)
        if analysis.error is None:  # the last pass raises it, in order
            store.position = position
            cleaner.resolve(analysis, store)
    asked = store.asked[kind]
    if kind == "line":
        columns: dict[str, list[Any]] = {"key": [key for _, key in asked], "item": [p for p, _ in asked]}
    elif kind == "para-exact":
        columns = {
            "key": [key for _, _, key in asked],
            "item": [item_number(p, ref.paragraph) for p, ref, _ in asked],
            "id": [_id_bytes(ref.id) for _, ref, _ in asked],
        }
    else:
        columns = {"key": [], "item": [], "sketch": [], "id": []}
        for position, ref, keys, sketch in asked:
            number, raw_id = item_number(position, ref.paragraph), _id_bytes(ref.id)
            for key in sorted(set(BandIndex.fold(keys))):  # the store files an item under each folded key once
                columns["key"].append(key)
                columns["item"].append(number)
                columns["sketch"].append(sketch)
                columns["id"].append(raw_id)
    return pa.table(columns, schema=_schema(kind))


def _context(context: list[Any]) -> tuple[Config, Any]:
    import ray

    config, model = (ray.get(value) if isinstance(value, ray.ObjectRef) else value for value in context)
    return config, model


def _count_line(group: Any) -> Any:
    """For each document with a line after the first: how many earlier documents had it."""
    import pyarrow as pa

    positions = sorted(set(group["item"].to_pylist()))
    key = group["key"][0].as_py()
    return pa.table(
        {"key": [key] * (len(positions) - 1), "item": positions[1:], "count": list(range(1, len(positions)))},
        schema=pa.schema([("key", pa.uint64()), ("item", pa.int64()), ("count", pa.int64())]),
    )


def _first_exact(group: Any) -> Any:
    """Every paragraph with a key after the first, and that first one."""
    import pyarrow as pa

    items = group["item"].to_pylist()
    ids = group["id"].to_pylist()
    first = min(range(len(items)), key=items.__getitem__)
    later = [k for k in range(len(items)) if k != first]
    return pa.table(
        {"item": [items[k] for k in later], "earlier": [items[first]] * len(later), "id": [ids[first]] * len(later)},
        schema=pa.schema([("item", pa.int64()), ("earlier", pa.int64()), ("id", pa.binary())]),
    )


def _bucket(group: Any, threshold: float, forced: Mapping[int, set[int]]) -> Any:
    """The verified pairs of one band bucket (:func:`~dedup.engines.edges.bucket_edges`), as rows.

    A row is an edge (``earlier``, ``later``, ``score`` and the earlier item's
    ``id``), an item found not to be a representative (``later``), or the
    number of comparisons made (``later``), as ``kind`` says.
    """
    import pyarrow as pa

    key = group["key"][0].as_py()
    items = group["item"].to_pylist()
    ids = dict(zip(items, group["id"].to_pylist(), strict=True))
    found = bucket_edges(list(zip(items, group["sketch"].to_pylist(), strict=True)), threshold, forced.get(key, ()))
    rows: list[tuple[int, int, int, float, bytes]] = [
        (_EDGE, edge.earlier, edge.later, edge.score, ids[edge.earlier]) for edge in found.edges
    ]
    rows += [(_SHADOWED, -1, position, 0.0, b"") for position in sorted(found.shadowed)]
    if found.comparisons:
        rows.append((_COMPARED, -1, found.comparisons, 0.0, b""))
    kinds, earlier, later, score, raw_ids = zip(*rows, strict=True) if rows else ((), (), (), (), ())
    return pa.table(
        {"key": [key] * len(rows), "kind": kinds, "earlier": earlier, "later": later, "score": score, "id": raw_ids},
        schema=pa.schema([
            ("key", pa.uint32()), ("kind", pa.int8()), ("earlier", pa.int64()), ("later", pa.int64()),
            ("score", pa.float64()), ("id", pa.binary()),
        ]),
    )


def partition(table: Any, partitions: int) -> list[Any]:
    """A worker's rows split by key over the reducers (keys are hashes: their remainder spreads them)."""
    import pyarrow as pa

    if partitions == 1:
        return [table]
    keys = table["key"].to_numpy()
    number = (keys % np.uint64(partitions)).astype(np.int64)
    return [table.filter(pa.array(number == n)) for n in range(partitions)]


def reduce_groups(function: str, args: Sequence[Any], keys: Iterable[int] | None, *parts: Any) -> Any:
    """What a reducer does: group its parts' rows by key and apply ``function`` to each group of two or more.

    Args:
        function: ``"count"``, ``"first"`` or ``"bucket"`` (:data:`_GROUP_FUNCTIONS`).
        args: The function's arguments after the group.
        keys: Only the groups of these keys (a correction round), or all when ``None``.
        parts: Every worker's rows for this reducer.

    Returns:
        The functions' rows as one table, or ``None`` when there are none.
        A group of one row has nothing to count, nothing earlier and nothing
        to compare: skipping those (most band buckets) is what keeps a
        reducer fast.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    table = pa.concat_tables(parts)
    if keys is not None:
        wanted = pa.array(sorted(keys), type=table.schema.field("key").type)
        table = table.filter(pc.is_in(table["key"], value_set=wanted))
    if not table.num_rows:
        return None
    table = table.sort_by([("key", "ascending"), ("item", "ascending")])
    sorted_keys = table["key"].to_numpy()
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], len(sorted_keys)]
    group = _GROUP_FUNCTIONS[function]
    out = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        if b - a > 1 and (rows := group(table.slice(a, b - a), *args)).num_rows:
            out.append(rows)
    return pa.concat_tables(out) if out else None


_GROUP_FUNCTIONS: dict[str, Any] = {"count": _count_line, "first": _first_exact, "bucket": _bucket}


# -- in the driver ----------------------------------------------------------------------------------


def cross_document(
    ray: Any,
    config: Config,
    context: list[Any],
    batches: Sequence[tuple[Any, Any]],
    stats: ShuffleStats | None = None,
) -> list[Answers]:
    """Answer every cross-document question of the input, one kind after the other.

    Args:
        ray: The connected ``ray`` module.
        config: The settings.
        context: Object refs of ``[config, model]`` for the workers.
        batches: Object refs of each batch's items and of its packed
            analysis, in input order (batches of :data:`~dedup.cleaner.BATCH_SIZE`).
        stats: Filled with what the stages did, when given.

    Returns:
        The answers of each batch, to resolve it against an :class:`AnswerStore`.
    """
    stats = stats if stats is not None else ShuffleStats()
    answers: list[Answers] = [{kind: {} for kind in KINDS} for _ in batches]
    if not batches:
        return answers
    partitions = max(1, int(ray.cluster_resources().get("CPU", 1)))
    shuffle = _Shuffle(ray, partitions)
    wanted = {
        "line": config.dedup.boilerplate,
        "doc": config.dedup.documents,
        "para-exact": config.dedup.cross_doc_paragraphs,
        "para": config.dedup.cross_doc_paragraphs,
    }
    answered: list[str] = []
    for kind in KINDS:
        if wanted[kind]:
            parts = shuffle.ask(kind, context, batches, answers, answered)
            if kind == "line":
                _file_counts(shuffle, parts, answers)
            elif kind == "para-exact":
                _file_exact(shuffle, parts, answers)
            else:
                threshold = config.dedup.doc_threshold if kind == "doc" else config.dedup.threshold
                _file_matches(shuffle, kind, parts, threshold, answers, stats)
        answered.append(kind)
    return answers


class _Shuffle:
    """Ray tasks: the workers' questions, partitioned by key; a reducer per partition."""

    def __init__(self, ray: Any, partitions: int) -> None:
        self.ray = ray
        self.partitions = partitions
        self._ask = ray.remote(_ask_packed).options(num_returns=partitions)
        self._reduce = ray.remote(reduce_groups)

    def ask(
        self, kind: str, context: list[Any], batches: Sequence[tuple[Any, Any]], answers: list[Answers],
        answered: list[str],
    ) -> list[list[Any]]:
        """The object refs of each reducer's part from each batch: ``parts[reducer][batch]``."""
        refs = [
            self._ask.remote(kind, self.partitions, context, batch, wire, answers[number], list(answered),
                             number * BATCH_SIZE)
            for number, (batch, wire) in enumerate(batches)
        ]
        by_batch = [ref if isinstance(ref, list) else [ref] for ref in refs]
        return [[parts[n] for parts in by_batch] for n in range(self.partitions)]

    def reduce(
        self, function: str, parts: list[list[Any]], args: Sequence[Any] = (), keys: set[int] | None = None
    ) -> Iterable[dict[str, list[Any]]]:
        """Each reducer's rows, as columns of Python values (reducers without rows left out).

        A reducer's table is fetched once the previous one is consumed, and
        turned into Python values :data:`ROWS_AT_ONCE` rows at a time: the
        driver holds one table and a slice of its rows, not every result.
        """
        reducers = [
            self._reduce.remote(function, args, None if keys is None else {k for k in keys if k % self.partitions == n},
                                *reducer_parts)
            for n, reducer_parts in enumerate(parts)
            if keys is None or any(k % self.partitions == n for k in keys)
        ]
        for reducer in reducers:
            table = self.ray.get(reducer)
            if table is not None:
                for rows in table.to_batches(max_chunksize=ROWS_AT_ONCE):
                    yield rows.to_pydict()
            del table


def _ask_packed(
    kind: str, partitions: int, context: list[Any], batch: Any, packed: bytes, answers: Answers,
    answered: Sequence[str], start: int,
) -> Any:
    from dedup.engines.ray import unpack_wire

    parts = partition(ask_batch(kind, context, batch, unpack_wire(packed), answers, answered, start), partitions)
    return parts if partitions > 1 else parts[0]


def _file_counts(shuffle: _Shuffle, parts: list[list[Any]], answers: list[Answers]) -> None:
    for rows in shuffle.reduce("count", parts):
        for key, position, count in zip(rows["key"], rows["item"], rows["count"], strict=True):
            answers[position // BATCH_SIZE]["line"][position, key] = count


def _file_exact(shuffle: _Shuffle, parts: list[list[Any]], answers: list[Answers]) -> None:
    for rows in shuffle.reduce("first", parts):
        for number, earlier, raw_id in zip(rows["item"], rows["earlier"], rows["id"], strict=True):
            position, paragraph = number >> 32, number & 0xFFFFFFFF
            answers[position // BATCH_SIZE]["para-exact"][position, paragraph] = Ref(
                _id_text(raw_id), earlier & 0xFFFFFFFF
            )


class Settled(NamedTuple):
    """What a band stage found: each matched item's edge, the ids of the earlier items, and the work done."""

    matches: dict[int, Edge]
    ids: dict[int, bytes]
    comparisons: int
    rounds: int
    edges: int


def settle(verify: Callable[[Mapping[int, set[int]], set[int] | None], Iterable[Mapping[str, list[Any]]]]) -> Settled:
    """Verify the buckets, resolve in input order, and verify again where the rule needs it, until settled.

    Args:
        verify: Runs :func:`_bucket` on the buckets (all of them, or those
            of the given keys) with the given forced representatives, and
            returns the reducers' rows as columns.

    Raises:
        DedupError: The rounds did not settle in :data:`MAX_ROUNDS`.
    """
    edges: dict[tuple[int, int], float] = {}
    ids: dict[int, bytes] = {}
    shadowed: dict[int, set[int]] = {}
    forced: dict[int, set[int]] = {}
    keys: set[int] | None = None  # every bucket, then those a correction concerns
    comparisons = 0
    for rounds in range(1, MAX_ROUNDS + 1):
        verified: set[int] = set()
        for rows in verify(forced, keys):
            for key, row_kind, earlier, later, score, raw_id in zip(
                rows["key"], rows["kind"], rows["earlier"], rows["later"], rows["score"], rows["id"], strict=True
            ):
                if key not in verified:  # this round's view of the bucket replaces the last one's
                    verified.add(key)
                    shadowed.pop(key, None)
                if row_kind == _EDGE:
                    edges[earlier, later] = score
                    ids[earlier] = raw_id
                elif row_kind == _SHADOWED:
                    shadowed.setdefault(key, set()).add(later)
                else:
                    comparisons += later
        matches = resolve((), (Edge(earlier, later, score) for (earlier, later), score in edges.items()))
        wrong = {key: {p for p in items if p not in matches} for key, items in shadowed.items()}
        wrong = {key: items for key, items in wrong.items() if items}
        if not wrong:
            return Settled(matches, ids, comparisons, rounds, len(edges))
        for key, items in wrong.items():
            forced.setdefault(key, set()).update(items)
        keys = set(wrong)
    raise DedupError(f"the matches did not settle in {MAX_ROUNDS} rounds; report it")


def _file_matches(
    shuffle: _Shuffle, kind: str, parts: list[list[Any]], threshold: float, answers: list[Answers],
    stats: ShuffleStats,
) -> None:
    """The band stage of ``kind``: settle the matches on the cluster, and file them by batch."""
    settled = settle(lambda forced, keys: shuffle.reduce("bucket", parts, (threshold, forced), keys))
    stats.comparisons[kind], stats.rounds[kind], stats.edges[kind] = (
        settled.comparisons, settled.rounds, settled.edges
    )
    for number, edge in settled.matches.items():
        position, paragraph = number >> 32, number & 0xFFFFFFFF
        ref = Ref(_id_text(settled.ids[edge.earlier]), None if kind == "doc" else edge.earlier & 0xFFFFFFFF)
        answers[position // BATCH_SIZE][kind][position, -1 if kind == "doc" else paragraph] = Match(ref, edge.score)
