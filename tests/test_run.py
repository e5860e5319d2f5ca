"""``dedup.run``: the library entry writes what ``dedup clean`` writes, and says what is wrong in its own terms."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import stable_summary

from dedup.config import Config, TopicConfig
from dedup.errors import ArgumentError, DedupError, InputError, StateError, WordedError
from dedup.labelled import parse_labelled, read_labelled
from dedup.run import Fitted, clean_files, fit_topic_file
from dedup.topic import TopicModel
from dedup.write import Summary

SEED_000 = "000_93c3f7158df3345d.txt"
SEED_002 = "002_c1d64411474b32a4.txt"
ARTICLES = [
    "The city council approved a new budget for public libraries on Tuesday, adding two branches in the north.",
    "A storm brought heavy snow to the mountain passes overnight, closing three roads and stranding lorries.",
    "The national orchestra announced its autumn season, opening with a rarely performed symphony.",
    "Farmers in the valley reported an early harvest of apples after an unusually warm and dry summer.",
]


def results(output: Path, report: Path, summary: Path) -> dict[str, Any]:
    """The bytes of every file a run wrote."""
    if output.is_dir():
        files = {p.relative_to(output).as_posix(): p.read_bytes() for p in sorted(output.rglob("*")) if p.is_file()}
    else:
        files = {output.name: output.read_bytes()}
    return {"output": files, "report": report.read_bytes(), "summary": stable_summary(summary.read_bytes())}


@pytest.fixture
def jsonl_inputs(tmp_path, write_jsonl, seeds_dir):
    """Three JSONL inputs (one gzipped) with repeats within and across them, and a bad line in the second."""
    page = (seeds_dir / SEED_002).read_text("utf-8")
    first = write_jsonl(tmp_path / "in" / "0.jsonl", [
        {"id": "page", "text": page, "url": "https://example.org/page"},
        {"id": "a", "text": "\n".join([ARTICLES[0], ARTICLES[1], ARTICLES[0]])},
    ])
    second = write_jsonl(tmp_path / "in" / "1.jsonl.gz", [
        {"id": "b", "text": "\n".join(ARTICLES[2:])},
        "{not json",
        {"id": "page-copy", "text": page},
    ])
    third = write_jsonl(tmp_path / "in" / "2.jsonl", [{"id": "c", "text": ARTICLES[3]}, {"id": "d", "text": " \n"}])
    return [first, second, third]


@pytest.fixture
def text_inputs(tmp_path, seeds_dir):
    """A directory of text files: the seeds, one in a subdirectory, and a copy of one (dropped)."""
    root = tmp_path / "texts"
    (root / "site").mkdir(parents=True)
    shutil.copy(seeds_dir / SEED_000, root / "a.txt")
    shutil.copy(seeds_dir / SEED_002, root / "site" / "b.txt")
    shutil.copy(seeds_dir / SEED_000, root / "site" / "copy.txt")
    return [root]


#: Per case: the inputs fixture, the output's name, the command's options, and the same as library arguments.
CASES: dict[str, tuple[str, str, list[str], dict[str, Any]]] = {
    "jsonl": ("jsonl_inputs", "out.jsonl.gz", ["--on-error", "skip"], {"on_error": "skip"}),
    "jsonl-annotate": ("jsonl_inputs", "out.jsonl", ["--on-error", "skip", "--annotate", "--no-topic"],
                       {"on_error": "skip", "annotate": True, "config": Config(topic=TopicConfig(enabled=False))}),
    "text-directory": ("text_inputs", "out", [], {}),
}


@pytest.mark.parametrize("state", [False, True], ids=["stream", "state"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_library_entry_writes_what_the_command_writes(request, run, tmp_path, case, state):
    fixture, name, options, arguments = CASES[case]
    inputs = request.getfixturevalue(fixture)

    def paths(who: str) -> tuple[Path, Path, Path, Path]:
        folder = tmp_path / who
        return folder / name, folder / "report.jsonl", folder / "summary.json", folder / "state"

    output, report, summary, state_dir = paths("command")
    command = run("clean", *inputs, "-o", output, "--report", report, "--summary", summary, "--workers", "1",
                  *options, *(["--state", state_dir] if state else []))
    assert command.exit_code == 0, command.output
    by_command = results(output, report, summary)

    output, report, summary, state_dir = paths("library")
    counts = clean_files(inputs, output, report=report, summary=summary, workers=1,
                         state=state_dir if state else None, **arguments)
    by_library = results(output, report, summary)

    assert by_library == by_command
    assert counts.short() in command.stderr
    assert by_library["summary"]["documents"]["in"] == counts.documents_in > 0
    assert counts.documents_dropped > 0, "the inputs hold a dropped document"
    if state:
        assert (state_dir / "manifest.json").is_file()


def test_resumed_library_run_writes_what_the_command_writes(run, tmp_path, jsonl_inputs):
    command = run("clean", *jsonl_inputs, "-o", tmp_path / "command.jsonl", "--report", tmp_path / "command.report",
                  "--summary", tmp_path / "command.summary", "--on-error", "skip", "--workers", "1")
    assert command.exit_code == 0, command.output
    state = tmp_path / "state"
    clean_files(jsonl_inputs[:2], tmp_path / "first.jsonl", on_error="skip", workers=1, state=state)

    counts = clean_files(jsonl_inputs, tmp_path / "library.jsonl", report=tmp_path / "library.report",
                         summary=tmp_path / "library.summary", on_error="skip", workers=1, state=state, resume=True)

    for suffix in (".jsonl", ".report"):
        assert (tmp_path / f"library{suffix}").read_bytes() == (tmp_path / f"command{suffix}").read_bytes()
    summaries = [stable_summary((tmp_path / f"{name}.summary").read_bytes()) for name in ("library", "command")]
    assert summaries[0] == summaries[1]
    assert counts.short() in command.stderr


def test_clean_files_takes_one_path_and_returns_the_counts(tmp_path, write_jsonl):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": f"{ARTICLES[0]}\n{ARTICLES[0]}"}])

    counts = clean_files(str(source), tmp_path / "out.jsonl", workers=1)

    assert isinstance(counts, Summary)
    assert counts.to_counts() == {
        "documents_in": 1, "documents_out": 1, "documents_dropped": 0, "documents_skipped": 0,
        "paragraphs_in": 2, "paragraphs_out": 1, "paragraphs_removed": {"duplicate": 1}, "documents_removed": {},
    }
    assert json.loads((tmp_path / "out.jsonl").read_text()) == {"id": "a", "text": ARTICLES[0]}


# -- errors, in the library's terms -------------------------------------------------------------------


@pytest.fixture
def files(tmp_path, write_jsonl):
    jsonl = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": ARTICLES[0]}])
    (tmp_path / "page.txt").write_text("Some text.\n")
    (tmp_path / "a").mkdir()
    return {"jsonl": jsonl, "txt": tmp_path / "page.txt", "dir": tmp_path}


ARGUMENT_ERRORS: dict[str, tuple[Any, Any, dict[str, Any], str]] = {
    "stdin-twice": (["-", "-"], "{dir}/o.jsonl", {}, "- (stdin) can be given once"),
    "output-is-report": ("{jsonl}", "{dir}/o.jsonl", {"report": "{dir}/a/../o.jsonl"},
                         "output=, report= and summary= must be different files"),
    "two-stdouts": ("{jsonl}", "-", {"summary": "-"}, "only one of output=, report= and summary= can be - (stdout)"),
    "resume-without-state": ("{jsonl}", "{dir}/o.jsonl", {"resume": True},
                             "resume=True continues the run recorded in a state directory: give the directory "
                             "with state="),
    "state-with-stdin": ("-", "{dir}/o.jsonl", {"state": "{dir}/state"},
                         "state= records completed input files: - (stdin) cannot be resumed"),
    "on-error": ("{jsonl}", "{dir}/o.jsonl", {"on_error": "ignore"},
                 "on_error= must be \"raise\" or \"skip\", found 'ignore'"),
    "workers": ("{jsonl}", "{dir}/o.jsonl", {"workers": 0}, "workers= must be at least 1, found 0"),
    "text-to-stdout": ("{txt}", "-", {}, "text inputs need an output directory, not - (stdout)"),
    "annotate-text": ("{txt}", "{dir}/o", {"annotate": True},
                      "annotate=True adds a field to JSON records: it needs JSONL inputs"),
    "jsonl-to-directory": ("{jsonl}", "{dir}/a", {}, "output {dir}/a is a directory, but JSONL inputs make one "
                                                     "output file"),
    "text-to-file": ("{txt}", "{jsonl}", {}, "output {jsonl} is a file, but text inputs need an output directory"),
    "output-is-input": ("{jsonl}", "{jsonl}", {}, "output= would write {jsonl}, which is the input {jsonl}; give an "
                                                  "output path that is not an input"),
    "summary-is-input": ("{jsonl}", "{dir}/o.jsonl", {"summary": "{jsonl}"}, "summary= would write {jsonl}"),
}


def _format(value: Any, files: dict[str, Path]) -> Any:
    if isinstance(value, str):
        return value.format(**files)
    if isinstance(value, list):
        return [_format(v, files) for v in value]
    return value


@pytest.mark.parametrize("case", sorted(ARGUMENT_ERRORS))
def test_arguments_that_do_not_fit_raise_argument_error(files, tmp_path, case):
    inputs, output, options, message = (_format(v, files) for v in ARGUMENT_ERRORS[case])
    options = {k: _format(v, files) for k, v in options.items()}
    before = sorted(tmp_path.rglob("*"))

    with pytest.raises(ArgumentError) as caught:
        clean_files(inputs, output, **options)

    assert message in str(caught.value)
    assert "--" not in str(caught.value).replace(str(tmp_path), ""), "the library does not name command-line options"
    assert isinstance(caught.value, ValueError)
    assert sorted(tmp_path.rglob("*")) == before, "nothing is written"


def test_argument_error_is_worded_by_the_caller(files):
    with pytest.raises(ArgumentError) as caught:
        clean_files(files["jsonl"], files["jsonl"])

    worded = caught.value.worded({"output": "the output path"})

    assert worded.startswith(f"the output path would write {files['jsonl']}, which is the input")


def test_path_with_braces_is_kept_in_messages(tmp_path, write_jsonl):
    source = write_jsonl(tmp_path / "{output}" / "in.jsonl", [{"id": "a", "text": ARTICLES[0]}])

    with pytest.raises(ArgumentError, match="would write") as caught:
        clean_files(source, source)

    assert str(caught.value).startswith(f"output= would write {source}, which is the input {source}")


def test_earlier_state_needs_resume(tmp_path, write_jsonl):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": ARTICLES[0]}])
    clean_files(source, tmp_path / "first.jsonl", workers=1, state=tmp_path / "state")

    with pytest.raises(StateError) as caught:
        clean_files(source, tmp_path / "second.jsonl", workers=1, state=tmp_path / "state")

    assert "holds the state of an earlier run; pass resume=True to continue it" in str(caught.value)
    assert "pass --resume to continue it" in caught.value.worded({"resume": "--resume"})
    assert not isinstance(caught.value, ArgumentError), "a state is not a usage error: the command exits with 1"
    assert isinstance(caught.value, WordedError)
    assert not (tmp_path / "second.jsonl").exists()


def test_bad_record_raises_input_error_without_output(tmp_path, write_jsonl):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": ARTICLES[0]}, "{oops"])

    with pytest.raises(InputError, match=r"in\.jsonl:2: not valid JSON") as caught:
        clean_files(source, tmp_path / "out.jsonl", report=tmp_path / "report.jsonl", workers=1)

    assert (caught.value.source, caught.value.line) == (str(source), 2)
    assert not (tmp_path / "out.jsonl").exists()
    assert not (tmp_path / "report.jsonl").exists()


def test_state_error_is_importable_where_it_was():
    from dedup import StateError as exported
    from dedup.state import StateError as from_state

    assert from_state is exported is StateError
    assert issubclass(StateError, DedupError)


# -- fitting a topic model ------------------------------------------------------------------------------


def test_fit_topic_file(tmp_path, write_jsonl, seeds_dir):
    lines = (seeds_dir / SEED_002).read_text("utf-8").split("\n")
    teasers = range(18, 22)
    labelled = [{"id": "002", "text": line, "label": "drop" if i in teasers else "keep"} for i, line in
                enumerate(lines)]
    labelled.append({"text": "Subscribe to our newsletter", "label": "drop"})  # no id: a document of its own
    source = write_jsonl(tmp_path / "labelled.jsonl", labelled)

    fitted = fit_topic_file(source, tmp_path / "model.npz")

    assert fitted == Fitted(paragraphs=23, documents=2, note=fitted.note)
    assert fitted.note is not None and fitted.note.startswith("no held-out check: 2 documents are too few")
    model = TopicModel.load(tmp_path / "model.npz")
    scores = model.score_samples([lines])[0]
    teaser_mean = sum(scores[i] for i in teasers) / len(teasers)
    assert teaser_mean > sum(scores[:18]) / 18, "it learned the labels"


def test_fit_topic_file_one_class_is_an_input_error(tmp_path, write_jsonl):
    source = write_jsonl(tmp_path / "labelled.jsonl", [{"text": "a", "label": "keep"}, {"text": "b", "label": "keep"}])

    with pytest.raises(InputError, match="both off-topic") as caught:
        fit_topic_file(source, tmp_path / "model.npz")

    assert caught.value.source == str(source)
    assert not (tmp_path / "model.npz").exists()


def test_read_labelled_groups_consecutive_ids(tmp_path, write_jsonl):
    source = write_jsonl(tmp_path / "labelled.jsonl", [
        {"id": 1, "text": "a", "label": "keep"}, {"id": 1, "text": "b", "label": "drop"},
        {"text": "c", "label": "keep"}, {"text": "d", "label": "keep"},
        {"id": 2, "text": "e", "label": "drop"}, {"id": 1, "text": "f", "label": "keep"},
    ])

    documents, labels = read_labelled(source)

    assert documents == [["a", "b"], ["c"], ["d"], ["e"], ["f"]]
    assert labels == [[0, 1], [0], [0], [1], [0]]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"text": "a", "label": "keep"}', '{"body": "b", "label": "keep"}'],
         "labelled.jsonl:2: expected an object with a string 'text' field"),
        (['{"text": "a", "label": "maybe"}'], 'labelled.jsonl:1: label must be "keep" or "drop", found \'maybe\''),
        (["", "{oops"], "labelled.jsonl:2: not valid JSON"),
        (["", " "], "labelled.jsonl: no labelled records"),
    ],
    ids=["no-text", "bad-label", "bad-json", "empty"],
)
def test_parse_labelled_names_file_and_line(lines, message):
    with pytest.raises(InputError) as caught:
        parse_labelled(io.StringIO("\n".join(lines) + "\n"), "labelled.jsonl")

    assert str(caught.value).startswith(message)


def test_read_labelled_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot open the file"):
        read_labelled(tmp_path / "none.jsonl")
