"""What ``dedup clean`` shows while it runs and how long it took: the progress bar on a real pseudo-terminal,
the library's progress hook, the summary's ``timing`` and the help text."""

from __future__ import annotations

import doctest
import fcntl
import json
import os
import pty
import random
import re
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import pytest

import dedup.progress
from dedup.cli import cli
from dedup.progress import STAGES, Progress, Timing
from dedup.run import clean_files

ROOT = Path(__file__).resolve().parent.parent
WORDS = ("council", "budget", "library", "storm", "river", "bridge", "school", "teacher", "museum", "railway",
         "harvest", "market", "court", "judge", "flight", "factory", "nurse", "season", "voter", "station")
#: A progress line on a terminal whose input size is known: share, bar, documents, megabytes, speeds, time left.
BAR = re.compile(r"dedup +\d+%\|[^|]*\| \d+ documents, [\d.]+/[\d.]+ MB, \d+ documents/s, [\d.]+ MB/s, ETA \d\d:\d\d")
#: A progress line for standard input, whose size is not known: no share, no bar, no time left.
STREAM = re.compile(r"dedup: \d+ documents, [\d.]+ MB, \d+ documents/s, [\d.]+ MB/s")
TIMING = re.compile(r"^dedup: time [\d.]+ s for (\d+) documents, [\d.]+ MB \(\d+ documents/s, [\d.]+ MB/s\)")


def records(count: int, seed: int = 3, prefix: str = "doc") -> list[dict[str, Any]]:
    """Made-up news documents with distinct words: nothing repeats."""
    rng = random.Random(seed)
    return [
        {"id": f"{prefix}-{n}", "text": "\n".join(
            " ".join(rng.choice(WORDS) for _ in range(25)).capitalize() + f", story {n}-{p}." for p in range(4)
        )}
        for n in range(count)
    ]


@pytest.fixture
def corpus(tmp_path, write_jsonl) -> Path:
    """A gzipped JSONL input of 600 documents: enough for many progress lines with a refresh interval of 0."""
    return write_jsonl(tmp_path / "in" / "news.jsonl.gz", records(600))


def on_terminal(tmp_path: Path, *args: str | Path, stdin: Path | None = None,
                delay: str = "0") -> tuple[int, str, bytes]:
    """Run ``python3 -m dedup clean ARGS`` with stderr on a pseudo-terminal; exit code, terminal text, stdout."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # a terminal says its size
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DEDUP_PROGRESS_DELAY": delay, "DEDUP_PROGRESS_INTERVAL": "0"}
    with open(tmp_path / "stdout", "wb") as stdout, open(stdin or os.devnull, "rb") as source:
        process = subprocess.Popen([sys.executable, "-m", "dedup", "clean", *map(str, args)], stdin=source,
                                   stdout=stdout, stderr=slave, env=env, cwd=tmp_path)
    os.close(slave)
    terminal = b""
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(master, 1 << 16)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            terminal += chunk
        code = process.wait(timeout=60)
    finally:
        process.kill()
        os.close(master)
    return code, terminal.decode("utf-8", "replace"), (tmp_path / "stdout").read_bytes()


def screen_lines(terminal: str) -> list[str]:
    """Every line the terminal showed, a redrawn one once per drawing."""
    return [line.strip() for line in re.split(r"[\r\n]+", terminal) if line.strip()]


def test_a_progress_bar_is_drawn_on_a_terminal(tmp_path, corpus):
    code, terminal, stdout = on_terminal(tmp_path, corpus, "-o", tmp_path / "out.jsonl", "--workers", "1",
                                         "--no-topic")

    assert code == 0, terminal
    lines = screen_lines(terminal)
    bars = [line for line in lines if BAR.search(line)]
    assert len(bars) > 10, lines[:5]
    documents = [int(re.search(r"\| (\d+) documents", line)[1]) for line in bars]
    assert documents == sorted(documents) and documents[-1] <= 600
    assert TIMING.match(lines[-1]), "the last line is the time the run took"
    assert TIMING.match(lines[-1])[1] == "600"
    assert lines[-2].startswith("dedup: documents 600 in")
    assert stdout == b""


def test_standard_input_has_no_time_left_and_stdout_holds_only_data(tmp_path, corpus, read_jsonl):
    plain = tmp_path / "plain.jsonl"
    plain.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in read_jsonl(corpus)))

    code, terminal, stdout = on_terminal(tmp_path, "-", "-o", "-", "--workers", "1", "--no-topic", stdin=plain)

    assert code == 0, terminal
    streamed = [line for line in screen_lines(terminal) if STREAM.search(line)]
    assert streamed, terminal[:500]
    assert not any("ETA" in line or "%|" in line for line in streamed), "the size of stdin is not known"
    assert [json.loads(line)["id"] for line in stdout.decode().splitlines()] == [f"doc-{n}" for n in range(600)]


def test_short_runs_show_no_bar(tmp_path, corpus):
    code, terminal, _ = on_terminal(tmp_path, corpus, "-o", tmp_path / "out.jsonl", "--workers", "1", "--no-topic",
                                    delay="600")

    assert code == 0, terminal
    assert [line for line in screen_lines(terminal) if "%|" in line] == []
    assert len(screen_lines(terminal)) == 2


def test_quiet_writes_nothing_on_a_terminal(tmp_path, corpus):
    code, terminal, _ = on_terminal(tmp_path, corpus, "-o", tmp_path / "out.jsonl", "--workers", "1", "--no-topic",
                                    "--quiet")

    assert code == 0, terminal
    assert terminal == ""
    assert (tmp_path / "out.jsonl").stat().st_size > 0


def test_no_bar_when_stderr_is_a_pipe(tmp_path, corpus):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DEDUP_PROGRESS_DELAY": "0", "DEDUP_PROGRESS_INTERVAL": "0"}
    process = subprocess.run([sys.executable, "-m", "dedup", "clean", str(corpus), "-o", "-", "--workers", "1",
                              "--no-topic"], capture_output=True, env=env, timeout=300, check=False)

    assert process.returncode == 0, process.stderr
    stderr = process.stderr.decode()
    assert "\r" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("dedup: documents 600 in") and TIMING.match(lines[1])
    assert len([json.loads(line) for line in process.stdout.splitlines()]) == 600


def test_verbose_logs_what_the_run_does(run, tmp_path, corpus):
    index = tmp_path / "index.npz"

    result = run("clean", corpus, "-o", tmp_path / "out.jsonl", "--workers", "1", "--no-topic", "--index", index,
                 "--verbose")

    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert f"dedup.read: reading {corpus}" in lines
    assert "dedup.cleaner: batch of documents 1 to 256" in lines
    assert "dedup.cleaner: batch of documents 513 to 600" in lines
    assert f"dedup.run: opening the index {index}" in lines
    assert f"dedup.run: index {index} saved" in lines
    assert result.stdout == ""


def test_quiet_and_verbose_together_are_a_usage_error(run, tmp_path, corpus):
    result = run("clean", corpus, "-o", tmp_path / "out.jsonl", "--quiet", "--verbose")

    assert result.exit_code == 2
    assert "--quiet and --verbose contradict each other" in result.stderr


def test_the_library_calls_the_progress_hook_and_prints_nothing(tmp_path, corpus, write_jsonl, capfd):
    plain = write_jsonl(tmp_path / "in" / "more.jsonl", records(300, seed=4, prefix="more"))
    seen: list[Progress] = []

    counts = clean_files([corpus, plain], tmp_path / "out.jsonl", workers=1, progress=seen.append)

    size = corpus.stat().st_size + plain.stat().st_size  # the gzipped file counts as stored
    assert [p.documents for p in seen] == list(range(1, 901))
    assert all(p.bytes_total == size for p in seen)
    assert [p.bytes_read for p in seen] == sorted(p.bytes_read for p in seen)
    assert seen[-1].bytes_read == size and seen[-1].fraction == 1.0 and seen[-1].remaining_seconds == 0.0
    assert [p.seconds for p in seen] == sorted(p.seconds for p in seen)
    assert counts.timing is not None and counts.timing.documents == 900 and counts.timing.bytes_read == size
    assert capfd.readouterr() == ("", "")


def test_progress_record_arithmetic():
    halfway = Progress(documents=10, bytes_read=250, bytes_total=1000, seconds=5.0)
    unknown = Progress(documents=10, bytes_read=250, bytes_total=None, seconds=5.0)

    assert (halfway.fraction, halfway.remaining_seconds) == (0.25, 15.0)
    assert (unknown.fraction, unknown.remaining_seconds) == (None, None)
    assert Progress(0, 0, 0, 0.0).fraction == 1.0


def test_summary_has_a_timing_section(tmp_path, corpus):
    summary = tmp_path / "summary.json"

    counts = clean_files(corpus, tmp_path / "out.jsonl", summary=summary, workers=1)

    timing = json.loads(summary.read_text())["timing"]
    assert set(timing) == {"seconds", "documents", "megabytes", "documents_per_second", "megabytes_per_second",
                           "stages", "inputs_skipped"}
    assert timing["documents"] == 600 and timing["inputs_skipped"] == []
    assert timing["megabytes"] == round(corpus.stat().st_size / 1e6, 6)
    assert list(timing["stages"]) == list(STAGES)
    assert sum(timing["stages"].values()) == pytest.approx(timing["seconds"], abs=0.01)
    assert timing["documents_per_second"] == pytest.approx(600 / timing["seconds"], rel=0.01)
    assert counts.timing is not None and counts.timing.seconds >= timing["seconds"]


def test_a_resumed_run_says_which_inputs_it_skipped(run, tmp_path, write_jsonl):
    first = write_jsonl(tmp_path / "in" / "1.jsonl", records(40, seed=1, prefix="one"))
    second = write_jsonl(tmp_path / "in" / "2.jsonl", records(30, seed=2, prefix="two"))
    state, summary = tmp_path / "state", tmp_path / "summary.json"
    assert run("clean", first, "-o", tmp_path / "o1.jsonl", "--state", state, "--no-topic").exit_code == 0

    result = run("clean", first, second, "-o", tmp_path / "o2.jsonl", "--state", state, "--resume", "--no-topic",
                 "--summary", summary)

    assert result.exit_code == 0, result.output
    timing = json.loads(summary.read_text())["timing"]
    assert timing["inputs_skipped"] == [str(first)]
    assert timing["documents"] == 30, "the rates count what this run read"
    assert timing["megabytes"] == round(second.stat().st_size / 1e6, 6)
    last = result.stderr.splitlines()[-1]
    assert TIMING.match(last) and TIMING.match(last)[1] == "30"
    assert last.endswith(f"; resumed: not read again, completed earlier: {first}")


def test_the_timing_line_names_a_few_skipped_inputs():
    timing = Timing(2.0, 10, 3_000_000, inputs_skipped=tuple(f"{n}.jsonl" for n in range(5)))

    assert timing.short() == (
        "dedup: time 2.0 s for 10 documents, 3.0 MB (5 documents/s, 1.50 MB/s); "
        "resumed: not read again, completed earlier: 0.jsonl, 1.jsonl, 2.jsonl and 2 more"
    )


def test_progress_doctest():
    assert doctest.testmod(dedup.progress).failed == 0


@pytest.mark.parametrize("command", [[], *([name] for name in cli.commands)], ids=lambda c: " ".join(c) or "dedup")
def test_help_has_whole_sentences_and_an_example(run, command):
    result = run(*command, "--help")

    assert result.exit_code == 0
    text = result.stdout.split("\n\n", 1)[1]  # after the usage line, where ... means "one or more"
    assert "..." not in text and "\u2026" not in text, "a help text was cut short"
    assert re.search(r"^  Example:\n(    dedup .+\n)+", result.stdout, re.MULTILINE), result.stdout


@pytest.mark.parametrize("name", list(cli.commands))
def test_commands_have_a_whole_sentence_for_the_command_list(name):
    command = cli.commands[name]
    short = command.get_short_help_str(limit=45)  # click's narrowest command list

    assert short.endswith(".") and "..." not in short, short
    assert short == command.get_short_help_str(limit=1000), "the command list cuts its help"
