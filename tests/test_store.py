"""The store contract, run against every store (memory, file, and a real Redis server).

Also: what the config fingerprint covers, the file store's life cycle, and
the Redis store's atomicity under concurrent processes.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dedup.config import Config, DedupConfig, InputConfig, ShingleConfig, TopicConfig
from dedup.data import Ref
from dedup.errors import ConfigError, IndexFileError, IndexMismatchError, IndexStoreError, ModelError
from dedup.minhash import RECALL_SLACK, band_keys, lsh_params, signatures, sketch, sketch_similarity
from dedup.shingle import normalise, shingle_hashes
from dedup.store import FileStore, IndexStore, MemoryStore, open_store
from dedup.topic import default_model_path

CONFIG = Config()
FINGERPRINT = CONFIG.fingerprint()
SETTINGS = CONFIG.index_settings()
STORES = ["memory", "file", "redis"]


def _fresh_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a new, empty index of ``kind``."""
    if kind == "memory":
        return "memory://"
    if kind == "file":
        return f"file://{tmp_path / f'index-{uuid.uuid4().hex}.npz'}"
    return f"{request.getfixturevalue('redis_url')}?prefix=test-{uuid.uuid4().hex}"


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IndexStore]:
    with open_store(_fresh_url(request.param, request, tmp_path), FINGERPRINT, SETTINGS) as opened:
        yield opened


def _item(text: str, threshold: float = 0.7) -> tuple[list[int], bytes]:
    config = ShingleConfig()
    sig = signatures([shingle_hashes(normalise(text), config.size)], config)
    bands, rows = lsh_params(threshold, config.num_perm)
    return band_keys(sig, bands, rows)[0].tolist(), sketch(sig[0])


BASE = " ".join(f"word{i}" for i in range(300))


def test_near_duplicate_found_after_insert(store: IndexStore) -> None:
    keys, sk = _item(BASE)
    assert store.check_and_insert("doc", keys, sk, Ref("a"), 0.7) is None
    keys2, sk2 = _item(BASE.replace("word5 ", "other "))
    match = store.check_and_insert("doc", keys2, sk2, Ref("b"), 0.7)
    assert match is not None
    assert match.ref == Ref("a")
    assert 0.7 <= match.score <= 1.0


def test_matched_item_is_not_inserted(store: IndexStore) -> None:
    keys, sk = _item(BASE)
    store.check_and_insert("doc", keys, sk, Ref("a"), 0.7)
    store.check_and_insert("doc", keys, sk, Ref("b"), 0.7)
    match = store.check_and_insert("doc", keys, sk, Ref("c"), 0.7)
    assert match is not None and match.ref == Ref("a")


def test_dissimilar_items_are_both_inserted(store: IndexStore) -> None:
    keys, sk = _item(BASE)
    assert store.check_and_insert("doc", keys, sk, Ref("a"), 0.7) is None
    keys2, sk2 = _item(" ".join(f"other{i}" for i in range(300)))
    assert store.check_and_insert("doc", keys2, sk2, Ref("b"), 0.7) is None


def test_namespaces_are_separate(store: IndexStore) -> None:
    keys, sk = _item(BASE)
    store.check_and_insert("doc", keys, sk, Ref("a"), 0.7)
    assert store.check_and_insert("para", keys, sk, Ref("b", 0), 0.7) is None


def test_exact(store: IndexStore) -> None:
    assert store.check_and_insert_exact("para", 99, Ref("a", 1)) is None
    assert store.check_and_insert_exact("para", 99, Ref("b", 2)) == Ref("a", 1)
    assert store.check_and_insert_exact("other", 99, Ref("b", 2)) is None


def test_add_and_count_counts_documents_not_lines(store: IndexStore) -> None:
    assert store.add_and_count("line", 7, "a") == 0
    assert store.add_and_count("line", 7, "a") == 0
    assert store.add_and_count("line", 7, "b") == 1
    assert store.add_and_count("line", 7, "b") == 1
    assert store.add_and_count("line", 7, "c") == 2
    assert store.add_and_count("line", 8, "c") == 0
    assert store.add_and_count("other", 7, "d") == 0


def test_best_match_is_the_most_similar_then_the_earliest(store: IndexStore) -> None:
    keys, sk = _item(BASE)
    store.check_and_insert("doc", keys, sk, Ref("a"), 0.7)
    # An item similar enough to be matched, but inserted under a higher threshold.
    far_keys, far_sk = _item(BASE.replace("word5 ", "x ").replace("word9 ", "y ").replace("word77 ", "z "))
    assert store.check_and_insert("doc", far_keys, far_sk, Ref("b"), 1.0) is None
    match = store.check_and_insert("doc", far_keys, far_sk, Ref("c"), 0.7)
    assert match is not None and match.ref == Ref("b") and match.score == 1.0
    # Both "a" and a copy of "a" score the same: the earliest wins.
    assert store.check_and_insert("doc", keys, sk, Ref("d"), 1.01) is None
    match = store.check_and_insert("doc", keys, sk, Ref("e"), 0.7)
    assert match is not None and match.ref == Ref("a") and match.score == 1.0


def test_refs_round_trip(store: IndexStore) -> None:
    odd = "d\u00e9j\u00e0:vu \U0001f600 \ud800"  # a colon, non-ASCII, and a lone surrogate from JSON
    assert store.check_and_insert_exact("para-exact", 2**64 - 1, Ref(odd, 0)) is None
    assert store.check_and_insert_exact("para-exact", 2**64 - 1, Ref("x", 5)) == Ref(odd, 0)
    keys, sk = _item(BASE)
    assert store.check_and_insert("doc", keys, sk, Ref(odd), 0.7) is None
    match = store.check_and_insert("doc", keys, sk, Ref("x"), 0.7)
    assert match is not None and match.ref == Ref(odd)


def test_fingerprint_mismatch_is_a_clear_error() -> None:
    store = MemoryStore("abc")
    with pytest.raises(IndexMismatchError, match="built with settings abc"):
        store.check_fingerprint("def")
    assert isinstance(IndexMismatchError("x"), ValueError)


def test_unknown_store_lists_available() -> None:
    with pytest.raises(ConfigError, match="available: file, memory, redis"):
        open_store("nosuch://x", FINGERPRINT)


def test_keys_are_64_bit() -> None:
    keys, _ = _item(BASE)
    assert all(0 <= k < 2**64 for k in keys)
    assert np.array(keys, dtype=np.uint64).dtype == np.uint64


# -- the same answers from every store ------------------------------------------------------------


def _calls(seed: int) -> list[tuple[Any, ...]]:
    """A cleaner-like sequence of calls: per document, its line counts, its document check, its paragraphs."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(300)]
    bases = [[rng.choice(words) for _ in range(80)] for _ in range(40)]
    lines = [rng.randrange(2**64) for _ in range(30)]
    doc_bands = lsh_params(0.7, 128, RECALL_SLACK)
    para_bands = lsh_params(0.5, 128)
    calls: list[tuple[Any, ...]] = []
    for n in range(400):
        doc = f"doc-{n % 370}"  # a few ids come back, as in real inputs
        for key in rng.sample(lines, rng.randrange(4)):
            # Counted per document read (the memory store counts an id that comes back after others again).
            calls.append(("add_and_count", "line", key, f"{doc}/{n}"))
            if rng.random() < 0.2:  # a line twice in one document
                calls.append(("add_and_count", "line", key, f"{doc}/{n}"))
        text = list(rng.choice(bases))
        for _ in range(rng.randrange(30)):
            text[rng.randrange(len(text))] = rng.choice(words)
        sig = signatures([shingle_hashes(normalise(" ".join(text)), 5)], ShingleConfig())
        threshold = rng.choice([0.5, 0.7, 0.9])
        calls.append(("check_and_insert", "doc", band_keys(sig, *doc_bands)[0].tolist(), sketch(sig[0]),
                      Ref(doc), threshold))
        for paragraph in range(rng.randrange(3)):
            piece = text[paragraph * 20 : paragraph * 20 + 40]
            calls.append(("check_and_insert_exact", "para-exact", hash(tuple(piece)) % 50, Ref(doc, paragraph)))
            psig = signatures([shingle_hashes(normalise(" ".join(piece)), 5)], ShingleConfig())
            calls.append(("check_and_insert", "para", band_keys(psig, *para_bands)[0].tolist(), sketch(psig[0]),
                          Ref(doc, paragraph), 0.5))
    return calls


@pytest.mark.parametrize("kind", ["file", "redis"])
def test_stores_answer_as_the_memory_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    calls = _calls(seed=3)
    memory = MemoryStore(FINGERPRINT)
    with open_store(_fresh_url(kind, request, tmp_path), FINGERPRINT, SETTINGS) as other:
        expected = [getattr(memory, name)(*args) for name, *args in calls]
        answers = [getattr(other, name)(*args) for name, *args in calls]
    assert answers == expected
    # The sequence exercises every kind of answer.
    assert sum(isinstance(a, Ref) for a in expected) > 10
    assert sum(a is not None and not isinstance(a, (Ref, int)) for a in expected) > 50
    assert sum(a is None for a in expected) > 100
    assert max(a for a in expected if isinstance(a, int)) >= 5


def test_threshold_in_counts_gives_the_float_decision() -> None:
    from dedup.redis_store import _estimate, agreement_bounds

    rng = np.random.default_rng(0)
    width = 64
    base = rng.integers(0, 256, width, dtype=np.uint8)
    for agree in range(2 * width + 1):
        other = base.copy()
        # Change (2 * width - agree) of the 4-bit values.
        for slot in range(2 * width - agree):
            byte, high = divmod(slot, 2)
            other[byte] ^= 0x10 if high else 0x01
        assert _estimate(agree, width) == sketch_similarity(base.tobytes(), other.tobytes())
    for threshold in (0.0, 0.05, 0.5, 0.7, 0.9, 1.0, 1.5):
        needed, clamp = agreement_bounds(width, threshold)
        for agree in range(2 * width + 1):
            assert (agree >= needed) == (_estimate(agree, width) >= threshold)
            assert (agree >= clamp) == (_estimate(agree, width) > 0.0)


# -- the fingerprint ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changed",
    [
        Config(shingle=ShingleConfig(size=4)),
        Config(shingle=ShingleConfig(num_perm=64)),
        Config(shingle=ShingleConfig(seed=2)),
        Config(dedup=DedupConfig(threshold=0.6)),
        Config(dedup=DedupConfig(doc_threshold=0.8)),
        Config(dedup=DedupConfig(min_chars=10)),
        Config(dedup=DedupConfig(enabled=False)),
        Config(dedup=DedupConfig(documents=False)),
        Config(dedup=DedupConfig(cross_doc_paragraphs=True)),
        Config(dedup=DedupConfig(boilerplate=True)),
        Config(dedup=DedupConfig(boilerplate_min_docs=3)),
        Config(dedup=DedupConfig(boilerplate_max_chars=100)),
        Config(topic=TopicConfig(enabled=False)),
        Config(topic=TopicConfig(threshold=0.6)),
        Config(topic=TopicConfig(inner_threshold=0.8)),
        Config(topic=TopicConfig(rounds=1)),
    ],
    ids=lambda c: str(c),
)
def test_fingerprint_covers_every_setting_an_index_depends_on(changed: Config) -> None:
    assert changed.fingerprint() != FINGERPRINT


def test_fingerprint_ignores_input_settings() -> None:
    assert Config(input=InputConfig(text_field="body", max_paragraphs=10)).fingerprint() == FINGERPRINT


def test_fingerprint_is_the_same_in_every_process() -> None:
    code = "from dedup.config import Config; print(Config().fingerprint())"
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(Path(__file__).parent.parent)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == FINGERPRINT


def test_fingerprint_follows_the_model_content_not_its_path(tmp_path: Path) -> None:
    copy = tmp_path / "model.npz"
    shutil.copyfile(default_model_path(), copy)
    elsewhere = tmp_path / "sub" / "same.npz"
    elsewhere.parent.mkdir()
    shutil.copyfile(default_model_path(), elsewhere)
    with_copy = Config(topic=TopicConfig(model=str(copy))).fingerprint()
    assert with_copy == Config(topic=TopicConfig(model=str(elsewhere))).fingerprint()
    assert with_copy != FINGERPRINT  # "file", not "default"
    with open(copy, "ab") as handle:  # rewritten in place: the cached digest must not be reused
        handle.write(b"\0")
    assert Config(topic=TopicConfig(model=str(copy))).fingerprint() != with_copy


def test_fingerprint_of_a_missing_model_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such model file"):
        Config(topic=TopicConfig(model=str(tmp_path / "none.npz"))).fingerprint()
    # No topic stage, no model to read.
    Config(topic=TopicConfig(enabled=False, model=str(tmp_path / "none.npz"))).fingerprint()


@pytest.mark.parametrize("kind", ["file", "redis"])
def test_index_with_other_settings_is_refused_naming_them(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = _fresh_url(kind, request, tmp_path)
    with open_store(url, FINGERPRINT, SETTINGS) as first:
        first.check_and_insert_exact("para-exact", 1, Ref("a", 0))
    other = Config(dedup=DedupConfig(doc_threshold=0.8), shingle=ShingleConfig(seed=9))
    with pytest.raises(IndexMismatchError) as error:
        open_store(url, other.fingerprint(), other.index_settings())
    message = str(error.value)
    assert "dedup.doc_threshold: 0.7 in the index, 0.8 now" in message
    assert "shingle.seed: 1 in the index, 9 now" in message
    assert "dedup.threshold" not in message
    # The index is unharmed and opens again with its own settings.
    with open_store(url, FINGERPRINT, SETTINGS) as again:
        assert again.check_and_insert_exact("para-exact", 1, Ref("b", 0)) == Ref("a", 0)


# -- the file store -------------------------------------------------------------------------------


def test_file_store_carries_the_index_to_the_next_run(tmp_path: Path) -> None:
    path = tmp_path / "index.npz"
    keys, sk = _item(BASE)
    with open_store(str(path), FINGERPRINT, SETTINGS) as store:  # a plain path
        assert isinstance(store, FileStore)
        assert store.check_and_insert("doc", keys, sk, Ref("a"), 0.7) is None
        store.add_and_count("line", 7, "a")
    with open_store(f"file://{path}", FINGERPRINT, SETTINGS) as store:
        match = store.check_and_insert("doc", keys, sk, Ref("b"), 0.7)
        assert match is not None and match.ref == Ref("a")
        assert store.add_and_count("line", 7, "b") == 1
    # The file is an ordinary memory-store snapshot.
    assert len(MemoryStore.load(path, FINGERPRINT)) == 1


def test_file_store_saves_on_close_only(tmp_path: Path) -> None:
    path = tmp_path / "index.npz"
    store = open_store(path, FINGERPRINT)
    store.check_and_insert_exact("para-exact", 1, Ref("a", 0))
    assert not path.exists()  # nothing written before close, whatever the garbage collector does
    store.close()
    assert path.exists()
    store.close()  # a second close does nothing


def test_file_store_left_by_an_exception_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "index.npz"
    with open_store(path, FINGERPRINT) as store:
        store.check_and_insert_exact("para-exact", 1, Ref("a", 0))
    before = path.read_bytes()
    with pytest.raises(RuntimeError), open_store(path, FINGERPRINT) as store:
        store.check_and_insert_exact("para-exact", 2, Ref("b", 0))
        raise RuntimeError("the run failed")
    assert path.read_bytes() == before


def test_file_store_refuses_a_file_that_is_not_an_index(tmp_path: Path) -> None:
    path = tmp_path / "index.npz"
    path.write_text("not an index")
    with pytest.raises(IndexFileError, match="not a dedup index file"):
        open_store(path, FINGERPRINT)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("file://host/x.npz", "expected file:///absolute/path.npz"),
        ("file:///x.npz?a=b", "expected file:///absolute/path.npz"),
    ],
)
def test_file_store_url_errors(url: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        open_store(url, FINGERPRINT)


def test_file_store_needs_an_existing_directory(tmp_path: Path) -> None:
    with pytest.raises(IndexStoreError, match="does not exist; create it first"):
        open_store(tmp_path / "no" / "index.npz", FINGERPRINT)


_SAVE_INTERRUPTED = """
import resource, signal, sys
from dedup.data import Ref
from dedup.store import open_store
if sys.argv[2] == "killed":
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # Python ignores it, and the write fails with EFBIG
store = open_store(sys.argv[1], sys.argv[3])
for key in range(20_000):
    store.check_and_insert_exact("para-exact", key + 10, Ref(f"doc-{key}", 0))
# The snapshot outgrows this limit: the kernel stops the write part way (SIGXFSZ, or EFBIG).
resource.setrlimit(resource.RLIMIT_FSIZE, (32 * 1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    store.close()
except Exception as exc:
    print(type(exc).__name__, exc)
    sys.exit(3)
"""


@pytest.mark.parametrize("how", ["killed", "fail"])
def test_file_store_interrupted_save_leaves_the_old_file_whole(how: str, tmp_path: Path) -> None:
    path = tmp_path / "index.npz"
    with open_store(path, FINGERPRINT) as store:
        store.check_and_insert_exact("para-exact", 1, Ref("old", 0))
    before = path.read_bytes()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    done = subprocess.run([sys.executable, "-c", _SAVE_INTERRUPTED, str(path), how, FINGERPRINT],
                          capture_output=True, text=True, env=env, timeout=120)
    if how == "killed":
        assert done.returncode == -signal.SIGXFSZ, done.stderr
    else:
        assert done.returncode == 3, done.stderr
        assert "IndexStoreError" in done.stdout and "the previous file is whole" in done.stdout
        assert [p.name for p in tmp_path.iterdir()] == ["index.npz"]  # no partial file left behind
    assert path.read_bytes() == before
    with open_store(path, FINGERPRINT) as store:
        assert len(store) == 1
        assert store.check_and_insert_exact("para-exact", 1, Ref("new", 0)) == Ref("old", 0)


def test_file_store_saves_through_a_symbolic_link(tmp_path: Path) -> None:
    """An index path that is a symbolic link is written at its target, as every output is; the link stays."""
    target = tmp_path / "indexes" / "news.npz"
    target.parent.mkdir()
    link = tmp_path / "index.npz"
    link.symlink_to(target)
    with open_store(link, FINGERPRINT) as store:
        store.check_and_insert_exact("para-exact", 1, Ref("old", 0))
    assert link.is_symlink() and target.is_file()
    with open_store(target, FINGERPRINT) as store:
        assert store.check_and_insert_exact("para-exact", 1, Ref("new", 0)) == Ref("old", 0)


# -- the Redis store ------------------------------------------------------------------------------


def _redis_client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url)


def test_redis_keys_share_one_hash_tag(redis_url: str) -> None:
    prefix = f"tag-{uuid.uuid4().hex}"
    with open_store(f"{redis_url}?prefix={prefix}", FINGERPRINT, SETTINGS) as store:
        for name, *args in _calls(seed=5)[:200]:
            getattr(store, name)(*args)
    keys = list(_redis_client(redis_url).scan_iter(match=f"*{prefix}*"))
    assert len(keys) > 5
    assert all(key.startswith(b"{" + prefix.encode() + b"}:") for key in keys)


def test_redis_store_makes_one_round_trip_per_call(redis_url: str) -> None:
    client = _redis_client(redis_url)
    with open_store(f"{redis_url}?prefix=trips-{uuid.uuid4().hex}", FINGERPRINT, SETTINGS) as store:
        calls = _calls(seed=6)[:300]
        client.config_resetstat()
        for name, *args in calls:
            getattr(store, name)(*args)
        stats = client.info("commandstats")
    commands = {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()}
    assert commands.pop("evalsha") == len(calls)
    # Redis also counts the commands a script runs; every other command here is one of those.
    inside_scripts = {"hget", "hset", "hmget", "getrange", "setrange", "incr", "exists", "sadd", "scard"}
    assert set(commands) - {"config|resetstat", "info"} <= inside_scripts


def test_redis_store_reloads_its_scripts_after_a_flush(redis_url: str) -> None:
    with open_store(f"{redis_url}?prefix=flush-{uuid.uuid4().hex}", FINGERPRINT, SETTINGS) as store:
        store.check_and_insert_exact("para-exact", 1, Ref("a", 0))
        _redis_client(redis_url).script_flush()
        assert store.check_and_insert_exact("para-exact", 1, Ref("b", 0)) == Ref("a", 0)


def test_redis_store_reconnects_after_a_dropped_connection(redis_url: str) -> None:
    with open_store(f"{redis_url}?prefix=drop-{uuid.uuid4().hex}", FINGERPRINT, SETTINGS) as store:
        keys, sk = _item(BASE)
        assert store.check_and_insert("doc", keys, sk, Ref("a"), 0.7) is None
        admin = _redis_client(redis_url)
        admin.client_kill_filter(_type="normal", skipme=True)
        match = store.check_and_insert("doc", keys, sk, Ref("b"), 0.7)
        assert match is not None and match.ref == Ref("a")


def test_redis_retry_of_a_call_that_ran_answers_as_the_first_time(redis_url: str) -> None:
    # What a retry sends after a reply was lost: the same item again, marked as a retry.
    from dedup.redis_store import _CHECK_AND_INSERT_EXACT, RedisStore, _encode_ref, _key64

    with open_store(f"{redis_url}?prefix=retry-{uuid.uuid4().hex}", FINGERPRINT, SETTINGS) as store:
        assert isinstance(store, RedisStore)
        assert store.check_and_insert_exact("para-exact", 1, Ref("a", 0)) is None
        exact_key = b"{" + store.prefix.encode() + b"}:exact:para-exact"
        again = store._eval(_CHECK_AND_INSERT_EXACT, [exact_key], [_key64(1), _encode_ref(Ref("a", 0)), 1])
        assert not again
        first = store._eval(_CHECK_AND_INSERT_EXACT, [exact_key], [_key64(1), _encode_ref(Ref("a", 0)), 0])
        assert first == _encode_ref(Ref("a", 0))


def test_redis_unreachable_is_a_clear_error_without_the_password() -> None:
    with pytest.raises(IndexStoreError) as error:
        open_store("redis://:s3cret@127.0.0.1:1/0?prefix=x", FINGERPRINT)
    message = str(error.value)
    assert "redis://:***@127.0.0.1:1/0?prefix=x" in message
    assert "s3cret" not in message
    assert "after 4 tries" in message


def test_redis_wrong_password_is_not_retried(redis_url: str) -> None:
    user = f"user-{uuid.uuid4().hex[:8]}"
    _redis_client(redis_url).acl_setuser(user, enabled=True, passwords=["+right"], keys=["*"], commands=["+@all"])
    server = redis_url.removeprefix("redis://")
    with pytest.raises(IndexStoreError, match="refused the credentials") as error:
        open_store(f"redis://{user}:wrong@{server}?prefix=auth", FINGERPRINT)
    assert f"redis://{user}:***@" in str(error.value) and ":wrong@" not in str(error.value)
    with open_store(f"redis://{user}:right@{server}?prefix=auth-{uuid.uuid4().hex}", FINGERPRINT) as store:
        assert store.add_and_count("line", 1, "a") == 0


def test_redis_store_cannot_be_saved_or_loaded(redis_url: str, tmp_path: Path) -> None:
    from dedup.redis_store import RedisStore

    with (
        open_store(f"{redis_url}?prefix=save-{uuid.uuid4().hex}", FINGERPRINT) as store,
        pytest.raises(IndexStoreError, match="cannot be saved to a file"),
    ):
        store.save(tmp_path / "x.npz")
    with pytest.raises(IndexStoreError, match="cannot be loaded from a file"):
        RedisStore.load(tmp_path / "x.npz", FINGERPRINT)


@pytest.mark.parametrize("prefix", ["", "a{b}"])
def test_redis_prefix_must_be_a_hash_tag(redis_url: str, prefix: str) -> None:
    with pytest.raises(ConfigError, match="prefix"):
        open_store(f"{redis_url}?prefix={prefix}", FINGERPRINT)


RACE_PROCESSES = 4
RACE_TEXTS = 200


def _race_items(process: int) -> list[tuple[list[int], bytes]]:
    """This process's light edit of every base text: one word replaced, a different one per process."""
    rng = random.Random(7)
    bases = [[f"t{t}w{rng.randrange(10**6)}" for _ in range(200)] for t in range(RACE_TEXTS)]
    bands = lsh_params(0.7, 128, RECALL_SLACK)
    texts = []
    for words in bases:
        edited = list(words)
        edited[process * 37 + 5] = f"edit{process}"
        texts.append(" ".join(edited))
    sigs = signatures([shingle_hashes(normalise(t), 5) for t in texts], ShingleConfig())
    return [(keys, sketch(sig)) for keys, sig in zip(band_keys(sigs, *bands).tolist(), sigs, strict=True)]


def _race(url: str, process: int, barrier: Any, results: Any) -> None:
    items = _race_items(process)
    with open_store(url, FINGERPRINT, SETTINGS) as store:
        barrier.wait()
        answers = []
        for text, (keys, sk) in enumerate(items):
            match = store.check_and_insert("doc", keys, sk, Ref(f"p{process}-t{text}"), 0.7)
            answers.append(None if match is None else match.ref.id)
    results.put((process, answers))


@pytest.mark.slow
def test_redis_keeps_one_of_near_duplicates_submitted_at_once(redis_url: str) -> None:
    url = f"{redis_url}?prefix=race-{uuid.uuid4().hex}"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(RACE_PROCESSES)
    results = context.Queue()
    workers = [context.Process(target=_race, args=(url, p, barrier, results)) for p in range(RACE_PROCESSES)]
    for worker in workers:
        worker.start()
    answers = dict(results.get(timeout=300) for _ in workers)
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    for text in range(RACE_TEXTS):
        per_process = [answers[p][text] for p in range(RACE_PROCESSES)]
        inserted = [p for p, answer in enumerate(per_process) if answer is None]
        assert len(inserted) == 1, (text, per_process)
        assert all(a == f"p{inserted[0]}-t{text}" for a in per_process if a is not None)
    # The edits are near duplicates indeed, so no LSH miss plays a part.
    left, right = _race_items(0)[0][1], _race_items(1)[0][1]
    assert sketch_similarity(left, right) >= 0.85
