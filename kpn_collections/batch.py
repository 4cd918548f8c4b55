"""Batch conversion: find the specs, plan one job per spec, run the jobs over processes, keep a cache.

`discover` turns command-line arguments (files, directories, globs) into inputs; `plan` gives each its
output file; `run_job` converts one spec and writes (or, in check mode, compares) its collection. The CLI
prints the results in input order.
"""

from __future__ import annotations

import collections
import functools
import gc
import glob
import hashlib
import json
import os
import re
import signal
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .credentials import find_in_collection
from .diagnostics import Diagnostic, Severity
from .render import package_templates_dir
from .settings import Settings
from .write import collection_bytes, write_if_changed

if TYPE_CHECKING:
    from concurrent.futures import Future

SPEC_SUFFIXES = (".yaml", ".yml", ".json")
SKIPPED_DIRECTORIES = frozenset({"node_modules", "__pycache__", "venv"})
_SPEC_MARKER = re.compile(rb"""(?m)^["']?(?:openapi|swagger)["']?[ \t]*:|"(?:openapi|swagger)"\s*:""")
_GLOB_MAGIC = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Input:
    """One spec to convert; `base` is the directory whose tree the output mirrors (None: name only)."""

    path: Path
    base: Path | None = None


def looks_like_spec(path: Path) -> bool:
    """Whether a YAML/JSON file is an OpenAPI or Swagger document (has a top-level `openapi`/`swagger` key)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(64 * 1024)
    except OSError:
        return False
    return _SPEC_MARKER.search(head) is not None


def discover(arguments: Sequence[str], roots: Sequence[Path] = ()) -> tuple[list[Input], list[str]]:
    """The inputs named by files, directories (searched recursively) and globs, in a stable order, and the
    arguments that named nothing. Files named directly are always inputs; files found in directories and
    by globs only when they are OpenAPI/Swagger documents (models, fragments and other data are skipped).
    `roots` (from the settings file) give files named directly the tree they belong to."""
    inputs: list[Input] = []
    empty: list[str] = []
    seen: set[Path] = set()

    def add(path: Path, base: Path | None) -> None:
        key = path.absolute()
        if key not in seen:
            seen.add(key)
            inputs.append(Input(path, base if base is not None else _root_of(path, roots)))

    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            found = [p for p in _walk(path) if looks_like_spec(p)]
            for spec in found:
                add(spec, path)
            if not found:
                empty.append(argument)
        elif _GLOB_MAGIC.search(argument) and not path.exists():
            base = glob_base(argument)
            found = [Path(p) for p in sorted(glob.glob(argument, recursive=True))]
            specs = [p for p in found if p.is_file() and p.suffix.lower() in SPEC_SUFFIXES and looks_like_spec(p)]
            for spec in specs:
                add(spec, base)
            if not specs:
                empty.append(argument)
        else:
            add(path, None)  # a file (a missing one is reported by the conversion, with its name)
    return inputs, empty


def _walk(directory: Path) -> Iterator[Path]:
    for current, directories, files in os.walk(directory):
        directories[:] = sorted(d for d in directories if not d.startswith(".") and d not in SKIPPED_DIRECTORIES)
        for name in sorted(files):
            if Path(name).suffix.lower() in SPEC_SUFFIXES and not name.startswith("."):
                yield Path(current) / name


def glob_base(pattern: str | Path) -> Path:
    """The directory before the first wildcard: `specs/**/*.yaml` -> `specs`."""
    parts = Path(pattern).parts
    literal = [p for p in parts[: next(i for i, p in enumerate(parts) if _GLOB_MAGIC.search(p))]]
    return Path(*literal) if literal else Path(".")


def _root_of(path: Path, roots: Sequence[Path]) -> Path | None:
    absolute = path.absolute()
    containing = [r for r in roots if absolute.is_relative_to(r.absolute())]
    return max(containing, key=lambda r: len(r.absolute().parts)) if containing else None


def naming_problem(naming: str) -> str | None:
    """Why an output file name pattern is unusable, or None: it must name a file in the output directory
    (no path separators, so no output can land outside it) and use {stem} or {name}."""
    if "{stem}" not in naming and "{name}" not in naming:
        return "must contain {stem} or {name}"
    try:
        example = naming.format(stem="api", name="api.yaml")
    except (KeyError, IndexError, ValueError, AttributeError):
        return "may use only {stem} and {name} (write {{ and }} for literal braces)"
    if "/" in example or "\\" in example or example in (".", ".."):
        return "must be a file name, without directories (use -o for the output directory)"
    return None


def output_path(spec: Input, output_dir: Path | None, naming: str) -> Path:
    """Where a spec's collection goes: beside the spec (no output directory), else under `output_dir` at the
    spec's place in the tree it was found in."""
    name = naming.format(stem=spec.path.stem, name=spec.path.name)
    if output_dir is None:
        return spec.path.parent / name
    relative = Path()
    if spec.base is not None:
        relative = spec.path.absolute().parent.relative_to(spec.base.absolute())
    if ".." in relative.parts:  # pragma: no cover - relative_to never yields `..`; kept as a guarantee
        raise ValueError(f"{spec.path} would be written outside {output_dir}")
    return output_dir / relative / name


@dataclass(frozen=True)
class Job:
    """One conversion to run (picklable: it crosses into a worker process)."""

    index: int
    spec: Path
    target: Path | None  # None: the collection text is returned (for stdout)
    settings: Settings
    check: bool = False
    cache_dir: Path | None = None
    validate_beside: bool = False  # a core to spare: validate a big spec in a second process (parallel.py)


@dataclass(frozen=True)
class JobResult:
    """What happened to one spec. `outcome` is one of: written, unchanged, stdout, missing, stale,
    up-to-date, credentials (check mode: the file on disk stores a secret), failed (bad input), bug (an
    internal error; `bug` holds the traceback)."""

    index: int
    spec: str
    target: str | None
    outcome: str
    ok: bool
    diagnostics: tuple[Diagnostic, ...] = ()
    cached: bool = False
    seconds: float = 0.0
    text: str | None = None
    bug: str | None = None

    @property
    def warnings(self) -> int:
        """How many warnings the conversion reported."""
        return sum(1 for d in self.diagnostics if d.severity.value == "warning")


WORKER_GRACE_SECONDS = 5
"""How long a worker told to end (SIGTERM) may take to clean up before it is killed."""


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: the batch stops as for Ctrl-C."""


class Interrupted(KeyboardInterrupt):
    """The batch stopped early; `finished` holds the results of jobs that ended but were not yet yielded (a
    worker's write completes before the batch stops), in job order."""

    def __init__(self, finished: list[JobResult]):
        super().__init__()
        self.finished = finished


def raise_terminated(signum: int, frame: Any) -> None:
    """A SIGTERM handler for the main process: stop as Ctrl-C does (the default would end this process alone,
    leaving its workers waiting for jobs that never come)."""
    raise Terminated


def run_jobs(jobs: Sequence[Job], workers: int, on_done: Callable[[], None]) -> Iterator[JobResult]:
    """Run every job (over `workers` processes, this one included) and yield the results in job order, each as
    soon as it and all before it are done.

    Every process runs one job at a time and, whenever it is free, takes the biggest spec left: the long
    conversions start first and the short ones at the end fill the gaps, so the processes finish close
    together. A worker is handed its next job by a thread of this process as soon as it is done (not when this
    process is, whose own conversion may run longer: a conversion's time does not always follow its size);
    and this process converts too, rather than wait beside the workers while its memory counts for nothing."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            result = run_job(job)
            on_done()
            yield result
        return
    if any(job.cache_dir is None for job in jobs):  # with a cache, it may answer all: the validators can wait
        from .pipeline import prepare

        distinct = {(job.settings.templates_dir, job.settings.check_output): job.settings for job in jobs}
        for settings in distinct.values():
            prepare(settings)  # built once here, shared by the forked workers
    gc.collect()
    gc.freeze()  # the workers' garbage collector then leaves the inherited objects' pages shared
    import queue
    import threading
    from concurrent.futures import ProcessPoolExecutor  # only for several workers

    left = collections.deque(sorted(jobs, key=_input_size, reverse=True))  # the biggest first
    done: queue.SimpleQueue[JobResult | None] = queue.SimpleQueue()  # None: a job went back to `left`
    feeders: list[threading.Thread] = []
    finished: dict[int, JobResult] = {}

    def next_job() -> Job | None:
        try:
            return left.popleft()
        except IndexError:
            return None

    def feed(future: Future[JobResult], job: Job) -> None:
        """Keep one worker busy: wait for its job's result, hand it the next job left."""
        while True:
            done.put(_worker_result(future, job))
            next_one = next_job()
            if next_one is None:
                return
            job = next_one
            try:
                future = pool.submit(_run_in_worker, job)
            except Exception:  # the pool broke (a worker died): this process converts what is left
                left.appendleft(job)
                done.put(None)  # wakes this process, should it be waiting for results
                return

    def arrive(arrival: JobResult | None) -> None:
        if arrival is not None:
            finished[arrival.index] = arrival
            on_done()

    def run_own_job(job: Job) -> None:
        """Run `job` here, as a worker would: Ctrl-C and SIGTERM wait for its end (its collection is then
        counted), as they wait for the workers' jobs."""
        signals = (signal.SIGINT, signal.SIGTERM)
        handlers = {number: signal.getsignal(number) for number in signals}
        if threading.current_thread() is not threading.main_thread() or None in handlers.values():
            arrive(run_job(job))
            return
        held: list[int] = []
        for number in signals:
            signal.signal(number, lambda number, frame: held.append(number))
        try:
            result = run_job(job)
        finally:
            for number, handler in handlers.items():
                signal.signal(number, handler)
        arrive(result)
        if held:
            raise Terminated if signal.SIGTERM in held else KeyboardInterrupt

    pool = ProcessPoolExecutor(max_workers=workers - 1, initializer=_ignore_interrupts)
    try:
        # the first jobs are submitted from this thread: a fork context starts every worker there and then,
        # before the feeder threads exist (forking beside running threads can copy a lock another thread holds)
        for _ in range(workers - 1):
            first = next_job()
            if first is None:
                break
            try:
                future = pool.submit(_run_in_worker, first)
            except Exception:  # no worker could start (fork failed): this process converts everything
                left.appendleft(first)
                break
            feeders.append(threading.Thread(target=feed, args=(future, first), daemon=True))
            feeders[-1].start()
        order = [job.index for job in jobs]
        position = 0
        while position < len(order):
            own = next_job()
            # each result goes to `finished` as it comes: a result an interruption finds there is reported
            if own is not None:
                run_own_job(own)
            else:
                arrive(done.get())
            while not done.empty():
                arrive(done.get())
            while position < len(order) and order[position] in finished:
                yield finished.pop(order[position])
                position += 1
    except BaseException as stop:  # Ctrl-C, SIGTERM: start no more jobs; the running ones finish their (atomic)
        # writes, so that every collection on disk is whole and counted, and the workers end
        left.clear()
        pool.shutdown(wait=True, cancel_futures=True)
        if not isinstance(stop, KeyboardInterrupt):
            raise
        for thread in feeders:
            thread.join()
        while not done.empty():
            arrival = done.get()
            if arrival is not None:
                finished[arrival.index] = arrival
        raise Interrupted([finished[index] for index in sorted(finished)]) from stop
    pool.shutdown(wait=True)
    gc.unfreeze()


def _input_size(job: Job) -> int:
    try:
        return job.spec.stat().st_size
    except OSError:
        return 0


def _worker_result(future: Future[JobResult], job: Job) -> JobResult:
    try:
        return future.result()
    except Exception:  # the worker process died
        return JobResult(job.index, str(job.spec), _str(job.target), "bug", False, bug=traceback.format_exc())


def _ignore_interrupts() -> None:
    """Worker processes leave Ctrl-C and SIGTERM to the main process, which stops the batch between jobs. A
    SIGTERM sent to a worker itself ends it: inside a job through the job's own clean-up (no temporary file is
    left), else at once; so does a worker whose main process is gone without a word (SIGKILL)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _end_worker)
    import threading

    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()


_in_job = False
"""Whether this process is running a job (read by a worker's SIGTERM handler)."""


def _end_worker(signum: int, frame: Any) -> None:
    if _in_job:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second one while cleaning up ends it at once
        raise _WorkerEnded  # write_if_changed removes its temporary file on the way out
    os._exit(128 + signum)


class _WorkerEnded(BaseException):
    """SIGTERM in a worker's job: unwinds the job, then the worker exits (see `_run_in_worker`)."""


def _run_in_worker(job: Job) -> JobResult:
    try:
        return run_job(job)
    except _WorkerEnded:
        os._exit(128 + signal.SIGTERM)


def _watch_parent(parent: int) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # delivered to the main thread, which handles it
    while os.getppid() == parent:
        time.sleep(1)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(WORKER_GRACE_SECONDS)  # a job's clean-up takes far less
    os._exit(128 + signal.SIGTERM)


def run_job(job: Job) -> JobResult:
    """Convert one spec and write or compare its collection; never raises."""
    global _in_job
    started = time.perf_counter()
    _in_job = True
    try:
        result = _run(job)
    except Exception:
        result = JobResult(job.index, str(job.spec), _str(job.target), "bug", False, bug=traceback.format_exc())
    finally:
        _in_job = False
    return JobResult(**{**_fields(result), "seconds": time.perf_counter() - started})


def _run(job: Job) -> JobResult:
    cache = Cache(job.cache_dir) if job.cache_dir is not None else None
    key = cache.key(job) if cache is not None else None
    entry = cache.lookup(key) if cache is not None and key is not None else None
    content: bytes | None
    if entry is not None:
        content, diagnostics, cached = entry.content, entry.diagnostics, True
    else:
        from .pipeline import convert_file  # only now: a run served from the cache never loads the validators

        result = convert_file(job.spec, job.settings, validate_beside=job.validate_beside)
        diagnostics, cached = result.diagnostics, False
        succeeded = result.succeeded(strict=job.settings.strict) and result.collection
        content = collection_bytes(result.collection) if succeeded and result.collection else None
        fetched_remote, dependencies = result.fetched_remote, tuple(str(p) for p in result.dependencies)
        del result  # the collection's objects are not needed beside its text
        if cache is not None and key is not None and content is not None and not fetched_remote:
            cache.store(key, CacheEntry(content, diagnostics, dependencies))
    spec, target = str(job.spec), _str(job.target)
    if content is None:
        return JobResult(job.index, spec, target, "failed", False, diagnostics, cached)
    if job.target is None:
        return JobResult(job.index, spec, None, "stdout", True, diagnostics, cached, text=content.decode("utf-8"))
    if job.check:
        try:
            current = job.target.read_bytes()
            current.decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return JobResult(job.index, spec, target, "missing", False, diagnostics, cached)
        stored = stored_credentials(current, str(job.target))
        if stored:
            return JobResult(job.index, spec, target, "credentials", False, (*diagnostics, *stored), cached)
        outcome = "up-to-date" if current == content else "stale"
        return JobResult(job.index, spec, target, outcome, outcome == "up-to-date", diagnostics, cached)
    written = write_if_changed(job.target, content)
    return JobResult(job.index, spec, target, "written" if written else "unchanged", True, diagnostics, cached)


def stored_credentials(text: str | bytes, name: str) -> tuple[Diagnostic, ...]:
    """Errors for each credential a collection file on disk carries (a tester's exported token or secret)."""
    try:
        collection = json.loads(text)
    except ValueError:
        return ()
    if not isinstance(collection, dict):
        return ()
    return tuple(Diagnostic(Severity.ERROR, "secret-in-collection", f"the collection file stores {kind}", name,
                            where, hint="clear the value (keep credentials in Postman's current values or pass "
                            "them to newman with --env-var), or regenerate the file without --check")
                 for where, kind in find_in_collection(collection))


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _fields(result: JobResult) -> dict[str, Any]:
    return {name: getattr(result, name) for name in result.__dataclass_fields__}


@dataclass(frozen=True)
class CacheEntry:
    """A known conversion result: the collection file's content, the diagnostics, and the files it depended on."""

    content: bytes
    diagnostics: tuple[Diagnostic, ...]
    dependencies: tuple[str, ...] = field(default=())


class Cache:
    """Results keyed on the input bytes, the settings (templates included) and the tool version; an entry is
    used only while every referenced file still has the content it had. Safe to delete at any time."""

    def __init__(self, directory: Path):
        self.directory = directory

    def key(self, job: Job) -> str | None:
        """The cache key of a job, or None when its input cannot be read."""
        try:
            content = job.spec.read_bytes()
        except OSError:
            return None
        settings = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(job.settings).items()}
        parts = {"version": __version__, "tool": _tool_hash(), "settings": settings, "input": _sha256(content),
                 "name": str(job.spec), "templates": _tree_hash(job.settings.templates_dir)}
        return _sha256(json.dumps(parts, sort_keys=True).encode("utf-8"))

    def lookup(self, key: str) -> CacheEntry | None:
        """The entry for `key` when present, readable and still valid."""
        try:
            data = json.loads(self._file(key).read_text(encoding="utf-8"))
            dependencies = data["dependencies"]
            for path, digest in dependencies:
                if _sha256(Path(path).read_bytes()) != digest:
                    return None
            diagnostics = tuple(Diagnostic.from_dict(d) for d in data["diagnostics"])
            content = self._content_file(key).read_bytes()
            if _sha256(content) != data["content"]:
                return None  # a half-copied or edited cache
            return CacheEntry(content, diagnostics, tuple(p for p, _ in dependencies))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store(self, key: str, entry: CacheEntry) -> None:
        """Record an entry (best effort: a cache that cannot be written only costs speed). The collection is
        kept as the file it is, beside a small JSON record of the rest; the record is written last."""
        try:
            dependencies = [[path, _sha256(Path(path).read_bytes())] for path in entry.dependencies]
            data = {"content": _sha256(entry.content), "diagnostics": [d.as_dict() for d in entry.diagnostics],
                    "dependencies": dependencies}
            write_if_changed(self._content_file(key), entry.content)
            write_if_changed(self._file(key), json.dumps(data, ensure_ascii=False))
        except (OSError, ValueError):
            pass

    def _content_file(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.postman_collection.json"

    def _file(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"


def default_cache_dir() -> Path:
    """`$KPN_COLLECTIONS_CACHE_DIR`, else `$XDG_CACHE_HOME/kpn-collections`, else `~/.cache/kpn-collections`."""
    explicit = os.environ.get("KPN_COLLECTIONS_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kpn-collections"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@functools.lru_cache(maxsize=1)
def _tool_hash() -> str:
    """The converter's own code and packaged templates: a changed tool never serves an older result, even
    when its version number stayed the same (a development install, a patched copy)."""
    package = Path(__file__).resolve().parent
    templates = package_templates_dir().resolve()
    outside = None if templates.is_relative_to(package) else templates  # a source checkout keeps them beside
    return _sha256(f"{_tree_hash(package)} {_tree_hash(outside)}".encode())


def _tree_hash(directory: Path | None) -> str | None:
    if directory is None:
        return None
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(directory).as_posix().encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
