"""The ``dedup`` command line.

Each command turns its options into a :class:`~dedup.config.Config` in
:func:`config_from_options`, builds the library object, and calls it.
A :class:`~dedup.errors.DedupError` becomes a message and exit code 1; a
bad combination of options is a usage error, exit code 2; Ctrl-C exits
with 130. Data goes to the output; messages go to stderr.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from dedup import __version__
from dedup.cleaner import Cleaner, default_workers
from dedup.config import Config, DedupConfig, InputConfig, TopicConfig
from dedup.data import CleanResult
from dedup.errors import ConfigError, DedupError, InputError
from dedup.read import STDIN, InputFile, list_inputs, read_inputs
from dedup.write import Summary, atomic_binary, dumps, open_output, output_record, report_lines, text_writer

F = TypeVar("F", bound=Callable[..., Any])
_DEFAULTS = Config()


def config_from_options(
    *,
    dup_threshold: float = _DEFAULTS.dedup.threshold,
    doc_threshold: float = _DEFAULTS.dedup.doc_threshold,
    topic_threshold: float = _DEFAULTS.topic.threshold,
    no_dedup: bool = False,
    no_topic: bool = False,
    no_doc_dedup: bool = False,
    cross_doc_paragraphs: bool = False,
    boilerplate: bool = False,
    text_field: str = _DEFAULTS.input.text_field,
    id_field: str = _DEFAULTS.input.id_field,
    model: Path | None = None,
    max_doc_bytes: int = _DEFAULTS.input.max_doc_bytes,
    max_paragraphs: int = _DEFAULTS.input.max_paragraphs,
) -> Config:
    """Build the :class:`Config` that the ``clean`` options describe.

    Raises:
        click.UsageError: Options that contradict each other.
    """
    if no_dedup and cross_doc_paragraphs:
        raise click.UsageError("--cross-doc-paragraphs removes repeats; it cannot be combined with --no-dedup")
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
            model=None if model is None else str(model),
        ),
        input=InputConfig(
            text_field=text_field, id_field=id_field, max_doc_bytes=max_doc_bytes, max_paragraphs=max_paragraphs
        ),
    )


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
        click.option("--no-dedup", is_flag=True, help="Keep repeated paragraphs and documents."),
        click.option("--no-topic", is_flag=True, help="Keep off-topic paragraphs (no topic stage)."),
        click.option("--no-doc-dedup", is_flag=True, help="Keep documents that repeat earlier ones."),
        click.option("--cross-doc-paragraphs", is_flag=True,
                     help="Also remove paragraphs that repeat paragraphs of earlier documents."),
        click.option("--boilerplate", is_flag=True,
                     help="Remove short lines (menus, widgets) already seen in two earlier documents."),
        click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                     help="Topic model from `dedup fit-topic` [default: the model shipped with dedup]."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dedup")
def cli() -> None:
    """Remove repeated and off-topic paragraphs from scraped text.

    Repeats (a body scraped twice, syndicated copies) are found with MinHash
    LSH; off-topic paragraphs (teasers of other stories, captions, page
    chrome) with a TF-IDF topic model. Every removal is recorded with its
    reason.
    """


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("-o", "--output", required=True, type=click.Path(allow_dash=True),
              help="JSONL file (.gz/.zst by suffix) or - when every input is JSONL; otherwise a directory.")
@click.option("--report", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Write one JSONL line per removed paragraph or dropped document.")
@click.option("--summary", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Write the run's counts as JSON.")
@click.option("--annotate", is_flag=True,
              help="Keep everything and add a `dedup` field with the decisions (JSONL inputs only).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes for the per-document work [default: all cores]; output does not depend on it.")
@click.option("--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True,
              help="On a bad record: stop with exit code 1, or skip it and report it as `invalid`.")
@cleaning_options
@input_options
def clean(
    inputs: tuple[str, ...],
    output: str,
    report: str | None,
    summary: str | None,
    annotate: bool,
    workers: int | None,
    on_error: str,
    **options: Any,
) -> None:
    """Clean INPUTS (.jsonl[.gz|.zst] files, .txt files, directories, or - for JSONL on stdin).

    When every input is JSONL, OUTPUT is one JSONL file with a line per kept
    document, in input order, with `text` replaced by the cleaned text.
    Otherwise OUTPUT is a directory that mirrors the inputs: a .txt per kept
    text document and a .jsonl per JSONL input. Files are written under a
    temporary name and renamed when complete.
    """
    try:
        config = config_from_options(**options)
    except ConfigError as exc:  # e.g. --text-field equal to --id-field
        raise click.UsageError(str(exc)) from exc
    if inputs.count(STDIN) > 1:
        raise click.UsageError("- (stdin) can be given once")
    outputs = [path for path in (output, report, summary) if path is not None and path != STDIN]
    if len({Path(path).resolve() for path in outputs}) < len(outputs):  # resolved: ./out.jsonl is out.jsonl
        raise click.UsageError("--output, --report and --summary must be different files")
    if [output, report, summary].count(STDIN) > 1:
        raise click.UsageError("only one of --output, --report and --summary can be - (stdout)")
    with _errors():
        files = list_inputs(inputs)
        all_jsonl = all(f.kind == "jsonl" for f in files)
        if not all_jsonl and output == STDIN:
            raise click.UsageError("text inputs need an output directory, not - (stdout)")
        if annotate and not all_jsonl:
            raise click.UsageError("--annotate adds a field to JSON records: it needs JSONL inputs")
        if not all_jsonl and Path(output).is_file():
            raise click.UsageError(f"output {output} is a file, but text inputs need an output directory")
        if not all_jsonl:
            _check_mirror(files, output)
        if all_jsonl and output != STDIN and Path(output).is_dir():
            raise click.UsageError(f"output {output} is a directory, but JSONL inputs need an output file")
        cleaner = Cleaner(config, workers=workers or default_workers())
        counts = Summary()
        records = read_inputs(files, config.input, on_error="skip" if on_error == "skip" else "raise")
        with ExitStack() as stack:
            sink: _Sink = (
                _JsonlSink(stack, output, config.input.text_field, annotate)
                if all_jsonl
                else _DirectorySink(stack, Path(output), files, config.input.text_field)
            )
            report_out = stack.enter_context(open_output(report)) if report else None
            for result in cleaner.clean(records):
                counts.add(result)
                sink.write(result)
                if report_out is not None:
                    for line in report_lines(result):
                        report_out.write(dumps(line))
            sink.commit()
            if summary:
                with open_output(summary) as summary_out:
                    data = counts.to_dict(__version__, config.fingerprint(), config.to_dict())
                    summary_out.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    click.echo(counts.short(), err=True)


class _Sink:
    def write(self, result: CleanResult) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        """Called once every result is written."""


class _JsonlSink(_Sink):
    def __init__(self, stack: ExitStack, output: str, text_field: str, annotate: bool) -> None:
        self.out = stack.enter_context(open_output(output))
        self.text_field = text_field
        self.annotate = annotate

    def write(self, result: CleanResult) -> None:
        if result.dropped is not None and (not self.annotate or not result.fields):
            return
        self.out.write(dumps(output_record(result, self.text_field, self.annotate)))


class _DirectorySink(_Sink):
    """Writes into a staging directory, moved into place file by file at the end."""

    def __init__(self, stack: ExitStack, root: Path, files: list[InputFile], text_field: str) -> None:
        root.parent.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.stage = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".partial", dir=root.parent))
        stack.callback(shutil.rmtree, self.stage, True)
        self.by_source = {("<stdin>" if f.path == STDIN else f.path): f for f in files}
        self.text_field = text_field
        self.jsonl = [f for f in files if f.kind == "jsonl"]
        self._stack = ExitStack()
        stack.callback(self._stack.close)
        self._current: tuple[str, IO[str]] | None = None

    def _target(self, file: InputFile) -> Path:
        path = self.stage / file.relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def write(self, result: CleanResult) -> None:
        file = self.by_source[result.source or ""]
        if file.kind == "txt":
            if result.dropped is None:
                self._target(file).write_bytes(result.text.encode("utf-8"))
            return
        if self._current is None or self._current[0] != file.relative:
            self._stack.close()
            raw = self._stack.enter_context(open(self._target(file), "wb"))  # noqa: SIM115 - closed by the stack
            self._current = (file.relative, self._stack.enter_context(text_writer(raw, file.relative)))
        if result.dropped is None:
            self._current[1].write(dumps(output_record(result, self.text_field, False)))

    def commit(self) -> None:
        self._stack.close()
        for file in self.jsonl:
            target = self.stage / file.relative
            if not target.exists():
                with atomic_binary(target) as raw, text_writer(raw, file.relative):
                    pass
        for path in sorted(p for p in self.stage.rglob("*") if p.is_file()):
            final = self.root / path.relative_to(self.stage)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, final)


def _check_mirror(files: list[InputFile], output: str) -> None:
    """Refuse inputs that would be written to the same file of the output directory."""
    first: dict[str, InputFile] = {}
    for file in files:
        other = first.setdefault(file.relative, file)
        if other is not file:
            raise click.UsageError(
                f"inputs {other.path} and {file.path} would both be written to {Path(output) / file.relative}; "
                "give a directory that holds both, or clean them in separate runs"
            )


@contextmanager
def _errors() -> Iterator[None]:
    """Turn dedup's errors into click's (exit code 1)."""
    try:
        yield
    except DedupError as error:
        raise click.ClickException(str(error)) from error


@cli.command("fit-topic")
@click.argument("labelled", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to save the model (.npz, no pickle).")
@click.option("--text-field", default="text", show_default=True, help="JSON key holding the paragraph text.")
@click.option("--id-field", default="id", show_default=True,
              help="JSON key of the document a paragraph belongs to; consecutive records with one id form a "
                   "document, in order.")
def fit_topic(labelled: str, output: Path, text_field: str, id_field: str) -> None:
    """Fit a topic model on LABELLED paragraphs: JSONL records {"text", "label": "keep"|"drop", "id"}.

    Records that share an id (one after another) are the paragraphs of one
    document; give whole documents, so the model learns how paragraphs
    cohere. Records without an id are documents of one paragraph.
    """
    from dedup.topic import TopicModel

    with _errors():
        documents, labels = _read_labelled(labelled, text_field, id_field)
        try:
            model = TopicModel().fit(documents, labels)
        except ValueError as exc:
            raise InputError(str(exc), labelled) from exc
        model.save(output)
    click.echo(f"dedup: fitted a topic model on {sum(map(len, labels))} paragraphs in {len(documents)} "
               f"documents; saved to {output}", err=True)


def _read_labelled(path: str, text_field: str, id_field: str) -> tuple[list[list[str]], list[list[int]]]:
    documents: list[list[str]] = []
    labels: list[list[int]] = []
    last_id: object = object()
    handle = sys.stdin if path == STDIN else open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    source = "<stdin>" if path == STDIN else path
    with handle:
        for number, line in enumerate(_checked_lines(handle, source), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"not valid JSON: {exc.msg}", source, number) from exc
            if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
                raise InputError(f"expected an object with a string {text_field!r} field", source, number)
            label = record.get("label")
            if label not in ("keep", "drop"):
                raise InputError(f"label must be \"keep\" or \"drop\", found {label!r}", source, number)
            doc_id = record.get(id_field, None)
            if doc_id is None or doc_id != last_id:
                documents.append([])
                labels.append([])
            last_id = doc_id if doc_id is not None else object()
            documents[-1].append(record[text_field])
            labels[-1].append(1 if label == "drop" else 0)
    if not documents:
        raise InputError("no labelled records", source)
    return documents, labels


def _checked_lines(handle: Iterable[str], source: str) -> Iterable[str]:
    try:
        yield from handle
    except UnicodeDecodeError as exc:
        raise InputError(f"invalid UTF-8 ({exc.reason})", source) from exc


def main() -> None:
    """Entry point of the ``dedup`` command."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("dedup: interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("dedup: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
