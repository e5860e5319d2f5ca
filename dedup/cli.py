"""The ``dedup`` command line.

Each command turns its options into a :class:`~dedup.config.Config` in
:func:`config_from_options` and makes one call to :mod:`dedup.run`, which
does the work. A :class:`~dedup.errors.DedupError` becomes a message and
exit code 1; a bad combination of options, or an
:class:`~dedup.errors.ArgumentError` from the library, is a usage error,
exit code 2; Ctrl-C exits with 130. Data goes to the output; messages go to
stderr.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar

import click
from click.core import ParameterSource

from dedup import __version__
from dedup.config import PARAGRAPH_MODES, Config, DedupConfig, FurnitureConfig, InputConfig, TopicConfig
from dedup.configfile import ConfigFile, find_config_file, read_config_file, to_toml
from dedup.errors import ArgumentError, ConfigError, DedupError, WordedError
from dedup.terminal import terminal_output

F = TypeVar("F", bound=Callable[..., Any])
_DEFAULTS = Config()


def config_from_options(
    *,
    dup_threshold: float = _DEFAULTS.dedup.threshold,
    doc_threshold: float = _DEFAULTS.dedup.doc_threshold,
    topic_threshold: float = _DEFAULTS.topic.threshold,
    topic_rounds: int = _DEFAULTS.topic.rounds,
    no_dedup: bool = False,
    no_topic: bool = False,
    furniture: bool = _DEFAULTS.furniture.enabled,
    furniture_threshold: float | None = None,
    article_region: bool = _DEFAULTS.furniture.region,
    no_doc_dedup: bool = False,
    cross_doc_paragraphs: bool = False,
    boilerplate: bool = False,
    text_field: str = _DEFAULTS.input.text_field,
    id_field: str = _DEFAULTS.input.id_field,
    model: Path | None = None,
    max_doc_bytes: int = _DEFAULTS.input.max_doc_bytes,
    max_paragraphs: int = _DEFAULTS.input.max_paragraphs,
    paragraphs: str = _DEFAULTS.input.paragraphs,
) -> Config:
    """Build the :class:`Config` that the ``clean`` options describe.

    Raises:
        click.UsageError: Options that contradict each other.
    """
    if no_dedup and cross_doc_paragraphs:
        raise click.UsageError("--cross-doc-paragraphs removes repeats; it cannot be combined with --no-dedup")
    if furniture_threshold is not None and not furniture:
        raise click.UsageError("--furniture-threshold sets the furniture stage; it needs --furniture")
    if no_topic and model is not None:
        raise click.UsageError("--model is the topic model; it cannot be combined with --no-topic")
    return Config(
        dedup=DedupConfig(
            enabled=not no_dedup,
            threshold=dup_threshold,
            documents=not (no_dedup or no_doc_dedup),
            doc_threshold=doc_threshold,
            cross_doc_paragraphs=cross_doc_paragraphs,
            boilerplate=boilerplate,
        ),
        topic=TopicConfig(
            enabled=not no_topic,
            threshold=topic_threshold,
            rounds=topic_rounds,
            model=None if model is None else str(model),
        ),
        furniture=FurnitureConfig(enabled=furniture, threshold=furniture_threshold, region=article_region),
        input=InputConfig(
            text_field=text_field, id_field=id_field, max_doc_bytes=max_doc_bytes, max_paragraphs=max_paragraphs,
            paragraphs=paragraphs,
        ),
    )


#: The settings (section, key) that each option of :func:`config_from_options` sets: a configuration file's
#: values give way to the options given on the command line.
OPTION_SETTINGS: dict[str, tuple[tuple[str, str], ...]] = {
    "dup_threshold": (("dedup", "threshold"),),
    "doc_threshold": (("dedup", "doc_threshold"),),
    "topic_threshold": (("topic", "threshold"),),
    "topic_rounds": (("topic", "rounds"),),
    "no_dedup": (("dedup", "enabled"), ("dedup", "documents")),
    "no_topic": (("topic", "enabled"),),
    "furniture": (("furniture", "enabled"),),
    "furniture_threshold": (("furniture", "threshold"),),
    "article_region": (("furniture", "region"),),
    "no_doc_dedup": (("dedup", "documents"),),
    "cross_doc_paragraphs": (("dedup", "cross_doc_paragraphs"),),
    "boilerplate": (("dedup", "boilerplate"),),
    "text_field": (("input", "text_field"),),
    "id_field": (("input", "id_field"),),
    "model": (("topic", "model"),),
    "max_doc_bytes": (("input", "max_doc_bytes"),),
    "max_paragraphs": (("input", "max_paragraphs"),),
    "paragraphs": (("input", "paragraphs"),),
}


class Settings(NamedTuple):
    """The configuration of a command, and where it came from.

    Attributes:
        config: The settings.
        file: The configuration file read (``None``: none).
        given: The (section, key) settings the command line set.
    """

    config: Config
    file: ConfigFile | None
    given: frozenset[tuple[str, str]]


def resolve_config(ctx: click.Context, options: dict[str, Any], config_file: str | None) -> Settings:
    """The settings of a command: defaults, then the configuration file, then the options given.

    The file is ``config_file`` (``--config``), else the ``[tool.dedup]`` table
    of ``pyproject.toml`` in the working directory, if any. An option counts
    as given when it was on the command line (or in its environment
    variable), not when it holds its default.

    Raises:
        click.UsageError: Options that contradict each other.
        click.ClickException: The configuration file cannot be used.
    """
    try:
        file = read_config_file(config_file) if config_file is not None else find_config_file()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    given = frozenset(
        setting
        for name in options
        if ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)
        for setting in _settings_of(name)
    )
    try:
        from_options = config_from_options(**options)
    except ConfigError as exc:  # e.g. --text-field equal to --id-field
        raise click.UsageError(str(exc)) from exc
    if file is None:
        return Settings(from_options, None, given)
    data = {section: dict(values) for section, values in file.data.items()}
    chosen = from_options.to_dict()
    for section, key in given:
        data.setdefault(section, {})[key] = chosen[section][key]
    try:
        return Settings(Config.from_dict(data, source=f"{file.where} with the command-line options"), file, given)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _settings_of(option: str) -> tuple[tuple[str, str], ...]:
    """The settings an option of :func:`config_from_options` sets: :data:`OPTION_SETTINGS`, else the one
    setting of the same name."""
    if option in OPTION_SETTINGS:
        return OPTION_SETTINGS[option]
    found = tuple((section, option) for section, values in _DEFAULTS.to_dict().items() if option in values)
    if len(found) != 1:  # a new option needs its entry in OPTION_SETTINGS
        raise TypeError(f"no setting for the option {option!r}; add it to OPTION_SETTINGS")
    return found


def config_option(function: F) -> F:
    """The ``--config`` option."""
    return click.option(
        "--config", "config_file", type=click.Path(exists=True, dir_okay=False), default=None,
        help="Settings from this TOML file (see docs/config.md) [default: [tool.dedup] in ./pyproject.toml, "
             "if any]; options given on the command line override it.",
    )(function)


def input_options(function: F) -> F:
    """Options that say how records are read."""
    options = [
        click.option("--text-field", default=_DEFAULTS.input.text_field, show_default=True,
                     help="JSON key holding the document text."),
        click.option("--id-field", default=_DEFAULTS.input.id_field, show_default=True,
                     help="JSON key holding the document id."),
        click.option("--max-doc-bytes", type=click.IntRange(min=1), default=_DEFAULTS.input.max_doc_bytes,
                     show_default=True, help="Largest document accepted, in UTF-8 bytes."),
        click.option("--max-paragraphs", type=click.IntRange(min=1), default=_DEFAULTS.input.max_paragraphs,
                     show_default=True, help="Most paragraphs accepted in one document."),
        click.option("--paragraphs", type=click.Choice(PARAGRAPH_MODES), default=_DEFAULTS.input.paragraphs,
                     show_default=True,
                     help="What a paragraph is: a line; a block between blank lines (its line breaks kept); "
                          "or auto: blocks for hard-wrapped prose, lines otherwise, chosen per document."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def cleaning_options(function: F) -> F:
    """Options that choose the stages and their thresholds."""
    unit = click.FloatRange(0.05, 1.0)
    options = [
        click.option("--dup-threshold", type=unit, default=_DEFAULTS.dedup.threshold, show_default=True,
                     help="Jaccard similarity of character shingles at which a paragraph repeats an earlier one."),
        click.option("--doc-threshold", type=unit, default=_DEFAULTS.dedup.doc_threshold, show_default=True,
                     help="Estimated Jaccard similarity at which a cleaned document repeats an earlier one."),
        click.option("--topic-threshold", type=click.FloatRange(0.0, 1.0), default=_DEFAULTS.topic.threshold,
                     show_default=True,
                     help="Off-topic probability at which trailing paragraphs (teasers, widgets) are removed."),
        click.option("--topic-rounds", type=click.IntRange(1, 100), default=_DEFAULTS.topic.rounds, show_default=True,
                     help="Most times a document is scored; after a removal what it kept is scored again."),
        # Each switch has its opposite, so that the command line can undo what a configuration file sets.
        click.option("--no-dedup/--dedup", "no_dedup", default=False,
                     help="Keep repeated paragraphs and documents (--dedup: remove them, the default)."),
        click.option("--no-topic/--topic", "no_topic", default=False,
                     help="Keep off-topic paragraphs: no topic stage (--topic: remove them, the default)."),
        click.option("--furniture/--no-furniture", default=_DEFAULTS.furniture.enabled, show_default=True,
                     help="Score every line with the learned page-furniture model (menus, link lists, widgets, "
                          "comments, footers) and remove what it calls furniture. Off by default: on the real-page "
                          "benchmark it does not yet beat the input as is."),
        click.option("--furniture-threshold", type=click.FloatRange(0.0, 1.0), default=None,
                     help="Furniture probability at which --furniture removes a line "
                          "[default: the furniture model's own threshold]."),
        click.option("--article-region/--no-article-region", default=_DEFAULTS.furniture.region, show_default=True,
                     help="Remove what stands outside the page's article region (menus before the article, link "
                          "lists and footers after it: lines away from its heaviest blocks of prose) as furniture."),
        click.option("--no-doc-dedup/--doc-dedup", "no_doc_dedup", default=False,
                     help="Keep documents that repeat earlier ones (--doc-dedup: drop them, the default)."),
        click.option("--cross-doc-paragraphs/--no-cross-doc-paragraphs", default=False,
                     help="Also remove paragraphs that repeat paragraphs of earlier documents."),
        click.option("--boilerplate/--no-boilerplate", default=False,
                     help="Remove short lines (menus, widgets) already seen in two earlier documents."),
        click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                     help="Topic model from `dedup fit-topic` [default: the model shipped with dedup]."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog="""\b
Example:
  dedup clean crawl/ -o clean.jsonl --report removed.jsonl --summary summary.json

Run dedup COMMAND --help for a command's options and an example of its use.
""")
@click.version_option(__version__, prog_name="dedup")
def cli() -> None:
    """Remove repeated and off-topic paragraphs from scraped text.

    Repeats (a body scraped twice, syndicated copies) are found with MinHash
    LSH; off-topic paragraphs (teasers of other stories, captions, page
    chrome) with a TF-IDF topic model. Every removal is recorded with its
    reason.
    """


@cli.command(short_help="Remove repeated and off-topic paragraphs from input files.", epilog="""\b
Example:
  dedup clean crawl/ -o clean.jsonl --report removed.jsonl --summary summary.json
  zcat pages.jsonl.gz | dedup clean - -o - --quiet > clean.jsonl
""")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("-o", "--output", required=True, type=click.Path(allow_dash=True),
              help="JSONL file (.gz/.zst by suffix) or - when every input is JSONL; otherwise a directory. "
                   "May be an s3:// or gs:// URI.")
@click.option("--report", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Write one JSONL line per removed paragraph or dropped document.")
@click.option("--summary", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Write the run's counts as JSON.")
@click.option("--annotate", is_flag=True,
              help="Keep everything and add a `dedup` field with the decisions (JSONL inputs only).")
@click.option("--html", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Write a self-contained HTML page of the run: counts, score histograms, and each document "
                   "with its removals (sampled past about 20 MB).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes for the per-document work [default: all cores]; output does not depend on it.")
@click.option("--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True,
              help="On a bad record: stop with exit code 1, or skip it and report it as `invalid`.")
@click.option("--state", "state_dir", type=click.Path(file_okay=False), default=None,
              help="Record each completed input file in this (local) directory, so that an interrupted run can be "
                   "resumed with --resume.")
@click.option("--resume", is_flag=True,
              help="Continue the run recorded in --state: completed inputs are not read again, and the output "
                   "is the same as one uninterrupted run.")
@click.option("--index", "index", default=None, metavar="URL",
              help="A cross-document index that outlives the run: a file (a path or file:///abs/index.npz), "
                   "loaded first and saved when the run completes, so documents are checked against earlier "
                   "runs; or a shared redis://HOST:PORT/DB?prefix=NAME index for many processes.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where to clean: this machine, or a Ray cluster (pip install 'dedup[ray]'); the same output.")
@click.option("--ray-address", default=None,
              help="The Ray cluster to connect to with --engine ray (e.g. auto, or ray://HOST:10001); "
                   "by default Ray starts on this machine with --workers CPUs.")
@click.option("-q", "--quiet", is_flag=True,
              help="Write nothing to stderr but errors: no progress bar, no counts, no timing.")
@click.option("-v", "--verbose", is_flag=True,
              help="Also log what the run does on stderr: each input read, each batch, the index opened and saved.")
@config_option
@cleaning_options
@input_options
@click.pass_context
def clean(
    ctx: click.Context,
    inputs: tuple[str, ...],
    output: str,
    report: str | None,
    summary: str | None,
    annotate: bool,
    html: str | None,
    workers: int | None,
    on_error: Literal["raise", "skip"],
    state_dir: str | None,
    resume: bool,
    index: str | None,
    engine: str,
    ray_address: str | None,
    quiet: bool,
    verbose: bool,
    config_file: str | None,
    **options: Any,
) -> None:
    """Clean INPUTS (.jsonl[.gz|.zst], .parquet and .txt files, directories, s3:// or gs:// URIs, or - for
    JSONL on stdin).

    When every input is JSONL, OUTPUT is one JSONL file with a line per kept
    document, in input order, with `text` replaced by the cleaned text.
    Otherwise OUTPUT is a directory that mirrors the inputs: a .txt per kept
    text document and a .jsonl per JSONL input. Files are written under a
    temporary name and renamed when complete.
    """
    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose contradict each other; give one")
    settings = resolve_config(ctx, options, config_file)
    from dedup.run import clean_files  # here: the cleaner's imports (numba, scikit-learn) wait for a command

    with _errors(), terminal_output(quiet, verbose) as progress:
        counts = clean_files(inputs, output, settings.config, report=report, summary=summary, annotate=annotate,
                             on_error=on_error, workers=workers, state=state_dir, resume=resume,
                             index=index, engine=engine, ray_address=ray_address, progress=progress,
                             config_file=None if settings.file is None else settings.file.path,
                             html=html)
    if not quiet:
        click.echo(counts.short(), err=True)
        if counts.timing is not None:
            click.echo(counts.timing.short(), err=True)


@cli.command(short_help="Show why each paragraph of one document is kept or removed.", epilog="""\b
Example:
  dedup explain crawl.jsonl --id 1234
  dedup explain articles/ --id 2024/05/budget.txt --config dedup.toml
""")
@click.argument("input_file", metavar="FILE", type=click.Path(allow_dash=True))
@click.option("--id", "doc_id", required=True, help="The id of the document to explain (for a .txt input, its path).")
@click.option("--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True,
              help="On a bad record before the document: stop with exit code 1, or skip it as `clean` does.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes for the per-document work of the documents before it; the result does not depend "
                   "on it.")
@config_option
@cleaning_options
@input_options
@click.pass_context
def explain(
    ctx: click.Context,
    input_file: str,
    doc_id: str,
    on_error: Literal["raise", "skip"],
    workers: int,
    config_file: str | None,
    **options: Any,
) -> None:
    """Show why each paragraph of one document of FILE is kept or removed.

    FILE is what `dedup clean` reads (a .jsonl[.gz|.zst] or .txt file, a
    directory, or - for JSONL on stdin), cleaned with the same options. The
    documents before the one asked for are cleaned too, since a document
    repeats only earlier ones; the rest are not read. Each paragraph is
    shown with its decision, reason, score and the evidence (the signals of
    an off-topic call, what a repeat repeats). Control characters in the
    data are shown escaped (\\x1b, \\u202e).
    """
    settings = resolve_config(ctx, options, config_file)
    from dedup.explain import explain as explain_document
    from dedup.explain import render

    with _errors():
        found = explain_document(input_file, doc_id, settings.config, on_error=on_error, workers=workers)
    click.echo(render(found, click.style))


@cli.command("config", short_help="Show the settings that clean and explain would use.", epilog="""\b
Example:
  dedup config --show
  dedup config --show --config dedup.toml --format json
""")
@click.option("--show", is_flag=True, help="Print the settings in effect and where each came from.")
@click.option("--format", "output_format", type=click.Choice(["toml", "json"]), default="toml", show_default=True,
              help="How --show prints them: a file for --config, or JSON as in a --summary.")
@config_option
@cleaning_options
@input_options
@click.pass_context
def config_command(
    ctx: click.Context, show: bool, output_format: str, config_file: str | None, **options: Any
) -> None:
    """Show the settings that `dedup clean` and `dedup explain` would use.

    They come from the defaults, then the configuration file (--config, or
    [tool.dedup] in ./pyproject.toml), then the options given here, as for
    `dedup clean`. The TOML form marks each setting that is not a default
    with where it came from, and is itself a valid --config file.
    """
    if not show:
        raise click.UsageError("nothing to do: give --show to print the settings in effect")
    settings = resolve_config(ctx, options, config_file)
    data = settings.config.to_dict()
    if output_format == "json":
        click.echo(json.dumps({"config_file": None if settings.file is None else settings.file.path, "config": data},
                              indent=2, ensure_ascii=False))
        return
    notes: dict[str, dict[str, str]] = {}
    if settings.file is not None:
        for section, values in settings.file.data.items():
            for key in values:
                notes.setdefault(section, {})[key] = f"from {settings.file.where}"
    for section, key in settings.given:
        notes.setdefault(section, {})[key] = "from the command line"
    source = "defaults only" if settings.file is None else f"defaults, {settings.file.where}"
    click.echo(f"# dedup {__version__}: {source}" + (", command-line options" if settings.given else ""))
    click.echo(to_toml(data, notes), nl=False)


#: How the command line calls the arguments of the library's functions, in messages.
OPTION_NAMES = {
    "output": "--output",
    "report": "--report",
    "summary": "--summary",
    "annotate": "--annotate",
    "on_error": "--on-error",
    "workers": "--workers",
    "state": "--state",
    "resume": "--resume",
    "index": "--index",
    "engine": "--engine",
    "ray_address": "--ray-address",
    "holdout": "--holdout",
    "seed": "--seed",
    "html": "--html",
}


@contextmanager
def _errors() -> Iterator[None]:
    """Turn dedup's errors into click's: arguments that do not fit are a usage error (exit code 2), others
    exit with code 1."""
    try:
        yield
    except ArgumentError as error:
        raise click.UsageError(error.worded(OPTION_NAMES)) from error
    except WordedError as error:
        raise click.ClickException(error.worded(OPTION_NAMES)) from error
    except DedupError as error:
        raise click.ClickException(str(error)) from error


@cli.command("fit-topic", short_help="Fit a topic model on labelled paragraphs.", epilog="""\b
Example:
  dedup fit-topic labelled.jsonl -o model.npz
  dedup clean crawl/ -o clean.jsonl --model model.npz
""")
@click.argument("labelled", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to save the model (.npz, no pickle).")
@click.option("--text-field", default="text", show_default=True, help="JSON key holding the paragraph text.")
@click.option("--id-field", default="id", show_default=True,
              help="JSON key of the document a paragraph belongs to; consecutive records with one id form a "
                   "document, in order.")
@click.option("--holdout", type=click.FloatRange(0.0, 0.9), default=0.2, show_default=True,
              help="Share of the documents held out to check the model before fitting on all (0: no check).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the choice of held-out documents.")
def fit_topic(labelled: str, output: Path, text_field: str, id_field: str, holdout: float, seed: int) -> None:
    """Fit a topic model on LABELLED paragraphs: JSONL records {"text", "label": "keep"|"drop", "id"}.

    Records that share an id (one after another) are the paragraphs of one
    document; give whole documents, so the model learns how paragraphs
    cohere. Records without an id are documents of one paragraph.

    The model replaces the shipped one. Before fitting it, a share of the
    documents (--holdout) is held out, a model is fitted on the rest, and
    the precision, recall and F1 of its removals on the held-out documents
    are printed, beside the shipped model's on the same documents.
    """
    from dedup.run import fit_topic_file

    with _errors():
        fitted = fit_topic_file(labelled, output, text_field=text_field, id_field=id_field, holdout=holdout,
                                seed=seed)
    if fitted.quality is None or fitted.shipped is None:
        click.echo(f"dedup: {fitted.note}", err=True)
    else:
        quality = fitted.quality
        click.echo(
            f"dedup: held out {fitted.held_out} of {fitted.documents} documents (--seed {seed}) and fitted on the "
            f"rest; removals on the {quality.paragraphs} held-out paragraphs ({quality.drops} labelled drop): "
            f"{quality.short()}; the shipped model's: {fitted.shipped.short()}",
            err=True,
        )
    click.echo(f"dedup: fitted a topic model on {fitted.paragraphs} paragraphs in {fitted.documents} "
               f"documents; saved to {output}", err=True)


@cli.command("report", short_help="Write the HTML report of an annotated run.", epilog="""\b
Example:
  dedup clean crawl/ -o annotated.jsonl --annotate --summary summary.json
  dedup report annotated.jsonl --html report.html --summary summary.json
""")
@click.argument("annotated", type=click.Path(allow_dash=True))
@click.option("--html", "html_path", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Where to write the HTML page.")
@click.option("--summary", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The run's --summary JSON: the thresholds it used are marked [default: dedup's defaults].")
@click.option("--text-field", default=None, help="JSON key holding the document text [default: the summary's, "
              "else text].")
@click.option("--id-field", default=None, help="JSON key holding the document id [default: the summary's, else id].")
def report(annotated: str, html_path: str, summary: Path | None, text_field: str | None,
           id_field: str | None) -> None:
    """Write an HTML page of ANNOTATED, the output of `dedup clean --annotate` (- for stdin).

    The page shows the counts, the score histograms with the thresholds,
    and each document paragraph by paragraph, removed ones struck through
    with their reason, score and signals; it is one file that fetches
    nothing. Past about 20 MB, documents are sampled and the page says so.
    """
    from dedup.html import report_file

    with _errors():
        written = report_file(annotated, html_path, summary=summary, text_field=text_field, id_field=id_field)
    click.echo(f"dedup: wrote {html_path} ({written.bytes} bytes): {written.shown} of {written.documents} "
               "documents shown", err=True)


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so that the run unwinds as for Ctrl-C."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def main() -> None:
    """Entry point of the ``dedup`` command.

    Ctrl-C exits with 130 and SIGTERM with 143, running out of memory with
    1, after removing every temporary file: no output file is left half
    written.
    """
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, EOFError):  # click turns an EOFError from anywhere into Abort
            click.echo(f"Error: unexpected end of data ({exc.__cause__})", err=True)
            sys.exit(1)
        click.echo("dedup: interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("dedup: interrupted", err=True)
        sys.exit(130)
    except _Terminated:
        click.echo("dedup: terminated", err=True)
        sys.exit(143)
    except MemoryError:  # the temporary files are gone: the error unwound through their context managers
        click.echo("Error: out of memory; lower --max-doc-bytes or --max-paragraphs, or use fewer --workers",
                   err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
