"""Errors raised by dedup.

Every error derives from :class:`DedupError`, and also from the builtin it
refines, so callers may catch either ``DedupError`` or, say, ``ValueError``.
"""

from __future__ import annotations

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


class IndexMismatchError(DedupError, ValueError):
    """An index store was built with settings other than the cleaner's."""


class IndexFileError(DedupError, ValueError):
    """A saved index file is missing, damaged, or not a dedup index."""


class ModelError(DedupError, ValueError):
    """A topic model file is missing, malformed, or not a dedup model."""


class IndexStoreError(DedupError, RuntimeError):
    """An index store cannot do what was asked.

    Its server is unreachable or failing, its file cannot be written, its
    driver is not installed, or the operation does not exist for that kind
    of store (saving a server-side index to a file, say).
    """
