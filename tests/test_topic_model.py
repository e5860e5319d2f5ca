"""The topic model honours the scikit-learn estimator contract, by hand.

scikit-learn's common checks skip text input, so the contract tests are
written here: clone round-trip, parameters, refit determinism,
NotFittedError, pickle-free persistence; and fit and score take the same
kind of input.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from dedup.config import ShingleConfig
from dedup.errors import DedupError, InputError, ModelError
from dedup.topic import FEATURES, Signal, TopicModel, default_model_path

SEED_002 = Path(__file__).resolve().parents[1] / "fixtures" / "seeds" / "002_c1d64411474b32a4.txt"


def _seed_lines() -> list[str]:
    return SEED_002.read_text(encoding="utf-8").split("\n")


def _training() -> tuple[list[list[str]], list[list[int]]]:
    lines = _seed_lines()
    labels = [0] * 18 + [1] * 4
    labels[3] = 1  # the photo credit
    other = [
        "Rain is forecast across the north of England for the weekend.",
        "Forecasters said rain would turn to snow on higher ground in the north.",
        "Share this article",
        "FOOTBALL: United won 2-0 at home on Saturday and moved top of the",
    ]
    return [lines, other], [labels, [0, 0, 1, 1]]


@pytest.fixture(scope="module")
def fitted() -> TopicModel:
    X, y = _training()
    return TopicModel(n_features=2**12).fit(X, y)


# -- the estimator contract ------------------------------------------------------------------


def test_init_stores_parameters_verbatim() -> None:
    params = {"shingle_size": 4, "C": 0.5, "lead_weight": 3.0, "decay": 0.1, "keep_weight": 2.0, "max_loss": 0.1}
    model = TopicModel(n_features=1024, **params)
    assert model.get_params() == {
        "n_features": 1024, "shingle_size": 4, "C": 0.5, "lead_weight": 3.0, "decay": 0.1,
        "keep_weight": 2.0, "max_loss": 0.1,
    }
    assert not any(name.endswith("_") for name in vars(model))


def test_clone_round_trip(fitted: TopicModel) -> None:
    twin = clone(fitted)
    assert twin.get_params() == fitted.get_params()
    assert not hasattr(twin, "coef_")


def test_fit_returns_self_and_sets_fitted_attributes() -> None:
    X, y = _training()
    model = TopicModel(n_features=2**12)
    assert model.fit(X, y) is model
    for attribute in ("idf_", "seen_", "mean_", "scale_", "coef_", "intercept_", "offset_"):
        assert hasattr(model, attribute)
    assert model.coef_.shape == (len(Signal),)


def test_refit_is_deterministic(fitted: TopicModel) -> None:
    X, y = _training()
    again = TopicModel(n_features=2**12).fit(X, y)
    assert np.array_equal(again.coef_, fitted.coef_)
    assert again.offset_ == fitted.offset_


@pytest.mark.parametrize(
    "call",
    [
        lambda model: model.score_samples([["a paragraph"]]),
        lambda model: model.decision_function([["a paragraph"]]),
        lambda model: model.signals_batch([["a paragraph"]]),
        lambda model: model.decision_from_signals(np.zeros((1, len(Signal)))),
        lambda model: model.score_signals(np.zeros((1, len(Signal)))),
        lambda model: model.contributions(np.zeros((1, len(Signal)))),
        lambda model: model.save("never-written.npz"),
    ],
    ids=["score_samples", "decision_function", "signals_batch", "decision_from_signals", "score_signals",
         "contributions", "save"],
)
def test_unfitted_use_raises(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFittedError, match="not fitted"):
        call(TopicModel())


def test_fit_rejects_bad_labels() -> None:
    with pytest.raises(InputError, match="both"):
        TopicModel(n_features=256).fit([["a b c", "d e f"]], [[0, 0]])
    with pytest.raises(InputError, match="labels"):
        TopicModel(n_features=256).fit([["a b c", "d e f"]], [[0]])
    with pytest.raises(InputError, match="label lists"):
        TopicModel(n_features=256).fit([["a b c", "d e f"]], [[0, 1], [1]])


# -- fit and score take the same X -----------------------------------------------------------


def test_score_samples_takes_what_fit_takes(fitted: TopicModel) -> None:
    X, y = _training()
    scores = fitted.score_samples(X)
    assert [s.shape for s in scores] == [(len(labels),) for labels in y]
    for document, document_scores in zip(X, scores, strict=True):
        assert np.all((document_scores >= 0) & (document_scores <= 1))
        assert np.array_equal(document_scores, fitted.score_signals(fitted.signals(document)))


def test_scores_are_probabilities_and_decision_is_their_logit(fitted: TopicModel) -> None:
    X, _ = _training()
    for scores, decision in zip(fitted.score_samples(X), fitted.decision_function(X), strict=True):
        assert np.allclose(np.log(scores / (1 - scores)), decision, atol=1e-6)


def test_documents_scored_together_score_as_alone() -> None:
    model = TopicModel.default()
    lines = _seed_lines()
    X = [lines, lines[:5], [], lines[18:], lines[3:4]]
    together = model.score_samples(X)
    for document, scores in zip(X, together, strict=True):
        assert scores.shape == (len(document),)
        assert np.abs(scores - model.score_samples([document])[0]).max(initial=0.0) <= 1e-12


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (["one paragraph", "another paragraph"], "got a string; pass \\[paragraphs\\]"),
        ("one paragraph", "got a string"),
        (np.zeros((2, len(Signal))), "score_signals"),
    ],
    ids=["one-document-unwrapped", "a-string", "a-signal-matrix"],
)
def test_scoring_refuses_what_is_not_documents(X, message: str) -> None:  # type: ignore[no-untyped-def]
    model = TopicModel.default()
    with pytest.raises(InputError, match=message):
        model.score_samples(X)
    with pytest.raises(InputError, match=message):
        model.decision_function(X)
    with pytest.raises(InputError, match=message):
        model.fit(X, [[0, 1], [0, 1]])


def test_the_default_model_separates_the_seed_teasers() -> None:
    [scores] = TopicModel.default().score_samples([_seed_lines()])
    assert scores[18:].min() > scores[[0, 1, 2, 4, 5, 6]].max()


# -- signal matrices ---------------------------------------------------------------------------


def test_contributions_add_up_to_the_decision(fitted: TopicModel) -> None:
    matrix = fitted.signals(_seed_lines())
    parts = fitted.contributions(matrix)
    total = np.array([sum(p.values()) for p in parts]) + fitted.intercept_ - fitted.offset_
    assert np.allclose(total, fitted.decision_from_signals(matrix), atol=1e-2)
    assert list(parts[0]) == list(FEATURES)


def test_shapes_read_the_form_columns() -> None:
    long = "Rain fell on Paris all day long; forecasters said that more is expected on Sunday and all of next week."
    lines = [long, "Photo: Reuters", "Share this article", long.replace("Paris", "Lyon"), "Short line"]
    matrix = TopicModel.default().signals(lines)
    junk, substantial = TopicModel.shapes(matrix)
    assert junk.tolist() == [False, True, True, False, False]
    assert substantial.tolist() == [True, True, True, True, False]
    # a kicker is junk too, whatever else the row says
    matrix[0, Signal.KICKER] = 1.0
    assert TopicModel.shapes(matrix)[0][0]


# -- compatibility with the cleaner's shingles --------------------------------------------------


def test_check_compatible_accepts_the_shingles_the_model_reads() -> None:
    TopicModel.default().check_compatible(ShingleConfig())
    TopicModel(shingle_size=4).check_compatible(ShingleConfig(size=4))


def test_check_compatible_names_the_model_the_sizes_and_the_fix() -> None:
    with pytest.raises(ModelError) as info:
        TopicModel.default().check_compatible(ShingleConfig(size=4))
    message = str(info.value)
    assert message.startswith(f"{default_model_path()}: ")
    assert "reads 5-character shingles but the shingle size is 4" in message
    assert "ShingleConfig(size=5)" in message
    assert "TopicModel(shingle_size=4)" in message
    assert isinstance(info.value, DedupError)


@pytest.mark.parametrize("refit", [False, True], ids=["fitted", "loaded-then-refitted"])
def test_check_compatible_of_a_model_in_memory(fitted: TopicModel, refit: bool) -> None:
    model = TopicModel.default().set_params(n_features=2**12).fit(*_training()) if refit else fitted
    with pytest.raises(ModelError, match=r"^the topic model reads 5-character shingles but the shingle size is 7;"):
        model.check_compatible(ShingleConfig(size=7))


# -- persistence -------------------------------------------------------------------------------


def test_save_load_round_trip(tmp_path: Path, fitted: TopicModel) -> None:
    path = tmp_path / "model.npz"
    fitted.save(path)
    loaded = TopicModel.load(path)
    X, _ = _training()
    for a, b in zip(loaded.score_samples(X), fitted.score_samples(X), strict=True):
        assert np.allclose(a, b)
    assert loaded.get_params() == fitted.get_params()
    assert np.array_equal(loaded.coef_, fitted.coef_)
    assert loaded.offset_ == fitted.offset_


def test_a_pickled_model_scores_as_the_original() -> None:
    """Workers receive the model pickled, without the IDF's float64 copy: they rebuild it."""
    model = TopicModel.default()
    copy = pickle.loads(pickle.dumps(model))
    lines = _seed_lines()
    assert np.array_equal(copy.score_samples([lines])[0], model.score_samples([lines])[0])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a zip file at all", "not a readable dedup topic model"),
        (None, "no such model file"),
    ],
)
def test_load_rejects_foreign_files(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "model.npz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelError, match=message):
        TopicModel.load(path)


def test_load_rejects_pickles_without_suggesting_them(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    np.savez(path, header=np.array([{"format": "x"}], dtype=object))
    with pytest.raises(ModelError) as info:
        TopicModel.load(path)
    assert "allow_pickle" not in str(info.value)
    assert "pickled" in str(info.value)


def test_load_rejects_a_wrong_header(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    header = np.frombuffer(b'{"format": "something-else", "version": 1}', dtype=np.uint8)
    np.savez(path, header=header)
    with pytest.raises(ModelError, match="not a dedup topic model"):
        TopicModel.load(path)


def test_load_rejects_other_signals(tmp_path: Path, fitted: TopicModel) -> None:
    path = tmp_path / "model.npz"
    fitted.save(path)
    with np.load(path, allow_pickle=False) as data:
        arrays = dict(data)
    header = bytes(arrays["header"]).decode().replace('"position"', '"place"')
    arrays["header"] = np.frombuffer(header.encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(ModelError, match="fitted on other signals"):
        TopicModel.load(path)


def _as_version_1(path: Path, known_coef: float) -> None:
    """Rewrite a saved model as version 1 wrote it: a ``known`` column after the last signal."""
    with np.load(path, allow_pickle=False) as data:
        arrays = dict(data)
    header = json.loads(bytes(arrays["header"]).decode())
    header["version"], header["features"] = 1, [*header["features"], "known"]
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    arrays["mean"], arrays["scale"] = np.append(arrays["mean"], 1.0), np.append(arrays["scale"], 1.0)
    arrays["coef"] = np.append(arrays["coef"], known_coef)
    np.savez(path, **arrays)


def test_a_version_1_model_loads_without_its_known_column(tmp_path: Path, fitted: TopicModel) -> None:
    """Version 1 fitted ``known`` with the IDF on the same documents: constant, weightless, dropped on load."""
    path = tmp_path / "model.npz"
    fitted.save(path)
    current = TopicModel.load(path)
    _as_version_1(path, 0.0)
    loaded = TopicModel.load(path)
    assert np.array_equal(loaded.coef_, current.coef_)
    X, _ = _training()
    for a, b in zip(loaded.score_samples(X), current.score_samples(X), strict=True):
        assert np.array_equal(a, b)


def test_a_version_1_model_that_weighs_known_is_refused(tmp_path: Path, fitted: TopicModel) -> None:
    path = tmp_path / "model.npz"
    fitted.save(path)
    _as_version_1(path, 0.5)
    with pytest.raises(ModelError, match=r"weighs the `known` signal, which dedup no longer has; create one with"):
        TopicModel.load(path)


def test_default_model_ships_statistics_only() -> None:
    with np.load(default_model_path(), allow_pickle=False) as data:
        assert set(data.files) == {"header", "seen", "idf_seen", "idf_unseen", "mean", "scale", "coef"}
        assert all(data[name].dtype.kind in "fiu" for name in data.files)
