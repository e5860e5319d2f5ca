"""Index stores: throughput of ``check_and_insert``, duplicates kept twice, memory per document.

The documents are the BBC News articles (see :mod:`benchmarks.corpus`),
each followed by a lightly edited copy (two edits per paragraph: synonyms,
spellings, dropped words, punctuation), so that every article makes one
near-duplicate pair. Signatures, band keys and sketches are computed first
(document namespace, the cleaner's default threshold of 0.7 and its LSH
slack); what is timed is only the stream of ``check_and_insert`` calls.

- Redis, shared by 1, 2 and 4 processes: the stream is dealt round-robin,
  so the two copies of an article go to neighbouring processes at about
  the same moment, and a store that was not atomic would keep both.
- Memory and file stores, in one process (the file store's time includes
  loading nothing and saving the snapshot on close).

"Kept twice" is the share of pairs whose two copies were both inserted:
LSH misses and estimates under the threshold, which every store shares,
plus whatever a race adds. Redis memory is ``INFO memory`` ``used_memory``
before and after one index is filled; the memory store's is what
``tracemalloc`` sees allocated while it is filled (its band keys are still
in the insertion buffer at this size, see :mod:`dedup.bands`), and the
index file's size per document shows the compact form.

Run from the repository root: ``python benchmarks/index_stores.py``
(starts its own ``redis-server`` unless ``--redis URL`` is given).
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from random import Random
from typing import Any

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import light_edit, load_articles
from dedup.config import Config
from dedup.data import Ref
from dedup.minhash import RECALL_SLACK, band_keys, lsh_params, signatures, sketches
from dedup.shingle import normalise, shingle_hashes
from dedup.store import MemoryStore, open_store

CONFIG = Config()
THRESHOLD = CONFIG.dedup.doc_threshold
Item = tuple[list[int], bytes, Ref]


def build_items(limit: int | None, seed: int = 1) -> list[Item]:
    """Article, edited copy, article, edited copy, ...: two items per article."""
    rng = Random(seed)
    texts: list[str] = []
    for article in load_articles().articles[:limit]:
        texts.append(article.text)
        texts.append("\n".join(light_edit(p, rng, edits=2) for p in article.paragraphs))
    shingle = CONFIG.shingle
    sigs = signatures([shingle_hashes(normalise(t), shingle.size) for t in texts], shingle)
    keys = band_keys(sigs, *lsh_params(THRESHOLD, shingle.num_perm, RECALL_SLACK)).tolist()
    return [(k, s, Ref(f"doc-{i}")) for i, (k, s) in enumerate(zip(keys, sketches(sigs), strict=True))]


def kept_twice(inserted: set[int], n_items: int) -> float:
    """Share of article/copy pairs of which both items were inserted."""
    pairs = n_items // 2
    return sum(1 for p in range(pairs) if 2 * p in inserted and 2 * p + 1 in inserted) / pairs


def _worker(url: str, items: list[tuple[int, Item]], barrier: Any, results: Any) -> None:
    with open_store(url, CONFIG.fingerprint(), CONFIG.index_settings()) as store:
        barrier.wait()
        start = time.perf_counter()
        inserted = [n for n, (keys, sk, ref) in items
                    if store.check_and_insert("doc", keys, sk, ref, THRESHOLD) is None]
        elapsed = time.perf_counter() - start
    results.put((inserted, elapsed))


def run_shared(url: str, items: Sequence[Item], processes: int) -> dict[str, float]:
    """``processes`` processes feeding one index at ``url``, the items dealt round-robin."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes), context.Queue()
    numbered = list(enumerate(items))
    workers = [
        context.Process(target=_worker, args=(url, numbered[p::processes], barrier, results)) for p in range(processes)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=3600) for _ in workers]
    for worker in workers:
        worker.join()
    inserted = {n for found, _ in outcomes for n in found}
    slowest = max(elapsed for _, elapsed in outcomes)
    return {"docs_per_s": len(items) / slowest, "kept_twice": kept_twice(inserted, len(items)),
            "inserted": len(inserted)}


def run_local(url: str, items: Sequence[Item]) -> dict[str, float]:
    """One process, the items in order, through the store at ``url`` (opened and closed inside the timing)."""
    start = time.perf_counter()
    with open_store(url, CONFIG.fingerprint(), CONFIG.index_settings()) as store:
        inserted = {n for n, (keys, sk, ref) in enumerate(items)
                    if store.check_and_insert("doc", keys, sk, ref, THRESHOLD) is None}
    elapsed = time.perf_counter() - start
    return {"docs_per_s": len(items) / elapsed, "kept_twice": kept_twice(inserted, len(items)),
            "inserted": len(inserted)}


def memory_store_bytes(items: Sequence[Item]) -> tuple[float, int]:
    """Bytes per inserted document allocated by a memory store, and the number inserted."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    store = MemoryStore(CONFIG.fingerprint())
    for keys, sk, ref in items:
        store.check_and_insert("doc", keys, sk, ref, THRESHOLD)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / len(store), len(store)


def redis_bytes(url: str, items: Sequence[Item]) -> tuple[float, int]:
    """Bytes per inserted document of ``used_memory`` on the server, and the number inserted."""
    import redis

    client = redis.Redis.from_url(url.partition("?")[0])
    before = int(client.info("memory")["used_memory"])
    with open_store(url, CONFIG.fingerprint(), CONFIG.index_settings()) as store:
        inserted = sum(store.check_and_insert("doc", k, s, r, THRESHOLD) is None for k, s, r in items)
    after = int(client.info("memory")["used_memory"])
    return (after - before) / inserted, inserted


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on a free local port (nothing saved to disk)."""
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server not found: install it (apt-get install redis-server) or pass --redis URL")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as directory:
        process = subprocess.Popen(
            [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
             "--dir", directory], stdout=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("redis-server did not start") from None
                    time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(10)


def redis_version(url: str) -> str:
    import redis

    return str(redis.Redis.from_url(url).info("server")["redis_version"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis", help="redis://HOST:PORT/DB of a server to use (default: start one)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N articles")
    parser.add_argument("--processes", default="1,2,4", help="process counts for the shared Redis index")
    args = parser.parse_args(argv)
    items = build_items(args.limit)
    counts = [int(p) for p in args.processes.split(",")]
    print(f"{len(items)} documents ({len(items) // 2} article/copy pairs), threshold {THRESHOLD}")
    with (redis_server() if args.redis is None else _given(args.redis)) as base:
        print(f"redis-server {redis_version(base)}")
        rows: list[tuple[str, dict[str, float]]] = []
        for processes in counts:
            url = f"{base}?prefix=bench-{uuid.uuid4().hex}"
            rows.append((f"redis, {processes} process{'es' if processes > 1 else ''}",
                         run_shared(url, items, processes)))
        rows.append(("memory, 1 process", run_local("memory://", items)))
        with tempfile.TemporaryDirectory() as directory:
            rows.append(("file, 1 process (with save)", run_local(f"{directory}/index.npz", items)))
            file_per_doc = Path(directory, "index.npz").stat().st_size / rows[-1][1]["inserted"]
        redis_per_doc, redis_n = redis_bytes(f"{base}?prefix=bench-mem-{uuid.uuid4().hex}", items)
    memory_per_doc, memory_n = memory_store_bytes(items)
    print(f"{'store':<30} {'docs/s':>9} {'kept twice':>11} {'inserted':>9}")
    for name, row in rows:
        print(f"{name:<30} {row['docs_per_s']:>9,.0f} {row['kept_twice']:>10.2%} {row['inserted']:>9,.0f}")
    print(f"memory per indexed document: redis {redis_per_doc:,.0f} B ({redis_n} docs), "
          f"memory store {memory_per_doc:,.0f} B ({memory_n} docs); index file {file_per_doc:,.0f} B")
    return 0


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    raise SystemExit(main())
