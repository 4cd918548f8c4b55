"""One conversion job: convert a spec, then write (or, in check mode, compare) its collection,
with the cache and the hand-edit check around it; never raises."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..credentials import find_in_collection
from ..diagnostics import Diagnostic, Severity
from ..files import MAX_FILE_BYTES, FileTooLarge, NotRegularFile, read_limited
from ..settings import Settings
from ..write import UnsafeOutput, check_parents, collection_bytes, write_if_changed
from .cache import Cache, CacheEntry, default_cache_dir, parse_json, sha256

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class Job:
    """One conversion to run (picklable: it crosses into a worker process)."""

    index: int
    spec: Path
    target: Path | None  # None: the collection text is returned (for stdout)
    settings: Settings
    check: bool = False
    cache_dir: Path | None = None
    # a core to spare: validate a big spec in a second process (parallel.py)
    validate_beside: bool = False
    # the -o directory: no symbolic link below it is written through
    output_root: Path | None = None


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


_in_job = False
"""Whether this process is running a job (read by a worker's SIGTERM handler)."""


def end_worker(signum: int, frame: Any) -> None:
    if _in_job:
        # a second one while cleaning up ends it at once
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise WorkerEnded  # write_if_changed removes its temporary file on the way out
    os._exit(128 + signum)


class WorkerEnded(BaseException):
    """SIGTERM in a worker's job: unwinds the job, then the worker exits (see `_run_in_worker`)."""


def run_job(job: Job) -> JobResult:
    """Convert one spec and write or compare its collection; never raises."""
    global _in_job
    started = time.perf_counter()
    _in_job = True
    try:
        result = _run(job)
    except Exception:
        result = bug_result(job)
    finally:
        _in_job = False
    return dataclasses.replace(result, seconds=time.perf_counter() - started)


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
    spec, target = str(job.spec), path_text(job.target)
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
    digest = sha256(content)
    path = default_cache_dir() / WRITTEN_DIRECTORY / digest[:2] / digest
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def _we_wrote(content: bytes) -> bool:
    digest = sha256(content)
    return (default_cache_dir() / WRITTEN_DIRECTORY / digest[:2] / digest).is_file()


def _fit_to_serve(content: bytes) -> bool:
    """The final output check a fresh conversion ends with, for a cached collection: a JSON object
    that carries no credential in a variable or script (see pipeline `secret-in-output`). The
    Postman schema check is not repeated: loading it would add a third to a cached run, and a signed
    entry holds what a checked conversion wrote."""
    try:
        collection = parse_json(content)
        return (
            isinstance(collection, dict)
            and next(iter(find_in_collection(collection)), None) is None
        )
    except (ValueError, TypeError, AttributeError, KeyError, RecursionError):
        return False


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


def path_text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def bug_result(job: Job) -> JobResult:
    """The result of a job that raised, here or in a worker that died: the traceback is the
    report."""
    return JobResult(
        job.index, str(job.spec), path_text(job.target), "bug", False, bug=traceback.format_exc()
    )
