"""An index that outlives a run: a file index across runs, a shared Redis index across cleaners."""

from __future__ import annotations

import uuid

import pytest

from dedup import Cleaner, Config, Reason
from dedup.store import MemoryStore

STORY = (
    "The city council approved a new budget for schools on Tuesday evening.\n"
    "Spending on primary schools will rise by a tenth over the next three years.\n"
    "Opposition members said the plan did too little for teachers' pay."
)
EDITED = STORY.replace("Tuesday", "Wednesday").replace("rise", "grow")
OTHER = (
    "A storm closed the harbour for two days and ferries stayed in port.\n"
    "Services resumed on Friday morning as the wind dropped."
)
THIRD = (
    "The museum reopened its east wing after a year of repairs to the roof.\n"
    "Visitors queued from early morning to see the restored ceiling."
)
DAY1 = [{"id": "d1-story", "text": STORY}, {"id": "d1-other", "text": OTHER}]
DAY2 = [{"id": "d2-copy", "text": EDITED}, {"id": "d2-third", "text": THIRD}, {"id": "d2-again", "text": OTHER}]


def _clean(run, source, out, *extra):
    result = run("clean", source, "-o", out / "out.jsonl", "--report", out / "report.jsonl", "--summary",
                 out / "summary.json", "--workers", "1", *extra)
    assert result.exit_code == 0, result.output
    return (out / "out.jsonl").read_bytes(), (out / "report.jsonl").read_bytes()


@pytest.mark.parametrize("state", [False, True], ids=["plain", "with-state"])
def test_day_two_against_day_one_equals_one_run_over_both(run, tmp_path, write_jsonl, read_jsonl, state):
    day1 = write_jsonl(tmp_path / "day1.jsonl", DAY1)
    day2 = write_jsonl(tmp_path / "day2.jsonl", DAY2)
    index = tmp_path / "index.npz"
    extra = ["--state", str(tmp_path / "state")] if state else []

    _clean(run, day1, tmp_path / "run1", "--index", index)
    assert index.exists()
    out2, report2 = _clean(run, day2, tmp_path / "run2", "--index", f"file://{index}", *extra)
    together = run("clean", day1, day2, "-o", tmp_path / "together.jsonl", "--report", tmp_path / "together.r")
    assert together.exit_code == 0, together.output

    expected_out = [r for r in read_jsonl(tmp_path / "together.jsonl") if r["id"].startswith("d2")]
    expected_report = [r for r in read_jsonl(tmp_path / "together.r") if r["id"].startswith("d2")]
    assert read_jsonl(tmp_path / "run2" / "out.jsonl") == expected_out
    assert read_jsonl(tmp_path / "run2" / "report.jsonl") == expected_report
    assert {r["id"]: r["reason"] for r in expected_report if r["paragraph"] is None} == {
        "d2-copy": "duplicate_document", "d2-again": "duplicate_document"
    }
    assert out2 and report2


def test_a_failed_run_leaves_the_index_as_it_was(run, tmp_path, write_jsonl):
    index = tmp_path / "index.npz"
    _clean(run, write_jsonl(tmp_path / "day1.jsonl", DAY1), tmp_path / "run1", "--index", index)
    before = index.read_bytes()
    bad = write_jsonl(tmp_path / "bad.jsonl", [DAY2[1], "{not json"])

    result = run("clean", bad, "-o", tmp_path / "out.jsonl", "--index", index)

    assert result.exit_code == 1
    assert index.read_bytes() == before
    assert len(MemoryStore.load(index, Config().fingerprint())) > 0


def test_a_resumable_run_writes_the_index_file_once_at_the_end(run, tmp_path, write_jsonl):
    files = [write_jsonl(tmp_path / "in" / f"{n}.jsonl", [record]) for n, record in enumerate(DAY1 + DAY2)]
    index = tmp_path / "index.npz"
    bad = write_jsonl(tmp_path / "in" / "9.jsonl", ["{not json"])

    failed = run("clean", *files, bad, "-o", tmp_path / "out.jsonl", "--state", tmp_path / "state", "--index", index)
    assert failed.exit_code == 1
    assert not index.exists(), "the index file waits for the whole run"
    bad.write_text('{"id": "late", "text": "A late record with words enough to keep."}\n')
    resumed = run("clean", *files, bad, "-o", tmp_path / "out.jsonl", "--state", tmp_path / "state", "--index",
                  index, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert index.exists()
    # A resumed run never drops a document as a copy of itself: only the planted copies went.
    one = run("clean", *files, bad, "-o", tmp_path / "one.jsonl")
    assert one.exit_code == 0
    assert (tmp_path / "out.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()


@pytest.mark.parametrize("url", ["redis://user:secret@127.0.0.1:1/0", "memory://"])
def test_an_index_that_is_not_a_file_with_state_is_a_usage_error(run, tmp_path, write_jsonl, url):
    source = write_jsonl(tmp_path / "in.jsonl", DAY1)
    result = run("clean", source, "-o", tmp_path / "o.jsonl", "--state", tmp_path / "s", "--index", url)
    assert result.exit_code == 2
    assert "cannot be rolled back" in " ".join(result.stderr.split()) and "secret" not in result.stderr


def test_a_file_url_with_state_names_the_same_file(run, tmp_path, write_jsonl):
    source = write_jsonl(tmp_path / "in.jsonl", DAY1)
    result = run("clean", source, "-o", tmp_path / "o.jsonl", "--state", tmp_path / "s", "--index",
                 f"file://localhost{tmp_path / 'index.npz'}")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "index.npz").exists()


def test_a_cleaner_saves_its_file_index_when_closed(tmp_path):
    path = tmp_path / "index.npz"
    with Cleaner(index=f"file://{path}") as cleaner:
        assert cleaner.clean_text(STORY, id="a").dropped is None
    assert path.exists()
    cleaner = Cleaner(index=path)
    assert cleaner.clean_text(EDITED, id="b").dropped is Reason.DUPLICATE_DOCUMENT
    del cleaner  # never saved by garbage collection
    assert Cleaner(index=path).clean_text(EDITED, id="c").dropped is Reason.DUPLICATE_DOCUMENT


def test_a_cleaner_left_by_an_exception_keeps_the_file(tmp_path):
    path = tmp_path / "index.npz"
    with pytest.raises(RuntimeError), Cleaner(index=path) as cleaner:
        cleaner.clean_text(STORY)
        raise RuntimeError("the crawl failed")
    assert not path.exists()


def test_remember_false_leaves_the_index_alone() -> None:
    cleaner = Cleaner()
    assert cleaner.clean_text(STORY, remember=False).dropped is None
    assert cleaner.clean_text(STORY, remember=False).dropped is None
    assert cleaner.clean_text(STORY).dropped is None
    assert cleaner.clean_text(STORY).dropped is Reason.DUPLICATE_DOCUMENT
    assert cleaner.clean_text(STORY + "\n" + STORY, remember=False).text == STORY


def test_cleaners_share_a_redis_index(redis_url):
    url = f"{redis_url}?prefix=test-{uuid.uuid4().hex}"
    with Cleaner(index=url) as first, Cleaner(index=url) as second:
        assert first.clean_text(STORY, id="crawler-1").dropped is None
        copy = second.clean_text(EDITED, id="crawler-2")
        assert copy.dropped is Reason.DUPLICATE_DOCUMENT
        assert copy.duplicate_of is not None and copy.duplicate_of.id == "crawler-1"
