"""The HTML report: one self-contained page that shows what a run removed, and why.

The page holds the run's counts as a chart, the distributions of topic
scores and repeat similarities with the thresholds marked, and the
documents, paragraph by paragraph: removed paragraphs struck through and
coloured by reason, with their score, the topic model's signals, and a link
to the paragraph a repeat repeats. It is one file with its style and script
inline and fetches nothing; its Content-Security-Policy allows only those
two (by hash) and no network.

The documents travel as JSON in a ``<script type="application/json">``
block that the page's script renders a page at a time, with text set through
``textContent``: scraped text is never parsed as HTML. ``<``, ``>``, ``&``
and the JavaScript line separators are escaped in the JSON, so no text can
close the block; lone surrogates (JSON ``"\\ud800"`` in an input) are shown
as U+FFFD. The counts and histograms cover every document; the texts are
capped (``max_bytes``, about 20 MB by default): past that, documents with a
removal are kept first, then a fixed sample by a hash of the id, and the
page says so.

Two ways in: :class:`HtmlReport` collects the results of a run as they come
(``clean_files(..., html=path)``), and :func:`report_file` reads the output
of ``dedup clean --annotate`` (``dedup report``).

Example:
    >>> import pathlib, tempfile
    >>> from dedup.data import Ref
    >>> doc = ReportDocument("a", (ReportParagraph("Budget approved."), ReportParagraph(
    ...     "Budget approved.", "duplicate", 1.0, Ref("a", 0))))
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "report.html"
    >>> write_html(path, [doc]).shown
    1
    >>> "Content-Security-Policy" in path.read_text()
    True
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, NamedTuple

from dedup import __version__
from dedup.config import Config, InputConfig
from dedup.data import CleanResult, Document, Reason, Ref
from dedup.errors import ConfigError, InputError
from dedup.read import list_inputs, read_jsonl
from dedup.split import paragraph_spans
from dedup.write import Summary, open_output

PathArg = str | os.PathLike[str]

#: The page's size is kept under this many bytes by sampling documents.
REPORT_BYTES = 20_000_000
#: A longer paragraph is shortened to this many characters on the page.
PARAGRAPH_CHARS = 5_000
#: Bins of each histogram, over [0, 1].
BINS = 40
#: What the page takes besides the documents: markup, style, script, counts and histograms.
_OVERHEAD = 100_000

_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class ReportParagraph:
    """One paragraph as the page shows it.

    Attributes:
        text: The paragraph's text.
        reason: Why it was removed (a :class:`~dedup.data.Reason` value), ``None`` when kept.
        score: The evidence for the reason; for a kept paragraph its off-topic probability.
        duplicate_of: What a repeat repeats.
        signals: For ``off_topic``, the signals that pushed the score up most.
    """

    text: str
    reason: str | None = None
    score: float = 0.0
    duplicate_of: Ref | None = None
    signals: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReportDocument:
    """One document as the page shows it: its paragraphs in order, and why it was dropped, if it was.

    Attributes:
        id: The document's id.
        paragraphs: Every paragraph of the input, kept and removed.
        dropped: Why the whole document was dropped, ``None`` when kept.
        score: The evidence for ``dropped``.
        duplicate_of: For a ``duplicate_document``, the earlier document.
        error: For an ``invalid`` record, what was wrong with it.
    """

    id: str
    paragraphs: tuple[ReportParagraph, ...]
    dropped: str | None = None
    score: float = 0.0
    duplicate_of: Ref | None = None
    error: str | None = None

    @classmethod
    def from_result(cls, result: CleanResult) -> ReportDocument:
        """The document of a cleaner's result (kept paragraphs from its text, removed ones from its metadata)."""
        if result.dropped is None:
            kept = iter(paragraph_spans(result.text)[1])
            removed = result.metadata.get("removed", {})
            texts = [next(kept, "") if d.kept else removed.get(d.index, "") for d in result.decisions]
        else:
            texts = paragraph_spans(result.metadata.get("original") or "")[1]
        paragraphs = tuple(
            ReportParagraph(
                texts[d.index] if d.index < len(texts) else "",
                None if d.reason is None else d.reason.value,
                d.score,
                d.duplicate_of,
                d.metadata.get("signals") or {},
            )
            for d in result.decisions
        )
        return cls(
            result.id,
            paragraphs,
            None if result.dropped is None else result.dropped.value,
            result.score,
            result.duplicate_of,
            result.metadata.get("error"),
        )

    @classmethod
    def from_annotated(cls, doc: Document) -> ReportDocument:
        """The document of a record written by ``dedup clean --annotate``: its text and its ``dedup`` field.

        Raises:
            InputError: The record has no ``dedup`` field, or one that ``--annotate`` did not write.
        """
        where = (doc.source, doc.line)
        annotation = doc.fields.get("dedup")
        if not isinstance(annotation, Mapping):
            raise InputError("no 'dedup' field: give the output of `dedup clean --annotate`", *where)
        decisions = annotation.get("decisions")
        if not isinstance(decisions, list) or not all(isinstance(d, Mapping) for d in decisions):
            raise InputError("'dedup.decisions' is not a list of decisions: give the output of "
                             "`dedup clean --annotate`", *where)
        texts = paragraph_spans(doc.text)[1]
        if len(texts) != len(decisions):
            raise InputError(f"the text has {len(texts)} paragraphs but 'dedup.decisions' {len(decisions)}: was the "
                             "text changed after `dedup clean --annotate`?", *where)
        paragraphs = []
        for text, decision in zip(texts, decisions, strict=True):
            metadata = decision.get("metadata")
            paragraphs.append(ReportParagraph(
                text,
                None if decision.get("kept") is True else _name(decision.get("reason"), "reason", where),
                _number(decision.get("score"), where),
                _ref(decision.get("duplicate_of"), where),
                _signals(metadata.get("signals") if isinstance(metadata, Mapping) else None),
            ))
        dropped = annotation.get("dropped")
        return cls(
            doc.id,
            tuple(paragraphs),
            None if dropped is None else _name(dropped, "dropped", where),
            _number(annotation.get("score"), where),
            _ref(annotation.get("duplicate_of"), where),
        )


def _name(value: Any, what: str, where: tuple[str | None, int | None]) -> str:
    if not isinstance(value, str):
        raise InputError(f"'{what}' must be a reason (a string), found {json.dumps(value)[:80]}", *where)
    return value


def _number(value: Any, where: tuple[str | None, int | None]) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"'score' must be a finite number, found {json.dumps(value)[:80]}", *where)
    return float(value)


def _signals(value: Any) -> dict[str, float]:
    """The signals of a decision's metadata: names with finite numbers, anything else left out."""
    if not isinstance(value, Mapping):
        return {}
    return {str(name): float(weight) for name, weight in value.items()
            if isinstance(weight, int | float) and not isinstance(weight, bool) and math.isfinite(weight)}


def _ref(value: Any, where: tuple[str | None, int | None]) -> Ref | None:
    if value is None:
        return None
    ref_id, paragraph = (value.get("id"), value.get("paragraph")) if isinstance(value, Mapping) else (None, None)
    if isinstance(ref_id, bool) or not isinstance(ref_id, str | int) or not (
            paragraph is None or (isinstance(paragraph, int) and not isinstance(paragraph, bool))):
        raise InputError(f"'duplicate_of' must be {{\"id\", \"paragraph\"}}, found {json.dumps(value)[:80]}", *where)
    return Ref(str(ref_id), paragraph)


class HtmlWritten(NamedTuple):
    """What :meth:`HtmlReport.write` wrote: documents in all, documents on the page, and the file's size."""

    documents: int
    shown: int
    bytes: int


class _Histogram:
    """Counts of scores in [0, 1], kept and removed apart."""

    def __init__(self) -> None:
        self.kept = [0] * BINS
        self.removed = [0] * BINS

    def add(self, score: float, removed: bool) -> None:
        counts = self.removed if removed else self.kept
        # Rounded as --annotate writes scores, so that a score just under a bin's edge is binned alike both ways.
        counts[min(BINS - 1, max(0, int(round(score, 6) * BINS)))] += 1

    def to_json(self, title: str, reason: str, thresholds: list[tuple[str, float]], empty: str,
                note: str = "") -> dict[str, Any]:
        return {
            "title": title, "reason": reason, "kept": self.kept, "removed": self.removed, "empty": empty,
            "thresholds": [{"label": label, "value": value} for label, value in thresholds], "note": note,
        }


class HtmlReport:
    """Collects a run's documents for the HTML page, then writes it.

    Counts and histograms take in every document; the documents' texts are
    kept while they fit in ``max_bytes`` (documents with a removal first,
    then by a hash of the id), so memory stays bounded whatever the run.

    Example:
        >>> report = HtmlReport()
        >>> report.add(ReportDocument("a", (ReportParagraph("Kept."),)))
        >>> report.counts.paragraphs_out
        1
    """

    def __init__(self, max_bytes: int = REPORT_BYTES) -> None:
        self.max_bytes = max_bytes
        self.counts = Summary()
        self._topic = _Histogram()
        self._near = _Histogram()
        self._documents = _Histogram()
        # A heap of (-priority, order, document JSON, paragraphs shortened): the least wanted on top.
        self._sample: list[tuple[tuple[int, int], int, bytes, int]] = []
        self._sample_bytes = 0

    def add(self, document: ReportDocument) -> None:
        """Count ``document``, and keep its text for the page if it fits."""
        self._count(document)
        removal = document.dropped is not None or any(p.reason is not None for p in document.paragraphs)
        digest = hashlib.blake2b(document.id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        key = (-1 if removal else -2, -int.from_bytes(digest, "big"))  # the heap's least wanted comes first
        budget = self.max_bytes - _OVERHEAD
        if self._sample and key < self._sample[0][0]:
            at_least = sum(min(len(p.text), PARAGRAPH_CHARS) for p in document.paragraphs)
            if self._sample_bytes + at_least > budget:
                return  # it would be the first to go: not worth encoding
        blob, shortened = self._encode(document)
        heapq.heappush(self._sample, (key, self.counts.documents_in, blob, shortened))
        self._sample_bytes += len(blob) + 1
        while self._sample_bytes > budget and self._sample:
            dropped = heapq.heappop(self._sample)  # the least wanted: untouched, then the highest hash
            self._sample_bytes -= len(dropped[2]) + 1

    def _count(self, document: ReportDocument) -> None:
        counts = self.counts
        counts.documents_in += 1
        if document.dropped == Reason.INVALID:
            counts.documents_skipped += 1
            counts.documents_removed[document.dropped] += 1
            return
        counts.paragraphs_in += len(document.paragraphs)
        for paragraph in document.paragraphs:
            if paragraph.reason is None:
                counts.paragraphs_out += 1
                self._topic.add(paragraph.score, False)
            elif paragraph.reason not in (Reason.DUPLICATE_DOCUMENT, Reason.EMPTY):
                counts.paragraphs_removed[paragraph.reason] += 1
                if paragraph.reason == Reason.OFF_TOPIC:
                    self._topic.add(paragraph.score, True)
                elif paragraph.reason == Reason.NEAR_DUPLICATE:
                    self._near.add(paragraph.score, True)
        if document.dropped is None:
            counts.documents_out += 1
        else:
            counts.documents_dropped += 1
            counts.documents_removed[document.dropped] += 1
            if document.dropped == Reason.DUPLICATE_DOCUMENT:
                self._documents.add(document.score, True)

    @staticmethod
    def _encode(document: ReportDocument) -> tuple[bytes, int]:
        """The document's JSON, safe inside a script block (short keys, defaults left out); paragraphs shortened."""
        paragraphs = []
        shortened = 0
        for p in document.paragraphs:
            item: dict[str, Any] = {"t": p.text}
            if len(p.text) > PARAGRAPH_CHARS:
                item["t"] = p.text[:PARAGRAPH_CHARS] + "…"
                item["x"] = len(p.text)
                shortened += 1
            if p.reason is not None:
                item["r"] = p.reason
            score = round(p.score, 6)  # as --annotate writes it: both ways in give the same page
            if score:
                item["s"] = score
            if p.duplicate_of is not None:
                item["d"] = p.duplicate_of.to_dict()
            if p.signals:
                item["g"] = dict(p.signals)
            paragraphs.append(item)
        record: dict[str, Any] = {"id": document.id, "p": paragraphs}
        if document.dropped is not None:
            record.update(dropped=document.dropped, s=round(document.score, 6))
        if document.duplicate_of is not None:
            record["d"] = document.duplicate_of.to_dict()
        if document.error is not None:
            record["e"] = document.error
        return _script_json(record), shortened

    def write(self, path: PathArg, summary: Mapping[str, Any] | None = None) -> HtmlWritten:
        """Write the page to ``path`` (``"-"`` for stdout), atomically.

        Args:
            path: Where to write the page.
            summary: The run's ``--summary`` JSON: its settings give the
                thresholds marked on the histograms (dedup's defaults when
                not given, and the page says so).

        Raises:
            ConfigError: ``summary`` holds settings that are not a dedup configuration.
            OutputError: ``path`` cannot be written.
        """
        settings = summary.get("config") if summary is not None else None
        config = Config.from_dict(settings) if isinstance(settings, Mapping) else Config()
        sample = sorted(self._sample, key=lambda item: item[1])  # input order
        documents = [item[2] for item in sample]
        meta = {
            "generated": f"dedup {__version__}" + (f" · run by dedup {summary['version']}"
                                                    if summary is not None and "version" in summary else ""),
            "settings_known": isinstance(settings, Mapping),
            "counts": self.counts.to_dict(__version__, "", {}),
            "histograms": self._histograms(config),
            "sample": {"documents": self.counts.documents_in, "shown": len(documents), "max_bytes": self.max_bytes,
                       "shortened": sum(item[3] for item in sample), "paragraph_chars": PARAGRAPH_CHARS},
        }
        data = _script_json(meta)[:-1] + b',"documents":[' + b",".join(documents) + b"]}"
        page = _page(data)
        with open_output(os.fspath(path)) as out:
            out.write(page)
        return HtmlWritten(self.counts.documents_in, len(documents), len(page.encode("utf-8")))

    def _histograms(self, config: Config) -> dict[str, Any]:
        topic, dedup = config.topic, config.dedup
        return {
            "topic": self._topic.to_json(
                "Off-topic scores of paragraphs", Reason.OFF_TOPIC,
                [("trailing", topic.threshold), ("inner", topic.inner_threshold)],
                "No paragraph was scored for topic." if topic.enabled else "The topic stage was off.",
                "kept paragraphs that were not scored count as 0",
            ),
            "near_duplicate": self._near.to_json(
                "Similarity of near-duplicate paragraphs", Reason.NEAR_DUPLICATE,
                [("threshold", dedup.threshold)], "No paragraph was removed as a near duplicate.",
            ),
            "duplicate_document": self._documents.to_json(
                "Similarity of duplicate documents", Reason.DUPLICATE_DOCUMENT,
                [("threshold", dedup.doc_threshold)], "No document was dropped as a duplicate.",
            ),
        }


def write_html(
    path: PathArg, documents: Iterable[ReportDocument], summary: Mapping[str, Any] | None = None, *,
    max_bytes: int = REPORT_BYTES,
) -> HtmlWritten:
    """Write the HTML report of ``documents`` to ``path``.

    Args:
        path: Where to write the page (``"-"`` for stdout).
        documents: The run's documents, in input order.
        summary: The run's ``--summary`` JSON, for its thresholds.
        max_bytes: About the largest the page may be: past it, documents are sampled.

    Raises:
        ConfigError: ``summary`` holds settings that are not a dedup configuration.
        OutputError: ``path`` cannot be written.
    """
    report = HtmlReport(max_bytes)
    for document in documents:
        report.add(document)
    return report.write(path, summary)


def report_file(
    annotated: PathArg, html_path: PathArg, *, summary: PathArg | None = None, text_field: str | None = None,
    id_field: str | None = None, max_bytes: int = REPORT_BYTES,
) -> HtmlWritten:
    """Write the HTML report of the output of ``dedup clean --annotate``, as ``dedup report`` does.

    Args:
        annotated: The annotated JSONL (``.gz``/``.zst``, or ``"-"`` for stdin).
        html_path: Where to write the page.
        summary: The run's ``--summary`` JSON file, whose thresholds are marked.
        text_field: The key of the text (by default the summary's, else ``text``).
        id_field: The key of the id (by default the summary's, else ``id``).
        max_bytes: About the largest the page may be: past it, documents are sampled.

    Raises:
        InputError: A file cannot be read, or is not what ``dedup clean`` writes.
        OutputError: ``html_path`` cannot be written.
    """
    settings: dict[str, Any] | None = None
    if summary is not None:
        settings = _read_summary(os.fspath(summary))
    config = Config()
    if settings is not None:
        config = Config.from_dict(settings["config"])
    input_config = InputConfig(
        text_field=text_field or config.input.text_field, id_field=id_field or config.input.id_field,
    )
    source = os.fspath(annotated)
    files = list_inputs([source])
    report = HtmlReport(max_bytes)
    for file in files:
        if file.kind != "jsonl":
            raise InputError("not JSONL: give the output of `dedup clean --annotate` (a .jsonl file)", file.path)
        for doc in read_jsonl(file, input_config):
            if isinstance(doc, Document):
                report.add(ReportDocument.from_annotated(doc))
    return report.write(html_path, settings)


def _read_summary(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise InputError(f"cannot read the summary: {exc.strerror or exc}", path) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not JSON ({exc}): give the file `dedup clean --summary` wrote", path) from exc
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        raise InputError("no 'config' object: give the file `dedup clean --summary` wrote", path)
    try:
        Config.from_dict(data["config"])
    except ConfigError as exc:
        raise InputError(f"its 'config' is not dedup's: {exc}", path) from exc
    return data


def _script_json(value: Any) -> bytes:
    """``value`` as JSON that can sit in a ``<script>`` block: nothing in it can end the block or the line."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escape in _ESCAPES:  # str.replace is many times faster than str.translate
        if char in text:
            text = text.replace(char, escape)
    if not text.isascii():
        text = _SURROGATE.sub("\ufffd", text)  # a lone surrogate has no UTF-8 form; the display copy shows U+FFFD
    return text.encode("utf-8")


def _asset(name: str) -> str:
    return (resources.files("dedup") / "templates" / name).read_text(encoding="utf-8")


def _hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii") + "'"


def _page(data: bytes) -> str:
    """The page around ``data``: the JSON block between markup, style and script that never change."""
    style, script = _asset("report.css"), _asset("report.js")
    # Plain ASCII with no quote or ampersand: it needs no escaping in the attribute.
    policy = (f"default-src 'none'; script-src {_hash(script)}; style-src {_hash(style)}; img-src data:; "
              "base-uri 'none'; form-action 'none'")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{policy}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>dedup report</title>
<link rel="icon" href="data:,">
<style>{style}</style>
</head>
<body>
<h1>dedup report</h1>
<p class="muted" id="generated"></p>
<noscript><p class="note">This report is drawn by its inline script: allow JavaScript for this file.</p></noscript>
<div id="notes"></div>
<h2>Summary</h2>
<div class="counts" id="counts"></div>
<div id="summary-chart-box"></div>
<h2>Scores</h2>
<div class="charts" id="histograms"></div>
<h2>Documents</h2>
<div class="controls">
<label>Show <select id="filter-reason"></select></label>
<label>Find <input type="search" id="filter-text" placeholder="id or text"></label>
<span class="pager"><button type="button" id="previous">previous</button>
<span id="page-label"></span>
<button type="button" id="next">next</button></span>
</div>
<div id="documents"></div>
<script type="application/json" id="dedup-data">{data.decode("utf-8")}</script>
<script>{script}</script>
</body>
</html>
"""
