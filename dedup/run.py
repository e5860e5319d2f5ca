"""Clean files as ``dedup clean`` does, from Python: the entry for batch jobs.

:func:`clean_files` lists the inputs, checks where the results go, cleans
the documents in input order and writes the output, the report and the
summary, each under a temporary name renamed once complete: a run that
fails or is interrupted leaves no half-written file. Given a state
directory it records each completed input there, so that a run stopped
part way can be resumed to the bytes of one uninterrupted run
(:mod:`dedup.state`). :func:`fit_topic_file` fits a topic model on
labelled paragraphs, as ``dedup fit-topic`` does.

Example:
    >>> import json, pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> line = "The council approved the budget for the city's libraries on Tuesday."
    >>> _ = (folder / "in.jsonl").write_text(json.dumps({"id": "a", "text": f"{line}\\n{line}"}) + "\\n")
    >>> counts = clean_files(folder / "in.jsonl", folder / "out.jsonl", report=folder / "report.jsonl", workers=1)
    >>> (counts.paragraphs_in, counts.paragraphs_out)
    (2, 1)
    >>> json.loads((folder / "report.jsonl").read_text())["reason"]
    'duplicate'
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import IO, Any, NamedTuple

from dedup import __version__
from dedup.cleaner import Cleaner, default_workers
from dedup.config import Config, DedupConfig
from dedup.data import CleanResult, Document, Reason
from dedup.errors import ArgumentError, InputError
from dedup.html import HtmlReport, ReportDocument
from dedup.labelled import read_labelled
from dedup.objstore import is_uri, name_of
from dedup.objstore import join as join_uri
from dedup.progress import Meter, ProgressHook
from dedup.read import STDIN, InputFile, InvalidRecord, OnError, OnRead, file_size, kind_of, list_inputs, read_inputs
from dedup.state import RunState, Stamp, file_digest
from dedup.store import MemoryStore, file_index_path, store_schemes
from dedup.write import (
    STDOUT,
    ParquetRecords,
    Rendered,
    Summary,
    atomic_binary,
    binary_writer,
    dumps,
    is_parquet,
    mirrored_piece,
    open_binary_output,
    open_output,
    report_lines,
    text_writer,
    written_record,
)

PathArg = str | os.PathLike[str]

logger = logging.getLogger(__name__)


def clean_files(
    inputs: PathArg | Iterable[PathArg],
    output: PathArg,
    config: Config | None = None,
    *,
    report: PathArg | None = None,
    summary: PathArg | None = None,
    annotate: bool = False,
    on_error: OnError = "raise",
    workers: int | None = None,
    state: PathArg | None = None,
    resume: bool = False,
    index: PathArg | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    progress: ProgressHook | None = None,
    config_file: PathArg | None = None,
    html: PathArg | None = None,
) -> Summary:
    """Clean files into an output file or directory, with a report and a summary.

    When every input is JSONL, ``output`` is one JSONL file (``.gz``/``.zst``
    by suffix, or ``"-"`` for stdout) with a line per kept document, in input
    order, with the text replaced by the cleaned text. Otherwise it is a
    directory that mirrors the inputs: a ``.txt`` per kept text document and
    a ``.jsonl`` per JSONL input.

    Inputs and outputs may be object-storage URIs (``s3://bucket/key``,
    ``gs://``; :mod:`dedup.objstore`) on either engine: an object is read
    as a file, a prefix as a directory, and each output is written to a
    temporary key and moved into place when complete. ``state`` and
    ``index`` are local.

    Args:
        inputs: ``.jsonl[.gz|.zst]``, ``.parquet`` and ``.txt`` files,
            directories (walked for those), object-storage URIs of objects or
            prefixes, or ``"-"`` for JSONL on stdin.
        output: Where the clean documents go.
        config: The settings (``Config()`` when not given).
        report: Where to write one JSONL line per removed paragraph or
            dropped document (``"-"`` for stdout); none when not given.
        summary: Where to write the run's counts as JSON (``"-"`` for stdout).
        annotate: Keep every document and add a ``dedup`` field with the
            decisions (JSONL inputs only).
        on_error: On a bad record, ``"raise"`` an :class:`InputError`, or
            ``"skip"`` it and report it as ``invalid``.
        workers: Processes for the per-document work (all cores when not
            given); the output does not depend on it.
        state: A directory in which to record each completed input, so that
            an interrupted run can be resumed.
        resume: Continue the run recorded in ``state``: completed inputs are
            not read again, and the output is that of one uninterrupted run.
        index: A cross-document index that outlives the run
            (:func:`dedup.store.open_store`): a file (``file:///abs/i.npz``
            or a path), loaded first and saved when the run completes, so
            that documents are checked against earlier runs; or a shared
            ``redis://`` index. With ``state``, the state's snapshots are
            what a resumed run continues from, and a file index is written
            once, when the whole run completes (a Redis index cannot be
            rolled back, so it cannot be combined with ``state``).
        engine: ``"local"`` (this machine) or ``"ray"`` (a Ray cluster,
            :mod:`dedup.engines.ray`): the same output, report and summary
            (but for its ``engine`` field).
        ray_address: The Ray cluster to connect to (``engine="ray"``);
            ``None`` starts Ray on this machine with ``workers`` CPUs.
        progress: Called with a :class:`dedup.progress.Progress` (documents
            and bytes read so far, the inputs' total size when known) after
            every document, to show how far the run has got; nothing is
            printed otherwise.
        config_file: The configuration file ``config`` was read from
            (:mod:`dedup.configfile`), recorded in the summary.
        html: Where to write a self-contained HTML page of the run
            (:mod:`dedup.html`): counts, score histograms and every document
            with its removals (sampled past about 20 MB). Not with ``state``:
            a resumed run no longer has the results of the inputs it skips.

    Returns:
        The counts of the run (what ``summary`` holds), with its
        :class:`~dedup.progress.Timing` as ``timing``.

    Raises:
        ArgumentError: The arguments do not fit together or with the inputs
            (for example an output that is an input); nothing is written.
        InputError: An input cannot be listed or read, or (unless skipped)
            holds a bad record.
        StateError: The state directory cannot be used or resumed.
        DedupError: Other errors of the cleaner, such as a damaged model.
    """
    meter = Meter(progress)
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    names = [os.fspath(path) for path in inputs]
    targets = _Targets(
        os.fspath(output),
        None if report is None else os.fspath(report),
        None if summary is None else os.fspath(summary),
        None if html is None else os.fspath(html),
    )
    _check_arguments(names, targets, on_error, workers, state, resume)
    index_url = None if index is None else os.fspath(index)
    _check_local(state, index_url)
    if index_url is not None and state is not None and file_index_path(index_url) is None:
        raise ArgumentError(
            "{state} checkpoints the index so that a run can resume, but an index that is not a file ({url}) "
            "cannot be rolled back to a checkpoint; use a file index, or no state",
            url=index_url.split("@")[-1],
        )
    if html is not None and state is not None:
        raise ArgumentError(
            "{html} is built from the results as they come, but a resumed run does not see those of the inputs it "
            "skips; use {annotate} and `dedup report --html` instead of {state}, or no state"
        )
    if engine not in ("local", "ray"):
        raise ArgumentError('{engine} must be "local" or "ray", found {found}', found=repr(engine))
    if engine == "ray" and (state is not None or resume or index is not None):
        raise ArgumentError(
            "{state}, {resume} and {index} work with the local engine only: a Ray run cannot be resumed or "
            "share an index yet"
        )
    files = list_inputs(names)
    all_jsonl = _check_layout(files, names, targets, annotate)
    run = _Run(files, config or Config(), all_jsonl, targets, annotate, on_error, workers or default_workers(),
               index_url, meter, None if config_file is None else os.fspath(config_file))
    if engine == "ray":
        from dedup.engines.ray import clean_inputs, clean_stream, connect

        connect(ray_address, workers)
        if is_parquet(targets.output) or html is not None:
            # A Parquet file is built from the records, and the HTML page from every result: both here.
            counts = run.clean(lambda records: clean_stream(records, run.config), "ray")
        else:  # the workers read plain JSONL and render the results: their bytes are copied into place here
            counts = run.clean_rendered(
                lambda inputs, on_read: clean_inputs(inputs, run.config, on_error=on_error, on_read=on_read,
                                                     annotate=annotate, mirrored=not all_jsonl,
                                                     report=report is not None),
                "ray",
            )
    else:
        counts = run.clean() if state is None else run.clean_resumable(Path(state), resume)
    counts.timing = meter.timing()
    return counts


class Quality(NamedTuple):
    """How well a topic model's removals match labels: removal is the positive class."""

    precision: float | None  # None: nothing removed
    recall: float | None  # None: nothing labelled drop
    f1: float | None
    paragraphs: int
    documents: int
    drops: int  # paragraphs labelled drop

    def short(self) -> str:
        def figure(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.3f}"

        return f"precision {figure(self.precision)}, recall {figure(self.recall)}, F1 {figure(self.f1)}"


class Fitted(NamedTuple):
    """What :func:`fit_topic_file` fitted a model on, and how it did on held-out documents.

    Attributes:
        paragraphs: Labelled paragraphs the saved model is fitted on (all of them).
        documents: Their documents.
        held_out: The documents held out for the check (0: no check).
        quality: Removals of a model fitted on the other documents, on the
            held-out ones (``None``: no check; see ``note``).
        shipped: Removals of the model shipped with dedup on the same held-out documents.
        note: Why there was no check, when there was none.
    """

    paragraphs: int
    documents: int
    held_out: int = 0
    quality: Quality | None = None
    shipped: Quality | None = None
    note: str | None = None


#: The fewest labelled documents with which :func:`fit_topic_file` holds some out for a check.
MIN_DOCUMENTS_TO_CHECK = 10


def fit_topic_file(
    labelled: PathArg,
    output: PathArg,
    *,
    text_field: str = "text",
    id_field: str = "id",
    holdout: float = 0.2,
    seed: int = 0,
) -> Fitted:
    """Fit a topic model on labelled paragraphs and save it to ``output`` (``.npz``, no pickle).

    First a check: a seeded share ``holdout`` of the documents is held out,
    a model is fitted on the rest, and its removals on the held-out
    documents (the topic stage as ``dedup clean --no-dedup`` runs it) are
    compared with their labels, as are the shipped model's. Then the model
    is fitted on every document and saved. The fitted model replaces the
    shipped one: it is fitted from scratch, on these labels only.

    Args:
        labelled: JSONL records ``{"text", "label": "keep"|"drop", "id"}``
            (``"-"`` for stdin); see :mod:`dedup.labelled`.
        output: Where to save the model.
        text_field: The key holding the paragraph text.
        id_field: The key of the document a paragraph belongs to.
        holdout: The share of documents held out for the check (0: no check).
        seed: Seed of the choice of held-out documents.

    Raises:
        InputError: The labelled records cannot be read, or cannot be fitted
            on (for example all of one label).
    """
    from dedup.topic import TopicModel

    if not 0.0 <= holdout < 1.0:
        raise ArgumentError("{holdout} must be at least 0 and below 1, found {found}", found=holdout)
    source = os.fspath(labelled)
    documents, labels = read_labelled(source, text_field, id_field)
    checked = _held_out_check(documents, labels, holdout, seed)
    try:
        model = TopicModel().fit(documents, labels)
    except ValueError as exc:
        raise InputError(str(exc), source) from exc
    model.save(Path(output))
    return Fitted(sum(map(len, labels)), len(documents), *checked)


def _held_out_check(
    documents: list[list[str]], labels: list[list[int]], holdout: float, seed: int
) -> tuple[int, Quality | None, Quality | None, str | None]:
    """(held out, quality, the shipped model's quality, why no check) of :func:`fit_topic_file`."""
    import numpy as np

    from dedup.topic import TopicModel

    count = round(len(documents) * holdout)
    if holdout == 0:
        return 0, None, None, "no held-out check (--holdout 0)"
    if len(documents) < MIN_DOCUMENTS_TO_CHECK or count == 0:
        return 0, None, None, (f"no held-out check: {len(documents)} documents are too few to hold "
                               f"{holdout:.0%} out (label at least {MIN_DOCUMENTS_TO_CHECK})")
    order = np.random.default_rng(seed).permutation(len(documents))
    held, rest = sorted(order[:count].tolist()), sorted(order[count:].tolist())
    try:
        model = TopicModel().fit([documents[i] for i in rest], [labels[i] for i in rest])
    except ValueError as exc:
        return 0, None, None, f"no held-out check: the documents left to fit on cannot be fitted on ({exc})"
    held_docs, held_labels = [documents[i] for i in held], [labels[i] for i in held]
    return (count, removal_quality(model, held_docs, held_labels),
            removal_quality(TopicModel.default(), held_docs, held_labels), None)


def removal_quality(model: Any, documents: list[list[str]], labels: list[list[int]]) -> Quality:
    """Compare the topic stage's removals, with ``model``, to labels (1 drop, 0 keep, -1 not counted).

    Each document is cleaned as ``dedup clean --no-dedup`` cleans it, its
    paragraphs joined by line breaks; a document whose paragraphs are not
    lines of their own (a paragraph holding a line break, or blank) is left out.
    """
    from dedup.split import split_paragraphs

    config = Config(dedup=DedupConfig(enabled=False, documents=False))
    docs, kept_labels = [], []
    for n, (paragraphs, doc_labels) in enumerate(zip(documents, labels, strict=True)):
        text = "\n".join(paragraphs)
        if len(split_paragraphs(text)[0]) == len(paragraphs):
            docs.append(Document(f"held-out-{n}", text))
            kept_labels.append(doc_labels)
    hit = removed = drops = paragraphs_count = 0
    with Cleaner(config, model=model) as cleaner:
        for result, doc_labels in zip(cleaner.clean(docs), kept_labels, strict=True):
            for decision, label in zip(result.decisions, doc_labels, strict=True):
                if label < 0:
                    continue
                paragraphs_count += 1
                drops += label == 1
                removed += not decision.kept
                hit += label == 1 and not decision.kept
    precision = hit / removed if removed else None
    recall = hit / drops if drops else None
    f1 = None
    if precision is not None and recall is not None:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Quality(precision, recall, f1, paragraphs_count, len(docs), drops)


# -- checking the arguments ---------------------------------------------------------------------


class _Targets(NamedTuple):
    """Where the results of a run go: paths, ``"-"`` for stdout, ``None`` for not written."""

    output: str
    report: str | None
    summary: str | None
    html: str | None = None

    def named(self) -> list[tuple[str, str]]:
        """(argument, path) of each result written to a file."""
        return [(name, path) for name, path in zip(self._fields, self, strict=True) if path not in (None, STDOUT)]


def _is_device(path: str) -> bool:
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:  # missing, or a link loop: write.py says what is wrong when it gets there
        return False


def _check_arguments(
    inputs: list[str], targets: _Targets, on_error: str, workers: int | None, state: PathArg | None, resume: bool
) -> None:
    """Refuse arguments that contradict each other, before any file is looked at."""
    if on_error not in ("raise", "skip"):
        raise ArgumentError('{on_error} must be "raise" or "skip", found {found}', found=repr(on_error))
    if workers is not None and workers < 1:
        raise ArgumentError("{workers} must be at least 1, found {found}", found=workers)
    if inputs.count(STDIN) > 1:
        raise ArgumentError("- (stdin) can be given once")
    # Resolved: ./out.jsonl is out.jsonl, and a link is its target. A device (/dev/null) may take several.
    files = [_same_name(path) for _, path in targets.named() if not _is_device(path)]
    named = "{output}, {report}, {summary} and {html}" if targets.html else "{output}, {report} and {summary}"
    if len(set(files)) < len(files):
        raise ArgumentError(f"{named} must be different files")
    if list(targets).count(STDOUT) > 1:
        raise ArgumentError(f"only one of {named} can be - (stdout)")
    if resume and state is None:
        raise ArgumentError("{resume} continues the run recorded in a state directory: give the directory with {state}")
    if state is not None and is_parquet(targets.output):
        raise ArgumentError("{state} assembles JSONL output: a resumable run cannot write Parquet; use -o *.jsonl")
    if state is not None and STDIN in inputs:
        raise ArgumentError("{state} records completed input files: - (stdin) cannot be resumed")


def _check_local(state: PathArg | None, index: str | None) -> None:
    """Refuse an object-storage URI for the state directory or the index file: they are read and written in place."""
    if state is not None and is_uri(os.fspath(state)):
        raise ArgumentError(
            "{state} must be a local directory, not {path}: a state is rewritten as each input completes; "
            "object-storage URIs are for inputs and outputs",
            path=os.fspath(state),
        )
    if index is not None and is_uri(index) and index.partition("://")[0] not in store_schemes():
        raise ArgumentError(
            "{index} must be a local file (a path or file:///abs/index.npz) or a shared redis:// index, not {path}: "
            "object-storage URIs are for inputs and outputs; copy the index file here and back",
            path=index,
        )


def _same_name(path: str) -> str:
    """What ``path`` names, to compare with other paths: a URI as it is, a local path resolved."""
    return path if is_uri(path) else os.path.realpath(path)


def _check_layout(files: list[InputFile], inputs: list[str], targets: _Targets, annotate: bool) -> bool:
    """Check that the outputs fit the inputs; whether the output is one JSONL file (else a directory).

    The output is one file when every input is JSONL, unless its name ends
    in a slash: a directory, which mirrors the inputs as text inputs do.
    """
    output = targets.output
    all_jsonl = all(f.kind in ("jsonl", "parquet") for f in files)  # records: one output file
    one_file = all_jsonl and not output.endswith(("/", os.sep))
    if not one_file and any(f.kind == "parquet" for f in files):
        raise ArgumentError(
            "Parquet inputs are written to one output file (JSONL, or Parquet when it ends in .parquet), not "
            "mirrored into a directory; give a file name, and no text inputs"
        )
    if not one_file and output == STDOUT:
        raise ArgumentError("text inputs need an output directory, not - (stdout)")
    if annotate and not one_file:
        raise ArgumentError("{annotate} adds a field to JSON records: it needs JSONL inputs and one output file")
    local = not is_uri(output)
    if not one_file and local and Path(output).is_file():
        raise ArgumentError("output {path} is a file, but text inputs need an output directory", path=output)
    if not all_jsonl and kind_of(output.rstrip("/" + os.sep)) is not None and not (local and Path(output).is_dir()):
        raise ArgumentError(
            "text inputs make the output a directory that mirrors them (a .txt per document), but {path} is "
            "named like a file; give a directory",
            path=output,
        )
    if not one_file:
        _check_mirror(files, output)
    if one_file and output != STDOUT and local and Path(output).is_dir():
        raise ArgumentError(
            "output {path} is a directory, but JSONL inputs make one output file; end it with / to write a "
            ".jsonl per input into it",
            path=output,
        )
    _check_not_inputs(files, targets, one_file)
    _check_not_inside_inputs(inputs, targets)
    return one_file


def _check_not_inside_inputs(inputs: list[str], targets: _Targets) -> None:
    """Refuse outputs inside an input directory: the next run would read them as inputs."""
    for argument in inputs:
        if is_uri(argument):
            prefix = name_of(argument).rstrip("/") + "/"
            inside = [(name, path) for name, path in targets.named() if name_of(path).startswith(prefix)]
        elif argument == STDIN or not os.path.isdir(argument):
            continue
        else:
            directory = os.path.realpath(argument)
            inside = [(name, path) for name, path in targets.named() if not is_uri(path)
                      and (real := os.path.realpath(path)) != directory
                      and os.path.commonpath([real, directory]) == directory]
        for name, path in inside:
            raise ArgumentError(
                f"{{{name}}} {{path}} is inside the input directory {{directory}}: a later run over that "
                "directory would read it as input; write it outside the inputs",
                path=path,
                directory=argument,
            )


def _check_not_inputs(files: list[InputFile], targets: _Targets, all_jsonl: bool) -> None:
    """Refuse an output path that is one of the inputs: it would be overwritten."""
    named = [f for f in files if f.path != STDIN]
    if not named:
        return
    real = {_same_name(f.path): f.path for f in named}
    identity = {}
    for f in named:
        if is_uri(f.path):
            continue
        with suppress(OSError):
            info = os.stat(f.path)
            identity[(info.st_dev, info.st_ino)] = f.path
    written = [(name, path) for name, path in targets.named() if name != "output"]
    if targets.output != STDOUT:
        if all_jsonl:
            written.append(("output", targets.output))
        else:
            written += [("output", _mirrored(targets.output, f.relative)) for f in named]
    for name, path in written:
        found = real.get(_same_name(path))
        if found is None and not is_uri(path):
            with suppress(OSError):
                info = os.stat(path)
                found = identity.get((info.st_dev, info.st_ino))  # a hard link to an input
        if found is not None:
            raise ArgumentError(
                f"{{{name}}} would write {{path}}, which is the input {{found}}; give an output path that is not "
                "an input",
                path=path,
                found=found,
            )


def _check_mirror(files: list[InputFile], output: str) -> None:
    """Refuse inputs that would be written to the same file of the output directory."""
    first: dict[str, InputFile] = {}
    for file in files:
        other = first.setdefault(file.relative, file)
        if other is not file:
            raise ArgumentError(
                "inputs {first} and {second} would both be written to {target}; give a directory that holds both, "
                "or clean them in separate runs",
                first=other.path,
                second=file.path,
                target=_mirrored(output, file.relative),
            )


# -- the run ------------------------------------------------------------------------------------


class _Run:
    """One run: the inputs, the settings and where the results go."""

    def __init__(
        self,
        files: list[InputFile],
        config: Config,
        all_jsonl: bool,
        targets: _Targets,
        annotate: bool,
        on_error: OnError,
        workers: int,
        index: str | None = None,
        meter: Meter | None = None,
        config_file: str | None = None,
    ) -> None:
        self.files = files
        self.config = config
        self.all_jsonl = all_jsonl
        self.targets = targets
        self.annotate = annotate
        self.on_error = on_error
        self.workers = workers
        self.index = index
        self.meter = meter or Meter()
        self.config_file = config_file

    def clean(
        self, engine: Callable[[Iterable[Document | InvalidRecord]], Iterable[CleanResult]] | None = None,
        engine_name: str = "local",
    ) -> Summary:
        """Clean every input in one stream, writing the outputs as results come.

        ``engine`` cleans the records elsewhere (:mod:`dedup.engines`); by default a local cleaner does.
        """
        counts = Summary()
        meter = self.meter
        meter.bytes_total = _total_size(self.files)
        records = meter.records(read_inputs(self.files, self.config.input, self.on_error, on_read=meter.read))
        text_field = self.config.input.text_field
        with ExitStack() as stack:
            clean = engine
            if clean is None:
                if self.index is not None:
                    logger.info("opening the index %s", _shown(self.index))
                # Entered first, left last: a file index is saved only once every output is in place.
                clean = stack.enter_context(Cleaner(self.config, index=self.index, workers=self.workers)).clean
            sink: _Sink
            if self.all_jsonl and is_parquet(self.targets.output):
                sink = _ParquetSink(stack.enter_context(atomic_binary(self.targets.output)), self.targets.output,
                                    text_field, self.annotate)
            elif self.all_jsonl:
                sink = _JsonlSink(stack.enter_context(open_output(self.targets.output)), text_field, self.annotate)
            else:
                sink = _DirectorySink(stack, self.targets.output, self.files, text_field)
            report = _Report(stack.enter_context(open_output(self.targets.report)) if self.targets.report else None)
            html = None if self.targets.html is None else HtmlReport()
            for result in meter.results(clean(records)):
                counts.add(result)
                sink.write(result)
                report.write(result)
                if html is not None:
                    html.add(ReportDocument.from_result(result))
            sink.commit()
            self._write_summary(counts, engine_name)
            if html is not None and self.targets.html is not None:
                html.write(self.targets.html, counts.to_dict(__version__, self.config.fingerprint(),
                                                         self.config.to_dict(), engine_name, self.config_file))
        if engine is None and self.index is not None and file_index_path(self.index) is not None:
            logger.info("index %s saved", self.index)
        return counts

    def clean_rendered(
        self, engine: Callable[[list[InputFile], OnRead], Iterable[Rendered]], engine_name: str
    ) -> Summary:
        """:meth:`clean` with an engine that reads the inputs and renders the results (:func:`dedup.write.render`).

        ``engine`` gets the inputs and the meter's ``on_read``. The rendered
        parts come in input order; their bytes are copied into the outputs
        as they come (no document is parsed here), and their counts merged
        into the summary.
        """
        counts = Summary()
        meter = self.meter
        meter.bytes_total = _total_size(self.files)
        with ExitStack() as stack:
            mirror = None if self.all_jsonl else _Mirror(stack, self.targets.output, self.files)
            output = stack.enter_context(open_binary_output(self.targets.output)) if mirror is None else None
            report = stack.enter_context(open_binary_output(self.targets.report)) if self.targets.report else None
            for part in meter.batches(engine(self.files, meter.read), lambda part: part.counts.documents_in):
                counts.merge(part.counts)
                for source, data in part.output:
                    if mirror is not None:
                        mirror.write(source, data)
                    elif output is not None:
                        output.write(data)
                if report is not None:
                    report.write(part.report)
            if mirror is not None:
                mirror.commit()
            self._write_summary(counts, engine_name)
        return counts

    def clean_resumable(self, state_dir: Path, resume: bool) -> Summary:
        """Clean input by input, recording each in ``state_dir``; then assemble the outputs.

        With ``resume``, the inputs the state lists as completed are not read
        again: their recorded results are used, and the index is restored.
        """
        meter = self.meter
        with RunState.open(state_dir, self._settings(), resume=resume) as state:
            start = state.resume_point(self.files)
            meter.inputs_skipped = tuple(file.path for file in self.files[:start])
            meter.bytes_total = _total_size(self.files[start:])
            if start:
                logger.info("resuming %s: %d of %d inputs completed earlier are not read again", state_dir, start,
                            len(self.files))
            fingerprint, settings = self.config.fingerprint(), self.config.index_settings()
            store = state.load_index(fingerprint)
            index_file = None if self.index is None else file_index_path(self.index)
            if start == 0 and index_file is not None and index_file.exists():
                logger.info("opening the index %s", index_file)
                store = MemoryStore.load(index_file, fingerprint, settings)  # earlier runs
            cleaner = Cleaner(self.config, index=store, workers=self.workers)
            seen: set[str] = set()
            for index in range(start):
                seen.update(state.load_meta(index)[1])
            for index in range(start, len(self.files)):
                file = self.files[index]
                stamp = Stamp.of(file)  # before reading: a file changed meanwhile will not match on resume
                counts, ids = Summary(), []
                records = meter.records(read_inputs([file], self.config.input, self.on_error, seen, meter.read))
                with state.chunks(index) as (out_raw, report_raw), text_writer(report_raw, "report") as report_out:
                    name = "out.jsonl" if self.all_jsonl else file.relative  # a mirrored file keeps its compression
                    with ExitStack() as stack:
                        sink: _Sink = (
                            _JsonlSink(stack.enter_context(text_writer(out_raw, name)), self.config.input.text_field,
                                       self.annotate)
                            if file.kind == "jsonl"
                            else _TextSink(out_raw)
                        )
                        report = _Report(report_out)
                        for result in meter.results(cleaner.clean(records)):
                            counts.add(result)
                            if result.dropped is not Reason.INVALID:
                                ids.append(result.id)
                            sink.write(result)
                            report.write(result)
                has_output = not isinstance(sink, _TextSink) or sink.written  # a dropped text document has none
                state.complete(index, stamp, counts, ids, has_output)
                state.checkpoint(store, force=index == len(self.files) - 1)
                logger.info("recorded %s as completed in %s", file.path, state_dir)
            counts = self._assemble(state)
            if index_file is not None:  # the whole run is done: the index file is written once
                store.save(index_file)
                logger.info("index %s saved", index_file)
            return counts

    def _assemble(self, state: RunState) -> Summary:
        """Write the outputs from the chunks of every input, as :meth:`clean` would have."""
        counts = Summary()
        for index in range(len(self.files)):
            counts.merge(state.load_meta(index)[0])
        with ExitStack() as stack:
            if self.all_jsonl:
                out = stack.enter_context(open_output(self.targets.output))
                for index in range(len(self.files)):
                    for line in state.chunk_lines(index, "out"):
                        out.write(line)
            else:
                root = self.targets.output
                stage = _stage_directory(stack, root)
                for index, file in enumerate(self.files):
                    if state.completed[index].out is None:
                        continue
                    target = stage / file.relative
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with open(target, "wb") as handle:
                        for block in state.chunk_blocks(index, "out"):
                            handle.write(block)
            if self.targets.report:
                report_out = stack.enter_context(open_output(self.targets.report))
                for index in range(len(self.files)):
                    for line in state.chunk_lines(index, "report"):
                        report_out.write(line)
            if not self.all_jsonl:
                _move_into_place(stage, root)
            self._write_summary(counts)
        return counts

    def _write_summary(self, counts: Summary, engine: str = "local") -> None:
        if self.targets.summary:
            counts.timing = self.meter.timing()  # as of now: what comes after (an index saved) is not in it
            with open_output(self.targets.summary) as summary_out:
                data = counts.to_dict(__version__, self.config.fingerprint(), self.config.to_dict(), engine,
                                      self.config_file)
                summary_out.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def _settings(self) -> dict[str, Any]:
        """Everything that decides the output of a resumable run: a state made with others is refused."""
        index_file = None if self.index is None else file_index_path(self.index)
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
            "index_file": None if index_file is None else str(index_file.resolve()),
        }


class _Report:
    """Writes the report lines of each result, to the report or to the report chunk of an input."""

    def __init__(self, out: IO[str] | None) -> None:
        self.out = out

    def write(self, result: CleanResult) -> None:
        if self.out is not None:
            for line in report_lines(result):
                self.out.write(dumps(line))


class _Sink:
    """Where the clean documents go."""

    def write(self, result: CleanResult) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        """Called once every result is written."""


class _JsonlSink(_Sink):
    """JSONL records: the kept documents, or with ``annotate`` every document with its decisions."""

    def __init__(self, out: IO[str], text_field: str, annotate: bool) -> None:
        self.out = out
        self.text_field = text_field
        self.annotate = annotate

    def write(self, result: CleanResult) -> None:
        if (record := written_record(result, self.text_field, self.annotate)) is not None:
            self.out.write(dumps(record))


class _ParquetSink(_Sink):
    """The records :class:`_JsonlSink` writes, as the rows of a Parquet file."""

    def __init__(self, raw: IO[bytes], path: str, text_field: str, annotate: bool) -> None:
        self.out = ParquetRecords(raw, path)
        self.text_field = text_field
        self.annotate = annotate

    def write(self, result: CleanResult) -> None:
        if (record := written_record(result, self.text_field, self.annotate)) is not None:
            self.out.write(record)

    def commit(self) -> None:
        self.out.close()


class _TextSink(_Sink):
    """The clean text of one text document, if it is kept."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.written = False

    def write(self, result: CleanResult) -> None:
        if result.dropped is None:
            self.out.write(result.text.encode("utf-8"))
            self.written = True


class _Mirror:
    """An output directory that mirrors the inputs, written into a staging directory moved into place at the end.

    It is written in pieces (:attr:`dedup.write.Rendered.output`): a text
    input's piece is its document's clean text, a JSONL input's pieces its
    records, in order (its file is made with its first piece, compressed as
    its name says).
    """

    def __init__(self, stack: ExitStack, root: str, files: list[InputFile]) -> None:
        self.root = root
        self.stage = _stage_directory(stack, root)
        self.by_source = {("<stdin>" if f.path == STDIN else f.path): f for f in files}
        self.jsonl = [f for f in files if f.kind == "jsonl"]
        self._stack = ExitStack()
        stack.callback(self._stack.close)
        self._current: tuple[str, IO[bytes]] | None = None

    def _target(self, file: InputFile) -> Path:
        path = self.stage / file.relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def write(self, source: str, data: bytes) -> None:
        """Write a piece of the output of the input ``source`` (a path, or ``<stdin>``)."""
        file = self.by_source[source]
        if file.kind == "txt":
            self._target(file).write_bytes(data)
            return
        if self._current is None or self._current[0] != file.relative:
            self._stack.close()
            raw = self._stack.enter_context(open(self._target(file), "wb"))  # noqa: SIM115 - closed by the stack
            self._current = (file.relative, self._stack.enter_context(binary_writer(raw, file.relative)))
        self._current[1].write(data)

    def commit(self) -> None:
        self._stack.close()
        for file in self.jsonl:
            target = self.stage / file.relative
            if not target.exists():
                with atomic_binary(target) as raw, text_writer(raw, file.relative):
                    pass
        _move_into_place(self.stage, self.root)


class _DirectorySink(_Sink):
    """The clean documents into an output directory that mirrors the inputs (:class:`_Mirror`)."""

    def __init__(self, stack: ExitStack, root: str, files: list[InputFile], text_field: str) -> None:
        self.mirror = _Mirror(stack, root, files)
        self.text_field = text_field

    def write(self, result: CleanResult) -> None:
        source, data = mirrored_piece(result, self.text_field)
        if data is not None:
            self.mirror.write(source, data)

    def commit(self) -> None:
        self.mirror.commit()


def _total_size(files: list[InputFile]) -> int | None:
    """The bytes of ``files`` as stored, or ``None`` when one is stdin or cannot be looked at."""
    total = 0
    for file in files:
        if file.path == STDIN:
            return None
        try:
            total += file_size(file.path) if file.size is None else file.size
        except OSError:
            return None  # the reader says what is wrong with it
    return total


def _shown(url: str) -> str:
    """An index URL without its password, for a log line."""
    scheme, found, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}" if found else url


def _mirrored(root: str, relative: str) -> str:
    """Where the output directory (or prefix) ``root`` has the output of the input named ``relative``."""
    return join_uri(root, relative) if is_uri(root) else str(Path(root) / relative)


def _stage_directory(stack: ExitStack, root: str) -> Path:
    """A temporary directory beside ``root`` (in the system's for a prefix in object storage), removed when
    ``stack`` closes."""
    if is_uri(root):
        stage = Path(tempfile.mkdtemp(prefix="dedup-", suffix=".partial"))
    else:
        Path(root).parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{Path(root).name}.", suffix=".partial", dir=Path(root).parent))
    stack.callback(shutil.rmtree, stage, True)
    return stage


def _move_into_place(stage: Path, root: str) -> None:
    """Move the staged files into the output directory; into a prefix in object storage, upload each
    (:func:`dedup.write.atomic_binary`: an object appears once complete)."""
    for path in sorted(p for p in stage.rglob("*") if p.is_file()):
        relative = path.relative_to(stage).as_posix()
        if is_uri(root):
            with open(path, "rb") as source, atomic_binary(join_uri(root, relative)) as target:
                shutil.copyfileobj(source, target, 1 << 20)
            continue
        final = Path(root) / relative
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, final)
