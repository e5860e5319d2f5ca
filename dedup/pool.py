"""Worker processes: one ordered map over a stream of items.

The cleaner's per-batch work is a pure function of a batch and the
settings; this module runs it in a pool of processes and gives the results
back in input order, so the output never depends on the number of workers.
Workers receive the context (settings and model) once, at start; they exit
when their parent dies, however it died, and a parent leaving the map early
(an error, Ctrl-C, SIGTERM) stops them at once.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import suppress
from typing import Any, TypeVar

T = TypeVar("T")

#: What every task of this worker process is given besides its item; set by _init_worker.
_CONTEXT: tuple[Any, ...] = ()
_PARENT_POLL_SECONDS = 0.5
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _init_worker(context: tuple[Any, ...], parent: int, death_signal: bool) -> None:
    global _CONTEXT
    # Ctrl-C goes to the whole process group: the parent handles it and stops the pool; a
    # worker that raised KeyboardInterrupt too would only print a traceback. SIGTERM is the
    # parent-death signal, so it must end the worker, not run a handler inherited by fork.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):  # blocked by _WorkerPool.submit while this process was forked
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    _exit_with_parent(parent, death_signal)
    _CONTEXT = context


def _exit_with_parent(parent: int, death_signal: bool) -> None:
    """Make this worker exit within seconds once ``parent`` is gone, however it ended (even SIGKILL).

    A pool's workers otherwise wait for work forever on a queue that no one
    will ever write to or close. On Linux the kernel sends SIGTERM when the
    parent dies (``PR_SET_PDEATHSIG``); everywhere, a daemon thread polls
    the parent pid, which changes when the worker is re-parented.
    """
    if death_signal and sys.platform.startswith("linux"):
        with suppress(OSError, AttributeError):  # no usable libc: the thread below still works
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the death signal was set
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="dedup-parent-watch", daemon=True).start()


class _WorkerPool(ProcessPoolExecutor):
    """A process pool that, left by an exception (Ctrl-C, bad input), stops its workers at once.

    ``ProcessPoolExecutor`` would wait for the batches in flight, so Ctrl-C
    would take as long as the slowest batch.
    """

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        # Workers are started inside submit. Ctrl-C or SIGTERM arriving while one is being forked would
        # interrupt the parent before it records the new worker (which then waits for work forever, and
        # the parent for it at exit) and hit the child before _init_worker: hold them until submit returns;
        # the children start with them blocked, and unblock them once their own handling is set.
        if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
            return super().submit(fn, *args, **kwargs)
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            return super().submit(fn, *args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> bool:
        if exc_type is None:
            return bool(super().__exit__(exc_type, exc, traceback))
        # shutdown() drops these references; keep them to finish the job.
        processes = list((getattr(self, "_processes", None) or {}).values())
        manager = getattr(self, "_executor_manager_thread", None)
        results = getattr(self, "_result_queue", None)
        self.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=10)
        # A worker stopped while sending a result leaves half a message in the result pipe, and the pool's
        # manager thread waiting for the rest forever (the interpreter, at exit, waits for that thread).
        # With every worker gone, closing this process's end of the pipe turns the wait into end of file,
        # which the thread handles as a broken pool, and ends.
        writer = getattr(results, "_writer", None)
        if writer is not None:
            with suppress(OSError):
                writer.close()
        if manager is not None:
            manager.join(timeout=10)
        return False


def _call(task: tuple[Callable[..., Any], Any]) -> Any:
    function, item = task
    return function(item, *_CONTEXT)


def ordered_map(
    function: Callable[..., T], items: Iterable[Any], *, workers: int, context: tuple[Any, ...] = (), ahead: int = 0
) -> Iterator[tuple[Any, T]]:
    """``function(item, *context)`` for every item, in worker processes, yielded in input order.

    ``context`` (the settings and the model) is sent once per worker, not
    once per item; ``function`` must be a module-level function, so that
    it can be named in another process. At most ``ahead`` items (default:
    twice the workers) are in flight, so the input streams. Leaving the
    iterator early, by an exception or Ctrl-C, stops the workers at once.

    Yields:
        ``(item, function(item, *context))`` pairs, in input order.
    """
    ahead = ahead or 2 * workers
    # The kernel's parent-death signal follows the thread that forks the workers (the first submit
    # runs in the thread that created the pool): only the main thread is sure to outlive the pool.
    death_signal = threading.current_thread() is threading.main_thread()
    with _WorkerPool(
        max_workers=workers, initializer=_init_worker, initargs=(context, os.getpid(), death_signal)
    ) as executor:
        pending: deque[tuple[Any, Future[T]]] = deque()
        for item in items:
            pending.append((item, executor.submit(_call, (function, item))))
            if len(pending) >= ahead:
                item, future = pending.popleft()
                yield item, future.result()
        while pending:
            item, future = pending.popleft()
            yield item, future.result()


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1
