"""Why each paragraph of one document was kept or removed.

:func:`explain` cleans the input up to the document asked for, as ``dedup
clean`` would (the documents before it fill the cross-document index, since
a document is a repeat only of earlier ones; the documents after it are not
read), and returns that document's paragraphs, each with its decision, the
reason, the score and the evidence behind it: the signals of an off-topic
call, the paragraph or document a repeat repeats. ``dedup explain`` prints
it.

Example:
    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "in.jsonl"
    >>> line = "The council approved the budget for the city's libraries on Tuesday."
    >>> _ = path.write_text(json.dumps({"id": "a", "text": f"{line}\\n{line}"}) + "\\n")
    >>> found = explain(path, "a")
    >>> [(p.kept, p.reason) for p in found.paragraphs]
    [(True, None), (False, 'duplicate')]
    >>> found.paragraphs[1].duplicate_of
    Ref(id='a', paragraph=0)
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dedup.cleaner import Cleaner
from dedup.config import Config
from dedup.data import Document, Reason, Ref
from dedup.errors import InputError
from dedup.read import InvalidRecord, OnError, list_inputs, read_inputs
from dedup.split import split_paragraphs

__all__ = ["Explanation", "ParagraphExplanation", "Place", "escape", "explain", "render"]


@dataclass(frozen=True)
class Place:
    """Where a document was read: its file and (for JSONL) its 1-based line."""

    source: str | None
    line: int | None

    def __str__(self) -> str:
        source = self.source or "<documents>"
        return source if self.line is None else f"{source}:{self.line}"


@dataclass(frozen=True)
class ParagraphExplanation:
    """One paragraph and what happened to it.

    Attributes:
        index: Its position in the document, from 0.
        text: The paragraph, exactly as in the input.
        kept: Whether it is in the output.
        reason: Why it was removed (a :class:`~dedup.data.Reason` value), ``None`` when kept.
        score: The evidence, defined per reason (see :class:`~dedup.data.Reason`); for a
            kept paragraph its off-topic probability (0.0 when not scored).
        signals: For an off-topic removal, the signals that pushed its score
            up most, with their contributions to the log-odds.
        duplicate_of: What a repeat repeats: a paragraph of this or an
            earlier document, or an earlier document.
        model: For a ``furniture`` removal, the model that scored it
            (``"topic"`` or ``"furniture"``).
    """

    index: int
    text: str
    kept: bool
    reason: str | None
    score: float
    signals: dict[str, float] = field(default_factory=dict)
    duplicate_of: Ref | None = None
    model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "text": self.text,
            "kept": self.kept,
            "reason": self.reason,
            "score": round(self.score, 6),
            "signals": self.signals,
            "duplicate_of": None if self.duplicate_of is None else self.duplicate_of.to_dict(),
            "model": self.model,
        }


@dataclass(frozen=True)
class Explanation:
    """The decisions about one document.

    Attributes:
        id: The document's id.
        place: Where it was read.
        dropped: Why the whole document was dropped (a :class:`~dedup.data.Reason` value), or ``None``.
        score: The evidence for a drop (see :class:`~dedup.data.Reason`).
        duplicate_of: For a ``duplicate_document``, the earlier document.
        paragraphs: One per paragraph of the input, in order.
        earlier_documents: How many documents before it were cleaned to
            make the cross-document decisions.
        places: Where each earlier document that a repeat names was read.
    """

    id: str
    place: Place
    dropped: str | None
    score: float
    duplicate_of: Ref | None
    paragraphs: tuple[ParagraphExplanation, ...]
    earlier_documents: int
    places: dict[str, Place] = field(default_factory=dict)

    @property
    def kept(self) -> int:
        """How many paragraphs are in the output."""
        return sum(p.kept for p in self.paragraphs)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return {
            "id": self.id,
            "source": self.place.source,
            "line": self.place.line,
            "dropped": self.dropped,
            "score": round(self.score, 6),
            "duplicate_of": None if self.duplicate_of is None else self.duplicate_of.to_dict(),
            "earlier_documents": self.earlier_documents,
            "paragraphs": [p.to_dict() for p in self.paragraphs],
            "places": {key: {"source": p.source, "line": p.line} for key, p in self.places.items()},
        }


def explain(
    inputs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    id: str,
    config: Config | None = None,
    *,
    on_error: OnError = "raise",
    workers: int = 1,
) -> Explanation:
    """Explain the decisions about the document ``id`` of ``inputs``.

    The inputs are cleaned in order up to that document and no further, as
    ``dedup clean`` with the same ``config`` cleans them: its decisions are
    those of a whole run.

    Args:
        inputs: What ``dedup clean`` reads: ``.jsonl[.gz|.zst]`` and
            ``.txt`` files, directories, or ``"-"`` for JSONL on stdin.
        id: The document's id (for a ``.txt`` input, its path relative to
            the argument that named it).
        config: The settings (``Config()`` when not given).
        on_error: On a bad record before the document, ``"raise"``, or
            ``"skip"`` it as ``dedup clean --on-error skip`` does.
        workers: Processes for the per-document work; the decisions do not depend on it.

    Returns:
        The explanation.

    Raises:
        InputError: No document has that id (the message names the inputs),
            or an input cannot be read.
        DedupError: Other errors of the cleaner, such as a damaged model.
    """
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    names = [os.fspath(path) for path in inputs]
    config = config or Config()
    records = read_inputs(list_inputs(names), config.input, on_error)
    found: list[Document] = []
    places: dict[str, Place] = {}

    def up_to_the_document() -> Iterator[Document | InvalidRecord]:
        for item in records:
            yield item
            if isinstance(item, Document):
                if item.id == id:
                    found.append(item)
                    return
                places[item.id] = Place(item.source, item.line)

    earlier = 0
    with Cleaner(config, workers=workers) as cleaner:
        for result in cleaner.clean(up_to_the_document()):
            if found and result.id == id and result.dropped is not Reason.INVALID:
                break
            earlier += result.dropped is not Reason.INVALID
        else:
            where = ", ".join("<stdin>" if name == "-" else name for name in names)
            raise InputError(
                f"no document with id {id!r} among its {earlier} documents; ids are the records' "
                f"{config.input.id_field!r} field (--id-field), or for a .txt file its path",
                where,
            )
    doc = found[0]
    paragraphs = split_paragraphs(doc.text)[0]
    explained = tuple(
        ParagraphExplanation(
            p.index, p.text, d.kept, None if d.reason is None else d.reason.value, float(d.score),
            dict(d.metadata.get("signals", {})), d.duplicate_of, d.metadata.get("model"),
        )
        for p, d in zip(paragraphs, result.decisions, strict=True)
    )
    named = {p.duplicate_of.id for p in explained if p.duplicate_of is not None and p.duplicate_of.id != id}
    if result.duplicate_of is not None:
        named.add(result.duplicate_of.id)
    return Explanation(
        id, Place(doc.source, doc.line), None if result.dropped is None else result.dropped.value, float(result.score),
        result.duplicate_of, explained, earlier, {key: places[key] for key in sorted(named) if key in places},
    )


#: Characters never sent to a terminal as they are: C0 and C1 controls (ESC starts escape sequences),
#: DEL, and the bidirectional marks, embeddings, overrides and isolates that reorder what is shown.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def escape(text: str) -> str:
    r"""``text`` with the characters that could act on a terminal written as escapes.

    Example:
        >>> escape("red \x1b[31m and \u202eevil")
        'red \\x1b[31m and \\u202eevil'
    """
    return _UNSAFE.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


Style = Callable[..., str]


def _plain(text: str, **_: Any) -> str:
    return text


def render(found: Explanation, style: Style = _plain) -> str:
    """The explanation as text for a terminal: every piece of the data escaped (:func:`escape`).

    Args:
        found: The explanation.
        style: Colours a piece of text, called as ``click.style(text, fg=..., bold=...)``;
            plain text when not given.
    """

    def where(ref: Ref) -> str:
        if ref.id == found.id:
            return f"paragraph {ref.paragraph} of this document"
        place = found.places.get(ref.id)
        document = f"document {escape(repr(ref.id))}" + ("" if place is None else f" ({escape(str(place))})")
        return document if ref.paragraph is None else f"paragraph {ref.paragraph} of {document}"

    total = len(found.paragraphs)
    if found.dropped is None:
        verdict = style(f"kept, {found.kept} of {total} paragraphs", fg="green", bold=True)
    else:
        verdict = style(f"dropped: {found.dropped}", fg="red", bold=True)
        if found.duplicate_of is not None:
            verdict += f", score {found.score:.3f}, repeats {where(found.duplicate_of)}"
    lines = [
        f"{style(escape(found.id), bold=True)} ({escape(str(found.place))}): {verdict}",
        f"processed {found.earlier_documents} earlier document{'' if found.earlier_documents == 1 else 's'} "
        "for cross-document decisions",
    ]
    for p in found.paragraphs:
        if p.kept:
            head = style("kept", fg="green") + f"  off-topic probability {p.score:.3f}"
        else:
            head = style(f"removed  {p.reason}", fg="red") + f"  score {p.score:.3f}"
            if p.model is not None:
                if p.model != "region":
                    head += f"  ({p.model} model)"
                else:
                    head += "  (reader comments)" if "reader_comments" in p.signals else "  (article region)"
            if p.duplicate_of is not None:
                head += f"  repeats {where(p.duplicate_of)}"
            if p.signals:
                head += "  signals: " + ", ".join(f"{escape(k)} {v:+.3f}" for k, v in p.signals.items())
        text = escape(p.text)
        lines += ["", f"[{p.index}] {head}", "    " + (text if p.kept else style(text, dim=True))]
    return "\n".join(lines)
