"""Run Prism (Stoplight's spec-driven mock server, pinned in package.json) from Python tests.

Prism answers every request from the API definition alone: with the spec's own examples (static
mode) or with generated schema-valid data (`--dynamic`, seeded). It validates each request against
the spec and its own response too, and lists what it found in the `sl-violations` response header: a
violation whose location starts with "request" means the request broke the spec, "response" that the
answer did.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .newman import REPO_ROOT

PRISM = REPO_ROOT / "node_modules" / ".bin" / "prism"
SEED = "kpn-collections"
_MISSING = "Prism is not installed: run `npm ci` in the repo root"
_LISTENING = re.compile(r"Prism is listening on (http://\S+)")


def require_prism() -> None:
    """Skip the test without Prism; fail instead on CI (CI=true)."""
    if PRISM.is_file() and shutil.which("node") is not None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{_MISSING} (CI must install it: add `npm ci` to .ci/run)")
    pytest.skip(_MISSING)


class PrismFailed(Exception):
    """Prism exited (or never started listening); the message carries its output."""


@dataclass
class PrismServer:
    url: str
    process: subprocess.Popen[str]
    output: list[str]

    def log(self) -> str:
        """What Prism printed so far."""
        return "".join(self.output)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def prism_mock(spec: Path, *, dynamic: bool = False, timeout: float = 60) -> Iterator[PrismServer]:
    """`prism mock SPEC` on 127.0.0.1 (a free port) until the block ends; PrismFailed if it cannot
    load. Served by this test process's Prism host (prism_host.js: Prism loaded once, a fresh copy
    of its modules for every server), not a new node for every server (1 s each)."""
    require_prism()
    args = [
        str(PRISM),
        "mock",
        str(spec),
        "--host",
        "127.0.0.1",
        "--port",
        str(_free_port()),
        "--verboseLevel",
        "info",
    ]
    if dynamic:
        args += ["--dynamic", "--seed", SEED]
    with _HOST.serve(args[1:], timeout=timeout) as server:
        yield server


@contextmanager
def run_prism(args: list[str], *, timeout: float = 60) -> Iterator[PrismServer]:
    """Prism run with `args` (its command line) until the block ends, once it says where it listens;
    PrismFailed if it does not start within `timeout` seconds or exits first."""
    process = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=REPO_ROOT,
        env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"},
    )
    output: list[str] = []
    listening = threading.Event()
    urls: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            found = _LISTENING.search(line)
            if found:
                urls.append(found.group(1))
                listening.set()
        listening.set()  # Prism exited

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        while not listening.wait(0.1):
            if time.monotonic() > deadline:
                raise PrismFailed(
                    f"Prism did not start within {timeout} s:\n{''.join(output)[-4000:]}"
                )
        if not urls:
            raise PrismFailed(f"Prism exited with {process.wait()}:\n{''.join(output)[-4000:]}")
        yield PrismServer(urls[0].rstrip("/"), process, output)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        reader.join(timeout=5)


class _PrismHost:
    """This test process's prism_host.js, started at its first server and again after it died or
    did not answer in time."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []  # what Prism logs (stderr), read by a thread
        self.last = 0

    def _started(self) -> subprocess.Popen[str]:
        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen(
                ["node", str(Path(__file__).with_name("prism_host.js"))],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=REPO_ROOT,
                env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"},
            )
            self.output = []
            threading.Thread(target=self._read_log, args=(self.process,), daemon=True).start()
        return self.process

    def _read_log(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            self.output.append(line)

    def _ask(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        """The host's answer to `request` (the same id); PrismFailed, and the host stopped, when it
        died or did not answer within `timeout` seconds."""
        process = self._started()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
            ready, _, _ = select.select([process.stdout], [], [], timeout)
            line = process.stdout.readline() if ready else ""
        except OSError:  # a host that died before reading: a broken pipe
            ready, line = [process.stdout], ""
        answer: dict[str, Any] = json.loads(line) if line else {}
        if answer.get("id") != request["id"]:
            log = "".join(self.output)[-4000:]
            self.stop()
            problem = f"did not answer within {timeout} s" if not ready else f"died ({line!r})"
            raise PrismFailed(f"Prism {problem}:\n{log}")
        return answer

    @contextmanager
    def serve(self, args: list[str], *, timeout: float) -> Iterator[PrismServer]:
        """A server of `prism mock` with `args` (its command line after `prism`, with --host and
        --port) until the block ends."""
        self.last += 1
        self._started()
        request_id, start = self.last, len(self.output)
        answer = self._ask({"id": request_id, "args": args}, timeout)
        if "error" in answer:
            log = "".join(self.output[start:])[-4000:]
            raise PrismFailed(f"Prism could not start: {answer['error']}\n{log}")
        assert self.process is not None
        host, port = args[args.index("--host") + 1], args[args.index("--port") + 1]
        try:
            yield PrismServer(f"http://{host}:{port}", self.process, self.output)
        finally:
            if self.process is not None and self.process.poll() is None:
                self._ask({"id": request_id, "stop": True}, timeout)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


_HOST = _PrismHost()
atexit.register(_HOST.stop)


def violations(execution: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Prism's `sl-violations` of one newman execution (empty when Prism found nothing)."""
    for header in (execution.get("response") or {}).get("header") or []:
        if str(header.get("key", "")).lower() == "sl-violations":
            parsed = json.loads(header.get("value") or "[]")
            return [v for v in parsed if isinstance(v, dict)]
    return []


def request_violations(execution: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Violations of the request: what Prism says our generated request got wrong."""
    return [v for v in violations(execution) if (v.get("location") or ["request"])[0] == "request"]


def response_violations(execution: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Errors Prism found in its own answer (for example a spec example that breaks the spec's
    schema)."""
    return [
        v
        for v in violations(execution)
        if (v.get("location") or [""])[0] == "response" and v.get("severity") == "Error"
    ]


def request_rejected(execution: Mapping[str, Any], body: str) -> list[dict[str, Any]]:
    """Why Prism rejected our request: its request violations, or, where the operation documents no
    answer for an invalid request, the `validation` list of the 422 problem Prism makes up (`body`
    is the answer's text)."""
    found = request_violations(execution)
    if (
        found
        or (execution.get("response") or {}).get("code") != 422
        or "#UNPROCESSABLE_ENTITY" not in body
    ):
        return found
    try:
        problem = json.loads(body)
    except ValueError:
        return found
    validation = problem.get("validation") if isinstance(problem, dict) else None
    return [v for v in validation if isinstance(v, dict)] if isinstance(validation, list) else found
