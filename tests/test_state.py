"""Saving the index and the state of a resumable run: round trips, and refusing foreign or damaged files."""

from __future__ import annotations

import json
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dedup.config import Config, ShingleConfig
from dedup.data import Ref
from dedup.errors import DedupError, IndexFileError, IndexMismatchError
from dedup.minhash import band_keys, lsh_params, signatures, sketch
from dedup.read import InputFile
from dedup.shingle import exact_key, normalise, shingle_hashes
from dedup.state import MANIFEST, RunState, Stamp, StateError
from dedup.store import MemoryStore
from dedup.write import Summary

FINGERPRINT = Config().fingerprint()

# -- the index: save and load ------------------------------------------------------------------------


def _item(text: str, threshold: float = 0.7) -> tuple[list[int], bytes]:
    config = ShingleConfig()
    sig = signatures([shingle_hashes(normalise(text), config.size)], config)
    bands, rows = lsh_params(threshold, config.num_perm)
    return band_keys(sig, bands, rows)[0].tolist(), sketch(sig[0])


TEXTS = [" ".join(f"{word}{i}" for i in range(n)) for word, n in (("alpha", 200), ("beta", 150), ("gamma", 40))]
#: Ids as scraped JSON has them: any Unicode, a lone surrogate from an escaped half pair, empty.
IDS = ["a", "caf\u00e9 \u4e2d\u6587", "lone \udcff", "", "x" * 300]


def filled_store() -> MemoryStore:
    """A store with items in every kind of namespace, and a band key shared by several items."""
    store = MemoryStore(FINGERPRINT)
    for n, (doc_id, text) in enumerate(zip(IDS, TEXTS * 2, strict=False)):
        keys, sk = _item(text if n < 3 else text.replace("1 ", "one "))
        store.check_and_insert("doc", keys, sk, Ref(doc_id), 0.99)  # 0.99: near copies are inserted as well
        store.check_and_insert("para", keys, sk, Ref(doc_id, n), 0.99)
        store.check_and_insert_exact("para-exact", exact_key(text), Ref(doc_id, n))
        store.add_and_count("line", exact_key(f"menu {n % 2}"), doc_id)
    return store


def probes(store: MemoryStore) -> list[Any]:
    """What the store answers to a fixed sequence of further operations (which also change it)."""
    answers: list[Any] = []
    for n, text in enumerate([*TEXTS, "delta " * 50, TEXTS[0].replace("alpha7 ", "")]):
        keys, sk = _item(text)
        answers.append(store.check_and_insert("doc", keys, sk, Ref(f"new{n}"), 0.7))
        answers.append(store.check_and_insert("para", keys, sk, Ref(f"new{n}", 0), 0.5))
        answers.append(store.check_and_insert_exact("para-exact", exact_key(text), Ref(f"new{n}", 0)))
        answers.append(store.check_and_insert_exact("other", exact_key(text), Ref(f"new{n}", 0)))
        answers.append(store.add_and_count("line", exact_key(f"menu {n % 3}"), f"new{n}"))
    return answers


def test_saved_index_answers_as_the_original(tmp_path):
    original = filled_store()
    original.save(tmp_path / "index.npz")

    loaded = MemoryStore.load(tmp_path / "index.npz", FINGERPRINT)

    assert len(loaded) == len(original)
    expected = probes(original)
    assert probes(loaded) == expected
    assert any(isinstance(a, Ref) for a in expected) and any(a is not None and not isinstance(a, (Ref, int))
                                                              for a in expected), "the probes find repeats"


def test_saved_empty_index(tmp_path):
    MemoryStore(FINGERPRINT).save(tmp_path / "index.npz")

    loaded = MemoryStore.load(tmp_path / "index.npz", FINGERPRINT)

    assert len(loaded) == 0
    assert probes(loaded) == probes(MemoryStore(FINGERPRINT))


def test_save_replaces_a_previous_file_whole(tmp_path):
    path = tmp_path / "index.npz"
    MemoryStore(FINGERPRINT).save(path)
    filled_store().save(path)

    assert len(MemoryStore.load(path, FINGERPRINT)) == len(filled_store())
    assert [p.name for p in tmp_path.iterdir()] == ["index.npz"], "no temporary file is left"


def test_saved_index_is_not_pickled(tmp_path):
    filled_store().save(tmp_path / "index.npz")

    with np.load(tmp_path / "index.npz", allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}

    assert all(array.dtype != object for array in arrays.values())


def test_index_of_other_settings_is_refused(tmp_path):
    filled_store().save(tmp_path / "index.npz")
    other = Config(shingle=ShingleConfig(size=4)).fingerprint()

    with pytest.raises(IndexMismatchError, match=f"built with settings {FINGERPRINT}, but the cleaner uses {other}"):
        MemoryStore.load(tmp_path / "index.npz", other)


def _npz(path: Path, **arrays: np.ndarray) -> Path:
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def _header(**fields: Any) -> np.ndarray:
    return np.frombuffer(json.dumps(fields).encode(), dtype=np.uint8)


def _without(source: Path, target: Path, prefix: str) -> Path:
    with np.load(source) as data:
        return _npz(target, **{name: data[name] for name in data.files if not name.startswith(prefix)})


def _truncated(source: Path, target: Path) -> Path:
    target.write_bytes(source.read_bytes()[:-100])
    return target


def _pickled(path: Path) -> Path:
    np.save(path.with_suffix(""), np.array([{"a": 1}], dtype=object), allow_pickle=True)
    path.with_suffix(".npy").rename(path)
    return path


HEADER = {"format": "dedup-index", "version": 1, "store": "memory", "fingerprint": FINGERPRINT}
BAD_INDEXES = {
    "random-bytes": (lambda d, good: (d / "i.npz").write_bytes(np.random.default_rng(0).bytes(4096)) and d / "i.npz",
                     "not a dedup index file (not an .npz archive"),
    "empty-file": (lambda d, good: (d / "i.npz").write_bytes(b"") == 0 and d / "i.npz", "not a dedup index file"),
    "json-renamed": (lambda d, good: (d / "i.npz").write_text(json.dumps(HEADER)) and d / "i.npz",
                     "not a dedup index file (not an .npz archive"),
    "pickle": (lambda d, good: _pickled(d / "i.npz"), "not a dedup index file (not an .npz archive"),
    "plain-pickle": (lambda d, good: (d / "i.npz").write_bytes(pickle.dumps({"header": 1})) and d / "i.npz",
                     "not a dedup index file (not an .npz archive"),
    "pickle-in-npz": (lambda d, good: _npz(d / "i.npz", header=_header(**HEADER), **{
                          "a.strings.blob": np.array([{"a": 1}], dtype=object)}),
                      "not a dedup index file (it holds Python objects)"),
    "no-header": (lambda d, good: _without(good, d / "i.npz", "header"), "not a dedup index file (no header)"),
    "model-file": (lambda d, good: _npz(d / "i.npz", header=_header(format="dedup-topic-model", version=1)),
                   "not a dedup index file (format 'dedup-topic-model')"),
    "header-not-json": (lambda d, good: _npz(d / "i.npz", header=np.frombuffer(b"\xff{", dtype=np.uint8)),
                        "not a readable dedup index file"),
    "header-a-list": (lambda d, good: _npz(d / "i.npz", header=np.frombuffer(b"[1]", dtype=np.uint8)),
                      "not a dedup index file (format None)"),
    "future-version": (lambda d, good: _npz(d / "i.npz", header=_header(**{**HEADER, "version": 2})),
                       "format version 2"),
    "other-store": (lambda d, good: _npz(d / "i.npz", header=_header(**{**HEADER, "store": "redis"})),
                    "an index of the 'redis' store"),
    "no-arrays": (lambda d, good: _npz(d / "i.npz", header=_header(**HEADER)), "is missing"),
    "strings-missing": (lambda d, good: _without(good, d / "i.npz", "a.strings"), "is missing"),
    "truncated": (lambda d, good: _truncated(good, d / "i.npz"), "not a dedup index file"),
}


@pytest.mark.parametrize("case", sorted(BAD_INDEXES))
def test_foreign_or_damaged_index_is_refused(tmp_path, case):
    good = tmp_path / "good.npz"
    filled_store().save(good)
    make, message = BAD_INDEXES[case]
    (tmp_path / "bad").mkdir()
    path = make(tmp_path / "bad", good)

    with pytest.raises(IndexFileError) as caught:
        MemoryStore.load(path, FINGERPRINT)

    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{path}: ")
    assert "allow_pickle" not in str(caught.value), "the message must not suggest enabling pickle"
    assert isinstance(caught.value, DedupError)


def _changed_array(source: Path, target: Path, change: Any) -> Path:
    with np.load(source) as data:
        arrays = {name: data[name] for name in data.files}
    for name in arrays:
        if name.startswith("a.") and arrays[name].size and arrays[name].dtype == np.int64:
            arrays[name] = change(arrays[name])
    return _npz(target, **arrays)


@pytest.mark.parametrize(
    "change",
    [lambda a: a[:-1], lambda a: a + 10**6, lambda a: a - 10**6, lambda a: a.astype(np.float64)],
    ids=["shorter", "out-of-range-up", "out-of-range-down", "wrong-dtype"],
)
def test_inconsistent_index_arrays_are_refused(tmp_path, change):
    good = tmp_path / "good.npz"
    filled_store().save(good)
    path = _changed_array(good, tmp_path / "bad.npz", change)

    with pytest.raises(IndexFileError, match="not a readable dedup index file"):
        MemoryStore.load(path, FINGERPRINT)


def test_missing_index_file(tmp_path):
    with pytest.raises(IndexFileError, match="no such index file"):
        MemoryStore.load(tmp_path / "none.npz", FINGERPRINT)


# -- the state of a resumable run ----------------------------------------------------------------------

SETTINGS = {"config": Config().to_dict(), "output": "jsonl", "annotate": False}


def input_file(tmp_path: Path, name: str, content: bytes = b'{"id": "a", "text": "x"}\n') -> InputFile:
    path = tmp_path / "in" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    return InputFile(str(path), name, "jsonl")


def complete_one(state: RunState, index: int, file: InputFile, store: MemoryStore, ids: list[str]) -> Summary:
    counts = Summary(documents_in=len(ids), documents_out=len(ids))
    with state.chunks(index) as (out, report):
        out.write("".join(json.dumps({"id": i}) + "\n" for i in ids).encode())
        report.write(b"")
    state.complete(index, Stamp.of(file), counts, ids, True)
    return counts


@pytest.fixture
def recorded(tmp_path):
    """A state directory with two completed inputs and a checkpoint; returns (directory, files, store)."""
    files = [input_file(tmp_path, f"{n}.jsonl", b'{"id": "%d"}\n' % n) for n in range(3)]
    store = filled_store()
    with RunState.open(tmp_path / "state", SETTINGS, resume=False) as state:
        complete_one(state, 0, files[0], store, ["a", "b"])
        complete_one(state, 1, files[1], store, ["lone \udcff"])
        assert state.checkpoint(store, force=True)
    return tmp_path / "state", files, store


def test_state_round_trip(recorded):
    directory, files, store = recorded

    with RunState.open(directory, SETTINGS, resume=True) as state:
        assert state.resume_point(files) == 2
        restored = state.load_index(FINGERPRINT)
        summary, ids, has_output = state.load_meta(1)
        lines = list(state.chunk_lines(0, "out"))

    assert probes(restored) == probes(store)
    assert (summary.documents_in, ids, has_output) == (1, ["lone \udcff"], True)
    assert lines == ['{"id": "a"}\n', '{"id": "b"}\n']
    manifest = json.loads((directory / MANIFEST).read_text())
    assert manifest["format"] == "dedup-state"
    assert [c["input"]["path"] for c in manifest["completed"]] == [files[0].path, files[1].path]


def test_resume_with_no_state_starts_afresh(tmp_path):
    files = [input_file(tmp_path, "0.jsonl")]

    with RunState.open(tmp_path / "new" / "state", SETTINGS, resume=True) as state:
        assert state.resume_point(files) == 0
        assert len(state.load_index(FINGERPRINT)) == 0


def test_checkpoint_names_only_whole_files(tmp_path):
    """The manifest is written last and names a snapshot that is complete; older snapshots go."""
    files = [input_file(tmp_path, f"{n}.jsonl") for n in range(2)]
    store = MemoryStore(FINGERPRINT)
    with RunState.open(tmp_path / "state", SETTINGS, resume=False) as state:
        complete_one(state, 0, files[0], store, ["a"])
        state.checkpoint(store, force=True)
        first = json.loads((tmp_path / "state" / MANIFEST).read_text())["index"]["file"]
        complete_one(state, 1, files[1], store, ["b"])
        state.checkpoint(store, force=True)

    manifest = json.loads((tmp_path / "state" / MANIFEST).read_text())
    assert manifest["index"]["file"] != first
    assert sorted(p.name for p in (tmp_path / "state").glob("index-*")) == [manifest["index"]["file"]]
    assert not list((tmp_path / "state").rglob("*.partial"))


def test_unsaved_completions_are_not_resumed(tmp_path):
    """An input completed after the last checkpoint is cleaned again: its chunks are not trusted."""
    files = [input_file(tmp_path, f"{n}.jsonl") for n in range(2)]
    store = MemoryStore(FINGERPRINT)
    with RunState.open(tmp_path / "state", SETTINGS, resume=False) as state:
        complete_one(state, 0, files[0], store, ["a"])
        state.checkpoint(store, force=True)
        complete_one(state, 1, files[1], store, ["b"])  # killed before a checkpoint

    with RunState.open(tmp_path / "state", SETTINGS, resume=True) as state:
        assert state.resume_point(files) == 1


def test_stale_temporary_files_are_removed(recorded):
    directory, files, _ = recorded
    (directory / ".manifest.json.x1.partial").write_text("half")
    (directory / "chunks" / ".000002.out.x2.partial").write_text("half")
    (directory / "index-000001.npz").write_text("an older snapshot")

    with RunState.open(directory, SETTINGS, resume=True) as state:
        assert state.resume_point(files) == 2

    assert not list(directory.rglob("*.partial"))
    assert not (directory / "index-000001.npz").exists()


def test_existing_state_needs_resume(recorded):
    directory, _, _ = recorded

    with pytest.raises(StateError, match="holds the state of an earlier run; pass resume=True to continue it"):
        RunState.open(directory, SETTINGS, resume=False)


def test_state_of_other_settings_is_refused(recorded):
    directory, _, _ = recorded
    other = {**SETTINGS, "annotate": True}

    with pytest.raises(StateError, match="made with other settings \\(annotate: was false, now true\\)"):
        RunState.open(directory, other, resume=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda files: files[:1], "the state has 2 completed inputs, but this run has only 1"),
        (lambda files: [files[1], files[0], files[2]], "input 1 was"),
        (lambda files: Path(files[0].path).write_bytes(b'{"id": "changed"}\n') and files, "input 1 was"),
        (lambda files: Path(files[1].path).unlink() or files, "input 2 was"),
    ],
    ids=["fewer-inputs", "other-order", "changed-input", "removed-input"],
)
def test_other_inputs_are_refused(recorded, change, message):
    directory, files, _ = recorded

    with RunState.open(directory, SETTINGS, resume=True) as state, pytest.raises(StateError, match=message) as caught:
        state.resume_point(change(files))

    assert "remove the directory to start again" in str(caught.value)


def test_more_inputs_are_fine(recorded, tmp_path):
    directory, files, _ = recorded

    with RunState.open(directory, SETTINGS, resume=True) as state:
        assert state.resume_point([*files, input_file(tmp_path, "9.jsonl")]) == 2


def _edit_manifest(directory: Path, edit: Any) -> None:
    path = directory / MANIFEST
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


BAD_MANIFESTS = {
    "not-json": (lambda d: (d / MANIFEST).write_bytes(b"\x00\x01 binary"), "not a dedup state manifest (not JSON"),
    "other-json": (lambda d: (d / MANIFEST).write_text('{"name": "some other tool"}'),
                   "not a dedup state manifest (format None)"),
    "json-list": (lambda d: (d / MANIFEST).write_text("[1, 2]"), "not a dedup state manifest (format 'list')"),
    "model-header": (lambda d: (d / MANIFEST).write_text('{"format": "dedup-topic-model", "version": 1}'),
                     "not a dedup state manifest (format 'dedup-topic-model')"),
    "future-version": (lambda d: _edit_manifest(d, lambda m: m.update(version=99)), "state format version 99"),
    "no-completed": (lambda d: _edit_manifest(d, lambda m: m.pop("completed")), "not a valid dedup state manifest"),
    "bad-digest": (lambda d: _edit_manifest(d, lambda m: m["completed"][0]["chunks"].update(meta="0" * 63)),
                   "not a SHA-256 digest"),
    "bad-size": (lambda d: _edit_manifest(d, lambda m: m["completed"][0]["input"].update(size="12")),
                 "not an input stamp"),
    "index-path": (lambda d: _edit_manifest(d, lambda m: m["index"].update(file="../../etc/passwd")),
                   "not an index snapshot entry"),
    "fingerprint": (lambda d: _edit_manifest(d, lambda m: m.update(fingerprint="0" * 16)), "other settings"),
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_foreign_or_damaged_manifest_is_refused(recorded, case):
    directory, _, _ = recorded
    damage, message = BAD_MANIFESTS[case]
    damage(directory)

    with pytest.raises(StateError, match=re.escape(message)):
        RunState.open(directory, SETTINGS, resume=True)


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))


def _index(directory: Path) -> Path:
    return directory / json.loads((directory / MANIFEST).read_text())["index"]["file"]


@pytest.mark.parametrize(
    ("damage", "step", "message"),
    [
        (lambda d: _flip_byte(_index(d)), "index", "the index snapshot does not match the manifest"),
        (lambda d: _index(d).unlink(), "index", "the index snapshot is missing"),
        (lambda d: _index(d).write_bytes(b"PK\x03\x04 not really"), "index", "does not match the manifest"),
        (lambda d: _flip_byte(d / "chunks" / "000001.meta.json"), "meta", "the record of input 2 does not match"),
        (lambda d: (d / "chunks" / "000000.meta.json").unlink(), "meta", "is missing from the state"),
        (lambda d: _flip_byte(d / "chunks" / "000000.out"), "out", "the chunk does not match the manifest"),
        (lambda d: (d / "chunks" / "000000.out").unlink(), "out", "a chunk of the state is missing"),
    ],
    ids=["index-flipped", "index-missing", "index-replaced", "meta-flipped", "meta-missing", "out-flipped",
         "out-missing"],
)
def test_changed_state_files_are_refused(recorded, damage, step, message):
    directory, _, _ = recorded
    damage(directory)

    with RunState.open(directory, SETTINGS, resume=True) as state, pytest.raises(StateError, match=message):
        if step == "index":
            state.load_index(FINGERPRINT)
        elif step == "meta":
            state.load_meta(0)
            state.load_meta(1)
        else:
            list(state.chunk_lines(0, "out"))


def test_snapshot_of_other_index_settings_is_refused(recorded):
    directory, _, _ = recorded
    other = Config(shingle=ShingleConfig(seed=7)).fingerprint()

    with RunState.open(directory, SETTINGS, resume=True) as state, pytest.raises(StateError, match="built with"):
        state.load_index(other)


def test_state_directory_in_use(recorded):
    directory, _, _ = recorded

    with RunState.open(directory, SETTINGS, resume=True), pytest.raises(StateError, match="in use by another"):
        RunState.open(directory, SETTINGS, resume=True)


def test_state_directory_with_other_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")

    with pytest.raises(StateError, match=re.escape("holds other files (notes.txt) and no dedup state")):
        RunState.open(tmp_path, SETTINGS, resume=True)

    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"], "nothing is written into it"


def test_state_directory_is_a_file(tmp_path):
    (tmp_path / "state").write_text("x")

    with pytest.raises(StateError, match="the state directory is a file"):
        RunState.open(tmp_path / "state", SETTINGS, resume=True)


def test_zip_with_manifest_name_is_not_a_manifest(recorded):
    directory, _, _ = recorded
    with zipfile.ZipFile(directory / MANIFEST, "w") as archive:
        archive.writestr("x", "y")

    with pytest.raises(StateError, match="not a dedup state manifest"):
        RunState.open(directory, SETTINGS, resume=True)
