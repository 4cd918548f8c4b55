"""Run newman (the Postman collection runner) from Python tests."""

from __future__ import annotations

import atexit
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "NEWMAN",
    "REPO_ROOT",
    "NewmanRun",
    "newman_available",
    "require_newman",
    "response_text",
    "run_newman",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
NEWMAN = REPO_ROOT / "node_modules" / ".bin" / "newman"

# newman's cli reporter colours its table borders even with --color off.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")

_MISSING = "newman is not installed: run `npm ci` in the repo root"


def newman_available() -> bool:
    """Whether the repo-local newman and a node to run it are present."""
    return NEWMAN.is_file() and os.access(NEWMAN, os.X_OK) and shutil.which("node") is not None


def require_newman() -> None:
    """Skip the test without newman; fail instead on CI (CI=true)."""
    if newman_available():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{_MISSING} (CI must install it: add `npm ci` to .ci/run)")
    pytest.skip(_MISSING)


def _error_name(failure: Mapping[str, Any]) -> str:
    error = failure.get("error") or {}
    return str(error.get("name") or "")


def _item_name(failure: Mapping[str, Any]) -> str:
    source = failure.get("source") or {}
    return str(source.get("name") or "")


@dataclass
class NewmanRun:
    """The outcome of one `newman run`: exit code, output, and the JSON report."""

    returncode: int
    stdout: str
    stderr: str
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def run(self) -> dict[str, Any]:
        """report["run"] (empty if newman wrote no report)."""
        run = self.report.get("run")
        return run if isinstance(run, dict) else {}

    @property
    def failures(self) -> list[dict[str, Any]]:
        """report["run"]["failures"]: every error of the run, assertions included."""
        return list(self.run.get("failures") or [])

    @property
    def executions(self) -> list[dict[str, Any]]:
        """report["run"]["executions"]: one entry per request sent."""
        return list(self.run.get("executions") or [])

    @property
    def stats(self) -> dict[str, Any]:
        """report["run"]["stats"] (requests/assertions/testScripts... totals)."""
        return dict(self.run.get("stats") or {})

    @property
    def ok(self) -> bool:
        """Exit code 0 and no failures."""
        return self.returncode == 0 and not self.failures

    def executed_items(self) -> list[str]:
        """The names of the items whose requests were sent, in order."""
        return [str((e.get("item") or {}).get("name") or "") for e in self.executions]

    def execution(self, item_name: str) -> dict[str, Any]:
        """The first execution of the item with this name (KeyError if none)."""
        for execution in self.executions:
            if (execution.get("item") or {}).get("name") == item_name:
                return execution
        raise KeyError(item_name)

    def assertions(self) -> list[tuple[str, str, bool, str | None]]:
        """(item name, assertion name, passed, error message) for every assertion.

        Skipped assertions (pm.test.skip) are left out.
        """
        result: list[tuple[str, str, bool, str | None]] = []
        for execution in self.executions:
            item = str((execution.get("item") or {}).get("name") or "")
            for assertion in execution.get("assertions") or []:
                if assertion.get("skipped"):
                    continue
                error = assertion.get("error")
                message = str(error.get("message")) if error else None
                result.append((item, str(assertion.get("assertion")), not error, message))
        return result

    def failed_assertions(self) -> list[tuple[str, str, str | None]]:
        """(item name, assertion name, error message) for each failed assertion."""
        return [(i, a, m) for i, a, passed, m in self.assertions() if not passed]

    def script_errors(self) -> list[str]:
        """Errors of broken scripts, as "item [at]: Name: message".

        These are failures thrown by a script outside pm.test (``at`` is
        "test-script" / "prerequest-script[:line:col]"), and exceptions
        inside a pm.test callback that are not failed expectations (their
        error is not an AssertionError, e.g. TypeError, ReferenceError).
        Failed expectations and request (connection) errors are not script errors.
        """
        errors: list[str] = []
        for failure in self.failures:
            at = str(failure.get("at") or "")
            name = _error_name(failure)
            if at.startswith("assertion"):
                broken = name != "AssertionError"
            else:
                broken = at.endswith("-script") or "-script:" in at
            if broken:
                message = str((failure.get("error") or {}).get("message") or "")
                errors.append(f"{_item_name(failure)} [{at}]: {name}: {message}")
        return errors

    def request_errors(self) -> list[str]:
        """Errors of requests that got no response (connection refused, timeout...)."""
        errors: list[str] = []
        for failure in self.failures:
            if failure.get("at") == "request":
                message = str((failure.get("error") or {}).get("message") or "")
                errors.append(f"{_item_name(failure)}: {message}")
        return errors

    def describe(self) -> str:
        """A readable summary for assertion messages."""
        lines = [f"newman exit {self.returncode}"]
        for failure in self.failures:
            error = failure.get("error") or {}
            lines.append(
                f"  {_item_name(failure)} [{failure.get('at')}] {error.get('name')}:"
                f" {error.get('message')}"
            )
        if self.report.get("error"):
            lines.append(f"  run error: {self.report['error']}")
        if not self.report:
            lines.append("  (no JSON report)")
        lines.append("--- stdout ---")
        lines.append(self.stdout[-4000:])
        if self.stderr.strip():
            lines.append("--- stderr ---")
            lines.append(self.stderr[-4000:])
        return "\n".join(lines)


def run_newman(
    collection: Path | str | Mapping[str, Any],
    *,
    env_vars: Mapping[str, str] | None = None,
    folder: str | None = None,
    timeout: float = 120,
    extra_args: Sequence[str] = (),
) -> NewmanRun:
    """`newman run` on a collection file or dict, with the cli and json reporters; returns even on a
    non-zero exit. Run by this test process's newman server (newman_server.js, node and newman
    loaded once) with the options `newman run` would build from its command line; `extra_args`
    other than `--delay-request N` send the run to the command itself."""
    require_newman()
    with tempfile.TemporaryDirectory(prefix="newman-") as tmp:
        tmp_dir = Path(tmp)
        if isinstance(collection, (Path, str)):
            collection_file = Path(collection).resolve()
        else:
            collection_file = tmp_dir / "collection.json"
            collection_file.write_text(json.dumps(collection), encoding="utf-8")
        report_file = tmp_dir / "report.json"
        options = _library_options(extra_args)
        if options is None:
            returncode, stdout, stderr = _command(
                collection_file, report_file, tmp_dir, env_vars, folder, timeout, extra_args
            )
        else:
            options.update(
                collection=str(collection_file),
                reporters=["cli", "json"],
                reporter={"json": {"export": str(report_file)}},
                envVar=[{"key": k, "value": v} for k, v in (env_vars or {}).items()],
                folder=[folder] if folder is not None else [],
                workingDir=str(tmp_dir),
            )
            returncode, stdout, stderr = _SERVER.run(options, tmp_dir, timeout)
        report: dict[str, Any] = {}
        if report_file.is_file():
            loaded = json.loads(report_file.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                report = loaded
        return NewmanRun(returncode, _ANSI.sub("", stdout), _ANSI.sub("", stderr), report)


def _library_options(extra_args: Sequence[str]) -> dict[str, Any] | None:
    """newman.run's options as `newman run` sets them from our command line (its defaults, then
    `--timeout-request 10000 --color off --disable-unicode` and `extra_args`); None for an
    argument only the command handles here."""
    options: dict[str, Any] = {
        "globalVar": [],
        "delayRequest": 0,
        "timeout": 0,
        "timeoutRequest": 10000,
        "timeoutScript": 0,
        "insecureFileRead": True,
        "color": "off",
        "disableUnicode": True,
    }
    args = list(extra_args)
    while args:
        name = args.pop(0)
        if name != "--delay-request" or not args or not args[0].isdigit():
            return None
        options["delayRequest"] = int(args.pop(0))
    return options


class _NewmanServer:
    """This test process's newman_server.js, started at its first run and restarted after a run that
    timed out or a server that died."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None

    def run(self, options: dict[str, Any], tmp_dir: Path, timeout: float) -> tuple[int, str, str]:
        if self.process is None or self.process.poll() is not None:
            env = dict(os.environ)
            env.setdefault("NO_COLOR", "1")
            self.process = subprocess.Popen(
                ["node", str(Path(__file__).with_name("newman_server.js"))],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=REPO_ROOT,
                env=env,
            )
        process = self.process
        assert process.stdin is not None and process.stdout is not None
        out, err = tmp_dir / "stdout.txt", tmp_dir / "stderr.txt"
        job = {"options": options, "stdout": str(out), "stderr": str(err)}
        process.stdin.write(json.dumps(job) + "\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        line = process.stdout.readline() if ready else ""
        if not line:
            self.stop()
            pytest.fail(f"newman timed out after {timeout}s" if not ready else "newman server died")
        return (
            int(json.loads(line)["code"]),
            out.read_text(encoding="utf-8") if out.is_file() else "",
            err.read_text(encoding="utf-8") if err.is_file() else "",
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


_SERVER = _NewmanServer()
atexit.register(_SERVER.stop)


def _command(
    collection_file: Path,
    report_file: Path,
    tmp_dir: Path,
    env_vars: Mapping[str, str] | None,
    folder: str | None,
    timeout: float,
    extra_args: Sequence[str],
) -> tuple[int, str, str]:
    """`newman run` as a command of its own."""
    args = [
        str(NEWMAN),
        "run",
        str(collection_file),
        "--reporters",
        "cli,json",
        "--reporter-json-export",
        str(report_file),
        "--timeout-request",
        "10000",
        "--color",
        "off",
        "--disable-unicode",
    ]
    for key, value in (env_vars or {}).items():
        args += ["--env-var", f"{key}={value}"]
    if folder is not None:
        args += ["--folder", folder]
    args += list(extra_args)
    env = dict(os.environ)
    env.setdefault("NO_COLOR", "1")
    try:
        proc = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=tmp_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = _text(exc.stdout)
        err = _text(exc.stderr)
        pytest.fail(f"newman timed out after {timeout}s\n{out}\n{err}")
    return proc.returncode, proc.stdout, proc.stderr


def response_text(execution: Mapping[str, Any]) -> str:
    """The response body of an execution (the report stores it as a byte array)."""
    stream = (execution.get("response") or {}).get("stream") or {}
    data = stream.get("data") if isinstance(stream, dict) else None
    return bytes(data or []).decode("utf-8", errors="replace")


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
