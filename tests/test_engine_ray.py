"""The Ray engine gives the local engine's output byte for byte, on a real local Ray."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import stable_summary

from dedup import Cleaner, Config, DedupConfig, Document, InputConfig, Reason, TopicConfig
from dedup.analysis import analyse_batch
from dedup.cleaner import BATCH_SIZE
from dedup.errors import InputError
from dedup.minhash import lsh_params, sketch_similarity
from dedup.read import list_inputs
from dedup.run import clean_files
from dedup.write import Summary, render

ray = pytest.importorskip("ray")
engine = pytest.importorskip("dedup.engines.ray")
shuffle = pytest.importorskip("dedup.engines.shuffle")

SEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "seeds"
FOOTER = "Subscribe to our newsletter for the day's top stories."
CROSS = Config(dedup=DedupConfig(boilerplate=True, cross_doc_paragraphs=True))
NO_TOPIC = Config(topic=TopicConfig(enabled=False))


pytestmark = pytest.mark.usefixtures("local_ray")  # one Ray for the session (conftest.py)


def _sentences() -> list[str]:
    text = " ".join(path.read_text(encoding="utf-8") for path in sorted(SEEDS.glob("*.txt")))
    return sorted({s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= 6})


def _chain(rng: random.Random, pool: list[str]) -> tuple[str, str, str]:
    """Three documents, each a few paragraphs away from the one before."""
    a = rng.sample(pool, 12)
    extra = rng.sample([s for s in pool if s not in a], 6)
    b = extra[:3] + a[3:]
    c = b[:3] + extra[3:] + b[6:]
    return "\n".join(a), "\n".join(b), "\n".join(c)


def _records(count: int, seed: int = 7) -> list[Any]:
    """Documents with near-duplicates across batches, chains, a footer, and bad records."""
    rng = random.Random(seed)
    pool = _sentences()
    records: list[Any] = []
    for i in range(count):
        lines = rng.sample(pool, rng.randint(3, 9))
        lines.insert(rng.randint(0, len(lines)), f"Dispatch {i} from the {rng.choice(['north', 'south'])} desk.")
        if i % 3 == 0:
            lines.append(FOOTER)
        records.append({"id": f"d{i}", "text": "\n".join(lines), "n": i})
        if i % 97 == 5:
            records.extend({"id": f"c{i}-{k}", "text": text} for k, text in enumerate(_chain(rng, pool)))
    records[10] = "not json"
    records[len(records) // 2] = {"id": "no-text"}
    records[len(records) * 3 // 4] = {"id": "d1", "text": "A second record with the id of the first, which is refused."}
    return records


def _write(path: Path, records: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _run_both(tmp_path: Path, inputs: list[Path], output: str, **kwargs: Any) -> dict[str, dict[str, bytes]]:
    found = {}
    for name in ("local", "ray"):
        root = tmp_path / name
        root.mkdir()
        clean_files(inputs, root / output, report=root / "report.jsonl", summary=root / "summary.json",
                    engine=name, workers=2, **kwargs)
        found[name] = {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    return found


def _same_but_engine(found: dict[str, dict[str, bytes]]) -> None:
    local, ray_ = found["local"], found["ray"]
    assert sorted(local) == sorted(ray_)
    summaries = {name: json.loads(files.pop("summary.json")) for name, files in found.items()}
    assert summaries["local"]["engine"] == "local"
    assert summaries["ray"]["engine"] == "ray"
    assert stable_summary(summaries["local"]) == stable_summary(summaries["ray"])
    for name in local:
        assert local[name] == ray_[name], name


def _reasons(report: bytes) -> set[str]:
    return {json.loads(line)["reason"] for line in report.splitlines()}


@pytest.mark.parametrize(
    "config",
    [CROSS, pytest.param(Config(), marks=pytest.mark.slow), pytest.param(NO_TOPIC, marks=pytest.mark.slow)],
    ids=["boilerplate-cross-document", "default", "no-topic"],
)
def test_jsonl_output_report_and_summary_are_the_local_ones(tmp_path: Path, config: Config) -> None:
    records = _records(2 * BATCH_SIZE + 100)
    source = _write(tmp_path / "in" / "docs.jsonl", records)
    found = _run_both(tmp_path, [source], "out.jsonl", config=config, on_error="skip")
    reasons = _reasons(found["local"]["report.jsonl"])
    assert {"duplicate_document", "invalid"} <= reasons, "the corpus must exercise the cross-document stages"
    if config is CROSS:
        assert {"boilerplate", "near_duplicate"} <= reasons
    _same_but_engine(found)


@pytest.mark.parametrize("output", ["out.parquet", "out.jsonl"])
def test_parquet_input_output_report_and_summary_are_the_local_ones(tmp_path: Path, output: str) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    records = [r for r in _records(BATCH_SIZE + 100) if isinstance(r, dict)]
    source = tmp_path / "in" / "docs.parquet"
    source.parent.mkdir()
    pq.write_table(pytest.importorskip("pyarrow").Table.from_pylist(records), source)
    found = _run_both(tmp_path, [source], output, config=CROSS, on_error="skip")
    assert {"duplicate_document", "invalid", "boilerplate"} <= _reasons(found["local"]["report.jsonl"])
    _same_but_engine(found)


@pytest.mark.parametrize(
    ("output", "report", "annotate"),
    [("out.jsonl.gz", "report.jsonl.zst", False), ("out.jsonl.zst", "report.jsonl.gz", True)],
    ids=["gzip", "zstd-annotated"],
)
def test_compressed_and_annotated_outputs_are_the_local_ones(
    tmp_path: Path, output: str, report: str, annotate: bool
) -> None:
    """The workers render the records; the compressed files are still the local engine's, byte for byte."""
    source = _write(tmp_path / "in" / "docs.jsonl", _records(BATCH_SIZE + 60))
    found = {}
    for name in ("local", "ray"):
        root = tmp_path / name
        clean_files([source], root / output, CROSS, report=root / report, on_error="skip", annotate=annotate,
                    engine=name, workers=2)
        found[name] = ((root / output).read_bytes(), (root / report).read_bytes())
    assert found["local"] == found["ray"]
    assert len(found["ray"][0]) > 1000, "the output must hold records"


def test_a_bad_record_is_the_local_error_and_leaves_no_output(tmp_path: Path) -> None:
    source = _write(tmp_path / "in.jsonl", _records(BATCH_SIZE + 20))
    errors = []
    for name in ("local", "ray"):
        root = tmp_path / name
        with pytest.raises(InputError) as caught:
            clean_files([source], root / "out.jsonl", CROSS, report=root / "report.jsonl", engine=name, workers=2)
        errors.append(str(caught.value))
        assert not root.exists() or not list(root.iterdir()), "no half-written file"
    assert errors[0] == errors[1]
    assert f"{source}:11: " in errors[0]


def test_a_document_over_a_limit_given_directly_is_the_local_error() -> None:
    config = Config(input=InputConfig(max_paragraphs=5), dedup=CROSS.dedup)
    records = [r for r in _records(BATCH_SIZE + 20) if isinstance(r, dict) and "text" in r and r["id"] != "d1"]
    docs = [Document(r["id"], r["text"], source="given.jsonl", line=n) for n, r in enumerate(records, 1)]
    with pytest.raises(InputError) as local:
        list(Cleaner(config).clean(docs))
    with pytest.raises(InputError) as on_ray:
        list(engine.clean_rendered(docs, config))
    assert str(on_ray.value) == str(local.value)
    assert "given.jsonl:" in str(local.value)


def test_clean_rendered_is_what_the_local_run_writes() -> None:
    records = [r for r in _records(2 * BATCH_SIZE + 30) if isinstance(r, dict) and "text" in r and r["id"] != "d1"]
    docs = [Document(r["id"], r["text"], {**r}) for r in records]
    local = render(Cleaner(CROSS).clean(docs), "text", annotate=True)
    parts = list(engine.clean_rendered(docs, CROSS, annotate=True, window=1))
    counts = Summary()
    for part in parts:
        counts.merge(part.counts)
    assert len(parts) == 3
    assert b"".join(data for part in parts for _, data in part.output) == local.output[0][1]
    assert b"".join(part.report for part in parts) == local.report
    assert counts == local.counts


def test_html_keeps_the_results_in_the_driver_and_the_output_is_the_local_one(tmp_path: Path) -> None:
    source = _write(tmp_path / "in.jsonl", _records(80))
    for name in ("local", "ray"):
        clean_files([source], tmp_path / f"{name}.jsonl", CROSS, on_error="skip", html=tmp_path / f"{name}.html",
                    engine=name, workers=2)
    assert (tmp_path / "local.jsonl").read_bytes() == (tmp_path / "ray.jsonl").read_bytes()
    assert (tmp_path / "ray.html").stat().st_size > 1000


def _cut_after_line(path: Path, line: int) -> int:
    """A range size that makes the first range of ``path`` end just after line ``line`` (1-based)."""
    data = path.read_bytes()
    end = 0
    for _ in range(line):
        end = data.index(b"\n", end) + 1
    return end - 1  # the first range ends after the line holding its last byte: here, line ``line``'s break


def test_plain_jsonl_read_in_ranges_by_the_workers_is_the_local_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Invalid lines inside a range and at the end of one, repeated ids across ranges and files, batches
    made of ranges and of a compressed input read by the driver: the local output, report and summary."""
    first = _write(tmp_path / "in" / "a.jsonl", _records(BATCH_SIZE + 40))
    gz = tmp_path / "in" / "b.jsonl.gz"
    gz.write_bytes(__import__("gzip").compress(_write(tmp_path / "b.jsonl", _records(60, seed=5)).read_bytes()))
    third = _write(tmp_path / "in" / "c.jsonl", _records(BATCH_SIZE, seed=9))
    size = _cut_after_line(first, 11)  # line 11 is not JSON: the first range ends with it
    monkeypatch.setattr(engine, "RANGE_BYTES", size)
    assert len(engine.line_ranges(first, size)) > 10

    found = _run_both(tmp_path, [first, gz, third], "out.jsonl", config=CROSS, on_error="skip")

    report = [json.loads(line) for line in found["local"]["report.jsonl"].splitlines()]
    invalid = {(Path(r["source"]).name, r["line"]) for r in report if r["reason"] == "invalid"}
    assert ("a.jsonl", 11) in invalid
    assert any(name == "c.jsonl" and "duplicate id" in r["error"] for r in report if r["reason"] == "invalid"
               for name in [Path(r["source"]).name])
    _same_but_engine(found)


@pytest.mark.parametrize("bad", ["json", "duplicate-id"])
def test_plain_jsonl_read_in_ranges_raises_the_local_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    records = _records(BATCH_SIZE + 40)
    if bad == "duplicate-id":
        records = [r for r in records if isinstance(r, dict) and "text" in r]
        records[200] = {**records[200], "id": records[30]["id"]}
    source = _write(tmp_path / "in.jsonl", records)
    monkeypatch.setattr(engine, "RANGE_BYTES", 3000)
    errors = []
    for name in ("local", "ray"):
        with pytest.raises(InputError) as caught:
            clean_files([source], tmp_path / f"{name}.jsonl", CROSS, engine=name, workers=2)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]
    assert (":11: not valid JSON" if bad == "json" else ":201: duplicate id") in errors[0]


def _jsonl_bytes(records: list[Any]) -> bytes:
    """JSONL lines; a record given as bytes is written as it is (invalid UTF-8, say)."""
    return b"".join((r if isinstance(r, bytes) else r.encode() if isinstance(r, str) else json.dumps(r).encode())
                    + b"\n" for r in records)


def _renamed(records: list[Any], prefix: str) -> list[Any]:
    return [{**r, "id": f"{prefix}{r['id']}"} if isinstance(r, dict) else r for r in records]


def _record_inputs(root: Path) -> Path:
    """A directory of record inputs the workers read whole: gzip and zstd JSONL, and Parquet.

    More than a batch of records per file, so that the batches' edges fall
    inside them; invalid records in the gzip file (a line that is not JSON,
    one without text, one that is not UTF-8); ids repeated across files.
    """
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    zstandard = pytest.importorskip("zstandard")
    root.mkdir(parents=True)
    first = _records(BATCH_SIZE + 40)
    first.insert(100, b'{"id": "latin-1", "text": "caf\xe9 au lait"}')
    (root / "a.jsonl.gz").write_bytes(__import__("gzip").compress(_jsonl_bytes(first), mtime=0))
    second = _renamed(_records(BATCH_SIZE + 20, seed=5), "b")
    second[30] = {**second[30], "id": "d8"}  # an id of the gzip file
    (root / "b.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(_jsonl_bytes(second)))
    third = [r for r in _renamed(_records(BATCH_SIZE + 50, seed=9), "c") if isinstance(r, dict) and "text" in r]
    third[40] = {**third[40], "id": "bd12"}
    pq.write_table(pa.Table.from_pylist(third), root / "c.parquet", row_group_size=64)
    return root


def _page_inputs(root: Path) -> Path:
    """A directory of 150 text files, after a gzip JSONL file that has the id of one of them."""
    rng = random.Random(3)
    pool = _sentences()
    (root / "t").mkdir(parents=True)
    records = _renamed(_records(60, seed=11), "j")
    records[20] = {**records[20], "id": "t/007.txt"}  # the id the text file has: that file is refused
    (root / "j.jsonl.gz").write_bytes(__import__("gzip").compress(_jsonl_bytes(records), mtime=0))
    for i in range(150):
        own = f"Page {i} of the archive lists the {rng.choice(['spring', 'autumn'])} sessions of council number {i}."
        (root / "t" / f"{i:03}.txt").write_text("\n".join([own, *rng.sample(pool, 4), FOOTER]) + "\n",
                                                encoding="utf-8")
    return root


@pytest.mark.parametrize("kind", ["records", "pages"])
def test_compressed_parquet_and_text_inputs_read_by_the_workers_are_the_local_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Each compressed or Parquet file and each group of text files is read by a worker, never by the
    driver, and the output, report and summary are the local engine's."""
    monkeypatch.setattr(engine, "TEXT_FILES", 40)  # several groups of text files, one cut short
    inputs = (_record_inputs if kind == "records" else _page_inputs)(tmp_path / "in")
    parts = list(engine._parts(list_inputs([inputs]), engine.RANGE_BYTES))
    assert [len(part.files) for part in parts] == ([1, 1, 1] if kind == "records" else [1, 40, 40, 40, 30])
    assert all(part.end is None for part in parts)

    def not_here(*args: Any) -> Any:
        raise AssertionError("the driver read or counted an input that a worker should have read")

    # What the driver calls when a worker does not see a file; the workers import their own, unpatched.
    for name in ("count_range", "read_range", "read_inputs"):
        monkeypatch.setattr(engine, name, not_here)
    found = _run_both(tmp_path, [inputs], "out.jsonl" if kind == "records" else "out", config=CROSS,
                      on_error="skip")

    report = [json.loads(line) for line in found["local"]["report.jsonl"].splitlines()]
    invalid = {(Path(r["source"]).name, r["line"], r["error"]) for r in report if r["reason"] == "invalid"}
    if kind == "records":
        assert {(name, line) for name, line, _ in invalid} >= {
            ("a.jsonl.gz", 11), ("a.jsonl.gz", 101), ("b.jsonl.zst", 31), ("c.parquet", 41)}
        assert any(error.startswith("invalid UTF-8") for _, _, error in invalid)
    else:
        assert ("007.txt", None, "duplicate id 't/007.txt': ids must be unique across the inputs") in invalid
        assert any(name.endswith(".txt") for name in found["local"])
    assert {"duplicate_document", "boilerplate"} <= _reasons(found["local"]["report.jsonl"])
    _same_but_engine(found)


@pytest.mark.parametrize("bad", ["json", "no-text", "utf-8", "duplicate-id"])
def test_a_bad_record_in_a_compressed_file_raises_the_local_error(tmp_path: Path, bad: str) -> None:
    records: list[Any] = [r for r in _records(BATCH_SIZE + 40) if isinstance(r, dict) and "text" in r]
    records = [r for r in records if r["id"] != "d1" or "second" not in r["text"]]
    records[200] = {
        "json": '{"id": "cut", "text": "cut sh',
        "no-text": {"id": "no-text"},
        "utf-8": b'{"id": "latin-1", "text": "caf\xe9"}',
        "duplicate-id": {**records[200], "id": records[30]["id"]},
    }[bad]
    first = tmp_path / "in" / "a.jsonl.gz"
    first.parent.mkdir()
    first.write_bytes(__import__("gzip").compress(_jsonl_bytes(records[:150]), mtime=0))
    second = tmp_path / "in" / "b.jsonl.gz"
    second.write_bytes(__import__("gzip").compress(_jsonl_bytes(records[150:]), mtime=0))
    errors = []
    for name in ("local", "ray"):
        with pytest.raises(InputError) as caught:
            clean_files([first, second], tmp_path / f"{name}.jsonl", CROSS, engine=name, workers=2)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]
    assert f"{second}:51: " in errors[0]


def test_chains_keep_the_first_and_the_last(tmp_path: Path) -> None:
    """A≈B and B≈C, A≉C: B is dropped as a copy of A, so C, compared with A only, is kept."""
    pool = _sentences()
    for seed in range(50):
        texts = _chain(random.Random(seed), pool)
        docs = [Document(name, text) for name, text in zip("abc", texts, strict=True)]
        analyses = analyse_batch(docs, NO_TOPIC, None)
        similar = [sketch_similarity(analyses[i].doc_sketch, analyses[j].doc_sketch) >= 0.7
                   for i, j in ((0, 1), (1, 2), (0, 2))]
        if similar == [True, True, False]:
            break
    else:
        pytest.fail("no chain among the seeds")
    local = list(Cleaner(NO_TOPIC).clean(docs))
    assert [r.dropped for r in local] == [None, Reason.DUPLICATE_DOCUMENT, None]
    assert list(engine.clean_stream(docs, NO_TOPIC)) == local


def test_no_documents_and_invalid_records_only() -> None:
    assert list(engine.clean_stream([], CROSS)) == []
    invalid = engine.InvalidRecord("in.jsonl", 1, "not valid JSON")
    assert list(engine.clean_stream([invalid], CROSS)) == list(Cleaner(CROSS).clean([invalid]))


def test_windows_of_any_size_give_the_same_results() -> None:
    records = [r for r in _records(BATCH_SIZE + 50) if isinstance(r, dict) and "text" in r and r["id"] != "d1"]
    docs = [Document(r["id"], r["text"], {"n": r["n"]} if "n" in r else {}) for r in records]
    local = list(Cleaner(CROSS).clean(docs))
    assert list(engine.clean_stream(docs, CROSS, window=1)) == local


def test_a_footer_in_2000_documents_costs_comparisons_linear_in_the_documents() -> None:
    """One long footer, numbered per document: 2,000 near-copies share the same band buckets.

    Verifying every pair of a bucket would take some two million
    comparisons; each item is compared with the bucket's representatives only.
    """
    rng = random.Random(4)
    words = sorted({w for s in _sentences() for w in re.findall(r"[a-z]+", s.lower())})
    count = 2000
    config = Config(dedup=DedupConfig(boilerplate=True, cross_doc_paragraphs=True), topic=TopicConfig(enabled=False))
    docs = []
    for i in range(count):
        body = [" ".join(rng.choices(words, k=14)).capitalize() + "." for _ in range(4)]
        footer = (
            "This report was filed by the regional newsroom of the evening paper and may not be reproduced, "
            f"broadcast or rewritten without the written consent of the editors; reference number {i}."
        )
        docs.append(Document(f"d{i}", "\n".join([*body, FOOTER, footer])))
    stats = shuffle.ShuffleStats()

    results = list(engine.clean_stream(docs, config, stats=stats))

    assert results == list(Cleaner(config).clean(docs))
    assert sum(r.dropped is None for r in results) == count, "the documents must differ"
    footers = [r.decisions[-1].reason for r in results]
    assert footers.count(Reason.NEAR_DUPLICATE) == count - 1, "the numbered footers must repeat the first"
    assert [r.decisions[-2].reason for r in results].count(Reason.BOILERPLATE) == count - 2
    bands, _ = lsh_params(config.dedup.threshold, config.shingle.num_perm)
    assert 0 < stats.comparisons["para"] <= 2 * bands * count


def test_reducer_rows_taken_a_few_at_a_time_give_the_same_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver turns the reducers' rows into Python values in slices; a bucket may span two of them."""
    records = [r for r in _records(BATCH_SIZE + 50) if isinstance(r, dict) and "text" in r and r["id"] != "d1"]
    docs = [Document(r["id"], r["text"]) for r in records]
    monkeypatch.setattr(shuffle, "ROWS_AT_ONCE", 3)
    stats = shuffle.ShuffleStats()
    assert list(engine.clean_stream(docs, CROSS, stats=stats)) == list(Cleaner(CROSS).clean(docs))
    assert stats.edges["para"] > 3, "the rows must come in several slices"


def test_more_reducers_than_cpus_and_sketches_joined_a_few_at_a_time_give_the_same_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each kind's rows over many reducers (a bucket's rows from every batch), each joining in few sketches at once."""
    records = [r for r in _records(BATCH_SIZE + 50) if isinstance(r, dict) and "text" in r and r["id"] != "d1"]
    docs = [Document(r["id"], r["text"]) for r in records]
    monkeypatch.setattr(shuffle, "ROWS_PER_REDUCER", 200)
    monkeypatch.setattr(shuffle, "SKETCHES_AT_ONCE", 5)
    stats = shuffle.ShuffleStats()
    assert list(engine.clean_stream(docs, CROSS, stats=stats)) == list(Cleaner(CROSS).clean(docs))
    assert all(stats.partitions[kind] > 2 for kind in ("line", "doc", "para")), stats.partitions
    assert stats.edges["doc"] and stats.edges["para"]


def test_mirrored_text_directory(tmp_path: Path) -> None:
    rng = random.Random(1)
    pool = _sentences()
    inputs = tmp_path / "in"
    for i in range(12):
        path = inputs / f"part{i % 3}" / f"page{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        own = f"Page {i} of the archive lists the {rng.choice(['spring', 'autumn'])} sessions of council number {i}."
        path.write_text("\n".join([own, *rng.sample(pool, 5), FOOTER]) + "\n", encoding="utf-8")
    _write(inputs / "part0" / "more.jsonl", _records(40, seed=3))
    found = _run_both(tmp_path, [inputs], "out", config=CROSS, on_error="skip")
    assert any(name.endswith(".txt") for name in found["local"])
    _same_but_engine(found)


def test_clean_dataset_orders_by_position() -> None:
    records = [r for r in _records(300) if isinstance(r, dict) and "text" in r and r["id"] != "d1"]
    shuffled = list(enumerate(records))
    random.Random(2).shuffle(shuffled)
    dataset = ray.data.from_items([{"position": p, **r} for p, r in shuffled])
    rows = sorted(engine.clean_dataset(dataset, CROSS).take_all(), key=lambda row: row["position"])
    local = list(Cleaner(CROSS).clean(records))
    assert [row["id"] for row in rows] == [r.id for r in local]
    assert [row["dropped"] for row in rows] == [None if r.dropped is None else r.dropped.value for r in local]
    kept = [json.loads(row["record"]) for row in rows if row["record"] is not None]
    assert [k["text"] for k in kept] == [r.text for r in local if r.dropped is None]
    assert all(k.get("n") == records[row["position"]].get("n") for k, row in zip(kept, [r for r in rows if r["record"]],
                                                                          strict=True))


def test_clean_dataset_raises_the_local_error_of_a_document_over_a_limit() -> None:
    config = Config(input=InputConfig(max_paragraphs=5), dedup=CROSS.dedup)
    records = [r for r in _records(40) if isinstance(r, dict) and "text" in r and r["id"] != "d1"]
    dataset = ray.data.from_items([{"position": p, **r} for p, r in enumerate(records)])
    with pytest.raises(InputError) as local:
        list(Cleaner(config).clean(Document(r["id"], r["text"], source="<dataset>", line=p)
                                   for p, r in enumerate(records)))
    with pytest.raises(InputError) as on_ray:
        engine.clean_dataset(dataset, config)
    assert str(on_ray.value) == str(local.value)


@pytest.mark.parametrize(
    "option", [["--state", "state"], ["--resume", "--state", "state"], ["--index", "index.npz"]]
)
def test_state_and_index_are_usage_errors(tmp_path: Path, run: Callable[..., Any], option: list[str]) -> None:
    source = _write(tmp_path / "in.jsonl", [{"id": "a", "text": "Some text that is long enough to keep."}])
    result = run("clean", source, "-o", tmp_path / "out.jsonl", "--engine", "ray", *option)
    assert result.exit_code == 2
    assert "--state, --resume and --index work with the local engine only" in " ".join(result.output.split())
    assert not (tmp_path / "out.jsonl").exists()


def test_command_line_engine_ray(tmp_path: Path, run: Callable[..., Any]) -> None:
    source = _write(tmp_path / "in.jsonl", _records(60))
    for name in ("local", "ray"):
        result = run("clean", source, "-o", tmp_path / f"{name}.jsonl", "--report", tmp_path / f"{name}.report",
                     "--on-error", "skip", "--engine", name)
        assert result.exit_code == 0, result.output
    assert (tmp_path / "local.jsonl").read_bytes() == (tmp_path / "ray.jsonl").read_bytes()
    assert (tmp_path / "local.report").read_bytes() == (tmp_path / "ray.report").read_bytes()


def test_missing_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "ray", None)
    with pytest.raises(engine.RayMissingError, match=r'pip install "dedup\[ray\]"'):
        engine.connect()
