"""Split a document into paragraphs, and join kept paragraphs back.

A paragraph is a line that is not empty or whitespace only. Line breaks are
``\\n``, ``\\r\\n`` and ``\\r``. Everything between two paragraphs (the line
break and any blank lines) is the later paragraph's separator, so joining
kept paragraphs with their separators reproduces the input byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from dedup.data import Paragraph

_LINE = re.compile(r"[^\r\n]+")


def split_paragraphs(text: str) -> tuple[list[Paragraph], str, str]:
    """Split ``text`` into paragraphs.

    Args:
        text: The document text.

    Returns:
        ``(paragraphs, head, tail)``: the paragraphs in order, the text
        before the first paragraph (also its ``sep``), and the text after the
        last one (its trailing line break, if any).

    Example:
        >>> paras, head, tail = split_paragraphs("a\\r\\n\\r\\nb\\n")
        >>> [(p.text, p.sep) for p in paras], tail
        ([('a', ''), ('b', '\\r\\n\\r\\n')], '\\n')
    """
    paragraphs: list[Paragraph] = []
    end = 0
    for match in _LINE.finditer(text):
        line = match.group()
        if line.isspace():
            continue
        start = match.start()
        paragraphs.append(Paragraph(len(paragraphs), line, text[end:start]))
        end = match.end()
    if not paragraphs:
        return [], text, ""
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


def paragraph_spans(text: str) -> tuple[np.ndarray, list[str]]:
    """Where each paragraph of ``text`` starts and ends, and its text: the paragraphs of :func:`split_paragraphs`.

    Spans are what crosses a process boundary instead of paragraph texts: the
    receiver has the document, and ``text[start:end]`` is the paragraph.

    Returns:
        ``(spans, texts)``: an ``(n, 2)`` int64 array of ``(start, end)``
        string offsets, and the paragraphs' texts.

    Example:
        >>> spans, texts = paragraph_spans("a\\r\\n\\r\\nbc\\n")
        >>> spans.tolist(), texts
        ([[0, 1], [5, 7]], ['a', 'bc'])
    """
    offsets: list[int] = []
    texts: list[str] = []
    for match in _LINE.finditer(text):
        line = match.group()
        if not line.isspace():
            texts.append(line)
            offsets += match.span()
    return np.array(offsets, dtype=np.int64).reshape(len(texts), 2), texts


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
