"""A compact in-memory LSH index: band keys to item numbers.

datasketch's in-memory ``MinHashLSH`` keeps a Python dict per band with
the whole signature behind it: about 3 KB per item. Here an item costs its
band entries (a 32-bit key and a 32-bit item number each, in sorted numpy
runs), a 4-bit-per-permutation sketch for verification, and its reference:
under 300 bytes for a document with 25 bands.

New entries go to a small dict; when it fills it becomes a sorted run, and
runs of similar size are merged (as in a log-structured merge tree), so
there are O(log n) runs and a lookup is one ``searchsorted`` per run.
Keys are folded to 32 bits: a false match only adds a candidate, which
verification removes.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

_BUFFER = 1 << 18  # entries held in the dict (~25 MB at most) before they become a sorted run


class BandIndex:
    """Band keys to the items that have them.

    Example:
        >>> index = BandIndex()
        >>> index.add([11, 12], 0)
        >>> index.add([12, 13], 1)
        >>> sorted(index.candidates([12]))
        [0, 1]
    """

    def __init__(self) -> None:
        self._buffer: dict[int, int | list[int]] = {}
        self._buffered = 0
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []

    def __len__(self) -> int:
        return self._buffered + sum(len(keys) for keys, _ in self._runs)

    @property
    def nbytes(self) -> int:
        """Memory held by the sorted runs (the buffer is bounded by ``_BUFFER``)."""
        return sum(keys.nbytes + items.nbytes for keys, items in self._runs)

    @staticmethod
    def fold(keys: Iterable[int]) -> list[int]:
        """64-bit band keys folded to the 32 bits stored."""
        return [(k ^ (k >> 32)) & 0xFFFFFFFF for k in keys]

    def candidates(self, keys: Iterable[int]) -> set[int]:
        """Items sharing at least one band key with ``keys``."""
        folded = self.fold(keys)
        found: set[int] = set()
        for key in folded:
            hit = self._buffer.get(key)
            if hit is None:
                continue
            if isinstance(hit, int):
                found.add(hit)
            else:
                found.update(hit)
        if self._runs:
            query = np.asarray(folded, dtype=np.uint32)
            for run_keys, run_items in self._runs:
                lo = np.searchsorted(run_keys, query, side="left")
                shared = lo < len(run_keys)
                shared[shared] = run_keys[lo[shared]] == query[shared]
                if not shared.any():  # the common case: no shared band at all
                    continue
                hi = np.searchsorted(run_keys, query[shared], side="right")
                for a, b in zip(lo[shared].tolist(), hi.tolist(), strict=True):
                    found.update(run_items[a:b].tolist())
        return found

    def add(self, keys: Iterable[int], item: int) -> None:
        """Record that ``item`` has these band keys."""
        for key in self.fold(keys):
            hit = self._buffer.get(key)
            if hit is None:
                self._buffer[key] = item  # most keys are held by one item: keep the bare int
            elif isinstance(hit, int):
                self._buffer[key] = [hit, item]
            else:
                hit.append(item)
            self._buffered += 1
        if self._buffered >= _BUFFER:
            self._flush()

    def _flush(self) -> None:
        keys = np.empty(self._buffered, dtype=np.uint32)
        items = np.empty(self._buffered, dtype=np.int32)
        i = 0
        for key, hit in self._buffer.items():
            for item in [hit] if isinstance(hit, int) else hit:
                keys[i], items[i] = key, item
                i += 1
        order = np.argsort(keys, kind="stable")
        self._runs.append((keys[order], items[order]))
        self._buffer, self._buffered = {}, 0
        # Merge while the newest run is at least as large as the one before: O(log n) runs.
        while len(self._runs) > 1 and len(self._runs[-1][0]) >= len(self._runs[-2][0]):
            (k2, i2), (k1, i1) = self._runs.pop(), self._runs.pop()
            keys, items = np.concatenate([k1, k2]), np.concatenate([i1, i2])
            order = np.argsort(keys, kind="stable")
            self._runs.append((keys[order], items[order]))

    def export(self) -> tuple[np.ndarray, np.ndarray]:
        """All entries as ``(keys, items)`` arrays sorted by key, for saving."""
        if self._buffered:
            self._flush()
        if not self._runs:
            return np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.int32)
        keys = np.concatenate([k for k, _ in self._runs])
        items = np.concatenate([i for _, i in self._runs])
        order = np.argsort(keys, kind="stable")
        return keys[order], items[order]

    @classmethod
    def restore(cls, keys: np.ndarray, items: np.ndarray) -> BandIndex:
        """An index holding the entries of :meth:`export`."""
        index = cls()
        if len(keys):
            index._runs.append((np.asarray(keys, dtype=np.uint32), np.asarray(items, dtype=np.int32)))
        return index
