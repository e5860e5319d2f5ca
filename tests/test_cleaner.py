"""The library API: Cleaner and CleanResult."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from dedup import Cleaner, CleanResult, Config, DedupConfig, Document, InputConfig, Reason, ShingleConfig, TopicConfig
from dedup.cleaner import BATCH_SIZE
from dedup.errors import IndexMismatchError, InputError, ModelError
from dedup.store import MemoryStore
from dedup.topic import Signal, TopicModel, default_model_path

SEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "seeds"
DOUBLED = (SEEDS / "000_93c3f7158df3345d.txt").read_text(encoding="utf-8")
TEASERS = (SEEDS / "002_c1d64411474b32a4.txt").read_text(encoding="utf-8")

ARTICLE = [
    "The Madrid-based Safeguard Defenders reported in September that 54 such stations allegedly existed.",
    "Investigations followed in at least 12 countries including Canada, Germany and the Netherlands.",
    "China has said the offices are merely service stations set up to help citizens renew passports.",
]
WEATHER = [
    "Heavy rain is expected across the north of England this weekend, forecasters have warned.",
    "The Met Office said up to 50mm could fall on high ground, with a risk of flooding in some valleys.",
]
NO_TOPIC = Config(topic=TopicConfig(enabled=False))


def test_seeds_clean_alone_and_together() -> None:
    lines_000, lines_002 = DOUBLED.split("\n"), TEASERS.split("\n")
    expect_000 = "\n".join(lines_000[:8])
    expect_002 = "\n".join(lines_002[:3] + lines_002[4:18])
    assert Cleaner().clean_text(DOUBLED).text == expect_000
    assert Cleaner().clean_text(TEASERS).text == expect_002
    together = list(Cleaner().clean([{"id": "000", "text": DOUBLED}, {"id": "002", "text": TEASERS}]))
    assert [r.text for r in together] == [expect_000, expect_002]
    assert [r.dropped for r in together] == [None, None]


def test_result_shape() -> None:
    result = Cleaner().clean_text(DOUBLED, id="d")
    assert isinstance(result, CleanResult)
    assert result.id == "d"
    assert len(result.decisions) == 15
    assert [d.index for d in result.decisions] == list(range(15))
    removed = result.removed
    assert [d.reason for d in removed] == [Reason.DUPLICATE] * 7
    assert [d.duplicate_of.paragraph for d in removed if d.duplicate_of] == list(range(1, 8))


def test_one_result_per_input_in_order_dropped_included() -> None:
    docs = [
        {"id": "a", "text": "\n".join(ARTICLE)},
        {"id": "empty", "text": "   \n"},
        {"id": "w", "text": "\n".join(WEATHER)},
        {"id": "copy", "text": "\n".join(ARTICLE).replace("countries", "nations")},
    ]
    results = list(Cleaner(NO_TOPIC).clean(docs))
    assert [r.id for r in results] == ["a", "empty", "w", "copy"]
    assert [r.dropped for r in results] == [None, Reason.EMPTY, None, Reason.DUPLICATE_DOCUMENT]
    assert results[3].duplicate_of is not None and results[3].duplicate_of.id == "a"
    assert results[3].text == ""
    assert all(not d.kept for d in results[3].decisions)


def test_documents_and_dicts_and_fields() -> None:
    cleaner = Cleaner(NO_TOPIC)
    [from_dict] = cleaner.clean([{"id": 7, "text": "\n".join(WEATHER), "url": "u", "n": [1, 2]}])
    assert from_dict.id == "7"
    assert from_dict.fields == {"id": 7, "text": "\n".join(WEATHER), "url": "u", "n": [1, 2]}
    [from_doc] = Cleaner(NO_TOPIC).clean([Document("x", "\n".join(WEATHER))])
    assert from_doc.text == "\n".join(WEATHER)


def test_custom_fields() -> None:
    config = Config(topic=TopicConfig(enabled=False), input=InputConfig(text_field="body", id_field="key"))
    [result] = Cleaner(config).clean([{"key": "k", "body": "same line here\nsame line here"}])
    assert result.text == "same line here"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"id": "a"}, "no 'text' field"),
        ({"id": "a", "text": None}, "must be a string"),
        ({"text": "x"}, "no 'id' field"),
        (["not", "a", "dict"], "expected a JSON object"),
    ],
)
def test_bad_records_raise(record: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        list(Cleaner(NO_TOPIC).clean([record]))  # type: ignore[list-item]


def test_clean_streams() -> None:
    def endless() -> Iterator[dict[str, str]]:
        for i in itertools.count():
            yield {"id": str(i), "text": f"Paragraph number {i} of an endless stream of documents."}

    first = list(itertools.islice(Cleaner(NO_TOPIC).clean(endless()), 3))
    assert [r.id for r in first] == ["0", "1", "2"]


def test_teaser_does_not_claim_the_lead_of_a_later_article() -> None:
    """Only text that survives the topic stage is indexed across documents."""
    other_lead = (
        "Heavy rain is expected across the north of England this weekend, forecasters have warned, "
        "with flood alerts issued for several river valleys and travel disruption likely"
    )
    host = TEASERS + "\n" + other_lead
    config = Config(dedup=DedupConfig(cross_doc_paragraphs=True))
    host_result, later = Cleaner(config).clean(
        [{"id": "host", "text": host}, {"id": "weather", "text": other_lead + ".\n" + WEATHER[1]}]
    )
    assert host_result.decisions[-1].reason is Reason.OFF_TOPIC
    assert later.dropped is None
    assert later.decisions[0].kept


def test_cross_doc_paragraphs_option() -> None:
    docs = [{"id": "a", "text": "\n".join(ARTICLE)}, {"id": "b", "text": "\n".join([WEATHER[0], ARTICLE[1]])}]
    default = list(Cleaner(NO_TOPIC).clean(docs))
    assert default[1].text == "\n".join([WEATHER[0], ARTICLE[1]])
    config = Config(dedup=DedupConfig(cross_doc_paragraphs=True), topic=TopicConfig(enabled=False))
    crossed = list(Cleaner(config).clean(docs))
    assert crossed[1].text == WEATHER[0]
    assert crossed[1].decisions[1].duplicate_of is not None
    assert crossed[1].decisions[1].duplicate_of.id == "a"


def test_boilerplate_option() -> None:
    docs = [{"id": str(i), "text": f"Home | News | Sport\nStory {i}: {WEATHER[i % 2]} number {i}"} for i in range(4)]
    config = Config(dedup=DedupConfig(boilerplate=True), topic=TopicConfig(enabled=False))
    results = list(Cleaner(config).clean(docs))
    menu_kept = [r.decisions[0].kept for r in results]
    assert menu_kept == [True, True, False, False]
    assert results[2].decisions[0].reason is Reason.BOILERPLATE
    assert results[2].decisions[0].score == 2.0


def test_same_input_same_output() -> None:
    docs = [{"id": "000", "text": DOUBLED}, {"id": "002", "text": TEASERS}]
    assert list(Cleaner().clean(docs)) == list(Cleaner().clean(docs))


@pytest.mark.slow
def test_workers_give_identical_results() -> None:
    docs = [{"id": f"{i}-{k}", "text": text} for i in range(150) for k, text in enumerate((DOUBLED, TEASERS))]
    one = list(Cleaner(workers=1).clean(docs))
    two = list(Cleaner(workers=2).clean(docs))
    assert one == two
    assert sum(r.dropped is Reason.DUPLICATE_DOCUMENT for r in one) == len(docs) - 2


@pytest.mark.slow
@pytest.mark.parametrize(
    "config",
    [Config(), Config(dedup=DedupConfig(boilerplate=True, cross_doc_paragraphs=True)), NO_TOPIC],
    ids=["default", "cross-document-paragraphs", "no-topic"],
)
def test_workers_give_identical_results_on_varied_documents(config: Config) -> None:
    """Workers send back the analyses in the wire encoding, without the documents."""
    rng = random.Random(3)
    lines = [line for line in (DOUBLED + "\n" + TEASERS).split("\n") if line.strip()] + ARTICLE + WEATHER
    docs = [{"id": f"d{i}", "text": "\n".join(rng.sample(lines, rng.randint(2, 12)))} for i in range(700)]
    one = list(Cleaner(config, workers=1).clean(docs))
    two = list(Cleaner(config, workers=2).clean(docs))
    assert one == two
    reasons = {r.dropped for r in one} | {d.reason for r in one for d in r.decisions}
    assert {Reason.DUPLICATE_DOCUMENT, Reason.DUPLICATE} <= reasons
    assert (Reason.OFF_TOPIC in reasons) is config.topic.enabled
    assert (Reason.BOILERPLATE in reasons) is config.dedup.boilerplate


def test_index_with_other_settings_is_refused() -> None:
    store = MemoryStore(Config(dedup=DedupConfig(doc_threshold=0.9)).fingerprint())
    with pytest.raises(IndexMismatchError, match="built with settings"):
        Cleaner(Config(), index=store)


def test_shared_index_spans_cleaners() -> None:
    store = MemoryStore(NO_TOPIC.fingerprint())
    [first] = Cleaner(NO_TOPIC, index=store).clean([{"id": "a", "text": "\n".join(ARTICLE)}])
    [second] = Cleaner(NO_TOPIC, index=store).clean([{"id": "b", "text": "\n".join(ARTICLE)}])
    assert first.dropped is None
    assert second.dropped is Reason.DUPLICATE_DOCUMENT


def test_no_topic_loads_no_model() -> None:
    assert Cleaner(NO_TOPIC).model is None
    assert Cleaner().model is not None


def test_a_topic_model_reading_other_shingles_is_refused() -> None:
    config = Config(shingle=ShingleConfig(size=4))
    with pytest.raises(ModelError, match="reads 5-character shingles but the shingle size is 4"):
        Cleaner(config)
    with pytest.raises(ModelError, match="ShingleConfig\\(size=5\\)"):
        Cleaner(config, model=TopicModel.default())
    assert Cleaner(Config(shingle=ShingleConfig(size=4), topic=TopicConfig(enabled=False))).model is None


def test_limits() -> None:
    config = Config(topic=TopicConfig(enabled=False), input=InputConfig(max_doc_bytes=10))
    with pytest.raises(InputError, match="more than the limit of 10"):
        list(Cleaner(config).clean([{"id": "a", "text": "x" * 11}]))


class _RecordingModel(TopicModel):
    """The shipped model, recording what each round scores."""

    def signals_batch(self, documents, hashes=None):  # type: ignore[no-untyped-def]
        self.rounds_seen.append([list(doc) for doc in documents])
        return super().signals_batch(documents, hashes)

    def score_signals(self, matrix):  # type: ignore[no-untyped-def]
        self.positions.append(matrix[:, Signal.POSITION].copy())
        return super().score_signals(matrix)


def _recording_model() -> _RecordingModel:
    model = _RecordingModel.load(default_model_path())
    model.rounds_seen, model.positions = [], []
    return model


def test_topic_rounds_rescore_changed_documents_at_their_first_positions() -> None:
    model = _recording_model()
    first_round = Cleaner(Config(topic=TopicConfig(rounds=1)), model=model).clean_text(TEASERS)
    assert len(model.rounds_seen) == 1

    model = _recording_model()
    results = list(Cleaner(model=model).clean([Document("doubled", DOUBLED), Document("teasers", TEASERS)]))

    # Round one scores both documents; only the one that lost paragraphs is scored again, on what it kept.
    assert [len(docs) for docs in model.rounds_seen[:2]] == [2, 1]
    teaser_paragraphs = model.rounds_seen[0][1]
    assert model.rounds_seen[1][0] == [line for line in first_round.text.split("\n") if line]
    # ...where each paragraph keeps its first-round position, not one shifted by the removals after it.
    kept = [teaser_paragraphs.index(p) for p in model.rounds_seen[1][0]]
    assert model.positions[2].tolist() == pytest.approx([i / (len(teaser_paragraphs) - 1) for i in kept])
    # The seed's teasers all go in round one, so the rounds stop there with the same result.
    assert len(model.rounds_seen) == 2
    assert results[1].text == first_round.text


def test_topic_rounds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="topic rounds must be at least 1"):
        TopicConfig(rounds=0)


def test_one_batch_is_cleaned_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """A per-document call never starts a worker pool, whatever ``workers`` is."""

    def no_pool(*args: object, **kwargs: object) -> None:
        raise AssertionError("a worker pool was started for one batch")

    monkeypatch.setattr("dedup.cleaner.ordered_map", no_pool)
    cleaner = Cleaner(workers=2)
    assert cleaner.clean_text(DOUBLED).text == Cleaner().clean_text(DOUBLED).text
    assert len(list(cleaner.clean({"id": str(i), "text": TEASERS} for i in range(BATCH_SIZE)))) == BATCH_SIZE
    with pytest.raises(AssertionError, match="worker pool"):  # two batches do use the pool
        list(cleaner.clean({"id": str(i), "text": TEASERS} for i in range(BATCH_SIZE + 1)))


def test_an_interview_keeps_its_answers() -> None:
    """Speakers' names before a colon look like teasers' kickers one line at a time; recurring, they are not."""
    page = [
        "Interest rates: what the central bank decided",
        "The central bank raised its main interest rate by a quarter of a point on Thursday, the fourth rise this "
        "year, and said further increases could follow if inflation stays high.",
        "JIM LEHRER: Earlier today, Margaret Warner spoke to the governor of the central bank about the decision.",
        "MARGARET WARNER: Governor, thank you for joining us. Why did the bank raise rates again this month, when "
        "growth has slowed?",
        "GOVERNOR: Inflation has stayed above our target for a year, and wages are now rising faster than prices. "
        "We cannot wait for it to fall by itself.",
        "MARGARET WARNER: Critics say a higher rate will push the economy into recession and cost jobs. What do "
        "you tell them?",
        "GOVERNOR: A recession is not our forecast. Households have savings, firms are still hiring, and the banks "
        "are lending.",
        "MARGARET WARNER: Some economists say the bank waited too long and now has to overcorrect, hurting "
        "borrowers with mortgages.",
        "GOVERNOR: I understand their criticism, but I do not share it. We moved when the evidence was clear, and "
        "mortgage holders were warned.",
        "MARGARET WARNER: Governor, thank you.",
    ]
    result = Cleaner(Config(dedup=DedupConfig(documents=False))).clean_text("\n".join(page))
    assert [d.index for d in result.decisions if not d.kept] == []
    assert result.text == "\n".join(page)


def test_a_refrain_stays_where_a_repeated_block_goes() -> None:
    refrain = "We love you Arsenal, we do."  # 27 characters, between verses
    verses = [ARTICLE[0], refrain, ARTICLE[1], refrain, ARTICLE[2], refrain]
    song = Cleaner(NO_TOPIC).clean_text("\n".join(verses) + "\n", id="song")
    assert song.text == "\n".join(verses) + "\n"
    # The same line inside a block scraped twice goes with the block.
    block = [ARTICLE[0], refrain, ARTICLE[1], ARTICLE[0], refrain, ARTICLE[2]]
    scraped = Cleaner(NO_TOPIC).clean_text("\n".join(block) + "\n", id="page")
    assert [d.reason for d in scraped.decisions if not d.kept] == [Reason.DUPLICATE, Reason.DUPLICATE]
    assert scraped.text == "\n".join([ARTICLE[0], refrain, ARTICLE[1], ARTICLE[2]]) + "\n"
