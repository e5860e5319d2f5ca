"""Speed benchmark: throughput and memory of ``dedup clean``, beside peer tools.

One invocation does everything::

    python benchmarks/speed.py [--mb 200] [--workers 1,2] [--repeat 3] [--skip-peers]
                               [--data DIR] [--json OUT.json] [--no-text-dedup]

A smoke run, for tests: ``python benchmarks/speed.py --mb 5 --repeat 1`` (its
time is mostly the two ``dedup clean`` runs, plus about half a minute the
first time, to install text-dedup).
Peer packages are pinned in ``benchmarks/requirements-speed.txt``; text-dedup,
whose declared dependencies clash with dedup's environment, in
``benchmarks/requirements-text-dedup.txt``, installed into a virtualenv of its
own (see :func:`ensure_text_dedup_venv`).

Steps
-----
1. Corpus. A damaged JSONL corpus of at least ``--mb`` MB is generated from
   the BBC data through :func:`benchmarks.corpus.build_corpus`, one replica
   per (split, seed). The source is only a few MB, so each replica is made
   distinct: half of the content-word types (the 100 most frequent words
   are left alone) are swapped for words of similar frequency, by a
   mapping of its own, and sentences are rotated in about half of the
   paragraphs. Both are functions of the replica and the text, so a
   syndicated copy and its original, or a paragraph scraped twice, stay
   the repeats they were planted as, while two replicas of one article
   share only about a quarter of their shingles. With ``--data DIR`` the
   corpus is kept there and reused when generated with the same parameters.
2. ``dedup clean IN -o OUT --summary S --workers N`` runs as a subprocess
   for each ``N`` in ``--workers``, ``--repeat`` times: the median wall
   time gives MB/s (input bytes, MB = 10**6 bytes) and paragraphs/s. Peak
   memory is the larger of the sum of the resident sets of the process
   tree, workers included, sampled every 50 ms, and the largest single
   process's own peak (``ru_maxrss`` of the children of a small wrapper
   process). The duplicate rate of the corpus is the share of documents
   the run drops as ``duplicate_document``.
3. Peers, on the same text:

   - a reference pipeline using datasketch the usual way (a ``MinHash`` per
     paragraph fed shingle by shingle, a ``MinHashLSH`` per document at 0.5
     for repeats and a global one at 0.7 for documents), timed on the
     first ``--reference-mb`` MB within a time budget and extrapolated;
   - the signature stage alone: :func:`dedup.shingle.shingle_hashes` plus
     :func:`dedup.minhash.signatures` against rensa (``RMinHash`` update
     and digest, as documented, plus its bulk calls) and datasketch
     ``update_batch``, all fed the character 5-grams of the normalised
     paragraphs of the first ``--peer-mb`` MB of the input;
   - text-dedup's MinHash embedding (``text_dedup.minhash.embed_func``, set
     up as its ``minhash`` command sets it up, at 128 permutations), run by
     the Python of its own virtualenv in a subprocess that times each batch;
   - scikit-learn ``TfidfVectorizer.fit_transform`` beside dedup's topic
     stage (:meth:`dedup.topic.TopicModel.signals` and scoring).

   Each stage tool stops after its time budget (``--peer-seconds``); a
   ratio dedup/peer is always taken over the batches both processed.
4. A table is printed, and ``--json`` gets every number, the machine and
   the exact commands run. The targets are printed as PASS or FAIL; none
   of them fails the run.

Runs beyond the first round of ``dedup clean`` are skipped when they would
end after ``--budget-minutes``; the output says how many runs were made.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from random import Random
from typing import Any

if __package__ in (None, ""):
    # Run as a script: make ``benchmarks`` and ``dedup`` importable from the checkout.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.corpus import SPLITS, build_corpus, find_bbc_data, load_articles

MB = 1_000_000
GENERATOR_VERSION = 1
CORPUS_NAME = "corpus.jsonl"
MANIFEST_NAME = "corpus.json"
SWAP_SHARE = 0.5
KEEP_TOP_WORDS = 100  # function words stay, so the text still reads as English word order
SWAP_WINDOW = 200  # a swapped word keeps a similar frequency, so vocabulary statistics stay realistic
NUM_PERM = 128
SHINGLE_SIZE = 5
MINHASH_SEED = 1
DOCS_PER_BATCH = 256  # as dedup's cleaner batches documents, so the stage timings see its batch shapes
SAMPLE_INTERVAL_S = 0.05
RSS_LIMIT_MB = 2000.0
BUSY_PERCENT = 25.0  # CPU use by others, sampled while the benchmark is idle, above which numbers are suspect
FULL_SIZE_MB = 200.0
VERSION_PACKAGES = ("dedup", "numpy", "scipy", "scikit-learn", "datasketch", "rensa", "psutil")
TEXT_DEDUP_REQUIREMENTS = Path(__file__).resolve().with_name("requirements-text-dedup.txt")
TEXT_DEDUP_MARKER = "dedup-speed.json"  # written into the virtualenv once text-dedup is installed and imports
TEXT_DEDUP_INSTALL_TIMEOUT_S = 600.0  # per setup step; pip itself gives up sooner without network

_WORD = re.compile(r"[A-Za-z]+")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'\u2018\u201c])")


# --------------------------------------------------------------------------
# Corpus


@dataclass
class CorpusInfo:
    """The generated corpus and what it holds.

    Attributes:
        path: The JSONL file.
        n_bytes: Its size in bytes.
        documents: Documents in it.
        paragraphs: Non-empty lines of their texts.
        planted_duplicates: Syndicated copies planted by the corpus builder,
            which a cleaner should drop as duplicate documents.
        replicas: Corpora built (one per split and seed).
        params: The parameters it was generated with.
        seconds: Time to generate it (0 when reused).
        reused: Whether an existing corpus was reused.
    """

    path: Path
    n_bytes: int
    documents: int
    paragraphs: int
    planted_duplicates: int
    replicas: int
    params: dict[str, Any]
    seconds: float = 0.0
    reused: bool = False


def corpus_params(mb: float) -> dict[str, Any]:
    """Everything the generated corpus depends on, for deciding whether to reuse one."""
    source = find_bbc_data()
    return {
        "generator": GENERATOR_VERSION,
        "mb": mb,
        "swap_share": SWAP_SHARE,
        "keep_top_words": KEEP_TOP_WORDS,
        "swap_window": SWAP_WINDOW,
        "source": source.name,
        "source_bytes": source.stat().st_size,
    }


def vocabulary(texts: Sequence[str]) -> list[str]:
    """Lower-case words of ``texts``, most frequent first (ties alphabetically)."""
    counts = Counter(word.lower() for text in texts for word in _WORD.findall(text))
    return sorted(counts, key=lambda word: (-counts[word], word))


def word_swaps(vocab: Sequence[str], seed: int, share: float = SWAP_SHARE) -> dict[str, str]:
    """One replica's word mapping.

    Args:
        vocab: Words by falling frequency.
        seed: The replica's seed.
        share: Share of eligible word types that are swapped.

    Returns:
        Lower-case, capitalised and upper-case forms of each swapped word,
        mapped to the same form of a word of similar frequency rank.
    """
    rng = Random(seed)
    swaps: dict[str, str] = {}
    last = len(vocab) - 1
    for rank, word in enumerate(vocab):
        # Draw for every word, eligible or not, so that a word's fate does not depend on its neighbours'.
        draw, pick = rng.random(), rng.randint(-SWAP_WINDOW, SWAP_WINDOW)
        if rank < KEEP_TOP_WORDS or len(word) < 3 or draw >= share:
            continue
        other = vocab[min(last, max(KEEP_TOP_WORDS, rank + pick))]
        if other == word:
            continue
        swaps[word] = other
        swaps[word.capitalize()] = other.capitalize()
        swaps[word.upper()] = other.upper()
    return swaps


def rotate_sentences(paragraph: str, salt: int) -> str:
    """Rotate the sentences of about half of the paragraphs, by a function of the text and ``salt``."""
    h = zlib.crc32(paragraph.encode("utf-8"), salt)
    if h & 1:
        return paragraph
    sentences = _SENTENCE_BREAK.split(paragraph)
    if len(sentences) < 2:
        return paragraph
    k = 1 + (h >> 1) % (len(sentences) - 1)
    return " ".join(sentences[k:] + sentences[:k])


def perturb(text: str, swaps: dict[str, str], salt: int) -> str:
    """A replica's version of a document: sentences rotated, then words swapped.

    Equal paragraphs stay equal and similar ones stay similar within a
    replica, since both steps depend only on the text and the replica.
    """
    rotated = "\n".join(rotate_sentences(p, salt) for p in text.split("\n"))
    return _WORD.sub(lambda m: swaps.get(m[0], m[0]), rotated)


def generate_corpus(path: Path, mb: float) -> tuple[int, int, int, int, int]:
    """Write the corpus to ``path``.

    Replica ``r`` is :func:`build_corpus` of split ``SPLITS[r % 2]`` with
    seed ``r // 2``, perturbed with word swaps seeded by ``r``; document
    ids are prefixed with the replica number. Writing stops at the first
    document that takes the file to ``mb`` MB.

    Returns:
        ``(bytes, documents, paragraphs, planted duplicates, replicas)``.
    """
    source = load_articles()
    vocab = vocabulary([article.text for article in source.articles])
    target = int(mb * MB)
    n_bytes = documents = paragraphs = planted = replicas = 0
    with open(path, "wb") as out:
        while n_bytes < target:
            replica = replicas
            replicas += 1
            swaps = word_swaps(vocab, seed=replica)
            salt = (replica * 0x9E3779B1) & 0xFFFFFFFF
            for sample in build_corpus(SPLITS[replica % 2], seed=replica // 2):
                doc = sample.doc
                text = perturb(doc["text"], swaps, salt)
                record = {"id": f"r{replica:03d}-{doc['id']}", "text": text, "category": doc["category"]}
                data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
                out.write(data)
                n_bytes += len(data)
                documents += 1
                paragraphs += sum(1 for line in text.split("\n") if line.strip())
                planted += sample.expected_drop == "duplicate_document"
                if n_bytes >= target:
                    break
    return n_bytes, documents, paragraphs, planted, replicas


def ensure_corpus(data_dir: Path, mb: float) -> CorpusInfo:
    """Generate the corpus in ``data_dir``, or reuse the one there if made with the same parameters."""
    params = corpus_params(mb)
    path = data_dir / CORPUS_NAME
    manifest = data_dir / MANIFEST_NAME
    if path.is_file() and manifest.is_file():
        saved = json.loads(manifest.read_text(encoding="utf-8"))
        if saved.get("params") == params and saved.get("n_bytes") == path.stat().st_size:
            return CorpusInfo(
                path, saved["n_bytes"], saved["documents"], saved["paragraphs"], saved["planted_duplicates"],
                saved["replicas"], params, 0.0, True,
            )
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    partial = path.with_name(path.name + ".partial")
    n_bytes, documents, paragraphs, planted, replicas = generate_corpus(partial, mb)
    os.replace(partial, path)
    info = CorpusInfo(path, n_bytes, documents, paragraphs, planted, replicas, params,
                      time.perf_counter() - started)
    saved = {k: v for k, v in asdict(info).items() if k not in ("path", "seconds", "reused")}
    manifest.write_text(json.dumps(saved, indent=2) + "\n", encoding="utf-8")
    return info


# --------------------------------------------------------------------------
# Measured subprocess runs


@dataclass
class Measured:
    """Time and memory of one subprocess run.

    Attributes:
        wall_s: Wall time from start to exit.
        user_s: User CPU time of the process and its reaped descendants.
        sys_s: System CPU time, likewise.
        max_process_rss_mb: The largest peak resident set of any single
            process of the tree (``ru_maxrss`` of the wrapper's children).
        tree_peak_rss_mb: The largest sampled sum of resident sets over the
            whole tree, or ``None`` without psutil.
        returncode: The exit status.
        stderr: The end of what it wrote to stderr.
        timed_out: Whether it was killed for running past its time limit.
    """

    wall_s: float
    user_s: float
    sys_s: float
    max_process_rss_mb: float
    tree_peak_rss_mb: float | None
    returncode: int
    stderr: str
    timed_out: bool = False


# Runs the command and reports its rusage. A child forked from the benchmark
# itself would report the benchmark's resident set as its own peak (Linux
# keeps the pre-exec high-water mark in ru_maxrss); forked from this small
# process, it reports only its own and its reaped workers'. The command gets a
# process group of its own, so that a run past its time limit (or an
# interrupted benchmark) ends with its workers.
_WRAPPER = """
import json, os, resource, signal, subprocess, sys, time
limit = float(sys.argv[1]) or None
start = time.perf_counter()
child = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True)
timed_out = False
try:
    code = child.wait(timeout=limit)
except subprocess.TimeoutExpired:
    os.killpg(child.pid, signal.SIGKILL)
    code, timed_out = child.wait(), True
except BaseException:
    os.killpg(child.pid, signal.SIGKILL)
    raise
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"code": code, "wall": wall, "user": usage.ru_utime, "sys": usage.ru_stime,
                  "maxrss_kib": usage.ru_maxrss, "timed_out": timed_out}))
"""


def _tree_sampler(pid: int, stop: threading.Event, peak: list[int]) -> None:
    import psutil

    try:
        wrapper = psutil.Process(pid)
    except psutil.Error:
        return
    while not stop.is_set():
        total = 0
        try:
            processes = wrapper.children(recursive=True)
        except psutil.Error:
            break
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.Error:
                continue  # a worker that exited between listing and reading
        peak[0] = max(peak[0], total)
        stop.wait(SAMPLE_INTERVAL_S)


def _has_psutil() -> bool:
    try:
        import psutil  # noqa: F401
    except ImportError:
        return False
    return True


def run_measured(command: Sequence[str], timeout_s: float | None = None) -> Measured:
    """Run ``command`` under a small wrapper process and measure it.

    Args:
        command: The command.
        timeout_s: Kill it (and its process group) after this many seconds.

    Raises:
        RuntimeError: The wrapper itself failed.
    """
    sampling = _has_psutil()
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [sys.executable, "-c", _WRAPPER, str(timeout_s or 0), *command],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
        )
        stop, peak = threading.Event(), [0]
        sampler = threading.Thread(target=_tree_sampler, args=(process.pid, stop, peak), daemon=True)
        if sampling:
            sampler.start()
        out, _ = process.communicate()
        stop.set()
        if sampling:
            sampler.join()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")[-2000:]
    if process.returncode != 0:
        raise RuntimeError(f"the measuring wrapper failed: {stderr}")
    usage = json.loads(out)
    return Measured(
        wall_s=usage["wall"],
        user_s=usage["user"],
        sys_s=usage["sys"],
        max_process_rss_mb=usage["maxrss_kib"] * 1024 / MB,
        tree_peak_rss_mb=peak[0] / MB if sampling else None,
        returncode=usage["code"],
        stderr=stderr,
        timed_out=usage["timed_out"],
    )


# --------------------------------------------------------------------------
# dedup clean


@dataclass
class DedupRun:
    """One ``dedup clean`` run."""

    workers: int
    round: int
    command: list[str]
    measured: Measured
    summary: dict[str, Any] | None


def dedup_executable() -> list[str]:
    """The ``dedup`` command of this interpreter's environment."""
    beside = Path(sys.executable).with_name("dedup")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("dedup")
    if found:
        return [found]
    raise SystemExit("the dedup command is not installed; run `pip install -e .` in the checkout")


def run_dedup(
    executable: list[str], corpus: Path, work: Path, workers: int, round_: int, timeout_s: float | None
) -> DedupRun:
    """Run ``dedup clean`` once with ``workers`` processes, killed after ``timeout_s``."""
    output = work / f"out-w{workers}.jsonl"
    summary_path = work / f"summary-w{workers}-{round_}.json"
    command = [
        *executable, "clean", str(corpus), "-o", str(output), "--summary", str(summary_path),
        "--workers", str(workers),
    ]
    measured = run_measured(command, timeout_s)
    summary = None
    if measured.returncode == 0 and summary_path.is_file():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    output.unlink(missing_ok=True)  # as big as the input: do not keep one per run
    for partial in work.glob(".*.partial"):  # left by a run killed at its time limit
        partial.unlink()
    return DedupRun(workers, round_, command, measured, summary)


def summarise_runs(runs: Sequence[DedupRun], n_bytes: int) -> dict[int, dict[str, Any]]:
    """Per worker count: median wall time, MB/s, paragraphs/s and peak memory over the successful runs."""
    result: dict[int, dict[str, Any]] = {}
    for workers in sorted({run.workers for run in runs}):
        mine = [run for run in runs if run.workers == workers]
        good = [run for run in mine if run.measured.returncode == 0 and run.summary is not None]
        entry: dict[str, Any] = {"runs": len(mine), "successful": len(good)}
        if good:
            wall = statistics.median(run.measured.wall_s for run in good)
            paragraphs = good[0].summary["paragraphs"]["in"] if good[0].summary else 0
            tree = [run.measured.tree_peak_rss_mb for run in good if run.measured.tree_peak_rss_mb is not None]
            largest = max(run.measured.max_process_rss_mb for run in good)
            entry.update(
                wall_s=wall,
                walls_s=[run.measured.wall_s for run in good],
                mb_per_s=n_bytes / MB / wall,
                paragraphs_per_s=paragraphs / wall,
                cpu_s=statistics.median(run.measured.user_s + run.measured.sys_s for run in good),
                # Sampling can miss a short spike that ru_maxrss catches; a sum over workers needs sampling.
                peak_rss_mb=max([largest, *tree]),
                tree_peak_rss_mb=max(tree) if tree else None,
                max_process_rss_mb=largest,
            )
        timed_out = [run for run in mine if run.measured.timed_out]
        if timed_out and not good:
            # Killed at the time limit: the rate is at most the input over the time it had.
            seen = [run.measured.tree_peak_rss_mb or 0.0 for run in timed_out]
            seen += [run.measured.max_process_rss_mb for run in timed_out]
            entry.update(
                timed_out=len(timed_out),
                wall_s_at_least=min(run.measured.wall_s for run in timed_out),
                mb_per_s_at_most=n_bytes / MB / min(run.measured.wall_s for run in timed_out),
                peak_rss_mb_at_least=max(seen),
            )
        result[workers] = entry
    return result


_SUMMARY_COUNTS = ("documents", "paragraphs", "removed")


def duplicate_rate(runs: Sequence[DedupRun]) -> dict[str, Any] | None:
    """Documents dropped as duplicates by the first successful run, and whether all runs agree."""
    good = [run.summary for run in runs if run.summary is not None]
    if not good:
        return None
    first = good[0]
    documents = first["documents"]["in"]
    dropped = first["removed"]["documents"].get("duplicate_document", 0)

    def counts(summary: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(summary[k] for k in _SUMMARY_COUNTS)

    return {
        "documents": documents,
        "duplicate_documents": dropped,
        "rate": dropped / documents if documents else 0.0,
        "paragraphs_removed": first["removed"]["paragraphs"],
        "summaries_identical": all(counts(s) == counts(first) for s in good),
    }


# --------------------------------------------------------------------------
# Peers: text in batches


@dataclass
class Batch:
    """Paragraphs of up to :data:`DOCS_PER_BATCH` consecutive input documents.

    Attributes:
        docs: Each document's paragraphs, as dedup splits them.
        texts: All paragraphs, flat.
        norms: Their normalised forms (:func:`dedup.shingle.normalise`).
        n_bytes: UTF-8 bytes of ``texts``: the amount every stage tool is credited with.
    """

    docs: list[list[str]]
    texts: list[str]
    norms: list[str]
    n_bytes: int


def load_batches(path: Path, limit_bytes: int) -> list[Batch]:
    """Paragraph batches of the first ``limit_bytes`` bytes of the corpus (whole documents)."""
    from dedup.shingle import normalise
    from dedup.split import split_paragraphs

    batches: list[Batch] = []
    docs: list[list[str]] = []
    read = 0
    with open(path, "rb") as handle:
        for line in handle:
            if read >= limit_bytes:
                break
            read += len(line)
            paragraphs, _, _ = split_paragraphs(json.loads(line)["text"])
            docs.append([p.text for p in paragraphs])
            if len(docs) == DOCS_PER_BATCH:
                batches.append(_batch(docs, normalise))
                docs = []
    if docs:
        batches.append(_batch(docs, normalise))
    return batches


def _batch(docs: list[list[str]], normalise: Callable[[str], str]) -> Batch:
    texts = [p for doc in docs for p in doc]
    return Batch(docs, texts, [normalise(p) for p in texts], sum(len(p.encode("utf-8")) for p in texts))


def shingle_strings(norm: str, size: int = SHINGLE_SIZE) -> list[str]:
    """The character shingles of a normalised paragraph as strings, as dedup takes them (a short text is one)."""
    if not norm:
        return []
    return [norm[i : i + size] for i in range(max(len(norm) - size + 1, 1))]


# --------------------------------------------------------------------------
# Peers: stage tools


@dataclass
class StageResult:
    """Throughput of one tool over a prefix of the batches.

    Attributes:
        name: Short name.
        what: What is timed.
        batch_seconds: Timed seconds per batch processed, in order, for
            tools timed batch by batch.
        batches: Batches processed.
        n_bytes: Paragraph bytes processed.
        paragraphs: Paragraphs processed.
        seconds: Timed seconds.
        cpu_s: CPU seconds of this process over the same calls (above the
            wall time when the tool runs threads).
        call_s: Wall seconds of the same calls.
        phases: Timed seconds per phase.
        complete: Whether every batch of the subset was processed.
        skipped: Why the tool did not run, if it did not.
        info: What else is known of the run (versions, configuration).
    """

    name: str
    what: str
    batch_seconds: list[float] | None = field(default_factory=list)
    batches: int = 0
    n_bytes: int = 0
    paragraphs: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0
    call_s: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    complete: bool = False
    skipped: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def mb_per_s(self) -> float | None:
        return self.n_bytes / MB / self.seconds if self.seconds > 0 else None

    def prefix_mb_per_s(self, batches: Sequence[Batch], k: int) -> float | None:
        """MB/s over the first ``k`` batches."""
        if self.batch_seconds is None:
            return self.mb_per_s if k == self.batches else None
        seconds = sum(self.batch_seconds[:k])
        return sum(b.n_bytes for b in batches[:k]) / MB / seconds if seconds > 0 else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("batch_seconds")
        data["mb_per_s"] = self.mb_per_s
        data["cpu_per_wall"] = self.cpu_s / self.call_s if self.call_s > 0 else None
        return data


class _Timer:
    """Accumulates timed phases of one call."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self._start = 0.0
        self._name = ""

    def __call__(self, name: str) -> _Timer:
        self._name = name
        return self

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.phases[self._name] = self.phases.get(self._name, 0.0) + time.perf_counter() - self._start


def run_per_batch(
    name: str, what: str, tool: Callable[[Batch, _Timer], None], batches: Sequence[Batch], budget_s: float
) -> StageResult:
    """Time ``tool`` batch by batch until the batches or the budget run out."""
    result = StageResult(name, what)
    assert result.batch_seconds is not None
    for batch in batches:
        timer = _Timer()
        cpu, wall = time.process_time(), time.perf_counter()
        tool(batch, timer)
        result.call_s += time.perf_counter() - wall
        result.cpu_s += time.process_time() - cpu
        seconds = sum(timer.phases.values())
        result.batch_seconds.append(seconds)
        result.seconds += seconds
        for phase, value in timer.phases.items():
            result.phases[phase] = result.phases.get(phase, 0.0) + value
        result.batches += 1
        result.n_bytes += batch.n_bytes
        result.paragraphs += len(batch.texts)
        if result.seconds >= budget_s:
            break
    result.complete = result.batches == len(batches)
    return result


def run_whole(
    name: str, what: str, tool: Callable[[Sequence[Batch], _Timer], None], batches: Sequence[Batch],
    budget_s: float, max_batches: int | None = None,
) -> StageResult:
    """Time ``tool`` in one call over as many leading batches as its rate on the first batch fits in the budget."""
    result = StageResult(name, what, batch_seconds=None)
    limit = len(batches) if max_batches is None else min(max_batches, len(batches))
    if limit == 0:
        result.skipped = "no text"
        return result
    probe = _Timer()
    tool(batches[:1], probe)
    per_batch = max(sum(probe.phases.values()), 1e-6)
    k = max(1, min(limit, int(budget_s / per_batch)))
    timer = _Timer()
    cpu, wall = time.process_time(), time.perf_counter()
    tool(batches[:k], timer)
    result.call_s = time.perf_counter() - wall
    result.cpu_s = time.process_time() - cpu
    result.phases = dict(timer.phases)
    result.seconds = sum(timer.phases.values())
    result.batches = k
    result.n_bytes = sum(b.n_bytes for b in batches[:k])
    result.paragraphs = sum(len(b.texts) for b in batches[:k])
    result.complete = k == len(batches)
    return result


def _dedup_signature_tool() -> Callable[[Batch, _Timer], None]:
    from dedup.config import ShingleConfig
    from dedup.minhash import signatures
    from dedup.shingle import shingle_hashes

    config = ShingleConfig(size=SHINGLE_SIZE, num_perm=NUM_PERM, seed=MINHASH_SEED)

    def tool(batch: Batch, timer: _Timer) -> None:
        with timer("hash"):
            hashes = [shingle_hashes(norm, SHINGLE_SIZE) for norm in batch.norms]
        with timer("sign"):
            signatures(hashes, config)

    return tool


def _rensa_tool() -> Callable[[Batch, _Timer], None]:
    from rensa import RMinHash

    def tool(batch: Batch, timer: _Timer) -> None:
        with timer("shingle"):
            token_sets = [shingle_strings(norm) for norm in batch.norms]
        with timer("sign"):
            for tokens in token_sets:
                minhash = RMinHash(NUM_PERM, MINHASH_SEED)
                minhash.update(tokens)
                minhash.digest()

    return tool


def _rensa_bulk_tool() -> Callable[[Batch, _Timer], None]:
    from rensa import RMinHash

    def tool(batch: Batch, timer: _Timer) -> None:
        with timer("shingle"):
            token_sets = [shingle_strings(norm) for norm in batch.norms]
        with timer("sign"):
            RMinHash.digest_matrix_from_token_sets(token_sets, NUM_PERM, MINHASH_SEED)

    return tool


def _rensa_prehashed_tool() -> Callable[[Batch, _Timer], None]:
    import numpy as np
    from rensa import RMinHash

    from dedup.shingle import shingle_hashes

    def tool(batch: Batch, timer: _Timer) -> None:
        with timer("hash"):
            hashes = [shingle_hashes(norm, SHINGLE_SIZE) for norm in batch.norms]
        with timer("sign"):
            flat = np.concatenate(hashes).astype(np.uint64)
            offsets = np.zeros(len(hashes) + 1, dtype=np.uint64)
            offsets[1:] = np.cumsum([len(h) for h in hashes])
            RMinHash.digest_matrix_from_flat_token_hashes(flat, offsets, NUM_PERM, MINHASH_SEED)

    return tool


def _datasketch_batch_tool() -> Callable[[Batch, _Timer], None]:
    from datasketch import MinHash

    def tool(batch: Batch, timer: _Timer) -> None:
        with timer("shingle"):
            token_sets = [shingle_strings(norm) for norm in batch.norms]
        with timer("sign"):
            for tokens in token_sets:
                minhash = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, scheme="affine32")
                minhash.update_batch([token.encode("utf-8") for token in tokens])

    return tool


def _dedup_topic_tool() -> Callable[[Batch, _Timer], None]:
    from dedup.shingle import shingle_hashes
    from dedup.topic import TopicModel

    model = TopicModel.default()

    def tool(batch: Batch, timer: _Timer) -> None:
        # The pipeline hands the topic stage the shingle hashes it already made: not timed here.
        hashes = [shingle_hashes(norm, SHINGLE_SIZE) for norm in batch.norms]
        start = 0
        for doc in batch.docs:
            mine = hashes[start : start + len(doc)]
            start += len(doc)
            if not doc:
                continue
            with timer("topic"):
                matrix = model.signals(doc, mine)
                model.shapes(matrix)
                model.score_signals(matrix)

    return tool


def _tfidf_tool(char: bool) -> Callable[[Sequence[Batch], _Timer], None]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    def tool(batches: Sequence[Batch], timer: _Timer) -> None:
        if char:
            vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(SHINGLE_SIZE, SHINGLE_SIZE))
            texts = [norm for b in batches for norm in b.norms]
        else:
            vectorizer = TfidfVectorizer()
            texts = [text for b in batches for text in b.texts]
        with timer("fit_transform"):
            vectorizer.fit_transform(texts)

    return tool


# --------------------------------------------------------------------------
# Peers: text-dedup, in a virtualenv of its own


@dataclass
class TextDedupEnv:
    """The interpreter that runs text-dedup's MinHash stage, or why there is none.

    Attributes:
        python: An interpreter that can import ``text_dedup.minhash``, or ``None``.
        venv: The virtualenv speed.py manages, if it manages one.
        skipped: Why text-dedup is not measured.
        setup_s: Seconds spent creating the virtualenv and installing (0 when reused).
        reused: Whether an earlier install was reused.
        commands: The setup commands run.
    """

    python: Path | None
    venv: Path | None = None
    skipped: str | None = None
    setup_s: float = 0.0
    reused: bool = False
    commands: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


def default_text_dedup_venv() -> Path:
    """Where speed.py keeps text-dedup's virtualenv unless told otherwise: a user cache directory."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "dedup-speed" / "text-dedup-venv"


def _tail(text: str | bytes | None, limit: int = 600) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    # pip prints a warning per unreachable extra index; the error is at the end.
    return " | ".join(lines)[-limit:]


def ensure_text_dedup_venv(
    venv: Path,
    requirements: Path = TEXT_DEDUP_REQUIREMENTS,
    base_python: str = sys.executable,
    timeout_s: float = TEXT_DEDUP_INSTALL_TIMEOUT_S,
) -> TextDedupEnv:
    """Create ``venv`` with text-dedup installed from ``requirements``, or reuse it.

    The packages are installed with ``--no-deps`` (the file pins the whole
    set ``text_dedup.minhash`` needs) and from wheels only. A marker file
    written after a successful install and import records the requirements'
    digest and the Python version: while both match, the virtualenv is
    reused; otherwise it is made anew. A lock file beside it keeps two
    benchmark runs from building it at once.

    Returns:
        The interpreter to use, or a reason to skip text-dedup: no network,
        an install failure and a ``venv`` path that holds something else
        all give a reason, never an exception.
    """
    import fcntl
    import hashlib

    python = venv / "bin" / "python"
    marker = venv / TEXT_DEDUP_MARKER
    env = TextDedupEnv(python=None, venv=venv)
    try:
        stamp = {
            "requirements_sha1": hashlib.sha1(requirements.read_bytes()).hexdigest(),
            "python": platform.python_version(),
        }
        venv.parent.mkdir(parents=True, exist_ok=True)
        lock = open(venv.parent / f".{venv.name}.lock", "w")  # noqa: SIM115 - held until the end of the setup
    except OSError as exc:
        env.skipped = f"cannot set up text-dedup's virtualenv {venv}: {exc}"
        return env
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            saved = json.loads(marker.read_text(encoding="utf-8")) if marker.is_file() else None
        except (OSError, ValueError):
            saved = None
        if saved == stamp and python.is_file():
            env.python, env.reused = python, True
            return env
        # --clear empties the directory: only ever a virtualenv, or nothing.
        if venv.exists() and not (venv.is_dir() and ((venv / "pyvenv.cfg").is_file() or not any(venv.iterdir()))):
            env.skipped = (f"{venv} exists and is not a virtualenv: remove it, or pass another "
                           "--text-dedup-venv")
            return env
        started = time.perf_counter()
        steps = [
            [base_python, "-m", "venv", "--clear", str(venv)],
            # Few retries and a short socket timeout: offline, pip would otherwise try for minutes.
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--retries", "2",
             "--timeout", "30", "--no-deps", "--only-binary=:all:", "-r", str(requirements)],
            [str(python), "-c", "import text_dedup.minhash"],
        ]
        print(f"text-dedup: installing into {venv} (once; --no-text-dedup to leave it out) ...",
              file=sys.stderr, flush=True)
        for step in steps:
            env.commands.append(shlex.join(step))
            try:
                subprocess.run(step, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s, check=True)
            except subprocess.CalledProcessError as exc:
                env.skipped = f"text-dedup setup failed: `{shlex.join(step)}` exited {exc.returncode}: " + _tail(
                    exc.stderr or exc.stdout)
            except subprocess.TimeoutExpired:
                env.skipped = f"text-dedup setup failed: `{shlex.join(step)}` took over {timeout_s:.0f} s"
            except OSError as exc:
                env.skipped = f"text-dedup setup failed: `{shlex.join(step)}`: {exc}"
            if env.skipped:
                env.setup_s = time.perf_counter() - started
                return env
        env.python, env.setup_s = python, time.perf_counter() - started
        with contextlib.suppress(OSError):  # usable all the same; the next run installs again
            marker.write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
        return env


def prepare_text_dedup(enabled: bool, venv: Path | None, python: Path | None) -> TextDedupEnv:
    """The text-dedup interpreter the command line asks for: none, a given one, or speed.py's virtualenv."""
    if not enabled:
        return TextDedupEnv(python=None, skipped="left out by --no-text-dedup")
    if python is not None:
        return TextDedupEnv(python=python)
    return ensure_text_dedup_venv(venv or default_text_dedup_venv())


# Run with text-dedup's interpreter: the MinHashing step of text_dedup.minhash.main, set up as main sets it up
# from its MinHashArgs defaults (only num_perm changed), with embed_func called directly rather than through
# datasets.map, so that only the signature work is timed. Batches are JSON lists of paragraphs, one a line.
_TEXT_DEDUP_STAGE = r"""
import dataclasses, importlib.metadata, json, sys, time

import numpy as np
from text_dedup import minhash as td
from text_dedup.utils import MinHashArgs

batches_path, out_path, num_perm, budget = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
args = dataclasses.replace(MinHashArgs(), num_perm=num_perm)
hash_bits = int(args.hash_bits)
hash_config = {
    64: (np.uint64, np.uint32((1 << 32) - 1), np.uint64((1 << 61) - 1)),
    32: (np.uint32, np.uint32((1 << 32) - 1), np.uint32((1 << 32) - 5)),
    16: (np.uint16, np.uint16((1 << 16) - 1), np.uint16((1 << 16) - 15)),
}
dtype, max_hash, modulo_prime = hash_config.get(hash_bits, hash_config[64])
if args.hash_func == "sha1":
    def hash_func(byte_data):
        return td.sha1_hash(byte_data, d=min(hash_bits, 32))
else:
    hash_func = td.xxh3_16hash if hash_bits == 16 else td.xxh3_32hash
if args.b is not None and args.r is not None:
    bands, rows = args.b, args.r
else:
    bands, rows = td.optimal_param(args.threshold, args.num_perm, false_positive_weight=0.5, false_negative_weight=0.5)
permutations = (
    td.RNG.randint(1, modulo_prime, size=(args.num_perm,), dtype=dtype),
    td.RNG.randint(0, modulo_prime, size=(args.num_perm,), dtype=dtype),
)
options = {
    "num_perm": args.num_perm, "hashranges": [(i * rows, (i + 1) * rows) for i in range(bands)],
    "ngram_size": args.ngram, "min_length": args.min_length, "permutations": permutations,
    "hash_func": hash_func, "dtype": dtype, "max_hash": max_hash, "modulo_prime": modulo_prime,
}
batches, total = [], 0.0
with open(batches_path, encoding="utf-8") as handle:
    for line in handle:
        texts = json.loads(line)
        # main drops texts of fewer than min_length tokens before its MinHashing step: so here, untimed.
        kept = [text for text in texts if len(td.NON_ALPHA.split(text.lower())) >= args.min_length]
        cpu, wall = time.process_time(), time.perf_counter()
        for idx, text in enumerate(kept):
            td.embed_func(text, idx, **options)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        batches.append({"seconds": wall, "cpu_s": cpu, "paragraphs": len(texts), "embedded": len(kept)})
        total += wall
        if total >= budget:
            break
config = {k: getattr(args, k) for k in ("ngram", "min_length", "num_perm", "threshold", "hash_func")}
config.update(hash_bits=hash_bits, seed=td.SEED, bands=bands, rows=rows, dtype=np.dtype(dtype).name,
              modulo_prime=int(modulo_prime), max_hash=int(max_hash))
versions = {}
for name in ("text-dedup", "numpy", "datasets"):
    try:
        versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        versions[name] = None
with open(out_path, "w", encoding="utf-8") as out:
    json.dump({"batches": batches, "config": config, "versions": versions, "python": sys.version.split()[0]}, out)
"""


def run_text_dedup_stage(python: Path, batches: Sequence[Batch], work: Path, budget_s: float) -> StageResult:
    """Time text-dedup's MinHash embedding with ``python`` on ``batches``, batch by batch, in a subprocess.

    The subprocess gets the same raw paragraphs as the other stage tools,
    through a file, and stops after the batch that takes it past
    ``budget_s``, as :func:`run_per_batch` does. Importing text-dedup and
    reading the file are not timed. A failure gives a skipped result with
    its reason.
    """
    name = "text-dedup"
    what = (f"text-dedup minhash.embed_func as its minhash command sets it up ({NUM_PERM} permutations), "
            "per paragraph, in its own interpreter")
    source, output = work / "text-dedup-batches.jsonl", work / "text-dedup-result.json"
    command = [str(python), "-c", _TEXT_DEDUP_STAGE, str(source), str(output), str(NUM_PERM), str(budget_s)]
    # Importing datasets takes seconds, and the last batch may run past the budget.
    timeout_s = 120.0 + 3 * budget_s
    try:
        with open(source, "w", encoding="utf-8") as handle:
            for batch in batches:
                handle.write(json.dumps(batch.texts, ensure_ascii=False) + "\n")
        subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s, check=True)
        data = json.loads(output.read_text(encoding="utf-8"))
    except subprocess.CalledProcessError as exc:
        return StageResult(name, what, skipped=f"{python} exited {exc.returncode}: {_tail(exc.stderr)}")
    except subprocess.TimeoutExpired:
        return StageResult(name, what, skipped=f"{python} took over {timeout_s:.0f} s")
    except (OSError, ValueError) as exc:
        return StageResult(name, what, skipped=f"{python} failed: {exc}")
    finally:
        source.unlink(missing_ok=True)
        output.unlink(missing_ok=True)
    done = data["batches"]
    config, versions = data["config"], data["versions"]
    return StageResult(
        name,
        f"text-dedup {versions['text-dedup']} minhash.embed_func as its minhash command sets it up: word "
        f"{config['ngram']}-grams, {config['hash_func']} {min(config['hash_bits'], 32)}-bit, {config['dtype']}, "
        f"{config['num_perm']} permutations; per paragraph, in its own interpreter",
        batch_seconds=[b["seconds"] for b in done],
        batches=len(done),
        # Paragraphs under min_length tokens, dropped before embedding, count too: a few bytes in text-dedup's favour.
        n_bytes=sum(b.n_bytes for b in batches[: len(done)]),
        paragraphs=sum(b["paragraphs"] for b in done),
        seconds=sum(b["seconds"] for b in done),
        cpu_s=sum(b["cpu_s"] for b in done),
        call_s=sum(b["seconds"] for b in done),
        phases={"sign": sum(b["seconds"] for b in done)},
        complete=len(done) == len(batches),
        info={"python": str(python), "python_version": data["python"], "versions": versions, "config": config,
              "embedded_paragraphs": sum(b["embedded"] for b in done)},
    )


# --------------------------------------------------------------------------
# Peers: the datasketch reference pipeline


@dataclass
class ReferenceResult:
    """The datasketch reference pipeline over a prefix of the corpus.

    Attributes:
        n_bytes: Input JSONL bytes processed.
        seconds: Wall time, reading and writing included.
        documents: Documents processed.
        paragraphs: Paragraphs processed.
        duplicate_documents: Documents dropped as near duplicates.
        repeated_paragraphs: Paragraphs dropped as repeats within their document.
        complete: Whether the whole corpus was processed.
        limit_mb: The subset size asked for.
        budget_s: The time budget.
    """

    n_bytes: int = 0
    seconds: float = 0.0
    documents: int = 0
    paragraphs: int = 0
    duplicate_documents: int = 0
    repeated_paragraphs: int = 0
    complete: bool = False
    limit_mb: float = 0.0
    budget_s: float = 0.0

    @property
    def mb_per_s(self) -> float | None:
        return self.n_bytes / MB / self.seconds if self.seconds > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mb_per_s": self.mb_per_s}


def reference_pipeline(path: Path, output: Path, limit_bytes: int, budget_s: float) -> ReferenceResult:
    """Clean the start of the corpus with datasketch used the usual way.

    Per document: each paragraph's MinHash is fed its shingles one at a
    time; a paragraph whose MinHash a per-document ``MinHashLSH`` (0.5)
    finds with estimated Jaccard at least 0.5 is a repeat; the kept
    paragraphs' MinHashes are merged into the document's, which a global
    ``MinHashLSH`` (0.7) checks the same way. Kept documents are written
    as JSONL. Shingles are the same character 5-grams of the normalised
    text as dedup's, hashed by datasketch's default (SHA-1).
    """
    from datasketch import MinHash, MinHashLSH

    from dedup.shingle import normalise

    within_threshold, doc_threshold = 0.5, 0.7
    result = ReferenceResult(limit_mb=limit_bytes / MB, budget_s=budget_s)
    documents = MinHashLSH(threshold=doc_threshold, num_perm=NUM_PERM)
    kept_docs: dict[str, MinHash] = {}
    started = time.perf_counter()
    with open(path, "rb") as source, open(output, "w", encoding="utf-8") as out:
        for line in source:
            if result.n_bytes >= limit_bytes or time.perf_counter() - started >= budget_s:
                break
            result.n_bytes += len(line)
            result.documents += 1
            record = json.loads(line)
            paragraphs = [p for p in record["text"].splitlines() if p.strip()]
            result.paragraphs += len(paragraphs)
            within = MinHashLSH(threshold=within_threshold, num_perm=NUM_PERM)
            seen: dict[str, MinHash] = {}
            doc_minhash = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, scheme="affine32")
            kept: list[str] = []
            for i, paragraph in enumerate(paragraphs):
                minhash = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, scheme="affine32")
                for shingle in shingle_strings(normalise(paragraph)):
                    minhash.update(shingle.encode("utf-8"))
                if any(minhash.jaccard(seen[key]) >= within_threshold for key in within.query(minhash)):
                    result.repeated_paragraphs += 1
                    continue
                key = str(i)
                within.insert(key, minhash)
                seen[key] = minhash
                doc_minhash.merge(minhash)
                kept.append(paragraph)
            if not kept:
                continue
            candidates = documents.query(doc_minhash)
            if any(doc_minhash.jaccard(kept_docs[key]) >= doc_threshold for key in candidates):
                result.duplicate_documents += 1
                continue
            documents.insert(record["id"], doc_minhash)
            kept_docs[record["id"]] = doc_minhash
            record["text"] = "\n".join(kept)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            result.complete = True
    result.seconds = time.perf_counter() - started
    return result


# --------------------------------------------------------------------------
# Peers: all of them


@dataclass
class PeerResults:
    """Everything the peer step measured."""

    subset_mb: float
    budget_s: float
    batches: list[Batch]
    stages: dict[str, StageResult]
    reference: ReferenceResult | None
    notes: list[str]


def run_peers(
    corpus: CorpusInfo, work: Path, peer_mb: float, reference_mb: float, budget_s: float,
    text_dedup: TextDedupEnv | None = None,
) -> PeerResults:
    """Run every peer and dedup's matching stages on the start of the corpus.

    text-dedup runs with ``text_dedup``'s interpreter; without one it is
    skipped, with the reason ``text_dedup`` gives.
    """
    notes: list[str] = []
    batches = load_batches(corpus.path, int(peer_mb * MB))
    stages: dict[str, StageResult] = {}

    def per_batch(name: str, what: str, make: Callable[[], Callable[[Batch, _Timer], None]]) -> None:
        try:
            tool = make()
        except ImportError as exc:
            stages[name] = StageResult(name, what, skipped=f"not installed: {exc.name or exc}")
            return
        print(f"  {name} ...", file=sys.stderr, flush=True)
        stages[name] = run_per_batch(name, what, tool, batches, budget_s)

    per_batch("dedup-sign", "dedup shingle_hashes + minhash.signatures", _dedup_signature_tool)
    per_batch("rensa", "rensa RMinHash(128, 1): update(shingle strs) + digest, per paragraph", _rensa_tool)
    per_batch("rensa-bulk", "rensa RMinHash.digest_matrix_from_token_sets (one call per batch)", _rensa_bulk_tool)
    per_batch("rensa-prehashed", "dedup shingle_hashes + rensa digest_matrix_from_flat_token_hashes",
              _rensa_prehashed_tool)
    per_batch("datasketch-batch", "datasketch MinHash(affine32).update_batch(shingle bytes), per paragraph",
              _datasketch_batch_tool)
    if text_dedup is None or text_dedup.python is None:
        reason = text_dedup.skipped if text_dedup is not None else None
        stages["text-dedup"] = StageResult("text-dedup", "text-dedup minhash.embed_func",
                                           skipped=reason or "no interpreter with text-dedup")
    else:
        print("  text-dedup ...", file=sys.stderr, flush=True)
        stages["text-dedup"] = run_text_dedup_stage(text_dedup.python, batches, work, budget_s)
    per_batch("dedup-topic", "dedup TopicModel signals + shapes + score_signals, per document", _dedup_topic_tool)
    topic_batches = stages["dedup-topic"].batches if not stages["dedup-topic"].skipped else None
    for name, char, what in (
        ("sklearn-tfidf-word", False, "scikit-learn TfidfVectorizer().fit_transform(paragraphs)"),
        ("sklearn-tfidf-char5", True, "TfidfVectorizer(analyzer='char', ngram_range=(5, 5)) on normalised text"),
    ):
        try:
            whole = _tfidf_tool(char)
        except ImportError as exc:
            stages[name] = StageResult(name, what, batch_seconds=None, skipped=f"not installed: {exc.name}")
            continue
        print(f"  {name} ...", file=sys.stderr, flush=True)
        # No more text than dedup's topic stage covered, so that the two compare on the same paragraphs.
        stages[name] = run_whole(name, what, whole, batches, budget_s, topic_batches)
    reference = None
    try:
        import datasketch  # noqa: F401
    except ImportError:
        notes.append("reference pipeline skipped: datasketch is not installed")
    else:
        print("  datasketch reference pipeline ...", file=sys.stderr, flush=True)
        output = work / "reference-out.jsonl"
        reference = reference_pipeline(corpus.path, output, int(reference_mb * MB), budget_s)
        output.unlink(missing_ok=True)
    return PeerResults(sum(b.n_bytes for b in batches) / MB, budget_s, batches, stages, reference, notes)


# (peer, the dedup stage it is compared with)
_RATIO_PAIRS = (
    ("rensa", "dedup-sign"),
    ("rensa-bulk", "dedup-sign"),
    ("rensa-prehashed", "dedup-sign"),
    ("datasketch-batch", "dedup-sign"),
    ("text-dedup", "dedup-sign"),
    ("sklearn-tfidf-word", "dedup-topic"),
    ("sklearn-tfidf-char5", "dedup-topic"),
)


def stage_ratio(peers: PeerResults, dedup_name: str, peer_name: str) -> tuple[float | None, float | None, int]:
    """(dedup MB/s, peer MB/s, batches) over the batches both processed."""
    dedup, peer = peers.stages.get(dedup_name), peers.stages.get(peer_name)
    if dedup is None or peer is None or dedup.skipped or peer.skipped:
        return None, None, 0
    k = min(dedup.batches, peer.batches)
    if k == 0:
        return None, None, 0
    return dedup.prefix_mb_per_s(peers.batches, k), peer.prefix_mb_per_s(peers.batches, k), k


# --------------------------------------------------------------------------
# Targets, machine, report


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


@dataclass(frozen=True)
class Value:
    """A measured number, or a bound on it when a run was killed at its time limit.

    Attributes:
        x: The number.
        kind: ``"="`` exact, ``"<="`` the true value is at most ``x``,
            ``">="`` at least ``x``.
    """

    x: float
    kind: str = "="

    def __str__(self) -> str:
        return f"{'' if self.kind == '=' else self.kind}{self.x:.2f}"


def _divide(a: Value | None, b: Value | None) -> Value | None:
    if a is None or b is None or not b.x:
        return None
    upper = a.kind in ("=", "<=") and b.kind in ("=", ">=")
    lower = a.kind in ("=", ">=") and b.kind in ("=", "<=")
    if not (upper or lower):
        return None
    return Value(a.x / b.x, "=" if upper and lower else "<=" if upper else ">=")


def dedup_rate(by_workers: dict[int, dict[str, Any]], workers: int) -> Value | None:
    """MB/s of ``dedup clean`` with ``workers``, or its upper bound when the runs timed out."""
    entry = by_workers.get(workers, {})
    if entry.get("mb_per_s") is not None:
        return Value(entry["mb_per_s"])
    if entry.get("mb_per_s_at_most") is not None:
        return Value(entry["mb_per_s_at_most"], "<=")
    return None


def _status(value: Value, limit: float, at_least: bool) -> str:
    """PASS when every value the measurement allows meets the target, FAIL when none does, else SKIP."""
    low, high = (value.x, value.x) if value.kind == "=" else (0.0, value.x) if value.kind == "<=" else (
        value.x, float("inf"))
    if at_least:
        return "PASS" if low >= limit else "FAIL" if high < limit else "SKIP"
    return "PASS" if high <= limit else "FAIL" if low > limit else "SKIP"


def targets(
    by_workers: dict[int, dict[str, Any]], peers: PeerResults | None, corpus_mb: float
) -> list[dict[str, Any]]:
    """Each target with its measured value and PASS, FAIL or SKIP (not measured, or inconclusive)."""
    one, two = dedup_rate(by_workers, 1), dedup_rate(by_workers, 2)
    rows: list[dict[str, Any]] = []

    def add(name: str, description: str, value: Value | None, limit: float, at_least: bool, note: str = "") -> None:
        status = "SKIP" if value is None else _status(value, limit, at_least)
        if value is not None and value.kind != "=":
            note = "; ".join(filter(None, [note, "a run hit its time limit: the value is a bound"]))
        rows.append({"name": name, "description": description, "value": None if value is None else value.x,
                     "bound": None if value is None else value.kind, "limit": limit, "at_least": at_least,
                     "status": status, "note": note})

    def exact(x: float | None) -> Value | None:
        return None if x is None else Value(x)

    add("e2e_2_workers", "dedup clean end to end on 2 workers, MB/s", two, 10.0, True)
    reference = peers.reference.mb_per_s if peers and peers.reference else None
    add("vs_reference", "dedup clean (1 worker) / datasketch reference pipeline", _divide(one, exact(reference)),
        20.0, True, "reference timed on a prefix and extrapolated" if peers and peers.reference else "")
    text_dedup = peers.stages.get("text-dedup") if peers else None
    add("vs_text_dedup", "dedup clean (1 worker) / text-dedup MinHash stage alone",
        _divide(one, exact(text_dedup.mb_per_s)) if text_dedup and not text_dedup.skipped else None, 1.0, True,
        "text-dedup did not run: see the peers table" if text_dedup and text_dedup.skipped else "")
    dedup_sign, rensa_sign, _ = stage_ratio(peers, "dedup-sign", "rensa") if peers else (None, None, 0)
    add("sign_vs_rensa", "dedup signature stage / rensa RMinHash, normalised text to signatures",
        exact(_ratio(dedup_sign, rensa_sign)), 1.0, True)
    add("workers_speedup", "dedup clean workers=2 / workers=1", _divide(two, one), 1.7, True)
    peaks = [Value(e["peak_rss_mb"]) for e in by_workers.values() if "peak_rss_mb" in e]
    peaks += [Value(e["peak_rss_mb_at_least"], ">=") for e in by_workers.values() if "peak_rss_mb_at_least" in e]
    note = "" if corpus_mb >= FULL_SIZE_MB else f"input is {corpus_mb:.0f} MB, not {FULL_SIZE_MB:.0f}: indicative only"
    statuses = [_status(v, RSS_LIMIT_MB, False) for v in peaks]
    worst = max(peaks, key=lambda v: v.x) if peaks else None
    add("peak_rss", "peak RSS of dedup clean (process tree), MB", worst, RSS_LIMIT_MB, False, note)
    if statuses:
        rows[-1]["status"] = "FAIL" if "FAIL" in statuses else "PASS" if set(statuses) == {"PASS"} else "SKIP"
    return rows


def dedup_code_version() -> dict[str, str | None]:
    """A digest of the dedup package's sources, and the git commit of the checkout if there is one."""
    import hashlib
    import importlib.util

    spec = importlib.util.find_spec("dedup")
    digest = hashlib.sha1()
    root = Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None
    if root is not None:
        for path in sorted(root.rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    commit = None
    if root is not None:
        try:
            commit = subprocess.run(
                ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            commit = None
    return {"sources_sha1": digest.hexdigest() if root is not None else None, "git_commit": commit}


def package_versions() -> dict[str, str | None]:
    """Installed versions of dedup and the peers."""
    versions: dict[str, str | None] = {}
    for name in VERSION_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = None
    memory_gb = None
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8")
        match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
        model = match.group(1).strip() if match else None
        meminfo = Path("/proc/meminfo").read_text(encoding="utf-8")
        match = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.MULTILINE)
        memory_gb = int(match.group(1)) * 1024 / 1e9 if match else None
    except OSError:
        pass
    usable: int | None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "load_average": os.getloadavg(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "cpu_model": model,
        "memory_gb": memory_gb,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "packages": package_versions(),
    }


def cpu_busy(samples: list[float]) -> None:
    """Append how busy the CPUs are right now (percent over one second), with psutil."""
    try:
        import psutil
    except ImportError:
        return
    samples.append(psutil.cpu_percent(interval=1.0))


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def format_report(report: dict[str, Any], peers: PeerResults | None) -> str:
    """The printed tables."""
    lines: list[str] = []
    corpus = report["corpus"]
    lines.append(
        f"Corpus: {corpus['n_bytes'] / MB:.1f} MB, {corpus['documents']} documents, {corpus['paragraphs']} "
        f"paragraphs, {corpus['replicas']} replicas; planted syndicated copies {corpus['planted_duplicates']} "
        f"({100 * corpus['planted_duplicates'] / max(corpus['documents'], 1):.1f} %); "
        + ("reused" if corpus["reused"] else f"generated in {corpus['seconds']:.1f} s")
        + f"\n  {corpus['path']}"
    )
    dedup = report["dedup"]
    lines.append("")
    lines.append("dedup clean, end to end (MB = 10^6 bytes of input; median wall time):")
    lines.append(f"  {'workers':>7} {'runs':>5} {'wall s':>8} {'MB/s':>7} {'paragraphs/s':>13} {'CPU s':>8} "
                 f"{'peak RSS MB':>12} {'tree sampled':>13} {'largest process':>16}")
    for workers, entry in dedup["by_workers"].items():
        if entry.get("timed_out"):
            lines.append(
                f"  {workers:>7} {entry['successful']:>2}/{entry['runs']:<2} "
                f"{'>' + _fmt(entry['wall_s_at_least'], 0):>8} {'<=' + _fmt(entry['mb_per_s_at_most']):>7} "
                f"{'-':>13} {'-':>8} {'>=' + _fmt(entry['peak_rss_mb_at_least'], 0):>12}  "
                f"killed at the time limit ({entry['timed_out']} runs)"
            )
            continue
        lines.append(
            f"  {workers:>7} {entry['successful']:>2}/{entry['runs']:<2} {_fmt(entry.get('wall_s'), 1):>8} "
            f"{_fmt(entry.get('mb_per_s')):>7} {_fmt(entry.get('paragraphs_per_s'), 0):>13} "
            f"{_fmt(entry.get('cpu_s'), 1):>8} {_fmt(entry.get('peak_rss_mb'), 0):>12} "
            f"{_fmt(entry.get('tree_peak_rss_mb'), 0):>13} {_fmt(entry.get('max_process_rss_mb'), 0):>16}"
        )
    speedup = dedup.get("speedup_2_vs_1")
    lines.append(f"  workers=2 vs workers=1: {'-' if speedup is None else f'{Value(**speedup)}x'}")
    rate = dedup.get("duplicate_rate")
    if rate:
        lines.append(
            f"  dropped as duplicate_document: {rate['duplicate_documents']} of {rate['documents']} documents "
            f"({100 * rate['rate']:.2f} %); summaries identical across runs: "
            f"{'yes' if rate['summaries_identical'] else 'NO'}"
        )
    for failure in dedup.get("failures", []):
        lines.append(f"  FAILED: {failure}")
    for note in dedup.get("notes", []):
        lines.append(f"  note: {note}")
    if peers is not None:
        lines.append("")
        lines.append(
            f"Peers (same text: paragraphs of the first {peers.subset_mb:.1f} MB of the corpus, split and "
            f"normalised by dedup, untimed; each tool stops after {peers.budget_s:.0f} s; MB = paragraph bytes; "
            "dedup MB/s and ratio over the batches both processed):"
        )
        lines.append(f"  {'tool':<20} {'MB done':>8} {'MB/s':>8} {'CPU/wall':>8} {'dedup MB/s':>10} "
                     f"{'dedup/peer':>10}  timed")
        pairs = dict(_RATIO_PAIRS)
        for name in ("dedup-sign", *(n for n, d in _RATIO_PAIRS if d == "dedup-sign"), "dedup-topic",
                     *(n for n, d in _RATIO_PAIRS if d == "dedup-topic")):
            against = pairs.get(name)
            stage = peers.stages.get(name)
            if stage is None:
                continue
            if stage.skipped:
                lines.append(f"  {name:<20} skipped: {stage.skipped}")
                continue
            ours = theirs = None
            if against:
                ours, theirs, _ = stage_ratio(peers, against, name)
            cpu = stage.cpu_s / stage.call_s if stage.call_s else None
            phases = ", ".join(f"{k} {v:.1f} s" for k, v in stage.phases.items())
            lines.append(
                f"  {name:<20} {stage.n_bytes / MB:>8.1f} {_fmt(stage.mb_per_s):>8} {_fmt(cpu):>8} "
                f"{_fmt(ours):>10} {_fmt_ratio(_ratio(ours, theirs)):>10}  {stage.what} ({phases})"
            )
        reference = peers.reference
        if reference is not None:
            one = dedup_rate(dedup["by_workers"], 1)
            versus = _divide(one, None if reference.mb_per_s is None else Value(reference.mb_per_s))
            one_text, versus_text = str(one or "-"), f"{versus or '-'}x"
            extrapolated = "" if reference.complete else ", extrapolated from this prefix"
            lines.append(
                f"  {'datasketch-ref':<20} {reference.n_bytes / MB:>8.1f} {_fmt(reference.mb_per_s, 3):>8} "
                f"{'-':>8} {one_text:>10} {versus_text:>10}  reference pipeline, "
                f"JSONL to JSONL, against dedup clean with 1 worker (MB = input bytes{extrapolated}; "
                f"{reference.documents} documents, {reference.duplicate_documents} duplicates dropped, "
                f"{reference.repeated_paragraphs} repeated paragraphs)"
            )
        for note in peers.notes:
            lines.append(f"  note: {note}")
    lines.append("")
    lines.append("Targets (printed, not enforced):")
    for target in report["targets"]:
        sign = ">=" if target["at_least"] else "<="
        note = f"  ({target['note']})" if target["note"] else ""
        value = "-" if target["value"] is None else str(Value(target["value"], target["bound"]))
        lines.append(f"  {target['status']:<4} {target['description']}: {value} {sign} {target['limit']:g}{note}")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Main


def _workers(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("worker counts must be at least 1")
    return values


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mb", type=float, default=FULL_SIZE_MB, help="corpus size in MB (10^6 bytes)")
    parser.add_argument("--workers", type=_workers, default=[1, 2], help="worker counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs per worker count; the median is reported")
    parser.add_argument("--skip-peers", action="store_true", help="only time dedup clean")
    parser.add_argument("--data", type=Path, default=None,
                        help="keep the corpus in this directory and reuse it (default: a temporary directory)")
    parser.add_argument("--json", type=Path, default=None, help="write every number here")
    parser.add_argument("--peer-mb", type=float, default=20.0, help="MB of the corpus the stage tools run on")
    parser.add_argument("--reference-mb", type=float, default=20.0,
                        help="MB of the corpus the datasketch reference pipeline may run on")
    parser.add_argument("--peer-seconds", type=float, default=None,
                        help="time budget per peer tool (default: 0.2 s per corpus MB, 1 to 40 s)")
    parser.add_argument("--budget-minutes", type=float, default=20.0,
                        help="skip repeat runs of dedup clean that would end later than this")
    parser.add_argument("--run-timeout-minutes", type=float, default=8.0,
                        help="kill a dedup clean run after this long and report bounds (0: no limit)")
    parser.add_argument("--text-dedup", action=argparse.BooleanOptionalAction, default=True,
                        help="time text-dedup's MinHash stage, installing it into a virtualenv of its own "
                             "on first use (default: yes)")
    parser.add_argument("--text-dedup-venv", type=Path, default=None,
                        help="text-dedup's virtualenv, created or reused "
                             f"(default: {default_text_dedup_venv()})")
    parser.add_argument("--text-dedup-python", type=Path, default=None,
                        help="an interpreter that already has text-dedup: use it as it is, install nothing")
    args = parser.parse_args(argv)
    if args.mb <= 0 or args.repeat < 1 or args.peer_mb <= 0 or args.reference_mb <= 0:
        parser.error("--mb, --repeat, --peer-mb and --reference-mb must be positive")
    if args.peer_seconds is None:
        args.peer_seconds = min(40.0, max(1.0, 0.2 * args.mb))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns 1 when a ``dedup clean`` run failed, else 0."""
    args = parse_args(argv)
    started = time.perf_counter()
    deadline = started + 60 * args.budget_minutes
    invocation = shlex.join([sys.executable, *(sys.argv if argv is None else [__file__, *argv])])
    load_at_start = os.getloadavg()
    busy: list[float] = []
    cpu_busy(busy)
    executable = dedup_executable()
    with tempfile.TemporaryDirectory(prefix="dedup-speed-") as scratch:
        work = Path(scratch)
        data_dir = args.data if args.data is not None else work / "data"
        print(f"corpus: {args.mb:g} MB in {data_dir} ...", file=sys.stderr, flush=True)
        corpus = ensure_corpus(data_dir, args.mb)

        runs: list[DedupRun] = []
        notes: list[str] = []
        timeout = 60 * args.run_timeout_minutes or None
        code_at_start = dedup_code_version()

        def dedup_round(round_: int) -> float:
            cpu_busy(busy)
            round_started = time.perf_counter()
            for workers in args.workers:
                print(f"dedup clean --workers {workers} (run {round_ + 1}) ...", file=sys.stderr, flush=True)
                runs.append(run_dedup(executable, corpus.path, work, workers, round_, timeout))
            return time.perf_counter() - round_started

        text_dedup = None
        if not args.skip_peers:
            # Before any timing, so that an install does not run between measured steps.
            text_dedup = prepare_text_dedup(args.text_dedup, args.text_dedup_venv, args.text_dedup_python)
        round_s = dedup_round(0)
        peers = None
        if not args.skip_peers:
            print("peers ...", file=sys.stderr, flush=True)
            cpu_busy(busy)
            peers = run_peers(corpus, work, min(args.peer_mb, args.mb), min(args.reference_mb, args.mb),
                              args.peer_seconds, text_dedup)
            if text_dedup is not None and text_dedup.venv is not None and text_dedup.python is not None:
                peers.notes.append(
                    f"text-dedup's virtualenv {text_dedup.venv}: "
                    + ("reused" if text_dedup.reused else f"installed in {text_dedup.setup_s:.0f} s")
                )
        for round_ in range(1, args.repeat):
            if time.perf_counter() + round_s > deadline:
                notes.append(
                    f"{args.repeat} runs per worker count asked for, {round_} made: another round "
                    f"(~{round_s:.0f} s) would end after --budget-minutes {args.budget_minutes:g}"
                )
                break
            round_s = dedup_round(round_)

        by_workers = summarise_runs(runs, corpus.n_bytes)
        speedup = _divide(dedup_rate(by_workers, 2), dedup_rate(by_workers, 1))
        failures = [
            f"{shlex.join(run.command)} exited {run.measured.returncode}: {run.measured.stderr.strip()[-500:]}"
            for run in runs
            if run.measured.returncode != 0 and not run.measured.timed_out
        ]
        if any(run.measured.timed_out for run in runs):
            notes.append(f"runs still going after --run-timeout-minutes {args.run_timeout_minutes:g} were killed; "
                         "their MB/s are upper bounds")
        code_at_end = dedup_code_version()
        if code_at_end != code_at_start:
            notes.append("dedup's code changed while the benchmark ran: runs and stages may time different code")
        corpus_data = asdict(corpus)
        corpus_data["path"] = str(corpus.path)
        report: dict[str, Any] = {
            "invocation": invocation,
            "machine": machine(),
            "corpus": corpus_data,
            "dedup": {
                "by_workers": by_workers,
                "speedup_2_vs_1": None if speedup is None else asdict(speedup),
                "code": {"at_start": code_at_start, "at_end": code_at_end},
                "duplicate_rate": duplicate_rate(runs),
                "runs": [
                    {"workers": r.workers, "round": r.round, "command": shlex.join(r.command), **asdict(r.measured),
                     "counts": None if r.summary is None else {k: r.summary[k] for k in _SUMMARY_COUNTS}}
                    for r in runs
                ],
                "failures": failures,
                "notes": notes,
            },
            "peers": None,
            "commands": [invocation, *(text_dedup.commands if text_dedup else []),
                         *dict.fromkeys(shlex.join(r.command) for r in runs)],
            "seconds": 0.0,
        }
        if peers is not None:
            report["peers"] = {
                "subset_mb": peers.subset_mb,
                "budget_s": peers.budget_s,
                "stages": {name: stage.to_dict() for name, stage in peers.stages.items()},
                "ratios": {
                    name: dict(zip(("dedup_mb_per_s", "peer_mb_per_s", "batches"), stage_ratio(peers, against, name),
                                   strict=True))
                    for name, against in _RATIO_PAIRS
                },
                "reference": peers.reference.to_dict() if peers.reference else None,
                "text_dedup_env": text_dedup.to_dict() if text_dedup else None,
                "notes": peers.notes,
            }
        report["machine"]["load_average_at_start"] = load_at_start
        report["machine"]["cpu_busy_percent_before_steps"] = busy
        if busy and max(busy) > BUSY_PERCENT:
            # Other work on the machine slows every tool, and the 2-worker run most.
            notes.append(
                f"other processes kept the CPUs up to {max(busy):.0f} % busy between steps: numbers are low"
            )
        report["targets"] = targets(by_workers, peers, corpus.n_bytes / MB)
        report["seconds"] = time.perf_counter() - started
        print(format_report(report, peers))
        print(f"\nTotal time {report['seconds']:.0f} s. Command: {invocation}")
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    return 1 if failures else 0




if __name__ == "__main__":
    sys.exit(main())
