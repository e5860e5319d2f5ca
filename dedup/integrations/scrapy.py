"""A Scrapy item pipeline that cleans each item's text as the crawl goes.

Enable it in the project's settings::

    ITEM_PIPELINES = {"dedup.integrations.scrapy.DedupPipeline": 300}
    DEDUP_TEXT_FIELD = "text"          # the item field cleaned in place
    DEDUP_INDEX = "crawl-index.npz"    # optional: a file or redis:// index, kept across crawls
    DEDUP_DOC_THRESHOLD = 0.8          # optional: DEDUP_DUP_THRESHOLD, DEDUP_TOPIC_THRESHOLD too

Each item's text is cleaned with :meth:`dedup.Cleaner.clean_text`: repeated
and off-topic paragraphs are removed from the field, the other fields are
left as they are, and an item whose whole document is dropped (a duplicate of
an earlier item, or nothing left) raises :class:`scrapy.exceptions.DropItem`.
Counts go to the crawl's stats under ``dedup/``.

Scrapy is optional: ``pip install "dedup[scrapy]"``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from dedup.cleaner import Cleaner
from dedup.config import Config
from dedup.data import CleanResult
from dedup.errors import ConfigError, DedupError, InputError
from dedup.write import Summary

INSTALL_HINT = 'the Scrapy pipeline needs Scrapy: install it with pip install "dedup[scrapy]"'


class ScrapyMissingError(DedupError, ImportError):
    """Scrapy (or itemadapter) is not installed."""


try:
    from itemadapter import ItemAdapter
    from scrapy.exceptions import DropItem
except ImportError as exc:
    raise ScrapyMissingError(f"{INSTALL_HINT} ({exc})") from exc

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings
    from scrapy.statscollectors import StatsCollector

__all__ = ["INSTALL_HINT", "DedupPipeline", "ScrapyMissingError", "config_from_settings"]

#: Scrapy settings that override one threshold of ``DEDUP_CONFIG``: setting -> (section, key).
THRESHOLD_SETTINGS = {
    "DEDUP_DUP_THRESHOLD": ("dedup", "threshold"),
    "DEDUP_DOC_THRESHOLD": ("dedup", "doc_threshold"),
    "DEDUP_TOPIC_THRESHOLD": ("topic", "threshold"),
}


def config_from_settings(settings: BaseSettings) -> Config:
    """The :class:`~dedup.config.Config` that a crawl's ``DEDUP_*`` settings describe.

    ``DEDUP_CONFIG`` (a dict, or its JSON on the command line) goes through
    :meth:`Config.from_dict`; ``DEDUP_DUP_THRESHOLD``, ``DEDUP_DOC_THRESHOLD``
    and ``DEDUP_TOPIC_THRESHOLD``, when set, override its thresholds.

    Raises:
        ConfigError: A setting is not valid; the message names it.
    """
    try:
        data = settings.getdict("DEDUP_CONFIG")
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"DEDUP_CONFIG: expected a dict (or its JSON), got {settings.get('DEDUP_CONFIG')!r}") from exc
    Config.from_dict(data, source="DEDUP_CONFIG")  # names DEDUP_CONFIG in its errors
    for name, (section, key) in THRESHOLD_SETTINGS.items():
        raw = settings.get(name)
        if raw is None:
            continue
        try:
            value = float(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{name}: expected a number, got {raw!r}") from exc
        Config.from_dict({section: {key: value}}, source=name)  # names the setting in its errors
        data[section] = {**data.get(section, {}), key: value}
    return Config.from_dict(data, source="DEDUP_CONFIG")


class DedupPipeline:
    """Removes repeated and off-topic paragraphs from items, and drops repeated items.

    Args:
        config: The cleaning settings.
        index: The cross-document index, as for :class:`dedup.Cleaner`: a
            file path or URL, ``redis://...``, or ``None`` for an in-memory
            index that lasts one crawl.
        text_field: The item field that holds the text; cleaned in place.
            Items without it pass through untouched (a crawl may yield other
            kinds of item).
        id_field: The item field that names the document in the index and in
            drop messages; ``None`` uses the item's ``url`` when it has one,
            else a running count (``item-1``, ``item-2``, ...).
        stats: Where to count removals (the crawler's stats), if anywhere.

    Built by Scrapy through :meth:`from_crawler`; see the module docstring
    for the settings.

    Example:
        >>> from dedup.integrations.scrapy import DedupPipeline
        >>> pipeline = DedupPipeline()
        >>> pipeline.open_spider()
        >>> item = {"url": "https://example.org/a", "text": "Rain fell on Paris.\\nRain fell on Paris.\\n"}
        >>> pipeline.process_item(item)
        {'url': 'https://example.org/a', 'text': 'Rain fell on Paris.\\n'}
        >>> pipeline.close_spider()
    """

    def __init__(
        self,
        config: Config | None = None,
        index: str | None = None,
        *,
        text_field: str = "text",
        id_field: str | None = None,
        stats: StatsCollector | None = None,
    ) -> None:
        self.config = config or Config()
        self.index = index
        self.text_field = text_field
        self.id_field = id_field
        self.stats = stats
        self.cleaner: Cleaner | None = None
        self._count = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DedupPipeline:
        """The pipeline that the crawler's ``DEDUP_*`` settings describe.

        Raises:
            ConfigError: A ``DEDUP_*`` setting is not valid.
        """
        settings = crawler.settings
        return cls(
            config_from_settings(settings),
            settings.get("DEDUP_INDEX") or None,
            text_field=settings.get("DEDUP_TEXT_FIELD") or "text",
            id_field=settings.get("DEDUP_ID_FIELD") or None,
            stats=crawler.stats,
        )

    def open_spider(self, spider: Any = None) -> None:
        """Build the cleaner (and open its index)."""
        self.cleaner = Cleaner(self.config, self.index)

    def close_spider(self, spider: Any = None) -> None:
        """Close the cleaner's index (a file index is saved then)."""
        if self.cleaner is not None:
            self.cleaner.close()
            self.cleaner = None

    def process_item(self, item: Any, spider: Any = None) -> Any:
        """Clean the item's text in place, or drop the item.

        Raises:
            scrapy.exceptions.DropItem: The document is dropped: a duplicate
                of an earlier item (named in the message) or empty once cleaned.
            InputError: The text field holds something other than a string.
        """
        if self.cleaner is None:
            raise DedupError("the pipeline is not open: Scrapy calls open_spider() before process_item()")
        adapter = ItemAdapter(item)
        if self.text_field not in adapter:
            return item
        self._count += 1
        doc_id = self._doc_id(adapter)
        text = adapter[self.text_field]
        if not isinstance(text, str):
            raise InputError(f"item {doc_id}: field {self.text_field!r} must be a string, got {type(text).__name__}")
        result = self.cleaner.clean_text(text, id=doc_id)
        self._count_result(result)
        if result.dropped is not None:
            raise DropItem(_drop_message(result))
        adapter[self.text_field] = result.text
        return item

    def _doc_id(self, adapter: ItemAdapter) -> str:
        if self.id_field is not None:
            if self.id_field not in adapter:
                raise InputError(f"item {self._count}: no {self.id_field!r} field (DEDUP_ID_FIELD)")
            return str(adapter[self.id_field])
        if adapter.get("url"):
            return str(adapter["url"])
        return f"item-{self._count}"

    def _count_result(self, result: CleanResult) -> None:
        """Add the result to the crawl's stats, counted as a run's summary counts it."""
        if self.stats is None:
            return
        counts = Summary()
        counts.add(result)
        self.stats.inc_value("dedup/items")
        for reason, n in counts.documents_removed.items():
            self.stats.inc_value(f"dedup/items_dropped/{reason}", n)
        for reason, n in counts.paragraphs_removed.items():
            self.stats.inc_value(f"dedup/paragraphs_removed/{reason}", n)


def _drop_message(result: CleanResult) -> str:
    message = f"dedup: {result.dropped} {json.dumps(result.id)}"
    if result.duplicate_of is not None:
        message += f" repeats {json.dumps(result.duplicate_of.id)} (similarity {result.score:.2f})"
    return message
