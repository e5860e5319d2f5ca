"""Local engine against the Ray engine on the speed corpus: documents/s, MB/s, the driver's peak memory.

Each run is a fresh process that calls :func:`dedup.run.clean_files` once
(``--engine ray`` starts a local Ray with ``--workers`` CPUs, counted in the
time) and reports the wall time and its own peak resident memory: for the
Ray engine that is the driver alone, the Ray workers being other processes.
Both engines' outputs are compared byte for byte.

    python benchmarks/ray_speed.py --data /tmp/speed30 --mb 30
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.speed import ensure_corpus


def measure(corpus: Path, output: Path, engine: str, workers: int) -> dict[str, float]:
    """One run in this process: seconds and peak resident MiB."""
    from dedup.run import clean_files

    start = time.perf_counter()
    counts = clean_files(corpus, output, report=output.with_suffix(".report"), engine=engine, workers=workers)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "documents": counts.documents_in, "peak_mib": peak_mib}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, required=True, help="where the corpus is made, or reused")
    parser.add_argument("--mb", type=float, default=30.0, help="corpus size in MB")
    parser.add_argument("--workers", default="1,2", help="CPU counts, comma-separated")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        corpus, output, engine, workers = args.child
        print(json.dumps(measure(Path(corpus), Path(output), engine, int(workers))))
        return 0
    args.data.mkdir(parents=True, exist_ok=True)
    info = ensure_corpus(args.data, args.mb)
    corpus = info.path
    size = corpus.stat().st_size
    rows = []
    with tempfile.TemporaryDirectory() as work:
        outputs = {}
        for workers in (int(w) for w in args.workers.split(",")):
            for engine in ("local", "ray"):
                output = Path(work) / f"{engine}-{workers}.jsonl"
                done = subprocess.run(
                    [sys.executable, __file__, "--data", str(args.data), "--child", str(corpus), str(output), engine,
                     str(workers)],
                    check=True, capture_output=True, text=True,
                )
                result = json.loads(done.stdout.strip().splitlines()[-1])
                outputs[(engine, workers)] = (output.read_bytes(), output.with_suffix(".report").read_bytes())
                rows.append({"engine": engine, "workers": workers, **result,
                             "docs_per_s": result["documents"] / result["seconds"],
                             "mb_per_s": size / 1e6 / result["seconds"]})
        identical = len(set(outputs.values())) == 1
    print(f"corpus: {size / 1e6:.1f} MB, {rows[0]['documents']} documents; outputs identical: {identical}")
    print("| engine | CPUs | seconds | documents/s | MB/s | driver peak MiB |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['engine']} | {row['workers']} | {row['seconds']:.1f} | {row['docs_per_s']:.0f} | "
              f"{row['mb_per_s']:.2f} | {row['peak_mib']:.0f} |")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
