"""Golden cases: a small input, its exact clean output, report and counts.

Each case under ``fixtures/golden/<name>/`` holds ``case.json`` (what it
shows, the inputs and the options), ``input/``, and the expected
``output/``, ``report.jsonl`` and ``summary.json`` (counts only). To
rewrite the expected files after a deliberate change, run
``DEDUP_REGEN_GOLDEN=1 pytest tests/test_golden.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from dedup.cli import cli

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "case.json").exists())
REGEN = os.environ.get("DEDUP_REGEN_GOLDEN") == "1"


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _counts(summary: dict) -> dict:
    return {key: summary[key] for key in ("documents", "paragraphs", "removed")}


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case_dir = GOLDEN / name
    case = json.loads((case_dir / "case.json").read_text(encoding="utf-8"))
    monkeypatch.chdir(case_dir)
    jsonl = all(str(i).endswith(".jsonl") for i in case["inputs"])
    output = tmp_path / ("out.jsonl" if jsonl else "out")
    report, summary = tmp_path / "report.jsonl", tmp_path / "summary.json"
    result = CliRunner().invoke(
        cli,
        ["clean", *case["inputs"], "-o", str(output), "--report", str(report), "--summary", str(summary),
         *case["options"]],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    got_output = {"out.jsonl": output.read_bytes()} if jsonl else _files(output)
    got_report = report.read_text(encoding="utf-8")
    got_counts = _counts(json.loads(summary.read_text(encoding="utf-8")))
    if REGEN:
        shutil.rmtree(case_dir / "output", ignore_errors=True)
        for rel, data in got_output.items():
            (case_dir / "output" / rel).parent.mkdir(parents=True, exist_ok=True)
            (case_dir / "output" / rel).write_bytes(data)
        (case_dir / "report.jsonl").write_text(got_report, encoding="utf-8")
        (case_dir / "summary.json").write_text(json.dumps(got_counts, indent=2) + "\n", encoding="utf-8")
    assert got_output == _files(case_dir / "output")
    assert got_report == (case_dir / "report.jsonl").read_text(encoding="utf-8")
    assert got_counts == json.loads((case_dir / "summary.json").read_text(encoding="utf-8"))


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")


def test_seed_goldens_say_what_the_issue_says() -> None:
    """The expected seed outputs are the line ranges the seeds were labelled with, not a snapshot."""
    seeds = GOLDEN.parent / "seeds"
    doubled = _lines(seeds / "000_93c3f7158df3345d.txt")
    teasers = _lines(seeds / "002_c1d64411474b32a4.txt")
    expect_000 = "\n".join(doubled[:8]).encode()
    expect_002 = "\n".join(teasers[:3] + teasers[4:18]).encode()
    for case, name, expected in [
        ("seed-000-doubled-body", "000_93c3f7158df3345d.txt", expect_000),
        ("seed-002-teasers-and-credit", "002_c1d64411474b32a4.txt", expect_002),
        ("seeds-together", "000_93c3f7158df3345d.txt", expect_000),
        ("seeds-together", "002_c1d64411474b32a4.txt", expect_002),
    ]:
        assert (GOLDEN / case / "output" / name).read_bytes() == expected
    reasons = [json.loads(line)["reason"] for line in (GOLDEN / "seeds-together" / "report.jsonl").open()]
    # The photo credit is page furniture; the four teasers are text about other subjects.
    assert reasons == ["duplicate"] * 7 + ["furniture"] + ["off_topic"] * 4
    credit = [json.loads(line) for line in (GOLDEN / "seeds-together" / "report.jsonl").open()][7]
    assert credit["text"] == teasers[3] and credit["text"].startswith("Photo:")
