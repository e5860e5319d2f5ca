"""Real-page benchmark: how much article text a cleaner keeps, and how much page furniture.

Reads ``pages-dev.jsonl.gz`` in place (see :func:`find_pages_data`): 1,952
real web pages (1,338 Dragnet news and blog pages, 614 CleanEval pages of
all kinds), each with two inputs, ``text`` (the tag-stripped page) and
``trafilatura`` (after trafilatura's extraction), and a hand-made ``gold``
text of the main content. Nothing from the file is stored in the
repository::

    python benchmarks/pages.py [--methods asis,dedup,furniture,furniture+dedup]
                               [--paragraphs line|blank|auto] [--json OUT.json] [--limit N]

Score (the data's README): split gold and output into ``\\w+`` tokens,
count 4-token shingles as multisets, take precision and recall per page,
average each over the pages, and report the F1 of the two averages. A page
whose output is empty has recall 0 and is left out of the precision
average. A page is *lost* when its recall falls by more than
:data:`LOST_DROP` against the same input left as is.

Multisets count a gold text's own repeats: a page whose body appears twice
in its gold (some CleanEval golds keep a page's printed copy of its article)
loses half its recall when its repeat is removed. So each lost page is also
checked on shingle *sets*: a lost page whose set recall falls by no more
than :data:`LOST_DROP` lost only copies of text that it still holds once,
and is counted in ``lost_repeats`` (a part of ``lost``, shown beside it).

Methods
-------
A method is a *cleaner factory*: called with a :class:`Page`, it returns
a function from input text to cleaned text. The factory sees the page so
that a method may pick a model by the page's source (see ``furniture``
below); it must not look at ``gold``.

- ``asis``: the input unchanged.
- ``dedup``: :class:`dedup.Cleaner` with document deduplication off
  (``Config(dedup=DedupConfig(documents=False))``), a fresh cleaner per
  page, so that no state crosses pages; ``--paragraphs`` says what a
  paragraph is (default ``auto``, as ``dedup clean``). The run lists, per
  input, the pages where ``auto`` chose blocks between blank lines.
- ``dedup-furniture``: ``dedup`` with its furniture stage on
  (``--furniture``), each page scored by the furniture model of the
  protocol below (the run-time one saved to a temporary file, deleted at
  the end).
- ``furniture``: :mod:`dedup.furniture` removal alone: paragraphs scoring
  at or above the model's threshold are dropped, never every paragraph.
- ``furniture+dedup``: furniture removal, then ``dedup`` on what remains.

Fitting protocol for the furniture methods (no tuning to the pages scored):
Dragnet pages are scored with the shipped model (``dedup/models/furniture.npz``,
fitted on BBC train articles and CleanEval pages by
``benchmarks/train_furniture.py``); CleanEval pages with a model fitted
here, at run time, on BBC train articles and Dragnet pages (seeded, never
saved: Dragnet's licence forbids shipping anything derived from it). The
"all" rows blend the two models.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.corpus import find_data  # noqa: E402

DATA_ENV = "DEDUP_PAGES_DATA"
DATA_NAME = "pages-dev.jsonl.gz"
SOURCES = ("dragnet", "cleaneval")
INPUTS = ("text", "trafilatura")
SHINGLE_SIZE = 4
LOST_DROP = 0.2
METHODS = ("asis", "dedup", "dedup-furniture", "furniture", "furniture+dedup")

_TOKEN = re.compile(r"\w+")

Clean = Callable[[str], str]
CleanerFactory = Callable[["Page"], Clean]


# --------------------------------------------------------------------------
# Data


def find_pages_data() -> Path:
    """The real-page file (``$DEDUP_PAGES_DATA``, else ``shared/data/`` beside the checkout).

    Raises:
        FileNotFoundError: Neither place has the file.
    """
    return find_data(DATA_NAME, DATA_ENV, "real-page data")


@dataclass(frozen=True)
class Page:
    """One page of the benchmark.

    Attributes:
        id: ``dragnet-N`` or ``cleaneval-N``.
        source: ``dragnet`` or ``cleaneval``.
        text: The tag-stripped page.
        trafilatura: The page after trafilatura's extraction (may be empty).
        gold: The main content, one paragraph a line.
    """

    id: str
    source: str
    text: str
    trafilatura: str
    gold: str

    def input(self, name: str) -> str:
        """The input called ``name`` (one of :data:`INPUTS`)."""
        if name not in INPUTS:
            raise ValueError(f"input must be one of {INPUTS}, got {name!r}")
        return self.text if name == "text" else self.trafilatura


def load_pages(path: str | Path | None = None) -> tuple[Page, ...]:
    """Read the pages, in file order.

    Args:
        path: The ``.jsonl.gz`` file; :func:`find_pages_data` when ``None``.
    """
    resolved = Path(path) if path is not None else find_pages_data()
    return _load_pages(str(resolved.resolve()))


@lru_cache(maxsize=2)
def _load_pages(path: str) -> tuple[Page, ...]:
    pages = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            try:
                pages.append(Page(row["id"], row["source"], row["text"], row["trafilatura"], row["gold"]))
            except KeyError as exc:
                raise ValueError(f"{path}:{number}: record has no {exc.args[0]!r} field") from exc
    return tuple(pages)


# --------------------------------------------------------------------------
# The metric


def shingles(text: str, size: int = SHINGLE_SIZE) -> Counter[tuple[str, ...]]:
    """The multiset of ``size``-token shingles of ``text``, tokens being ``\\w+`` runs.

    Shingles run across line breaks and punctuation: the text is one token
    stream. A text of fewer than ``size`` tokens has none.

    Example:
        >>> sorted(shingles("a b, c\\nd e").items())
        [(('a', 'b', 'c', 'd'), 1), (('b', 'c', 'd', 'e'), 1)]
    """
    tokens = _TOKEN.findall(text)
    return Counter(zip(*(tokens[i:] for i in range(size)), strict=False))


@dataclass(frozen=True)
class PageScore:
    """Precision and recall of one output against its gold.

    Attributes:
        precision: Shared shingles over the output's; ``None`` when the
            output has no shingle (it is left out of the precision average).
        recall: Shared shingles over the gold's; 0 for an empty output.
        set_recall: The same over distinct shingles (the gold's own repeats
            counted once); ``None`` when not measured.
    """

    precision: float | None
    recall: float
    set_recall: float | None = None


def page_score(output: str, gold: str) -> PageScore:
    """Score one output against its gold text.

    Example:
        >>> page_score("one two three four five", "one two three four six")
        PageScore(precision=0.5, recall=0.5, set_recall=0.5)
    """
    out, ref = shingles(output), shingles(gold)
    n_out, n_ref = sum(out.values()), sum(ref.values())
    if not n_out:
        return PageScore(None, 0.0, 0.0)
    common = sum((out & ref).values())
    set_recall = len(out.keys() & ref.keys()) / len(ref) if ref else 1.0
    return PageScore(common / n_out, common / n_ref if n_ref else 1.0, set_recall)


@dataclass(frozen=True)
class Summary:
    """Averages over a set of pages.

    Attributes:
        pages: Pages scored.
        precision: Mean precision over pages with a non-empty output.
        recall: Mean recall over all pages.
        f1: Harmonic mean of the two averages.
        empty: Pages whose output was empty.
        lost: Pages whose recall fell by more than :data:`LOST_DROP` against
            the input as is (0 when no as-is scores were given).
        lost_repeats: Those of them whose set recall did not: they lost
            copies of text they still hold once (see the module's docstring).
    """

    pages: int
    precision: float
    recall: float
    f1: float
    empty: int
    lost: int
    lost_repeats: int = 0

    @property
    def lost_share(self) -> float:
        return self.lost / self.pages if self.pages else 0.0


def summarise(scores: Sequence[PageScore], as_is: Sequence[PageScore] | None = None) -> Summary:
    """Average page scores the way the data's README says.

    Args:
        scores: One score per page.
        as_is: The same pages' scores with the input left as is, to count
            lost pages; ``None`` counts none.

    Example:
        >>> s = summarise([PageScore(1.0, 0.5), PageScore(None, 0.0)], [PageScore(1.0, 0.5), PageScore(0.5, 1.0)])
        >>> (s.precision, s.recall, round(s.f1, 3), s.empty, s.lost, s.lost_repeats)
        (1.0, 0.25, 0.4, 1, 1, 0)
    """
    if as_is is not None and len(as_is) != len(scores):
        raise ValueError(f"got {len(scores)} scores but {len(as_is)} as-is scores")
    precisions = [s.precision for s in scores if s.precision is not None]
    precision = sum(precisions) / len(precisions) if precisions else 0.0
    recall = sum(s.recall for s in scores) / len(scores) if scores else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    lost = repeats = 0
    if as_is is not None:
        for s, base in zip(scores, as_is, strict=True):
            if base.recall - s.recall > LOST_DROP:
                lost += 1
                if s.set_recall is not None and base.set_recall is not None:
                    repeats += base.set_recall - s.set_recall <= LOST_DROP
    return Summary(len(scores), precision, recall, f1, len(scores) - len(precisions), lost, repeats)


# --------------------------------------------------------------------------
# Running methods


def as_is(page: Page) -> Clean:
    """The cleaner factory that changes nothing."""
    return _identity


def _identity(text: str) -> str:
    return text


def dedup_factory(furniture: dict[str, str] | None = None, paragraphs: str = "auto") -> CleanerFactory:
    """Current dedup without document deduplication, a fresh cleaner per page.

    Args:
        furniture: With the furniture stage on (``--furniture``): the path of
            the furniture model that scores each page source (the protocol
            of :func:`benchmarks.train_furniture.furniture_models`).
        paragraphs: What a paragraph is (:data:`dedup.split.MODES`).
    """
    from dedup import Cleaner, Config, DedupConfig, FurnitureConfig, InputConfig, TopicModel

    configs = {
        source: Config(
            dedup=DedupConfig(documents=False),
            furniture=FurnitureConfig(enabled=furniture is not None, model=(furniture or {}).get(source)),
            input=InputConfig(paragraphs=paragraphs),
        )
        for source in SOURCES
    }
    model = TopicModel.default()

    def factory(page: Page) -> Clean:
        def clean(text: str) -> str:
            # A fresh cleaner per page: no index, boilerplate or document state crosses pages.
            return Cleaner(configs[page.source], model=model).clean_text(text, id=page.id).text

        return clean

    return factory


def _furniture_files(seed: int, threshold: float | None, directory: Path) -> dict[str, str]:
    """The furniture models of the protocol, saved under ``directory`` (a temporary one: never kept)."""
    from benchmarks.train_furniture import furniture_models

    paths = {}
    for source, model in furniture_models(seed=seed, threshold=threshold).items():
        paths[source] = str(directory / f"furniture-{source}.npz")
        model.save(paths[source])
    return paths


def run(factory: CleanerFactory, pages: Iterable[Page], inputs: Sequence[str] = INPUTS) -> dict[str, list[PageScore]]:
    """Score one method on every page and input.

    Returns:
        Per input, one :class:`PageScore` per page, in page order.
    """
    scores: dict[str, list[PageScore]] = {name: [] for name in inputs}
    for page in pages:
        clean = factory(page)
        for name in inputs:
            text = page.input(name)
            # An empty input (31 trafilatura outputs) stays empty: there is nothing to clean.
            scores[name].append(page_score(clean(text) if text.strip() else text, page.gold))
    return scores


def tabulate(
    pages: Sequence[Page], scores: dict[str, list[PageScore]], base: dict[str, list[PageScore]]
) -> dict[str, dict[str, Summary]]:
    """Summaries per input and per source (``all`` first)."""
    table: dict[str, dict[str, Summary]] = {}
    for name, page_scores in scores.items():
        table[name] = {}
        for source in ("all", *SOURCES):
            rows = [i for i, page in enumerate(pages) if source in ("all", page.source)]
            table[name][source] = summarise([page_scores[i] for i in rows], [base[name][i] for i in rows])
    return table


def format_table(results: dict[str, dict[str, dict[str, Summary]]]) -> str:
    """A markdown table: one row per method × input × source."""
    lines = [
        "| method | input | pages | P | R | F1 | empty | lost | of them, repeats only |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for method, per_input in results.items():
        for name, per_source in per_input.items():
            for source, s in per_source.items():
                lines.append(
                    f"| {method} | {name} {source} | {s.pages} | {s.precision:.3f} | {s.recall:.3f} | "
                    f"**{s.f1:.3f}** | {s.empty} | {s.lost} ({100 * s.lost_share:.1f} %) | {s.lost_repeats} |"
                )
    return "\n".join(lines)


def _as_json(results: dict[str, dict[str, dict[str, Summary]]]) -> dict[str, Any]:
    return {
        method: {
            name: {source: {**vars(s), "lost_share": s.lost_share} for source, s in per_source.items()}
            for name, per_source in per_input.items()
        }
        for method, per_input in results.items()
    }


def blocks_chosen(pages: Sequence[Page], inputs: Sequence[str] = INPUTS) -> dict[str, list[str]]:
    """Per input, the ids of the pages that ``--paragraphs auto`` splits into blocks between blank lines."""
    from dedup.split import choose_mode

    return {name: [page.id for page in pages if choose_mode(page.input(name)) == "blank"] for name in inputs}


def make_factories(
    names: Sequence[str],
    pages: Sequence[Page],
    seed: int,
    threshold: float | None = None,
    scratch: Path | None = None,
    paragraphs: str = "auto",
) -> dict[str, CleanerFactory]:
    """The cleaner factories called ``names`` (see the module docstring).

    The furniture models are built once, and only when a method needs them;
    ``dedup-furniture`` needs ``scratch``, a temporary directory for them.
    """
    unknown = [name for name in names if name not in METHODS]
    if unknown:
        raise ValueError(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
    dedup = dedup_factory(paragraphs=paragraphs) if any("dedup" in name for name in names) else None
    furniture = None
    if any(name.startswith("furniture") for name in names):
        from benchmarks.train_furniture import furniture_factory

        furniture = furniture_factory(seed=seed, threshold=threshold)
    built: dict[str, CleanerFactory | None] = {
        "asis": as_is,
        "dedup": dedup,
        "dedup-furniture": (
            dedup_factory(_furniture_files(seed, threshold, scratch), paragraphs)
            if "dedup-furniture" in names and scratch is not None
            else None
        ),
        "furniture": furniture,
        "furniture+dedup": _chain(furniture, dedup) if furniture and dedup else None,
    }
    return {name: factory for name in names if (factory := built[name]) is not None}


def _chain(first: CleanerFactory, then: CleanerFactory) -> CleanerFactory:
    def factory(page: Page) -> Clean:
        a, b = first(page), then(page)
        return lambda text: b(a(text))

    return factory


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, from {', '.join(METHODS)}")
    parser.add_argument("--inputs", default=",".join(INPUTS))
    parser.add_argument("--limit", type=int, default=None, help="score only the first N pages")
    parser.add_argument("--seed", type=int, default=0, help="seed of the run-time furniture model")
    parser.add_argument("--furniture-threshold", type=float, default=None, metavar="T",
                        help="furniture threshold for both models instead of the cross-validated ones")
    parser.add_argument("--paragraphs", choices=("line", "blank", "auto"), default="auto",
                        help="what a paragraph is for the dedup methods (default: auto)")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT.json", help="write every number here")
    args = parser.parse_args(argv)
    pages = load_pages()[: args.limit]
    inputs = tuple(args.inputs.split(","))
    names = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(names) - set(METHODS))
    if unknown:
        parser.error(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
    if not set(inputs) <= set(INPUTS):
        parser.error(f"--inputs takes {', '.join(INPUTS)}")
    blocks = blocks_chosen(pages, inputs)
    for name, ids in blocks.items():
        print(f"auto chose blocks on {len(ids)} {name} pages: {', '.join(ids) or 'none'}", file=sys.stderr)
    results: dict[str, dict[str, dict[str, Summary]]] = {}
    with tempfile.TemporaryDirectory(prefix="dedup-pages-") as scratch:
        factories = make_factories(names, pages, args.seed, args.furniture_threshold, Path(scratch), args.paragraphs)
        base = run(as_is, pages, inputs)
        for name, factory in factories.items():
            start = time.perf_counter()
            scores = base if name == "asis" else run(factory, pages, inputs)
            results[name] = tabulate(pages, scores, base)
            print(f"{name}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    print(format_table(results))
    if args.json:
        # Beside the methods: the paragraph mode of the dedup methods, and the pages auto split into blocks.
        payload = {**_as_json(results), "paragraphs": {"mode": args.paragraphs, "auto_blocks": blocks}}
        args.json.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
