"""Contract tests of the furniture detector (scikit-learn's common checks skip text input)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from dedup.errors import DedupError, ModelError
from dedup.furniture import FAMILIES, SIGNALS, FurnitureModel, default_model_path, signals

PROSE = (
    "The council approved the new budget on Monday, after a debate that lasted most of the afternoon.",
    "Opponents said the plan would cut services in the poorest districts and raise fees for families.",
    "The mayor said that the city had no choice, and that the cuts were smaller than in other towns.",
    "A final vote on the details of the plan is expected in the spring, when the new year begins.",
)
MENU = ("Home", "News | Sport | Weather", "Contact us", "© 2012 Example Media. All rights reserved.")


def _page(k: int) -> tuple[list[str], list[int]]:
    # Menus before and a footer after a few lines of prose, rotated so that pages differ.
    prose = list(PROSE[k % 4 :] + PROSE[: k % 4])[: 2 + k % 3]
    lines = list(MENU[:3]) + prose + [MENU[3]]
    return lines, [1, 1, 1] + [0] * len(prose) + [1]


@pytest.fixture(scope="module")
def training() -> tuple[list[list[str]], list[list[int]]]:
    pages = [_page(k) for k in range(12)]
    return [p for p, _ in pages], [y for _, y in pages]


@pytest.fixture(scope="module")
def fitted(training: tuple[list[list[str]], list[list[int]]]) -> FurnitureModel:
    return FurnitureModel(C=0.5, threshold=0.6).fit(*training)


def test_signals_are_named_once_in_families() -> None:
    assert len(set(SIGNALS)) == len(SIGNALS)
    assert tuple(s for family in FAMILIES.values() for s in family) == SIGNALS


def test_signals_do_not_depend_on_the_batch(training: tuple[list[list[str]], list[list[int]]]) -> None:
    documents = [*training[0][:5], ["İstanbul ÇAĞRI", "Straße"], []]
    together = signals(documents)
    apart = np.vstack([signals([doc]) for doc in documents])
    assert together.shape == (sum(map(len, documents)), len(SIGNALS))
    np.testing.assert_allclose(together, apart)


def test_signal_values_on_a_hand_made_page() -> None:
    column = {name: i for i, name in enumerate(SIGNALS)}
    out = signals([["Home | News", PROSE[0], "x", PROSE[1], "Footer © 2012 www.example.com"]])
    assert out[0, column["separators"]] > 0 and out[1, column["separators"]] == 0
    assert out[1, column["terminal"]] == 1 and out[0, column["terminal"]] == 0
    assert out[1, column["stop_density"]] > 0.3 and out[0, column["stop_density"]] == 0
    assert out[4, column["copyright"]] == out[4, column["link_shape"]] == out[4, column["date_shape"]] == 1
    # The core is the prose block, the short line inside it included.
    assert out[:, column["in_core"]].tolist() == [0, 1, 1, 1, 0]
    assert out[0, column["before_core"]] == 1 and out[4, column["after_core"]] == 1


def test_get_params_and_clone_round_trip() -> None:
    model = FurnitureModel(C=0.25, content_weight=3.0, threshold=0.7)
    assert model.get_params() == {"C": 0.25, "content_weight": 3.0, "threshold": 0.7}
    copy = clone(model)
    assert copy is not model
    assert copy.get_params() == model.get_params()


def test_init_does_no_work() -> None:
    model = FurnitureModel()
    assert not [name for name in vars(model) if name.endswith("_")]


def test_unfitted_model_raises() -> None:
    model = FurnitureModel()
    for method in (model.score_samples, model.predict, model.contributions, model.decision_function):
        with pytest.raises(NotFittedError):
            method([["Home"]])


def test_fit_returns_self_and_refits_identically(training: tuple[list[list[str]], list[list[int]]]) -> None:
    model = FurnitureModel()
    assert model.fit(*training) is model
    first = model.coef_.copy()
    np.testing.assert_array_equal(FurnitureModel().fit(*training).coef_, first)
    np.testing.assert_array_equal(model.fit(*training).coef_, first)


def test_fit_checks_labels(training: tuple[list[list[str]], list[list[int]]]) -> None:
    documents, labels = training
    with pytest.raises(ValueError, match="documents but"):
        FurnitureModel().fit(documents, labels[:-1])
    with pytest.raises(ValueError, match="paragraphs but"):
        FurnitureModel().fit(documents, [y[:-1] for y in labels])
    with pytest.raises(ValueError, match="both furniture"):
        FurnitureModel().fit(documents, [[0] * len(y) for y in labels])


def test_scores_separate_the_training_pages(fitted: FurnitureModel) -> None:
    page, labels = _page(20)
    scores = fitted.score_samples([page])[0]
    assert scores.shape == (len(page),)
    furniture = scores[np.asarray(labels) == 1]
    content = scores[np.asarray(labels) == 0]
    assert furniture.min() > content.max()
    assert fitted.threshold_ == 0.6


def test_predict_never_empties_a_document(fitted: FurnitureModel) -> None:
    menus = [list(MENU), ["Home"], []]
    drops = fitted.predict(menus)
    assert [len(d) for d in drops] == [4, 1, 0]
    scores = fitted.score_samples(menus)
    for drop, score in zip(drops[:2], scores[:2], strict=True):
        assert not drop.all()
        assert not drop[int(np.argmin(score))]


def test_contributions_add_up_to_the_log_odds(fitted: FurnitureModel) -> None:
    page, _ = _page(3)
    parts = fitted.contributions([page, ["Home"]])
    assert [len(p) for p in parts] == [len(page), 1]
    assert set(parts[0][0]) == {"intercept", *SIGNALS}
    logits = fitted.decision_function([page, ["Home"]])
    for doc_parts, doc_logits in zip(parts, logits, strict=True):
        np.testing.assert_allclose([sum(row.values()) for row in doc_parts], doc_logits, atol=1e-3 * len(SIGNALS))


def test_save_load_round_trip(fitted: FurnitureModel, tmp_path) -> None:
    path = tmp_path / "furniture.npz"
    fitted.save(path)
    loaded = FurnitureModel.load(path)
    assert loaded.get_params() == fitted.get_params()
    for name in ("mean_", "scale_", "coef_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(fitted, name))
    assert loaded.intercept_ == fitted.intercept_ and loaded.threshold_ == fitted.threshold_
    page, _ = _page(5)
    np.testing.assert_array_equal(loaded.score_samples([page])[0], fitted.score_samples([page])[0])


def test_unfitted_model_cannot_be_saved(tmp_path) -> None:
    with pytest.raises(NotFittedError):
        FurnitureModel().save(tmp_path / "x.npz")


def test_a_pickled_file_is_refused(tmp_path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, header=np.array([{"format": "dedup-furniture-model"}], dtype=object))
    with pytest.raises(ModelError, match="pickled objects, which dedup never loads") as info:
        FurnitureModel.load(path)
    assert "allow_pickle" not in str(info.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a zip file at all", "not a readable dedup furniture model"),
        ("topic", "not a dedup furniture model version 1"),
        ("other_signals", "fitted on other signals"),
        ("short_arrays", "do not match"),
    ],
)
def test_foreign_files_are_refused(fitted: FurnitureModel, tmp_path, content, message) -> None:
    path = tmp_path / "model.npz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "topic":
        from dedup.topic import default_model_path as topic_model

        path = topic_model()
    else:
        fitted.save(path)
        with np.load(path, allow_pickle=False) as data:
            arrays = dict(data)
        import json

        header = json.loads(bytes(arrays["header"]).decode())
        if content == "other_signals":
            header["signals"] = header["signals"][:-1]
        else:
            arrays["coef"] = arrays["coef"][:-1]
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        np.savez(path, **arrays)
    with pytest.raises(ModelError, match=message) as info:
        FurnitureModel.load(path)
    assert isinstance(info.value, DedupError)
    assert "train_furniture.py" in str(info.value)


def test_a_missing_file_names_the_fix(tmp_path) -> None:
    with pytest.raises(ModelError, match="no such model file; refit it with"):
        FurnitureModel.load(tmp_path / "missing.npz")


def test_the_shipped_model_loads_and_is_small() -> None:
    model = FurnitureModel.default()
    assert default_model_path().stat().st_size < 8 * 1024
    assert 0.0 < model.threshold_ < 1.0
    page = ["Home | News | Sport | Weather | Contact", *PROSE]
    scores = model.score_samples([page])[0]
    assert scores[0] > scores[1:].max()
