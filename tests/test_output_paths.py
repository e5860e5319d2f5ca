"""``dedup clean`` writing to what users name as outputs: devices, FIFOs, symbolic links; and reading stdin."""

from __future__ import annotations

import gzip
import json
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest
import zstandard
from conftest import stable_summary

BOM = b"\xef\xbb\xbf"
RECORDS = [
    {"id": "a", "text": "The council approved the budget on Tuesday.\nSpending on schools rises by a tenth."},
    {"id": "b", "text": "The council approved the budget on Tuesday.\nSpending on schools rises by a tenth."},
    {"id": "c", "text": "A storm closed the harbour for two days.\nFerries resumed on Friday morning."},
]
NAMES = ("out.jsonl", "report.jsonl", "summary.json")


@pytest.fixture
def source(tmp_path, write_jsonl):
    return write_jsonl(tmp_path / "in" / "in.jsonl", RECORDS)


@pytest.fixture
def expected(tmp_path, source, run):
    """The output, report and summary of the run written to plain files."""
    plain = tmp_path / "plain"
    result = run("clean", source, "-o", plain / NAMES[0], "--report", plain / NAMES[1], "--summary", plain / NAMES[2])
    assert result.exit_code == 0, result.output
    outputs = [(plain / name).read_bytes() for name in NAMES]
    assert b'"duplicate_document"' in outputs[1], "the report has something in it"
    return comparable(outputs)


def comparable(outputs: list[bytes]) -> list[Any]:
    """The bytes of the output and the report, and the summary without what differs between runs (timing)."""
    return [*outputs[:2], stable_summary(outputs[2])]


def clean_to(run, source, paths):
    output, report, summary = paths
    return run("clean", source, "-o", output, "--report", report, "--summary", summary)


def entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_character_devices_stay_devices(tmp_path, source, run):
    # Three /dev/null look-alikes in tmp_path: the real /dev/null is never touched.
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    out = tmp_path / "out"
    out.mkdir()
    paths = [out / name for name in NAMES]
    try:
        for path in paths:
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError as exc:
        pytest.skip(f"cannot make a device node here: {exc}")

    result = clean_to(run, source, paths)

    assert result.exit_code == 0, result.output
    for path in paths:
        mode = path.lstat()
        assert stat.S_ISCHR(mode.st_mode) and mode.st_rdev == os.makedev(1, 3), f"{path.name} is no longer a device"
    assert entries(out) == sorted(NAMES), "no temporary files left"


def test_one_device_can_take_every_output(tmp_path, source, run):
    """``-o /dev/null --report /dev/null``: a device is not a file that two outputs would overwrite."""
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    null = tmp_path / "null"
    try:
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError as exc:
        pytest.skip(f"cannot make a device node here: {exc}")

    result = clean_to(run, source, [null, null, null])

    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(null.lstat().st_mode)


def test_a_symbolic_link_loop_is_an_error_not_a_crash(tmp_path, source, run):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")

    result = run("clean", source, "-o", tmp_path / "loop")

    assert result.exit_code == 1, result.output
    assert "loop" in result.stderr and "Traceback" not in result.stderr


def test_fifos_get_the_data(fifo_reader, tmp_path, source, expected, run):
    out = tmp_path / "out"
    out.mkdir()
    readers = [fifo_reader(out / name) for name in NAMES]

    result = clean_to(run, source, [reader.path for reader in readers])

    assert result.exit_code == 0, result.output
    assert comparable([reader.result() for reader in readers]) == expected
    assert all(stat.S_ISFIFO(reader.path.lstat().st_mode) for reader in readers)
    assert entries(out) == sorted(NAMES)


def test_a_compressed_fifo_gets_compressed_data(fifo_reader, tmp_path, source, expected, run):
    reader = fifo_reader(tmp_path / "out.jsonl.gz")

    result = run("clean", source, "-o", reader.path)

    assert result.exit_code == 0, result.output
    assert gzip.decompress(reader.result()) == expected[0]


def test_symbolic_links_are_written_through(tmp_path, source, expected, run):
    (tmp_path / "data").mkdir()
    (tmp_path / "out").mkdir()
    for name in NAMES:
        (tmp_path / "data" / name).write_bytes(b"previous\n")
        (tmp_path / "out" / name).symlink_to(Path("..") / "data" / name)

    result = clean_to(run, source, [tmp_path / "out" / name for name in NAMES])

    assert result.exit_code == 0, result.output
    assert comparable([(tmp_path / "data" / name).read_bytes() for name in NAMES]) == expected
    assert [os.readlink(tmp_path / "out" / name) for name in NAMES] == [f"../data/{name}" for name in NAMES]
    assert entries(tmp_path / "data") == sorted(NAMES)


def test_dangling_symbolic_links_get_their_targets(tmp_path, source, expected, run):
    (tmp_path / "out").mkdir()
    for name in NAMES:
        (tmp_path / "out" / name).symlink_to(tmp_path / "data" / name)  # data/ does not exist yet

    result = clean_to(run, source, [tmp_path / "out" / name for name in NAMES])

    assert result.exit_code == 0, result.output
    assert comparable([(tmp_path / "data" / name).read_bytes() for name in NAMES]) == expected
    assert all((tmp_path / "out" / name).is_symlink() for name in NAMES)


def test_chains_of_symbolic_links_are_followed(tmp_path, source, expected, run):
    # out/NAME -> hop/NAME -> ../data/NAME, each relative to its own directory.
    for directory in ("out", "hop", "data"):
        (tmp_path / directory).mkdir()
    for name in NAMES:
        (tmp_path / "data" / name).write_bytes(b"previous\n")
        (tmp_path / "hop" / name).symlink_to(f"../data/{name}")
        (tmp_path / "out" / name).symlink_to(f"../hop/{name}")

    result = clean_to(run, source, [tmp_path / "out" / name for name in NAMES])

    assert result.exit_code == 0, result.output
    assert comparable([(tmp_path / "data" / name).read_bytes() for name in NAMES]) == expected
    assert all((tmp_path / d / name).is_symlink() for d in ("out", "hop") for name in NAMES)


def test_a_failed_run_leaves_a_linked_file_as_it_was(tmp_path, write_jsonl, run):
    source = write_jsonl(tmp_path / "in.jsonl", [*RECORDS, "{broken"])
    (tmp_path / "data.jsonl").write_bytes(b"previous\n")
    (tmp_path / "out.jsonl").symlink_to("data.jsonl")

    result = run("clean", source, "-o", tmp_path / "out.jsonl")

    assert result.exit_code == 1
    assert (tmp_path / "data.jsonl").read_bytes() == b"previous\n"
    assert (tmp_path / "out.jsonl").is_symlink()
    assert entries(tmp_path) == ["data.jsonl", "in.jsonl", "out.jsonl"]


@pytest.mark.parametrize("option", ["-o", "--report", "--summary"])
def test_a_socket_is_refused_and_stays(tmp_path, source, run, monkeypatch, option):
    monkeypatch.chdir(tmp_path)  # a relative name: socket paths are limited to about 100 bytes
    server = socket.socket(socket.AF_UNIX)
    server.bind("sock")
    arguments = {"-o": "out.jsonl", "--report": "report.jsonl", "--summary": "summary.json", option: "sock"}
    try:
        result = run("clean", source, *[part for pair in arguments.items() for part in pair])
    finally:
        server.close()

    assert result.exit_code == 1
    assert result.output.endswith(
        "Error: sock: is a socket, which cannot be opened as a file; give a file, a FIFO or - (stdout)\n"
    )
    assert stat.S_ISSOCK((tmp_path / "sock").lstat().st_mode)
    assert entries(tmp_path) == ["in", "sock"], "nothing else is written"


# -- stdin --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encode",
    [gzip.compress, zstandard.ZstdCompressor().compress, lambda data: BOM + data],
    ids=["gzip", "zstd", "byte-order-mark"],
)
def test_compressed_or_marked_stdin(tmp_path, source, expected, run, encode):
    result = run("clean", "-", "-o", tmp_path / "out.jsonl", input=encode(source.read_bytes()))

    assert result.exit_code == 0, result.output
    assert (tmp_path / "out.jsonl").read_bytes() == expected[0]


def test_text_file_output_has_no_byte_order_mark(tmp_path, run):
    text = "A storm closed the harbour for two days.\r\n\r\nFerries resumed; the caf\u00e9 reopened.\r\n".encode()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "page.txt").write_bytes(BOM + text)

    result = run("clean", tmp_path / "in", "-o", tmp_path / "out", "--summary", tmp_path / "summary.json")

    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "summary.json").read_text())["paragraphs"] == {"in": 2, "out": 2}
    assert (tmp_path / "out" / "page.txt").read_bytes() == text, "the text, byte for byte, without the mark"
