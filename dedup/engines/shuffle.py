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

1. Every batch asks its questions of that kind, on a worker
   (:func:`ask_batch`): :meth:`~dedup.cleaner.Cleaner.resolve` runs
   unchanged against an :class:`AnswerStore` that answers from what
   earlier stages found and records the questions of the kind at hand.
   Only these rows leave the worker, as Arrow tables in the object store:
   a key and an item per question (with the id of the item for
   ``para-exact``); for a band kind, a row per band key of each item, and
   a second table with each item's sketch and id once.
2. The rows are split by key (:func:`partition`, a Ray task per batch with
   one return per reducer: a hash shuffle) over one reducer per cluster
   CPU, or more when the rows are many: none gets more than
   :data:`ROWS_PER_REDUCER` rows (:func:`partitions_for`; the workers
   report their row counts first). Ray runs as many reducers at once as
   there are CPUs, the others after them. A reducer sorts its rows by key
   and handles each group of two rows or more (:func:`reduce_groups`): the
   rank of a document among those with a line (:func:`_count_line`), the
   first paragraph with a key (:func:`_first_exact`), or the verified pairs
   of one band bucket, each item compared with the bucket's
   representatives only (:func:`dedup.engines.edges.bucket_edges`,
   :func:`_bucket`). A band bucket's rows carry no sketch: most buckets
   have one item and need none. For the buckets of two items or more the
   reducer joins in the sketches (:func:`join_sketches`) of
   :data:`SKETCHES_AT_ONCE` rows of buckets at a time, fetched from the
   tables of the batches that hold those items (:func:`batches_of`),
   :data:`FETCH_AT_ONCE` tables at a time. Ray Data's
   ``groupby(...).map_groups`` gives the same groups, but took 15 to 30
   seconds a shuffle on 300 documents (2 CPUs, with two partitions as with
   its default 200), where these tasks take about two.
3. The driver applies the first-in-input-order rule to the edges
   (:func:`dedup.engines.edges.resolve`), with the correction rounds of
   :func:`dedup.engines.edges.resolve_buckets` (only the buckets concerned
   are verified again), and files the answers by batch (:func:`settle`).

A last pass runs :meth:`~dedup.cleaner.Cleaner.resolve` once more, in input
order, against every answer: :mod:`dedup.decide` makes each decision from
exactly the answers :class:`dedup.store.MemoryStore` would give, so the
result is the local engine's.

What a reducer holds: its rows (12 bytes for a band key and an item, 16
for a line, plus the id for an exact paragraph), at most about
:data:`ROWS_PER_REDUCER` of them, twice while they are sorted; and the
sketches and ids (a 64-byte sketch and the id, some 100 bytes as Python
bytes) of the items of about :data:`SKETCHES_AT_ONCE` rows of shared
buckets, with :data:`FETCH_AT_ONCE` batches' sketch tables being filtered;
its result, as Python rows :data:`ROWS_AT_ONCE` at a time, then as Arrow. Before, every
band row carried its item's sketch and id, and a reducer held all the rows
of its keys at once: items x bands x some 100 bytes / CPUs, several times
over while sorted and grouped.

What the driver holds (sizes are CPython's, estimated):

- per batch of 256 items: two object refs (its records and its analysis
  stay in the object store) and four empty dicts, about 1 KB, so some
  4 bytes a document; while a kind's questions are shuffled, a few object
  refs per batch and reducer;
- per question that found something: its position and the answer, in the
  dict of its batch (a ``line`` count: a key and an int, about 150 bytes;
  a match: a :class:`~dedup.store.Match` with the earlier item's id and
  paragraph, about 300 bytes). A document none of whose short lines,
  paragraphs or text repeat adds nothing;
- while a band stage settles: each distinct edge as a numpy record (two
  items and a score, 24 bytes; an edge found in several buckets is kept
  once), each bucket item found not to be a representative as a numpy
  record (a band key and an item, 16 bytes, per bucket), and the id of
  every earlier item of an edge (a dict entry, about 100 bytes plus the
  id). While a round resolves, :func:`~dedup.engines.edges.resolve` holds
  an :class:`~dedup.engines.edges.Edge` per edge (about 150 bytes) and the
  round's matches; the reducers' rows arrive :data:`ROWS_AT_ONCE` at a
  time, as arrays. A line in every document gives one count per document;
  a family of n near-copies about n edges, and n items per shared bucket.

The local engine's index, by contrast, grows by about 290 bytes with every
indexed document, repeated or not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
    "KINDS", "AnswerStore", "Answers", "Settled", "ShuffleStats", "batches_of", "cross_document", "item_number",
    "join_sketches", "partition", "partitions_for", "reduce_groups", "settle",
]

#: The kinds of question, in the order their stages run.
KINDS = ("line", "doc", "para-exact", "para")
#: The correction rounds of a band stage end well before this; more would mean a fault.
MAX_ROUNDS = 100
#: The reducers' rows are turned into arrays this many at a time, in the driver.
ROWS_AT_ONCE = 1 << 16
#: A shuffle gets one reducer per CPU, or more so that none gets more rows than this (12 to 16 bytes each).
ROWS_PER_REDUCER = 1 << 22
#: A reducer joins in the sketches of this many rows of its band buckets at a time.
SKETCHES_AT_ONCE = 1 << 17
#: A reducer fetches this many batches' sketch tables at a time.
FETCH_AT_ONCE = 16

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
    partitions: dict[str, int] = field(default_factory=dict)


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
    return pa.schema([("key", pa.uint32()), ("item", pa.int64())])


def _sketch_schema() -> Any:
    import pyarrow as pa

    return pa.schema([("item", pa.int64()), ("sketch", pa.binary()), ("id", pa.binary())])


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
) -> tuple[Any, Any]:
    """The questions of one kind a batch asks, as Arrow tables: what a worker runs.

    Args:
        kind: One of :data:`KINDS`.
        context: ``[config, model]``, or their object refs.
        batch: The batch's documents and invalid records, in input order.
        wire: The batch's analysis (:func:`dedup.analysis.to_wire`).
        answers: What earlier stages found for the batch.
        answered: The kinds of those stages.
        start: The position of the batch's first item.

    Returns:
        The rows to shuffle: a key and an item (:func:`item_number`) per
        question, with the earlier item's id for ``para-exact``; for a band
        kind, a row per band key of each item. And, for a band kind, the
        sketch and id of each item once (``None`` for the other kinds): a
        reducer fetches those of the items that share a bucket only.
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
        columns = {"key": [], "item": []}
        sketches: dict[str, list[Any]] = {"item": [], "sketch": [], "id": []}
        for position, ref, keys, sketch in asked:
            number = item_number(position, ref.paragraph)
            folded = sorted(set(BandIndex.fold(keys)))  # the store files an item under each folded key once
            columns["key"] += folded
            columns["item"] += [number] * len(folded)
            sketches["item"].append(number)
            sketches["sketch"].append(sketch)
            sketches["id"].append(_id_bytes(ref.id))
        return pa.table(columns, schema=_schema(kind)), pa.table(sketches, schema=_sketch_schema())
    return pa.table(columns, schema=_schema(kind)), None


def _context(context: list[Any]) -> tuple[Config, Any]:
    import ray

    config, model = (ray.get(value) if isinstance(value, ray.ObjectRef) else value for value in context)
    return config, model


def _count_line(group: Any) -> dict[str, list[Any]]:
    """For each document with a line after the first: how many earlier documents had it."""
    positions = sorted(set(group["item"].to_pylist()))
    key = group["key"][0].as_py()
    return {"key": [key] * (len(positions) - 1), "item": positions[1:], "count": list(range(1, len(positions)))}


def _first_exact(group: Any) -> dict[str, list[Any]]:
    """Every paragraph with a key after the first, and that first one."""
    items = group["item"].to_pylist()
    ids = group["id"].to_pylist()
    first = min(range(len(items)), key=items.__getitem__)
    later = [k for k in range(len(items)) if k != first]
    return {"item": [items[k] for k in later], "earlier": [items[first]] * len(later), "id": [ids[first]] * len(later)}


def _bucket(
    group: Any, threshold: float, forced: Mapping[int, set[int]], sketches: Mapping[int, Any]
) -> dict[str, list[Any]]:
    """The verified pairs of one band bucket (:func:`~dedup.engines.edges.bucket_edges`), as rows.

    ``sketches`` holds the sketch and id of each of the bucket's items
    (:func:`join_sketches`). A row is an edge (``earlier``, ``later``,
    ``score`` and the earlier item's ``id``), an item found not to be a
    representative (``later``), or the number of comparisons made
    (``later``), as ``kind`` says.
    """
    key = group["key"][0].as_py()
    items = group["item"].to_pylist()
    found = bucket_edges([(item, sketches[item][0]) for item in items], threshold, forced.get(key, ()))
    rows: list[tuple[int, int, int, float, bytes]] = [
        (_EDGE, edge.earlier, edge.later, edge.score, sketches[edge.earlier][1]) for edge in found.edges
    ]
    rows += [(_SHADOWED, -1, position, 0.0, b"") for position in sorted(found.shadowed)]
    if found.comparisons:
        rows.append((_COMPARED, -1, found.comparisons, 0.0, b""))
    kinds, earlier, later, score, raw_ids = zip(*rows, strict=True) if rows else ((), (), (), (), ())
    return {"key": [key] * len(rows), "kind": list(kinds), "earlier": list(earlier), "later": list(later),
            "score": list(score), "id": list(raw_ids)}


def _result_schema(function: str) -> Any:
    """The columns of a reducer's result, per group function."""
    import pyarrow as pa

    if function == "count":
        return pa.schema([("key", pa.uint64()), ("item", pa.int64()), ("count", pa.int64())])
    if function == "first":
        return pa.schema([("item", pa.int64()), ("earlier", pa.int64()), ("id", pa.binary())])
    return pa.schema([
        ("key", pa.uint32()), ("kind", pa.int8()), ("earlier", pa.int64()), ("later", pa.int64()),
        ("score", pa.float64()), ("id", pa.binary()),
    ])


def partitions_for(rows: int, cpus: int, per_reducer: int | None = None) -> int:
    """How many reducers a shuffle of ``rows`` rows gets: one per CPU, more if each would get over ``per_reducer``.

    ``per_reducer`` is :data:`ROWS_PER_REDUCER` when ``None``.

    >>> partitions_for(10, 2), partitions_for(9 << 22, 2, 1 << 22)
    (2, 9)
    """
    limit = ROWS_PER_REDUCER if per_reducer is None else per_reducer
    return max(1, cpus, -(-rows // limit))


def partition(table: Any, partitions: int) -> list[Any]:
    """A worker's rows split by key over the reducers (keys are hashes: their remainder spreads them)."""
    import pyarrow as pa

    if partitions == 1:
        return [table]
    keys = table["key"].to_numpy()
    number = (keys % np.uint64(partitions)).astype(np.int64)
    return [table.filter(pa.array(number == n)) for n in range(partitions)]


def batches_of(items: Any) -> list[int]:
    """The numbers of the batches that hold these items (:func:`item_number`), in order, each once.

    >>> batches_of([item_number(3, 1), item_number(300, 0), item_number(2, None)])
    [0, 1]
    """
    positions = np.asarray(items, dtype=np.int64) >> 32
    return [int(n) for n in np.unique(positions // BATCH_SIZE)]


def join_sketches(items: Any, tables: Iterable[Any]) -> dict[int, tuple[bytes, bytes]]:
    """The sketch and id of each of ``items``, found in tables of (item, sketch, id) rows.

    Args:
        items: The item numbers wanted, each once.
        tables: Tables that hold them; each is filtered as it comes, so
            only the wanted rows are kept. An item in several tables has the
            same row in each.

    Raises:
        DedupError: An item is in none of the tables.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    wanted = pa.array(np.asarray(items, dtype=np.int64))
    found: dict[int, tuple[bytes, bytes]] = {}
    for table in tables:
        rows = table.filter(pc.is_in(table["item"], value_set=wanted))
        pairs = zip(rows["sketch"].to_pylist(), rows["id"].to_pylist(), strict=True)
        found.update(zip(rows["item"].to_pylist(), pairs, strict=True))
    if len(found) < len(wanted):
        missing = sorted(set(wanted.to_pylist()) - set(found))[:3]
        raise DedupError(f"the sketches of items {missing} were not found in their batches; report it")
    return found


def reduce_groups(
    function: str,
    args: Sequence[Any],
    keys: Iterable[int] | None,
    *parts: Any,
    fetch: Callable[[list[int]], Iterable[Any]] | None = None,
    sketches_at_once: int | None = None,
) -> Any:
    """What a reducer does: group its parts' rows by key and apply ``function`` to each group of two or more.

    Args:
        function: ``"count"``, ``"first"`` or ``"bucket"``.
        args: The function's arguments after the group (``(threshold, forced)`` for ``"bucket"``).
        keys: Only the groups of these keys (a correction round), or all when ``None``.
        parts: Every worker's rows for this reducer.
        fetch: For ``"bucket"`` (rows of a key and an item): given batch
            numbers, the (item, sketch, id) tables of those batches
            (:func:`ask_batch`'s second table).
        sketches_at_once: The sketches of about this many rows of buckets
            are joined in at a time (:data:`SKETCHES_AT_ONCE` when ``None``).

    Returns:
        The functions' rows as one table, or ``None`` when there are none.
        A group of one row has nothing to count, nothing earlier and nothing
        to compare: skipping those (most band buckets) is what keeps a
        reducer fast, and what keeps their items' sketches away from it.
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
    several = ends - starts > 1
    starts, ends = starts[several], ends[several]
    out = _Rows(_result_schema(function))
    if function == "bucket":
        _verify_buckets(table, starts, ends, args, fetch, sketches_at_once or SKETCHES_AT_ONCE, out)
    else:
        group = _GROUP_FUNCTIONS[function]
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            out.add(group(table.slice(a, b - a), *args))
    return out.table()


class _Rows:
    """A reducer's result: Python rows, made into an Arrow table :data:`ROWS_AT_ONCE` at a time.

    Neither an Arrow table per group (each has a fixed cost, and a reducer
    may have hundreds of thousands of groups) nor every row as Python values.
    """

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self.columns: dict[str, list[Any]] = {name: [] for name in schema.names}
        self.tables: list[Any] = []

    def add(self, rows: Mapping[str, list[Any]]) -> None:
        for name, values in rows.items():
            self.columns[name] += values
        if len(self.columns[self.schema.names[0]]) >= ROWS_AT_ONCE:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self.columns[self.schema.names[0]]:
            self.tables.append(pa.table(self.columns, schema=self.schema))
            self.columns = {name: [] for name in self.schema.names}

    def table(self) -> Any:
        """All the rows as one table, or ``None`` when there are none."""
        import pyarrow as pa

        self._flush()
        return pa.concat_tables(self.tables) if self.tables else None


def _verify_buckets(
    table: Any, starts: Any, ends: Any, args: Sequence[Any], fetch: Callable[[list[int]], Iterable[Any]] | None,
    at_once: int, out: _Rows,
) -> None:
    """:func:`_bucket` on each group, with the sketches of about ``at_once`` rows of groups joined in at a time."""
    if fetch is None:
        raise DedupError("a band bucket's rows carry no sketches, and no batches to fetch them from; report it")
    threshold, forced = args
    items = table["item"].to_numpy()
    sizes = ends - starts
    chunk = (np.cumsum(sizes) - sizes) // at_once  # a group larger than that is a chunk of its own
    for number in np.unique(chunk).tolist():
        these = chunk == number
        begin, end = starts[these].tolist(), ends[these].tolist()
        need = np.unique(np.concatenate([items[a:b] for a, b in zip(begin, end, strict=True)]))
        sketches = join_sketches(need, fetch(batches_of(need)))
        for a, b in zip(begin, end, strict=True):
            out.add(_bucket(table.slice(a, b - a), threshold, forced, sketches))


_GROUP_FUNCTIONS: dict[str, Any] = {"count": _count_line, "first": _first_exact}


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
    shuffle = _Shuffle(ray, max(1, int(ray.cluster_resources().get("CPU", 1))))
    wanted = {
        "line": config.dedup.boilerplate,
        "doc": config.dedup.documents,
        "para-exact": config.dedup.cross_doc_paragraphs,
        "para": config.dedup.cross_doc_paragraphs,
    }
    answered: list[str] = []
    for kind in KINDS:
        if wanted[kind]:
            asked = shuffle.ask(kind, context, batches, answers, answered)
            stats.partitions[kind] = asked.partitions
            if kind == "line":
                _file_counts(shuffle, asked, answers)
            elif kind == "para-exact":
                _file_exact(shuffle, asked, answers)
            else:
                threshold = config.dedup.doc_threshold if kind == "doc" else config.dedup.threshold
                _file_matches(shuffle, kind, asked, threshold, answers, stats)
        answered.append(kind)
    return answers


class _Asked(NamedTuple):
    """The questions of one kind, in the object store: each reducer's part from each batch (``parts[reducer][batch]``),
    each batch's (item, sketch, id) table for a band kind (``None`` for the others), and the number of reducers."""

    parts: list[list[Any]]
    sketches: list[Any] | None
    partitions: int


class _Shuffle:
    """Ray tasks: the workers' questions, partitioned by key; a reducer per partition."""

    def __init__(self, ray: Any, cpus: int) -> None:
        self.ray = ray
        self.cpus = cpus
        self._ask = ray.remote(_ask_packed).options(num_returns=3)
        self._split = ray.remote(partition)
        self._reduce = ray.remote(_reduce_task)

    def ask(
        self, kind: str, context: list[Any], batches: Sequence[tuple[Any, Any]], answers: list[Answers],
        answered: list[str],
    ) -> _Asked:
        """Ask every batch its questions of ``kind``, and split the rows over as many reducers as they need."""
        asked = [
            self._ask.remote(kind, context, batch, wire, answers[number], list(answered), number * BATCH_SIZE)
            for number, (batch, wire) in enumerate(batches)
        ]
        partitions = partitions_for(sum(self.ray.get([rows for _, _, rows in asked])), self.cpus)
        if partitions == 1:
            parts = [[table for table, _, _ in asked]]
        else:
            split = self._split.options(num_returns=partitions)
            by_batch = [split.remote(table, partitions) for table, _, _ in asked]
            parts = [[pieces[n] for pieces in by_batch] for n in range(partitions)]
        sketches = [table for _, table, _ in asked] if kind in ("doc", "para") else None
        return _Asked(parts, sketches, partitions)

    def reduce(
        self, function: str, asked: _Asked, args: Sequence[Any] = (), keys: set[int] | None = None
    ) -> Iterable[dict[str, Any]]:
        """Each reducer's rows, as numpy columns (reducers without rows left out).

        A reducer's table is fetched once the previous one is consumed, and
        turned into arrays :data:`ROWS_AT_ONCE` rows at a time: the driver
        holds one table and a slice of its rows, not every result.
        """
        count = asked.partitions
        reducers = [
            self._reduce.remote(function, args, None if keys is None else {k for k in keys if k % count == n},
                                asked.sketches, SKETCHES_AT_ONCE, *reducer_parts)
            for n, reducer_parts in enumerate(asked.parts)
            if keys is None or any(k % count == n for k in keys)
        ]
        for reducer in reducers:
            table = self.ray.get(reducer)
            if table is not None:
                for rows in table.to_batches(max_chunksize=ROWS_AT_ONCE):
                    yield {name: rows.column(name).to_numpy(zero_copy_only=False) for name in rows.schema.names}
            del table


def _ask_packed(
    kind: str, context: list[Any], batch: Any, packed: bytes, answers: Answers, answered: Sequence[str], start: int,
) -> tuple[Any, Any, int]:
    """What a worker does: :func:`ask_batch`, and the number of rows to shuffle."""
    from dedup.engines.ray import unpack_wire

    rows, sketches = ask_batch(kind, context, batch, unpack_wire(packed), answers, answered, start)
    return rows, sketches, rows.num_rows


def _reduce_task(function: str, args: Sequence[Any], keys: set[int] | None, sketches: list[Any] | None,
                 at_once: int, *parts: Any) -> Any:
    """What a reducer does (:func:`reduce_groups`), fetching the batches' sketch tables it needs, a few at a time."""
    import ray

    if sketches is None:
        return reduce_groups(function, args, keys, *parts)
    tables = sketches

    def fetch(numbers: list[int]) -> Iterator[Any]:
        for at in range(0, len(numbers), FETCH_AT_ONCE):
            yield from ray.get([tables[n] for n in numbers[at : at + FETCH_AT_ONCE]])

    return reduce_groups(function, args, keys, *parts, fetch=fetch, sketches_at_once=at_once)


def _file_counts(shuffle: _Shuffle, asked: _Asked, answers: list[Answers]) -> None:
    for rows in shuffle.reduce("count", asked):
        for key, position, count in zip(rows["key"].tolist(), rows["item"].tolist(), rows["count"].tolist(),
                                        strict=True):
            answers[position // BATCH_SIZE]["line"][position, key] = count


def _file_exact(shuffle: _Shuffle, asked: _Asked, answers: list[Answers]) -> None:
    for rows in shuffle.reduce("first", asked):
        for number, earlier, raw_id in zip(rows["item"].tolist(), rows["earlier"].tolist(), rows["id"].tolist(),
                                           strict=True):
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


#: An edge as the driver keeps it while a band stage settles: 24 bytes (sorted by the later item).
_EDGE_ROW = np.dtype([("later", np.int64), ("earlier", np.int64), ("score", np.float64)])
#: A bucket's item found not to be a representative (a band key and an item): 16 bytes.
_SHADOWED_ROW = np.dtype([("key", np.int64), ("item", np.int64)])


def _rows(dtype: np.dtype[Any], **columns: Any) -> Any:
    rows = np.empty(len(next(iter(columns.values()))), dtype=dtype)
    for name, values in columns.items():
        rows[name] = values
    return rows


def settle(verify: Callable[[Mapping[int, set[int]], set[int] | None], Iterable[Mapping[str, Any]]]) -> Settled:
    """Verify the buckets, resolve in input order, and verify again where the rule needs it, until settled.

    The edges and the items found not to be representatives are kept as
    numpy records (24 and 16 bytes), the ids of the earlier items of edges
    in a dict; :func:`~dedup.engines.edges.resolve` gets the edges one
    round at a time.

    Args:
        verify: Runs :func:`_bucket` on the buckets (all of them, or those
            of the given keys) with the given forced representatives, and
            returns the reducers' rows as columns (arrays or lists).

    Raises:
        DedupError: The rounds did not settle in :data:`MAX_ROUNDS`.
    """
    edges = np.empty(0, dtype=_EDGE_ROW)
    shadowed = np.empty(0, dtype=_SHADOWED_ROW)
    ids: dict[int, bytes] = {}
    forced: dict[int, set[int]] = {}
    keys: set[int] | None = None  # every bucket, then those a correction concerns
    comparisons = 0
    for rounds in range(1, MAX_ROUNDS + 1):
        found_edges, found_shadowed, verified = [edges], [], []
        pending = len(edges)
        for rows in verify(forced, keys):
            kind = np.asarray(rows["kind"], dtype=np.int8)
            key = np.asarray(rows["key"], dtype=np.int64)
            earlier, later = np.asarray(rows["earlier"], dtype=np.int64), np.asarray(rows["later"], dtype=np.int64)
            is_edge, is_shadowed = kind == _EDGE, kind == _SHADOWED
            verified.append(np.unique(key))
            found_edges.append(_rows(_EDGE_ROW, later=later[is_edge], earlier=earlier[is_edge],
                                     score=np.asarray(rows["score"], dtype=np.float64)[is_edge]))
            pending += int(is_edge.sum())
            if pending > 2 * len(found_edges[0]) + ROWS_AT_ONCE:  # an edge found in many buckets: keep it once
                found_edges = [np.unique(np.concatenate(found_edges))]
                pending = len(found_edges[0])
            for item, raw_id in zip(earlier[is_edge].tolist(), np.asarray(rows["id"], dtype=object)[is_edge].tolist(),
                                    strict=True):
                ids.setdefault(item, raw_id)
            found_shadowed.append(_rows(_SHADOWED_ROW, key=key[is_shadowed], item=later[is_shadowed]))
            comparisons += int(later[kind == _COMPARED].sum())
        if verified:  # this round's view of a bucket replaces the last one's
            shadowed = shadowed[~np.isin(shadowed["key"], np.concatenate(verified))]
        shadowed = np.concatenate([shadowed, *found_shadowed])
        edges = np.unique(np.concatenate(found_edges))  # an edge found in several buckets is kept once
        matches = resolve((), (Edge(earlier, later, score) for later, earlier, score in edges.tolist()))
        wrong = shadowed[~np.isin(shadowed["item"], np.fromiter(matches, dtype=np.int64, count=len(matches)))]
        if not len(wrong):
            return Settled(matches, ids, comparisons, rounds, len(edges))
        for key, item in wrong.tolist():
            forced.setdefault(key, set()).add(item)
        keys = set(wrong["key"].tolist())
    raise DedupError(f"the matches did not settle in {MAX_ROUNDS} rounds; report it")


def _file_matches(
    shuffle: _Shuffle, kind: str, asked: _Asked, threshold: float, answers: list[Answers], stats: ShuffleStats,
) -> None:
    """The band stage of ``kind``: settle the matches on the cluster, and file them by batch."""
    settled = settle(lambda forced, keys: shuffle.reduce("bucket", asked, (threshold, forced), keys))
    stats.comparisons[kind], stats.rounds[kind], stats.edges[kind] = (
        settled.comparisons, settled.rounds, settled.edges
    )
    for number, edge in settled.matches.items():
        position, paragraph = number >> 32, number & 0xFFFFFFFF
        ref = Ref(_id_text(settled.ids[edge.earlier]), None if kind == "doc" else edge.earlier & 0xFFFFFFFF)
        answers[position // BATCH_SIZE][kind][position, -1 if kind == "doc" else paragraph] = Match(ref, edge.score)
