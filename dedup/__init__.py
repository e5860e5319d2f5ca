"""dedup: remove repeated and off-topic paragraphs from scraped text.

Example:
    >>> from dedup import Cleaner
    >>> Cleaner().clean_text("Same line here, twice over.\\nSame line here, twice over.").text
    'Same line here, twice over.'
"""

import importlib
import logging
from typing import TYPE_CHECKING, Any

from dedup.config import Config, DedupConfig, FurnitureConfig, InputConfig, ShingleConfig, TopicConfig
from dedup.data import CleanResult, Decision, Document, Paragraph, Reason, Ref
from dedup.errors import (
    ArgumentError,
    ConfigError,
    DedupError,
    IndexFileError,
    IndexMismatchError,
    InputError,
    ModelError,
    StateError,
)

if TYPE_CHECKING:
    from dedup.cleaner import Cleaner
    from dedup.run import clean_files
    from dedup.store import IndexStore, MemoryStore, open_store
    from dedup.topic import TopicModel

__version__ = "0.1.0"

__all__ = [
    "ArgumentError",
    "CleanResult",
    "Cleaner",
    "Config",
    "ConfigError",
    "Decision",
    "DedupConfig",
    "DedupError",
    "Document",
    "FurnitureConfig",
    "IndexFileError",
    "IndexMismatchError",
    "IndexStore",
    "InputConfig",
    "InputError",
    "MemoryStore",
    "ModelError",
    "Paragraph",
    "Reason",
    "Ref",
    "ShingleConfig",
    "StateError",
    "TopicConfig",
    "TopicModel",
    "__version__",
    "clean_files",
    "open_store",
]

#: Exports imported when first used: they bring numba, numpy and scikit-learn, which the command line's
#: start (``dedup --help``) does not need.
_LAZY = {
    "Cleaner": "dedup.cleaner",
    "IndexStore": "dedup.store",
    "MemoryStore": "dedup.store",
    "open_store": "dedup.store",
    "TopicModel": "dedup.topic",
    "clean_files": "dedup.run",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'dedup' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


logging.getLogger(__name__).addHandler(logging.NullHandler())
