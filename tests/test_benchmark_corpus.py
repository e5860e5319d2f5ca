"""Checks of the damaged benchmark corpus and of its scorer.

The corpus is built from the BBC News 2005 file, read in place; without it
these tests are skipped, unless ``CI`` is set, where they fail. Its page
chrome comes from the real-page file, also read in place: without that one
the corpus is built without chrome and the chrome checks are skipped, unless
``CI`` is set, where they fail. No line of the real pages is written here.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from random import Random

import pytest

from benchmarks.corpus import (
    _AGENCIES,
    CHROME_MAX_CHARS,
    CHROME_PLACES,
    DAMAGE_TAGS,
    LABELS,
    MIN_PARAGRAPH_CHARS,
    Article,
    ChromeLines,
    Sample,
    build_corpus,
    find_bbc_data,
    light_edit,
    load_articles,
    load_chrome,
    normalise_space,
    paragraph_key,
    split_of,
)
from benchmarks.pages import find_pages_data
from benchmarks.quality import (
    TARGETS,
    NoopCleaner,
    OracleCleaner,
    RefDecision,
    RefResult,
    evaluate,
    overlap,
)

REPO = Path(__file__).resolve().parents[1]

N_DOCS = 100

# Which labels each document-level damage tag must produce; an edited double
# also repeats its unedited paragraphs exactly.
TAG_LABELS = {
    "doubled_exact": {"repeat_exact"},
    "doubled_edited": {"repeat_edited"},
    "block_repeat": {"repeat_block"},
    "teasers_other": {"teaser_other"},
    "teasers_same": {"teaser_same"},
    "caption": {"caption"},
    "chrome": {"chrome"},
}


@pytest.fixture(scope="module")
def data_path() -> Path:
    try:
        return find_bbc_data()
    except FileNotFoundError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (the benchmark data is required when CI is set)")
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def pages_path() -> Path | None:
    """The real-page file, or ``None`` on a developer machine without it (the chrome checks skip)."""
    try:
        return find_pages_data()
    except FileNotFoundError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (the page chrome of the benchmark needs it when CI is set)")
        return None


@pytest.fixture(scope="module")
def chrome_lines(pages_path: Path | None) -> ChromeLines:
    if pages_path is None:
        pytest.skip("no real-page data: the corpus is built without page chrome")
    return load_chrome(pages_path)


@pytest.fixture(scope="module")
def articles(data_path: Path) -> dict[str, Article]:
    return {a.id: a for a in load_articles(data_path).articles}


@pytest.fixture(scope="module")
def samples(data_path: Path, pages_path: Path | None) -> list[Sample]:
    return build_corpus("test", seed=0, n_docs=N_DOCS, path=data_path, pages_path=pages_path, chrome=bool(pages_path))


def _article_lines(sample: Sample) -> list[str]:
    return [
        line for line, label in zip(sample.lines, sample.paragraph_labels, strict=True) if label == "article"
    ]


def _digest(samples: list[Sample]) -> str:
    payload = json.dumps([dataclasses.asdict(s) for s in samples], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------
# Without the data


def test_find_bbc_data_honours_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "bbc.jsonl.gz"
    data.write_bytes(b"")
    monkeypatch.setenv("DEDUP_BBC_DATA", str(data))
    assert find_bbc_data() == data
    monkeypatch.setenv("DEDUP_BBC_DATA", str(tmp_path / "missing.jsonl.gz"))
    with pytest.raises(FileNotFoundError, match="DEDUP_BBC_DATA"):
        find_bbc_data()


def test_split_is_a_stable_half() -> None:
    ids = [f"bbc-sport-{i:03d}" for i in range(1, 401)]
    splits = Counter(split_of(i) for i in ids)
    assert set(splits) == {"train", "test"}
    assert 0.4 < splits["test"] / len(ids) < 0.6
    # sha1("bbc-business-001") ends in 0xf8, even: pinned so that the split never moves.
    assert split_of("bbc-business-001") == "train"


@pytest.mark.parametrize("seed", range(20))
def test_light_edit_changes_text(seed: int) -> None:
    text = "The company said on Monday that its licence had been cancelled, a spokesman told reporters."
    rng = Random(seed)
    edited = light_edit(text, rng, edits=2)
    assert edited != text
    substantive = light_edit(text, rng, edits=1, substantive=True)
    assert normalise_space(substantive) != normalise_space(text)
    assert difflib.SequenceMatcher(None, text, substantive, autojunk=False).ratio() > 0.8


def test_overlap_counts_repeats() -> None:
    body = "one two three four five six\nseven eight nine ten eleven"
    assert overlap(body, body) == (1.0, 1.0)
    precision, recall = overlap(f"{body}\n{body}", body)
    assert precision == pytest.approx(0.5) and recall == 1.0
    assert overlap(f"{body}\n{body}", body, as_set=True) == (1.0, 1.0)
    assert overlap("", body) == (1.0, 0.0)
    assert overlap("short line", "short line") == (1.0, 1.0)


def test_evaluate_rejects_a_broken_protocol() -> None:
    sample = Sample(
        doc={"id": "d1", "text": "a b c d e\nf g h i j", "category": "tech"},
        paragraph_labels=["article", "article"],
        expected_text="a b c d e\nf g h i j",
        damage=["clean"],
    )

    class OneDecisionShort:
        def clean(self, docs: Iterable[dict[str, str]]) -> Iterator[RefResult]:
            for doc in docs:
                yield RefResult(doc["id"], doc["text"], None, (RefDecision(0, True),))

    class NoResults:
        def clean(self, docs: Iterable[dict[str, str]]) -> list[RefResult]:
            return []

    with pytest.raises(ValueError, match="one decision per input paragraph"):
        evaluate(OneDecisionShort(), [sample])
    with pytest.raises(ValueError, match="one per input"):
        evaluate(NoResults(), [sample])


# --------------------------------------------------------------------------
# Source cleaning


def test_source_cleaning_leaves_no_repeats(data_path: Path) -> None:
    source = load_articles(data_path)
    report = source.report
    assert report["repeated_articles"] > 100
    assert report["near_duplicate_articles"] > 0
    assert report["articles_kept"] == len(source.articles)
    assert report["train_articles"] + report["test_articles"] == len(source.articles)
    seen: Counter[str] = Counter()
    for article in source.articles:
        assert len(article.paragraphs) >= 2
        keys = [paragraph_key(p) for p in article.paragraphs]
        assert len(set(keys)) == len(keys)
        seen.update(keys)
        for paragraph in article.paragraphs:
            assert len(paragraph) >= MIN_PARAGRAPH_CHARS
            assert paragraph == normalise_space(paragraph)
    assert max(seen.values()) == 1, "a paragraph appears in two articles"


# --------------------------------------------------------------------------
# The generator


def test_same_seed_same_corpus(data_path: Path, pages_path: Path | None, samples: list[Sample]) -> None:
    chrome = bool(pages_path)
    again = build_corpus("test", seed=0, n_docs=N_DOCS, path=data_path, pages_path=pages_path, chrome=chrome)
    assert again == samples
    other = build_corpus("test", seed=1, n_docs=N_DOCS, path=data_path, pages_path=pages_path, chrome=chrome)
    assert [s.doc["text"] for s in other] != [s.doc["text"] for s in samples]


def test_corpus_does_not_depend_on_hash_seed(
    data_path: Path, pages_path: Path | None, samples: list[Sample]
) -> None:
    # Set iteration order changes with PYTHONHASHSEED; the corpus must not.
    script = (
        "import dataclasses, hashlib, json, sys\n"
        "from benchmarks.corpus import build_corpus\n"
        "pages = sys.argv[2] or None\n"
        f"s = build_corpus('test', seed=0, n_docs={N_DOCS}, path=sys.argv[1], pages_path=pages, chrome=bool(pages))\n"
        "p = json.dumps([dataclasses.asdict(x) for x in s], sort_keys=True, ensure_ascii=False)\n"
        "print(hashlib.sha256(p.encode('utf-8')).hexdigest())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-c", script, str(data_path), str(pages_path or "")]
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == _digest(samples)


def test_size_and_ids(samples: list[Sample]) -> None:
    assert len(samples) == N_DOCS
    ids = [s.id for s in samples]
    assert len(set(ids)) == len(ids)
    assert all(set(s.doc) == {"id", "text", "category"} for s in samples)


def test_labels_align_with_lines(samples: list[Sample]) -> None:
    for sample in samples:
        text = sample.doc["text"]
        lines = text.split("\n")
        assert len(sample.paragraph_labels) == len(lines) == len(sample.origins), sample.id
        assert set(sample.paragraph_labels) <= set(LABELS)
        assert not text.endswith("\n")
        assert "\r" not in text
        assert all(line.strip() and line == line.strip() for line in lines), sample.id
        # The cleaner splits on every kind of line break Python knows.
        assert text.splitlines() == lines, sample.id


def test_expected_text_is_the_article_lines(samples: list[Sample]) -> None:
    for sample in samples:
        articles = _article_lines(sample)
        assert articles, sample.id
        if sample.expected_drop is None:
            assert sample.expected_text == "\n".join(articles)
        else:
            assert sample.expected_text is None


def test_syndicated_copies_follow_their_original(samples: list[Sample]) -> None:
    position = {s.id: i for i, s in enumerate(samples)}
    copies = [s for s in samples if "syndicated_copy" in s.damage]
    assert copies
    for copy in copies:
        assert copy.expected_drop == "duplicate_document"
        assert copy.duplicate_of is not None and position[copy.duplicate_of] < position[copy.id]
        original = samples[position[copy.duplicate_of]]
        assert original.expected_drop is None
        assert original.source_id == copy.source_id
        assert copy.doc["text"] != original.expected_text
    assert all((s.expected_drop is None) == ("syndicated_copy" not in s.damage) for s in samples)


def test_a_quarter_or_more_is_clean(samples: list[Sample]) -> None:
    clean = [s for s in samples if s.damage == ["clean"]]
    assert len(clean) >= 0.25 * len(samples)
    for sample in clean:
        assert set(sample.paragraph_labels) == {"article"}
        assert sample.expected_text == sample.doc["text"]


def test_every_damage_type_and_label_present(pages_path: Path | None, samples: list[Sample]) -> None:
    without = set() if pages_path else {"chrome"}
    tags = Counter(tag for s in samples for tag in s.damage)
    assert set(tags) == set(DAMAGE_TAGS) - without
    labels = Counter(label for s in samples for label in s.paragraph_labels)
    assert set(labels) == set(LABELS) - without


def test_without_chrome_the_corpus_has_none(data_path: Path) -> None:
    samples = build_corpus("test", seed=0, n_docs=60, path=data_path, chrome=False)
    assert all("chrome" not in s.damage and "chrome" not in s.paragraph_labels for s in samples)
    assert {tag for s in samples for tag in s.damage} == set(DAMAGE_TAGS) - {"chrome"}


def test_without_page_data_the_corpus_fails_clearly(
    data_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEDUP_PAGES_DATA", str(tmp_path / "missing.jsonl.gz"))
    with pytest.raises(FileNotFoundError, match=r"page chrome .*DEDUP_PAGES_DATA"):
        build_corpus("test", seed=0, n_docs=60, path=data_path)


# --------------------------------------------------------------------------
# Page chrome, from the real pages


def test_chrome_lines_are_short_lines_with_letters(chrome_lines: ChromeLines) -> None:
    assert set(chrome_lines.places) == set(CHROME_PLACES)
    for where, pages in chrome_lines.places.items():
        assert pages, where
        for lines in pages:
            assert lines
            for line in lines:
                assert 0 < len(line) <= CHROME_MAX_CHARS
                assert any(c.isalpha() for c in line)
                assert line == normalise_space(line)


def test_chrome_is_drawn_from_the_page_furniture_at_its_place(
    chrome_lines: ChromeLines, samples: list[Sample]
) -> None:
    pools = {where: {line for lines in pages for line in lines} for where, pages in chrome_lines.places.items()}
    seen: Counter[str] = Counter()
    for sample in samples:
        labels = sample.paragraph_labels
        content = [i for i, label in enumerate(labels) if label != "chrome"]
        for i, (line, label) in enumerate(zip(sample.lines, labels, strict=True)):
            if label != "chrome":
                continue
            where = "top" if i < content[0] else "bottom" if i > content[-1] else "between"
            assert line in pools[where], (sample.id, i, where)
            assert sample.origins[i] is None
            seen[where] += 1
    assert set(seen) == set(CHROME_PLACES), seen


def test_agencies_are_not_the_detectors_list() -> None:
    from dedup.topic.form import FORM_SIGNALS, form_signals

    known = [name for name in _AGENCIES if dict(zip(FORM_SIGNALS, form_signals(name), strict=True))["caption"]]
    assert len(set(_AGENCIES)) == len(_AGENCIES) == 22
    # The comment above _AGENCIES says 10 of its 22 names are in dedup/topic/form.py's list.
    assert len(known) == 10, known


def test_damage_tags_match_labels(samples: list[Sample]) -> None:
    for sample in samples:
        labels = set(sample.paragraph_labels)
        allowed = {"article"}
        for tag in sample.damage:
            wanted = TAG_LABELS.get(tag, set())
            assert wanted <= labels, (sample.id, tag)
            allowed |= wanted | ({"repeat_exact"} if tag == "doubled_edited" else set())
        assert labels <= allowed, sample.id
        assert len(sample.damage) <= 2


def test_origins_come_from_the_split(samples: list[Sample], articles: dict[str, Article]) -> None:
    for sample in samples:
        assert split_of(sample.source_id) == "test"
        for origin in sample.origins:
            if origin is not None:
                assert split_of(origin[0]) == "test"
                assert origin[1] < len(articles[origin[0]].paragraphs)


def test_teaser_donors_are_other_articles(samples: list[Sample], articles: dict[str, Article]) -> None:
    by_id = {s.id: s for s in samples}
    teasers = 0
    for sample in samples:
        host = articles[sample.source_id]
        excluded = {sample.source_id}
        if sample.partner is not None:
            excluded.add(by_id[sample.partner].source_id)
        for label, origin in zip(sample.paragraph_labels, sample.origins, strict=True):
            if not label.startswith("teaser"):
                continue
            teasers += 1
            assert origin is not None and origin[0] not in excluded, sample.id
            same = articles[origin[0]].category == host.category
            assert same == (label == "teaser_same"), sample.id
    assert teasers


def test_story_pair_borrowed_paragraphs_are_edited_but_similar(
    samples: list[Sample], articles: dict[str, Article]
) -> None:
    by_id = {s.id: s for s in samples}
    pairs = [s for s in samples if "story_pair" in s.damage]
    assert pairs and len(pairs) % 2 == 0
    borrowing = 0
    for sample in pairs:
        assert sample.partner is not None
        partner = by_id[sample.partner]
        assert partner.partner == sample.id
        assert articles[partner.source_id].category == articles[sample.source_id].category
        assert partner.source_id != sample.source_id
        borrowed = [
            (line, origin)
            for line, origin, label in zip(sample.lines, sample.origins, sample.paragraph_labels, strict=True)
            if label == "article" and origin is not None and origin[0] != sample.source_id
        ]
        if not borrowed:
            continue
        borrowing += 1
        assert 1 <= len(borrowed) <= 3
        first_line = sample.origins[sample.paragraph_labels.index("article")]
        assert first_line is not None and first_line[0] == sample.source_id, "the report keeps its own lead"
        for line, origin in borrowed:
            assert origin[0] == partner.source_id
            source = articles[origin[0]].paragraphs[origin[1]]
            assert normalise_space(line) != normalise_space(source)
            assert difflib.SequenceMatcher(None, source, line, autojunk=False).ratio() > 0.85
            assert source in partner.lines
    assert borrowing == len(pairs) // 2


def test_syndicated_body_is_close_to_the_original(samples: list[Sample]) -> None:
    by_id = {s.id: s for s in samples}
    for copy in (s for s in samples if s.expected_drop is not None):
        assert copy.duplicate_of is not None
        original = by_id[copy.duplicate_of]
        body = "\n".join(_article_lines(copy))
        precision, recall = overlap(body, original.expected_text or "", as_set=True)
        assert precision > 0.6 and recall > 0.6, copy.id


# --------------------------------------------------------------------------
# The scorer


def test_oracle_scores_one(samples: list[Sample]) -> None:
    results = evaluate(OracleCleaner(samples), samples)
    assert results["documents"]["f1"] == 1.0
    assert results["documents"]["set_f1"] == 1.0
    assert all(values["f1"] == 1.0 for values in results["by_damage"].values() if values["n"])
    assert all(values["rate"] == 1.0 for values in results["paragraphs"].values() if values["lines"])
    assert all(values["passed"] and values["value"] == 1.0 for values in results["targets"].values())
    level = results["document_level"]
    assert level["syndicated_copies_dropped"] == 1.0
    assert level["syndicated_copies_duplicate_of_right"] == 1.0
    assert level["story_pair_kept_whole"] == 1.0
    assert level["clean_changed"] == 0.0
    assert level["false_document_drops"] == 0
    assert level["text_inconsistent_with_decisions"] == 0


def test_noop_scores_below_targets(samples: list[Sample]) -> None:
    results = evaluate(NoopCleaner(), samples)
    targets = results["targets"]
    assert set(targets) == {key for key, _, _ in TARGETS}
    assert targets["article_kept"]["passed"]
    for key in ("repeats_removed", "teaser_other_removed", "mean_f1"):
        assert not targets[key]["passed"], key
    assert results["paragraphs"]["repeat_all"]["rate"] == 0.0
    assert results["document_level"]["syndicated_copies_dropped"] == 0.0
    assert results["documents"]["recall"] == 1.0
    assert results["by_damage"]["clean"]["f1"] == 1.0
    assert results["by_damage"]["syndicated_copy"]["f1"] == 0.0


def test_chrome_source_is_checked() -> None:
    with pytest.raises(ValueError, match="chrome source must be one of"):
        load_chrome(source="elsewhere")
