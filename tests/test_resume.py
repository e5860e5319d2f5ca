"""``dedup clean --state DIR [--resume]``: a resumed run gives the bytes of one uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import stable_stderr, stable_summary

from dedup.state import MANIFEST

SEEDS = Path(__file__).resolve().parent.parent / "fixtures" / "seeds"
WORDS = (
    "council", "budget", "library", "storm", "snow", "road", "orchestra", "season", "farmer", "harvest", "market",
    "price", "rescue", "team", "driver", "morning", "river", "bridge", "school", "teacher", "hospital", "nurse",
    "election", "voter", "court", "judge", "museum", "painting", "railway", "station", "airport", "flight",
    "factory", "worker",
)


def article(rng: random.Random, number: int, paragraphs: int) -> list[str]:
    """Paragraphs of made-up news: distinct words per document, so only planted copies repeat."""
    return [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(18, 40))).capitalize() + f", report {number}-{p}."
        for p in range(paragraphs)
    ]


def corpus(files: int, per_file: int, seed: int = 7) -> list[list[dict[str, Any]]]:
    """Documents for ``files`` inputs, with repeats inside documents and across inputs.

    Every fifth document repeats a paragraph; every seventh is a copy of a document of an
    earlier input (a syndicated copy); the first input holds a real scraped page whose
    copy comes in the third.
    """
    rng = random.Random(seed)
    out: list[list[dict[str, Any]]] = []
    earlier: list[str] = []
    for f in range(files):
        records = []
        for d in range(per_file):
            number = f * per_file + d
            if f and d % 7 == 3:
                text = rng.choice(earlier)
            else:
                paragraphs = article(rng, number, rng.randint(3, 7))
                if d % 5 == 1:
                    paragraphs.append(paragraphs[0])
                text = "\n".join(paragraphs)
            earlier.append(text)
            records.append({"id": f"doc-{number}", "text": text, "n": number})
        out.append(records)
    page = (SEEDS / "002_c1d64411474b32a4.txt").read_text("utf-8")
    out[0].insert(1, {"id": "page", "text": page})
    if files > 2:
        out[2].insert(0, {"id": "page-copy", "text": page})
    return out


@pytest.fixture
def jsonl_inputs(tmp_path, write_jsonl):
    """Four JSONL inputs (one gzipped) with repeats across them."""
    names = ["0.jsonl", "1.jsonl.gz", "2.jsonl", "3.jsonl"]
    return [write_jsonl(tmp_path / "in" / name, records) for name, records in zip(names, corpus(4, 40), strict=True)]


@pytest.fixture
def mixed_inputs(tmp_path, write_jsonl):
    """An input directory of text and JSONL files, for a mirrored output directory."""
    files = corpus(4, 12)
    root = tmp_path / "in"
    write_jsonl(root / "a" / "0.jsonl.zst", files[0])
    for record in files[1]:
        (root / "b").mkdir(parents=True, exist_ok=True)
        (root / "b" / f"{record['id']}.txt").write_text(record["text"].replace("\n", "\r\n"), encoding="utf-8")
    write_jsonl(root / "c.jsonl", files[2])
    write_jsonl(root / "d.jsonl.gz", [])  # an empty input has an (empty) output file too
    (root / "e.txt").write_text(files[0][0]["text"], encoding="utf-8")  # a copy of a document: dropped
    return [root]


def outputs(path: Path) -> dict[str, bytes]:
    """The bytes of an output file, or of every file under an output directory."""
    if path.is_dir():
        return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
    return {path.name: path.read_bytes()}


def clean(run, inputs: list[Path], target: Path, *options: str | Path) -> dict[str, Any]:
    report, summary = target.parent / f"{target.name}.report", target.parent / f"{target.name}.summary"
    result = run("clean", *inputs, "-o", target, "--report", report, "--summary", summary, *options)
    assert result.exit_code == 0, result.output
    return {"output": outputs(target), "report": report.read_bytes(), "summary": stable_summary(summary.read_bytes()),
            "stderr": stable_stderr(result.stderr)}


@pytest.mark.parametrize("output", ["out.jsonl", "out.jsonl.gz", "out.jsonl.zst"])
@pytest.mark.parametrize("workers", ["1", "2"])
def test_resumed_run_equals_an_uninterrupted_run(run, tmp_path, jsonl_inputs, output, workers):
    whole = clean(run, jsonl_inputs, tmp_path / "whole" / output, "--workers", workers)
    # The first run stops after two inputs; the second is given all four and resumes.
    clean(run, jsonl_inputs[:2], tmp_path / "first" / output, "--state", tmp_path / "state", "--workers", workers)

    resumed = clean(run, jsonl_inputs, tmp_path / "resumed" / output, "--state", tmp_path / "state", "--resume",
                    "--workers", workers)

    assert resumed["output"] == {output: whole["output"][output]}
    assert resumed["report"] == whole["report"]
    assert resumed["summary"] == whole["summary"]
    assert resumed["stderr"] == whole["stderr"]
    report = [json.loads(line) for line in whole["report"].splitlines()]
    copies = {r["id"]: r["duplicate_of"] for r in report if r["reason"] == "duplicate_document"}
    assert copies["page-copy"] == {"id": "page", "paragraph": None}, "a copy of a document of a resumed input"
    assert {"duplicate", "off_topic"} <= {r["reason"] for r in report}


@pytest.mark.parametrize("options", [["--annotate"], ["--on-error", "skip", "--boilerplate", "--cross-doc-paragraphs"]],
                         ids=["annotate", "skip-and-cross-document-stages"])
def test_resumed_run_with_other_options(run, tmp_path, jsonl_inputs, options):
    if "skip" in options:
        with open(jsonl_inputs[0], "a", encoding="utf-8") as handle:
            handle.write("{not json\n")  # an invalid record among the recorded inputs
    whole = clean(run, jsonl_inputs, tmp_path / "whole" / "out.jsonl", *options)
    clean(run, jsonl_inputs[:3], tmp_path / "first" / "out.jsonl", "--state", tmp_path / "state", *options)

    resumed = clean(run, jsonl_inputs, tmp_path / "resumed" / "out.jsonl", "--state", tmp_path / "state", "--resume",
                    *options)

    assert resumed == whole


def test_resumed_run_to_a_directory(run, tmp_path, mixed_inputs):
    whole = clean(run, mixed_inputs, tmp_path / "whole" / "out")
    state = tmp_path / "state"
    inputs_dir = mixed_inputs[0]
    # Stop after the first inputs: simulate it by hiding the later ones from the first run.
    later = [inputs_dir / "c.jsonl", inputs_dir / "d.jsonl.gz", inputs_dir / "e.txt"]
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    for path in later:
        os.rename(path, hidden / path.name)
    clean(run, mixed_inputs, tmp_path / "first" / "out", "--state", state)
    for path in later:
        os.rename(hidden / path.name, path)  # rename keeps size and modification time

    resumed = clean(run, mixed_inputs, tmp_path / "resumed" / "out", "--state", state, "--resume")

    assert resumed == whole
    assert "e.txt" not in whole["output"], "the copied text document is dropped"
    assert whole["output"]["d.jsonl.gz"].startswith(b"\x1f\x8b")


def test_completed_inputs_are_not_read_again(run, tmp_path, jsonl_inputs):
    whole = clean(run, jsonl_inputs, tmp_path / "whole.jsonl")
    clean(run, jsonl_inputs[:2], tmp_path / "first.jsonl", "--state", tmp_path / "state")
    # Same size and modification time, but unreadable content: reading it again would fail.
    first = jsonl_inputs[0]
    stat = first.stat()
    first.write_bytes(b"\xff" * stat.st_size)
    os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    resumed = clean(run, jsonl_inputs, tmp_path / "resumed.jsonl", "--state", tmp_path / "state", "--resume")

    assert resumed["output"]["resumed.jsonl"] == whole["output"]["whole.jsonl"]


def test_resuming_a_finished_run_writes_the_same_outputs(run, tmp_path, jsonl_inputs):
    first = clean(run, jsonl_inputs, tmp_path / "first.jsonl", "--state", tmp_path / "state")

    again = clean(run, jsonl_inputs, tmp_path / "again.jsonl", "--state", tmp_path / "state", "--resume")

    assert again["output"]["again.jsonl"] == first["output"]["first.jsonl"]
    assert (again["report"], again["summary"], again["stderr"]) == (first["report"], first["summary"], first["stderr"])


def test_duplicate_ids_are_found_across_a_resume(run, tmp_path, write_jsonl):
    first = write_jsonl(tmp_path / "1.jsonl", [{"id": "a", "text": "First document."}])
    second = write_jsonl(tmp_path / "2.jsonl", [{"id": "b", "text": "Second."}, {"id": "a", "text": "Again."}])
    assert run("clean", first, "-o", tmp_path / "o1.jsonl", "--state", tmp_path / "state").exit_code == 0

    result = run("clean", first, second, "-o", tmp_path / "o2.jsonl", "--state", tmp_path / "state", "--resume")

    assert result.exit_code == 1
    assert f"{second}:2: duplicate id 'a'" in result.stderr
    assert not (tmp_path / "o2.jsonl").exists()


def test_resume_refuses_changed_inputs(run, tmp_path, jsonl_inputs):
    clean(run, jsonl_inputs[:2], tmp_path / "first.jsonl", "--state", tmp_path / "state")
    with open(jsonl_inputs[1], "ab") as handle:
        handle.write(b"\n")

    result = run("clean", *jsonl_inputs, "-o", tmp_path / "out.jsonl", "--state", tmp_path / "state", "--resume")

    assert result.exit_code == 1
    assert f"input 2 was {jsonl_inputs[1]}" in result.stderr
    assert "remove the directory to start again" in result.stderr
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        ([], ["--no-topic"], "config.topic.enabled: was true, now false"),
        ([], ["--doc-threshold", "0.8"], "config.dedup.doc_threshold: was 0.7, now 0.8"),
        ([], ["--on-error", "skip"], 'on_error: was "raise", now "skip"'),
        (["--annotate"], [], "annotate: was true, now false"),
    ],
    ids=["no-topic", "doc-threshold", "on-error", "annotate"],
)
def test_resume_refuses_other_settings(run, tmp_path, jsonl_inputs, first, second, message):
    clean(run, jsonl_inputs[:1], tmp_path / "first.jsonl", "--state", tmp_path / "state", *first)

    result = run("clean", *jsonl_inputs, "-o", tmp_path / "out.jsonl", "--state", tmp_path / "state", "--resume",
                 *second)

    assert result.exit_code == 1
    assert "the state was made with other settings" in result.stderr
    assert message in result.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_resume_refuses_a_refitted_model(run, tmp_path, jsonl_inputs, write_jsonl):
    labelled = [{"id": "d", "text": t, "label": label} for t, label in
                [("A report on the council budget.", "keep"), ("Council budget approved today.", "keep"),
                 ("Subscribe to our newsletter", "drop")]]
    write_jsonl(tmp_path / "labelled.jsonl", labelled)
    assert run("fit-topic", tmp_path / "labelled.jsonl", "-o", tmp_path / "model.npz").exit_code == 0
    clean(run, jsonl_inputs[:1], tmp_path / "first.jsonl", "--state", tmp_path / "state", "--model",
          tmp_path / "model.npz")
    write_jsonl(tmp_path / "labelled.jsonl", [*labelled, {"id": "e", "text": "Read more", "label": "drop"}])
    assert run("fit-topic", tmp_path / "labelled.jsonl", "-o", tmp_path / "model.npz").exit_code == 0

    result = run("clean", *jsonl_inputs, "-o", tmp_path / "out.jsonl", "--state", tmp_path / "state", "--resume",
                 "--model", tmp_path / "model.npz")

    assert result.exit_code == 1
    assert "model_sha256: was" in result.stderr


def test_state_without_resume_refuses_an_earlier_state(run, tmp_path, jsonl_inputs):
    clean(run, jsonl_inputs[:1], tmp_path / "first.jsonl", "--state", tmp_path / "state")

    result = run("clean", *jsonl_inputs, "-o", tmp_path / "out.jsonl", "--state", tmp_path / "state")

    assert result.exit_code == 1
    assert "holds the state of an earlier run; pass --resume to continue it" in result.stderr


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x20
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda s: (s / MANIFEST).write_text('{"format": "something else"}'), "not a dedup state manifest"),
        (lambda s: (s / MANIFEST).write_bytes(os.urandom(64)), "not a dedup state manifest"),
        (lambda s: _flip(next(s.glob("index-*.npz"))), "the index snapshot does not match the manifest"),
        (lambda s: shutil.copy(SEEDS.parent.parent / "dedup" / "models" / "default.npz", next(s.glob("index-*.npz"))),
         "the index snapshot does not match the manifest"),
        (lambda s: _flip(s / "chunks" / "000000.out"), "the chunk does not match the manifest"),
        (lambda s: _flip(s / "chunks" / "000000.report"), "the chunk does not match the manifest"),
        (lambda s: _flip(s / "chunks" / "000000.meta.json"), "does not match the manifest"),
    ],
    ids=["foreign-manifest", "random-manifest", "flipped-index", "model-as-index", "flipped-output",
         "flipped-report", "flipped-record"],
)
def test_damaged_state_is_refused_without_output(run, tmp_path, jsonl_inputs, damage, message):
    clean(run, jsonl_inputs[:2], tmp_path / "first.jsonl", "--state", tmp_path / "state")
    damage(tmp_path / "state")
    report = tmp_path / "report.jsonl"

    result = run("clean", *jsonl_inputs, "-o", tmp_path / "out.jsonl", "--report", report, "--state",
                 tmp_path / "state", "--resume")

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr
    assert not (tmp_path / "out.jsonl").exists()
    assert not report.exists()
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--resume"], "--resume continues the run recorded in a state directory: give the directory with --state"),
        (["-", "--state", "{dir}/state"], "--state records completed input files: - (stdin) cannot be resumed"),
    ],
    ids=["resume-without-state", "stdin"],
)
def test_state_usage_errors(run, tmp_path, jsonl_inputs, arguments, message):
    result = run("clean", jsonl_inputs[0], "-o", tmp_path / "out.jsonl",
                 *(a.format(dir=tmp_path) for a in arguments), input="")

    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "state").exists()


def _manifest_entries(state: Path) -> int:
    try:
        return len(json.loads((state / MANIFEST).read_text())["completed"])
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


@pytest.mark.slow
def test_run_killed_after_an_input_resumes_to_the_same_bytes(run, tmp_path, write_jsonl):
    """SIGKILL a real run once its first input is recorded; the resumed run's output is the whole run's."""
    inputs = [write_jsonl(tmp_path / "in" / f"{n}.jsonl", records) for n, records in enumerate(corpus(4, 600))]
    options = ["--workers", "1", "--no-topic"]
    whole = clean(run, inputs, tmp_path / "whole.jsonl.gz", *options)
    state, out = tmp_path / "state", tmp_path / "out.jsonl.gz"
    command = [sys.executable, "-c", "from dedup.cli import main; main()", "clean", *map(str, inputs), "-o", str(out),
               "--state", str(state), *options]
    with open(tmp_path / "stderr", "wb") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            deadline = time.monotonic() + 120
            while _manifest_entries(state) < 1 and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            process.wait(timeout=60)
    recorded = _manifest_entries(state)
    assert process.returncode == -signal.SIGKILL, (tmp_path / "stderr").read_text()
    assert 1 <= recorded < 4, f"the run was to be killed after its first input, not after {recorded}"
    assert not out.exists(), "a killed run leaves no output at the final path"

    resumed = clean(run, inputs, out, "--state", state, "--resume", *options)

    assert resumed["output"][out.name] == whole["output"]["whole.jsonl.gz"]
    assert (resumed["report"], resumed["summary"], resumed["stderr"]) == (
        whole["report"], whole["summary"], whole["stderr"]
    )
