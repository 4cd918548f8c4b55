"""Batch conversion: find the specs, plan one job per spec, run the jobs over processes, keep a
cache.

`discover` turns command-line arguments (files, directories, globs) into inputs; `plan` gives each
its output file; `run_job` converts one spec and writes (or, in check mode, compares) its
collection. The CLI prints the results in input order.
"""

from __future__ import annotations

import collections
import contextlib
import fnmatch
import functools
import gc
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import stat
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__, fast_json, fast_paths
from ..build.render import MAX_TEMPLATE_BYTES, package_templates_dir
from ..credentials import find_in_collection
from ..diagnostics import Diagnostic, Severity
from ..files import MAX_FILE_BYTES, FileTooLarge, NotRegularFile, read_head, read_limited
from ..naming import GLOB_MAGIC, glob_base, naming_problem
from ..refs.retrieve import Dependency
from ..settings import Settings
from ..write import UnsafeOutput, check_parents, collection_bytes, write_if_changed

if TYPE_CHECKING:
    from concurrent.futures import Future

SPEC_SUFFIXES = (".yaml", ".yml", ".json")
SKIPPED_DIRECTORIES = frozenset({"node_modules", "__pycache__", "venv"})
_SPEC_MARKER = re.compile(
    rb"""(?m)^["']?(?:openapi|swagger)["']?[ \t]*:|"(?:openapi|swagger)"\s*:"""
)


@dataclass(frozen=True)
class Input:
    """One spec to convert; `base` is the directory whose tree the output mirrors (None: name
    only)."""

    path: Path
    base: Path | None = None


def looks_like_spec(path: Path) -> bool:
    """Whether a YAML/JSON file is an OpenAPI or Swagger document (has a top-level
    `openapi`/`swagger` key). Only regular files are opened (a FIFO or a device never is), and only
    their first 64 KiB are read."""
    try:
        head = read_head(path, 64 * 1024)
    except OSError:
        return False
    return _SPEC_MARKER.search(head) is not None


def discover(arguments: Sequence[str], roots: Sequence[Path] = ()) -> tuple[list[Input], list[str]]:
    """The inputs named by files, directories (searched recursively) and globs, in a stable order,
    and the arguments that named nothing. Files named directly are always inputs; files found in
    directories and by globs only when they are OpenAPI/Swagger documents (models, fragments and
    other data are skipped). Directories and globs are searched alike: symbolic links to directories
    are not followed (so no walk loops or leaves the tree), hidden directories and `node_modules`
    are skipped, only regular files are taken, and a file reached twice (also through a symbolic
    link) is one input. `roots` (from the settings file) give files named directly the tree they
    belong to."""
    inputs: list[Input] = []
    empty: list[str] = []
    seen: set[str] = set()

    def add(path: Path, base: Path | None) -> bool:
        key = os.path.realpath(path)
        if key in seen:
            return False
        seen.add(key)
        inputs.append(Input(path, base if base is not None else _root_of(path, roots)))
        return True

    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            found = [p for p in _walk(path) if _stays_in_repository(p, path) and looks_like_spec(p)]
            for spec in found:
                add(spec, path)
            if not found:
                empty.append(argument)
        elif GLOB_MAGIC.search(argument) and not path.exists():
            base = glob_base(argument)
            specs = [
                p
                for p in _glob(argument, base)
                if _stays_in_repository(p, base) and looks_like_spec(p)
            ]
            for spec in specs:
                add(spec, base)
            if not specs:
                empty.append(argument)
        else:
            add(path, None)  # a file (a missing one is reported by the conversion, with its name)
    return inputs, empty


def _stays_in_repository(found: Path, base: Path) -> bool:
    """Whether a file found in a directory or by a glob is in the repository searched: a symbolic
    link to a file elsewhere (`specs/x.yaml -> /home/runner/...`, committed) is skipped, as links to
    directories are, so a search never reads outside the repository it was pointed at. Files named
    directly are taken as given."""
    if not os.path.islink(found):
        return True
    top = base.absolute()
    for candidate in (top, *top.parents):
        if (candidate / ".git").exists():
            top = candidate
            break
    try:
        return Path(os.path.realpath(found)).is_relative_to(os.path.realpath(top))
    except (OSError, ValueError):
        return False


def _walk(directory: Path, depth: int | None = None) -> Iterator[Path]:
    """The YAML/JSON regular files below `directory` (at most `depth` levels down), in a stable
    order."""
    top = len(directory.parts)
    # never follows symbolic links to directories
    for current, directories, files in os.walk(directory):
        if depth is not None and len(Path(current).parts) - top >= depth - 1:
            directories[:] = []
        directories[:] = sorted(
            d for d in directories if not d.startswith(".") and d not in SKIPPED_DIRECTORIES
        )
        for name in sorted(files):
            if Path(name).suffix.lower() in SPEC_SUFFIXES and not name.startswith("."):
                candidate = Path(current) / name
                with contextlib.suppress(OSError):
                    # not a FIFO, a device, a dangling link
                    if stat.S_ISREG(os.stat(candidate).st_mode):
                        yield candidate


def _glob(pattern: str, base: Path) -> Iterator[Path]:
    """The files a glob pattern matches (`**` spans directories), found by the same walk as a
    directory's."""
    wanted = Path(pattern).parts[len(base.parts) if base != Path(".") else 0 :]
    depth = None if "**" in wanted else len(wanted)
    for candidate in _walk(base, depth):
        parts = candidate.parts[len(base.parts) if base != Path(".") else 0 :]
        if _parts_match(wanted, parts):
            yield candidate


def _parts_match(pattern: Sequence[str], parts: Sequence[str]) -> bool:
    """Whether path parts match glob parts (`**` is any number of parts), in time proportional to
    len(pattern) * len(parts): trying every split for each `**` took exponential time with many of
    them (`specs/**/**/.../**/x.yaml` over a deep tree, from a settings file)."""
    reachable = {0}  # how many parts the pattern so far can match
    for part in pattern:
        if part == "**":
            reachable = set(range(min(reachable), len(parts) + 1))
        else:
            reachable = {
                i + 1 for i in reachable if i < len(parts) and fnmatch.fnmatchcase(parts[i], part)
            }
        if not reachable:
            return False
    return len(parts) in reachable


def _root_of(path: Path, roots: Sequence[Path]) -> Path | None:
    absolute = path.absolute()
    containing = [r for r in roots if absolute.is_relative_to(r.absolute())]
    return max(containing, key=lambda r: len(r.absolute().parts)) if containing else None


class NamingError(ValueError):
    """An output file name pattern that gives no usable file name (for one spec, or for any)."""


def formatted_name(naming: str, spec: Path) -> str:
    """The output file name of one spec; NamingError when the pattern, or what it makes of this
    spec's name, is not a plain file name (`{stem}` of `...yaml` is `..`)."""
    problem = naming_problem(naming)
    if problem:
        raise NamingError(problem)
    name = naming.format(stem=spec.stem, name=spec.name)
    if name in ("", ".", "..") or "/" in name or os.sep in name or "\0" in name:
        raise NamingError(f"gives {name!r} for {spec}, which is not a file name")
    return name


def output_path(spec: Input, output_dir: Path | None, naming: str) -> Path:
    """Where a spec's collection goes: beside the spec (no output directory), else under
    `output_dir` at the spec's place in the tree it was found in. NamingError when `naming` gives no
    file name for this spec."""
    name = formatted_name(naming, spec.path)
    if output_dir is None:
        return spec.path.parent / name
    relative = Path()
    if spec.base is not None:
        relative = spec.path.absolute().parent.relative_to(spec.base.absolute())
    if (
        ".." in relative.parts
    ):  # pragma: no cover - relative_to never yields `..`; kept as a guarantee
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
    validate_beside: bool = (
        False  # a core to spare: validate a big spec in a second process (parallel.py)
    )
    output_root: Path | None = (
        None  # the -o directory: no symbolic link below it is written through
    )


@dataclass(frozen=True)
class JobResult:
    """What happened to one spec. `outcome` is one of: written, unchanged, stdout, missing, stale,
    edited (the file was edited by hand since its commit: not overwritten, see absorb), up-to-date,
    credentials (check mode: the file on disk stores a secret), failed (bad input), bug (an internal
    error; `bug` holds the traceback)."""

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
    """The batch stopped early; `finished` holds the results of jobs that ended but were not yet
    yielded (a worker's write completes before the batch stops), in job order."""

    def __init__(self, finished: list[JobResult]):
        super().__init__()
        self.finished = finished


def raise_terminated(signum: int, frame: Any) -> None:
    """A SIGTERM handler for the main process: stop as Ctrl-C does (the default would end this
    process alone, leaving its workers waiting for jobs that never come)."""
    raise Terminated


def run_jobs(jobs: Sequence[Job], workers: int, on_done: Callable[[], None]) -> Iterator[JobResult]:
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
    gc.collect()
    gc.freeze()  # the workers' garbage collector then leaves the inherited objects' pages shared
    import threading
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


def _worker_result(future: Future[JobResult], job: Job) -> JobResult:
    try:
        return future.result()
    except Exception:  # the worker process died
        return JobResult(
            job.index, str(job.spec), _str(job.target), "bug", False, bug=traceback.format_exc()
        )


def _ignore_interrupts() -> None:
    """Worker processes leave Ctrl-C and SIGTERM to the main process, which stops the batch between
    jobs. A SIGTERM sent to a worker itself ends it: inside a job through the job's own clean-up (no
    temporary file is left), else at once; so does a worker whose main process is gone without a
    word (SIGKILL)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _end_worker)
    import threading

    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()


_in_job = False
"""Whether this process is running a job (read by a worker's SIGTERM handler)."""


def _end_worker(signum: int, frame: Any) -> None:
    if _in_job:
        signal.signal(
            signal.SIGTERM, signal.SIG_DFL
        )  # a second one while cleaning up ends it at once
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
    signal.pthread_sigmask(
        signal.SIG_BLOCK, {signal.SIGTERM}
    )  # delivered to the main thread, which handles it
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
        result = JobResult(
            job.index, str(job.spec), _str(job.target), "bug", False, bug=traceback.format_exc()
        )
    finally:
        _in_job = False
    return JobResult(**{**_fields(result), "seconds": time.perf_counter() - started})


def _run(job: Job) -> JobResult:
    cache = Cache(job.cache_dir) if job.cache_dir is not None else None
    key = cache.key(job) if cache is not None else None
    entry = cache.lookup(key) if cache is not None and key is not None else None
    content: bytes | None
    if entry is not None and _fit_to_serve(entry.content):
        content, diagnostics, cached = entry.content, entry.diagnostics, True
    else:
        from ..pipeline import (
            convert_file,
        )  # only now: a run served from the cache never loads the validators

        result = convert_file(job.spec, job.settings, validate_beside=job.validate_beside)
        diagnostics, cached = result.diagnostics, False
        succeeded = result.succeeded(strict=job.settings.strict) and result.collection
        content = collection_bytes(result.collection) if succeeded and result.collection else None
        fetched_remote, dependencies = result.fetched_remote, result.consulted
        del result  # the collection's objects are not needed beside its text
        # no input changed while it was converted
        if (
            cache is not None
            and key is not None
            and content is not None
            and not fetched_remote
            and cache.key(job) == key
        ):
            cache.store(key, CacheEntry(content, diagnostics, dependencies))
    spec, target = str(job.spec), _str(job.target)
    if content is None:
        return JobResult(job.index, spec, target, "failed", False, diagnostics, cached)
    if job.target is None:
        return JobResult(
            job.index, spec, None, "stdout", True, diagnostics, cached, text=content.decode("utf-8")
        )
    if job.check:
        try:
            check_parents(job.target, job.output_root)
            current = read_limited(job.target, max(MAX_FILE_BYTES, len(content)))
            current.decode("utf-8")
        except FileTooLarge:  # larger than what would be written: stale, whatever it holds
            return JobResult(job.index, spec, target, "stale", False, diagnostics, cached)
        except (UnsafeOutput, NotRegularFile) as exc:
            failure = _output_error(exc, target, "compare")
            return JobResult(
                job.index, spec, target, "failed", False, (*diagnostics, failure), cached
            )
        except (OSError, UnicodeDecodeError):
            return JobResult(job.index, spec, target, "missing", False, diagnostics, cached)
        stored = stored_credentials(current, str(job.target))
        if stored:
            return JobResult(
                job.index, spec, target, "credentials", False, (*diagnostics, *stored), cached
            )
        if current == content:
            return JobResult(job.index, spec, target, "up-to-date", True, diagnostics, cached)
        edited = _edited_by_hand(job, current)
        if edited is not None:
            return JobResult(
                job.index, spec, target, "edited", False, (*diagnostics, edited), cached
            )
        return JobResult(job.index, spec, target, "stale", False, diagnostics, cached)
    edited = _edited_by_hand(job, None, content)
    if edited is not None:
        return JobResult(job.index, spec, target, "edited", False, (*diagnostics, edited), cached)
    try:
        written = write_if_changed(job.target, content, within=job.output_root)
    except (
        OSError
    ) as exc:  # a read-only or full disk, a symbolic link in the output tree, a FIFO in the way
        return JobResult(
            job.index,
            spec,
            target,
            "failed",
            False,
            (*diagnostics, _output_error(exc, target)),
            cached,
        )
    _remember_written(content)
    return JobResult(
        job.index, spec, target, "written" if written else "unchanged", True, diagnostics, cached
    )


def _edited_by_hand(
    job: Job, current: bytes | None, content: bytes | None = None
) -> Diagnostic | None:
    """An error when the collection file was edited by hand since it was committed (rather than made
    stale by a spec change): regenerating would lose the edits, which `absorb` keeps in the overlay.
    Only a file git has committed, and that differs from both the commit and the new content, is
    looked at."""
    from ..absorb import UNREADABLE, committed_text, hand_edits

    assert job.target is not None
    if current is None:
        try:
            current = read_limited(job.target)
        except OSError:
            return None
        if current == content:
            return None
    committed = committed_text(job.target)
    if committed is None or committed == current or _we_wrote(current):
        return None
    try:
        base, edited = json.loads(committed), json.loads(current)
    except (ValueError, RecursionError):
        return None
    if not isinstance(base, dict) or not isinstance(edited, dict):
        return None
    from ..pipeline import convert_file

    ours = convert_file(job.spec, job.settings)
    if ours.collection is None:
        return None
    try:
        found = hand_edits(base, edited, ours.collection, ours.operations)
    except UNREADABLE:  # an edited file of any shape is at worst stale, never a bug
        return None
    if not found:
        return None
    shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
    return Diagnostic(
        Severity.ERROR,
        "edited-by-hand",
        f"edited by hand ({shown}): run `kpn-collections absorb "
        f"{job.target} {job.spec}` to keep these edits; nothing was overwritten",
        file=str(job.target),
        hint="absorb writes the edits into the spec's overlay, which every generation applies",
    )


WRITTEN_DIRECTORY = "written"
"""In the cache directory: an empty file named for the hash of each collection this user's tool
wrote, so that a file regenerated for a spec changed since (and not committed yet) is not taken for
a hand edit."""


def _remember_written(content: bytes) -> None:
    digest = _sha256(content)
    path = default_cache_dir() / WRITTEN_DIRECTORY / digest[:2] / digest
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def _we_wrote(content: bytes) -> bool:
    digest = _sha256(content)
    return (default_cache_dir() / WRITTEN_DIRECTORY / digest[:2] / digest).is_file()


def _fit_to_serve(content: bytes) -> bool:
    """The final output check a fresh conversion ends with, for a cached collection: a JSON object
    that carries no credential in a variable or script (see pipeline `secret-in-output`). The
    Postman schema check is not repeated: loading it would add a third to a cached run, and a signed
    entry holds what a checked conversion wrote."""
    try:
        collection = _parse_json(content)
        return (
            isinstance(collection, dict)
            and next(iter(find_in_collection(collection)), None) is None
        )
    except (ValueError, TypeError, AttributeError, KeyError, RecursionError):
        return False


def _parse_json(content: bytes) -> Any:
    try:
        return fast_json.loads(content)
    except fast_json.NoAnswer:
        return json.loads(content)


def _output_error(exc: OSError, target: str | None, doing: str = "write") -> Diagnostic:
    reason = exc.strerror or str(exc)
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != target else ""
    return Diagnostic(
        Severity.ERROR,
        "output-failed",
        f"cannot {doing} the collection {target}{where}: {reason}",
        file=target or "",
        hint="check the output path: it must be a writable file in a directory",
    )


def stored_credentials(text: str | bytes, name: str) -> tuple[Diagnostic, ...]:
    """Errors for each credential a collection file on disk carries (a tester's exported token or
    secret)."""
    try:
        collection = json.loads(text)
    # not JSON, or nested deeper than the parser goes: stale either way
    except (
        ValueError,
        RecursionError,
    ):
        return ()
    if not isinstance(collection, dict):
        return ()
    return tuple(
        Diagnostic(
            Severity.ERROR,
            "secret-in-collection",
            f"the collection file stores {kind}",
            file=name,
            pointer=where,
            hint=(
                "clear the value (keep credentials in Postman's current values or pass "
                "them to newman with --env-var), or regenerate the file without --check"
            ),
        )
        for where, kind in find_in_collection(collection)
    )


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _fields(result: JobResult) -> dict[str, Any]:
    return {name: getattr(result, name) for name in result.__dataclass_fields__}


@dataclass(frozen=True)
class CacheEntry:
    """A known conversion result: the collection file's content, the diagnostics, and the local
    paths it depended on (files read, as named and as resolved, and paths looked up and not
    found)."""

    content: bytes
    diagnostics: tuple[Diagnostic, ...]
    dependencies: tuple[Dependency, ...] = field(default=())


class Cache:
    """Results keyed on everything a conversion reads (see `key`); an entry is used only while every
    path it depended on still resolves to the same file with the same content (or is still absent),
    and only when this user's tool wrote it (records are signed, see `_signing_key`). Safe to delete
    at any time."""

    def __init__(self, directory: Path):
        self.directory = directory

    def key(self, job: Job) -> str | None:
        """The cache key of a job, or None when its inputs cannot be fingerprinted (the job is then
        not cached): the spec's bytes, its path as given, absolute and resolved, the working
        directory (names in messages are relative to it), the settings (paths absolute and resolved,
        template contents), the tool (version, code, packaged templates), the Python and libraries
        it runs on, and whether the fast paths are on."""
        content = _read_regular(job.spec)
        templates = _templates_hash(job.settings.templates_dir) if content is not None else None
        try:
            working_directory = os.getcwd()
        except OSError:
            return None
        if content is None or templates is None:
            return None
        settings = {
            k: _path_identity(v) if isinstance(v, Path) else v
            for k, v in asdict(job.settings).items()
        }
        from ..overlay import overlay_for

        overlay_file = overlay_for(job.spec, job.settings)
        overlay = _read_regular(overlay_file) if overlay_file is not None else b""
        if overlay is None:
            return None
        parts = {
            "version": __version__,
            "tool": _tool_hash(),
            "runtime": _runtime(),
            "settings": settings,
            "input": _sha256(content),
            "name": str(job.spec),
            "path": _path_identity(job.spec),
            "cwd": working_directory,
            "templates": templates,
            "overlay": _sha256(overlay),
            "fast-paths": fast_paths.fingerprint(),
        }  # a result made with fast paths off is kept apart from theirs
        return _sha256(json.dumps(parts, sort_keys=True).encode("utf-8"))

    def lookup(self, key: str) -> CacheEntry | None:
        """The entry for `key` when present, written by this user's tool, well-formed and still
        valid; anything else (missing, truncated, edited, hand-made, a FIFO or device in its place)
        is None, never an error."""
        signing_key = _signing_key()
        record = _read_regular(self._file(key)) if signing_key is not None else None
        if signing_key is None or record is None:
            return None
        signature, _, body = record.partition(b"\n")
        if not hmac.compare_digest(signature, _signature(signing_key, key, body)):
            return None
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return None
        parsed = _parse_record(data)
        if parsed is None:
            return None
        digest, size, diagnostics, dependencies = parsed
        if not all(_unchanged(dependency) for dependency in dependencies):
            return None
        content = _read_regular(self._content_file(key), limit=size)
        if content is None or len(content) != size or _sha256(content) != digest:
            return None  # a half-copied or edited cache
        return CacheEntry(content, diagnostics, dependencies)

    def store(self, key: str, entry: CacheEntry) -> None:
        """Record an entry (best effort: a cache that cannot be written only costs speed). The
        collection is kept as the file it is, beside a small signed JSON record of the rest; the
        record is written last."""
        signing_key = _signing_key()
        if signing_key is None:
            return
        dependencies = [
            [
                os.path.abspath(d.path),
                None if d.target is None else os.path.abspath(d.target),
                d.sha256,
            ]
            for d in entry.dependencies
        ]
        data = {
            "content": {"sha256": _sha256(entry.content), "size": len(entry.content)},
            "diagnostics": [d.as_dict() for d in entry.diagnostics],
            "dependencies": dependencies,
        }
        body = json.dumps(data, ensure_ascii=False).encode("utf-8", "backslashreplace")
        if not self._inside(self._file(key).parent):
            return
        try:
            _replace(self._content_file(key), entry.content)
            _replace(self._file(key), _signature(signing_key, key, body) + b"\n" + body)
        except (OSError, ValueError):
            pass

    def _inside(self, folder: Path) -> bool:
        """Whether a folder of the cache is a real folder in it: a `cache-dir` inside a repository
        may come with symbolic links (`.cache/ab -> /elsewhere`), which must not carry the cache's
        writes out of it."""
        try:
            if os.path.islink(folder):
                return False
            top = os.path.realpath(self.directory)
            return os.path.realpath(folder) == os.path.join(top, folder.name)
        except (OSError, ValueError):
            return False

    def _content_file(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.postman_collection.json"

    def _file(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"


SIGNING_KEY_FILE = "signing.key"
"""In the user's own cache directory (`default_cache_dir`): the random key that signs this user's
cache records."""

_RECORD_FORMAT = b"kpn-collections cache record 2\0"
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def _signature(signing_key: bytes, key: str, body: bytes) -> bytes:
    """The record's HMAC, bound to its cache key (a genuine record moved to another key does not
    verify)."""
    return (
        hmac.new(signing_key, _RECORD_FORMAT + key.encode("ascii") + b"\0" + body, hashlib.sha256)
        .hexdigest()
        .encode("ascii")
    )


@functools.lru_cache(maxsize=1)
def _signing_key() -> bytes | None:
    """This user's cache signing key, made on first use: 32 random bytes in a file only the user may
    read, in the default cache directory, never in one a repository's settings can choose
    (`cache-dir`). A repository may commit a cache directory with crafted entries; without this key
    it cannot sign them, so they are ignored. A key file that is not a private regular file of this
    user (a symlink, readable by others) is replaced; None (nothing is cached) when no key can be
    read or made."""
    try:
        directory = default_cache_dir()
    except (RuntimeError, KeyError):  # no home directory to find
        return None
    path = directory / SIGNING_KEY_FILE
    key = _read_private(path)
    if key is not None:
        return key
    unusable = os.path.lexists(path)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temporary = tempfile.mkstemp(
            prefix=f".{SIGNING_KEY_FILE}.", dir=directory
        )  # mode 0600
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(secrets.token_bytes(32))
            if unusable:
                os.replace(temporary, path)
            else:
                try:
                    os.link(temporary, path)  # never replaces a key another process made meanwhile
                except FileExistsError:
                    pass
                except OSError:  # a file system without hard links
                    os.replace(temporary, path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
    except OSError:
        return None
    return _read_private(path)


def _read_private(path: Path) -> bytes | None:
    """A 32-byte key from a regular file (not a symlink) that this user owns and nobody else may
    read or write."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        info = os.fstat(handle)
        owner = getattr(os, "geteuid", lambda: info.st_uid)()
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_uid != owner
            or info.st_mode & 0o077
            or info.st_size != 32
        ):
            return None
        key = os.read(handle, 33)
        return key if len(key) == 32 else None
    except OSError:
        return None
    finally:
        os.close(handle)


def _read_regular(path: Path, limit: int = MAX_FILE_BYTES) -> bytes | None:
    """The bytes of a regular file of at most `limit` bytes, read bounded; None for anything else
    (missing, a directory, a FIFO, a device such as /dev/zero, too big, unreadable)."""
    try:
        return read_limited(path, limit)
    except (OSError, ValueError):
        return None


def _replace(path: Path, data: bytes) -> None:
    """Write a cache file atomically, replacing whatever is there (never reading it: it may be a
    FIFO)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _parse_record(
    data: Any,
) -> tuple[str, int, tuple[Diagnostic, ...], tuple[Dependency, ...]] | None:
    """(content digest, content size, diagnostics, dependencies) from a cache record, checked like
    input: any other shape, type or value is None."""
    if not isinstance(data, dict) or set(data) != {"content", "diagnostics", "dependencies"}:
        return None
    content, diagnostics, dependencies = data["content"], data["diagnostics"], data["dependencies"]
    if not (
        isinstance(content, dict)
        and set(content) == {"sha256", "size"}
        and _is_digest(content["sha256"])
        and _is_count(content["size"])
        and isinstance(diagnostics, list)
        and isinstance(dependencies, list)
    ):
        return None
    parsed_diagnostics = [_parse_diagnostic(d) for d in diagnostics]
    parsed_dependencies = [_parse_dependency(d) for d in dependencies]
    if None in parsed_diagnostics or None in parsed_dependencies:
        return None
    return (
        content["sha256"],
        content["size"],
        tuple(d for d in parsed_diagnostics if d is not None),
        tuple(d for d in parsed_dependencies if d is not None),
    )


_DIAGNOSTIC_TEXTS = ("code", "message", "file", "pointer", "hint")


def _parse_diagnostic(data: Any) -> Diagnostic | None:
    if not isinstance(data, dict) or set(data) != {
        *_DIAGNOSTIC_TEXTS,
        "severity",
        "line",
        "column",
    }:
        return None
    if not all(isinstance(data[name], str) for name in _DIAGNOSTIC_TEXTS):
        return None
    if data["severity"] not in {s.value for s in Severity}:
        return None
    if not all(data[name] is None or _is_count(data[name]) for name in ("line", "column")):
        return None
    return Diagnostic(
        Severity(data["severity"]),
        data["code"],
        data["message"],
        file=data["file"],
        pointer=data["pointer"],
        line=data["line"],
        column=data["column"],
        hint=data["hint"],
    )


def _parse_dependency(data: Any) -> Dependency | None:
    if not isinstance(data, list) or len(data) != 3:
        return None
    path, target, digest = data
    if not _is_absolute_path(path) or (target is None) != (digest is None):
        return None
    if target is not None and not (_is_absolute_path(target) and _is_digest(digest)):
        return None
    return Dependency(Path(path), None if target is None else Path(target), digest)


def _is_digest(value: Any) -> bool:
    return isinstance(value, str) and _HEX_DIGEST.fullmatch(value) is not None


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 62


def _is_absolute_path(value: Any) -> bool:
    return isinstance(value, str) and "\0" not in value and os.path.isabs(value)


def _unchanged(dependency: Dependency) -> bool:
    """Whether a path still resolves to the same file with the same bytes (or, looked up and absent
    before, still names no file)."""
    try:
        real = dependency.path.resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop: no file there
        return dependency.target is None
    if dependency.target is None:
        try:
            return not stat.S_ISREG(os.stat(real).st_mode)
        except (OSError, ValueError):
            return True
    if real != dependency.target:
        return False  # a retargeted symlink
    content = _read_regular(real)
    return content is not None and _sha256(content) == dependency.sha256


def _path_identity(path: Path) -> list[str | None]:
    """A path as given, absolute and with every symlink resolved (None when it cannot be)."""
    try:
        resolved: str | None = str(path.resolve())
    except (OSError, RuntimeError):
        resolved = None
    return [str(path), os.path.abspath(path), resolved]


def _templates_hash(directory: Path | None) -> str | None:
    """The templates folder's names and contents, following symlinks within it as the template
    loader does (each directory once: a symlink cycle ends); None when a file cannot be read within
    the size limit or a symbolic link leads out of the folder (not cached; never followed, so a link
    to `/` is not read whole)."""
    if directory is None:
        return "packaged only"
    digest = hashlib.sha256()
    visited: set[tuple[int, int]] = set()
    try:
        top = os.stat(directory)
    except (OSError, ValueError):
        return "absent"
    if not stat.S_ISDIR(top.st_mode):
        return f"not a directory: {stat.S_IFMT(top.st_mode)}"
    visited.add((top.st_dev, top.st_ino))
    inside = os.path.realpath(directory)

    def links_out(
        path: str,
    ) -> bool:  # the loader never reads these: nor does the hash (`tpl/x -> /usr`)
        real = os.path.realpath(path)
        return real != inside and not real.startswith(inside.rstrip(os.sep) + os.sep)

    for current, directories, files in os.walk(directory, followlinks=True):
        kept = []
        for name in sorted(directories):
            try:
                if links_out(os.path.join(current, name)):
                    # not followed (a link to / would be hashed whole); what the loader makes of
                    return None
                    # names below it depends on files outside: not cached
                info = os.stat(os.path.join(current, name))
            except (OSError, ValueError):
                continue
            if (info.st_dev, info.st_ino) not in visited:
                visited.add((info.st_dev, info.st_ino))
                kept.append(name)
        directories[:] = kept
        for name in sorted(files):
            path = Path(current, name)
            relative = path.relative_to(directory).as_posix().encode("utf-8", "surrogateescape")
            try:
                if links_out(str(path)):
                    # the loader refuses it or, dangling, falls back: depends on files outside
                    return None
                mode = os.stat(path).st_mode
            except OSError:
                digest.update(relative + b"\0unreadable\0")
                continue
            if not stat.S_ISREG(mode):
                digest.update(relative + f"\0not a file {stat.S_IFMT(mode)}\0".encode())
                continue
            content = _read_regular(path)
            if content is None:
                return None
            digest.update(relative + b"\0" + _sha256(content).encode() + b"\0")
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def _runtime() -> str:
    """The Python and the installed distributions (names and versions) the tool runs with: another
    version of a parser or validator may read or judge a definition differently."""
    installed: set[str] = set()
    for entry in sys.path:
        with contextlib.suppress(OSError):
            installed.update(
                n for n in os.listdir(entry or ".") if n.endswith((".dist-info", ".egg-info"))
            )
    return _sha256(
        " ".join([sys.version, sys.executable, *sorted(installed)]).encode(
            "utf-8", "surrogateescape"
        )
    )


def default_cache_dir() -> Path:
    """`$KPN_COLLECTIONS_CACHE_DIR`, else `$XDG_CACHE_HOME/kpn-collections`, else
    `~/.cache/kpn-collections`."""
    explicit = os.environ.get("KPN_COLLECTIONS_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kpn-collections"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@functools.lru_cache(maxsize=1)
def _tool_hash() -> str:
    """The converter's own code and packaged templates: a changed tool never serves an older result,
    even when its version number stayed the same (a development install, a patched copy)."""
    package = Path(__file__).resolve().parents[1]  # the kpn_collections package
    templates = package_templates_dir().resolve()
    outside = (
        None if templates.is_relative_to(package) else templates
    )  # a source checkout keeps them beside
    return _sha256(f"{_tree_hash(package)} {_tree_hash(outside)}".encode())


def _tree_hash(directory: Path | None) -> str | None:
    if directory is None:
        return None
    digest = hashlib.sha256()
    for path in sorted(
        p for p in directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    ):
        content = _read_regular(
            path, MAX_TEMPLATE_BYTES
        )  # one that cannot be read fails the conversion
        digest.update(
            path.relative_to(directory).as_posix().encode("utf-8")
            + b"\0"
            + (b"\1" if content is None else b"\0" + content)
            + b"\0"
        )
    return digest.hexdigest()
