"""What ``dedup clean`` shows on stderr while it runs: a progress bar, and log lines with ``--verbose``.

The library only reports (:mod:`dedup.progress`, the ``logging`` module);
this module draws, for the command line. The bar (tqdm, imported when a
bar is first drawn) shows documents, megabytes, documents/s, MB/s and, when
the inputs' size is known, how much is done and an estimate of the time
left. It appears only when stderr is a terminal, once a run has lasted
``DEDUP_PROGRESS_DELAY`` seconds (default 1), and is redrawn at most every
``DEDUP_PROGRESS_INTERVAL`` seconds (default 0.5); tests set both to 0.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from dedup.progress import MEGABYTE, Progress, ProgressHook

DELAY = 1.0
INTERVAL = 0.5


def _seconds(name: str, default: float) -> float:
    """A number of seconds from the environment variable ``name``; ``default`` when unset or not a number."""
    try:
        return max(0.0, float(os.environ[name]))
    except (KeyError, ValueError):
        return default


def describe(progress: Progress) -> str:
    """The words of the progress line: documents, megabytes, speeds and the time left when it is known."""
    seconds = progress.seconds or 1e-9
    megabytes = progress.bytes_read / MEGABYTE
    size = f"{megabytes:.1f}"
    if progress.bytes_total is not None:
        size += f"/{progress.bytes_total / MEGABYTE:.1f}"
    text = (
        f"{progress.documents} documents, {size} MB, {progress.documents / seconds:.0f} documents/s, "
        f"{megabytes / seconds:.2f} MB/s"
    )
    remaining = progress.remaining_seconds
    if remaining is not None:
        text += f", ETA {_clock(remaining)}"
    return text


def _clock(seconds: float) -> str:
    minutes, second = divmod(int(seconds + 0.5), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}" if hours else f"{minute:02d}:{second:02d}"


class ProgressBar:
    """A progress hook that draws one line on a terminal, redrawn in place and cleared when closed.

    Args:
        stream: The terminal (stderr).
        delay: Seconds into a run before the bar appears, so that short
            runs show none (``DEDUP_PROGRESS_DELAY``, else 1).
        interval: Least seconds between two redraws
            (``DEDUP_PROGRESS_INTERVAL``, else 0.5).
    """

    def __init__(self, stream: IO[str], delay: float | None = None, interval: float | None = None) -> None:
        self.stream = stream
        self.delay = _seconds("DEDUP_PROGRESS_DELAY", DELAY) if delay is None else delay
        self.interval = _seconds("DEDUP_PROGRESS_INTERVAL", INTERVAL) if interval is None else interval
        self._bar: Any = None
        self._drawn = float("-inf")

    def __call__(self, progress: Progress) -> None:
        if progress.seconds < self.delay or progress.seconds - self._drawn < self.interval:
            return
        self._drawn = progress.seconds
        if self._bar is None:
            self._bar = self._open(progress)
            return
        self._bar.n = progress.bytes_read
        self._bar.set_description_str(describe(progress), refresh=False)
        self._bar.refresh()

    def _open(self, progress: Progress) -> Any:
        """The tqdm bar, drawn at once: a bar and a share when the size is known, else the words alone."""
        from tqdm import tqdm  # here: only a run long enough to show a bar needs it

        class Bar(tqdm):
            monitor_interval = 0  # no monitor thread: worker processes are forked while the bar is shown

        known = progress.bytes_total is not None
        try:
            width, height = os.get_terminal_size(self.stream.fileno())
        except (OSError, ValueError):
            width = height = 0
        # A terminal that does not say its size (0 x 0) gets a line of 100 (tqdm would draw nothing).
        size: dict[str, Any] = {"dynamic_ncols": True} if width and height else {"ncols": 100, "nrows": 20}
        return Bar(
            total=progress.bytes_total if known else None,
            file=self.stream,
            desc=describe(progress),
            bar_format="dedup {percentage:3.0f}%|{bar}| {desc}" if known else "dedup: {desc}",
            leave=False,
            initial=progress.bytes_read,
            **size,
        )

    def clear(self) -> None:
        """Take the line off the terminal, to write something else (it is drawn again with :meth:`redraw`)."""
        if self._bar is not None:
            self._bar.clear()

    def redraw(self) -> None:
        if self._bar is not None:
            self._bar.refresh()

    def close(self) -> None:
        """Clear the line for good."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class _Handler(logging.Handler):
    """Log lines on stderr, around the progress bar."""

    def __init__(self, stream: IO[str], bar: ProgressBar | None) -> None:
        super().__init__(logging.INFO)
        self.stream = stream
        self.bar = bar
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            if self.bar is not None:
                self.bar.clear()
            self.stream.write(line + "\n")
            self.stream.flush()
            if self.bar is not None:
                self.bar.redraw()
        except Exception:  # a log line must not stop the run
            self.handleError(record)


@contextmanager
def terminal_output(quiet: bool = False, verbose: bool = False, stream: IO[str] | None = None) -> Iterator[
    ProgressHook | None
]:
    """Set up stderr for one command: the progress hook to pass to the library (or ``None``), and log lines.

    Args:
        quiet: No bar.
        verbose: Log what the run does (the ``dedup`` loggers, level INFO).
        stream: Where to write (stderr); a bar is drawn only on a terminal.
    """
    stream = sys.stderr if stream is None else stream
    bar = None if quiet or not stream.isatty() else ProgressBar(stream)
    logger = logging.getLogger("dedup")
    handler = _Handler(stream, bar) if verbose else None
    level = logger.level
    if handler is not None:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()
        if handler is not None:
            logger.removeHandler(handler)
            logger.setLevel(level)
