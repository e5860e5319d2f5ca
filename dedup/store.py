"""Index stores: where the cross-document index lives.

A store answers three questions atomically, each for one namespace
(documents, paragraphs, boilerplate lines):

- :meth:`IndexStore.check_and_insert`: is there an earlier item sharing an
  LSH band key whose sketch is similar enough? If so, return it; if not,
  insert this one. Check and insert are one step, so processes sharing a
  store keep each near duplicate once.
- :meth:`IndexStore.check_and_insert_exact`: the same for an exact key.
- :meth:`IndexStore.add_and_count`: record that a document contains a key
  and say in how many earlier documents it appeared.

Stores are picked by name from a small registry (:func:`open_store`);
drivers for optional backends import their client lazily. Every store is
bound to a config fingerprint and refuses items from another one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dedup.data import Ref
from dedup.errors import ConfigError, IndexMismatchError
from dedup.minhash import sketch_similarity


@dataclass(frozen=True)
class Match:
    """An earlier item that a new one repeats, and how similar they are."""

    ref: Ref
    score: float


class IndexStore(ABC):
    """The interface every store implements.

    Args:
        fingerprint: The :meth:`dedup.config.Config.fingerprint` of the
            settings the index is built with.
    """

    name = "abstract"

    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint

    def check_fingerprint(self, fingerprint: str) -> None:
        """Raise :class:`IndexMismatchError` unless ``fingerprint`` is this store's."""
        if fingerprint != self.fingerprint:
            raise IndexMismatchError(
                f"the index was built with settings {self.fingerprint}, but the cleaner uses {fingerprint}; "
                "use the same shingle, permutation, seed and threshold settings, or start a new index"
            )

    @abstractmethod
    def check_and_insert(
        self, namespace: str, keys: Sequence[int], sketch: bytes, ref: Ref, threshold: float
    ) -> Match | None:
        """Find an earlier item similar to this one, or else insert this one.

        Args:
            namespace: Which index (``"doc"``, ``"para"``).
            keys: The item's LSH band keys.
            sketch: The item's :func:`dedup.minhash.sketch`.
            ref: Where the item is.
            threshold: Smallest estimated Jaccard similarity that counts as a repeat.

        Returns:
            The most similar earlier item (the earliest inserted among equals),
            or ``None`` after inserting this one.
        """

    @abstractmethod
    def check_and_insert_exact(self, namespace: str, key: int, ref: Ref) -> Ref | None:
        """Return the earlier item with this exact key, or insert this one and return ``None``."""

    @abstractmethod
    def add_and_count(self, namespace: str, key: int, doc: str) -> int:
        """Record ``key`` in document ``doc``; return how many other documents had it before."""

    def close(self) -> None:  # noqa: B027 - optional hook: most stores hold nothing to release
        """Release connections or files."""

    def __enter__(self) -> IndexStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MemoryStore(IndexStore):
    """An in-process index.

    Band keys map to item numbers in plain dicts; sketches live in one
    growing byte buffer per namespace and refs in a list, so an item costs
    its band entries, its sketch and its ref.

    Example:
        >>> store = MemoryStore("f")
        >>> store.check_and_insert_exact("para", 42, Ref("a", 0)) is None
        True
        >>> store.check_and_insert_exact("para", 42, Ref("b", 3))
        Ref(id='a', paragraph=0)
    """

    name = "memory"

    def __init__(self, fingerprint: str) -> None:
        super().__init__(fingerprint)
        self._bands: dict[str, dict[int, int | list[int]]] = {}
        self._sketches: dict[str, bytearray] = {}
        self._refs: dict[str, list[Ref]] = {}
        self._exact: dict[str, dict[int, Ref]] = {}
        self._counts: dict[str, dict[int, tuple[int, str]]] = {}

    def __len__(self) -> int:
        return sum(len(refs) for refs in self._refs.values()) + sum(len(e) for e in self._exact.values())

    def check_and_insert(
        self, namespace: str, keys: Sequence[int], sketch: bytes, ref: Ref, threshold: float
    ) -> Match | None:
        bands = self._bands.setdefault(namespace, {})
        sketches = self._sketches.setdefault(namespace, bytearray())
        refs = self._refs.setdefault(namespace, [])
        width = len(sketch)
        candidates: set[int] = set()
        for key in keys:
            hit = bands.get(key)
            if hit is None:
                continue
            if isinstance(hit, int):
                candidates.add(hit)
            else:
                candidates.update(hit)
        best: Match | None = None
        best_item = -1
        for item in sorted(candidates):
            score = sketch_similarity(sketch, bytes(sketches[item * width : (item + 1) * width]))
            if score >= threshold and (best is None or score > best.score):
                best, best_item = Match(refs[item], score), item
        if best is not None and best_item >= 0:
            return best
        item = len(refs)
        refs.append(ref)
        sketches.extend(sketch)
        for key in keys:
            # A key held by one item stores the bare int: most keys are never shared.
            hit = bands.get(key)
            if hit is None:
                bands[key] = item
            elif isinstance(hit, int):
                bands[key] = [hit, item]
            else:
                hit.append(item)
        return None

    def check_and_insert_exact(self, namespace: str, key: int, ref: Ref) -> Ref | None:
        table = self._exact.setdefault(namespace, {})
        earlier = table.get(key)
        if earlier is None:
            table[key] = ref
        return earlier

    def add_and_count(self, namespace: str, key: int, doc: str) -> int:
        table = self._counts.setdefault(namespace, {})
        count, last_doc = table.get(key, (0, ""))
        if last_doc == doc:
            return count - 1
        table[key] = (count + 1, doc)
        return count


_REGISTRY: dict[str, Callable[[str, str | None], IndexStore]] = {
    "memory": lambda fingerprint, url: MemoryStore(fingerprint),
}


def register_store(scheme: str, factory: Callable[[str, str | None], IndexStore]) -> None:
    """Make a store available to :func:`open_store` under ``scheme``."""
    _REGISTRY[scheme] = factory


def open_store(url: str, fingerprint: str) -> IndexStore:
    """Open a store by URL: ``memory://`` or ``memory``.

    Raises:
        ConfigError: The scheme names no registered store.
    """
    scheme, _, rest = url.partition("://")
    factory = _REGISTRY.get(scheme)
    if factory is None:
        raise ConfigError(f"unknown index store {url!r}; available: {', '.join(sorted(_REGISTRY))}")
    return factory(fingerprint, rest or None)


def keys_as_ints(keys: np.ndarray) -> list[int]:
    """Band keys as Python ints, the form stores take."""
    return keys.tolist()
