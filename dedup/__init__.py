"""dedup: remove repeated and off-topic paragraphs from scraped text.

Example:
    >>> from dedup import Cleaner
    >>> Cleaner().clean_text("Same line here, twice over.\\nSame line here, twice over.").text
    'Same line here, twice over.'
"""

import logging

from dedup.cleaner import Cleaner
from dedup.config import Config, DedupConfig, InputConfig, ShingleConfig, TopicConfig
from dedup.data import CleanResult, Decision, Document, Paragraph, Reason, Ref
from dedup.errors import ConfigError, DedupError, IndexFileError, IndexMismatchError, InputError, ModelError
from dedup.store import IndexStore, MemoryStore, open_store
from dedup.topic import TopicModel

__version__ = "0.1.0"

__all__ = [
    "CleanResult",
    "Cleaner",
    "Config",
    "ConfigError",
    "Decision",
    "DedupConfig",
    "DedupError",
    "Document",
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
    "TopicConfig",
    "TopicModel",
    "__version__",
    "open_store",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
