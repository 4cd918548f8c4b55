"""Fast path "scheduler": the jobs of a batch over one process per core, the biggest spec first; its
reference is one job after the other in this process (`run_jobs` with the name off)."""

from __future__ import annotations

import collections
import contextlib
import gc
import os
import signal
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .. import fast_paths

if TYPE_CHECKING:
    from concurrent.futures import Future
from .jobs import Job, JobResult, WorkerEnded, bug_result, end_worker, run_job

WORKER_GRACE_SECONDS = 5
"""How long a worker told to end (SIGTERM) may take to clean up before it is killed."""


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: the batch stops as for Ctrl-C."""


class Interrupted(KeyboardInterrupt):
    """The batch stopped early; `finished` holds the results of jobs that ended but were not yet
    yielded (a worker's write completes before the batch stops), in job order."""

    def __init__(self, finished: list[JobResult]):
        super().__init__()
        self.finished = finished


def raise_terminated(signum: int, frame: Any) -> None:
    """A SIGTERM handler for the main process: stop as Ctrl-C does (the default would end this
    process alone, leaving its workers waiting for jobs that never come)."""
    raise Terminated


def run_jobs(
    jobs: Sequence[Job], workers: int, on_done: Callable[[], None]
) -> Generator[JobResult, None, None]:
    """Run every job (over `workers` processes, this one included) and yield the results in job
    order, each as soon as it and all before it are done.

    Every process runs one job at a time and takes the biggest spec left: the long conversions start
    first and the short ones at the end fill the gaps, so the processes finish close together. This
    process converts too, rather than wait beside the workers while its memory counts for nothing; a
    worker that is done gets its next job when this process is between jobs."""
    if workers <= 1 or len(jobs) <= 1 or not fast_paths.enabled("scheduler"):
        for job in jobs:
            result = run_job(job)
            on_done()
            yield result
        return
    # with a cache, it may answer all: the validators can wait
    if any(job.cache_dir is None for job in jobs):
        from ..pipeline import prepare

        distinct = {
            (job.settings.templates_dir, job.settings.check_output): job.settings for job in jobs
        }
        for settings in distinct.values():
            prepare(settings)  # built once here, shared by the forked workers
    gc.freeze()  # the workers' garbage collector then leaves the inherited objects' pages shared
    from concurrent.futures import ProcessPoolExecutor, as_completed  # only for several workers

    left = collections.deque(sorted(jobs, key=_input_size, reverse=True))  # the biggest first
    pending: dict[Future[JobResult], Job] = {}
    finished: dict[int, JobResult] = {}

    def arrive(arrival: JobResult) -> None:
        finished[arrival.index] = arrival
        on_done()

    def run_own_job(job: Job) -> None:
        """Run `job` here, as a worker would: Ctrl-C and SIGTERM wait for its end (its collection is
        then counted), as they wait for the workers' jobs."""
        with signals_held():
            arrive(run_job(job))

    pool = ProcessPoolExecutor(max_workers=workers - 1, initializer=_ignore_interrupts)
    pool_works = True
    try:
        order = [job.index for job in jobs]
        position = 0
        while position < len(order):
            # one job per worker at a time, so that whichever process is free first takes what is
            # left
            while left and pool_works and len(pending) < workers - 1:
                job = left.popleft()
                try:
                    pending[pool.submit(_run_in_worker, job)] = job
                # the pool broke (a worker died) or never started: this process converts the rest
                except Exception:
                    left.appendleft(job)
                    pool_works = False
            if left:
                run_own_job(left.popleft())
                ended = [future for future in pending if future.done()]
            else:
                ended = [next(as_completed(pending))]
            for future in ended:
                arrive(_worker_result(future, pending.pop(future)))
            while position < len(order) and order[position] in finished:
                yield finished.pop(order[position])
                position += 1
    except (
        BaseException
    ) as stop:  # Ctrl-C, SIGTERM: start no more jobs; the running ones finish their (atomic)
        # writes, so that every collection on disk is whole and counted, and the workers end
        left.clear()
        pool.shutdown(wait=True, cancel_futures=True)
        if not isinstance(stop, KeyboardInterrupt):
            raise
        for future, job in pending.items():
            if future.done() and not future.cancelled():
                finished[job.index] = _worker_result(future, job)
        raise Interrupted([finished[index] for index in sorted(finished)]) from stop
    pool.shutdown(wait=True)
    gc.unfreeze()


def _input_size(job: Job) -> int:
    try:
        return job.spec.stat().st_size
    except OSError:
        return 0


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait for the block's end, then stop the batch as they would have: a
    conversion, or the report of one, is never cut in half. Only in the main thread, and only for a
    signal with a Python handler (an ignored one stays ignored)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handlers = {
        number: handler
        for number in (signal.SIGINT, signal.SIGTERM)
        if callable(handler := signal.getsignal(number))
    }
    held: list[int] = []
    try:
        for number in handlers:
            signal.signal(number, lambda number, frame: held.append(number))
        yield
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
    if held:
        raise Terminated if signal.SIGTERM in held else KeyboardInterrupt


def stopped(
    results: Generator[JobResult, None, None], stop: KeyboardInterrupt
) -> KeyboardInterrupt:
    """An interrupt that reached the caller of `run_jobs` between two of its results, handed to the
    batch: it stops as if interrupted itself (the running jobs end, their results come with the
    Interrupted it raises, which is returned); without a batch running, `stop` itself."""
    if isinstance(stop, Interrupted):
        return stop
    try:
        results.throw(stop)
    except KeyboardInterrupt as raised:
        return raised
    except StopIteration:
        pass
    return stop


def _worker_result(future: Future[JobResult], job: Job) -> JobResult:
    try:
        return future.result()
    except Exception:  # the worker process died
        return bug_result(job)


def _ignore_interrupts() -> None:
    """Worker processes leave Ctrl-C and SIGTERM to the main process, which stops the batch between
    jobs. A SIGTERM sent to a worker itself ends it: inside a job through the job's own clean-up (no
    temporary file is left), else at once; so does a worker whose main process is gone without a
    word (SIGKILL)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, end_worker)

    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()


def _run_in_worker(job: Job) -> JobResult:
    try:
        return run_job(job)
    except WorkerEnded:
        os._exit(128 + signal.SIGTERM)


def _watch_parent(parent: int) -> None:
    # delivered to the main thread, which handles it
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    while os.getppid() == parent:
        time.sleep(1)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(WORKER_GRACE_SECONDS)  # a job's clean-up takes far less
    os._exit(128 + signal.SIGTERM)
