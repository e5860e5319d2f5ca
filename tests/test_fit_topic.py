"""``dedup fit-topic``: the held-out check it prints, and a labelled file given where a model is expected."""

from __future__ import annotations

import re

import numpy as np
import pytest

from dedup.run import MIN_DOCUMENTS_TO_CHECK, fit_topic_file, removal_quality
from dedup.topic import TopicModel

SEED_002 = "002_c1d64411474b32a4.txt"  # an article, then teasers of other stories
TEASERS_002 = [3, 18, 19, 20, 21]  # the paragraphs `dedup clean` removes from it (see test_cli)

SUBJECTS = [
    ("council", "budget", "libraries", "councillors", "branches"),
    ("storm", "coast", "flooding", "crews", "roads"),
    ("election", "candidates", "voters", "ballots", "polls"),
    ("football", "striker", "goal", "league", "manager"),
    ("hospital", "nurses", "patients", "waiting", "wards"),
    ("railway", "trains", "commuters", "timetable", "stations"),
]


def labelled_documents(count: int) -> list[dict[str, str]]:
    """``count`` documents: three article paragraphs on one subject, then two teasers from other subjects."""
    records = []
    for n in range(count):
        a, b, c, d, e = SUBJECTS[n % len(SUBJECTS)]
        article = [
            f"The {a} story number {n} began when the {b} was discussed at length by the {d} on Monday morning.",
            f"Officials said the {c} and the {b} would be reviewed again, and the {d} agreed to report on the {e}.",
            f"Residents who follow the {a} closely said the {e} and the {c} mattered more than the {b} this year.",
        ]
        teasers = [f"Read more: {SUBJECTS[(n + k) % len(SUBJECTS)][0]} latest, {SUBJECTS[(n + k) % len(SUBJECTS)][3]} "
                   f"react to the news" for k in (1, 2)]
        records += [{"id": f"doc-{n}", "text": t, "label": "keep"} for t in article]
        records += [{"id": f"doc-{n}", "text": t, "label": "drop"} for t in teasers]
    return records


def test_fit_topic_prints_a_held_out_check_then_fits_on_everything(run, write_jsonl, tmp_path):
    source = write_jsonl(tmp_path / "labelled.jsonl", labelled_documents(20))

    result = run("fit-topic", source, "-o", tmp_path / "model.npz", "--holdout", "0.25", "--seed", "3")

    assert result.exit_code == 0, result.output
    held = np.random.default_rng(3).permutation(20)[:5]
    assert len(held) == 5
    figure = r"(\d\.\d{3}|n/a)"
    check, saved = result.stderr.splitlines()
    assert re.fullmatch(
        rf"dedup: held out 5 of 20 documents \(--seed 3\) and fitted on the rest; removals on the 25 held-out "
        rf"paragraphs \(10 labelled drop\): precision {figure}, recall {figure}, F1 {figure}; "
        rf"the shipped model's: precision {figure}, recall {figure}, F1 {figure}",
        check,
    ), check
    assert saved == f"dedup: fitted a topic model on 100 paragraphs in 20 documents; saved to {tmp_path / 'model.npz'}"
    again = fit_topic_file(source, tmp_path / "again.npz", holdout=0.25, seed=3)
    assert f"removals on the 25 held-out paragraphs (10 labelled drop): {again.quality.short()}" in check
    everything = tmp_path / "everything.npz"
    fit_topic_file(source, everything, holdout=0)
    assert np.array_equal(TopicModel.load(tmp_path / "model.npz").coef_, TopicModel.load(everything).coef_), (
        "the saved model is fitted on every document, the held-out ones included"
    )


def test_the_held_out_documents_depend_on_the_seed(write_jsonl, tmp_path):
    source = write_jsonl(tmp_path / "labelled.jsonl", labelled_documents(20))

    one = fit_topic_file(source, tmp_path / "a.npz", holdout=0.5, seed=1)
    same = fit_topic_file(source, tmp_path / "b.npz", holdout=0.5, seed=1)

    assert one == same
    assert one.held_out == 10 and one.quality is not None and one.quality.documents == 10


@pytest.mark.parametrize(
    ("documents", "options", "note"),
    [
        (MIN_DOCUMENTS_TO_CHECK - 1, [], f"no held-out check: 9 documents are too few to hold 20% out (label at least "
                                         f"{MIN_DOCUMENTS_TO_CHECK})"),
        (12, ["--holdout", "0"], "no held-out check (--holdout 0)"),
    ],
    ids=["too-few", "holdout-0"],
)
def test_no_check_says_why(run, write_jsonl, tmp_path, documents, options, note):
    source = write_jsonl(tmp_path / "labelled.jsonl", labelled_documents(documents))

    result = run("fit-topic", source, "-o", tmp_path / "model.npz", *options)

    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == f"dedup: {note}"
    assert (tmp_path / "model.npz").exists()


def test_removal_quality_scores_the_topic_stage_against_labels(seeds_dir):
    paragraphs = (seeds_dir / SEED_002).read_text("utf-8").split("\n")
    labels = [1 if i in TEASERS_002 else 0 for i in range(len(paragraphs))]
    model = TopicModel.default()

    right = removal_quality(model, [paragraphs], [labels])
    inverted = removal_quality(model, [paragraphs], [[1 - label for label in labels]])
    ignored = removal_quality(model, [paragraphs], [[-1 if label else 0 for label in labels]])

    assert (right.precision, right.recall, right.f1) == (1.0, 1.0, 1.0)
    assert (right.paragraphs, right.drops, right.documents) == (22, 5, 1)
    assert (inverted.precision, inverted.recall, inverted.f1) == (0.0, 0.0, 0.0)
    assert (ignored.precision, ignored.recall, ignored.f1, ignored.paragraphs) == (None, None, None, 17)


def test_a_labelled_file_given_as_a_model_points_at_fit_topic(run, write_jsonl, tmp_path):
    labelled = write_jsonl(tmp_path / "labelled.jsonl", labelled_documents(2))
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "Some text long enough to be an article."}])

    result = run("clean", source, "-o", tmp_path / "out.jsonl", "--model", labelled)

    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {labelled}: JSON lines (labelled paragraphs?), not a dedup topic model; a model is the .npz file "
        f"that `dedup fit-topic {labelled} -o model.npz` fits on labelled paragraphs: give that file\n"
    )
