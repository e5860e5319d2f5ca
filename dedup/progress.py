"""How far a run has got, and how long it took: the hook behind a progress display, and the summary's timing.

:func:`dedup.run.clean_files` takes ``progress=``, a callable that it calls
with a :class:`Progress` after every document; the library never prints,
so a program draws what it likes (``dedup clean`` draws a bar on stderr,
:mod:`dedup.terminal`). When the run is done its :class:`Timing` (elapsed
seconds, documents and megabytes per second, seconds per stage) is in the
summary's ``timing`` section and on the returned counts.

Example:
    >>> import json, pathlib, tempfile
    >>> from dedup.run import clean_files
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> line = json.dumps({"id": "a", "text": "The council approved the budget on Tuesday."}) + "\\n"
    >>> _ = (folder / "in.jsonl").write_text(line)
    >>> seen = []
    >>> counts = clean_files(folder / "in.jsonl", folder / "out.jsonl", workers=1, progress=seen.append)
    >>> (seen[-1].documents, seen[-1].bytes_read, seen[-1].bytes_total)
    (1, 67, 67)
    >>> counts.timing.documents
    1
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any, TypeVar

T = TypeVar("T")

MEGABYTE = 1_000_000

#: The stages a run's seconds are divided into, in order: listing the inputs and loading the model and the
#: index; reading and parsing the inputs; analysing and deciding; writing the results; and moving the outputs
#: into place with the summary.
STAGES = ("start", "read", "clean", "write", "finish")


@dataclass(frozen=True)
class Progress:
    """How far a run has got, after one more document.

    Attributes:
        documents: Documents cleaned so far (dropped and invalid ones too).
        bytes_read: Bytes read so far from the input files as stored
            (compressed bytes for a compressed file).
        bytes_total: The sum of the input files' sizes, or ``None`` when it
            cannot be known (standard input).
        seconds: Seconds since the run started.
    """

    documents: int
    bytes_read: int
    bytes_total: int | None
    seconds: float

    @property
    def fraction(self) -> float | None:
        """The share of the input read, from 0 to 1, or ``None`` when the size is unknown."""
        if self.bytes_total is None:
            return None
        return 1.0 if self.bytes_total == 0 else min(1.0, self.bytes_read / self.bytes_total)

    @property
    def remaining_seconds(self) -> float | None:
        """Seconds to the end at the speed so far, or ``None`` when the size or the speed is unknown."""
        if self.bytes_total is None or self.bytes_read == 0:
            return None
        return max(0.0, self.bytes_total - self.bytes_read) * self.seconds / self.bytes_read


ProgressHook = Callable[[Progress], None]


@dataclass(frozen=True)
class Timing:
    """How long a run took and how fast it went.

    The rates count what this run read: with a resumed run, the inputs that
    an earlier run completed (``inputs_skipped``) are not in them.

    Attributes:
        seconds: Elapsed seconds, from the call to the end of the run.
        documents: Documents cleaned by this run.
        bytes_read: Bytes read from the input files as stored.
        stages: Seconds per stage of :data:`STAGES`.
        inputs_skipped: Inputs not read again, because the state of a
            resumed run records them as completed.
    """

    seconds: float
    documents: int
    bytes_read: int
    stages: dict[str, float] = field(default_factory=dict)
    inputs_skipped: tuple[str, ...] = ()

    @property
    def megabytes(self) -> float:
        return self.bytes_read / MEGABYTE

    @property
    def documents_per_second(self) -> float:
        return self.documents / self.seconds if self.seconds > 0 else 0.0

    @property
    def megabytes_per_second(self) -> float:
        return self.megabytes / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The summary's ``timing`` section: seconds, rates and the inputs a resumed run skipped."""
        return {
            "seconds": round(self.seconds, 3),
            "documents": self.documents,
            "megabytes": round(self.megabytes, 6),
            "documents_per_second": round(self.documents_per_second, 1),
            "megabytes_per_second": round(self.megabytes_per_second, 3),
            "stages": {name: round(seconds, 3) for name, seconds in self.stages.items()},
            "inputs_skipped": list(self.inputs_skipped),
        }

    def short(self) -> str:
        """One line for stderr: time, amount, speed, and the inputs a resumed run skipped."""
        line = (
            f"dedup: time {self.seconds:.1f} s for {self.documents} documents, {self.megabytes:.1f} MB "
            f"({self.documents_per_second:.0f} documents/s, {self.megabytes_per_second:.2f} MB/s)"
        )
        if self.inputs_skipped:
            more = len(self.inputs_skipped) - 3
            line += "; resumed: not read again, completed earlier: " + ", ".join(self.inputs_skipped[:3])
            if more > 0:
                line += f" and {more} more"
        return line


class Meter:
    """Measures one run as it goes: documents, bytes read and seconds per stage; tells the progress hook.

    Made when the run starts. :meth:`read` is the reader's ``on_read``;
    :meth:`records` wraps the records read and :meth:`results` the results
    cleaned, which tells apart the time spent reading, cleaning and writing
    (the time between two results is the consumer's: writing).
    """

    def __init__(self, hook: ProgressHook | None = None) -> None:
        self.hook = hook
        self.started = perf_counter()
        self.bytes_total: int | None = None
        self.bytes_read = 0
        self.documents = 0
        self.stages = dict.fromkeys(STAGES, 0.0)
        self.inputs_skipped: tuple[str, ...] = ()
        self._cleaning: float | None = None

    def read(self, count: int) -> None:
        """Count ``count`` bytes read from an input."""
        self.bytes_read += count

    def records(self, records: Iterable[T]) -> Iterator[T]:
        """``records``, timing how long each takes to read."""
        iterator = iter(records)
        while True:
            start = perf_counter()
            try:
                record = next(iterator)
            except StopIteration:
                return
            finally:
                self.stages["read"] += perf_counter() - start
            yield record

    def results(self, results: Iterable[T]) -> Iterator[T]:
        """``results``, counting them, timing them and telling the hook after each."""
        return self.batches(results, lambda _: 1)

    def batches(self, batches: Iterable[T], size: Callable[[T], int]) -> Iterator[T]:
        """:meth:`results` for results that come in batches of ``size(batch)`` documents."""
        iterator = iter(batches)
        if self._cleaning is None:
            self._cleaning = perf_counter()
            self.stages["start"] = self._cleaning - self.started
        while True:
            start, reading = perf_counter(), self.stages["read"]
            try:
                result = next(iterator)
            except StopIteration:
                self.stages["clean"] += perf_counter() - start - (self.stages["read"] - reading)
                return
            got = perf_counter()
            self.stages["clean"] += got - start - (self.stages["read"] - reading)
            self.documents += size(result)
            yield result
            if self.hook is not None:
                self.hook(Progress(self.documents, self.bytes_read, self.bytes_total, perf_counter() - self.started))
            self.stages["write"] += perf_counter() - got

    def timing(self) -> Timing:
        """The run's timing so far; what is not reading, cleaning or writing after the start is finishing."""
        seconds = perf_counter() - self.started
        stages = dict(self.stages)
        if self._cleaning is None:
            stages["start"] = seconds
        else:
            stages["finish"] = max(0.0, seconds - sum(v for k, v in stages.items() if k != "finish"))
        return Timing(seconds, self.documents, self.bytes_read, stages, self.inputs_skipped)
