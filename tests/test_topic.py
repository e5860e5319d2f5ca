"""The topic model honours the scikit-learn estimator contract, by hand.

scikit-learn's common checks skip text input, so the contract tests are
written here: clone round-trip, parameters, refit determinism,
NotFittedError, pickle-free persistence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from dedup.errors import ModelError
from dedup.shingle import normalise, shingle_hashes
from dedup.topic import FEATURES, TopicModel, default_model_path
from dedup.topic import features as topic_features

SEED_002 = Path(__file__).resolve().parents[1] / "fixtures" / "seeds" / "002_c1d64411474b32a4.txt"


def _training() -> tuple[list[list[str]], list[list[int]]]:
    lines = SEED_002.read_text(encoding="utf-8").split("\n")
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
    docs, labels = _training()
    return TopicModel(n_features=2**12).fit(docs, labels)


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
    docs, labels = _training()
    model = TopicModel(n_features=2**12)
    assert model.fit(docs, labels) is model
    for attribute in ("idf_", "seen_", "mean_", "scale_", "coef_", "intercept_", "offset_"):
        assert hasattr(model, attribute)
    assert model.coef_.shape == (len(FEATURES),)


def test_refit_is_deterministic(fitted: TopicModel) -> None:
    docs, labels = _training()
    again = TopicModel(n_features=2**12).fit(docs, labels)
    assert np.array_equal(again.coef_, fitted.coef_)
    assert again.offset_ == fitted.offset_


def test_unfitted_use_raises() -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        TopicModel().score_document(["a paragraph"])
    with pytest.raises(NotFittedError):
        TopicModel().decision_function(np.zeros((1, len(FEATURES))))


def test_fit_rejects_bad_labels() -> None:
    with pytest.raises(ValueError, match="both"):
        TopicModel(n_features=256).fit([["a b c", "d e f"]], [[0, 0]])
    with pytest.raises(ValueError, match="labels"):
        TopicModel(n_features=256).fit([["a b c", "d e f"]], [[0]])


def test_scores_are_probabilities_and_decision_is_their_logit(fitted: TopicModel) -> None:
    lines = SEED_002.read_text(encoding="utf-8").split("\n")
    features = fitted.features(lines)
    assert features.shape == (len(lines), len(FEATURES))
    scores = fitted.score_samples(features)
    assert np.all((scores >= 0) & (scores <= 1))
    assert np.allclose(np.log(scores / (1 - scores)), fitted.decision_function(features), atol=1e-6)


def test_contributions_add_up_to_the_decision(fitted: TopicModel) -> None:
    lines = SEED_002.read_text(encoding="utf-8").split("\n")
    features = fitted.features(lines)
    parts = fitted.contributions(features)
    total = np.array([sum(p.values()) for p in parts]) + fitted.intercept_ - fitted.offset_
    assert np.allclose(total, fitted.decision_function(features), atol=1e-2)
    assert set(parts[0]) == set(FEATURES)


def test_save_load_round_trip(tmp_path: Path, fitted: TopicModel) -> None:
    path = tmp_path / "model.npz"
    fitted.save(path)
    loaded = TopicModel.load(path)
    lines = SEED_002.read_text(encoding="utf-8").split("\n")
    assert np.allclose(loaded.score_document(lines), fitted.score_document(lines))
    assert loaded.get_params() == fitted.get_params()


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


def test_default_model_ships_statistics_only() -> None:
    with np.load(default_model_path(), allow_pickle=False) as data:
        assert set(data.files) == {"header", "seen", "idf_seen", "idf_unseen", "mean", "scale", "coef"}
        assert all(data[name].dtype.kind in "fiu" for name in data.files)


def test_default_model_separates_the_seed_teasers() -> None:
    lines = SEED_002.read_text(encoding="utf-8").split("\n")
    scores = TopicModel.default().score_document(lines)
    assert scores[18:].min() > scores[[0, 1, 2, 4, 5, 6]].max()


def test_large_documents_score_in_blocks() -> None:
    """More paragraphs than one block: the blocked cosines equal the all-pairs ones."""
    model = TopicModel.default()
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(400)]
    paragraphs = [" ".join(rng.choice(words, 30)) + "." for _ in range(700)]
    features = model.features(paragraphs)
    assert features.shape == (700, len(FEATURES))
    assert np.isfinite(features).all()
    small = model.features(paragraphs[:200])
    # prefix cosines (after the first paragraph) and lead cosines do not depend on what follows
    for name in ("prefix", "lead"):
        column = FEATURES.index(name)
        assert np.allclose(features[1:200, column], small[1:, column])
    # nor does the best earlier cosine, within the look-back window
    column = FEATURES.index("best_earlier")
    assert np.allclose(features[:200, column], small[:, column])


def test_unseen_script_is_flagged_as_unknown() -> None:
    model = TopicModel.default()
    features = model.features(["中国在世界各地设立了一百多个非官方的警察站。", "意大利的警察站数量最多。"])
    assert features[:, FEATURES.index("known")].max() < 0.5


COSINES = ("cohesion", "prefix", "lead", "best_earlier")


def _by_definition(model: TopicModel, paragraphs: list[str], block: int | None) -> dict[str, np.ndarray]:
    """The cosine signals and ``known`` straight from their definitions, with dense all-pairs matrices.

    ``block``: ``best_earlier`` of a paragraph in block ``b`` looks back to the
    start of block ``b - 1``; ``None``: at every earlier paragraph.
    """
    mask = model.n_features - 1
    buckets = [shingle_hashes(normalise(p), model.shingle_size) & mask for p in paragraphs]
    columns = np.unique(np.concatenate(buckets))
    counts = np.zeros((len(paragraphs), len(columns)))
    for i, b in enumerate(buckets):
        np.add.at(counts[i], np.searchsorted(columns, b), 1.0)
    present = counts > 0
    x = np.where(present, 1.0 + np.log(np.where(present, counts, 1.0)), 0.0) * model.idf_[columns].astype(np.float64)
    norms = np.linalg.norm(x, axis=1)
    x /= np.where(norms > 0, norms, 1.0)[:, None]
    m = len(paragraphs)
    lengths = np.array([len(p) for p in paragraphs], dtype=np.float64)
    weight = np.minimum(1.0, np.sqrt(lengths / 200.0)) / (1.0 + model.decay * np.arange(m))
    weight[0] *= model.lead_weight

    def cosine(rows: np.ndarray, centroids: np.ndarray) -> np.ndarray:
        size = np.linalg.norm(centroids, axis=1)
        return np.where(size > 0, (rows * centroids).sum(axis=1) / np.where(size > 0, size, 1.0), 0.0)

    sim = x @ x.T
    centroid = weight @ x
    cohesion = cosine(x, centroid[None, :] - weight[:, None] * x)
    before = np.cumsum(weight[:, None] * x, axis=0) - weight[:, None] * x
    prefix = cosine(x, before)
    prefix[0] = cohesion[0]
    lead = sim[:, 0].copy()
    lead[0] = lead[1]
    earlier = np.array(
        [sim[i, (0 if block is None else max(0, (i // block - 1) * block)) : i].max(initial=-np.inf) for i in range(m)]
    )
    earlier[0] = lead[0]
    seen = model.seen_[columns] > 0
    known = np.array([seen[np.unique(np.searchsorted(columns, b))].mean() if len(b) else 0.0 for b in buckets])
    signals = dict(zip(COSINES, (cohesion, prefix, lead, earlier), strict=True))
    return {name: np.log(value + 0.005) for name, value in signals.items()} | {"known": known}


def _long_document() -> list[str]:
    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(150)]
    paragraphs = SEED_002.read_text(encoding="utf-8").split("\n")
    paragraphs += [" ".join(rng.choice(words, int(rng.integers(3, 25)))) + "." for _ in range(60)]
    paragraphs[30] = ""  # no shingles: a zero vector
    paragraphs[40] = " ".join(rng.choice(words, 900))  # more shingles than a chunk: counted alone
    return paragraphs


@pytest.mark.parametrize(
    ("dense_limit", "keep", "look_back"),
    [
        (1, 0, 8),  # blocks recomputed from the hashes in the second pass
        (1, 10**9, 8),  # blocks kept between the passes
        (10**9, 0, None),  # small enough to look back at every earlier paragraph
    ],
)
def test_blocked_features_equal_the_definitions(
    monkeypatch: pytest.MonkeyPatch, dense_limit: int, keep: int, look_back: int | None
) -> None:
    """A document scored in blocks, over several spans, has the features of the direct computation."""
    model = TopicModel.default()
    paragraphs = _long_document()
    whole = model.features(paragraphs)  # one group, every pair at once
    monkeypatch.setattr(topic_features, "_BLOCK", 8)
    monkeypatch.setattr(topic_features, "_CHUNK", 2000)
    monkeypatch.setattr(topic_features, "_DENSE_LIMIT", dense_limit)
    monkeypatch.setattr(topic_features, "_KEEP", keep)
    blocked = model.features(paragraphs)
    expected = _by_definition(model, paragraphs, look_back)
    for name, values in expected.items():
        assert np.abs(blocked[:, FEATURES.index(name)] - values).max() <= 1e-9, name
    for name in FEATURES:
        if name != "best_earlier":
            assert np.abs(blocked[:, FEATURES.index(name)] - whole[:, FEATURES.index(name)]).max() <= 1e-9, name


def test_grouped_features_equal_the_definitions() -> None:
    """Documents scored together have each the features of the direct computation, and of scoring it alone."""
    model = TopicModel.default()
    paragraphs = _long_document()
    documents = [paragraphs[:22], paragraphs[22:23], [], paragraphs[23:50], paragraphs[50:]]
    together = model.features_batch(documents)
    for document, features in zip(documents, together, strict=True):
        assert features.shape == (len(document), len(FEATURES))
        if len(document) > 1:
            for name, values in _by_definition(model, document, None).items():
                assert np.abs(features[:, FEATURES.index(name)] - values).max() <= 1e-9, name
        assert np.abs(features - model.features(document)).max(initial=0.0) <= 1e-9
    assert np.all(together[1][:, [FEATURES.index(name) for name in COSINES]] == 0.0 + np.log(1.005))


def test_features_reject_hashes_of_another_shape() -> None:
    model = TopicModel.default()
    with pytest.raises(ValueError, match="hashes"):
        model.features(["one", "two"], [np.zeros(1, np.uint32)])
