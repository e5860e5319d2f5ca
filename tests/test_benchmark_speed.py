"""Checks of the text-dedup peer of ``benchmarks/speed.py`` that need no network.

Installing text-dedup needs PyPI, so these cover the rest: the switch that
leaves it out, the cases where its virtualenv is not set up, and the timing
subprocess, run against a small stand-in package that has the names the
subprocess uses.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from benchmarks.speed import (
    NUM_PERM,
    Batch,
    PeerResults,
    StageResult,
    ensure_text_dedup_venv,
    parse_args,
    prepare_text_dedup,
    run_text_dedup_stage,
    targets,
)

STAND_IN_UTILS = '''
from dataclasses import dataclass


@dataclass
class MinHashArgs:
    ngram: int = 5
    min_length: int = 5
    seed: int = 42
    num_perm: int = 250
    threshold: float = 0.7
    b: int | None = None
    r: int | None = None
    hash_func: str = "sha1"
    hash_bits: int = 64
'''

STAND_IN_MINHASH = '''
import re

import numpy as np

SEED = 42
RNG = np.random.RandomState(SEED)
NON_ALPHA = re.compile(r"\\W", re.UNICODE)


def sha1_hash(data, d=32):
    return 1


def xxh3_16hash(data, seed=0):
    return 2


def xxh3_32hash(data, seed=0):
    return 3


def optimal_param(threshold, num_perm, false_positive_weight=0.5, false_negative_weight=0.5):
    return 16, num_perm // 16


def embed_func(content, idx, *, num_perm, ngram_size, min_length, hashranges, permutations, hash_func, dtype,
               max_hash, modulo_prime):
    # The subprocess must pass what text-dedup's command passes.
    assert len(permutations) == 2 and all(len(p) == num_perm for p in permutations)
    assert hashranges[-1][1] <= num_perm and (ngram_size, min_length) == (5, 5)
    assert hash_func(b"x") == 1 and dtype is np.uint64 and int(modulo_prime) == (1 << 61) - 1
    assert len(NON_ALPHA.split(content.lower())) >= min_length
    return {"__signatures__": [], "__index__": idx}
'''


def _python_with(path: Path, tmp_path: Path) -> Path:
    """An executable that runs this interpreter with ``path`` first on its module path."""
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{path}" exec "{sys.executable}" "$@"\n', encoding="utf-8")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper


def _stand_in(tmp_path: Path, init: str = "") -> Path:
    root = tmp_path / "site"
    (root / "text_dedup" / "utils").mkdir(parents=True)
    (root / "text_dedup" / "__init__.py").write_text(init, encoding="utf-8")
    (root / "text_dedup" / "utils" / "__init__.py").write_text(STAND_IN_UTILS, encoding="utf-8")
    (root / "text_dedup" / "minhash.py").write_text(STAND_IN_MINHASH, encoding="utf-8")
    info = root / "text_dedup-0.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: text-dedup\nVersion: 0.0.0\n", encoding="utf-8")
    return root


def _batches() -> list[Batch]:
    long = "The minister said on Monday that the plan would go ahead next year."
    docs = [[long, "Advertisement", long.upper()], [long + " Again."], ["Share this"]]
    batches = []
    for doc in docs:
        texts = list(doc)
        batches.append(Batch([doc], texts, [t.lower() for t in texts], sum(len(t.encode()) for t in texts)))
    return batches


def test_switch_leaves_text_dedup_out() -> None:
    assert parse_args([]).text_dedup is True
    assert parse_args(["--no-text-dedup"]).text_dedup is False
    env = prepare_text_dedup(False, None, None)
    assert env.python is None and env.skipped and "--no-text-dedup" in env.skipped


@pytest.mark.skipif(os.name != "posix", reason="speed.py runs on POSIX systems")
def test_a_path_holding_something_else_is_not_touched(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine", encoding="utf-8")
    env = ensure_text_dedup_venv(taken)
    assert env.python is None and env.skipped and "not a virtualenv" in env.skipped
    assert (taken / "notes.txt").read_text(encoding="utf-8") == "mine"
    a_file = tmp_path / "a-file"
    a_file.write_text("mine", encoding="utf-8")
    env = ensure_text_dedup_venv(a_file)
    assert env.python is None and env.skipped and a_file.read_text(encoding="utf-8") == "mine"


def test_missing_requirements_is_a_skip(tmp_path: Path) -> None:
    env = ensure_text_dedup_venv(tmp_path / "venv", requirements=tmp_path / "absent.txt")
    assert env.python is None and env.skipped and "absent.txt" in env.skipped
    assert not (tmp_path / "venv").exists()


@pytest.mark.skipif(os.name != "posix", reason="the stand-in interpreter is a shell script")
def test_stage_times_each_batch(tmp_path: Path) -> None:
    python = _python_with(_stand_in(tmp_path), tmp_path)
    batches = _batches()
    result = run_text_dedup_stage(python, batches, tmp_path, budget_s=60.0)
    assert result.skipped is None, result.skipped
    assert result.batches == len(batches) and result.complete
    assert result.batch_seconds is not None and len(result.batch_seconds) == len(batches)
    assert result.n_bytes == sum(b.n_bytes for b in batches)
    assert result.paragraphs == 5
    # "Advertisement" and "Share this" have fewer than 5 tokens: dropped before embedding, as the command does.
    assert result.info["embedded_paragraphs"] == 3
    assert result.info["config"]["num_perm"] == NUM_PERM
    assert result.info["config"]["bands"] * result.info["config"]["rows"] == NUM_PERM
    assert result.info["versions"]["text-dedup"] == "0.0.0"
    assert "0.0.0" in result.what
    assert not list(tmp_path.glob("text-dedup-*"))  # the batch and result files are removed


@pytest.mark.skipif(os.name != "posix", reason="the stand-in interpreter is a shell script")
def test_stage_failure_is_a_skip(tmp_path: Path) -> None:
    python = _python_with(_stand_in(tmp_path, init="raise ImportError('a broken install')\n"), tmp_path)
    result = run_text_dedup_stage(python, _batches(), tmp_path, budget_s=60.0)
    assert result.skipped and "a broken install" in result.skipped
    assert result.batches == 0


def test_target_is_skip_with_reason_or_a_ratio() -> None:
    by_workers = {1: {"mb_per_s": 3.0}}

    def row(stage: StageResult) -> dict[str, object]:
        peers = PeerResults(1.0, 1.0, [], {"text-dedup": stage}, None, [])
        return next(t for t in targets(by_workers, peers, 5.0) if t["name"] == "vs_text_dedup")

    skipped = row(StageResult("text-dedup", "x", skipped="no network"))
    assert skipped["status"] == "SKIP" and skipped["value"] is None and skipped["note"]
    measured = row(StageResult("text-dedup", "x", n_bytes=2_000_000, seconds=1.0))
    assert measured["status"] == "PASS" and measured["value"] == pytest.approx(1.5)
