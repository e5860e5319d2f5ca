"""DedupPipeline: a real Scrapy crawl of a local site, and the pipeline's contract in-process."""

from __future__ import annotations

import dataclasses
import html
import importlib
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

scrapy = pytest.importorskip("scrapy")

from scrapy.exceptions import DropItem  # noqa: E402
from scrapy.utils.test import get_crawler  # noqa: E402

from dedup.config import Config, DedupConfig, TopicConfig  # noqa: E402
from dedup.errors import ConfigError, DedupError, InputError  # noqa: E402
from dedup.integrations.scrapy import DedupPipeline  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

HARBOUR = [
    "The sea wall at the old harbour gave way on Tuesday night after three days of gales, and water reached "
    "the steps of the fish market before dawn.",
    'Harbour master Ellen Brandt said the wall, built in 1887, had been due for repair for a decade. "We '
    'patched it every winter and hoped," she said.',
    "About forty boats broke their moorings. Volunteers spent the morning hauling the smaller ones onto the "
    "slipway while the tide was still high.",
    "The council has asked engineers to inspect the rest of the wall before the next spring tide, and the fish "
    "market will stay closed until they report.",
    "Fishermen said the damage would cost them the best week of the season, and asked the council for help "
    "with the repairs to their boats.",
]
LIBRARY = [
    "The city's new central library opened on Saturday in the restored tram depot on Mill Street, with queues "
    "stretching around the block by nine in the morning.",
    "The building keeps the depot's iron roof and its rails, now set into the floor of the reading room, where "
    "the trams once turned.",
    "Head librarian Tomas Ruiz said more than three thousand cards were issued on the first day, twice what "
    "the staff had expected.",
    "The children's floor, in the old repair shop, has a reading nook built from a decommissioned tram car "
    "donated by the transport museum.",
    "The library will open seven days a week, and its café and meeting rooms can be booked by local groups "
    "free of charge.",
]
RAIL = [
    "Train drivers on the northern lines stopped work at midnight in a dispute over weekend rosters, leaving "
    "commuters to find buses or stay home.",
    "The union says drivers have been asked to work six weekends in a row during the track renewal programme, "
    "which it calls unsafe.",
    "The operator said it had offered extra pay for weekend shifts and accused the union of refusing to "
    "negotiate before the deadline.",
    "Replacement buses ran every twenty minutes between the main stations, but queues at the central station "
    "were long through the morning.",
]
#: A teaser of the rail story, as news sites append them below an article.
RAIL_TEASER = (
    "RAIL STRIKE: Drivers on the northern lines say weekend rosters are unsafe, and the operator says it offered "
    "more pay Train drivers on the northern lines stopped work at midnight in a dispute over weekend rosters, "
    "leaving commuters to find buses or stay home. The union says drivers have been asked to work six weekends "
    "in a row during the track renewal, which"
)
LIBRARY_EDITED = [p.replace("three thousand", "3,000") for p in LIBRARY]

#: The site, crawled in this order (each page links to the next): path -> (title, paragraphs).
PAGES = {
    "/harbour.html": ("Storm surge floods the old harbour", [*HARBOUR, RAIL_TEASER]),
    "/library.html": ("New library opens in the old tram depot", LIBRARY),
    "/syndicated/harbour.html": ("Storm surge floods the old harbour", [*HARBOUR, RAIL_TEASER]),
    "/library-updated.html": ("New library opens in the old tram depot (updated)", LIBRARY_EDITED),
    "/rail.html": ("Rail workers walk out over rosters", RAIL),
}

SPIDER = """
import scrapy


class PagesSpider(scrapy.Spider):
    name = "pages"

    def __init__(self, start, **kwargs):
        super().__init__(**kwargs)
        self.start_urls = [start]

    def parse(self, response):
        yield {
            "url": response.url,
            "title": response.css("h1::text").get(),
            "text": "\\n".join(response.css("article p::text").getall()),
        }
        next_page = response.css("a[rel=next]::attr(href)").get()
        if next_page:
            yield response.follow(next_page, self.parse)
"""


def page_html(path: str) -> bytes:
    title, paragraphs = PAGES[path]
    paths = list(PAGES)
    position = paths.index(path)
    following = f'<a rel="next" href="{paths[position + 1]}">Next</a>' if position + 1 < len(paths) else ""
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return (
        f"<html><head><title>{html.escape(title)}</title></head><body><nav><a href='/'>Home</a></nav>"
        f"<article><h1>{html.escape(title)}</h1>{body}</article>{following}</body></html>"
    ).encode()


class SiteHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path not in PAGES:
            self.send_error(404)
            return
        content = page_html(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SiteHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_crawl_drops_repeated_pages_and_removes_teasers(site: str, tmp_path: Path) -> None:
    spider = tmp_path / "pages_spider.py"
    spider.write_text(SPIDER, encoding="utf-8")
    feed, index = tmp_path / "items.jsonl", tmp_path / "crawl-index.npz"
    settings = {
        "ITEM_PIPELINES": json.dumps({"dedup.integrations.scrapy.DedupPipeline": 300}),
        "DEDUP_INDEX": str(index),
        "DEDUP_CONFIG": json.dumps({"dedup": {"doc_threshold": 0.8}}),
        "DEDUP_TOPIC_THRESHOLD": "0.5",
        "FEEDS": json.dumps({str(feed): {"format": "jsonlines", "encoding": "utf-8"}}),
        "LOG_LEVEL": "INFO",
        "ROBOTSTXT_OBEY": "False",
        "TELNETCONSOLE_ENABLED": "False",
    }
    command = [sys.executable, "-m", "scrapy", "runspider", str(spider), "-a", f"start={site}/harbour.html"]
    for name, value in settings.items():
        command += ["-s", f"{name}={value}"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    crawl = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert crawl.returncode == 0, crawl.stderr

    items = [json.loads(line) for line in feed.read_text(encoding="utf-8").splitlines()]
    assert [item["url"] for item in items] == [f"{site}/harbour.html", f"{site}/library.html", f"{site}/rail.html"]
    harbour, library, rail = items
    assert harbour["text"] == "\n".join(HARBOUR)  # the rail teaser is gone, the article is whole
    assert library["text"] == "\n".join(LIBRARY)
    assert rail["text"] == "\n".join(RAIL)
    assert [item["title"] for item in items] == [PAGES[p][0] for p in ("/harbour.html", "/library.html", "/rail.html")]

    log = crawl.stderr
    assert f'dedup: duplicate_document "{site}/syndicated/harbour.html" repeats "{site}/harbour.html"' in log
    assert f'dedup: duplicate_document "{site}/library-updated.html" repeats "{site}/library.html"' in log
    assert "'item_dropped_count': 2" in log
    assert "'dedup/items': 5" in log
    assert "'dedup/items_dropped/duplicate_document': 2" in log
    # The teaser of both harbour pages, as a run's summary counts it (the copy is cleaned before it is compared).
    assert "'dedup/paragraphs_removed/off_topic': 2" in log
    assert index.is_file()  # the file index was saved when the spider closed


@dataclasses.dataclass
class Article:
    url: str
    text: str
    title: str = ""


class ArticleItem(scrapy.Item):
    url = scrapy.Field()
    text = scrapy.Field()
    title = scrapy.Field()


ITEM_KINDS = [dict, Article, ArticleItem]


@pytest.fixture
def pipeline() -> Iterator[DedupPipeline]:
    pipeline = DedupPipeline.from_crawler(get_crawler(settings_dict={}))
    pipeline.open_spider()
    yield pipeline
    pipeline.close_spider()


@pytest.mark.parametrize("kind", ITEM_KINDS, ids=lambda k: k.__name__)
def test_process_item_cleans_any_item_kind_in_place(pipeline: DedupPipeline, kind: Any) -> None:
    item = kind(url="https://example.org/a", text="\n".join([*HARBOUR, RAIL_TEASER]), title="Harbour")
    assert pipeline.process_item(item) is item
    assert (item["text"] if kind is not Article else item.text) == "\n".join(HARBOUR)
    assert (item["title"] if kind is not Article else item.title) == "Harbour"

    again = kind(url="https://example.org/b", text="\n".join(HARBOUR), title="Copy")
    with pytest.raises(
        DropItem, match=re.escape('duplicate_document "https://example.org/b" repeats "https://example.org/a"')
    ):
        pipeline.process_item(again)


def test_an_item_without_the_text_field_passes_through(pipeline: DedupPipeline) -> None:
    item = {"url": "https://example.org/list", "links": ["a", "b"]}
    assert pipeline.process_item(item) == {"url": "https://example.org/list", "links": ["a", "b"]}


def test_ids_come_from_the_id_field_else_the_url_else_a_count() -> None:
    pipeline = DedupPipeline(id_field="key")
    pipeline.open_spider()
    pipeline.process_item({"key": 7, "url": "u", "text": "\n".join(LIBRARY)})
    with pytest.raises(DropItem, match='duplicate_document "8" repeats "7"'):
        pipeline.process_item({"key": 8, "text": "\n".join(LIBRARY)})
    with pytest.raises(InputError, match="no 'key' field"):
        pipeline.process_item({"text": "\n".join(RAIL)})

    pipeline = DedupPipeline()
    pipeline.open_spider()
    pipeline.process_item({"text": "\n".join(LIBRARY)})
    with pytest.raises(DropItem, match='"item-2" repeats "item-1"'):
        pipeline.process_item({"text": "\n".join(LIBRARY)})


def test_empty_text_is_dropped_and_a_non_string_is_an_error(pipeline: DedupPipeline) -> None:
    with pytest.raises(DropItem, match=re.escape('dedup: empty "https://example.org/blank"')):
        pipeline.process_item({"url": "https://example.org/blank", "text": ""})
    with pytest.raises(InputError, match="field 'text' must be a string, got list"):
        pipeline.process_item({"url": "https://example.org/x", "text": ["a"]})


def test_settings_build_the_config() -> None:
    crawler = get_crawler(
        settings_dict={
            "DEDUP_CONFIG": {"dedup": {"threshold": 0.6, "doc_threshold": 0.75}, "topic": {"enabled": False}},
            "DEDUP_DOC_THRESHOLD": 0.9,
            "DEDUP_DUP_THRESHOLD": "0.55",
            "DEDUP_TEXT_FIELD": "body",
            "DEDUP_ID_FIELD": "key",
        }
    )
    pipeline = DedupPipeline.from_crawler(crawler)
    assert pipeline.config == Config(
        dedup=DedupConfig(threshold=0.55, doc_threshold=0.9), topic=TopicConfig(enabled=False)
    )
    assert (pipeline.text_field, pipeline.id_field, pipeline.index) == ("body", "key", None)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"DEDUP_CONFIG": {"dedupe": {}}}, "DEDUP_CONFIG: unknown section 'dedupe'"),
        ({"DEDUP_CONFIG": "{not json"}, "DEDUP_CONFIG: expected a dict"),
        ({"DEDUP_TOPIC_THRESHOLD": "high"}, "DEDUP_TOPIC_THRESHOLD: expected a number, got 'high'"),
        ({"DEDUP_DOC_THRESHOLD": 3}, "DEDUP_DOC_THRESHOLD: dedup: doc threshold must be between"),
    ],
)
def test_bad_settings_are_config_errors(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        DedupPipeline.from_crawler(get_crawler(settings_dict=settings))
    assert message in str(caught.value)


def test_a_file_index_outlives_the_crawl(tmp_path: Path) -> None:
    index = str(tmp_path / "index.npz")
    first = DedupPipeline(index=index)
    first.open_spider()
    first.process_item({"url": "https://example.org/a", "text": "\n".join(RAIL)})
    first.close_spider()

    second = DedupPipeline(index=index)
    second.open_spider()
    with pytest.raises(DropItem, match=re.escape('repeats "https://example.org/a"')):
        second.process_item({"url": "https://example.org/a-again", "text": "\n".join(RAIL)})
    second.close_spider()


def test_process_item_before_open_spider_is_an_error() -> None:
    with pytest.raises(DedupError, match="open_spider"):
        DedupPipeline().process_item({"text": "x"})


def test_without_scrapy_the_import_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "scrapy.exceptions", None)  # what Python does for a missing module
    monkeypatch.delitem(sys.modules, "dedup.integrations.scrapy")
    with pytest.raises(DedupError, match=re.escape('pip install "dedup[scrapy]"')) as caught:
        importlib.import_module("dedup.integrations.scrapy")
    assert isinstance(caught.value, ImportError)
