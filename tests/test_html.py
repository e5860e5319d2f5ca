"""``dedup.html``: the HTML report, checked as a file and in a real headless Chromium.

The browser tests load the page from disk as a user would, read the
browser's console, and save a screenshot of each page they look at (see
the ``screenshot_dir`` fixture).
"""

from __future__ import annotations

import base64
import doctest
import hashlib
import json
import random
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import dedup.html
from dedup.data import Ref
from dedup.errors import InputError
from dedup.html import ReportDocument, ReportParagraph, report_file, write_html
from dedup.run import clean_files

SEED_000 = "000_93c3f7158df3345d.txt"
SEED_002 = "002_c1d64411474b32a4.txt"
WORDS = ["council", "budget", "library", "river", "harvest", "orchestra", "storm", "museum", "railway", "school",
         "hospital", "market", "bridge", "festival", "election", "factory", "harbour", "theatre", "garden"]
HOSTILE = [
    "<script>window.pwned = 1; document.title = 'pwned'</script>",
    "</style><style>body { display: none }</style>",
    "</script><script>window.pwned = 2</script>",
    "<a href=\"javascript:window.pwned = 3\">javascript:window.pwned = 3</a>",
    "<img src=x onerror=\"window.pwned = 4; document.title = 'pwned'\">",
    "<!-- <script>window.pwned = 5</script> --> \u2028 line \u2029 separators & ampersands",
]


def _filler(seed: int, paragraphs: int = 4) -> str:
    """Distinct made-up paragraphs: no two documents share one."""
    rng = random.Random(seed)
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    lines = []
    for _ in range(paragraphs):
        words = [rng.choice(WORDS) if rng.random() < 0.3 else "".join(rng.choices(syllables, k=3))
                 for _ in range(16)]
        lines.append(" ".join(words).capitalize() + ".")
    return "\n\n".join(lines) + "\n"


@pytest.fixture
def corpus(tmp_path: Path, write_jsonl: Callable[..., Path], seeds_dir: Path) -> Path:
    """Documents with every kind of removal the report shows.

    The two seeds (a body scraped twice, teasers and a photo credit), a
    light copy of the first (a duplicate document), 30 documents of filler,
    and, on the second page of documents, one that opens with paragraphs of the
    first seed (a repeat across documents, with ``cross_doc_paragraphs``).
    """
    seed_0 = (seeds_dir / SEED_000).read_text(encoding="utf-8")
    seed_2 = (seeds_dir / SEED_002).read_text(encoding="utf-8")
    records = [{"id": "seed-0", "text": seed_0}, {"id": "seed-2", "text": seed_2},
               {"id": "copy-0", "text": seed_0.replace("police stations", "police posts", 1)}]
    records += [{"id": f"filler-{n:02d}", "text": _filler(n)} for n in range(30)]
    own = ("Officials in Rome said on Wednesday that they would look into the claims about the stations in Italy.\n"
           "The Chinese embassy in Rome said the claims about the stations were false and the offices were legal.\n")
    records.append({"id": "late-repeat", "text": "\n".join(seed_0.splitlines()[:3]) + "\n" + own})
    return write_jsonl(tmp_path / "in.jsonl", records)


def _run(corpus: Path, tmp_path: Path, **kwargs: Any) -> tuple[Path, list[dict[str, Any]]]:
    from dedup.config import Config, DedupConfig

    config = Config(dedup=DedupConfig(cross_doc_paragraphs=True))
    page = tmp_path / "report.html"
    clean_files(corpus, tmp_path / "out.jsonl", config, report=tmp_path / "report.jsonl", html=page, workers=1,
                **kwargs)
    report = [json.loads(line) for line in (tmp_path / "report.jsonl").read_text(encoding="utf-8").splitlines()]
    return page, report


def _embedded(page: str) -> dict[str, Any]:
    """The JSON block of a page."""
    found = re.search(r'<script type="application/json" id="dedup-data">(.*?)</script>', page, re.S)
    if found is None:
        raise AssertionError("no data block in the page")
    data: dict[str, Any] = json.loads(found.group(1))
    return data


# -- the file ---------------------------------------------------------------------------------


def test_examples_in_the_docstrings() -> None:
    assert doctest.testmod(dedup.html).failed == 0


def test_policy_allows_exactly_the_inline_style_and_script(corpus: Path, tmp_path: Path) -> None:
    page = _run(corpus, tmp_path)[0].read_text(encoding="utf-8")
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert policy is not None
    directives = dict(d.strip().split(" ", 1) for d in policy.group(1).split(";"))
    assert directives["default-src"] == "'none'"
    for tag, directive in (("style", "style-src"), ("script", "script-src")):
        bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.S)
        assert len(bodies) == 1
        digest = base64.b64encode(hashlib.sha256(bodies[0].encode("utf-8")).digest()).decode("ascii")
        assert directives[directive] == f"'sha256-{digest}'"
    assert not re.search(r"\b(src|href)=\"(https?:)?//", page), "the page must fetch nothing"


def test_data_block_cannot_be_closed_by_the_text(tmp_path: Path) -> None:
    texts = [*HOSTILE, "lone \ud800 surrogate", "\udfff"]
    doc = ReportDocument("id </script> \ud800", tuple(ReportParagraph(t) for t in texts))
    page = tmp_path / "page.html"
    write_html(page, [doc])
    raw = page.read_bytes().decode("utf-8")  # a lone surrogate would not have encoded
    assert raw.lower().count("</script") == 2  # the data block's end and the script's
    assert "\u2028" not in raw and "\u2029" not in raw
    data = _embedded(raw)
    shown = [p["t"] for p in data["documents"][0]["p"]]
    assert shown == [*HOSTILE, "lone \ufffd surrogate", "\ufffd"]
    assert data["documents"][0]["id"] == "id </script> \ufffd"


def test_library_and_command_write_the_same_page(corpus: Path, tmp_path: Path, run: Callable[..., Any]) -> None:
    """``clean --html`` and ``report`` over ``clean --annotate`` (with its summary) agree byte for byte."""
    options = ["--cross-doc-paragraphs", "--workers", "1"]
    direct = run("clean", corpus, "-o", tmp_path / "out.jsonl", "--html", tmp_path / "direct.html", *options)
    assert direct.exit_code == 0, direct.output
    annotated = run("clean", corpus, "-o", tmp_path / "annotated.jsonl", "--annotate", "--summary",
                    tmp_path / "summary.json", *options)
    assert annotated.exit_code == 0, annotated.output
    result = run("report", tmp_path / "annotated.jsonl", "--html", tmp_path / "from-annotated.html", "--summary",
                 tmp_path / "summary.json")
    assert result.exit_code == 0, result.output
    assert "34 of 34 documents" in result.output
    assert (tmp_path / "direct.html").read_bytes() == (tmp_path / "from-annotated.html").read_bytes()


@pytest.mark.parametrize("score", [4e-7, 0.0249999999, 0.7499999996, 0.123456789])
def test_scores_as_annotate_rounds_them_give_the_same_page(tmp_path: Path, score: float) -> None:
    """``--annotate`` writes scores to 6 places: the page of the rounded scores is the page of the exact ones."""
    pages = []
    for value in (score, round(score, 6)):
        doc = ReportDocument("a", (ReportParagraph("Kept.", None, value), ReportParagraph("Gone.", "off_topic", value)))
        write_html(tmp_path / "page.html", [doc])
        pages.append((tmp_path / "page.html").read_bytes())
    assert pages[0] == pages[1]


def test_report_without_summary_says_the_thresholds_are_defaults(corpus: Path, tmp_path: Path) -> None:
    clean_files(corpus, tmp_path / "annotated.jsonl", annotate=True, workers=1)
    written = report_file(tmp_path / "annotated.jsonl", tmp_path / "page.html")
    assert (written.documents, written.shown) == (34, 34)
    data = _embedded((tmp_path / "page.html").read_text(encoding="utf-8"))
    assert data["settings_known"] is False
    assert data["histograms"]["near_duplicate"]["thresholds"] == [{"label": "threshold", "value": 0.5}]


def test_counts_and_histograms_follow_the_report(corpus: Path, tmp_path: Path) -> None:
    page, report = _run(corpus, tmp_path)
    data = _embedded(page.read_text(encoding="utf-8"))
    summary = json.loads(json.dumps(data["counts"]))
    paragraph_removals = [line for line in report if line["paragraph"] is not None]
    assert sum(summary["removed"]["paragraphs"].values()) == len(paragraph_removals)
    assert {"duplicate", "off_topic"} <= set(summary["removed"]["paragraphs"])
    assert summary["removed"]["documents"] == Counter(line["reason"] for line in report if line["paragraph"] is None)
    assert summary["removed"]["documents"]["duplicate_document"] == 1
    topic = data["histograms"]["topic"]
    assert sum(topic["removed"]) == summary["removed"]["paragraphs"]["off_topic"]
    assert sum(data["histograms"]["duplicate_document"]["removed"]) == 1
    by_id = {doc["id"]: doc for doc in data["documents"]}
    for line in paragraph_removals:
        paragraph = by_id[line["id"]]["p"][line["paragraph"]]
        assert (paragraph["r"], paragraph["t"]) == (line["reason"], line["text"])
        if "signals" in line:
            assert paragraph["g"] == line["signals"]


def test_a_large_run_is_sampled_under_the_cap_removals_first(tmp_path: Path) -> None:
    rng = random.Random(7)
    documents = []
    for n in range(3000):
        text = " ".join(rng.choice(WORDS) for _ in range(60))
        removed = n % 10 == 0
        documents.append(ReportDocument(f"doc-{n}", (
            ReportParagraph(text),
            ReportParagraph(text, "duplicate", 1.0, Ref(f"doc-{n}", 0)) if removed else ReportParagraph(text[::-1]),
        )))
    written = write_html(tmp_path / "page.html", documents, max_bytes=600_000)
    assert written.bytes == (tmp_path / "page.html").stat().st_size <= 600_000
    assert 300 < written.shown < 3000 and written.documents == 3000
    data = _embedded((tmp_path / "page.html").read_text(encoding="utf-8"))
    shown = [doc["id"] for doc in data["documents"]]
    assert {f"doc-{n}" for n in range(0, 3000, 10)} <= set(shown)  # every document with a removal
    assert shown == sorted(shown, key=lambda name: int(name.split("-")[1]))  # in input order
    assert data["sample"]["documents"] == data["counts"]["documents"]["in"] == 3000


def test_report_refuses_output_that_is_not_annotated(tmp_path: Path, write_jsonl: Callable[..., Path],
                                                     run: Callable[..., Any]) -> None:
    plain = write_jsonl(tmp_path / "plain.jsonl", [{"id": "a", "text": "One paragraph."}])
    with pytest.raises(InputError, match=r"plain.jsonl:1: no 'dedup' field.*--annotate"):
        report_file(plain, tmp_path / "page.html")
    result = run("report", plain, "--html", tmp_path / "page.html")
    assert result.exit_code == 1
    assert "plain.jsonl:1: no 'dedup' field" in result.output
    assert not (tmp_path / "page.html").exists()


@pytest.mark.parametrize(("dedup", "message"), [
    ({"decisions": [{"kept": False, "reason": "duplicate", "score": "NaN"}]}, "'score' must be a finite number"),
    ({"decisions": []}, "the text has 1 paragraphs but 'dedup.decisions' 0"),
    ({"decisions": [{"kept": False, "reason": 3}]}, "'reason' must be a reason"),
    ({"decisions": [{"kept": False, "reason": "duplicate", "duplicate_of": {"id": None}}]}, "'duplicate_of' must be"),
])
def test_report_names_the_line_of_a_damaged_annotation(tmp_path: Path, dedup: dict[str, Any], message: str) -> None:
    raw = json.dumps({"id": "a", "text": "One paragraph.", "dedup": dedup}).replace('"NaN"', "NaN")
    (tmp_path / "annotated.jsonl").write_text("\n" + raw + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=re.escape(f"annotated.jsonl:2: {message}")):
        report_file(tmp_path / "annotated.jsonl", tmp_path / "page.html")


def test_html_with_state_is_a_usage_error(corpus: Path, tmp_path: Path, run: Callable[..., Any]) -> None:
    result = run("clean", corpus, "-o", tmp_path / "out.jsonl", "--html", tmp_path / "page.html", "--state",
                 tmp_path / "state")
    assert result.exit_code == 2
    assert "--html is built from the results as they come" in result.output
    same = run("clean", corpus, "-o", tmp_path / "out.jsonl", "--html", tmp_path / "out.jsonl")
    assert same.exit_code == 2
    assert "--output, --report, --summary and --html must be different files" in same.output


# -- in the browser ---------------------------------------------------------------------------


def _open(browser: Any, page: Path, screenshot_dir: Path, name: str) -> None:
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(page.as_uri())
    browser.save_screenshot(str(screenshot_dir / f"{name}.png"))


def _console_errors(browser: Any) -> list[dict[str, Any]]:
    return [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def test_page_loads_cleanly_and_draws_its_charts(browser: Any, corpus: Path, tmp_path: Path,
                                                 screenshot_dir: Path) -> None:
    page, _ = _run(corpus, tmp_path)
    _open(browser, page, screenshot_dir, "report")
    assert _console_errors(browser) == []
    bars = browser.execute_script(
        "return [...document.querySelectorAll('#summary-chart rect')].map(r => r.getBBox().width)")
    assert len(bars) >= 6 and all(width > 0 for width in bars)
    histogram = browser.execute_script(
        "const s = document.getElementById('histogram-topic'); const b = s.getBoundingClientRect();"
        "return [s.querySelectorAll('rect').length, s.querySelectorAll('line.threshold').length, b.width, b.height]")
    assert histogram[0] > 0 and histogram[1] == 2 and histogram[2] > 0 and histogram[3] > 0
    struck = browser.execute_script(
        "const p = document.querySelector('.para.removed .text');"
        "return getComputedStyle(p).textDecorationLine")
    assert struck == "line-through"
    assert browser.title == "dedup report"


def test_filter_by_reason_shows_only_those_documents(browser: Any, corpus: Path, tmp_path: Path,
                                                     screenshot_dir: Path) -> None:
    from selenium.webdriver.support.ui import Select

    page, report = _run(corpus, tmp_path)
    _open(browser, page, screenshot_dir, "filter-before")
    for reason in ("off_topic", "duplicate", "duplicate_document"):
        expected = sorted({line["id"] for line in report if line["reason"] == reason})
        Select(browser.find_element("id", "filter-reason")).select_by_value(f"reason:{reason}")
        shown = browser.execute_script(
            "return [...document.querySelectorAll('#documents .doc-id')].map(e => e.textContent)")
        assert sorted(shown) == expected, reason
        badges = browser.execute_script(
            "return [...document.querySelectorAll('#documents .doc')].map(d => d.querySelectorAll("
            f"'.r-{reason}').length)")
        assert all(badges)
    browser.save_screenshot(str(screenshot_dir / "filter-duplicate_document.png"))
    assert _console_errors(browser) == []


@pytest.mark.parametrize("source", ["seed-0", "late-repeat"])
def test_a_repeat_links_to_the_paragraph_it_repeats(browser: Any, corpus: Path, tmp_path: Path,
                                                    screenshot_dir: Path, source: str) -> None:
    """Within a document, and across documents to one on another page of the list."""
    page, report = _run(corpus, tmp_path)
    repeat = next(line for line in report if line["id"] == source and line["reason"] == "duplicate")
    target_doc, target_paragraph = repeat["duplicate_of"]["id"], repeat["duplicate_of"]["paragraph"]
    _open(browser, page, screenshot_dir, f"repeat-{source}-before")
    index = browser.execute_script(
        "return JSON.parse(document.getElementById('dedup-data').textContent).documents"
        ".findIndex(d => d.id === arguments[0])", source)
    browser.execute_script(f"location.hash = '#p-{index}-{repeat['paragraph']}'")  # the repeat's own page
    link = browser.find_element("css selector", f"#p-{index}-{repeat['paragraph']} a.repeat")
    browser.execute_script("arguments[0].scrollIntoView({block: 'end'})", link)
    link.click()
    target_index = browser.execute_script(
        "return JSON.parse(document.getElementById('dedup-data').textContent).documents"
        ".findIndex(d => d.id === arguments[0])", target_doc)
    anchor = f"p-{target_index}-{target_paragraph}"
    assert browser.execute_script("return location.hash") == f"#{anchor}"
    visible = browser.execute_script(
        "const e = document.getElementById(arguments[0]); if (!e) return null; const b = e.getBoundingClientRect();"
        "return [b.top >= 0 && b.bottom <= innerHeight, e.querySelector('.text').textContent]", anchor)
    assert visible == [True, repeat["text"]]
    browser.save_screenshot(str(screenshot_dir / f"repeat-{source}-after.png"))
    assert _console_errors(browser) == []


def test_hostile_text_shows_literally_and_runs_nothing(browser: Any, tmp_path: Path, screenshot_dir: Path,
                                                       write_jsonl: Callable[..., Path]) -> None:
    lines = [*HOSTILE, "lone \ud800 surrogate"]
    records = [{"id": "<b id=pwn>bold</b>", "text": "\n".join(lines) + "\n" + "\n".join(lines) + "\n"},
               {"id": "javascript:window.pwned = 6", "text": "\n".join(reversed(lines)) + "\n"}]
    raw = "\n".join(json.dumps(record) for record in records)  # ensure_ascii: the surrogate stays an escape
    (tmp_path / "hostile.jsonl").write_text(raw + "\n", encoding="ascii")
    page = tmp_path / "hostile.html"
    clean_files(tmp_path / "hostile.jsonl", tmp_path / "out.jsonl", html=page, workers=1)
    _open(browser, page, screenshot_dir, "hostile")
    state = browser.execute_script(
        "return [typeof window.pwned, document.title, document.images.length, document.getElementById('pwn'),"
        "document.querySelectorAll('#documents a:not(.repeat)').length, getComputedStyle(document.body).display,"
        "document.querySelectorAll('script').length]")
    assert state == ["undefined", "dedup report", 0, None, 0, "block", 2]
    texts = browser.execute_script(
        "return [...document.querySelectorAll('#documents .para .text')].map(e => e.textContent)")
    assert set(texts) == {*HOSTILE, "lone \ufffd surrogate"}
    ids = browser.execute_script("return [...document.querySelectorAll('.doc-id')].map(e => e.textContent)")
    assert ids == ["<b id=pwn>bold</b>", "javascript:window.pwned = 6"]
    assert _console_errors(browser) == []
