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
import signal
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from dedup import __version__
from dedup.cleaner import Cleaner, default_workers
from dedup.config import Config, DedupConfig, InputConfig, TopicConfig
from dedup.data import CleanResult, Reason
from dedup.errors import ConfigError, DedupError, InputError
from dedup.read import STDIN, InputFile, OnError, list_inputs, read_inputs
from dedup.state import RunState, Stamp, file_digest
from dedup.write import Summary, atomic_binary, dumps, open_output, output_record, report_lines, text_writer

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
            rounds=topic_rounds,
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
        click.option("--topic-rounds", type=click.IntRange(1, 100), default=_DEFAULTS.topic.rounds, show_default=True,
                     help="Most times a document is scored; after a removal what it kept is scored again."),
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
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Record each completed input file in this directory, so that an interrupted run can be "
                   "resumed with --resume.")
@click.option("--resume", is_flag=True,
              help="Continue the run recorded in --state: completed inputs are not read again, and the output "
                   "is the same as one uninterrupted run.")
@cleaning_options
@input_options
def clean(
    inputs: tuple[str, ...],
    output: str,
    report: str | None,
    summary: str | None,
    annotate: bool,
    workers: int | None,
    on_error: OnError,
    state_dir: Path | None,
    resume: bool,
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
    if resume and state_dir is None:
        raise click.UsageError("--resume continues the run recorded in a state directory: give it with --state DIR")
    if state_dir is not None and STDIN in inputs:
        raise click.UsageError("--state records completed input files: - (stdin) cannot be resumed")
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
        _check_not_inputs(files, output, report, summary, all_jsonl)
        run = _Run(files, config, all_jsonl, output, report, summary, annotate, on_error, workers or default_workers())
        counts = run.clean() if state_dir is None else run.clean_resumable(state_dir, resume)
    click.echo(counts.short(), err=True)


class _Run:
    """One ``dedup clean`` run: the inputs, the settings and where the results go."""

    def __init__(
        self,
        files: list[InputFile],
        config: Config,
        all_jsonl: bool,
        output: str,
        report: str | None,
        summary: str | None,
        annotate: bool,
        on_error: OnError,
        workers: int,
    ) -> None:
        self.files = files
        self.config = config
        self.all_jsonl = all_jsonl
        self.output = output
        self.report = report
        self.summary = summary
        self.annotate = annotate
        self.on_error = on_error
        self.workers = workers

    def clean(self) -> Summary:
        """Clean every input in one stream, writing the outputs as results come."""
        cleaner = Cleaner(self.config, workers=self.workers)
        counts = Summary()
        records = read_inputs(self.files, self.config.input, self.on_error)
        text_field = self.config.input.text_field
        with ExitStack() as stack:
            sink: _Sink = (
                _JsonlSink(stack.enter_context(open_output(self.output)), text_field, self.annotate)
                if self.all_jsonl
                else _DirectorySink(stack, Path(self.output), self.files, text_field)
            )
            report_out = stack.enter_context(open_output(self.report)) if self.report else None
            for result in cleaner.clean(records):
                counts.add(result)
                sink.write(result)
                if report_out is not None:
                    for line in report_lines(result):
                        report_out.write(dumps(line))
            sink.commit()
            self._write_summary(counts)
        return counts

    def clean_resumable(self, state_dir: Path, resume: bool) -> Summary:
        """Clean input by input, recording each in ``state_dir``; then assemble the outputs.

        With ``resume``, the inputs the state lists as completed are not read
        again: their recorded results are used, and the index is restored.
        """
        with RunState.open(state_dir, self._settings(), resume=resume) as state:
            start = state.resume_point(self.files)
            store = state.load_index(self.config.fingerprint())
            cleaner = Cleaner(self.config, index=store, workers=self.workers)
            seen: set[str] = set()
            for index in range(start):
                seen.update(state.load_meta(index)[1])
            for index in range(start, len(self.files)):
                file = self.files[index]
                stamp = Stamp.of(file)  # before reading: a file changed meanwhile will not match on resume
                counts, ids, has_output = Summary(), [], file.kind == "jsonl"
                records = read_inputs([file], self.config.input, self.on_error, seen)
                with state.chunks(index) as (out_raw, report_raw), text_writer(report_raw, "report") as report_out:
                    name = "out.jsonl" if self.all_jsonl else file.relative  # a mirrored file keeps its compression
                    with ExitStack() as stack:
                        sink = None
                        if file.kind == "jsonl":
                            out = stack.enter_context(text_writer(out_raw, name))
                            sink = _JsonlSink(out, self.config.input.text_field, self.annotate)
                        for result in cleaner.clean(records):
                            counts.add(result)
                            if result.dropped is not Reason.INVALID:
                                ids.append(result.id)
                            if sink is not None:
                                sink.write(result)
                            elif result.dropped is None:
                                out_raw.write(result.text.encode("utf-8"))
                                has_output = True
                            for line in report_lines(result):
                                report_out.write(dumps(line))
                state.complete(index, stamp, counts, ids, has_output)
                state.checkpoint(store, force=index == len(self.files) - 1)
            return self._assemble(state)

    def _assemble(self, state: RunState) -> Summary:
        """Write the outputs from the chunks of every input, as :meth:`clean` would have."""
        counts = Summary()
        for index in range(len(self.files)):
            counts.merge(state.load_meta(index)[0])
        with ExitStack() as stack:
            if self.all_jsonl:
                out = stack.enter_context(open_output(self.output))
                for index in range(len(self.files)):
                    for line in state.chunk_lines(index, "out"):
                        out.write(line)
            else:
                root = Path(self.output)
                stage = _stage_directory(stack, root)
                for index, file in enumerate(self.files):
                    if state.completed[index].out is None:
                        continue
                    target = stage / file.relative
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with open(target, "wb") as handle:
                        for block in state.chunk_blocks(index, "out"):
                            handle.write(block)
            if self.report:
                report_out = stack.enter_context(open_output(self.report))
                for index in range(len(self.files)):
                    for line in state.chunk_lines(index, "report"):
                        report_out.write(line)
            if not self.all_jsonl:
                _move_into_place(stage, root)
            self._write_summary(counts)
        return counts

    def _write_summary(self, counts: Summary) -> None:
        if self.summary:
            with open_output(self.summary) as summary_out:
                data = counts.to_dict(__version__, self.config.fingerprint(), self.config.to_dict())
                summary_out.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def _settings(self) -> dict[str, Any]:
        """Everything that decides the output of a resumable run: a state made with others is refused."""
        model: str | None = None
        if self.config.topic.enabled:
            from dedup.topic import default_model_path

            try:
                model = file_digest(self.config.topic.model or default_model_path())
            except OSError:
                model = None  # the cleaner reports the missing model
        return {
            "dedup": __version__,
            "config": self.config.to_dict(),
            "index": self.config.fingerprint(),
            "model_sha256": model,
            "output": "jsonl" if self.all_jsonl else "directory",
            "annotate": self.annotate,
            "on_error": self.on_error,
        }


class _Sink:
    def write(self, result: CleanResult) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        """Called once every result is written."""


class _JsonlSink(_Sink):
    def __init__(self, out: IO[str], text_field: str, annotate: bool) -> None:
        self.out = out
        self.text_field = text_field
        self.annotate = annotate

    def write(self, result: CleanResult) -> None:
        if result.dropped is not None and (not self.annotate or not result.fields):
            return
        self.out.write(dumps(output_record(result, self.text_field, self.annotate)))


class _DirectorySink(_Sink):
    """Writes into a staging directory, moved into place file by file at the end."""

    def __init__(self, stack: ExitStack, root: Path, files: list[InputFile], text_field: str) -> None:
        self.root = root
        self.stage = _stage_directory(stack, root)
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
        _move_into_place(self.stage, self.root)


def _stage_directory(stack: ExitStack, root: Path) -> Path:
    """A temporary directory beside ``root``, removed when ``stack`` closes."""
    root.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".partial", dir=root.parent))
    stack.callback(shutil.rmtree, stage, True)
    return stage


def _move_into_place(stage: Path, root: Path) -> None:
    for path in sorted(p for p in stage.rglob("*") if p.is_file()):
        final = root / path.relative_to(stage)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, final)


def _check_not_inputs(
    files: list[InputFile], output: str, report: str | None, summary: str | None, all_jsonl: bool
) -> None:
    """Refuse an output path that is one of the inputs: it would be overwritten."""
    named = [f for f in files if f.path != STDIN]
    if not named:
        return
    real = {os.path.realpath(f.path): f.path for f in named}
    identity = {}
    for f in named:
        with suppress(OSError):
            stat = os.stat(f.path)
            identity[(stat.st_dev, stat.st_ino)] = f.path
    targets = [("--report", report), ("--summary", summary)]
    if all_jsonl:
        targets.append(("--output", output))
    else:
        targets += [("--output", str(Path(output) / f.relative)) for f in named]
    for option, path in targets:
        if path is None or path == STDIN:
            continue
        found = real.get(os.path.realpath(path))
        if found is None:
            with suppress(OSError):
                stat = os.stat(path)
                found = identity.get((stat.st_dev, stat.st_ino))  # a hard link to an input
        if found is not None:
            raise click.UsageError(
                f"{option} would write {path}, which is the input {found}; give an output path that is not an input"
            )


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
