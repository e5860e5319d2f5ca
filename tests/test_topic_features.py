"""The signal matrix equals its definitions, whichever path computes it.

Documents are scored in groups (all pairs of paragraphs at once) or, when
long, in blocks of paragraphs; both must give the signals as defined in
``docs/topic.md``, computed here directly with dense matrices.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from dedup.errors import InputError
from dedup.shingle import normalise, shingle_hashes
from dedup.topic import COSINES, FEATURES, Signal, TopicModel, default_model_path
from dedup.topic import features as features_module
from dedup.topic.form import FORM_SIGNALS, form_signals

SEED_002 = Path(__file__).resolve().parents[1] / "fixtures" / "seeds" / "002_c1d64411474b32a4.txt"


@pytest.fixture(scope="module")
def model() -> TopicModel:
    return TopicModel.default()


def test_signal_names_are_the_shipped_models() -> None:
    """The columns are named once: FEATURES follows Signal, and the shipped model was fitted on that order."""
    assert tuple(signal.name.lower() for signal in Signal) == FEATURES
    assert [int(signal) for signal in Signal] == list(range(len(FEATURES)))
    with np.load(default_model_path(), allow_pickle=False) as data:
        assert json.loads(bytes(data["header"]).decode())["features"] == list(FEATURES)


def test_form_signals_land_in_their_columns(model: TopicModel) -> None:
    page = ["Share this article", "Most read", "Menu | News | Sport"]
    lines = [*SEED_002.read_text(encoding="utf-8").split("\n"), *page]
    matrix = model.signals(lines)
    forms = np.array([form_signals(line) for line in lines])
    for k, name in enumerate(FORM_SIGNALS):
        assert np.array_equal(matrix[:, Signal[name.upper()]], forms[:, k]), name
    assert forms.any(axis=0).all()  # every form signal fires somewhere, so a swap of columns would show


def test_large_documents_score_in_blocks(model: TopicModel) -> None:
    """More paragraphs than one block: the blocked cosines equal the all-pairs ones."""
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(400)]
    paragraphs = [" ".join(rng.choice(words, 30)) + "." for _ in range(700)]
    matrix = model.signals(paragraphs)
    assert matrix.shape == (700, len(Signal))
    assert np.isfinite(matrix).all()
    small = model.signals(paragraphs[:200])
    # prefix cosines (after the first paragraph) and lead cosines do not depend on what follows
    for signal in (Signal.PREFIX, Signal.LEAD):
        assert np.allclose(matrix[1:200, signal], small[1:, signal])
    # nor does the best earlier cosine, within the look-back window
    assert np.allclose(matrix[:200, Signal.BEST_EARLIER], small[:, Signal.BEST_EARLIER])


def _by_definition(model: TopicModel, paragraphs: list[str], block: int | None) -> dict[Signal, np.ndarray]:
    """The cosine signals straight from their definitions, with dense all-pairs matrices.

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
    cosines = {
        Signal.COHESION: cohesion, Signal.PREFIX: prefix, Signal.LEAD: lead, Signal.BEST_EARLIER: earlier,
    }
    return {signal: np.log(value + 0.005) for signal, value in cosines.items()}


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
def test_blocked_signals_equal_the_definitions(
    monkeypatch: pytest.MonkeyPatch, model: TopicModel, dense_limit: int, keep: int, look_back: int | None
) -> None:
    """A document scored in blocks, over several spans, has the signals of the direct computation."""
    paragraphs = _long_document()
    whole = model.signals(paragraphs)  # one group, every pair at once
    monkeypatch.setattr(features_module, "_BLOCK", 8)
    monkeypatch.setattr(features_module, "_CHUNK", 2000)
    monkeypatch.setattr(features_module, "_DENSE_LIMIT", dense_limit)
    monkeypatch.setattr(features_module, "_KEEP", keep)
    blocked = model.signals(paragraphs)
    for signal, values in _by_definition(model, paragraphs, look_back).items():
        assert np.abs(blocked[:, signal] - values).max() <= 1e-9, signal.name
    for signal in Signal:
        if signal is not Signal.BEST_EARLIER:
            assert np.abs(blocked[:, signal] - whole[:, signal]).max() <= 1e-9, signal.name


def test_grouped_signals_equal_the_definitions(model: TopicModel) -> None:
    """Documents scored together have each the signals of the direct computation, and of scoring it alone."""
    paragraphs = _long_document()
    documents = [paragraphs[:22], paragraphs[22:23], [], paragraphs[23:50], paragraphs[50:]]
    together = model.signals_batch(documents)
    for document, matrix in zip(documents, together, strict=True):
        assert matrix.shape == (len(document), len(Signal))
        if len(document) > 1:
            for signal, values in _by_definition(model, document, None).items():
                assert np.abs(matrix[:, signal] - values).max() <= 1e-9, signal.name
        assert np.abs(matrix - model.signals(document)).max(initial=0.0) <= 1e-9
    assert np.all(together[1][:, COSINES] == 0.0 + np.log(1.005))  # a lone paragraph coheres with itself


@pytest.mark.parametrize(
    ("documents", "hashes", "message"),
    [
        ([["one", "two"]], [[np.zeros(1, np.uint32)]], "a document has 2 paragraphs but hashes for 1"),
        ([["one"], ["two"]], [[np.zeros(1, np.uint32)]], "got 2 documents but hashes for 1"),
    ],
)
def test_signals_reject_hashes_of_another_shape(
    model: TopicModel, documents: list[list[str]], hashes: list[list[np.ndarray]], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        model.signals_batch(documents, hashes)


TRANSCRIPT = [
    "Interest rates: what the central bank decided",
    "JIM LEHRER: Earlier today, Margaret Warner spoke to the governor of the central bank about the rate decision.",
    "MARGARET WARNER: Governor, thank you for joining us. Why did the bank raise rates again this month?",
    "GOVERNOR: Inflation has stayed above our target for a year, and wages are now rising faster than prices.",
    "MARGARET WARNER: Critics say a higher rate will push the economy into recession. What do you tell them?",
    "GOVERNOR: A recession is not our forecast. Households have savings, and firms are still hiring.",
    "MARGARET WARNER: Governor, thank you.",
]


def test_a_label_that_recurs_in_a_document_is_no_kicker(model: TopicModel) -> None:
    """Speakers' names open many paragraphs of a transcript; a teaser's kicker opens one."""
    matrix = model.signals(TRANSCRIPT)
    assert matrix[:, Signal.KICKER].tolist() == [0, 1, 0, 0, 0, 0, 0]
    assert [form_signals(line)[1] for line in TRANSCRIPT] == [0, 1, 1, 1, 1, 1, 1]  # each line alone has one
    # The same label in two documents is two documents' kickers.
    first, second = model.signals_batch([TRANSCRIPT[:2], ["Opening line of another story.", TRANSCRIPT[1]]])
    assert first[1, Signal.KICKER] == 1 and second[1, Signal.KICKER] == 1


def test_a_dated_line_under_a_chrome_header_is_a_byline(model: TopicModel) -> None:
    """Short unterminated lines after "Subscribe" are a widget's list, but a byline or a dateline is the article's."""
    page = [
        "The blog of a statistician",
        "Subscribe",
        "Most popular posts",
        "by John on July 14, 2012",
        "Posted at 10:45",
        "Silence and slowness lead to reflection, and reflection to the few ideas that last.",
    ]
    matrix = model.signals(page)
    assert matrix[:, Signal.UNDER_HEADER].tolist() == [0, 0, 1, 0, 0, 0]


@pytest.mark.parametrize("rows", [300, 17_000])  # keys of 32 bits; of 64 (18 bucket bits and 15 row bits)
def test_tfidf_entries_are_scikit_learns(model: TopicModel, rows: int) -> None:
    """The entries sorted by one key per shingle equal TfidfTransformer(sublinear_tf=True), whatever the key's width."""
    from sklearn.feature_extraction.text import TfidfTransformer

    rng = np.random.default_rng(rows)
    hashes = [rng.integers(0, 2**32, int(rng.integers(0, 30)), dtype=np.uint64).astype(np.uint32) for _ in range(rows)]
    builder = model._builder()
    row, new_column, bucket, value = builder._entries(hashes)
    assert np.all(np.lexsort((row, bucket)) == np.arange(len(row)))  # sorted by bucket, then row
    assert np.array_equal(np.flatnonzero(new_column), np.flatnonzero(np.diff(bucket, prepend=-1)))
    n_features = len(builder.idf)
    counts = sp.csr_matrix(
        (np.ones(sum(map(len, hashes))), (np.repeat(np.arange(rows), [len(h) for h in hashes]),
         np.concatenate(hashes) & np.uint32(n_features - 1))),
        shape=(rows, n_features),
    )
    counts.sum_duplicates()
    transformer = TfidfTransformer(sublinear_tf=True)
    transformer.fit(counts)
    transformer.idf_ = builder.idf
    expected = transformer.transform(counts).tocoo()
    got = sp.coo_matrix((value, (row, bucket)), shape=(rows, n_features))
    assert abs(got - expected).max() <= 1e-12
    assert got.nnz == expected.nnz
