"""Fuzzing the readers: any bytes in, only documented outcomes out.

A reader yields :class:`~dedup.data.Document` records and, when asked to
skip bad input, :class:`~dedup.read.InvalidRecord` records; when asked to
raise, it raises :class:`~dedup.errors.InputError` naming the file. Nothing
else, whatever the bytes: broken JSON, binary data, damaged or truncated
compression. The example counts bound the time this takes in CI.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import zstandard
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dedup.cleaner import Cleaner
from dedup.config import Config, InputConfig, TopicConfig
from dedup.data import Document, Reason
from dedup.errors import InputError
from dedup.read import BOM, InputFile, InvalidRecord, read_inputs, read_jsonl, read_text
from dedup.write import Summary, dumps, report_lines

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FRAGMENTS = [
    b'{"id": "a", "text": "A line.\\nA line."}',
    b'{"id": 7, "text": "caf\\u00e9 \\u4e2d\\u6587 \\ud83d\\ude00", "extra": [1, {"b": null}]}',
    b'{"id": "b", "text": null}',
    b'{"id": true, "text": "x"}',
    b'{"text": "no id"}',
    b'{"id": "c"}',
    b'{"id": "d", "text": ""}',
    b'{"id": "e", "text": "   \\n\\t"}',
    b'[1, 2]',
    b'"a string"',
    b"{",
    b'{"id": "f", "text": "x"} trailing',
    b"\xff\xfe\xfd",
    b"\x00\x00",
    b'{"id": "g", "text": "nul \x00 raw"}',
    b'{"id": "h", "text": "' + b"long " * 400 + b'"}',
    b"",
    b"   ",
]
LINES = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=40)), max_size=12)
PAYLOADS = st.one_of(
    st.tuples(LINES, st.sampled_from([b"\n", b"\r\n", b"\r"])).map(lambda t: t[1].join(t[0])),
    st.binary(max_size=600),
)
DAMAGE = st.sampled_from(["none", "truncate", "flip", "garbage-after"])


def compress(data: bytes, name: str, damage: str, cut: int) -> bytes:
    """``data`` as the file ``name`` holds it, compressed by suffix, then damaged."""
    if name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    elif name.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    if damage == "truncate" and data:
        data = data[: cut % len(data)]
    elif damage == "flip" and data:
        position = cut % len(data)
        data = data[:position] + bytes([data[position] ^ 0x5A]) + data[position + 1 :]
    elif damage == "garbage-after":
        data += b"\x00garbage"
    return data


def check_item(item: object, path: str) -> None:
    if isinstance(item, Document):
        assert isinstance(item.id, str) and isinstance(item.text, str)
        assert item.source == path
    else:
        assert isinstance(item, InvalidRecord), f"not a documented outcome: {item!r}"
        assert item.source == path and item.message
        assert item.line is None or item.line >= 1


def read_all(file: InputFile, config: InputConfig, on_error: str) -> tuple[list[object], InputError | None]:
    reader = read_jsonl if file.kind == "jsonl" else read_text
    items: list[object] = []
    try:
        for item in reader(file, config, on_error):  # type: ignore[arg-type]
            items.append(item)
    except InputError as error:
        return items, error
    return items, None


@FUZZ
@given(
    payload=PAYLOADS,
    name=st.sampled_from(["in.jsonl", "in.jsonl.gz", "in.jsonl.zst", "in.txt"]),
    damage=DAMAGE,
    cut=st.integers(0, 10_000),
    max_doc_bytes=st.sampled_from([16 * 1024 * 1024, 64]),
)
@example(payload=b"\xef\xbb\xbfA line.\n", name="in.txt", damage="none", cut=0, max_doc_bytes=64)
def test_readers_give_only_documented_outcomes(payload, name, damage, cut, max_doc_bytes):
    config = InputConfig(max_doc_bytes=max_doc_bytes)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / name
        written = compress(payload, name, damage, cut)
        path.write_bytes(written)
        file = InputFile(str(path), name, "txt" if name.endswith(".txt") else "jsonl")

        raised_items, error = read_all(file, config, "raise")
        skipped_items, skip_error = read_all(file, config, "skip")

    assert skip_error is None, f"skipping bad input never raises: {skip_error}"
    for item in raised_items + skipped_items:
        check_item(item, str(path))
    assert all(isinstance(item, Document) for item in raised_items)
    if error is not None:
        assert error.source == str(path)
        assert str(error).startswith(f"{path}")
        assert error.line is None or error.line >= 1
    # Up to the first bad record, both modes read the same documents; skipping then goes on.
    assert skipped_items[: len(raised_items)] == raised_items
    if error is None:
        assert skipped_items == raised_items
    else:
        assert isinstance(skipped_items[len(raised_items)], InvalidRecord)
    if name.endswith(".txt") and error is None:
        # The text is the file's bytes but for a byte-order mark, which is no text.
        assert [d.text.encode("utf-8") for d in raised_items] == [written.removeprefix(BOM)]  # type: ignore[attr-defined]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payloads=st.lists(st.tuples(LINES, st.sampled_from([b"\n", b"\r\n"])).map(lambda t: t[1].join(t[0])),
                      min_size=1, max_size=3),
    max_paragraphs=st.sampled_from([100_000, 2]),
)
def test_every_record_is_accounted_for(payloads, max_paragraphs):
    """Read with skip and clean: each record comes out once, as a result with a reason or kept."""
    config = Config(topic=TopicConfig(enabled=False), input=InputConfig(max_doc_bytes=200,
                                                                          max_paragraphs=max_paragraphs))
    with tempfile.TemporaryDirectory() as directory:
        files = []
        for n, payload in enumerate(payloads):
            path = Path(directory) / f"{n}.jsonl"
            path.write_bytes(payload)
            files.append(InputFile(str(path), path.name, "jsonl"))
        items = list(read_inputs(files, config.input, "skip"))
        results = list(Cleaner(config).clean(items))

    records = sum(1 for payload in payloads for line in payload.splitlines() if line.strip())
    assert len(items) == len(results) <= records + len(payloads)
    counts = Summary()
    for result in results:
        counts.add(result)
        lines = list(report_lines(result))
        for line in lines:
            json.loads(dumps(line))
        if result.dropped is not None:
            assert lines[-1]["reason"] == result.dropped.value
    assert counts.documents_in == counts.documents_out + counts.documents_dropped + counts.documents_skipped
    assert counts.documents_skipped == sum(1 for i in items if isinstance(i, InvalidRecord))
    assert all(r.dropped is Reason.INVALID for r, i in zip(results, items, strict=True) if isinstance(i, InvalidRecord))
