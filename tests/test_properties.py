"""Properties of the splitter, the shingler and the cleaner over arbitrary Unicode.

- Nothing crashes.
- Kept paragraphs are byte-identical to the input, and the output holds no
  text that was not in the input: a cleaned text is the input's paragraphs,
  a subsequence of them, joined with their own separators.
- The repeat stages are idempotent: cleaning their output again removes nothing.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dedup.cleaner import Cleaner
from dedup.config import Config, DedupConfig, ShingleConfig, TopicConfig
from dedup.data import Document, Reason
from dedup.shingle import exact_key, normalise, shingle_hashes
from dedup.split import join_paragraphs, split_paragraphs
from dedup.topic import TopicModel

MODEL = TopicModel.default()
NO_TOPIC = Config(topic=TopicConfig(enabled=False))
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any code point, lone surrogates too: JSON input can hold them ("\ud800").
ANY_CHAR = st.one_of(st.characters(exclude_categories=()), st.characters(categories=["Cs"]))
BREAKS = ["\n", "\r\n", "\r", "\n\n", "\r\n \t\r\n", "\n\u3000\n"]
#: Paragraphs as scraped news has them: English, Chinese and Japanese (no spaces between words),
#: Arabic and Hebrew (right to left), emoji and combining marks, menus and punctuation only.
SAMPLES = [
    "The council approved a new budget for public libraries on Tuesday, adding two branches.",
    "The council approved a new budget for public libraries on Tuesday, adding three branches.",
    "Rescue teams reached the drivers by morning, and the roads are expected to reopen soon.",
    "市议会周二批准了公共图书馆的新预算，在北部增加了两个分馆，馆员们对此表示欢迎。",
    "市议会周二批准了公共图书馆的新预算，在北部增加了三个分馆，馆员们对此表示欢迎。",
    "東京の西部にある公園の周りには、若い女性たちが立っている姿が見られると報じられた。",
    "وافق مجلس المدينة يوم الثلاثاء على ميزانية جديدة للمكتبات العامة في الشمال.",
    "מועצת העיר אישרה ביום שלישי תקציב חדש לספריות הציבוריות בצפון העיר.",
    "Cafe\u0301 cre\u0300me bru\u0302le\u0301e \U0001f600\U0001f44d\U0001f3fd \u200d\u2764\ufe0f",
    "Home | News | Sport | Weather | Contact",
    "***",
    "—",
    "Photo: Getty Images",
]
LINE = st.one_of(
    st.sampled_from(SAMPLES),
    st.text(ANY_CHAR, min_size=1, max_size=80).map(lambda t: t.replace("\r", " ").replace("\n", " ")),
    st.sampled_from([" ", "\t", "\u00a0", "\u3000"]),  # blank lines: separators, not paragraphs
)


@st.composite
def documents(draw: st.DrawFn) -> str:
    lines = draw(st.lists(LINE, max_size=12))
    if lines and draw(st.booleans()):
        lines.append(draw(st.sampled_from(lines)))  # a repeat within the document
    text = ""
    for n, line in enumerate(lines):
        text += (draw(st.sampled_from(BREAKS)) if n else "") + line
    return draw(st.sampled_from(["", "\n", " \r\n"])) + text + draw(st.sampled_from(["", "\n", "\r\n\r\n"]))


@st.composite
def corpora(draw: st.DrawFn) -> list[Document]:
    texts: list[str] = []
    for _ in range(draw(st.integers(1, 5))):
        if texts and draw(st.integers(0, 3)) == 0:
            texts.append(draw(st.sampled_from(texts)))  # a copy of an earlier document
        else:
            texts.append(draw(documents()))
    return [Document(f"d{n}", text) for n, text in enumerate(texts)]


def check_result_is_input_restricted(doc: Document, result) -> None:
    """The cleaned text is a subsequence of the input's paragraphs, joined with their own separators."""
    paragraphs, head, tail = split_paragraphs(doc.text)
    assert [d.index for d in result.decisions] == list(range(len(paragraphs)))
    kept = [paragraphs[d.index] for d in result.decisions if d.kept]
    if result.dropped is None:
        assert kept, "a kept document keeps a paragraph"
        assert result.text == join_paragraphs(kept, head, tail)
        assert all(p.text in doc.text for p in kept)
    else:
        assert result.text == ""
    for decision in result.decisions:
        assert decision.kept == (decision.reason is None)


# -- the splitter ---------------------------------------------------------------------------------------


@PROPERTY
@given(st.text(ANY_CHAR, max_size=300), st.data())
def test_split_any_text_joins_back_byte_for_byte(text, data):
    paragraphs, head, tail = split_paragraphs(text)

    assert [p.index for p in paragraphs] == list(range(len(paragraphs)))
    assert all(p.text.strip() and "\n" not in p.text and "\r" not in p.text for p in paragraphs)
    if paragraphs:
        assert join_paragraphs(paragraphs, head, tail) == text
        keep = data.draw(st.lists(st.booleans(), min_size=len(paragraphs), max_size=len(paragraphs)))
        subset = [p for p, k in zip(paragraphs, keep, strict=True) if k]
        joined = join_paragraphs(subset, head, tail)
        assert [p.text for p in split_paragraphs(joined)[0]] == [p.text for p in subset]
    else:
        assert all(not line or line.isspace() for line in re.split("[\r\n]", text))


# -- the shingler ---------------------------------------------------------------------------------------


@PROPERTY
@given(st.text(ANY_CHAR, max_size=300), st.integers(2, 8))
def test_shingles_of_any_text(text, size):
    norm = normalise(text)
    hashes = shingle_hashes(norm, size)

    assert norm == norm.strip() and "  " not in norm
    assert hashes.dtype.name == "uint32"
    assert len(hashes) == (0 if not norm else max(len(norm) - size + 1, 1))
    assert (shingle_hashes(normalise(text), size) == hashes).all(), "deterministic"
    assert exact_key(norm) == exact_key(normalise(text))


# -- the cleaner ----------------------------------------------------------------------------------------


@PROPERTY
@given(corpora(), st.sampled_from(["default", "no-topic", "everything"]))
def test_cleaner_keeps_input_bytes_only(docs, settings_name):
    config = {
        "default": Config(),
        "no-topic": NO_TOPIC,
        "everything": Config(dedup=DedupConfig(cross_doc_paragraphs=True, boilerplate=True)),
    }[settings_name]
    cleaner = Cleaner(config, model=MODEL if config.topic.enabled else None)

    results = list(cleaner.clean(docs))

    assert [r.id for r in results] == [d.id for d in docs]
    for doc, result in zip(docs, results, strict=True):
        check_result_is_input_restricted(doc, result)
        if not split_paragraphs(doc.text)[0]:
            assert result.dropped is Reason.EMPTY


@PROPERTY
@given(corpora(), st.sampled_from([NO_TOPIC, Config(shingle=ShingleConfig(size=3), topic=TopicConfig(enabled=False),
                                                    dedup=DedupConfig(threshold=0.3, doc_threshold=0.4))]))
def test_repeat_stages_are_idempotent(docs, config):
    first = [r for r in Cleaner(config).clean(docs) if r.dropped is None]
    again = [Document(r.id, r.text) for r in first]

    second = list(Cleaner(config).clean(again))

    assert [r.dropped for r in second] == [None] * len(first)
    assert [r.text for r in second] == [r.text for r in first]
    assert [d.reason for r in second for d in r.decisions if not d.kept] == []


@pytest.mark.parametrize(
    ("paragraph", "edited"),
    [
        (SAMPLES[3], SAMPLES[4]),  # Chinese, one character changed
        (SAMPLES[5], SAMPLES[5].replace("若い", "多くの")),  # Japanese, a word changed
        (SAMPLES[6], SAMPLES[6].replace("الشمال", "الجنوب")),  # Arabic
    ],
    ids=["chinese", "japanese", "arabic"],
)
def test_repeats_without_word_spaces_are_found(paragraph, edited):
    text = "\n".join([paragraph, SAMPLES[2], paragraph, edited])

    result = Cleaner(NO_TOPIC).clean_text(text)

    assert [(d.index, d.reason) for d in result.removed] == [(2, Reason.DUPLICATE), (3, Reason.NEAR_DUPLICATE)]
    assert result.text == "\n".join([paragraph, SAMPLES[2]])


def test_lone_surrogates_are_kept_and_compared():
    text = "A line of text.\n\ud800!\n\ud800!\nbroken \ud83d emoji line\n"

    result = Cleaner(NO_TOPIC).clean_text(text)

    assert result.text == "A line of text.\n\ud800!\nbroken \ud83d emoji line\n"
    assert [(d.index, d.reason) for d in result.removed] == [(2, Reason.DUPLICATE)]
