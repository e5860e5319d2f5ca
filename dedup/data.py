"""The records that travel between stages.

They are small and frozen; anything a stage wants to add goes in a
``metadata`` dict rather than a new field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


def _reduce(self: Any) -> tuple[type, tuple[Any, ...]]:
    # Slotted dataclasses unpickle through a generic __setstate__ that looks up the class's fields
    # for every object; the constructor is several times faster, and workers send many of them.
    return type(self), tuple(getattr(self, name) for name in self.__slots__)


class Reason(StrEnum):
    """Why a paragraph or a document was removed: the one fixed set.

    Scores, by reason (also in the README):

    - ``duplicate``: 1.0, the normalised text equals an earlier paragraph.
    - ``near_duplicate``: the Jaccard similarity of shingle sets with the
      paragraph it repeats (higher is more similar).
    - ``duplicate_document``: the estimated Jaccard similarity of the cleaned
      document with the earlier one.
    - ``off_topic``: the probability that the paragraph does not belong to the
      document (higher is more off-topic): text about another subject.
    - ``furniture``: the probability that the paragraph is page furniture
      (menus, link lists, share and comment widgets, reader comments,
      footers, captions and photo credits), from its form and its place in
      the page.
    - ``boilerplate``: the number of earlier documents the line appeared in.
    - ``empty``: 0.0; the document had no paragraph left, or none on input.
    - ``invalid``: 0.0; the record could not be read (the message says why).
    """

    DUPLICATE = "duplicate"
    NEAR_DUPLICATE = "near_duplicate"
    DUPLICATE_DOCUMENT = "duplicate_document"
    OFF_TOPIC = "off_topic"
    FURNITURE = "furniture"
    BOILERPLATE = "boilerplate"
    EMPTY = "empty"
    INVALID = "invalid"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Document:
    """One input document.

    Attributes:
        id: The document's id, unique within a run.
        text: The raw text, exactly as read.
        fields: The record's other fields, passed through unchanged.
        source: Where the document came from (file name), for messages.
        line: The 1-based line of ``source`` for JSONL input.
    """

    __reduce__ = _reduce

    id: str
    text: str
    fields: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Paragraph:
    """A paragraph of a document: one non-blank line, or a block of them between blank lines (:mod:`dedup.split`).

    Attributes:
        index: Position among the document's paragraphs, from 0.
        text: The paragraph exactly as in the input (a block with its inner
            line breaks), without the line break that ends it.
        sep: The input text between the previous paragraph and this one
            (line breaks and blank lines), kept with the paragraph.
    """

    __reduce__ = _reduce

    index: int
    text: str
    sep: str


@dataclass(frozen=True, slots=True)
class Ref:
    """A place a removed item repeats: a document id and a paragraph index
    (``None`` for the whole document)."""

    __reduce__ = _reduce

    id: str
    paragraph: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "paragraph": self.paragraph}


@dataclass(frozen=True, slots=True)
class Decision:
    """What happened to one paragraph.

    Attributes:
        index: The paragraph's index.
        kept: Whether the paragraph is in the output.
        reason: Why it was removed, ``None`` when kept.
        score: The evidence, defined per reason (see :class:`Reason`); for a
            kept paragraph, its off-topic probability (0.0 when not scored).
        duplicate_of: What a duplicate repeats.
        metadata: Extra detail, e.g. the signal behind an off-topic call.
    """

    __reduce__ = _reduce

    index: int
    kept: bool
    reason: Reason | None = None
    score: float = 0.0
    duplicate_of: Ref | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "kept": self.kept,
            "reason": None if self.reason is None else self.reason.value,
            "score": round(self.score, 6),
            "duplicate_of": None if self.duplicate_of is None else self.duplicate_of.to_dict(),
            **({"metadata": self.metadata} if self.metadata else {}),
        }


@dataclass(frozen=True, slots=True)
class CleanResult:
    """The outcome for one input document.

    Attributes:
        id: The document's id.
        text: The cleaned text: kept paragraphs, byte-identical to the input,
            each with the separator that preceded it. Empty when dropped.
        dropped: ``None``, or why the whole document was dropped.
        decisions: One decision per input paragraph, in order.
        fields: The document's other fields, unchanged.
        score: Evidence for a document drop (see :class:`Reason`).
        duplicate_of: For a ``duplicate_document``, the earlier document.
        source: The input file, for the report.
        line: The input line, for the report.
        metadata: Extra detail (e.g. the message of an ``invalid`` record).
    """

    __reduce__ = _reduce

    id: str
    text: str
    dropped: Reason | None
    decisions: tuple[Decision, ...]
    fields: dict[str, Any] = field(default_factory=dict)
    score: float = 0.0
    duplicate_of: Ref | None = None
    source: str | None = None
    line: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def removed(self) -> tuple[Decision, ...]:
        """The decisions that removed a paragraph."""
        return tuple(d for d in self.decisions if not d.kept)
