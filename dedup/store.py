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

An in-process store can be saved to a file and loaded back
(:meth:`IndexStore.save`, :meth:`IndexStore.load`): a ``.npz`` of plain
arrays with a JSON header naming the format and the fingerprint, read with
``allow_pickle=False``, so a foreign or damaged file is an error, never code.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from abc import ABC, abstractmethod
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from dedup.bands import BandIndex
from dedup.data import Ref
from dedup.errors import ConfigError, IndexFileError, IndexMismatchError
from dedup.minhash import sketch_similarity

INDEX_FORMAT = "dedup-index"
INDEX_VERSION = 1
_S = TypeVar("_S", bound="IndexStore")


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

    # -- persistence ----------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Save the index to ``path`` (a pickle-free ``.npz``), atomically.

        The file appears at ``path`` only once complete; a previous file
        there stays whole until then.

        Raises:
            NotImplementedError: The store keeps its data elsewhere (a server).
        """
        arrays = self._export()
        header = {"format": INDEX_FORMAT, "version": INDEX_VERSION, "store": self.name, "fingerprint": self.fingerprint}
        target = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                savez: Any = np.savez  # its stubs type **arrays as the allow_pickle flag
                savez(
                    handle,
                    header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
                    **{f"a.{name}": array for name, array in arrays.items()},
                )
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls: type[_S], path: str | Path, fingerprint: str) -> _S:
        """Load an index saved by :meth:`save`, for a cleaner with ``fingerprint``.

        Raises:
            IndexFileError: The file is missing, damaged, or not a dedup index
                of this kind of store.
            IndexMismatchError: The index was built with other settings.
        """
        try:
            try:
                loaded = np.load(path, allow_pickle=False)
            except FileNotFoundError:
                raise
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
                # numpy takes any file that is not .npy or .npz for a pickle, and its message
                # suggests allow_pickle=True: not advice to pass on about a file of unknown origin.
                raise IndexFileError(f"{path}: not a dedup index file (not an .npz archive of arrays)") from exc
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                raise IndexFileError(f"{path}: not a dedup index file (a single array, not an .npz archive)")
            with loaded as data:
                if "header" not in data.files:
                    raise IndexFileError(f"{path}: not a dedup index file (no header)")
                header = json.loads(bytes(data["header"]).decode("utf-8"))
                if not isinstance(header, dict) or header.get("format") != INDEX_FORMAT:
                    found = header.get("format") if isinstance(header, dict) else None
                    raise IndexFileError(f"{path}: not a dedup index file (format {found!r})")
                if header.get("version") != INDEX_VERSION:
                    raise IndexFileError(
                        f"{path}: dedup index format version {header.get('version')!r}, this dedup reads "
                        f"version {INDEX_VERSION}"
                    )
                if header.get("store") != cls.name:
                    raise IndexFileError(f"{path}: an index of the {header.get('store')!r} store, not {cls.name!r}")
                saved = header.get("fingerprint")
                if not isinstance(saved, str):
                    raise IndexFileError(f"{path}: the index header has no fingerprint")
                store = cls(saved)
                store.check_fingerprint(fingerprint)
                store._import({name[2:]: data[name] for name in data.files if name.startswith("a.")})
        except (IndexFileError, IndexMismatchError):
            raise
        except FileNotFoundError as exc:
            raise IndexFileError(f"{path}: no such index file") from exc
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
            if "pickle" in str(exc):  # an array of Python objects: numpy refuses it and suggests allow_pickle
                raise IndexFileError(f"{path}: not a dedup index file (it holds Python objects)") from exc
            raise IndexFileError(f"{path}: not a readable dedup index file ({type(exc).__name__}: {exc})") from exc
        return store

    def _export(self) -> dict[str, np.ndarray]:
        """The store's content as named plain arrays (no object dtype), for :meth:`save`."""
        raise NotImplementedError(f"the {self.name} store cannot be saved to a file")

    def _import(self, arrays: dict[str, np.ndarray]) -> None:
        """Replace the store's content with what :meth:`_export` returned.

        Raises:
            ValueError: The arrays are missing, of the wrong type, or inconsistent.
        """
        raise NotImplementedError(f"the {self.name} store cannot be loaded from a file")


class MemoryStore(IndexStore):
    """An in-process index.

    Band keys live in a :class:`~dedup.bands.BandIndex` (8 bytes an entry),
    sketches in one growing byte buffer per namespace (64 bytes an item) and
    refs packed in arrays, so an indexed document with 25 bands costs about
    290 bytes, where datasketch's in-memory LSH spends some 3 KB.

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
        self._bands: dict[str, BandIndex] = {}
        self._sketches: dict[str, bytearray] = {}
        self._refs: dict[str, _Refs] = {}
        self._exact: dict[str, dict[int, Ref]] = {}
        self._counts: dict[str, dict[int, tuple[int, str]]] = {}

    def __len__(self) -> int:
        return sum(len(refs) for refs in self._refs.values()) + sum(len(e) for e in self._exact.values())

    def check_and_insert(
        self, namespace: str, keys: Sequence[int], sketch: bytes, ref: Ref, threshold: float
    ) -> Match | None:
        bands = self._bands.setdefault(namespace, BandIndex())
        sketches = self._sketches.setdefault(namespace, bytearray())
        refs = self._refs.setdefault(namespace, _Refs())
        width = len(sketch)
        best: Match | None = None
        for item in sorted(bands.candidates(keys)):
            score = sketch_similarity(sketch, bytes(sketches[item * width : (item + 1) * width]))
            if score >= threshold and (best is None or score > best.score):
                best = Match(refs[item], score)
        if best is not None:
            return best
        item = len(refs)
        refs.append(ref)
        sketches.extend(sketch)
        bands.add(keys, item)
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

    def _export(self) -> dict[str, np.ndarray]:
        strings = _StringTable()
        out: dict[str, np.ndarray] = {}
        namespaces = {"lsh": sorted(self._refs), "exact": sorted(self._exact), "count": sorted(self._counts)}
        for kind, names in namespaces.items():
            out[f"{kind}.names"] = strings.indexes(names)
        for n, namespace in enumerate(namespaces["lsh"]):
            out[f"lsh{n}.band_keys"], out[f"lsh{n}.band_items"] = self._bands[namespace].export()
            out[f"lsh{n}.sketches"] = np.frombuffer(bytes(self._sketches.get(namespace, b"")), dtype=np.uint8)
            out[f"lsh{n}.ref_ids"], out[f"lsh{n}.ref_paragraphs"] = _pack_refs(
                self._refs[namespace].to_list(), strings
            )
        for n, namespace in enumerate(namespaces["exact"]):
            table = self._exact[namespace]
            out[f"exact{n}.keys"] = np.fromiter(table, dtype=np.uint64, count=len(table))
            out[f"exact{n}.ref_ids"], out[f"exact{n}.ref_paragraphs"] = _pack_refs(list(table.values()), strings)
        for n, namespace in enumerate(namespaces["count"]):
            counts = self._counts[namespace]
            out[f"count{n}.keys"] = np.fromiter(counts, dtype=np.uint64, count=len(counts))
            out[f"count{n}.counts"] = np.array([c for c, _ in counts.values()], dtype=np.int64)
            out[f"count{n}.docs"] = strings.indexes([d for _, d in counts.values()])
        out["strings.blob"], out["strings.offsets"] = strings.arrays()
        return out

    def _import(self, arrays: dict[str, np.ndarray]) -> None:
        strings = _unpack_strings(_array(arrays, "strings.blob", np.uint8), _array(arrays, "strings.offsets", np.int64))
        names = {kind: _strings_at(strings, _array(arrays, f"{kind}.names", np.int64))
                 for kind in ("lsh", "exact", "count")}
        bands: dict[str, BandIndex] = {}
        sketches: dict[str, bytearray] = {}
        refs: dict[str, _Refs] = {}
        for n, namespace in enumerate(names["lsh"]):
            refs[namespace] = _Refs.from_list(_unpack_refs(arrays, f"lsh{n}", strings))
            raw = _array(arrays, f"lsh{n}.sketches", np.uint8)
            if refs[namespace] and len(raw) % len(refs[namespace]):
                raise ValueError(f"namespace {namespace!r}: {len(raw)} sketch bytes for {len(refs[namespace])} items")
            if not refs[namespace] and len(raw):
                raise ValueError(f"namespace {namespace!r}: sketches without items")
            sketches[namespace] = bytearray(raw.tobytes())
            keys = _array(arrays, f"lsh{n}.band_keys", np.uint32)
            items = _array(arrays, f"lsh{n}.band_items", np.int32)
            if len(keys) != len(items) or np.any(keys[1:] < keys[:-1]):
                raise ValueError(f"namespace {namespace!r}: band keys and items do not match")
            if len(items) and (items.min() < 0 or items.max() >= len(refs[namespace])):
                raise ValueError(f"namespace {namespace!r}: band items out of range")
            bands[namespace] = BandIndex.restore(keys, items)
        exact: dict[str, dict[int, Ref]] = {}
        for n, namespace in enumerate(names["exact"]):
            keys = _array(arrays, f"exact{n}.keys", np.uint64)
            exact_refs = _unpack_refs(arrays, f"exact{n}", strings)
            if len(exact_refs) != len(keys):
                raise ValueError(f"namespace {namespace!r}: {len(keys)} keys for {len(exact_refs)} refs")
            exact[namespace] = dict(zip(keys.tolist(), exact_refs, strict=True))
        counted: dict[str, dict[int, tuple[int, str]]] = {}
        for n, namespace in enumerate(names["count"]):
            keys = _array(arrays, f"count{n}.keys", np.uint64)
            values = _array(arrays, f"count{n}.counts", np.int64)
            docs = _strings_at(strings, _array(arrays, f"count{n}.docs", np.int64))
            if not len(keys) == len(values) == len(docs):
                raise ValueError(f"namespace {namespace!r}: keys, counts and documents differ in number")
            counted[namespace] = dict(zip(keys.tolist(), zip(values.tolist(), docs, strict=True), strict=True))
        self._bands, self._sketches, self._refs, self._exact, self._counts = bands, sketches, refs, exact, counted


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


# -- helpers of save and load: strings and refs as plain arrays ---------------------------------


class _Refs:
    """Refs packed in arrays: an id costs its UTF-8 bytes and 12 bytes of offsets."""

    def __init__(self) -> None:
        self._blob = bytearray()
        self._ends = array("q")
        self._paragraphs = array("i")

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, item: int) -> Ref:
        start = self._ends[item - 1] if item else 0
        paragraph = self._paragraphs[item]
        return Ref(self._blob[start : self._ends[item]].decode("utf-8", "surrogatepass"),
                   None if paragraph < 0 else paragraph)

    def append(self, ref: Ref) -> None:
        self._blob += ref.id.encode("utf-8", "surrogatepass")
        self._ends.append(len(self._blob))
        self._paragraphs.append(-1 if ref.paragraph is None else ref.paragraph)

    def to_list(self) -> list[Ref]:
        return [self[i] for i in range(len(self))]

    @classmethod
    def from_list(cls, refs: Sequence[Ref]) -> _Refs:
        packed = cls()
        for ref in refs:
            packed.append(ref)
        return packed


class _StringTable:
    """Collects strings once each; they are saved as one UTF-8 blob and offsets."""

    def __init__(self) -> None:
        self._index: dict[str, int] = {}

    def indexes(self, values: Sequence[str]) -> np.ndarray:
        return np.array([self._index.setdefault(v, len(self._index)) for v in values], dtype=np.int64)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        # surrogatepass: ids read from JSON may hold lone surrogates, and must come back unchanged.
        encoded = [s.encode("utf-8", "surrogatepass") for s in self._index]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(e) for e in encoded])
        return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


def _array(arrays: dict[str, np.ndarray], name: str, dtype: type) -> np.ndarray:
    if name not in arrays:
        raise ValueError(f"array {name!r} is missing")
    array = arrays[name]
    if array.dtype != np.dtype(dtype) or array.ndim != 1:
        raise ValueError(f"array {name!r} is {array.dtype}{list(array.shape)}, expected a 1-d {np.dtype(dtype)} array")
    return array


def _unpack_strings(blob: np.ndarray, offsets: np.ndarray) -> list[str]:
    if not len(offsets) or offsets[0] != 0 or offsets[-1] != len(blob) or np.any(np.diff(offsets) < 0):
        raise ValueError("string offsets do not match the string data")
    data = blob.tobytes()
    bounds = offsets.tolist()
    return [data[a:b].decode("utf-8", "surrogatepass") for a, b in pairwise(bounds)]


def _strings_at(strings: list[str], indexes: np.ndarray) -> list[str]:
    if len(indexes) and (indexes.min() < 0 or indexes.max() >= len(strings)):
        raise ValueError("string numbers out of range")
    return [strings[i] for i in indexes.tolist()]


def _pack_refs(refs: Sequence[Ref], strings: _StringTable) -> tuple[np.ndarray, np.ndarray]:
    paragraphs = np.array([-1 if r.paragraph is None else r.paragraph for r in refs], dtype=np.int64)
    return strings.indexes([r.id for r in refs]), paragraphs


def _unpack_refs(arrays: dict[str, np.ndarray], prefix: str, strings: list[str]) -> list[Ref]:
    ids = _strings_at(strings, _array(arrays, f"{prefix}.ref_ids", np.int64))
    paragraphs = _array(arrays, f"{prefix}.ref_paragraphs", np.int64)
    if len(paragraphs) != len(ids) or (len(paragraphs) and paragraphs.min() < -1):
        raise ValueError(f"{prefix}: refs do not match")
    return [Ref(i, None if p < 0 else p) for i, p in zip(ids, paragraphs.tolist(), strict=True)]
