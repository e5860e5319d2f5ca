"""The per-batch record: one complete shape, and its wire encoding."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest

from dedup.analysis import WIRE_VERSION, Analysis, analyse_batch, from_wire, to_wire
from dedup.config import Config, DedupConfig, InputConfig, TopicConfig
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
    for name in ("spans", "keys", "long", "signatures", "doc_keys"):
        a, b = getattr(left, name), getattr(right, name)
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), name


@pytest.mark.parametrize("name", list(CONFIGS))
def test_wire_round_trip(name: str) -> None:
    config = CONFIGS[name]
    config = Config(dedup=config.dedup, topic=config.topic, input=InputConfig(max_doc_bytes=2000))
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


@pytest.mark.parametrize("seed", range(3))
def test_no_repeat_points_at_removed_text(seed: int) -> None:
    """The invariant: a paragraph removed as a repeat within its document points at a copy that
    the within-document stages keep; the text of a repeat is never lost with its first copy."""
    rng = random.Random(seed)
    pool = LINES[:4] + LINES[9:10] + TEASER_LINES
    docs = []
    for i in range(120):
        body = rng.choices(pool, k=rng.randint(2, 10))
        body += rng.sample(body, k=rng.randint(0, len(body)))  # repeats, some after the teasers
        docs.append(Document(f"d{i}", "\n".join(body)))
    removed_as_repeat = 0
    for analysis in analyse_batch(docs, Config(), TopicModel.default()):
        for d in analysis.decisions:
            if d.reason in (Reason.DUPLICATE, Reason.NEAR_DUPLICATE):
                removed_as_repeat += 1
                assert d.duplicate_of is not None and d.duplicate_of.paragraph is not None
                assert analysis.decisions[d.duplicate_of.paragraph].kept, (analysis.doc.text, d)
    assert removed_as_repeat > 100
