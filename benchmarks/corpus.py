"""A damaged news corpus with ground truth, for measuring the cleaner.

The corpus is generated from the BBC News 2005 data set (2,225 articles in
five categories), read in place from ``bbc-news-2005.jsonl.gz`` (see
:func:`find_bbc_data`); no text from it is stored in this repository.

Source cleaning
---------------
The source has repeats of its own. Left in, they would be ground-truth
``article`` paragraphs that a good cleaner is right to remove, so they are
taken out first, over the whole file and in this order (articles sorted by
id; "normalised" means casefolded with whitespace collapsed):

1. Whitespace inside a paragraph, line breaks included (a few bulleted lists
   are stored as one paragraph), becomes a single space, so that every
   paragraph is exactly one line of a generated document.
2. Repeated articles: an article whose tuple of normalised paragraphs equals
   an earlier article's is dropped; the first by id order is kept.
3. Near-duplicate articles: an article that shares at least 70 % of the word
   4-shingles of the smaller of itself and an earlier kept article is
   dropped (the same story filed twice, often with a retouched title).
   Below that the overlap is between different reports of one story, which
   stay, as ``story_pair`` documents would.
4. Within an article, paragraphs under 20 characters (score lines, dates,
   stray words) and paragraphs repeating an earlier paragraph of the same
   article (normalised) are dropped.
5. Across articles, a normalised paragraph found in more than one remaining
   article is dropped from all of them, the first included. These are
   contributor biographies, team line-ups, referees, venues and a block of
   reader comments shared by two articles: boilerplate rather than the
   article's own text, and keeping none makes the labels independent of
   document order.
6. Articles left with fewer than two paragraphs are dropped.

Run ``python benchmarks/corpus.py`` to print what each step removed.

Splits
------
Articles are split into ``train`` and ``test`` halves by the parity of the
SHA-1 of their id, so a model tuned on one half can be scored on the other.
A corpus uses text from one split only, donors of teasers included.

Damage
------
:func:`build_corpus` returns :class:`Sample` records: a document
(``{"id", "text", "category"}``, paragraphs joined with ``"\\n"``), a label
per line, the expected clean text and the damage applied. Labels:
``article``, ``repeat_exact``, ``repeat_edited``, ``repeat_block``,
``teaser_other``, ``teaser_same``, ``caption`` and ``chrome``. Damage tags:
``clean``, ``doubled_exact``, ``doubled_edited``, ``block_repeat``,
``teasers_other``, ``teasers_same``, ``caption``, ``chrome``,
``syndicated_copy`` and ``story_pair`` (see :data:`DAMAGE_TAGS`).

Page chrome is not written here: it is drawn at run time from the lines
of real pages that are not gold (the Dragnet pages of
``pages-dev.jsonl.gz``, see :func:`load_chrome`), a run of one to three
lines of one page at a time, at the top of a document from a page's lines
before its article, at the bottom from its lines after the article, or
between two paragraphs from its lines in between. Without that file the
builder fails (:func:`build_corpus` has ``chrome=False`` for checks that
do without chrome). Captions and photo credits are generated: there is no
labelled source of real ones. Their names of agencies are not the
detector's list, and half of their forms carry no marker word such as
``Photo:`` (see ``benchmarks/README.md`` for what the caption figure
measures).

A teaser's donor may itself be a document of the corpus, before or after
the host, as on a real site: "seen in another document" is therefore not
enough to call a paragraph foreign. A ``syndicated_copy`` is labelled as if
it were an original (its body ``article``) and has ``expected_drop``
set; paragraph-level scores skip such documents.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import sys
import textwrap
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from random import Random
from typing import Any

DATA_ENV = "DEDUP_BBC_DATA"
DATA_NAME = "bbc-news-2005.jsonl.gz"

SPLITS = ("train", "test")
LABELS = (
    "article",
    "repeat_exact",
    "repeat_edited",
    "repeat_block",
    "teaser_other",
    "teaser_same",
    "caption",
    "chrome",
)
REPEAT_LABELS = ("repeat_exact", "repeat_edited", "repeat_block")
DAMAGE_TAGS = (
    "clean",
    "doubled_exact",
    "doubled_edited",
    "block_repeat",
    "teasers_other",
    "teasers_same",
    "caption",
    "chrome",
    "syndicated_copy",
    "story_pair",
)
# Damage applied to one document on its own; the last two tags involve two
# documents and are planned separately.
SINGLE_DAMAGE = DAMAGE_TAGS[1:8]
# Pairs that do not make sense together: two ways of doubling a body, or two
# kinds of teaser run (a run mixes categories in neither real nor test data).
_EXCLUSIVE = (
    {"doubled_exact", "doubled_edited"},
    {"doubled_exact", "block_repeat"},
    {"doubled_edited", "block_repeat"},
    {"teasers_other", "teasers_same"},
)

DEFAULT_N_DOCS = 1000
CLEAN_SHARE = 0.30
COPY_SHARE = 0.05
PAIR_SHARE = 0.06  # documents in story pairs (two per pair)
SECOND_DAMAGE_SHARE = 0.40

MIN_PARAGRAPH_CHARS = 20
NEAR_DUPLICATE_CONTAINMENT = 0.70

_SPACE = re.compile(r"\s+")


# --------------------------------------------------------------------------
# Source data


def find_data(name: str, env: str, what: str) -> Path:
    """Locate a development data file, read in place.

    ``$env`` wins when set; otherwise the file is looked for in
    ``shared/data/`` beside the repository checkout.

    Args:
        name: The file name, e.g. ``bbc-news-2005.jsonl.gz``.
        env: The environment variable that may name it.
        what: What it holds, for the message.

    Raises:
        FileNotFoundError: Neither place has the file; the message names
            the paths tried and the variable to set.
    """
    override = os.environ.get(env)
    if override:
        path = Path(override).expanduser()
        if path.is_file():
            return path
        raise FileNotFoundError(f"${env} is set to {path}, which is not a file")
    path = Path(__file__).resolve().parents[2] / "shared" / "data" / name
    if path.is_file():
        return path
    raise FileNotFoundError(f"{what} not found at {path}; put {name} there or set ${env} to its path")


def find_bbc_data() -> Path:
    """The BBC News 2005 file (``$DEDUP_BBC_DATA``, else ``shared/data/`` beside the checkout).

    Raises:
        FileNotFoundError: Neither place has the file.
    """
    return find_data(DATA_NAME, DATA_ENV, "BBC News data")


@dataclass(frozen=True)
class Article:
    """A cleaned source article.

    Attributes:
        id: The source id, e.g. ``"bbc-business-001"``.
        category: One of business, entertainment, politics, sport, tech.
        title: The headline, whitespace collapsed.
        paragraphs: The paragraphs left by source cleaning, each one line.
    """

    id: str
    category: str
    title: str
    paragraphs: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)


@dataclass(frozen=True)
class SourceData:
    """The cleaned source articles and what cleaning removed.

    Attributes:
        articles: Cleaned articles, sorted by id.
        report: Counts per cleaning step (see :func:`load_articles`).
        near_duplicates: ``(dropped id, kept id)`` for step 3.
    """

    articles: tuple[Article, ...]
    report: dict[str, int]
    near_duplicates: tuple[tuple[str, str], ...]

    def split(self, name: str) -> tuple[Article, ...]:
        """The articles of one split, sorted by id."""
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        return tuple(a for a in self.articles if split_of(a.id) == name)


def normalise_space(text: str) -> str:
    """Collapse whitespace runs (line breaks included) to one space and strip."""
    return _SPACE.sub(" ", text).strip()


def paragraph_key(text: str) -> str:
    """The form under which two paragraphs count as the same: casefolded,
    whitespace collapsed."""
    return normalise_space(text).casefold()


def split_of(article_id: str) -> str:
    """The split an article belongs to: the parity of the SHA-1 of its id.

    Args:
        article_id: A source id.

    Returns:
        ``"train"`` or ``"test"``.
    """
    digest = hashlib.sha1(article_id.encode("utf-8")).digest()
    return SPLITS[digest[-1] % 2]


def _shingles(paragraphs: Sequence[str]) -> set[tuple[str, ...]]:
    tokens = " ".join(paragraphs).casefold().split()
    return set(zip(tokens, tokens[1:], tokens[2:], tokens[3:], strict=False))


def load_articles(path: str | Path | None = None) -> SourceData:
    """Read and clean the BBC articles (the steps are in the module docstring).

    Args:
        path: The ``.jsonl.gz`` file; :func:`find_bbc_data` when ``None``.

    Returns:
        The cleaned articles and a report with the keys ``articles_read``,
        ``paragraphs_read``, ``paragraphs_with_line_breaks``,
        ``repeated_articles``, ``near_duplicate_articles``,
        ``short_paragraphs``, ``within_article_repeats``,
        ``cross_article_paragraphs`` (occurrences dropped),
        ``cross_article_texts`` (distinct texts), ``too_short_articles``,
        ``articles_kept``, ``paragraphs_kept``, ``train_articles`` and
        ``test_articles``.

    Raises:
        FileNotFoundError: No data file was given or found.
    """
    resolved = Path(path) if path is not None else find_bbc_data()
    return _load_articles(str(resolved.resolve()))


@lru_cache(maxsize=4)
def _load_articles(path: str) -> SourceData:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    rows.sort(key=lambda row: row["id"])
    report: Counter[str] = Counter()
    report["articles_read"] = len(rows)

    # Steps 1 and 2.
    seen_keys: set[tuple[str, ...]] = set()
    unique: list[Article] = []
    for row in rows:
        report["paragraphs_read"] += len(row["paragraphs"])
        report["paragraphs_with_line_breaks"] += sum("\n" in p for p in row["paragraphs"])
        article_key = tuple(paragraph_key(p) for p in row["paragraphs"])
        if article_key in seen_keys:
            report["repeated_articles"] += 1
            continue
        seen_keys.add(article_key)
        paragraphs = tuple(p for p in (normalise_space(p) for p in row["paragraphs"]) if p)
        unique.append(Article(row["id"], row["category"], normalise_space(row["title"]), paragraphs))

    # Step 3: an inverted index over shingles finds every earlier article
    # sharing at least one shingle, exactly (no sampling), in about a second.
    postings: dict[tuple[str, ...], list[int]] = defaultdict(list)
    shingle_sets: list[set[tuple[str, ...]]] = []
    distinct: list[Article] = []
    near: list[tuple[str, str]] = []
    for article in unique:
        shingles = _shingles(article.paragraphs)
        overlap: Counter[int] = Counter()
        for shingle in shingles:
            for other in postings.get(shingle, ()):
                overlap[other] += 1
        match = None
        for other, shared in sorted(overlap.items()):
            smaller = min(len(shingles), len(shingle_sets[other])) or 1
            if shared / smaller >= NEAR_DUPLICATE_CONTAINMENT:
                match = other
                break
        if match is not None:
            near.append((article.id, distinct[match].id))
            continue
        for shingle in shingles:
            postings[shingle].append(len(distinct))
        shingle_sets.append(shingles)
        distinct.append(article)
    report["near_duplicate_articles"] = len(near)

    # Step 4.
    trimmed: list[Article] = []
    for article in distinct:
        kept: list[str] = []
        keys: set[str] = set()
        for paragraph in article.paragraphs:
            key = paragraph_key(paragraph)
            if len(paragraph) < MIN_PARAGRAPH_CHARS:
                report["short_paragraphs"] += 1
            elif key in keys:
                report["within_article_repeats"] += 1
            else:
                keys.add(key)
                kept.append(paragraph)
        trimmed.append(Article(article.id, article.category, article.title, tuple(kept)))

    # Step 5.
    spread = Counter(key for a in trimmed for key in {paragraph_key(p) for p in a.paragraphs})
    shared_keys = {key for key, count in spread.items() if count > 1}
    report["cross_article_texts"] = len(shared_keys)
    final: list[Article] = []
    for article in trimmed:
        kept = [p for p in article.paragraphs if paragraph_key(p) not in shared_keys]
        report["cross_article_paragraphs"] += len(article.paragraphs) - len(kept)
        # Step 6.
        if len(kept) < 2:
            report["too_short_articles"] += 1
            continue
        final.append(Article(article.id, article.category, article.title, tuple(kept)))

    report["articles_kept"] = len(final)
    report["paragraphs_kept"] = sum(len(a.paragraphs) for a in final)
    for name in SPLITS:
        report[f"{name}_articles"] = sum(split_of(a.id) == name for a in final)
    return SourceData(tuple(final), dict(report), tuple(near))


# --------------------------------------------------------------------------
# Light edits: what a syndicating site or a second scrape changes


_SYNONYMS: dict[str, tuple[str, ...]] = {
    "said": ("stated", "added"),
    "says": ("states",),
    "told": ("informed",),
    "countries": ("nations",),
    "country": ("nation",),
    "company": ("firm",),
    "firm": ("company",),
    "government": ("administration",),
    "officials": ("authorities",),
    "big": ("large",),
    "large": ("big",),
    "rise": ("increase",),
    "rose": ("climbed",),
    "fell": ("dropped",),
    "buy": ("purchase",),
    "bought": ("purchased",),
    "start": ("begin",),
    "started": ("began",),
    "shares": ("stocks",),
    "film": ("movie",),
    "films": ("movies",),
    "expected": ("anticipated",),
    "help": ("assist",),
    "plans": ("proposals",),
    "about": ("around",),
    "however": ("but",),
    "chief executive": ("CEO",),
    "per cent": ("percent",),
    "mobile phone": ("cellphone",),
    "mobile phones": ("cellphones",),
    "football": ("soccer",),
    "boss": ("manager",),
    "match": ("game",),
    "profits": ("earnings",),
    "users": ("customers",),
    "on monday": ("yesterday",),
    "on tuesday": ("yesterday",),
    "on wednesday": ("yesterday",),
    "on thursday": ("yesterday",),
    "on friday": ("yesterday",),
    "on saturday": ("yesterday",),
    "on sunday": ("yesterday",),
    "last week": ("recently",),
}
_SPELLINGS: dict[str, str] = {
    "licence": "license",
    "organisation": "organization",
    "organisations": "organizations",
    "colour": "color",
    "centre": "center",
    "centres": "centers",
    "programme": "program",
    "programmes": "programs",
    "favour": "favor",
    "favourite": "favorite",
    "behaviour": "behavior",
    "defence": "defense",
    "recognise": "recognize",
    "recognised": "recognized",
    "realise": "realize",
    "criticised": "criticized",
    "apologised": "apologized",
    "travelled": "traveled",
    "cancelled": "canceled",
    "labour": "labor",
    "honour": "honor",
    "neighbour": "neighbor",
    "analyse": "analyze",
    "analysed": "analyzed",
    "theatre": "theater",
    "metres": "meters",
    "catalogue": "catalog",
    "cheque": "check",
    "jewellery": "jewelry",
    "tyres": "tires",
    "grey": "gray",
    "modelling": "modeling",
    "fulfil": "fulfill",
    "enrol": "enroll",
    "ageing": "aging",
    "offence": "offense",
    "practise": "practice",
    "rumours": "rumors",
    "labelled": "labeled",
}
# fmt: off
_DROPPABLE = {
    "the", "a", "an", "that", "also", "very", "just", "now", "still", "already", "new", "its", "their",
}
# fmt: on


def _word_pattern(words: Sequence[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE)


_SYNONYM_RE = _word_pattern(list(_SYNONYMS))
_SPELLING_RE = _word_pattern(list(_SPELLINGS))


def _match_case(source: str, replacement: str) -> str:
    if source.isupper() and len(source) > 1:
        return replacement.upper()
    if source[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def _replace_one(
    text: str, pattern: re.Pattern[str], table: dict[str, tuple[str, ...]], rng: Random
) -> str | None:
    matches = list(pattern.finditer(text))
    if not matches:
        return None
    found = rng.choice(matches)
    # "Labour" with a capital is the party; only the common noun is respelled.
    if found.group().casefold() == "labour" and found.group()[0].isupper():
        return None
    replacement = _match_case(found.group(), rng.choice(table[found.group().casefold()]))
    return text[: found.start()] + replacement + text[found.end() :]


def _edit_synonym(text: str, rng: Random) -> str | None:
    return _replace_one(text, _SYNONYM_RE, _SYNONYMS, rng)


def _edit_spelling(text: str, rng: Random) -> str | None:
    return _replace_one(text, _SPELLING_RE, {k: (v,) for k, v in _SPELLINGS.items()}, rng)


def _edit_drop_word(text: str, rng: Random) -> str | None:
    words = text.split(" ")
    if len(words) < 6:
        return None
    # Lower case only: "New York" must not become "York".
    candidates = [i for i, w in enumerate(words[1:-1], 1) if w in _DROPPABLE]
    index = rng.choice(candidates) if candidates else rng.randrange(1, len(words) - 1)
    return " ".join(words[:index] + words[index + 1 :])


def _curly_quotes(text: str) -> str:
    text = re.sub(r'(^|[\s(\[])"', "\\1\u201c", text)
    text = text.replace('"', "\u201d")
    text = re.sub(r"(^|[\s(\[])'", "\\1\u2018", text)
    return text.replace("'", "\u2019")


def _edit_punctuation(text: str, rng: Random) -> str | None:
    options: list[Callable[[str], str | None]] = []
    if "'" in text or '"' in text:
        options.append(_curly_quotes)
    if " - " in text:
        options.append(lambda t: t.replace(" - ", " \u2013 ", 1))
    commas = [m.start() for m in re.finditer(r"(?<=\w),(?= )", text)]
    if commas:
        position = rng.choice(commas)
        options.append(lambda t: t[:position] + t[position + 1 :])
    if text.endswith("."):
        options.append(lambda t: t[:-1])
    if ". " in text:
        options.append(lambda t: t.replace(". ", "; ", 1))
    if not options:
        return None
    return rng.choice(options)(text)


def _edit_space(text: str, rng: Random) -> str | None:
    spaces = [m.start() for m in re.finditer(" ", text)]
    if not spaces:
        return None
    position = rng.choice(spaces)
    return text[:position] + " " + text[position:]


_EDITS: tuple[tuple[Callable[[str, Random], str | None], int], ...] = (
    (_edit_synonym, 4),
    (_edit_spelling, 3),
    (_edit_drop_word, 2),
    (_edit_punctuation, 3),
    (_edit_space, 1),
)


def light_edit(text: str, rng: Random, edits: int = 1, substantive: bool = False) -> str:
    """Apply light edits of the kinds a copy picks up on its way.

    The kinds: a word swapped for a synonym (said/stated, on Monday/yesterday),
    a British spelling made American (licence/license), a dropped word,
    changed punctuation (curly quotes, a dash, a comma), an extra space.

    Args:
        text: One paragraph.
        rng: The random source.
        edits: How many edits to try to apply.
        substantive: Require a change that survives whitespace collapsing,
            so that the copy is not equal to the original once normalised.

    Returns:
        The edited paragraph, always different from ``text`` when it has
        at least two words.
    """
    edited = text
    for _ in range(max(1, edits)):
        kinds = list(_EDITS)
        while kinds:
            weights = [w for _, w in kinds]
            pick = rng.choices(range(len(kinds)), weights=weights)[0]
            function = kinds.pop(pick)[0]
            if substantive and function is _edit_space:
                continue
            result = function(edited, rng)
            if result is not None and result != edited:
                edited = result
                break
    edited = edited.strip()
    if edited == text or (substantive and normalise_space(edited) == normalise_space(text)):
        # Every paragraph of two words or more can lose or gain a word.
        words = text.split(" ")
        edited = " ".join(words[:-1]) if len(words) > 2 else text + " too"
    return edited


# --------------------------------------------------------------------------
# Foreign lines: teasers, captions, page chrome

# Credit names for generated captions, written from the news agencies the BBC articles name
# ("told the Interfax news agency") and picture agencies that credit news photographs. It is not
# the list of ``dedup/topic/form.py``: 10 of these 22 names are in that list, so a credit naming
# one of the other 12 has no shape the detector was written for (tests/test_benchmark_corpus.py
# holds that share).
# fmt: off
_AGENCIES = (
    "Reuters", "Associated Press", "AP", "AFP", "Getty Images", "PA", "EPA", "Kyodo", "Xinhua",
    "Bloomberg",
    "Agence France-Presse", "Interfax", "Itar-Tass", "Yonhap", "Jiji Press", "Canadian Press", "AAP",
    "Zuma Press", "Magnum Photos", "Mirrorpix", "WENN", "BBC",
)
_FIRST_NAMES = (
    "John", "Sarah", "Ding", "Peter", "Maria", "David", "Yuki", "Ahmed", "Laura", "Tom",
    "Elena", "Paul", "Grace", "Michael", "Anna", "Kevin", "Fatima", "Rob", "Claire", "Luis",
)
_SURNAMES = (
    "Smith", "Lin", "Jones", "Garcia", "Brown", "Tanaka", "Hassan", "Walsh", "Murphy", "Rossi",
    "Evans", "Novak", "Clarke", "Okafor", "Fischer", "Dunn", "Patel", "Moreau", "Reid", "Kelly",
)
_CAPTION_SUBJECTS = (
    "Fans", "Protesters", "Officials", "Shoppers", "Delegates", "Campaigners", "Supporters",
    "Visitors", "Workers", "Residents", "Players", "Guests", "Traders", "Police officers",
)
_CAPTION_SCENES: dict[str, tuple[str, ...]] = {
    "business": (
        "on the trading floor in New York", "outside the company's headquarters",
        "at the annual shareholders' meeting", "at a factory near Detroit", "in the City of London",
    ),
    "entertainment": (
        "on the red carpet at the premiere", "at the awards ceremony in London",
        "during a performance last year", "at the launch party", "in a scene from the film",
    ),
    "politics": (
        "outside Downing Street", "at the party's spring conference", "in the House of Commons",
        "on the campaign trail in the Midlands", "arriving for talks in Brussels",
    ),
    "sport": (
        "during training on Thursday", "celebrating after the final whistle", "outside the stadium",
        "during the second half", "at the press conference after the match",
    ),
    "tech": (
        "at the trade show in Las Vegas", "demonstrating the new handset", "at the launch in San Francisco",
        "in the company's research laboratory", "at a gaming convention",
    ),
}
_CAPTION_TIMES = ("", "", " on Monday", " last week", " in 2004", " earlier this year", " on Saturday")

# fmt: on
_DATELINES = ("LONDON - ", "LONDON (Global Wire Service) - ", "(Example News) ", "NEW YORK - ", "BRUSSELS - ")

# People, for caption subjects: "Mr Tanzi", "Sir Alex Ferguson", "Tessa Jowell said".
_PERSON = re.compile(
    r"\b((?:Mr|Mrs|Ms|Dr|Sir|Lord|Lady) [A-Z][a-z]+(?: [A-Z][a-z]+)?)"
    r"|\b([A-Z][a-z]+ [A-Z][a-z]+)(?= (?:said|says|told|added|has|was)\b)"
)
_QUOTED_TITLE = re.compile(r"'([^']{3,40})'")


def _agency_credit(rng: Random) -> str:
    """A photo credit: half the forms open with a word such as ``Photo:``, half are names alone."""
    first, second = rng.sample(_AGENCIES, 2)
    name = f"{rng.choice(_FIRST_NAMES)} {rng.choice(_SURNAMES)}"
    marked = (
        f"Photo: {first}",
        f"Photo: {first} / {second} / {name}",
        f"(Image: {first} / {second})",
        f"Photograph: {name}/{first}",
        f"Picture: {first}",
        f"Credit: {name}/{first}",
        f"Image source, {first}",
        f"Photo by {name}/{first} via {second}",
        f"Pictures: {first}, {second}",
    )
    unmarked = (
        f"{first.upper()}/{name}",
        f"{name}/{first}",
        f"{name} / {first}",
        f"{first} / {second}",
        f"{name} for {first}",
        f"{name} ({first})",
    )
    return rng.choice(marked if rng.random() < 0.5 else unmarked)


def _caption(host: Article, rng: Random) -> str:
    """A photo caption or credit line for ``host``.

    Half the caption forms open with a word such as ``Image caption``;
    the others are a description alone or followed by a credit.
    """
    if rng.random() < 0.45:
        return _agency_credit(rng)
    names = sorted({a or b for a, b in _PERSON.findall(" ".join(host.paragraphs))})
    subject = rng.choice(names) if names and rng.random() < 0.6 else rng.choice(_CAPTION_SUBJECTS)
    scene = rng.choice(_CAPTION_SCENES.get(host.category, _CAPTION_SCENES["business"]))
    description = f"{subject} {scene}{rng.choice(_CAPTION_TIMES)}"
    marked = (
        f"Image caption: {description}",
        f"Image caption, {description}",
        f"Pictured: {description}",
        f"{description}. Photo: {rng.choice(_AGENCIES)}",
    )
    unmarked = (
        description,
        f"{description} ({rng.choice(_AGENCIES)})",
        f"{description}. {_agency_credit(rng)}",
        f"{description} | {_agency_credit(rng)}",
    )
    return rng.choice(marked if rng.random() < 0.5 else unmarked)


def _kicker(title: str, rng: Random) -> str:
    """A CAPS kicker from 1-4 words of a headline: ``DEMONSTRATIONS: ``."""
    quoted = _QUOTED_TITLE.search(title)
    if quoted and rng.random() < 0.6:
        return f"\u2018{quoted.group(1).upper()}\u2019: "
    words = [w.strip("'\".,:;!?") for w in title.split()]
    words = [w for w in words if w]
    size = min(len(words), rng.randint(1, 4))
    start = rng.randrange(0, len(words) - size + 1)
    return " ".join(words[start : start + size]).upper() + ": "


def _first_sentence(text: str) -> str:
    match = re.match(r"(.+?[.!?])(?:\s|$)", text)
    return match.group(1) if match else text


def _cut(paragraphs: Sequence[str], rng: Random) -> str:
    """The donor's opening cut at a word boundary 200-900 characters in,
    mid-sentence, as a teaser widget does; it may run past the lead."""
    total = len(" ".join(paragraphs))
    low, high = 200, 900
    if total < low + 40:
        low = total // 2
    limit = rng.randint(low, max(low, min(high, total - 20)))
    text = ""
    for paragraph in paragraphs:
        text = f"{text} {paragraph}" if text else paragraph
        if len(text) > limit:
            break
    words = text[:limit].split(" ")[:-1] or text[:limit].split(" ")
    # A cut that happens to fall after a full stop would look finished.
    while len(words) > 3 and words[-1][-1:] in ".!?\"'":
        words.pop()
    return " ".join(words).rstrip(" ,;:-")


def _teaser(donor: Article, rng: Random) -> str:
    """One teaser line for ``donor``, in the styles real sites use."""
    cut = rng.random() < 0.7
    if cut:
        body = _cut(donor.paragraphs, rng)
        uses_second = len(body) > len(donor.paragraphs[0])
    else:
        body = donor.paragraphs[0]
        uses_second = len(body) < 300 and rng.random() < 0.5
        if uses_second:
            body = f"{body} {donor.paragraphs[1]}"
    parts: list[str] = []
    if rng.random() < 0.55:
        parts.append(_kicker(donor.title, rng))
    if rng.random() < 0.4:
        standfirst = donor.title if uses_second else _first_sentence(donor.paragraphs[1])
        if len(standfirst) > 220:
            standfirst = donor.title
        parts.append(standfirst.rstrip(".!?") + " ")
    parts.append(body)
    return "".join(parts)


# --------------------------------------------------------------------------
# Page chrome: furniture lines of real pages

#: The pages the benchmark's chrome comes from. A corpus that fits a shipped model must take
#: ``"cleaneval"`` instead: Dragnet's licence forbids shipping anything derived from it.
CHROME_SOURCE = "dragnet"
CHROME_SOURCES = ("dragnet", "cleaneval")
CHROME_MAX_CHARS = 80
CHROME_PLACES = ("top", "between", "bottom")


@dataclass(frozen=True)
class ChromeLines:
    """Furniture lines of real pages, by page and by where they stand on it.

    Attributes:
        places: For each of :data:`CHROME_PLACES`, one tuple of lines per
            page (pages in id order, lines in page order; pages with none
            left out): ``top`` holds the furniture before the page's first
            gold line, ``bottom`` the furniture after its last, ``between``
            the furniture in between.
    """

    places: dict[str, tuple[tuple[str, ...], ...]]

    def run(self, rng: Random) -> tuple[str, list[str]]:
        """A place, uniformly, and a run of one to three consecutive furniture lines of one page there."""
        where = rng.choice(CHROME_PLACES)
        page = rng.choice(self.places[where])
        size = min(len(page), rng.randint(1, 3))
        start = rng.randrange(len(page) - size + 1)
        return where, list(page[start : start + size])


def load_chrome(path: str | Path | None = None, source: str = CHROME_SOURCE) -> ChromeLines:
    """The furniture lines of the real pages of one source, read in place.

    A line of a page's tag-stripped ``text`` (split as the cleaner splits
    it, :func:`benchmarks.train_furniture.paragraphs`) is furniture when it
    is not gold (:func:`benchmarks.train_furniture.line_labels`). The
    benchmark reads the Dragnet pages (:data:`CHROME_SOURCE`): the shipped
    models never learn from them, so its chrome is held out, and their
    licence forbids storing anything derived from them, so the lines are
    drawn at run time and never written to the repository. A corpus that
    fits a shipped model reads the CleanEval pages instead.

    Whitespace runs become one space. A line is left out when it has no
    letter (separators, page numbers, dates in digits: a line of digits
    says nothing about a detector of words) or when it is longer than
    :data:`CHROME_MAX_CHARS` characters: the furniture lines of these pages
    are short (half are under 20 characters; the 90th percentile is 43
    before the first gold line and 75 after the last), and the longer ones
    are mostly reader comments, tweets and spam, which are not page chrome.
    The limit was read off the distribution of lengths and a sample of
    lines by length, not chosen by what dedup scores.

    Args:
        path: The ``pages-dev.jsonl.gz`` file;
            :func:`benchmarks.pages.find_pages_data` when ``None``.
        source: One of :data:`CHROME_SOURCES`.

    Raises:
        FileNotFoundError: No page data was given or found; the message
            names the paths tried and the variable to set.
        ValueError: An unknown source, or the file has no page of it with
            furniture lines.
    """
    from benchmarks.pages import find_pages_data

    if source not in CHROME_SOURCES:
        raise ValueError(f"chrome source must be one of {CHROME_SOURCES}, got {source!r}")
    try:
        resolved = Path(path) if path is not None else find_pages_data()
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"the synthetic corpus draws its page chrome from the {source} pages of the real-page data: {exc}"
        ) from exc
    return _load_chrome(str(resolved.resolve()), source)


@lru_cache(maxsize=4)
def _load_chrome(path: str, source: str) -> ChromeLines:
    # Imported here: both modules import this one.
    from benchmarks.pages import load_pages
    from benchmarks.train_furniture import line_labels, paragraphs

    places: dict[str, list[tuple[str, ...]]] = {where: [] for where in CHROME_PLACES}
    pages = sorted((p for p in load_pages(path) if p.source == source), key=lambda p: p.id)
    for page in pages:
        lines = paragraphs(page.text)
        labels = line_labels(lines, page.gold)
        gold = [i for i, label in enumerate(labels) if label == 0]
        if not gold:
            continue
        found: dict[str, list[str]] = {where: [] for where in CHROME_PLACES}
        for i, (line, label) in enumerate(zip(lines, labels, strict=True)):
            text = normalise_space(line)
            if label == 0 or len(text) > CHROME_MAX_CHARS or not any(c.isalpha() for c in text):
                continue
            where = "top" if i < gold[0] else "bottom" if i > gold[-1] else "between"
            found[where].append(text)
        for where, texts in found.items():
            if texts:
                places[where].append(tuple(texts))
    if not all(places.values()):
        raise ValueError(f"{path}: no {source} page has furniture lines to draw page chrome from")
    return ChromeLines({where: tuple(runs) for where, runs in places.items()})


# --------------------------------------------------------------------------
# Documents


Origin = tuple[str, int]
"""Where a line's text comes from: a source article id and paragraph index."""


@dataclass
class Sample:
    """One document of the damaged corpus and its ground truth.

    Attributes:
        doc: ``{"id", "text", "category"}``, the cleaner's input; ``text``
            is one paragraph per line, no empty line, no final newline.
        paragraph_labels: One label per line of ``text`` (see :data:`LABELS`).
        expected_text: The ``article`` lines joined with ``"\\n"``, or
            ``None`` when the whole document should be dropped.
        damage: Damage tags for reporting, ``["clean"]`` when undamaged.
        expected_drop: ``"duplicate_document"`` for a syndicated copy.
        duplicate_of: The id of the document a syndicated copy repeats.
        source_id: The source article the document is built from.
        origins: Per line, the source paragraph its text derives from
            (``None`` for generated captions and chrome, and for headlines).
        partner: For a story pair, the other report's document id.
    """

    doc: dict[str, str]
    paragraph_labels: list[str]
    expected_text: str | None
    damage: list[str]
    expected_drop: str | None = None
    duplicate_of: str | None = None
    source_id: str = ""
    origins: list[Origin | None] = field(default_factory=list)
    partner: str | None = None

    @property
    def id(self) -> str:
        return self.doc["id"]

    @property
    def lines(self) -> list[str]:
        return self.doc["text"].split("\n")


@dataclass
class _Line:
    text: str
    label: str
    origin: Origin | None = None


@dataclass
class _Plan:
    """A document to build: its article and the damage to apply."""

    article: Article
    damage: list[str]
    original: _Plan | None = None  # set for a syndicated copy
    partner: _Plan | None = None  # set on both reports of a story pair
    borrows: bool = False  # the story-pair report that takes the partner's paragraphs
    doc_id: str = ""
    body: list[_Line] = field(default_factory=list)


def _article_lines(article: Article) -> list[_Line]:
    return [_Line(p, "article", (article.id, i)) for i, p in enumerate(article.paragraphs)]


def _edit_lines(lines: list[_Line], rng: Random, share: float, label: str) -> list[_Line]:
    """Copies of ``lines``, each edited with probability ``share`` (at least one)."""
    chosen = {i for i in range(len(lines)) if rng.random() < share} or {rng.randrange(len(lines))}
    copies = []
    for i, line in enumerate(lines):
        if i in chosen:
            copies.append(_Line(light_edit(line.text, rng, rng.randint(1, 2)), label, line.origin))
        else:
            # An unedited paragraph of an edited double is an exact repeat.
            exact = "repeat_exact" if label == "repeat_edited" else label
            copies.append(_Line(line.text, exact, line.origin))
    return copies


def _double(body: list[_Line], rng: Random, edited: bool) -> list[_Line]:
    # Real double scrapes often repeat everything but the lead.
    start = 1 if len(body) > 2 and rng.random() < 0.5 else 0
    copy = body[start:]
    if edited:
        return body + _edit_lines(copy, rng, 0.5, "repeat_edited")
    return body + [_Line(line.text, "repeat_exact", line.origin) for line in copy]


def _block_repeat(body: list[_Line], rng: Random) -> list[_Line]:
    size = min(rng.randint(2, 3), len(body) - 1)
    start = rng.randrange(0, len(body) - size + 1)
    block = body[start : start + size]
    if rng.random() < 0.5:
        copy = [_Line(line.text, "repeat_block", line.origin) for line in block]
    else:
        copy = _edit_lines(block, rng, 0.6, "repeat_block")
    at = rng.randint(start + size, len(body))
    return body[:at] + copy + body[at:]


def _insert_captions(body: list[_Line], host: Article, rng: Random) -> list[_Line]:
    body = list(body)
    for _ in range(1 if rng.random() < 0.7 else 2):
        after = [i for i, line in enumerate(body) if line.label == "article"]
        at = rng.choice(after) + 1
        body.insert(at, _Line(_caption(host, rng), "caption"))
    return body


class _Builder:
    """Builds documents for one split; randomness comes from ``rng``, and from two streams seeded
    with ``seed`` for captions and chrome."""

    def __init__(self, articles: Sequence[Article], rng: Random, seed: int, chrome: ChromeLines | None) -> None:
        self.articles = list(articles)
        self.rng = rng
        # Captions and chrome have random streams of their own: how they are made (and, for the
        # chrome, how many draws a pick from the pages file takes) must not move the rest of the
        # corpus.
        self.caption_rng = Random(f"caption-{seed}")
        self.chrome_rng = Random(f"chrome-{seed}")
        self.chrome = chrome
        self.by_category: dict[str, list[Article]] = defaultdict(list)
        for article in self.articles:
            self.by_category[article.category].append(article)

    def donors(self, host: _Plan, same: bool, count: int) -> list[Article]:
        excluded = {host.article.id}
        if host.partner is not None:
            excluded.add(host.partner.article.id)
        if same:
            pool = [a for a in self.by_category[host.article.category] if a.id not in excluded]
        else:
            pool = [a for a in self.articles if a.category != host.article.category]
        return self.rng.sample(pool, min(count, len(pool)))

    def build(self, plan: _Plan) -> Sample:
        rng = self.rng
        host = plan.article
        if plan.original is not None:
            body = self.syndicated_body(plan)
        elif plan.borrows:
            body = self.borrowing_body(plan)
        else:
            body = _article_lines(host)
        if "doubled_exact" in plan.damage:
            body = _double(body, rng, edited=False)
        if "doubled_edited" in plan.damage:
            body = _double(body, rng, edited=True)
        if "block_repeat" in plan.damage:
            body = _block_repeat(body, rng)
        if "caption" in plan.damage:
            body = _insert_captions(body, host, self.caption_rng)
        tail: list[_Line] = []
        for tag, label in (("teasers_other", "teaser_other"), ("teasers_same", "teaser_same")):
            if tag in plan.damage:
                for donor in self.donors(plan, same=tag == "teasers_same", count=rng.randint(1, 5)):
                    tail.append(_Line(_teaser(donor, rng), label, (donor.id, 0)))
        head: list[_Line] = []
        foot: list[_Line] = []
        if "chrome" in plan.damage:
            if self.chrome is None:
                raise ValueError(f"{plan.doc_id}: chrome damage needs the page chrome lines")
            chrome_rng = self.chrome_rng
            for _ in range(chrome_rng.randint(1, 3)):
                where, texts = self.chrome.run(chrome_rng)
                lines = [_Line(text, "chrome") for text in texts]
                if where == "top":
                    head.extend(lines)
                elif where == "bottom":
                    foot.extend(lines)
                else:
                    at = chrome_rng.randint(1, len(body) - 1) if len(body) > 1 else len(body)
                    body[at:at] = lines
        lines = head + body + tail + foot
        text = "\n".join(line.text for line in lines)
        article_text = "\n".join(line.text for line in lines if line.label == "article")
        sample = Sample(
            doc={"id": plan.doc_id, "text": text, "category": host.category},
            paragraph_labels=[line.label for line in lines],
            expected_text=article_text,
            damage=list(plan.damage),
            source_id=host.id,
            origins=[line.origin for line in lines],
            partner=plan.partner.doc_id if plan.partner is not None else None,
        )
        if plan.original is not None:
            sample.expected_text = None
            sample.expected_drop = "duplicate_document"
            sample.duplicate_of = plan.original.doc_id
        return sample

    def syndicated_body(self, plan: _Plan) -> list[_Line]:
        rng = self.rng
        body = _article_lines(plan.article)
        # A copy may lose a paragraph, but never so much that it stops being a copy.
        total = sum(len(line.text) for line in body)
        small = [i for i in range(1, len(body)) if len(body[i].text) <= 0.2 * total]
        if len(body) >= 4 and small and rng.random() < 0.3:
            del body[rng.choice(small)]
        chosen = rng.sample(range(len(body)), min(len(body), rng.randint(1, 3)))
        for i in chosen:
            body[i] = _Line(light_edit(body[i].text, rng, rng.randint(1, 2)), "article", body[i].origin)
        if rng.random() < 0.3:
            body[0] = _Line(rng.choice(_DATELINES) + body[0].text, "article", body[0].origin)
        return body

    def borrowing_body(self, plan: _Plan) -> list[_Line]:
        rng = self.rng
        if plan.partner is None:
            raise ValueError(f"{plan.article.id}: a borrowing report needs a partner")
        donor = plan.partner.article
        body = _article_lines(plan.article)
        eligible = [i for i, p in enumerate(donor.paragraphs) if len(p) >= 100]
        eligible = eligible or list(range(len(donor.paragraphs)))
        picks = sorted(rng.sample(eligible, min(len(eligible), rng.randint(1, 3))))
        # Insert in the donor's order, each after a line of this report past
        # its lead, so the borrowed text sits inside the article.
        slots = sorted(rng.randint(1, len(body)) for _ in picks)
        if len(body) > 1 and all(slot == len(body) for slot in slots):
            slots[0] = rng.randint(1, len(body) - 1)
        for offset, (slot, index) in enumerate(zip(slots, picks, strict=True)):
            edited = light_edit(donor.paragraphs[index], rng, rng.randint(1, 3), substantive=True)
            body.insert(slot + offset, _Line(edited, "article", (donor.id, index)))
        return body


def _nearest_same_category(
    articles: Sequence[Article], anchor: Article, available: set[str], vectors: Any, index: dict[str, int]
) -> Article | None:
    candidates = [
        a for a in articles if a.category == anchor.category and a.id in available and a.id != anchor.id
    ]
    if not candidates:
        return None
    row = vectors[index[anchor.id]]
    scores = (vectors[[index[a.id] for a in candidates]] @ row.T).toarray().ravel()
    best = max(range(len(candidates)), key=lambda i: (scores[i], candidates[i].id))
    return candidates[best]


@lru_cache(maxsize=4)
def _tfidf(articles: tuple[Article, ...]) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=1)
    return vectorizer.fit_transform([f"{a.title}\n{a.text}" for a in articles])


def _composition(n_docs: int) -> tuple[int, int, int, int]:
    """``(clean, damaged, pairs, copies)`` for a corpus of ``n_docs``."""
    copies = round(n_docs * COPY_SHARE)
    pairs = round(n_docs * PAIR_SHARE / 2)
    clean = round(n_docs * CLEAN_SHARE)
    damaged = n_docs - copies - 2 * pairs - clean
    if damaged < 0:
        raise ValueError(f"n_docs={n_docs} is too small for a corpus")
    return clean, damaged, pairs, copies


def _second_damage(first: str, kinds: Sequence[str], rng: Random) -> str | None:
    if rng.random() >= SECOND_DAMAGE_SHARE:
        return None
    options = [
        tag for tag in kinds if tag != first and not any({first, tag} <= pair for pair in _EXCLUSIVE)
    ]
    return rng.choice(options)


def _at_least(count: int) -> Callable[[Article], bool]:
    return lambda article: len(article.paragraphs) >= count


def _ordered(tags: set[str] | list[str]) -> list[str]:
    return [tag for tag in DAMAGE_TAGS if tag in tags]


def build_corpus(
    split: str = "test",
    seed: int = 0,
    n_docs: int | None = None,
    path: str | Path | None = None,
    *,
    pages_path: str | Path | None = None,
    chrome: bool = True,
    chrome_source: str = CHROME_SOURCE,
) -> list[Sample]:
    """Build the damaged corpus from one split.

    The result depends only on the arguments (and the data files): the
    randomness comes from ``random.Random(seed)``, the captions' from
    ``random.Random(f"caption-{seed}")`` and the page chrome's from
    ``random.Random(f"chrome-{seed}")``, so that another version of the
    page data, or another way of making captions, changes those lines and
    nothing else.

    Args:
        split: ``"train"`` or ``"test"``.
        seed: The random seed.
        n_docs: Number of documents; :data:`DEFAULT_N_DOCS` (or as many as
            the split allows, if fewer) when ``None``.
        path: The data file; :func:`find_bbc_data` when ``None``.
        pages_path: The real-page data the page chrome is drawn from
            (:func:`load_chrome`); found as
            :func:`benchmarks.pages.find_pages_data` finds it when ``None``.
        chrome: ``False`` leaves the ``chrome`` damage out, and the page
            data unread: a different corpus, for checks of the rest of the
            generator on a machine without the page data. The benchmark
            always has it.
        chrome_source: The pages the chrome comes from (see
            :func:`load_chrome`): ``"dragnet"`` for the benchmark,
            ``"cleaneval"`` for a corpus that fits a shipped model.

    Returns:
        The samples in corpus order. About 30 % are clean, 5 % are
        syndicated copies of earlier documents, 6 % form story pairs and the
        rest carry one or two kinds of damage.

    Raises:
        ValueError: Unknown split, or more documents asked for than the
            split has articles for.
        FileNotFoundError: No BBC data file, or (with ``chrome``) no page
            data file: there is no fallback to phrase lists.

    Example:
        >>> samples = build_corpus("test", seed=0, n_docs=50)  # doctest: +SKIP
        >>> samples[0].doc.keys()  # doctest: +SKIP
        dict_keys(['id', 'text', 'category'])
    """
    source = load_articles(path)
    articles = source.split(split)
    chrome_lines = load_chrome(pages_path, chrome_source) if chrome else None
    kinds = SINGLE_DAMAGE if chrome else tuple(tag for tag in SINGLE_DAMAGE if tag != "chrome")
    if n_docs is None:
        n_docs = min(DEFAULT_N_DOCS, int(len(articles) / (1 - COPY_SHARE)))
    clean, damaged, pairs, copies = _composition(n_docs)
    if clean + damaged + 2 * pairs > len(articles):
        raise ValueError(
            f"n_docs={n_docs} needs {clean + damaged + 2 * pairs} distinct articles but the {split} split "
            f"has {len(articles)}; use several seeds for more data"
        )
    rng = Random(seed)
    pool = list(articles)
    rng.shuffle(pool)
    available = {a.id for a in pool}

    def take(accept: Callable[[Article], bool] = lambda a: True) -> Article:
        for article in pool:
            if article.id in available and accept(article):
                available.discard(article.id)
                return article
        for article in pool:  # nothing fits: take any article left
            if article.id in available:
                available.discard(article.id)
                return article
        raise ValueError("ran out of articles")

    # Story pairs first, while every article is still free to be a partner.
    vectors = _tfidf(articles)
    index = {a.id: i for i, a in enumerate(articles)}
    pair_plans: list[_Plan] = []
    for _ in range(pairs):
        anchor = take(lambda a: len(a.paragraphs) >= 3 and any(len(p) >= 100 for p in a.paragraphs))
        other = _nearest_same_category(articles, anchor, available, vectors, index)
        if other is None:
            available.add(anchor.id)
            break
        available.discard(other.id)
        first = _Plan(anchor, ["story_pair"])
        second = _Plan(other, ["story_pair"], borrows=True)
        first.partner, second.partner = second, first
        pair_plans += [first, second]

    plans: list[_Plan] = [_Plan(take(), ["clean"]) for _ in range(clean)]
    for i in range(damaged):
        # Round robin over the kinds so that every kind is present even in a
        # small corpus; the second kind is random.
        first_tag = kinds[i % len(kinds)]
        tags = {first_tag}
        second_tag = _second_damage(first_tag, kinds, rng)
        if second_tag:
            tags.add(second_tag)
        article = take(_at_least(3 if "block_repeat" in tags else 2))
        plans.append(_Plan(article, _ordered(tags)))
    rng.shuffle(plans)
    for plan in pair_plans:
        plans.insert(rng.randint(0, len(plans)), plan)

    # A syndicated copy comes after its original, anywhere later.
    candidates = [p for p in plans if p.partner is None and len(p.article.paragraphs) >= 3]
    for original in rng.sample(candidates, min(copies, len(candidates))):
        extra = [rng.choice(("caption", "chrome") if chrome else ("caption",))] if rng.random() < 0.3 else []
        copy = _Plan(original.article, _ordered({"syndicated_copy", *extra}), original=original)
        position = plans.index(original)
        plans.insert(rng.randint(position + 1, len(plans)), copy)

    for number, plan in enumerate(plans):
        plan.doc_id = f"doc-{number:05d}"
    builder = _Builder(articles, rng, seed, chrome_lines)
    return [builder.build(plan) for plan in plans]


def composition(samples: Sequence[Sample]) -> dict[str, Any]:
    """Counts describing a corpus: documents, damage tags, line labels.

    Args:
        samples: A corpus from :func:`build_corpus`.

    Returns:
        ``{"documents", "expected_drops", "damage", "damage_mixes", "labels",
        "lines"}``; ``damage`` counts documents per tag, ``damage_mixes``
        per combination of tags, ``labels`` counts lines per label.
    """
    damage = Counter(tag for s in samples for tag in s.damage)
    mixes = Counter("+".join(s.damage) for s in samples)
    labels = Counter(label for s in samples for label in s.paragraph_labels)
    return {
        "documents": len(samples),
        "expected_drops": sum(s.expected_drop is not None for s in samples),
        "damage": {tag: damage[tag] for tag in DAMAGE_TAGS},
        "damage_mixes": dict(mixes.most_common()),
        "labels": {label: labels[label] for label in LABELS},
        "lines": sum(labels.values()),
    }


def format_source_report(report: dict[str, int]) -> str:
    """The source-cleaning counts as printable lines."""
    rows = (
        ("articles read", "articles_read"),
        ("paragraphs read", "paragraphs_read"),
        ("paragraphs with line breaks (joined)", "paragraphs_with_line_breaks"),
        ("repeated articles dropped", "repeated_articles"),
        ("near-duplicate articles dropped", "near_duplicate_articles"),
        (f"paragraphs under {MIN_PARAGRAPH_CHARS} chars dropped", "short_paragraphs"),
        ("within-article repeated paragraphs dropped", "within_article_repeats"),
        ("cross-article paragraphs dropped", "cross_article_paragraphs"),
        ("  distinct cross-article texts", "cross_article_texts"),
        ("articles left with < 2 paragraphs dropped", "too_short_articles"),
        ("articles kept", "articles_kept"),
        ("paragraphs kept", "paragraphs_kept"),
        ("  train split articles", "train_articles"),
        ("  test split articles", "test_articles"),
    )
    return "\n".join(f"  {name:<45} {report.get(key, 0):>6}" for name, key in rows)


def format_composition(counts: dict[str, Any]) -> str:
    """A corpus composition as printable lines."""
    n = counts["documents"] or 1
    lines = [f"  documents {counts['documents']}, expected drops {counts['expected_drops']}"]
    lines.append("  damage tags (documents):")
    for tag, count in counts["damage"].items():
        lines.append(f"    {tag:<18} {count:>6}  {100 * count / n:5.1f} %")
    mixes = ", ".join(f"{mix} {count}" for mix, count in counts["damage_mixes"].items())
    lines.append(textwrap.fill(mixes, 100, initial_indent="  damage mixes: ", subsequent_indent="    "))
    lines.append(f"  line labels ({counts['lines']} lines):")
    lines += [f"    {label:<18} {count:>6}" for label, count in counts["labels"].items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the source cleaning, the corpus composition and a few documents."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--split", choices=SPLITS, default="test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-docs", type=int, default=None)
    parser.add_argument("--show", type=int, default=0, metavar="N", help="print N labelled documents")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    source = load_articles()
    print("Source cleaning:")
    print(format_source_report(source.report))
    try:
        samples = build_corpus(args.split, args.seed, args.n_docs)
    except ValueError as exc:
        parser.error(str(exc))
    print(f"Corpus ({args.split} split, seed {args.seed}), built in {time.perf_counter() - started:.2f} s:")
    print(format_composition(composition(samples)))
    for sample in Random(args.seed).sample(samples, min(args.show, len(samples))):
        print(f"\n== {sample.id} {sample.damage} source={sample.source_id} drop={sample.expected_drop}")
        for label, line in zip(sample.paragraph_labels, sample.lines, strict=True):
            print(f"  [{label:>13}] {line[:150]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
