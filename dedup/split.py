"""Split a document into paragraphs, and join kept paragraphs back.

What a paragraph is depends on the mode (:data:`MODES`):

- ``line``: a line that is not empty or whitespace only.
- ``blank``: a block of such lines between blank lines (or the document's
  edges); its inner line breaks belong to the paragraph.
- ``auto``: ``blank`` for a document whose text between blank lines is
  hard-wrapped prose, else ``line``; :func:`choose_mode` states the rule.

Line breaks are ``\\n``, ``\\r\\n`` and ``\\r``. Everything between two
paragraphs (the line break and any blank lines) is the later paragraph's
separator, so joining kept paragraphs with their separators reproduces the
input byte for byte, in every mode.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from dedup.config import PARAGRAPH_MODES
from dedup.data import Paragraph

_LINE = re.compile(r"[^\r\n]+")

#: The paragraph modes: ``line`` and ``blank`` split every document alike; ``auto`` chooses per document.
MODES = PARAGRAPH_MODES
#: The version of :func:`choose_mode`'s rule: part of the settings fingerprint, so change it with the rule.
AUTO_RULE_VERSION = 1
_BREAK = re.compile(r"\r\n|\r|\n")
# The auto rule's constants: see choose_mode.
_MIN_WIDTH, _MAX_WIDTH = 40, 132
_MIN_WRAPPED = 3
_FULL_SHARE = 0.8
_FILL = 0.85  # greedy wrappers fill lines to the width; balancing ones (fmt) to about nine tenths of it
_MAX_ENDS_SHARE = 0.3
#: A line that ends a sentence: terminal punctuation, perhaps inside quotes or brackets.
_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’»」』)\]]*\s*$")
# East Asian wide characters (CJK, kana, hangul, full-width forms): two columns each, and a line may break
# between any two of them.
_WIDE_CHARS = "\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7a3" \
    "\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6"
_WIDE = re.compile(f"[{_WIDE_CHARS}]")
_FIRST_WORD = re.compile(f"[{_WIDE_CHARS}]|[^\\s{_WIDE_CHARS}]+")


def split_paragraphs(text: str, mode: str = "line") -> tuple[list[Paragraph], str, str]:
    """Split ``text`` into paragraphs.

    Args:
        text: The document text.
        mode: One of :data:`MODES`.

    Returns:
        ``(paragraphs, head, tail)``: the paragraphs in order, the text
        before the first paragraph (also its ``sep``), and the text after the
        last one (its trailing line break, if any).

    Example:
        >>> paras, head, tail = split_paragraphs("a\\r\\n\\r\\nb\\n")
        >>> [(p.text, p.sep) for p in paras], tail
        ([('a', ''), ('b', '\\r\\n\\r\\n')], '\\n')
        >>> [p.text for p in split_paragraphs("a\\nb\\n\\nc", "blank")[0]]
        ['a\\nb', 'c']
    """
    spans, texts = paragraph_spans(text, mode)
    if not texts:
        return [], text, ""
    paragraphs: list[Paragraph] = []
    end = 0
    starts, stops = spans[:, 0].tolist(), spans[:, 1].tolist()
    for index, (start, stop, paragraph) in enumerate(zip(starts, stops, texts, strict=True)):
        paragraphs.append(Paragraph(index, paragraph, text[end:start]))
        end = stop
    return paragraphs, paragraphs[0].sep, text[end:]


def join_paragraphs(paragraphs: Iterable[Paragraph], head: str, tail: str) -> str:
    """Join kept paragraphs into a document.

    The first kept paragraph takes the document's leading text instead of
    its own separator, so removing an opening paragraph leaves no stray
    line break at the start; the document's trailing text is kept, so the
    output ends with a line break exactly when the input did.

    Args:
        paragraphs: Kept paragraphs, in input order.
        head: The text before the input's first paragraph.
        tail: The text after the input's last paragraph.

    Returns:
        The cleaned text; ``""`` when no paragraph is kept.
    """
    parts: list[str] = []
    for paragraph in paragraphs:
        parts.append(paragraph.sep if parts else head)
        parts.append(paragraph.text)
    if not parts:
        return ""
    parts.append(tail)
    return "".join(parts)


def paragraph_spans(text: str, mode: str = "line") -> tuple[np.ndarray, list[str]]:
    """Where each paragraph of ``text`` starts and ends, and its text: the paragraphs of :func:`split_paragraphs`.

    Spans are what crosses a process boundary instead of paragraph texts: the
    receiver has the document, and ``text[start:end]`` is the paragraph.

    Args:
        text: The document text.
        mode: One of :data:`MODES`.

    Returns:
        ``(spans, texts)``: an ``(n, 2)`` int64 array of ``(start, end)``
        string offsets, and the paragraphs' texts (``text[start:end]``).

    Example:
        >>> spans, texts = paragraph_spans("a\\r\\n\\r\\nbc\\n")
        >>> spans.tolist(), texts
        ([[0, 1], [5, 7]], ['a', 'bc'])
    """
    return paragraph_layout(text, mode)[1:]


def paragraph_layout(text: str, mode: str = "auto") -> tuple[str, np.ndarray, list[str]]:
    """The mode a document is split in, and its paragraphs' spans and texts (see :func:`paragraph_spans`).

    Args:
        text: The document text.
        mode: One of :data:`MODES`; ``auto`` is resolved by :func:`choose_mode`.

    Returns:
        ``(chosen, spans, texts)``: ``chosen`` is ``"line"`` or ``"blank"``.

    Raises:
        ValueError: ``mode`` is not one of :data:`MODES`.

    Example:
        >>> chosen, spans, texts = paragraph_layout("Menu\\nNews\\n\\nBody")
        >>> chosen, texts
        ('line', ['Menu', 'News', 'Body'])
    """
    if mode not in MODES:
        raise ValueError(f"paragraph mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "blank":
        lines = _line_spans(text)
        blocks = _blocks(text, lines)
    else:
        offsets: list[int] = []
        texts: list[str] = []
        for match in _LINE.finditer(text):
            line = match.group()
            if not line.isspace():
                texts.append(line)
                offsets += match.span()
        spans = np.array(offsets, dtype=np.int64).reshape(len(texts), 2)
        if mode == "line" or not _blank_line_between(text, spans):
            return "line", spans, texts
        lines = list(zip(offsets[0::2], offsets[1::2], strict=True))
        blocks = _blocks(text, lines)
        if _rule(text, lines, blocks) == "line":
            return "line", spans, texts
    spans = np.array([(lines[first][0], lines[last][1]) for first, last in blocks], dtype=np.int64)
    spans = spans.reshape(len(blocks), 2)
    return "blank", spans, [text[start:end] for start, end in spans.tolist()]


def choose_mode(text: str) -> str:
    """The mode ``auto`` splits ``text`` in: ``"blank"`` for hard-wrapped prose, else ``"line"``.

    The rule (version :data:`AUTO_RULE_VERSION`), on the document's blocks
    (runs of non-blank lines between blank lines):

    1. A document with fewer than two blocks (no blank line between
       paragraphs), or whose blocks are all one line, stays in ``line`` mode:
       both modes split it alike, or nothing says its lines are wrapped.
    2. The wrap width is the widest line of the blocks of several lines, in
       columns (an East Asian wide character takes two); it must lie between
       40 and 132 columns, as text wrapped for a terminal, an e-mail or a
       ``.txt`` file does.
    3. A line break inside a block is *wrapped* when the next line's first
       word (or first wide character) would not have fitted on the line
       within 85 % of that width: a greedy wrapper (which fills lines to the
       width) or a balancing one such as ``fmt`` (to about nine tenths of
       it) broke it there. Every block of
       several lines must have at least 80 % of its breaks wrapped; one
       block of one-line items (a menu, a list, an address beside a wrapped
       body) keeps the whole document in ``line`` mode.
    4. At least 3 wrapped breaks in the document, else ``line``: one long
       line followed by a short one is not evidence of wrapping.
    5. Fewer than 30 % of the lines before a break inside a block end a
       sentence (``.``, ``!``, ``?``, ``。``…, perhaps before a closing
       quote), else ``line``: a wrapper breaks lines mid-sentence, so lines
       of about the same length that each end a sentence are one-line
       paragraphs.

    Example:
        >>> prose = "word " * 30
        >>> import textwrap
        >>> wrapped = textwrap.fill(prose, 60) + "\\n\\n" + textwrap.fill(prose, 60)
        >>> choose_mode(wrapped), choose_mode("Home\\nNews\\nSport\\n\\n" + wrapped)
        ('blank', 'line')
    """
    return paragraph_layout(text, "auto")[0]


def flatten(paragraph: str) -> str:
    """A paragraph as one line: each inner line break, with the spaces around it, becomes one space.

    What the shingles and the topic model see of a ``blank`` mode paragraph;
    the output keeps the input's bytes.

    Example:
        >>> flatten("a wrapped  \\r\\n  line")
        'a wrapped line'
    """
    parts = _BREAK.split(paragraph)
    if len(parts) == 1:
        return paragraph
    return " ".join([parts[0].rstrip(), *(part.strip() for part in parts[1:-1]), parts[-1].lstrip()])


def _blank_line_between(text: str, spans: np.ndarray) -> bool:
    """Whether a blank line may stand between two of these lines: a fast test that may say yes wrongly, never no.

    Between two lines that no blank line parts stand one line break: one
    character, or the two of ``\\r\\n``.
    """
    if len(spans) < 2:
        return False
    gaps = spans[1:, 0] - spans[:-1, 1]
    if gaps.max() > 2:
        return True
    return bool((gaps == 2).any()) and ("\n\n" in text or "\r\r" in text or "\n\r" in text)


def _line_spans(text: str) -> list[tuple[int, int]]:
    """The spans of the non-blank lines."""
    return [match.span() for match in _LINE.finditer(text) if not match.group().isspace()]


def _blocks(text: str, lines: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The first and last line (indexes into ``lines``) of each run of lines with no blank line between."""
    blocks = []
    first = 0
    for k in range(1, len(lines)):
        between = text[lines[k - 1][1] : lines[k][0]]
        if between.count("\n") + between.count("\r") - between.count("\r\n") > 1:
            blocks.append((first, k - 1))
            first = k
    if lines:
        blocks.append((first, len(lines) - 1))
    return blocks


def _rule(text: str, lines: Sequence[tuple[int, int]], blocks: Sequence[tuple[int, int]]) -> str:
    """:func:`choose_mode` on a document already cut into lines and blocks."""
    multi = [(first, last) for first, last in blocks if last > first]
    if len(blocks) < 2 or not multi:
        return "line"
    widths = {k: columns(text[lines[k][0] : lines[k][1]].rstrip()) for first, last in multi
              for k in range(first, last + 1)}
    width = max(widths.values())
    if not _MIN_WIDTH <= width <= _MAX_WIDTH:
        return "line"
    wrapped = ends = breaks = 0
    for first, last in multi:
        full = 0
        for k in range(first, last):
            start, end = lines[k + 1]
            word = _FIRST_WORD.match(text[start:end].lstrip())
            full += word is not None and widths[k] + 1 + columns(word.group()) > _FILL * width
            ends += _SENTENCE_END.search(text, lines[k][0], lines[k][1]) is not None
        if full < _FULL_SHARE * (last - first):
            return "line"
        wrapped += full
        breaks += last - first
    return "blank" if wrapped >= _MIN_WRAPPED and ends < _MAX_ENDS_SHARE * breaks else "line"


def columns(line: str) -> int:
    """The width of a line in columns: an East Asian wide character takes two."""
    return len(line) if line.isascii() else len(line) + len(_WIDE.findall(line))


def join_kept(text: str, spans: np.ndarray, kept: Sequence[bool]) -> str:
    """The text of the kept paragraphs, as :func:`join_paragraphs` joins them.

    Each run of consecutive kept paragraphs is one slice of ``text``, so a
    document that keeps everything costs nothing.

    Args:
        text: The document text.
        spans: Its paragraph spans (:func:`paragraph_spans`).
        kept: One flag per paragraph.

    Example:
        >>> text = "t\\n\\na\\nb\\n"
        >>> join_kept(text, paragraph_spans(text)[0], [True, False, True])
        't\\nb\\n'
        >>> join_kept(text, paragraph_spans(text)[0], [False, True, True])
        'a\\nb\\n'
    """
    n = len(spans)
    parts: list[str] = []
    i = 0
    while i < n:
        if not kept[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and kept[j + 1]:
            j += 1
        if parts:  # a later run takes the separator before its first paragraph
            parts.append(text[int(spans[i - 1][1]) : int(spans[j][1])])
        elif i == 0:
            parts.append(text[: int(spans[j][1])])
        else:  # the first kept paragraph takes the document's head instead of its own separator
            parts.append(text[: int(spans[0][0])] + text[int(spans[i][0]) : int(spans[j][1])])
        i = j + 1
    if not parts:
        return ""
    parts.append(text[int(spans[-1][1]) :])
    return "".join(parts)
