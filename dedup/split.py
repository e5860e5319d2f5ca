"""Split a document into paragraphs, and join kept paragraphs back.

A paragraph is a line that is not empty or whitespace only. Line breaks are
``\\n``, ``\\r\\n`` and ``\\r``. Everything between two paragraphs (the line
break and any blank lines) is the later paragraph's separator, so joining
kept paragraphs with their separators reproduces the input byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

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
