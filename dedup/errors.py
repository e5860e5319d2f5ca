"""Errors raised by dedup.

Every error derives from :class:`DedupError`, and also from the builtin it
refines, so callers may catch either ``DedupError`` or, say, ``ValueError``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


class DedupError(Exception):
    """Base class of every error dedup raises on purpose."""


class ConfigError(DedupError, ValueError):
    """A setting is out of range, or settings do not fit together."""


class InputError(DedupError, ValueError):
    """An input record or file cannot be read as a document.

    Args:
        message: What was expected and what was found.
        source: The file the record came from (``"<stdin>"`` for standard input).
        line: The 1-based line number in ``source``, if the format has lines.
    """

    def __init__(self, message: str, source: str | Path | None = None, line: int | None = None) -> None:
        self.reason = message
        self.source = None if source is None else str(source)
        self.line = line
        where = ""
        if self.source is not None:
            where = self.source if line is None else f"{self.source}:{line}"
            where += ": "
        super().__init__(where + message)


class ObjectStoreError(DedupError, OSError):
    """An object-storage URI (``s3://``, ``gs://``, ...) cannot be listed, read or written.

    The store cannot be reached, refuses the credentials, or has no such
    bucket or object; or pyarrow, which opens these URIs, is not installed.
    ``strerror`` is the message without the URI, as for a file's ``OSError``.

    Args:
        message: What went wrong and what to do about it.
        uri: The URI, as given.
    """

    def __init__(self, message: str, uri: str) -> None:
        super().__init__(f"{uri}: {message}")
        self.uri = uri
        self.strerror = message


class IndexMismatchError(DedupError, ValueError):
    """An index store was built with settings other than the cleaner's."""


class IndexFileError(DedupError, ValueError):
    """A saved index file is missing, damaged, or not a dedup index."""


class ModelError(DedupError, ValueError):
    """A topic model file is missing, malformed, or not a dedup model."""


class _Fields(dict[str, str]):
    """The fields of a message: the values it was given, and each argument as the caller names it."""

    def __init__(self, values: dict[str, str], names: Mapping[str, str]) -> None:
        super().__init__(values)
        self.names = names

    def __missing__(self, key: str) -> str:
        return self.names.get(key, _LIBRARY_NAMES.get(key, f"{key}="))


#: How a message names an argument when the caller does not say otherwise: as a keyword argument.
_LIBRARY_NAMES = {"annotate": "annotate=True", "resume": "resume=True"}


class WordedError(DedupError):
    """An error whose message names arguments of the call that raised it.

    The message names them as keyword arguments (``output=``); a caller
    that calls them otherwise, such as the command line (``--output``),
    words it with :meth:`worded`.

    Args:
        template: The message; a field ``{name}`` is the argument ``name``,
            unless ``values`` holds ``name``.
        values: Text put in the message as it is, such as paths (which may
            hold braces).

    Example:
        >>> error = WordedError("{output} would write {path}, an input", path="in.jsonl")
        >>> str(error)
        'output= would write in.jsonl, an input'
        >>> error.worded({"output": "--output"})
        '--output would write in.jsonl, an input'
    """

    def __init__(self, template: str, **values: object) -> None:
        self.template = template
        self.values = {key: str(value) for key, value in values.items()}
        super().__init__(self.worded({}))

    def worded(self, names: Mapping[str, str]) -> str:
        """The message with each argument called as ``names`` says (as a keyword argument otherwise)."""
        return self.template.format_map(_Fields(self.values, names))


class ArgumentError(WordedError, ValueError):
    """Arguments that do not fit together, or do not fit the files they name.

    For example an output that is one of the inputs, or text inputs with an
    output that is a file: found before anything is read or written.
    """


class StateError(WordedError, ValueError):
    """A state directory cannot be used: made with other settings or inputs, changed, or not a dedup state."""


class IndexStoreError(DedupError, RuntimeError):
    """An index store cannot do what was asked.

    Its server is unreachable or failing, its file cannot be written, its
    driver is not installed, or the operation does not exist for that kind
    of store (saving a server-side index to a file, say).
    """


@contextmanager
def reading_model(path: object, kind: str, fix: str) -> Iterator[None]:
    """Turn what can go wrong while reading a saved ``.npz`` model into a :class:`ModelError`.

    A :class:`ModelError` raised inside passes as it is; a missing file and
    an unreadable or damaged one (pickled objects included, which dedup
    never loads) are named with ``path`` and end with ``fix``.

    Args:
        path: The model file, for the message.
        kind: ``"topic"`` or ``"furniture"``, for the message.
        fix: What to do about it ("create one with `dedup fit-topic`").
    """
    try:
        yield
    except ModelError:
        raise
    except FileNotFoundError as exc:
        raise ModelError(f"{path}: no such model file; {fix}") from exc
    except (OSError, EOFError, ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        # numpy's own message for a pickle suggests allow_pickle=True: never our advice.
        detail = "it holds pickled objects, which dedup never loads" if "pickle" in str(exc) else str(exc)
        raise ModelError(f"{path}: not a readable dedup {kind} model ({detail}); {fix}") from exc
