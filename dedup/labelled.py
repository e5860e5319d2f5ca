"""Read labelled paragraphs, the training data of a topic model.

One JSONL record per paragraph: ``{"text": ..., "label": "keep"|"drop",
"id": ...}``. Records that share an id, one after another, are the
paragraphs of one document, in order; a record without an id is a document
of one paragraph.

Example:
    >>> import io
    >>> lines = io.StringIO('{"id": 1, "text": "A report.", "label": "keep"}\\n'
    ...                     '{"id": 1, "text": "Read more", "label": "drop"}\\n')
    >>> parse_labelled(lines, "labelled.jsonl")
    ([['A report.', 'Read more']], [[0, 1]])
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from dedup.errors import InputError
from dedup.read import json_error

STDIN = "-"


def read_labelled(
    path: str | Path, text_field: str = "text", id_field: str = "id"
) -> tuple[list[list[str]], list[list[int]]]:
    """Read labelled paragraphs from ``path`` (``"-"`` for stdin).

    Returns:
        The documents, each a list of paragraph texts, and their labels
        (1 for ``"drop"``, 0 for ``"keep"``), in the same shape.

    Raises:
        InputError: A record is not JSON, has no string text field or no
            valid label (naming the file and line), the file cannot be
            opened or is not UTF-8, or it holds no records.
    """
    if str(path) == STDIN:
        return parse_labelled(sys.stdin, "<stdin>", text_field, id_field)
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InputError(f"cannot open the file: {exc.strerror or exc}", path) from exc
    with handle:
        return parse_labelled(handle, str(path), text_field, id_field)


def parse_labelled(
    lines: Iterable[str], source: str, text_field: str = "text", id_field: str = "id"
) -> tuple[list[list[str]], list[list[int]]]:
    """Like :func:`read_labelled`, from ``lines`` read from ``source`` (named in errors)."""
    documents: list[list[str]] = []
    labels: list[list[int]] = []
    last_id: object = object()
    for number, line in enumerate(_checked(lines, source), 1):
        if not line.strip():
            continue
        line = line.rstrip("\r\n")
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(json_error(exc, line), source, number) from exc
        if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
            raise InputError(f"expected an object with a string {text_field!r} field", source, number)
        label = record.get("label")
        if label not in ("keep", "drop"):
            raise InputError(f"label must be \"keep\" or \"drop\", found {label!r}", source, number)
        doc_id = record.get(id_field, None)
        if doc_id is None or doc_id != last_id:
            documents.append([])
            labels.append([])
        last_id = doc_id if doc_id is not None else object()  # no id: a document of its own
        documents[-1].append(record[text_field])
        labels[-1].append(1 if label == "drop" else 0)
    if not documents:
        raise InputError("no labelled records", source)
    return documents, labels


def _checked(lines: Iterable[str], source: str) -> Iterator[str]:
    try:
        yield from lines
    except UnicodeDecodeError as exc:
        raise InputError(f"invalid UTF-8 ({exc.reason})", source) from exc
