"""Inputs and outputs in object storage (``s3://``), against a real S3-protocol server on this machine (moto's)."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zstandard
from conftest import stable_summary

from dedup.cleaner import BATCH_SIZE
from dedup.errors import ArgumentError, DedupError, InputError, ObjectStoreError
from dedup.objstore import is_uri
from dedup.read import list_inputs
from dedup.run import clean_files
from dedup.write import OutputError, atomic_binary

boto3 = pytest.importorskip("boto3")
pytest.importorskip("pyarrow.fs")
pytest.importorskip("moto.server")

from test_engine_ray import CROSS, _records, _same_but_engine, _write  # noqa: E402 - after the skips


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    """A new, empty bucket."""
    name = f"dedup-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


def _client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint)


def _put(endpoint: str, bucket: str, key: str, data: bytes) -> str:
    _client(endpoint).put_object(Bucket=bucket, Key=key, Body=data)
    return f"s3://{bucket}/{key}"


def _keys(endpoint: str, bucket: str) -> list[str]:
    """The keys of the bucket's objects, but for empty "directory" markers (``prefix/``).

    pyarrow puts such a marker for the parent of every key it moves or
    deletes (so that the "directory" outlives its last object): the markers
    hold nothing, and readers (dedup's listing of a prefix too) skip them.
    """
    found = _client(endpoint).list_objects_v2(Bucket=bucket).get("Contents", [])
    return sorted(item["Key"] for item in found if not (item["Key"].endswith("/") and item["Size"] == 0))


def _get(endpoint: str, bucket: str, key: str) -> bytes:
    return bytes(_client(endpoint).get_object(Bucket=bucket, Key=key)["Body"].read())


def _outputs(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _jsonl(records: list[Any]) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records).encode()


def _parquet(records: list[Any]) -> bytes:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist([r for r in records if isinstance(r, dict)]), sink)
    return bytes(sink.getvalue().to_pybytes())


def test_is_uri_looks_at_the_string_only() -> None:
    assert is_uri("s3://bucket/key") and is_uri("gs://bucket/") and is_uri("hdfs://host:8020/a")
    assert not is_uri("in.jsonl") and not is_uri("/data/s3:/x") and not is_uri("C://x") and not is_uri(Path("a"))


# -- reading ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["jsonl", "jsonl.gz", "jsonl.zst", "parquet"])
def test_local_engine_reads_an_object_as_it_reads_the_file(
    tmp_path: Path, s3_endpoint: str, bucket: str, kind: str
) -> None:
    records = _records(BATCH_SIZE + 50)
    data = {"jsonl": _jsonl, "jsonl.gz": lambda r: gzip.compress(_jsonl(r), mtime=0),
            "jsonl.zst": lambda r: zstandard.ZstdCompressor().compress(_jsonl(r)), "parquet": _parquet}[kind](records)
    local = tmp_path / f"docs.{kind}"
    local.write_bytes(data)
    uri = _put(s3_endpoint, bucket, f"corpus/docs.{kind}", data)
    found = {}
    for name, source in (("local", local), ("ray", uri)):  # "ray" names the second run for _same_but_engine
        root = tmp_path / name
        counts = clean_files(source, root / "out.jsonl", CROSS, report=root / "report.jsonl",
                             summary=root / "summary.json", on_error="skip", workers=1)
        found[name] = _outputs(root)
    assert counts.documents_skipped > 0 and counts.documents_out > 0, "the corpus must hold kept and bad records"
    for files in found.values():  # both ran on the local engine
        files["summary.json"] = json.dumps({**stable_summary(files["summary.json"]), "engine": None}).encode()
    local_report, s3_report = found["local"]["report.jsonl"], found["ray"]["report.jsonl"]
    assert local_report.replace(str(local).encode(), uri.encode()) == s3_report, "invalid records name the URI"
    found["local"]["report.jsonl"] = found["ray"]["report.jsonl"]
    assert found["local"] == found["ray"]


def test_a_prefix_is_read_as_a_directory_and_mirrored(tmp_path: Path, s3_endpoint: str, bucket: str) -> None:
    texts = {"a/one.txt": "The council met on Tuesday.\nThe council met on Tuesday.\n",
             "b/two.txt": "A second text, with a line of its own.\n", "skip.md": "not an input"}
    (tmp_path / "in").mkdir()
    for relative, text in texts.items():
        (tmp_path / "in" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / relative).write_text(text)
        _put(s3_endpoint, bucket, f"crawl/{relative}", text.encode())
    clean_files(tmp_path / "in", tmp_path / "local" / "", workers=1)
    clean_files(f"s3://{bucket}/crawl/", f"s3://{bucket}/clean/", workers=1)
    local = _outputs(tmp_path / "local")
    assert sorted(local) == ["a/one.txt", "b/two.txt"]
    assert [k for k in _keys(s3_endpoint, bucket) if k.startswith("clean/")] == ["clean/a/one.txt", "clean/b/two.txt"]
    for relative, data in local.items():
        assert _get(s3_endpoint, bucket, f"clean/{relative}") == data


@pytest.mark.parametrize("engine", ["local", "ray"])
def test_a_bad_record_names_the_uri_and_the_line(
    tmp_path: Path, s3_endpoint: str, bucket: str, engine: str, request: pytest.FixtureRequest
) -> None:
    if engine == "ray":
        request.getfixturevalue("local_ray")
    uri = _put(s3_endpoint, bucket, "in.jsonl", _jsonl(_records(BATCH_SIZE + 20)))
    with pytest.raises(InputError) as caught:
        clean_files(uri, f"s3://{bucket}/out.jsonl", CROSS, report=f"s3://{bucket}/report.jsonl", engine=engine,
                    workers=2)
    assert str(caught.value).startswith(f"{uri}:11: not valid JSON")
    assert _keys(s3_endpoint, bucket) == ["in.jsonl"], "no output, and no temporary object"


def test_a_resumable_run_stamps_objects_and_resumes_to_the_same_output(
    tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    uris = [_put(s3_endpoint, bucket, f"in/{name}.jsonl", _jsonl(_records(40, seed=seed)))
            for name, seed in (("a", 1), ("b", 2))]
    clean_files(uris, tmp_path / "plain.jsonl", CROSS, on_error="skip", workers=1)
    clean_files(uris, tmp_path / "state.jsonl", CROSS, on_error="skip", workers=1, state=tmp_path / "state")
    manifest = (tmp_path / "state" / "manifest.json").read_text()
    assert uris[0] in manifest and '"size": -1' not in manifest, "each object is stamped with its size"
    clean_files(uris, tmp_path / "resumed.jsonl", CROSS, on_error="skip", workers=1, state=tmp_path / "state",
                resume=True)
    assert (tmp_path / "plain.jsonl").read_bytes() == (tmp_path / "state.jsonl").read_bytes()
    assert (tmp_path / "resumed.jsonl").read_bytes() == (tmp_path / "plain.jsonl").read_bytes()


def test_the_endpoint_may_be_given_in_the_uri(
    tmp_path: Path, s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyarrow's options in the query (as for MinIO without AWS_ENDPOINT_URL): the kind and the output's
    compression are read from the URI without its query, and a prefix's objects keep the query."""
    data = _jsonl(_records(40))
    (tmp_path / "docs.jsonl.gz").write_bytes(gzip.compress(data, mtime=0))
    _put(s3_endpoint, bucket, "crawl/docs.jsonl.gz", gzip.compress(data, mtime=0))
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    query = f"?endpoint_override={s3_endpoint.removeprefix('http://')}&scheme=http"
    clean_files(f"s3://{bucket}/crawl/{query}", f"s3://{bucket}/out.jsonl.zst{query}", on_error="skip", workers=1)
    clean_files(tmp_path / "docs.jsonl.gz", tmp_path / "out.jsonl.zst", on_error="skip", workers=1)
    assert _get(s3_endpoint, bucket, "out.jsonl.zst") == (tmp_path / "out.jsonl.zst").read_bytes()


# -- the Ray engine -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("local_ray")
def test_ray_workers_read_their_ranges_from_the_store(
    tmp_path: Path, s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain JSONL in ranges, and gzip and zstd objects whole, read by the workers from the store: the
    local engine's output, report and summary from the same files on disk, written to the store."""
    engine = pytest.importorskip("dedup.engines.ray")
    ray = pytest.importorskip("ray")
    plain = _write(tmp_path / "in" / "a.jsonl", _records(BATCH_SIZE + 40))
    packed = tmp_path / "in" / "b.jsonl.gz"
    packed.write_bytes(gzip.compress(_jsonl(_records(60, seed=5)), mtime=0))
    squeezed = tmp_path / "in" / "c.jsonl.zst"
    squeezed.write_bytes(zstandard.ZstdCompressor().compress(
        _jsonl([{**r, "id": f"c{r['id']}"} if isinstance(r, dict) else r for r in _records(BATCH_SIZE, seed=9)])))
    inputs = (plain, packed, squeezed)
    uris = [_put(s3_endpoint, bucket, f"in/{p.name}", p.read_bytes()) for p in inputs]
    monkeypatch.setattr(engine, "RANGE_BYTES", 20_000)
    file = list_inputs([uris[0]])[0]
    size = plain.stat().st_size
    counted = ray.get(ray.remote(engine._count_range).remote(engine._Part((file,), (size,), 0, size), CROSS.input))
    assert counted is not None, "a worker sees the object in the store, so it reads its ranges itself"

    clean_files(inputs, tmp_path / "local" / "out.jsonl", CROSS, report=tmp_path / "local" / "report.jsonl",
                summary=tmp_path / "local" / "summary.json", on_error="skip", workers=2)

    def not_here(*args: Any) -> Any:
        raise AssertionError("the driver read an input that a worker should have read from the store")

    # What the driver calls when a worker does not see the object; the workers import their own, unpatched.
    for name in ("count_range", "read_range", "read_inputs"):
        monkeypatch.setattr(engine, name, not_here)
    clean_files(uris, f"s3://{bucket}/ray/out.jsonl", CROSS, report=f"s3://{bucket}/ray/report.jsonl",
                summary=f"s3://{bucket}/ray/summary.json", on_error="skip", engine="ray", workers=2)
    assert _keys(s3_endpoint, bucket) == [*sorted(f"in/{p.name}" for p in inputs),
                                          "ray/out.jsonl", "ray/report.jsonl", "ray/summary.json"]
    found = {"local": _outputs(tmp_path / "local"),
             "ray": {name: _get(s3_endpoint, bucket, f"ray/{name}")
                     for name in ("out.jsonl", "report.jsonl", "summary.json")}}
    local_report = found["local"]["report.jsonl"]
    for path, uri in zip(inputs, uris, strict=True):
        local_report = local_report.replace(str(path).encode(), uri.encode())  # invalid records name their input
    assert b'"reason": "invalid"' in local_report
    found["local"]["report.jsonl"] = local_report
    _same_but_engine(found)


@pytest.mark.usefixtures("local_ray")
def test_ray_engine_reads_parquet_from_the_store(
    tmp_path: Path, s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine_module = pytest.importorskip("dedup.engines.ray")
    records = _records(BATCH_SIZE + 30)
    uri = _put(s3_endpoint, bucket, "docs.parquet", _parquet(records))
    (tmp_path / "docs.parquet").write_bytes(_parquet(records))
    outputs = []
    for engine, source in (("local", tmp_path / "docs.parquet"), ("ray", uri)):
        if engine == "ray":  # the workers read the object, not the driver
            monkeypatch.setattr(engine_module, "read_inputs", _not_here)
            monkeypatch.setattr(engine_module, "read_range", _not_here)
        clean_files(source, tmp_path / f"{engine}.jsonl", CROSS, on_error="skip", engine=engine, workers=2)
        outputs.append((tmp_path / f"{engine}.jsonl").read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0].count(b"\n") > 10, "the output must hold records"


@pytest.mark.usefixtures("local_ray")
def test_ray_workers_read_text_objects_from_the_store(
    tmp_path: Path, s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prefix of text objects, read by the workers several at a time, is mirrored as the local engine
    mirrors the same directory on disk."""
    engine = pytest.importorskip("dedup.engines.ray")
    monkeypatch.setattr(engine, "TEXT_FILES", 7)
    footer = "Subscribe to our newsletter for the day's top stories."
    for i in range(30):
        text = f"Page {i} of the archive.\nThe council met on Tuesday, {i % 4} times.\n{footer}\n"
        (tmp_path / "in" / f"p{i % 3}").mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / f"p{i % 3}" / f"{i:02}.txt").write_text(text)
        _put(s3_endpoint, bucket, f"crawl/p{i % 3}/{i:02}.txt", text.encode())
    clean_files(tmp_path / "in", tmp_path / "local" / "", CROSS, workers=2)
    for name in ("count_range", "read_range", "read_inputs"):
        monkeypatch.setattr(engine, name, _not_here)
    clean_files(f"s3://{bucket}/crawl/", tmp_path / "ray" / "", CROSS, engine="ray", workers=2)
    local, on_ray = _outputs(tmp_path / "local"), _outputs(tmp_path / "ray")
    assert len(local) > 20, "most pages keep a paragraph"
    assert local == on_ray


def _not_here(*args: Any) -> Any:
    raise AssertionError("the driver read an input that a worker should have read from the store")


# -- writing ------------------------------------------------------------------------------------------


def test_an_object_appears_only_once_complete(s3_endpoint: str, bucket: str) -> None:
    """Written in parts (12 MB, more than one part), the target key is absent until the end, then whole."""
    block = bytes(range(256)) * 4096  # 1 MiB
    with atomic_binary(f"s3://{bucket}/big.bin") as handle:
        for _ in range(12):
            handle.write(block)
        assert "big.bin" not in _keys(s3_endpoint, bucket)
    assert _keys(s3_endpoint, bucket) == ["big.bin"]
    assert _get(s3_endpoint, bucket, "big.bin") == block * 12


def test_a_failure_mid_write_leaves_no_object_and_no_temporary_one(s3_endpoint: str, bucket: str) -> None:
    _put(s3_endpoint, bucket, "previous.bin", b"the previous run's output")
    with pytest.raises(RuntimeError, match="stopped"), atomic_binary(f"s3://{bucket}/previous.bin") as handle:
        handle.write(b"x" * (7 << 20))  # past the first part: an upload is under way
        raise RuntimeError("stopped")
    assert _keys(s3_endpoint, bucket) == ["previous.bin"]
    assert _get(s3_endpoint, bucket, "previous.bin") == b"the previous run's output"


def test_a_run_that_fails_midway_leaves_no_output_object(tmp_path: Path, s3_endpoint: str, bucket: str) -> None:
    """A bad record after two batches' output: the run stops, the outputs never appear."""
    records = _records(3 * BATCH_SIZE)
    records = [r for r in records if isinstance(r, dict) and "text" in r and r["id"] != "d1"]
    records.insert(2 * BATCH_SIZE + 5, "not json")
    source = _write(tmp_path / "in.jsonl", records)
    with pytest.raises(InputError, match=f"{source}:{2 * BATCH_SIZE + 6}: not valid JSON"):
        clean_files(source, f"s3://{bucket}/out.jsonl.gz", CROSS, report=f"s3://{bucket}/report.jsonl", workers=1)
    assert _keys(s3_endpoint, bucket) == []


def test_command_line_from_and_to_the_store(
    tmp_path: Path, s3_endpoint: str, bucket: str, run: Callable[..., Any]
) -> None:
    data = _jsonl(_records(80))
    uri = _put(s3_endpoint, bucket, "in.jsonl", data)
    (tmp_path / "in.jsonl").write_bytes(data)
    result = run("clean", uri, "-o", f"s3://{bucket}/out.jsonl.zst", "--on-error", "skip", "--quiet")
    assert result.exit_code == 0, result.output
    result = run("clean", tmp_path / "in.jsonl", "-o", tmp_path / "out.jsonl.zst", "--on-error", "skip", "--quiet")
    assert result.exit_code == 0, result.output
    assert _get(s3_endpoint, bucket, "out.jsonl.zst") == (tmp_path / "out.jsonl.zst").read_bytes()


# -- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "message"),
    [("missing-bucket", "no such bucket 'dedup-no-such-bucket'"), ("missing-key", "no such object or prefix")],
)
def test_a_missing_bucket_or_object_is_named(
    tmp_path: Path, bucket: str, run: Callable[..., Any], where: str, message: str
) -> None:
    uri = "s3://dedup-no-such-bucket/in.jsonl" if where == "missing-bucket" else f"s3://{bucket}/missing.jsonl"
    with pytest.raises(InputError) as caught:
        clean_files(uri, tmp_path / "out.jsonl")
    assert str(caught.value).startswith(f"{uri}: {message}")
    result = run("clean", uri, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 1
    assert result.output == f"Error: {caught.value}\n"


def test_writing_to_a_missing_bucket_is_named(tmp_path: Path, bucket: str, s3_endpoint: str) -> None:
    uri = _put(s3_endpoint, bucket, "in.jsonl", _jsonl(_records(20)))
    with pytest.raises(ObjectStoreError) as caught:
        clean_files(uri, "s3://dedup-no-such-bucket/out.jsonl", on_error="skip", workers=1)
    assert "s3://dedup-no-such-bucket/out.jsonl: no such bucket" in str(caught.value)


def test_an_output_that_names_a_bucket_is_refused(tmp_path: Path, bucket: str) -> None:
    source = _write(tmp_path / "in.jsonl", [{"id": "a", "text": "Some text that is long enough to keep."}])
    with pytest.raises(OutputError, match=f"s3://{bucket}: names a bucket or a prefix, not an object"):
        clean_files(source, f"s3://{bucket}", workers=1)


@pytest.mark.parametrize(
    ("argument", "output", "message"),
    [("crawl/", "crawl/out.jsonl", "is inside the input directory"), ("crawl/a.jsonl", "crawl/a.jsonl",
                                                                        "which is the input")],
    ids=["inside-the-input-prefix", "the-input-itself"],
)
def test_an_output_in_the_inputs_is_a_usage_error(
    s3_endpoint: str, bucket: str, argument: str, output: str, message: str
) -> None:
    _put(s3_endpoint, bucket, "crawl/a.jsonl", _jsonl(_records(20)))
    with pytest.raises(ArgumentError, match=message):
        clean_files(f"s3://{bucket}/{argument}", f"s3://{bucket}/{output}", workers=1)
    assert _keys(s3_endpoint, bucket) == ["crawl/a.jsonl"]


def test_missing_pyarrow_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "pyarrow", None)
    with pytest.raises(ObjectStoreError, match=r's3://b/in.jsonl: object-storage paths need pyarrow: pip install '
                                               r'"dedup\[s3\]"'):
        clean_files("s3://b/in.jsonl", tmp_path / "out.jsonl")


def test_an_unreachable_endpoint_says_what_to_check(
    tmp_path: Path, bucket: str, monkeypatch: pytest.MonkeyPatch, run: Callable[..., Any]
) -> None:
    from conftest import _free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")
    result = run("clean", f"s3://{bucket}/in.jsonl", "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: s3://{bucket}/in.jsonl: cannot reach the object store (")
    assert "check the endpoint (AWS_ENDPOINT_URL" in result.output


def test_refused_credentials_say_where_credentials_come_from(
    tmp_path: Path, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys the store does not know. (Without any keys the SDK's requests are unsigned: S3 answers those
    403, the same message; moto answers 500, so that case is not tested here.)"""
    settings = pytest.importorskip("moto.settings")
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # moto checks credentials from now on
    with pytest.raises(DedupError) as caught:
        clean_files(f"s3://{bucket}/in.jsonl", tmp_path / "out.jsonl")
    assert f"s3://{bucket}/in.jsonl: access denied (" in str(caught.value)
    assert "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in str(caught.value)


@pytest.mark.parametrize(
    ("option", "message"),
    [(["--state", "s3://b/state"], "--state must be a local directory"),
     (["--index", "s3://b/index.npz"], "--index must be a local file")],
)
def test_state_and_index_in_object_storage_are_usage_errors(
    tmp_path: Path, run: Callable[..., Any], option: list[str], message: str
) -> None:
    source = _write(tmp_path / "in.jsonl", [{"id": "a", "text": "Some text that is long enough to keep."}])
    result = run("clean", source, "-o", tmp_path / "out.jsonl", *option)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    with pytest.raises(ArgumentError):
        clean_files(source, tmp_path / "out.jsonl", **{option[0][2:]: option[1]})
