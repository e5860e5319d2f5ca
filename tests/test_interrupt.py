"""Runs that are killed or interrupted: no half-written output, no worker left behind.

Each test runs the real ``dedup`` command in a subprocess and sends it a real
signal while it is working through an input of a few megabytes.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

WORDS = (
    "council", "budget", "library", "storm", "snow", "road", "orchestra", "season", "farmer", "harvest", "market",
    "price", "rescue", "team", "driver", "morning", "river", "bridge", "school", "teacher", "hospital", "nurse",
    "election", "voter", "court", "judge", "museum", "painting", "railway",
)
TIMEOUT = 120  # seconds: a guard against hangs, never a speed requirement


def write_input(path: Path, documents: int = 6000) -> Path:
    """A JSONL file of a few megabytes of distinct documents."""
    rng = random.Random(1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(documents):
            paragraphs = [" ".join(rng.choice(WORDS) for _ in range(30)) + f" {i}-{j}." for j in range(6)]
            handle.write(json.dumps({"id": f"d{i}", "text": "\n".join(paragraphs)}) + "\n")
    return path


def start(tmp_path: Path, *args: str | Path) -> subprocess.Popen[bytes]:
    """Start ``dedup`` in its own process group (as a shell starts a job), output to files, not pipes:
    a pipe held open by a stray worker would block the test."""
    command = [sys.executable, "-c", "from dedup.cli import main; main()", *map(str, args)]
    with open(tmp_path / "stdout", "wb") as stdout, open(tmp_path / "stderr", "wb") as stderr:
        return subprocess.Popen(command, stdout=stdout, stderr=stderr, start_new_session=True)


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert process.poll() is None, f"dedup ended before {what}: {process.returncode}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def partials(directory: Path) -> list[Path]:
    return sorted(directory.rglob("*.partial"))


def finish(process: subprocess.Popen[bytes]) -> int:
    try:
        return process.wait(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.slow
@pytest.mark.parametrize("previous", [False, True], ids=["no-previous-output", "previous-output"])
@pytest.mark.parametrize("kind", ["jsonl", "directory"])
def test_sigkill_leaves_no_output_or_the_previous_one(tmp_path, kind, previous):
    source = write_input(tmp_path / "in" / "news.jsonl")
    inputs: list[Path] = [source]
    if kind == "jsonl":
        output, final = tmp_path / "out.jsonl.gz", tmp_path / "out.jsonl.gz"
    else:
        (tmp_path / "in" / "page.txt").write_text("A text input: the output is a directory.\n")
        inputs = [tmp_path / "in"]
        output, final = tmp_path / "out", tmp_path / "out" / "news.jsonl"
    if previous:
        final.parent.mkdir(parents=True, exist_ok=True)
        final.write_bytes(b"the complete output of an earlier run\n")
    process = start(tmp_path, "clean", *inputs, "-o", output, "--report", tmp_path / "report.jsonl", "--workers",
                    "1", "--no-topic")

    wait_for(lambda: bool(partials(tmp_path)), process, "the temporary output appeared")
    time.sleep(0.5)  # well into the run: the temporary files are being written
    assert process.poll() is None
    process.send_signal(signal.SIGKILL)
    assert finish(process) == -signal.SIGKILL

    if previous:
        assert final.read_bytes() == b"the complete output of an earlier run\n"
    else:
        assert not final.exists()
    assert not (tmp_path / "report.jsonl").exists()
    assert not (tmp_path / "out" / "page.txt").exists(), "no output file of the run is final"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "code", "message"),
    [(signal.SIGINT, 130, b"dedup: interrupted"), (signal.SIGTERM, 143, b"dedup: terminated")],
    ids=["ctrl-c", "sigterm"],
)
@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("kind", ["jsonl", "directory"])
def test_interrupt_stops_cleanly(tmp_path, workers, kind, signum, code, message):
    source = write_input(tmp_path / "in" / "news.jsonl")
    previous = tmp_path / "out.jsonl" if kind == "jsonl" else tmp_path / "out" / "news.jsonl"
    previous.parent.mkdir(parents=True, exist_ok=True)
    previous.write_bytes(b"previous\n")
    inputs: list[Path] = [source]
    if kind == "directory":
        (tmp_path / "in" / "page.txt").write_text("A text input: the output is a directory.\n")
        inputs = [tmp_path / "in"]
    output = previous if kind == "jsonl" else tmp_path / "out"
    process = start(tmp_path, "clean", *inputs, "-o", output, "--summary", tmp_path / "summary.json", "--workers",
                    workers)
    parent = psutil.Process(process.pid)
    wait_for(lambda: bool(partials(tmp_path)), process, "the temporary output appeared")
    if workers == "2":
        wait_for(lambda: len(parent.children()) >= 2, process, "the workers started")
    time.sleep(0.5)
    children = parent.children(recursive=True)
    assert process.poll() is None

    if signum == signal.SIGINT:
        os.killpg(process.pid, signum)  # Ctrl-C in a terminal signals the whole process group
    else:
        process.send_signal(signum)  # a job scheduler signals the process it started
    returncode = finish(process)

    stderr = (tmp_path / "stderr").read_bytes()
    assert returncode == code, stderr
    assert message in stderr
    assert b"Traceback" not in stderr
    assert previous.read_bytes() == b"previous\n"
    assert not (tmp_path / "summary.json").exists()
    assert not partials(tmp_path)
    assert not (tmp_path / "out" / "page.txt").exists()
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, "the workers stop with the run"


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE  # exited; not reaped by a container's init
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow
def test_workers_exit_when_the_parent_is_killed(tmp_path):
    source = write_input(tmp_path / "in.jsonl")
    process = start(tmp_path, "clean", source, "-o", tmp_path / "out.jsonl", "--workers", "2")
    parent = psutil.Process(process.pid)
    wait_for(lambda: len(parent.children()) >= 2, process, "the workers started")
    time.sleep(0.5)  # the workers are busy with batches
    workers = parent.children(recursive=True)
    assert len(workers) >= 2

    process.send_signal(signal.SIGKILL)
    assert finish(process) == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while not all(_gone(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)

    left = [w.pid for w in workers if not _gone(w)]
    for pid in left:  # do not leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert not left, f"workers {left} outlived their parent by 10 s"
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 0.0, 0.0, 0.001, 0.002, 0.004])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_while_workers_start(tmp_path, signum, delay):
    """A signal in the moment the workers are forked: neither a traceback nor a run that never ends."""
    source = write_input(tmp_path / "in.jsonl", documents=600)
    process = start(tmp_path, "clean", source, "-o", tmp_path / "out.jsonl", "--workers", "4")
    parent = psutil.Process(process.pid)
    deadline = time.monotonic() + TIMEOUT
    while not parent.children() and process.poll() is None and time.monotonic() < deadline:
        pass  # no sleep: the workers are forked within milliseconds of each other
    time.sleep(delay)

    os.killpg(process.pid, signum)
    returncode = finish(process)

    stderr = (tmp_path / "stderr").read_bytes()
    assert returncode == (130 if signum == signal.SIGINT else 143), stderr
    assert b"Traceback" not in stderr, stderr
    assert not (tmp_path / "out.jsonl").exists()
    assert not partials(tmp_path)


FAILING_LIBRARY_RUN = """
from dedup import Cleaner, Config, TopicConfig
from dedup.data import Document

def documents(count):
    for i in range(count):
        yield Document(f"d{i}", "\\n".join(f"Paragraph {j} of document {i}, long enough." for j in range(30)))
    raise RuntimeError("a bad record")

errors = []  # kept, as a caller's error handling may keep them: their tracebacks hold the pools
for attempt in range(8):
    try:
        for _ in Cleaner(Config(topic=TopicConfig(enabled=False)), workers=2).clean(documents(2000 + 37 * attempt)):
            pass
    except RuntimeError as error:
        errors.append(error)
        print("stopped", attempt, flush=True)
"""


@pytest.mark.slow
def test_an_error_while_workers_are_busy_leaves_nothing_running(tmp_path):
    """Library use: an error in the input stops the pool at once, and the process can still exit.

    A worker stopped while it sends a result leaves half a message in the pool's result pipe; the pool's
    thread must not wait for the rest for ever (the interpreter waits for that thread at exit).
    """
    completed = subprocess.run([sys.executable, "-c", FAILING_LIBRARY_RUN], capture_output=True, timeout=TIMEOUT)

    assert completed.returncode == 0, completed.stderr.decode()[-2000:]
    assert completed.stdout.decode().split("\n")[:-1] == [f"stopped {n}" for n in range(8)]
    assert b"Traceback" not in completed.stderr
