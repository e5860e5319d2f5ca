"""The article region: where a page's main text stands, from the text alone.

A tag-stripped page is its article with furniture around it: menus and
breadcrumbs before it, link lists, share widgets, comment forms and
footers after it. The article is prose; most furniture is not. This module
finds the page's blocks of prose and says which paragraphs stand outside
the heaviest of them; :func:`dedup.decide.region_decisions` removes those
as ``furniture``.

The rule, in four steps:

1. **Weights.** A paragraph of prose weighs its width in columns (its
   length in characters, an East Asian wide character counting two); a
   paragraph of fewer than :data:`MIN_WORDS` words (a menu item, a label,
   a date, a name) costs :data:`SHORT_COST`, unless it ends with a colon
   and so introduces what follows; any other paragraph (a list item, a
   headline, a table row, a rule: words, or no text at all, but not
   prose) weighs nothing. Prose is a paragraph of at least
   :data:`MIN_WORDS` words of which at least :data:`STOP_DENSITY` are
   function words (:data:`dedup.words.STOP_WORDS`, jusText's stop-word
   density), or, in any language or script, a paragraph of at least
   :data:`SENTENCE_CHARS` columns that ends like a sentence. After the
   start of the heaviest block, a headline is not prose
   (:func:`article_weights`; :func:`is_headline`: a line of
   :data:`MIN_WORDS` words or more that does not end like a sentence,
   whose words, short function words aside, are capitalised at least
   :data:`HEADLINE_SHARE` of them, :data:`HEADLINE_WORDS` at least): a
   list of other stories' headlines reads as prose by its function words,
   and would hold the region open after the article.
2. **Blocks.** The blocks are the page's maximal-scoring segments (Ruzzo
   and Tompa, 1999): stretches whose summed weight no extension or trim
   increases. A subheading, a caption or a one-line quote inside the
   article costs less than the prose around it, so it stays inside the
   article's block; thirty menu items between the article and the comments
   split them into two blocks.
3. **Region.** The blocks weighing at least :data:`BLOCK_SHARE` of the
   heaviest, and up to the heaviest those of :data:`BLOCK_CHARS` (a
   paragraph of some length: a short article above a long comment thread;
   pages put the article before the comments, so a comment of that length
   after the heaviest block is not enough), with the paragraphs
   of words that adjoin them, across single labels (a list the article
   introduces, a table, a letter's closing lines), :data:`LINES_BEFORE`
   paragraphs before (a headline, a byline, a date) and
   :data:`LINES_AFTER` after (a sign-off). Everything between the first
   and the last of them is the article's too: a long list in the middle of
   an article looks like a menu, but it has article on both sides. A page
   that ends within :data:`TAIL_LINES` paragraphs of its region ends with
   its article: that tail (a list of fixtures or results, a signature) is
   the article's; page footers run longer.

4. **Reader comments.** A short line that opens a comment thread ("12
   Comments", "Leave a Reply", "Post a comment", "Comments (3):"; only a
   count may follow other words, "Search 340 Comments") after
   at least :data:`COMMENTS_AFTER` of the page's prose (and
   :data:`COMMENTS_MIN_BEFORE` columns of it) starts the page's comments:
   it and everything after it stand outside the article
   (:func:`comments_start`). Reader comments are not the article, but they
   are prose, so the blocks alone keep them. The line must come after most
   of the prose (counting paragraphs of prose at least a sentence wide,
   :data:`SENTENCE_CHARS`, not the headlines of related stories): "45
   comments posted" under a headline, or "Add a comment" above the
   article, opens nothing. A thread longer than its article puts most of
   the prose after the line; the line opens it all the same, after
   :data:`THREAD_MIN_BEFORE` columns of prose (a short post over a long
   thread), when a thread's form follows it (:func:`thread_follows`): within
   :data:`THREAD_LINES` paragraphs, :data:`THREAD_STAMPS` short lines or
   more that stamp a comment (a time of day, a "Reply" or "Permalink"
   link, "Jo says:"), the first of them within :data:`THREAD_FIRST` paragraphs of
   the line, with a comment for every :data:`THREAD_STAMPS_PER_COMMENT`
   stamps: a paragraph of prose a sentence wide, or a shorter one that
   ends like a sentence (a list of other stories stamped with their
   times has none). A count of none
   ("Comments (0)", "No responses") opens nothing, nor does a count that
   recurs in the same form after more prose (each post of a blog's front
   page ends with its own "N Comments"; the counts of related stories
   under a thread have another form). A bare heading ("Comments",
   "Responses:", :data:`THREAD_HEADING`) is a menu's link as often as a
   thread's title: it opens the comments only that way, wherever it
   stands; so does a
   line with a count of more than :data:`COMMENTS_MAX_WORDS` words, up to
   :data:`THREAD_OPENING_WORDS` ("{ 87 comments… read them below or add
   one }", which may also be a post's byline). The phrases are English.
   The paragraphs go after the topic stage has read the page, as
   :func:`dedup.decide.comments_decisions`.

A paragraph outside the region scores ``1 - w / heaviest``, where ``w`` is
the weight of the block it stands in (``0`` when it stands in none), so
every paragraph outside scores above :data:`OUTSIDE` (``1 - BLOCK_SHARE``) and every
paragraph of the heaviest block 0 (the score is a distance, not a
probability). A page whose heaviest block weighs less than
:data:`BLOCK_CHARS` (a list, a note, a poem of short lines, a language
whose function words are not listed) has no article to tell apart and
keeps every paragraph; the blocks' rule always keeps the heaviest block,
and the comments step leaves at least :data:`THREAD_MIN_BEFORE` columns
of prose before the comments (and half of the page's prose and 500
columns, unless a stamped thread follows the opening line), so neither
empties a page.

The constants were chosen on the real-page benchmark (``benchmarks/pages.py``)
by running the rule alone on both sources and inputs: each step that bought
precision on tag-stripped pages at the price of more pages lost was not
taken (``benchmarks/README.md`` gives the trade-off around them). The BBC
benchmark was not consulted for the first three steps; the comments
step's phrases and share were read off both sources of real pages inside
the cleaner, and checked on the BBC benchmark ("Reader comments" in
``benchmarks/README.md``), one page traded for 0.025 of F1.

Example:
    >>> menu = ["Home", "News", "Sport", "Weather", "Contact us"]
    >>> article = ["The council approved the budget on Monday after a long debate that ended in a narrow vote.",
    ...            "Members of the opposition said that the cuts to the library service were a mistake."]
    >>> footer = [f"Related link {n}" for n in range(20)]
    >>> outside = outside_scores(prose_weights(menu + article + footer)) > OUTSIDE
    >>> outside[:8].astype(int).tolist(), int(outside[8:].sum())
    ([1, 1, 0, 0, 0, 0, 0, 0], 19)
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from dedup.split import columns
from dedup.words import STOP_WORDS, ascii_punctuation_to_spaces

__all__ = [
    "BLOCK_CHARS",
    "BLOCK_SHARE",
    "COMMENTS_AFTER",
    "COMMENTS_MIN_BEFORE",
    "COMMENTS_OPENING",
    "HEADLINE_SHARE",
    "HEADLINE_WORDS",
    "LINES_AFTER",
    "LINES_BEFORE",
    "MIN_WORDS",
    "OUTSIDE",
    "RULE_VERSION",
    "SENTENCE_CHARS",
    "SHORT_COST",
    "STOP_DENSITY",
    "TAIL_LINES",
    "THREAD_FIRST",
    "THREAD_HEADING",
    "THREAD_LINES",
    "THREAD_MIN_BEFORE",
    "THREAD_OPENING_WORDS",
    "THREAD_STAMPS",
    "THREAD_STAMPS_PER_COMMENT",
    "article_weights",
    "comments_start",
    "is_headline",
    "maximal_segments",
    "outside_scores",
    "prose_weights",
    "thread_follows",
]

#: Changes whenever the rule or a constant below changes (it is part of an index's fingerprint).
RULE_VERSION = 11

MIN_WORDS = 4  # fewer words: a label, a menu item, a name
STOP_DENSITY = 0.2  # share of function words from which a line reads as prose
SENTENCE_CHARS = 80  # a line this wide that ends like a sentence is prose in any language
SHORT_COST = 30.0  # what a paragraph that is not prose costs a block, in characters of prose
BLOCK_SHARE = 0.1  # blocks at least this share of the heaviest are the article's
BLOCK_CHARS = 150.0  # and, up to the heaviest, blocks of at least this weight
#: A paragraph scoring above this (:func:`outside_scores`) stands outside the region.
OUTSIDE = 1.0 - BLOCK_SHARE
LINES_BEFORE = 3  # headline, byline, date
LINES_AFTER = 1  # a closing credit or sign-off
TAIL_LINES = 15  # a page ending this close to its region ends with the article
#: A line that opens reader comments: a count of them, an invitation to write one, a heading.
COMMENTS_OPENING = re.compile(
    r"(?<!\S)\d+\s+(?:comments?|responses?|replies)\b"  # "12 Comments", "Search 340 Comments", "100 of 545 comments"
    r"|^\s*(?:(?:leave|post|add|write|submit)\s+(?:a\s+|your\s+|new\s+)*(?:comment|reply|response)\b"
    r"|(?:reader|user|your)\s+(?:comments?|responses?)(?:\s*\(\d+\))?(?:\s*:)?\s*$"
    r"|(?:comments?|responses?)\s*\(\d+\)(?:\s*:)?\s*$"
    r"|no\s+(?:comments|responses)\b)",
    re.IGNORECASE,
)
#: A bare heading ("Comments", "Responses:"): a menu's link as often as a thread's title, so it opens
#: the comments only when a thread's form follows it.
THREAD_HEADING = re.compile(r"^\s*(?:comments?|responses?)\s*:?\s*$", re.IGNORECASE)
_COUNT = re.compile(r"\d")
_DIGITS = re.compile(r"\d+")
_NONE = re.compile(r"(?<![\d,.])0\b|^\s*no\b", re.IGNORECASE)
COMMENTS_MAX_WORDS = 7  # an opening line is a heading, not a sentence that mentions comments
#: A longer line ("{ 87 comments… read them below or add one }") may also be a post's byline ("Posted
#: on: 08-17-2012 With: 1 Comment Posted by: Bob"): up to this many words, it opens only a stamped thread.
THREAD_OPENING_WORDS = 12
_OPENING_CHARS = 200  # longer lines are not looked at (twelve words, and spaces around them)
COMMENTS_AFTER = 0.5  # share of the page's prose that must stand before the comments open
COMMENTS_MIN_BEFORE = 500.0  # and at least this much prose, in columns
#: A short line that stamps a comment: a time of day ("10:19 PM", "22:05", "@11:37AM"), a reply or
#: permalink link, a commenter's byline ("Courtney says:", "by jo (1287218) writes:").
_STAMP = re.compile(
    r"(?<!\d)\d{1,2}:\d{2}(?!\d)|\b(?:reply|permalink)\b|\b(?:says|said|writes|wrote)\s*:", re.IGNORECASE
)
_STAMP_WORDS = 16  # a stamp is a byline or a link, not a sentence (Slashdot's bylines run to 14 words)
THREAD_LINES = 40  # paragraphs after an opening line read for a thread's form
THREAD_STAMPS = 3  # stamps among them that make a thread
THREAD_FIRST = 8  # the first stamp comes within this many paragraphs of the line (it may end a comment)
THREAD_STAMPS_PER_COMMENT = 3  # a byline, a time and a "Reply" link may each stamp one comment
THREAD_MIN_BEFORE = 300.0  # prose, in columns, above a thread's opening line: a short post over a long thread

_TERMINAL = frozenset(".!?…\"”’'»)。！？")
_CLOSING = ")\"”’'»"  # what may close a sentence after its full stop ("(as he said.)")
#: Words a title leaves in lower case ("Man Bites Dog in the Park").
_MINOR = frozenset(
    {"a", "an", "the", "and", "or", "of", "in", "on", "to", "for", "with", "at", "by", "from", "as", "is", "vs"}
)
_MINOR_CHARS = max(map(len, _MINOR))
HEADLINE_SHARE = 0.8  # capitalised share of a headline's other words
HEADLINE_WORDS = 3  # other words a line needs to be told a headline


def is_headline(text: str) -> bool:
    """Whether a line is a headline: title case, and no sentence's end.

    Example:
        >>> is_headline("How to Film a Car Chase with No Safety Considerations (and Fast Resets)")
        True
        >>> is_headline("The Council Met on Monday and Approved the Budget.")  # ends like a sentence
        False
        >>> is_headline("Council approves budget after long debate")  # a sentence-case headline: words
        False
    """
    stripped = text.strip()
    end = stripped.rstrip(_CLOSING)
    if not end or end[-1] in _TERMINAL:
        return False
    tokens = stripped.split()
    capitalised = other = 0
    for n, word in enumerate(tokens):
        if len(word) <= _MINOR_CHARS and word.lower() in _MINOR:
            continue
        if word[0].isupper():
            capitalised += 1
        elif word[0].isalpha() or any(c.isalpha() for c in word):  # "word", "(and", "“We": not capitalised
            other += 1
            best = capitalised + len(tokens) - n - 1  # every word left capitalised
            if best < HEADLINE_SHARE * (best + other):  # and still too few: a sentence
                return False
    return capitalised + other >= HEADLINE_WORDS and capitalised >= HEADLINE_SHARE * (capitalised + other)


def prose_weights(paragraphs: Sequence[str]) -> np.ndarray:
    """Each paragraph's weight: its length when it is prose, ``-SHORT_COST`` when it is short, else 0.

    :func:`article_weights` then takes the weight of headlines after the
    article's start.

    Example:
        >>> prose_weights(["Home | News", "Austin, TX - The Alamo Drafthouse South Lamar",
        ...                "It was the best of times, it was the worst of times."]).tolist()
        [-30.0, 0.0, 52.0]
    """
    out = np.zeros(len(paragraphs))
    for i, text in enumerate(paragraphs):
        stripped = text.strip()
        width = columns(stripped)
        if width >= SENTENCE_CHARS and stripped[-1] in _TERMINAL:
            out[i] = width
            continue
        words = ascii_punctuation_to_spaces(text.lower()).split()
        if not words:
            continue  # a rule or a table's separator row ("|---|---|"): no text either way
        if len(words) < MIN_WORDS:
            if stripped[-1] not in ":：":  # a label that introduces what follows ("Upcoming screenings:")
                out[i] = -SHORT_COST
        elif sum(map(STOP_WORDS.__contains__, words)) >= STOP_DENSITY * len(words):
            out[i] = width
    return out


def article_weights(paragraphs: Sequence[str]) -> np.ndarray:
    """The paragraphs' weights in the region: :func:`prose_weights`, but no headline after the article's start.

    A paragraph of prose after the start of the heaviest block that is a
    headline (:func:`is_headline`, :data:`MIN_WORDS` words or more) weighs
    nothing: a list of other stories' headlines after the article reads as
    prose by its function words, and would make a block of its own. Before
    the article, headlines keep their weight: the article's own headline,
    and the sidebars above it, are placed as they were.

    Example:
        >>> article = ["It was the best of times, it was the worst of times, and the council met on Monday."] * 3
        >>> page = ["Home", "News", *article, "Share", "Most read", "Man Bites Dog in the Park"]
        >>> prose_weights(page)[-1].item(), article_weights(page)[-1].item()
        (25.0, 0.0)
    """
    weights = prose_weights(paragraphs)
    if not (weights < 0).any():
        return weights  # no label anywhere: outside_scores keeps every line
    segments = maximal_segments(weights)
    if not segments:
        return weights
    heaviest = max(w for _, _, w in segments)
    start = next(a for a, _, w in segments if w == heaviest)
    for i in range(start + 1, len(paragraphs)):
        text = paragraphs[i]
        if weights[i] > 0 and is_headline(text) and len(ascii_punctuation_to_spaces(text.lower()).split()) >= MIN_WORDS:
            weights[i] = 0.0
    return weights


def maximal_segments(weights: np.ndarray) -> list[tuple[int, int, float]]:
    """The maximal-scoring segments of ``weights``, as ``(start, stop, weight)`` in order.

    Ruzzo and Tompa's linear-time algorithm ("A linear time algorithm for
    finding all maximal scoring subsequences", ISMB 1999): the segments are
    disjoint, each has a positive sum, and none can be extended or trimmed
    to a larger sum. The same segments come from taking the best segment
    and recursing on what lies left and right of it.

    Example:
        >>> maximal_segments(np.array([5.0, -1, 4, -30, 2, -1, -1, 3]))
        [(0, 3, 8.0), (4, 5, 2.0), (7, 8, 3.0)]
    """
    # Each segment: [start, stop, cumulative weight before it, cumulative weight at its end, the
    # nearest segment to its left whose cumulative weight before it is lower]. The last field lets the
    # search skip whole stretches (all nearest smaller values): alternating short prose and labels
    # (a comment thread) would otherwise rescan the list at every line.
    segments: list[list[float]] = []
    total = 0.0
    for i, w in enumerate(weights.tolist()):
        if w <= 0:
            total += w
            continue
        seg = [i, i + 1, total, total + w, -1]
        total += w
        while True:
            j = len(segments) - 1
            while j >= 0 and segments[j][2] >= seg[2]:
                j = int(segments[j][4])
            if j < 0 or segments[j][3] >= seg[3]:
                seg[4] = j
                segments.append(seg)
                break
            seg = [segments[j][0], seg[1], segments[j][2], seg[3], -1]
            del segments[j:]
    return [(int(a), int(b), right - left) for a, b, left, right, _ in segments]


def outside_scores(weights: np.ndarray) -> np.ndarray:
    """How far outside the article region each paragraph stands, in ``[0, 1]``.

    ``0`` inside the heaviest block; ``1 - w / heaviest`` in a block of
    weight ``w``; ``1`` in no block. The region (see the module's rule: the
    blocks of at least :data:`BLOCK_SHARE` of the heaviest, or up to it of
    :data:`BLOCK_CHARS`, what adjoins them, everything between its first
    and last block, and a short tail) scores at most :data:`OUTSIDE`; a
    paragraph is outside it when its score exceeds that. A page without a
    block of :data:`BLOCK_CHARS` scores 0 throughout: it has no article to
    tell apart (a list, a note, a page in a language whose function words
    are not listed), and keeps everything.
    """
    n = len(weights)
    if not (weights < 0).any():
        return np.zeros(n)  # no label anywhere: every line adjoins the prose, so every line is the region's
    segments = maximal_segments(weights)
    heaviest = max((w for _, _, w in segments), default=0.0)
    if heaviest < BLOCK_CHARS:
        return np.zeros(n)
    scores = np.ones(n)
    for start, stop, w in segments:
        scores[start:stop] = 1.0 - w / heaviest
    words = weights >= 0
    heaviest_start = next(start for start, _, w in segments if w == heaviest)
    for start, stop, w in segments:
        if w < (min(BLOCK_SHARE * heaviest, BLOCK_CHARS) if start <= heaviest_start else BLOCK_SHARE * heaviest):
            continue
        # Lines of words that adjoin the block are its, across single labels ("November 15th" in a list
        # of screenings, a table's separator row).
        while start > 0 and (words[start - 1] or (start > 1 and words[start - 2])):
            start -= 1
        while stop < n and (words[stop] or (stop + 1 < n and words[stop + 1])):
            stop += 1
        region = slice(max(0, start - LINES_BEFORE), min(n, stop + LINES_AFTER))
        scores[region] = np.minimum(scores[region], min(1.0 - w / heaviest, OUTSIDE))
    inside = np.flatnonzero(scores <= OUTSIDE)
    first, last = int(inside[0]), int(inside[-1])
    scores[first:last] = np.minimum(scores[first:last], OUTSIDE)  # between the article's blocks: the article's
    if n - 1 - last <= TAIL_LINES:
        scores[last + 1 :] = np.minimum(scores[last + 1 :], OUTSIDE)
    return scores


def comments_start(paragraphs: Sequence[str], weights: np.ndarray) -> int:
    """The index of the line that opens the page's reader comments, or ``len(paragraphs)``.

    ``weights`` are the paragraphs' :func:`prose_weights`. The opening line
    is the first short line (at most :data:`COMMENTS_MAX_WORDS` words)
    matching :data:`COMMENTS_OPENING` with at least :data:`COMMENTS_AFTER`
    of the page's prose, and :data:`COMMENTS_MIN_BEFORE` columns, before it;
    only paragraphs of prose at least :data:`SENTENCE_CHARS` wide count
    (not the headlines of a list of other stories). A line with less of
    the prose before it, but still :data:`THREAD_MIN_BEFORE` columns,
    opens the comments when a thread's form follows it (:func:`thread_follows`): a thread
    longer than its article. A bare heading (:data:`THREAD_HEADING`) or a
    longer line with a count (up to :data:`THREAD_OPENING_WORDS` words)
    opens the comments only that way.

    Example:
        >>> article = ["It was the best of times, it was the worst of times, and the council met on Monday." * 4] * 3
        >>> comments = ["3 Comments", "Posted by jo at 10:15", "I could not agree more with every word of this."]
        >>> page = ["Add a comment", *article, *comments]
        >>> comments_start(page, prose_weights(page))
        4
    """
    openings = [
        i
        for i, text in enumerate(paragraphs)
        if len(text) <= _OPENING_CHARS
        and (COMMENTS_OPENING.search(text) or THREAD_HEADING.match(text))
        and len(text.split()) <= THREAD_OPENING_WORDS
    ]
    if not openings:
        return len(paragraphs)  # most pages
    # Paragraphs of prose at least a sentence wide: a list of other stories' headlines reads as prose
    # by its function words, and would tip the share towards the end of the page.
    prose = np.where(weights >= SENTENCE_CHARS, weights, 0.0)
    before = np.concatenate(([0.0], np.cumsum(prose)[:-1]))
    need = max(COMMENTS_MIN_BEFORE, COMMENTS_AFTER * float(prose.sum()))
    # A count's form is its line with the digits masked ("0 comments"); where each form stands, in prose.
    forms = {i: _DIGITS.sub("0", paragraphs[i].strip().lower()) for i in openings if _COUNT.search(paragraphs[i])}
    where: dict[str, list[float]] = {}
    for i, form in forms.items():
        where.setdefault(form, []).append(before[i])
    for i in openings:
        if THREAD_HEADING.match(paragraphs[i]) or len(paragraphs[i].split()) > COMMENTS_MAX_WORDS:
            # A bare heading, or a long line: only a stamped thread after it makes it the thread's opening.
            if before[i] < THREAD_MIN_BEFORE or not thread_follows(paragraphs, weights, i):
                continue
        elif before[i] < need and not (before[i] >= THREAD_MIN_BEFORE and thread_follows(paragraphs, weights, i)):
            continue
        if _NONE.search(paragraphs[i]):
            continue  # "Comments (0)", "No responses": no thread follows
        # A count that recurs in the same form across more prose closes each post of a list of posts (a
        # blog's front page); other counts further down belong to other stories ("Related: ... 136 comments").
        if i in forms:
            same = where[forms[i]]
            if max(max(same) - before[i], before[i] - min(same)) >= COMMENTS_MIN_BEFORE:
                continue
        return i
    return len(paragraphs)


def thread_follows(paragraphs: Sequence[str], weights: np.ndarray, opening: int) -> bool:
    """Whether the paragraphs after ``opening`` have the form of a comment thread.

    Within :data:`THREAD_LINES` paragraphs after the opening line: at least
    :data:`THREAD_STAMPS` short lines that stamp a comment (a time of day, a
    "Reply" link, a byline such as "Jo says:"), the first within
    :data:`THREAD_FIRST` paragraphs, and a comment for every
    :data:`THREAD_STAMPS_PER_COMMENT` stamps: a paragraph of prose at
    least a sentence wide (``weights`` of :data:`SENTENCE_CHARS` or more),
    or a shorter one of prose that ends like a sentence ("Wow. This is
    ridiculous."). Comments say something; a list of stories stamped with
    their times does not, and its headlines end with no full stop.

    Example:
        >>> comment = "I could not agree more with every word of this, and I said so to the council myself."
        >>> thread = ["Jo, 10:15 pm", comment, "Reply"] * 2
        >>> page = ["12 Comments", *thread]
        >>> thread_follows(page, prose_weights(page), 0)
        True
        >>> related = ["12 Comments", "Jobs report beats forecasts", "October 28, 2012 11:00 AM"] * 3
        >>> thread_follows(related, prose_weights(related), 0)
        False
    """
    stamps = prose = 0
    first = None
    stop = min(len(paragraphs), opening + 1 + THREAD_LINES)
    for k in range(opening + 1, stop):
        text = paragraphs[k]
        if len(text) <= _OPENING_CHARS and _STAMP.search(text) and len(text.split()) <= _STAMP_WORDS:
            stamps += 1
            if first is None:
                first = k - opening - 1
        elif weights[k] >= SENTENCE_CHARS or (weights[k] > 0 and text.rstrip()[-1] in _TERMINAL):
            prose += 1  # a comment: a paragraph a sentence wide, or a shorter one that ends like a sentence
    if first is None or first > THREAD_FIRST or stamps < THREAD_STAMPS:
        return False
    return THREAD_STAMPS_PER_COMMENT * prose >= stamps
