"""Parquet inputs and outputs: the records of JSONL, in columns."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dedup import Config, TopicConfig
from dedup.errors import InputError
from dedup.read import InputFile, count_range, read_inputs, read_range
from dedup.run import clean_files

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

NO_TOPIC = Config(topic=TopicConfig(enabled=False))
STORY = "The council met on Tuesday to vote on the new budget for the city's libraries and parks."


def _records() -> list[dict[str, Any]]:
    return [
        {"id": "a", "text": f"{STORY}\nThe vote was close.", "year": 2024},
        {"id": "b", "text": f"{STORY}\nThe vote was close.", "year": 2023},
        {"id": "c", "text": "A different story about rain over the harbour, which flooded two streets.", "year": 2022},
    ]


def _parquet(path: Path, records: list[dict[str, Any]]) -> Path:
    pq.write_table(pa.Table.from_pylist(records), path)
    return path


def _jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_parquet_input_gives_the_jsonl_input_output(tmp_path: Path) -> None:
    records = _records()
    clean_files([_parquet(tmp_path / "in.parquet", records)], tmp_path / "p.jsonl", NO_TOPIC,
                report=tmp_path / "p.report")
    clean_files([_jsonl(tmp_path / "in.jsonl", records)], tmp_path / "j.jsonl", NO_TOPIC,
                report=tmp_path / "j.report")
    assert (tmp_path / "p.jsonl").read_bytes() == (tmp_path / "j.jsonl").read_bytes()
    kept = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [(k["id"], k["year"]) for k in kept] == [("a", 2024), ("c", 2022)], "other columns pass through"
    reports = [(tmp_path / name).read_text().replace("in.parquet", "in.jsonl") for name in ("p.report", "j.report")]
    assert reports[0] == reports[1]


def test_parquet_output_holds_the_kept_records(tmp_path: Path) -> None:
    records = _records()
    summary = clean_files([_parquet(tmp_path / "in.parquet", records)], tmp_path / "out.parquet", NO_TOPIC)
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column_names == ["id", "text", "year"]
    assert table.to_pylist() == [records[0], records[2]]
    assert (summary.documents_in, summary.documents_out) == (3, 2)
    # The same run writes the same bytes.
    first = (tmp_path / "out.parquet").read_bytes()
    clean_files([tmp_path / "in.parquet"], tmp_path / "out.parquet", NO_TOPIC)
    assert (tmp_path / "out.parquet").read_bytes() == first


def test_jsonl_input_to_parquet_output_and_empty_output(tmp_path: Path) -> None:
    source = _jsonl(tmp_path / "in.jsonl", _records())
    clean_files([source], tmp_path / "out.parquet", NO_TOPIC)
    assert [r["id"] for r in pq.read_table(tmp_path / "out.parquet").to_pylist()] == ["a", "c"]
    clean_files([_jsonl(tmp_path / "none.jsonl", [])], tmp_path / "empty.parquet", NO_TOPIC)
    assert pq.read_table(tmp_path / "empty.parquet").num_rows == 0


def test_a_missing_text_column_names_the_file_and_the_option(tmp_path: Path) -> None:
    source = _parquet(tmp_path / "in.parquet", [{"id": "a", "body": "Some text."}])
    with pytest.raises(InputError) as caught:
        clean_files([source], tmp_path / "out.jsonl", NO_TOPIC)
    assert str(caught.value) == (
        f"{source}: no 'text' column (columns: id, body); name the text column with --text-field"
    )
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"id": "b", "text": None}, "field 'text' must be a string, found NoneType"),
        ({"id": None, "text": "Text without an id."}, "no 'id' field; name the id field with --id-field"),
    ],
)
def test_a_bad_row_is_jsonl_s_error_at_its_row(tmp_path: Path, row: dict[str, Any], message: str) -> None:
    records = [*_records()[:2], row, _records()[2]]
    source = _parquet(tmp_path / "in.parquet", records)
    with pytest.raises(InputError) as caught:
        clean_files([source], tmp_path / "out.jsonl", NO_TOPIC)
    assert str(caught.value) == f"{source}:3: {message}"
    clean_files([source], tmp_path / "out.jsonl", NO_TOPIC, report=tmp_path / "report.jsonl", on_error="skip")
    invalid = [json.loads(line) for line in (tmp_path / "report.jsonl").read_text().splitlines()
               if json.loads(line)["reason"] == "invalid"]
    assert len(invalid) == 1 and invalid[0]["line"] == 3 and message in json.dumps(invalid[0])


def test_a_non_string_text_column(tmp_path: Path) -> None:
    source = _parquet(tmp_path / "in.parquet", [{"id": "a", "text": 5}])
    with pytest.raises(InputError, match=r"in\.parquet:1: field 'text' must be a string, found int"):
        clean_files([source], tmp_path / "out.jsonl", NO_TOPIC)


def test_a_damaged_file_is_an_input_error(tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    source.write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match=r"cannot read the file: .*is it a whole Parquet file"):
        clean_files([source], tmp_path / "out.jsonl", NO_TOPIC)


def test_command_line_parquet_in_and_out(tmp_path: Path, run: Callable[..., Any]) -> None:
    source = _parquet(tmp_path / "in.parquet", _records())
    result = run("clean", source, "-o", tmp_path / "out.parquet", "--no-topic")
    assert result.exit_code == 0, result.output
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 2


@pytest.mark.parametrize(
    ("output", "extra", "message"),
    [
        ("out/", [], "Parquet inputs are written to one output file"),
        ("out.parquet", ["--state", "state"], "a resumable run cannot write Parquet"),
    ],
)
def test_parquet_layouts_that_cannot_work_are_usage_errors(
    tmp_path: Path, run: Callable[..., Any], output: str, extra: list[str], message: str
) -> None:
    source = _parquet(tmp_path / "in.parquet", _records())
    result = run("clean", source, "-o", f"{tmp_path}/{output}", *extra)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


@pytest.mark.parametrize("case", ["sound", "bad-rows", "no-text-column", "damaged"])
def test_a_file_is_read_by_a_worker_as_the_reader_reads_it_and_counted_first(tmp_path: Path, case: str) -> None:
    """What the Ray engine's workers read of a Parquet file (:func:`dedup.read.read_range`) is the local
    reader's, and it is counted before it is read, bad rows and damaged files included."""
    records: list[dict[str, Any]] = [*_records() * 500]
    records = [{**r, "id": f"{r['id']}{n}"} for n, r in enumerate(records)]
    if case == "bad-rows":
        records[3] = {"id": "x", "text": None, "year": 1}
        records[1200] = {"id": None, "text": "no id", "year": 1}
    if case == "no-text-column":
        records = [{"id": r["id"], "body": r["text"]} for r in records]
    path = _parquet(tmp_path / "in.parquet", records)
    if case == "damaged":
        path.write_bytes(b"PAR1 not really")
    file = InputFile(str(path), path.name, "parquet")
    config = Config().input

    whole = list(read_inputs([file], config, "skip"))
    read = list(read_range(file, config, "skip"))

    assert read == whole
    assert count_range(file, config) == (0, len(read))
    assert len(read) == (1 if case in ("no-text-column", "damaged") else len(records))
