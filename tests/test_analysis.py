"""The per-batch record: one complete shape, and its wire encoding."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest

from dedup.analysis import WIRE_VERSION, Analysis, analyse_batch, from_wire, to_wire
from dedup.config import Config, DedupConfig, FurnitureConfig, InputConfig, TopicConfig
from dedup.data import Document, Reason
from dedup.topic import TopicModel

LINES = [
    "The council approved the new budget on Tuesday after a long debate.",
    "The council approved the new budget on Tuesday after a long debate.",
    "Officials said the plan would cut spending on roads by a tenth.",
    "Officials said the plan would cut spending on road by a tenth!",
    "Photo: Reuters",
    "SPORT: The team won again last night and will play in the final on",
    "Share this article",
    "",
    "   ",
    "Короткая строка о погоде в Москве сегодня утром.",
    "***",
]

CONFIGS = {
    "default": Config(),
    "every-stage": Config(dedup=DedupConfig(boilerplate=True, cross_doc_paragraphs=True)),
    "no-topic": Config(topic=TopicConfig(enabled=False)),
    "no-dedup": Config(dedup=DedupConfig(enabled=False, documents=False)),
    "furniture": Config(furniture=FurnitureConfig(enabled=True, threshold=0.5)),
}


def _docs(n: int = 40, seed: int = 1) -> list[Document]:
    rng = random.Random(seed)
    docs = [
        Document(f"d{i}", rng.choice(["\n", "\r\n", "\n\n"]).join(rng.choices(LINES, k=rng.randint(0, 9))))
        for i in range(n)
    ]
    docs.append(Document("too-long", "x" * 5000))  # breaks the limit below: an analysis with an error
    return docs


def _model(config: Config) -> TopicModel | None:
    return TopicModel.default() if config.topic.enabled else None


def assert_equal(left: Analysis, right: Analysis) -> None:
    assert left.doc == right.doc
    assert left.decisions == right.decisions
    assert left.doc_sketch == right.doc_sketch
    assert left.error == right.error
    assert left.paragraphs == right.paragraphs
    for name in ("spans", "keys", "long", "signatures", "doc_keys"):
        a, b = getattr(left, name), getattr(right, name)
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), name


@pytest.mark.parametrize("name", list(CONFIGS))
def test_wire_round_trip(name: str) -> None:
    config = CONFIGS[name]
    config = Config(
        dedup=config.dedup, topic=config.topic, furniture=config.furniture, input=InputConfig(max_doc_bytes=2000)
    )
    docs = _docs()
    analyses = analyse_batch(docs, config, _model(config))
    wire = to_wire(analyses)
    # Only plain arrays and strings cross: the wire unpickles with no class of dedup's.
    assert all(isinstance(value, (np.ndarray, str, int)) for value in wire.values())
    assert b"dedup" not in pickle.dumps(wire)
    decoded = from_wire(pickle.loads(pickle.dumps(wire)), docs)
    assert len(decoded) == len(analyses)
    for left, right in zip(analyses, decoded, strict=True):
        assert_equal(left, right)
    assert decoded[-1].error is not None and len(decoded[-1].spans) == 0


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_analysis_is_complete(name: str) -> None:
    """The same fields are filled whatever the settings: no stage finds a field missing on one path only."""
    config = CONFIGS[name]
    for analysis in analyse_batch(_docs(), config, _model(config)):
        n = len(analysis.spans)
        assert analysis.keys.shape == analysis.long.shape == (n,)
        assert analysis.signatures.shape == (n, config.shingle.num_perm)
        assert len(analysis.decisions) == n
        assert [d.index for d in analysis.decisions] == list(range(n))
        assert [analysis.paragraph(i) for i in range(n)] == [
            line for line in analysis.doc.text.splitlines() if line.strip()
        ]
        assert analysis.doc_keys.ndim == 1 and len(analysis.doc_sketch) == config.shingle.num_perm // 2


def test_wire_checks_version_and_count() -> None:
    docs = _docs(3)
    wire = to_wire(analyse_batch(docs, Config(), TopicModel.default()))
    with pytest.raises(ValueError, match="for 3 documents"):
        from_wire(wire, docs[:3])
    with pytest.raises(ValueError, match="expected"):
        from_wire({**wire, "version": WIRE_VERSION + 1}, docs)


def test_analysis_is_immutable() -> None:
    analysis = analyse_batch([Document("a", "one line\ntwo lines")], Config(), None)[0]
    with pytest.raises(AttributeError):
        analysis.decisions = ()  # type: ignore[misc]


def test_within_document_repeats_point_into_the_document_after_decoding() -> None:
    docs = [Document("a", "Same line, said twice over.\nSame line, said twice over.")]
    decoded = from_wire(to_wire(analyse_batch(docs, Config(), None)), docs)[0]
    assert decoded.decisions[1].reason is Reason.DUPLICATE
    assert decoded.decisions[1].duplicate_of is not None
    assert (decoded.decisions[1].duplicate_of.id, decoded.decisions[1].duplicate_of.paragraph) == ("a", 0)


TEASER_LINES = [
    "FOOTBALL: United sign a new striker from Brazil for a record fee as the club prepares for",
    "ELECTION: Voters in the north head to the polls on Sunday in a contest that could reshape",
    "Photo: EPA-EFE / Xinhua",
    "Most read",
]


@pytest.mark.parametrize("furniture", [None, 0.5])
@pytest.mark.parametrize("seed", range(3))
def test_no_repeat_points_at_removed_text(seed: int, furniture: float | None) -> None:
    """The invariant: a paragraph removed as a repeat within its document points at a copy that
    the within-document stages (furniture and topic) keep; the text of a repeat is never lost with
    its first copy."""
    rng = random.Random(seed)
    pool = LINES[:4] + LINES[9:10] + TEASER_LINES
    docs = []
    for i in range(120):
        body = rng.choices(pool, k=rng.randint(2, 10))
        body += rng.sample(body, k=rng.randint(0, len(body)))  # repeats, some after the teasers
        docs.append(Document(f"d{i}", "\n".join(body)))
    removed_as_repeat = 0
    config = Config(furniture=FurnitureConfig(enabled=furniture is not None, threshold=furniture))
    analyses = analyse_batch(docs, config, TopicModel.default())
    if furniture is not None:  # the furniture stage removed first copies too: the invariant was put to work
        assert sum(d.reason is Reason.FURNITURE for a in analyses for d in a.decisions) > 20
    for analysis in analyses:
        for d in analysis.decisions:
            if d.reason in (Reason.DUPLICATE, Reason.NEAR_DUPLICATE):
                removed_as_repeat += 1
                assert d.duplicate_of is not None and d.duplicate_of.paragraph is not None
                assert analysis.decisions[d.duplicate_of.paragraph].kept, (analysis.doc.text, d)
    assert removed_as_repeat > 100


MENU_PAGE = "\n".join(
    [
        "Home", "News", "Sport", "Business", "Weather", "Contact us",
        "The council approved the new budget on Tuesday after a debate that lasted most of the afternoon, "
        "and the leader of the opposition said the vote had been rushed through before the summer recess.",
        "Officials said the plan would cut spending on roads by a tenth over the next three years, while "
        "money for schools and libraries would rise in line with inflation from April.",
        "Share on Facebook", "Share on Twitter", "Privacy policy", "Terms of use", "© 2024 Example News Ltd",
    ]
)


def test_furniture_stage_names_the_learned_model_and_its_signals() -> None:
    """With the furniture stage on, menu and footer lines go as ``furniture``, scored by the learned
    model (a probability), each with the furniture signals behind the call; the article stays."""
    from dedup.furniture import SIGNALS

    doc = Document("page", MENU_PAGE)
    # The article region would take the menu and footer first: the learned model is judged alone.
    config = Config(furniture=FurnitureConfig(enabled=True, threshold=0.5, region=False))
    analysis = analyse_batch([doc], config, TopicModel.default())[0]
    by_model = [d for d in analysis.decisions if d.reason is Reason.FURNITURE and d.metadata["model"] == "furniture"]
    assert len(by_model) >= 6
    for d in by_model:
        assert 0.5 <= d.score <= 1.0
        assert d.metadata["signals"] and set(d.metadata["signals"]) <= set(SIGNALS)
    kept = [analysis.paragraph(d.index) for d in analysis.decisions if d.kept]
    assert any(p.startswith("The council approved") for p in kept)
    assert any(p.startswith("Officials said") for p in kept)
    off = analyse_batch([doc], Config(), TopicModel.default())[0]
    assert not any(d.metadata.get("model") == "furniture" for d in off.decisions)  # off by default


def test_furniture_settings_change_the_fingerprint() -> None:
    base = Config()
    on = Config(furniture=FurnitureConfig(enabled=True))
    stricter = Config(furniture=FurnitureConfig(enabled=True, threshold=0.99))
    no_region = Config(furniture=FurnitureConfig(region=False))
    assert len({base.fingerprint(), on.fingerprint(), stricter.fingerprint(), no_region.fingerprint()}) == 4
    assert on.index_settings()["furniture"]["model_sha256"]
