"""Local engine against the Ray engine on the speed corpus: documents/s, MB/s, the driver's peak memory.

Each run is a fresh process that calls :func:`dedup.run.clean_files` once
(``--engine ray`` starts a local Ray with ``--workers`` CPUs, counted in the
time) and reports the wall time and its own peak resident memory: for the
Ray engine that is the driver alone, the Ray workers being other processes.
Both engines' outputs are compared byte for byte. For Ray it also reports
the seconds spent starting Ray, waiting for the analyses still running
once the input is read, and in the cross-document shuffles
(:func:`dedup.engines.shuffle.cross_document`), the rest being reading
(with the analysis running meanwhile) and the last pass (resolving and
rendering each batch on the workers, the driver copying the bytes into
the output in order). Several corpus sizes show how the driver's peak grows with the
corpus: its peak RSS, and its private memory alone (Ray's object store
is shared memory, which RSS counts once a process has touched it).

    python benchmarks/ray_speed.py --data /tmp/speed --mb 10,30
    python benchmarks/ray_speed.py --data /tmp/speed --mb 10,30 --workers 2 --engines ray
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.speed import ensure_corpus


def measure(corpus: Path, output: Path, engine: str, workers: int) -> dict[str, float]:
    """One run in this process: seconds, peak resident MiB, and for Ray where the time went."""
    from dedup.run import clean_files

    parts = {"ray_start_s": 0.0, "analysis_wait_s": 0.0, "shuffles_s": 0.0}
    private = _PrivatePeak()
    start = time.perf_counter()
    if engine == "ray":
        from dedup.engines import ray as ray_engine

        ray_engine.connect(None, workers)  # clean_files reuses this Ray
        parts["ray_start_s"] = time.perf_counter() - start
        cross_document = ray_engine.cross_document

        def timed(ray: Any, config: Any, context: Any, batches: Any, stats: Any = None) -> Any:
            began = time.perf_counter()
            wires = [wire for _, wire in batches]
            ray.wait(wires, num_returns=len(wires))  # the analyses still running when the input is read
            parts["analysis_wait_s"] += time.perf_counter() - began
            began = time.perf_counter()
            try:
                return cross_document(ray, config, context, batches, stats)
            finally:
                parts["shuffles_s"] += time.perf_counter() - began

        ray_engine.cross_document = timed  # type: ignore[assignment]
    counts = clean_files(corpus, output, report=output.with_suffix(".report"), engine=engine, workers=workers)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "documents": counts.documents_in, "peak_mib": peak_mib,
            "private_peak_mib": private.stop(), **parts}


class _PrivatePeak:
    """The peak of this process's private resident memory (``RssAnon``), sampled every 50 ms.

    The peak RSS also counts the pages of Ray's shared-memory object store
    that this process wrote or read (``RssShmem``), which are not its own.
    """

    def __init__(self) -> None:
        self.peak_kib = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while True:
            with open("/proc/self/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("RssAnon:"):
                        self.peak_kib = max(self.peak_kib, int(line.split()[1]))
            if self._done.wait(0.05):
                return

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return self.peak_kib / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, required=True, help="where the corpus is made, or reused")
    parser.add_argument("--mb", default="30", help="corpus sizes in MB, comma-separated")
    parser.add_argument("--workers", default="1,2", help="CPU counts, comma-separated")
    parser.add_argument("--engines", default="local,ray", help="engines, comma-separated")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        corpus, output, engine, workers = args.child
        print(json.dumps(measure(Path(corpus), Path(output), engine, int(workers))))
        return 0
    identical = True
    # One run per corpus has nothing to be compared with: say so rather than "identical".
    compared = len(args.workers.split(",")) * len(args.engines.split(",")) > 1
    print(f"load before: {os.getloadavg()[0]:.1f}")
    print("| MB | documents | engine | CPUs | seconds | documents/s | MB/s | driver peak RSS MiB | private MiB "
          "| Ray start s | analysis wait s | shuffles s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for mb in (float(m) for m in args.mb.split(",")):
        data = args.data / f"{mb:g}mb"
        corpus = ensure_corpus(data, mb).path
        size = corpus.stat().st_size
        with tempfile.TemporaryDirectory() as work:
            outputs = set()
            for workers in (int(w) for w in args.workers.split(",")):
                for engine in args.engines.split(","):
                    output = Path(work) / f"{engine}-{workers}.jsonl"
                    done = subprocess.run(
                        [sys.executable, __file__, "--data", str(data), "--child", str(corpus), str(output), engine,
                         str(workers)],
                        check=True, capture_output=True, text=True,
                    )
                    row = json.loads(done.stdout.strip().splitlines()[-1])
                    outputs.add((output.read_bytes(), output.with_suffix(".report").read_bytes()))
                    ray_parts = (
                        f"{row['ray_start_s']:.1f} | {row['analysis_wait_s']:.1f} | {row['shuffles_s']:.1f}"
                        if engine == "ray" else "- | - | -"
                    )
                    print(f"| {size / 1e6:.1f} | {row['documents']} | {engine} | {workers} | {row['seconds']:.1f} | "
                          f"{row['documents'] / row['seconds']:.0f} | {size / 1e6 / row['seconds']:.2f} | "
                          f"{row['peak_mib']:.0f} | {row['private_peak_mib']:.0f} | {ray_parts} |", flush=True)
            identical = identical and len(outputs) == 1
    verdict = identical if compared else "not compared (one run per corpus)"
    print(f"outputs and reports identical: {verdict}; load after: {os.getloadavg()[0]:.1f}")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
