"""Fixtures shared by the test modules."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import zstandard
from click.testing import CliRunner, Result

from dedup.cli import cli

SEEDS = Path(__file__).resolve().parent.parent / "fixtures" / "seeds"


def _open_write(path: Path) -> Any:
    if path.name.endswith(".gz"):
        return gzip.open(path, "wt", encoding="utf-8", newline="")
    if path.name.endswith(".zst"):
        return zstandard.open(path, "wt", encoding="utf-8", newline="")
    return open(path, "w", encoding="utf-8", newline="")


def _open_read(path: Path) -> Any:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    if path.name.endswith(".zst"):
        return zstandard.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _write_jsonl(path: Path, records: Iterable[Any]) -> Path:
    """Write ``records`` one per line (compressed by suffix); a ``str`` is written as the raw line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _open_write(path) as handle:
        for record in records:
            handle.write((record if isinstance(record, str) else json.dumps(record, ensure_ascii=False)) + "\n")
    return path


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL file (compressed by suffix)."""
    with _open_read(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture
def seeds_dir() -> Path:
    """The directory of seed documents: real scraped pages with known clean results."""
    return SEEDS


@pytest.fixture
def write_jsonl() -> Callable[[Path, Iterable[Any]], Path]:
    """``write_jsonl(path, records)``: write a JSONL input file and return its path."""
    return _write_jsonl


@pytest.fixture
def read_jsonl() -> Callable[[Path], list[dict[str, Any]]]:
    """``read_jsonl(path)``: the records of a JSONL output or report."""
    return _read_jsonl


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def run(runner: CliRunner) -> Callable[..., Result]:
    """``run(*args, input=None)``: invoke ``dedup`` in-process.

    Exceptions other than a clean exit propagate, so a crash can never pass
    for an expected exit code 1.
    """

    def invoke(*args: str | Path, input: str | bytes | None = None) -> Result:
        return runner.invoke(cli, [str(a) for a in args], input=input, prog_name="dedup", catch_exceptions=False)

    return invoke
