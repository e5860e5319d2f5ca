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

Stores are picked by URL from a small registry (:func:`open_store`):

- ``memory://``: :class:`MemoryStore`, in this process, gone at exit.
- ``file:///abs/path.npz`` or a plain path: :class:`FileStore`, an
  in-process index loaded from the file at open and saved back on close,
  so it carries over from one run to the next (one process at a time).
- ``redis://HOST:PORT/DB?prefix=NAME``: :class:`dedup.redis_store.RedisStore`,
  one index shared by any number of processes and machines.

Drivers for optional backends import their client lazily. Every store is
bound to a config fingerprint (:meth:`dedup.config.Config.fingerprint`)
and refuses items from another one; stores that persist keep the settings
behind the fingerprint too, so a refusal names the settings that differ.

An in-process store can be saved to a file and loaded back
(:meth:`IndexStore.save`, :meth:`IndexStore.load`): a ``.npz`` of plain
arrays with a JSON header naming the format, the fingerprint and the
settings, read with ``allow_pickle=False``, so a foreign or damaged file is
an error, never code.
"""

from __future__ import annotations

import json
import os
import zipfile
from abc import ABC, abstractmethod
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import numpy as np

from dedup.bands import BandIndex
from dedup.data import Ref
from dedup.errors import ConfigError, IndexFileError, IndexMismatchError, IndexStoreError
from dedup.minhash import sketch_similarity
from dedup.write import atomic_binary

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

    Refs are expected to be unique per item (the cleaner's are: a document
    id, and a paragraph number for paragraphs).

    Args:
        fingerprint: The :meth:`dedup.config.Config.fingerprint` of the
            settings the index is built with.
        settings: The :meth:`dedup.config.Config.index_settings` behind the
            fingerprint, if known; persisted stores keep them, so that a
            mismatch can name the settings that differ.
    """

    name = "abstract"

    def __init__(self, fingerprint: str, settings: Mapping[str, Any] | None = None) -> None:
        self.fingerprint = fingerprint
        self.settings = None if settings is None else dict(settings)

    def check_fingerprint(self, fingerprint: str, settings: Mapping[str, Any] | None = None) -> None:
        """Raise :class:`IndexMismatchError` unless ``fingerprint`` is this store's.

        Args:
            fingerprint: The fingerprint of the settings in use.
            settings: The settings behind ``fingerprint``, if known: the
                error then lists those that differ from the index's.
        """
        if fingerprint != self.fingerprint:
            raise IndexMismatchError(mismatch_message(self.fingerprint, self.settings, fingerprint, settings))

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
        """Record ``key`` in document ``doc``; return how many other documents had it before.

        A document's calls are expected to come together (the cleaner makes
        them so): :class:`MemoryStore` remembers only the last document per
        key, and counts a document id that comes back after another one as
        a new document; a store shared by processes, whose calls interleave,
        counts distinct ids.
        """

    def close(self) -> None:  # noqa: B027 - optional hook: most stores hold nothing to release
        """Release connections or files."""

    def __enter__(self) -> IndexStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # -- persistence ----------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Save the index to ``path`` (a pickle-free ``.npz``), atomically.

        The file appears at ``path`` only once complete; a previous file
        there stays whole until then.

        Raises:
            IndexStoreError: The store keeps its data elsewhere (a server).
        """
        arrays = self._export()
        header = {"format": INDEX_FORMAT, "version": INDEX_VERSION, "store": self.name, "fingerprint": self.fingerprint}
        if self.settings is not None:
            header["settings"] = self.settings
        # Written as every output is: through a symbolic link to its target, never replacing a device.
        with atomic_binary(path) as handle:
            savez: Any = np.savez  # its stubs type **arrays as the allow_pickle flag
            savez(
                handle,
                header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
                **{f"a.{name}": array for name, array in arrays.items()},
            )

    @classmethod
    def load(cls: type[_S], path: str | Path, fingerprint: str, settings: Mapping[str, Any] | None = None) -> _S:
        """Load an index saved by :meth:`save`, for a cleaner with ``fingerprint``.

        Args:
            path: The ``.npz`` file.
            fingerprint: The fingerprint of the settings in use.
            settings: The settings behind it, if known (to name the
                differences when the index was built with others).

        Raises:
            IndexFileError: The file is missing, damaged, or not a dedup index
                of this kind of store.
            IndexMismatchError: The index was built with other settings.
            IndexStoreError: This kind of store is not kept in files.
        """
        cls._require_file_form()
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
                saved_settings = header.get("settings")
                store = cls(saved, saved_settings if isinstance(saved_settings, dict) else None)
                try:
                    store.check_fingerprint(fingerprint, settings)
                except IndexMismatchError as exc:
                    raise IndexMismatchError(f"{path}: {exc}") from None
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

    @classmethod
    def _require_file_form(cls) -> None:
        """Raise :class:`IndexStoreError` if this kind of store has no file form."""
        if cls._export is IndexStore._export:
            raise IndexStoreError(
                f"the {cls.name} store keeps its index elsewhere and cannot be loaded from a file; "
                "open it with open_store(url, fingerprint) instead"
            )

    def _export(self) -> dict[str, np.ndarray]:
        """The store's content as named plain arrays (no object dtype), for :meth:`save`."""
        raise IndexStoreError(
            f"the {self.name} store keeps its index elsewhere and cannot be saved to a file; "
            "use a memory:// or file:// index for an index file"
        )

    def _import(self, arrays: dict[str, np.ndarray]) -> None:
        """Replace the store's content with what :meth:`_export` returned.

        Raises:
            ValueError: The arrays are missing, of the wrong type, or inconsistent.
        """
        raise IndexStoreError(f"the {self.name} store cannot be loaded from a file")


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

    def __init__(self, fingerprint: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(fingerprint, settings)
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


class FileStore(IndexStore):
    """An in-process index kept in a file between runs.

    The file (a :meth:`MemoryStore.save` snapshot, so ``MemoryStore.load``
    reads it too) is loaded when the store opens, if it exists, and written
    back by :meth:`close`, or on leaving a ``with`` block normally. The write
    is atomic (a temporary file renamed over the old one), so a run killed
    while saving leaves the previous index whole. Leaving a ``with`` block by
    an exception does not save: the file keeps the index as it was before
    the failed run, which would otherwise find its own documents in it when
    run again. Nothing is saved by garbage collection: close the store.

    A wrapper around a :class:`MemoryStore` rather than a subclass: the
    snapshot format and loading stay the memory store's, and this class
    only adds the file's lifetime. One process at a time: two processes
    saving the same file keep only the last one's index (share a
    ``redis://`` index instead).

    Args:
        path: The index file (``.npz``); its directory must exist.
        fingerprint: The fingerprint of the settings in use.
        settings: The settings behind it, stored in the file.

    Raises:
        IndexFileError: The file exists but is not a readable dedup index.
        IndexMismatchError: The file holds an index built with other settings.
        IndexStoreError: The file's directory does not exist or is not writable.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "index.npz"
        >>> with FileStore(path, "f") as store:
        ...     store.check_and_insert_exact("para", 42, Ref("a", 0)) is None
        True
        >>> with FileStore(path, "f") as store:
        ...     store.check_and_insert_exact("para", 42, Ref("b", 3))
        Ref(id='a', paragraph=0)
    """

    name = "file"

    def __init__(self, path: str | Path, fingerprint: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(fingerprint, settings)
        self.path = Path(path)
        directory = self.path.parent
        if not directory.is_dir():
            raise IndexStoreError(f"{self.path}: the directory {directory} does not exist; create it first")
        if not os.access(directory, os.W_OK):
            raise IndexStoreError(f"{self.path}: the directory {directory} is not writable, so no index can be saved")
        if self.path.exists():
            self._index = MemoryStore.load(self.path, fingerprint, settings)
            if settings is None:
                self.settings = self._index.settings
            else:  # an index saved without its settings gains them
                self._index.settings = self.settings
        else:
            self._index = MemoryStore(fingerprint, settings)
        self._closed = False

    def __len__(self) -> int:
        return len(self._index)

    def check_and_insert(
        self, namespace: str, keys: Sequence[int], sketch: bytes, ref: Ref, threshold: float
    ) -> Match | None:
        return self._index.check_and_insert(namespace, keys, sketch, ref, threshold)

    def check_and_insert_exact(self, namespace: str, key: int, ref: Ref) -> Ref | None:
        return self._index.check_and_insert_exact(namespace, key, ref)

    def add_and_count(self, namespace: str, key: int, doc: str) -> int:
        return self._index.add_and_count(namespace, key, doc)

    def close(self) -> None:
        """Save the index to its file (atomically). Closing again does nothing.

        Raises:
            IndexStoreError: The file cannot be written (the old one stays whole).
        """
        if self._closed:
            return
        try:
            self._index.save(self.path)
        except OSError as exc:
            raise IndexStoreError(f"{self.path}: cannot save the index ({exc}); the previous file is whole") from exc
        self._closed = True

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._closed = True  # a failed run: keep the file as it was

    def save(self, path: str | Path) -> None:
        self._index.save(path)


StoreFactory = Callable[[str, str, Mapping[str, Any] | None], IndexStore]
"""Makes a store from its URL, the fingerprint and the settings behind it (or ``None``)."""


def file_index_path(url: str | Path) -> Path | None:
    """The file behind an index URL, as :func:`open_store` reads it; ``None`` for other stores.

    Raises:
        ConfigError: A ``file://`` URL that names no local absolute path.

    Example:
        >>> file_index_path("file:///data/index.npz"), file_index_path("redis://host:6379/0")
        (PosixPath('/data/index.npz'), None)
    """
    url = str(url)
    scheme, found, _ = url.partition("://")
    if not found:
        return None if scheme in _REGISTRY else Path(url)  # "memory" is the memory store; else a plain path
    if scheme != "file":
        return None
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost") or parts.query or parts.fragment or not parts.path:
        raise ConfigError(f"file index {url!r}: expected file:///absolute/path.npz (or a plain path)")
    return Path(unquote(parts.path))


def _open_file(url: str, fingerprint: str, settings: Mapping[str, Any] | None) -> FileStore:
    path = file_index_path(url)
    if path is None:  # only reached through a registry entry of another name
        raise ConfigError(f"{url!r} is not a file index")
    return FileStore(path, fingerprint, settings)


def _open_redis(url: str, fingerprint: str, settings: Mapping[str, Any] | None) -> IndexStore:
    from dedup.redis_store import RedisStore  # its client library is optional

    return RedisStore(url, fingerprint, settings)


_REGISTRY: dict[str, StoreFactory] = {
    "memory": lambda url, fingerprint, settings: MemoryStore(fingerprint, settings),
    "file": _open_file,
    "redis": _open_redis,
    "rediss": _open_redis,
}


def register_store(scheme: str, factory: StoreFactory) -> None:
    """Make a store available to :func:`open_store` under ``scheme``.

    Args:
        scheme: The URL scheme (``"redis"`` for ``redis://...``).
        factory: Called as ``factory(url, fingerprint, settings)`` with the
            whole URL; returns the open store.
    """
    _REGISTRY[scheme] = factory


def store_schemes() -> frozenset[str]:
    """The URL schemes :func:`open_store` opens (``memory``, ``file``, ``redis``, and any registered since)."""
    return frozenset(_REGISTRY)


def open_store(url: str | Path, fingerprint: str, settings: Mapping[str, Any] | None = None) -> IndexStore:
    """Open a store by URL.

    ``memory://`` (or ``memory``), ``file:///abs/path.npz`` or a plain path,
    ``redis://[:PASSWORD@]HOST:PORT/DB?prefix=NAME``. Close the store when
    done (or use it in a ``with`` block): a file store saves on close, a
    Redis store releases its connections.

    Args:
        url: Where the index is.
        fingerprint: :meth:`dedup.config.Config.fingerprint` of the settings in use.
        settings: :meth:`dedup.config.Config.index_settings`; persisted
            stores keep them, and a mismatch then names what differs.

    Raises:
        ConfigError: The URL names no registered store, or is malformed.
        IndexMismatchError: The index was built with other settings.
        IndexFileError: A file index exists but cannot be read.
        IndexStoreError: The store cannot be reached or its driver is missing.

    Example:
        >>> with open_store("memory://", "f") as store:
        ...     store.add_and_count("line", 7, "doc-1")
        0
    """
    url = str(url)
    scheme, found, _ = url.partition("://")
    if not found and scheme not in _REGISTRY:
        scheme = "file"  # a plain path
    factory = _REGISTRY.get(scheme)
    if factory is None:
        raise ConfigError(f"unknown index store {url!r}; available: {', '.join(sorted(_REGISTRY))} (or a file path)")
    return factory(url, fingerprint, settings)


def mismatch_message(
    stored: str, stored_settings: Mapping[str, Any] | None, used: str, used_settings: Mapping[str, Any] | None
) -> str:
    """Why an index built under fingerprint ``stored`` refuses settings with fingerprint ``used``.

    Lists the settings that differ when both sides' settings are known.
    """
    message = f"the index was built with settings {stored}, but the cleaner uses {used}"
    if stored_settings is not None and used_settings is not None:
        ours, theirs = _flatten(used_settings), _flatten(stored_settings)
        differ = [
            f"{name}: {theirs.get(name, '(not set)')!r} in the index, {ours.get(name, '(not set)')!r} now"
            for name in sorted(set(ours) | set(theirs))
            if ours.get(name, _MISSING) != theirs.get(name, _MISSING)
        ]
        if differ:
            message += " (" + "; ".join(differ) + ")"
    return message + "; use the settings the index was built with, or start a new index"


_MISSING = object()


def _flatten(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in settings.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


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
