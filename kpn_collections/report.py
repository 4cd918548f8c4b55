"""Reporting: job and publish results printed as text or JSON, the summary line, the progress
counter. Results are values (batch/jobs.py, publish/); this module only shows them."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from . import __version__
from .batch.jobs import JobResult
from .diagnostics import (
    EXIT_FAILED,
    Severity,
    escaped,
)


def say(line: str) -> None:
    """Print one message line on stderr, control characters (from file names) escaped."""
    click.echo(escaped(line), err=True)


def summary(results: list[JobResult], check: bool, seconds: float) -> dict[str, object]:
    counts = {
        outcome: sum(1 for r in results if r.outcome == outcome)
        for outcome in (
            "written",
            "unchanged",
            "stdout",
            "up-to-date",
            "stale",
            "edited",
            "missing",
            "credentials",
            "failed",
            "bug",
        )
    }
    return {
        "specs": len(results),
        **counts,
        "with_warnings": sum(1 for r in results if r.warnings),
        "failed_total": counts["failed"] + counts["bug"],
        "from_cache": sum(1 for r in results if r.cached),
        "seconds": round(seconds, 2),
        "check": check,
    }


def summary_text(summary: dict[str, object], check: bool) -> str:
    if check:
        parts = [
            f"{summary['up-to-date']} up to date",
            f"{summary['stale']} stale",
            f"{summary['missing']} missing",
        ]
        if summary["edited"]:
            parts.append(f"{summary['edited']} edited by hand")
        if summary["credentials"]:
            parts.append(f"{summary['credentials']} storing credentials")
    else:
        parts = [f"{summary['written']} written", f"{summary['unchanged']} unchanged"]
    parts += [f"{summary['with_warnings']} with warnings", f"{summary['failed_total']} failed"]
    return (
        f"{summary['specs']} spec(s): "
        + ", ".join(parts)
        + f" ({summary['from_cache']} from cache) in {summary['seconds']} s"
    )


class Progress:
    """A one-line progress counter on a terminal (stderr); nothing otherwise."""

    def __init__(self, total: int, *, enabled: bool):
        self.total = total
        self.done = 0
        self.enabled = enabled and total > 1

    def __enter__(self) -> Progress:
        self._draw()
        return self

    def __exit__(self, *exc: object) -> None:
        self.clear()

    def advance(self) -> None:
        """One more job finished."""
        self.done += 1
        self._draw()

    def clear(self) -> None:
        """Remove the line before other output is printed."""
        if self.enabled:
            click.echo("\r\033[K", nl=False, err=True)

    def _draw(self) -> None:
        if self.enabled:
            width = 30
            filled = width * self.done // max(self.total, 1)
            click.echo(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}",
                nl=False,
                err=True,
            )


def write_stdout(text: str) -> None:
    """Write a result to stdout, flushed now: a full disk behind it (`> /dev/full`) is a failure
    (exit 1), not a silent loss; a reader that stopped (`| head`) is not."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        return
    except OSError as exc:
        say(f"<stdout>: error [output-failed]: cannot write the result: {exc.strerror or exc}")
        sys.exit(EXIT_FAILED)


def report_job(
    result: JobResult, quiet: bool, verbose: bool, report_format: str, debug: bool
) -> tuple[JobResult, dict[str, object]]:
    shown = [
        d
        for d in result.diagnostics
        if d.severity is Severity.ERROR
        or (d.severity is Severity.WARNING and not quiet)
        or (d.severity is Severity.INFO and verbose)
    ]
    if report_format == "text":
        for diagnostic in shown:
            click.echo(diagnostic.format(), err=True)
        warnings = f" ({result.warnings} warning(s))"
        if result.outcome == "bug":
            report_bug(Path(result.spec), debug, result.bug)
        elif result.outcome == "failed":
            errors = sum(1 for d in result.diagnostics if d.severity is Severity.ERROR)
            reason = f"{errors} error(s)" if errors else "warnings are failures with --strict"
            say(f"{result.spec}: FAILED ({reason}); nothing written")
        elif result.outcome == "credentials":
            say(f"{result.spec}: {result.target} stores credentials; clear them")
        elif result.outcome == "edited":
            say(f"{result.spec}: {result.target} was edited by hand; not overwritten")
        elif result.outcome in ("missing", "stale"):
            say(f"{result.spec}: {result.target} is {result.outcome}")
        elif not quiet:
            described = {
                "written": f"wrote {result.target}",
                "unchanged": f"unchanged {result.target}",
                "stdout": "wrote <stdout>",
                "up-to-date": f"{result.target} is up to date",
            }
            say(f"{result.spec}: {described[result.outcome]}{warnings}")
    entry: dict[str, object] = {
        "source": result.spec,
        "output": result.target,
        "ok": result.ok,
        "outcome": result.outcome,
        "cached": result.cached,
        "diagnostics": [d.as_dict() for d in shown],
    }
    return result, entry


def report_bug(spec: Path, debug: bool, trace: str | None = None) -> None:
    say(
        f"{spec}: internal error in kpn-collections {__version__}: this is a bug, please report it "
        "with the input file" + ("" if debug else " (run with --debug for the traceback)")
    )
    if debug:
        if trace:
            click.echo(trace, err=True)
        else:
            traceback.print_exc()


def publish_entry(result: object, verbose: bool) -> dict[str, object]:
    from .publish import PublishResult

    assert isinstance(result, PublishResult)
    shown = [
        d.as_dict()
        for d in result.diagnostics
        if d.severity is Severity.ERROR
        or verbose
        or (d.severity is Severity.WARNING and d.code.startswith("absorb-"))
    ]
    return {
        "source": result.spec,
        "outcome": result.outcome,
        "ok": result.ok,
        "summary": result.summary,
        "details": list(result.details),
        "diagnostics": shown,
        "absorbed_into": result.absorbed or None,
    }


PUBLISH_OUTCOMES = (
    "created",
    "updated",
    "unchanged",
    "would-create",
    "would-update",
    "edited",
    "failed",
    "bug",
)


def publish_summary(results: Sequence[object], dry_run: bool, seconds: float) -> dict[str, Any]:
    """The counts of a publish run, each outcome's, for the JSON report and the closing line."""
    outcomes = [getattr(r, "outcome", None) for r in results]
    return {
        "specs": len(results),
        **{o: outcomes.count(o) for o in PUBLISH_OUTCOMES},
        "dry_run": dry_run,
        "seconds": round(seconds, 2),
    }


def publish_summary_text(summary: dict[str, Any]) -> str:
    words = {
        "would-create": "would be created",
        "would-update": "would be updated",
        "edited": "refused (edited in Postman)",
    }
    shown = [
        f"{summary[o]} {words.get(o, o)}"
        for o in PUBLISH_OUTCOMES
        if summary[o] or o in ("unchanged", "failed")
    ]
    return (
        f"{summary['specs']} spec(s): "
        + ", ".join(shown)
        + f" in {summary['seconds']:.2f} s"
        + (" (dry run: nothing sent)" if summary["dry_run"] else "")
    )


def report_publish(result: object, quiet: bool, verbose: bool, debug: bool) -> None:
    from .publish import PublishResult

    assert isinstance(result, PublishResult)
    # absorb's warnings (secrets left out, orphans) are always shown
    for diagnostic in result.diagnostics:
        if diagnostic.severity is Severity.ERROR or (
            diagnostic.severity is Severity.WARNING
            and (verbose or diagnostic.code.startswith("absorb-"))
        ):
            click.echo(diagnostic.format(), err=True)
    if result.outcome == "bug":
        report_bug(Path(result.spec), debug, result.bug)
    elif result.outcome == "failed":
        say(f"{result.spec}: FAILED; not published")
    elif result.outcome == "edited":
        say(f"{result.spec}: {result.summary}")
        for line in result.details:
            say(f"  {line}")
    elif not quiet:
        say(f"{result.spec}: {result.summary}")
        always = (
            "lost:",
            "absorbed:",
            "would absorb:",
            "not absorbed:",
        )  # what happened to edits made in Postman
        if (
            verbose
            or result.outcome in ("would-update", "would-create")
            or any(line.startswith(always) for line in result.details)
        ):
            for line in result.details:
                if verbose or result.outcome != "would-create" or line.startswith(always):
                    say(f"  {line}")
