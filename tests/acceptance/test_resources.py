"""Resources stay bounded on any input: example sizes, odd characters and numbers, regex warnings,
signals."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ..conftest import REPO_ROOT
from ..helpers import schema_errors


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kpn_collections", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
    )


def api(schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A one-operation definition with `schema` as request body and response."""
    use = {"content": {"application/json": {"schema": schema}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Res", "version": "1"},
        "servers": [{"url": "https://x.test"}],
        "paths": {
            "/a": {"post": {"requestBody": use, "responses": {"200": {"description": "ok", **use}}}}
        },
        **extra,
    }


def nested_arrays(leaf: dict[str, Any], levels: int) -> dict[str, Any]:
    schema = leaf
    for _ in range(levels):
        schema = {"type": "array", "minItems": 3, "items": schema}
    return schema


AMPLIFIERS = {
    "nested-pattern-repeats": {"type": "string", "pattern": "^((((a{64}){64}){64}){64})$"},
    "nested-pattern-in-arrays": nested_arrays({"type": "string", "pattern": "^((a{32}){32})$"}, 6),
    "min-length": {"type": "string", "minLength": 10_000_000},
    "min-length-in-arrays": nested_arrays({"type": "string", "minLength": 10_000}, 6),
    "unique-items": (
        nested_arrays({"type": "string", "format": "uuid", "minLength": 10_000}, 6)
        | {"uniqueItems": True}
    ),
    "own-example-in-arrays": nested_arrays({"type": "string", "example": "e" * 50_000}, 5),
    "enum-in-arrays": nested_arrays({"type": "string", "enum": ["e" * 50_000]}, 5),
    "wide-object": {
        "type": "object",
        "properties": {f"p{i}": {"type": "string", "minLength": 5_000} for i in range(300)},
    },
}


@pytest.mark.parametrize("name", sorted(AMPLIFIERS))
def test_generated_examples_stay_small_whatever_the_schema_asks(name: str, tmp_path: Path) -> None:
    """A short schema cannot make a big collection: the bound is on the whole example, not per
    level."""
    spec = tmp_path / "amp.json"
    spec.write_text(json.dumps(api(AMPLIFIERS[name])), encoding="utf-8")
    completed = run_cli("convert", str(spec), "-o", str(tmp_path / "out"), "--no-cache")
    assert completed.returncode == 0, completed.stderr[-2000:]
    written = tmp_path / "out" / "amp.postman_collection.json"
    assert written.stat().st_size < 1_000_000
    assert schema_errors(json.loads(written.read_text(encoding="utf-8"))) == []


LONE = "\ud800"
SURROGATE_PLACES: dict[str, Any] = {
    "title": lambda d: d["info"].update(title="T" + LONE),
    "path-key": lambda d: d["paths"].update({"/b" + LONE: d["paths"]["/a"]}),
    "object-key": (
        lambda d: d["components"]["schemas"]["S"]["properties"].update(
            {"k" + LONE: {"type": "string"}}
        )
    ),
    "parameter-name": lambda d: d["paths"]["/a"]["post"]["parameters"][0].update(name="q" + LONE),
    "header-name": (
        lambda d: d["paths"]["/a"]["post"]["parameters"].append(
            {"name": "h" + LONE, "in": "header", "schema": {"type": "string"}}
        )
    ),
    "server-url": lambda d: d["servers"][0].update(url="https://x" + LONE + ".test"),
    "pattern": (
        lambda d: d["components"]["schemas"]["S"]["properties"]["p"].update(
            pattern="^a" + LONE + "$"
        )
    ),
    "pattern-class": (
        lambda d: d["components"]["schemas"]["S"]["properties"]["p"].update(
            pattern="^[" + LONE + "]$"
        )
    ),
    "schema-name": lambda d: d["components"]["schemas"].update({"X" + LONE: {"type": "object"}}),
    "tag": lambda d: d["paths"]["/a"]["post"].update(tags=["t" + LONE]),
    "operation-id": lambda d: d["paths"]["/a"]["post"].update(operationId="o" + LONE),
    "media-type": (
        lambda d: d["paths"]["/a"]["post"]["responses"]["200"]["content"].update(
            {"application/x" + LONE: {"schema": {"type": "string"}}}
        )
    ),
    "status-code": (
        lambda d: d["paths"]["/a"]["post"]["responses"].update({"2" + LONE: {"description": "x"}})
    ),
    "security-scheme": lambda d: (
        d.update(security=[{"o" + LONE: []}])
        or d["components"].update(
            securitySchemes={
                "o" + LONE: {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": "https://t" + LONE + ".test/token",
                            "scopes": {"s" + LONE: "x"},
                        }
                    },
                }
            }
        )
    ),
    "description": lambda d: d["paths"]["/a"]["post"].update(description="d" + LONE),
    "enum": lambda d: d["paths"]["/a"]["post"]["parameters"][0]["schema"].update(enum=["e" + LONE]),
}


def surrogate_spec(place: str) -> str:
    schema = {"$ref": "#/components/schemas/S"}
    document = api(
        schema,
        components={
            "schemas": {
                "S": {"type": "object", "properties": {"p": {"type": "string", "pattern": "^a$"}}}
            }
        },
    )
    document["paths"]["/a"]["post"]["parameters"] = [
        {"name": "q", "in": "query", "schema": {"type": "string"}}
    ]
    SURROGATE_PLACES[place](document)
    return json.dumps(document)  # ensure_ascii: the surrogate is written as the escape `\ud800`


@pytest.mark.parametrize("place", sorted(SURROGATE_PLACES))
def test_a_lone_surrogate_escape_anywhere_converts_with_the_escape_kept(
    place: str, tmp_path: Path
) -> None:
    spec = tmp_path / "lone.json"
    spec.write_text(surrogate_spec(place), encoding="utf-8")
    assert "\\ud800" in spec.read_text(encoding="utf-8")
    output = tmp_path / "out"
    completed = run_cli("convert", str(spec), "-o", str(output), "--no-cache")
    assert completed.returncode == 0, completed.stderr[-2000:]
    text = (output / "lone.postman_collection.json").read_text(encoding="utf-8")
    # these need not show
    if place not in (
        "pattern",
        "pattern-class",
        "schema-name",
        "security-scheme",
    ):
        assert "\\ud800" in text
    assert schema_errors(json.loads(text)) == []
    for command, target in (("bundle", "b.json"), ("inject", "i.json")):
        completed = run_cli(command, str(spec), "-o", str(tmp_path / target))
        assert completed.returncode == 0, completed.stderr[-2000:]
        assert json.loads((tmp_path / target).read_text(encoding="utf-8"))


LONG = "1" * 5_000


YAML_HEAD = "openapi: 3.0.3\ninfo: {title: T, version: '1'}\npaths: {}\nx-n: "


@pytest.mark.parametrize(
    ("suffix", "text", "where"),
    [
        (
            ".json",
            '{"openapi": "3.0.3", "info": {"title": "T", "version": "1"}, "paths": {}, "x-n": '
            + LONG
            + "}",
            "1:82",
        ),
        (".yaml", YAML_HEAD + LONG + "\n", "4:6"),
        (".yaml", YAML_HEAD + "[-" + LONG + "]\n", "4:7"),
        (".yaml", YAML_HEAD + "0x" + "f" * 3_800 + "\n", "4:6"),
    ],
)
def test_an_integer_longer_than_the_digit_limit_is_a_located_error(
    suffix: str, text: str, where: str, tmp_path: Path
) -> None:
    spec = tmp_path / f"long{suffix}"
    spec.write_text(text, encoding="utf-8")
    completed = run_cli("convert", str(spec), "-o", str(tmp_path / "out"), "--no-cache")
    assert completed.returncode == 1, completed.stderr[-2000:]
    assert f"{spec}:{where}: error [number-too-long]: the integer " in completed.stderr
    assert (
        f"has more than {sys.get_int_max_str_digits():,} digits (hint: write such a value as a"
        " quoted string)" in completed.stderr
    )


@pytest.mark.parametrize(
    "keywords",
    [
        {"minimum": 10**400},
        {"maximum": -(10**400)},
        {"multipleOf": 10**400},
        {"exclusiveMinimum": 10**400},
        {"minimum": 10**300, "maximum": 10**301, "multipleOf": 1e-300},
        {"example": 10**4000},
        {"enum": [10**400]},
    ],
)
def test_numbers_beyond_a_doubles_range_convert(keywords: dict[str, Any], tmp_path: Path) -> None:
    schema = {"type": "integer", **keywords}
    document = api({"type": "object", "properties": {"n": schema}})
    document["paths"]["/a"]["post"]["parameters"] = [{"name": "q", "in": "query", "schema": schema}]
    for suffix, text in (
        (".json", json.dumps(document)),
        (".yaml", json.dumps(document).replace('"openapi"', '"x-e": 1e999999, "openapi"')),
    ):
        spec = tmp_path / f"big{suffix}"
        spec.write_text(text, encoding="utf-8")
        completed = run_cli("convert", str(spec), "-o", str(tmp_path / "out"), "--no-cache")
        assert completed.returncode == 0, completed.stderr[-2000:]
        written = json.loads(
            (tmp_path / "out" / "big.postman_collection.json").read_text(encoding="utf-8")
        )
        assert schema_errors(written) == []


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _slow_specs(tmp_path: Path) -> Path:
    """A folder of 8 specs of 1,500 operations each: a batch of them runs for a few seconds."""
    specs = tmp_path / "specs"
    specs.mkdir()
    slow = {
        "openapi": "3.0.3",
        "info": {"title": "Slow", "version": "1"},
        "servers": [{"url": "https://x.test"}],
        "paths": {
            f"/p{i}/{{id}}": {
                "get": {
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer"},
                        }
                    ],
                    "responses": {"200": {"description": "ok"}},
                }
            }
            for i in range(1500)
        },
    }
    for number in range(8):
        (specs / f"api{number}.json").write_text(json.dumps(slow), encoding="utf-8")
    return specs


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGINT"])
@pytest.mark.usefixtures("fast_paths_on", "ctrl_c_acts")  # workers: the scheduler's
def test_a_stopped_batch_ends_its_workers_and_counts_what_it_wrote(
    stop: str, tmp_path: Path
) -> None:
    """SIGTERM to the main process (as a CI runner or `timeout` sends it) or Ctrl-C to the process
    group: no worker outlives the batch, and the message counts exactly the collections on disk."""
    specs = _slow_specs(tmp_path)
    output = tmp_path / "out"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kpn_collections",
            "convert",
            str(specs),
            "-o",
            str(output),
            "--no-cache",
            "-j",
            "3",
        ],
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        start_new_session=True,
    )
    children: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while not (output.is_dir() and any(output.glob("*.json"))) and time.monotonic() < deadline:
            time.sleep(0.05)
        children = [
            int(pid)
            for path in Path(f"/proc/{process.pid}/task").glob("*/children")
            for pid in path.read_text().split()
        ]
        assert len(children) == 2
        if stop == "SIGTERM":
            os.kill(process.pid, signal.SIGTERM)
        else:
            os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
        deadline = time.monotonic() + 30  # an orphan is reaped by init, which may take a moment
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [pid for pid in children if _alive(pid)] == []
        assert "Traceback" not in stderr
        written = sorted(output.iterdir())
        # no temporary files
        assert all(p.name.endswith(".postman_collection.json") for p in written), written
        if process.returncode == 0:  # finished before the signal arrived (a very fast machine)
            assert len(written) == 8
        else:
            assert process.returncode == (143 if stop == "SIGTERM" else 130), stderr
            match = re.search(
                r"interrupted after (\d+) of 8 spec\(s\), (\d+) collection\(s\) written", stderr
            )
            assert match, stderr
            assert int(match[2]) == len(written) == stderr.count(": wrote "), stderr
    finally:
        for pid in [process.pid, *children]:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("run", ["single", "validated-beside", "batch"])
def test_regex_parser_warnings_become_located_diagnostics(run: str, tmp_path: Path) -> None:
    """`[[a]` makes Python's regex parser warn ("Possible nested set"), in whichever process
    compiles it: the raw warning never reaches stderr; the spec gets a located `pattern-ambiguous`
    warning."""
    schemas: dict[str, Any] = {
        "S": {
            "type": "object",
            "properties": {
                "q": {"type": "string", "pattern": "[[a]"},
                "r": {"type": "string", "pattern": "[a&&b]"},
            },
        }
    }
    if run == "validated-beside":  # big enough for the validate stage to run in a forked child
        schemas.update(
            {f"Filler{i}": {"type": "object", "description": "x" * 1_000} for i in range(1_100)}
        )
    document = api({"$ref": "#/components/schemas/S"}, components={"schemas": schemas})
    specs = tmp_path / "specs"
    specs.mkdir()
    for number in range(3 if run == "batch" else 1):
        (specs / f"w{number}.json").write_text(json.dumps(document), encoding="utf-8")
    completed = run_cli("convert", str(specs), "-o", str(tmp_path / "out"), "--no-cache", "-j", "2")
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "Warning:" not in completed.stderr and "warnings.warn" not in completed.stderr, (
        completed.stderr
    )
    assert (
        "re.compile" not in completed.stderr
        and "Possible nested set at position 1\n" not in completed.stderr
    )
    for number in range(3 if run == "batch" else 1):
        spec = specs / f"w{number}.json"
        assert re.search(
            re.escape(str(spec)) + r":1:\d+: warning \[pattern-ambiguous\] at "
            r"#/components/schemas/S/properties/q/pattern: the pattern '\[\[a\]' may not mean"
            r" what it "
            r"seems: Possible nested set at position 1 \(hint: escape the character meant"
            r" literally",
            completed.stderr,
        ), completed.stderr
    assert completed.stderr.count("[pattern-ambiguous]") == (3 if run == "batch" else 1) * 2


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "pattern": "(x+x+)+y", "minLength": 40},
        {"type": "string", "pattern": "((x*)*)*!", "minLength": 30, "maxLength": 40},
    ],
)
def test_a_backtracking_pattern_is_never_tried_on_long_text(
    schema: dict[str, Any], tmp_path: Path
) -> None:
    """Nested repeats make Python's regex engine take exponential time to reject a long text: the
    example generator tries such a pattern only on short texts (the subprocess timeout is the
    guard)."""
    spec = tmp_path / "redos.json"
    spec.write_text(
        json.dumps(api({"type": "object", "properties": {"p": schema}})), encoding="utf-8"
    )
    completed = run_cli("convert", str(spec), "-o", str(tmp_path / "out"), "--no-cache", timeout=60)
    assert completed.returncode == 0, completed.stderr[-2000:]


@pytest.mark.usefixtures("fast_paths_on")
def test_a_default_is_not_checked_against_a_backtracking_pattern_for_hours(tmp_path: Path) -> None:
    """The validate stage checks `default` values against their schema; `^(a+)+$` against forty `a`s
    and a `!` would take Python's regex engine days (the subprocess timeout is the guard). The
    jsonschema-rs fast path answers in linear time; with it switched off the reference path is
    exposed (the README's threat model says so)."""
    document = api({"type": "object"})
    document["paths"]["/a"]["post"]["parameters"] = [
        {
            "name": "q",
            "in": "query",
            "schema": {"type": "string", "pattern": "^(a+)+$", "default": "a" * 40 + "!"},
        }
    ]
    spec = tmp_path / "redos.json"
    spec.write_text(json.dumps(document), encoding="utf-8")
    completed = run_cli("convert", str(spec), "-o", str(tmp_path / "out"), "--no-cache", timeout=60)
    assert completed.returncode == 0, completed.stderr[-2000:]


def test_aliases_repeating_a_long_text_are_an_alias_bomb(tmp_path: Path) -> None:
    """Far fewer nodes than the node limit, but a megabyte named 110 times: 1 MB of YAML, 110 MB of
    text."""
    paths = "".join(
        f"  /p{i}:\n    get:\n      description: *d\n      responses: {{'200': {{description:"
        " ok}}\n"
        for i in range(110)
    )
    spec = tmp_path / "aliases.yaml"
    spec.write_text(
        "openapi: 3.0.3\ninfo: {title: A, version: '1', description: &d "
        + "x" * 1_000_000
        + "}\nservers: [{url: 'https://x.test'}]\npaths:\n"
        + paths,
        encoding="utf-8",
    )
    completed = run_cli("convert", str(spec), "-o", str(tmp_path / "out"), "--no-cache")
    assert completed.returncode == 1, completed.stderr[-2000:]
    assert (
        f"{spec}:2:45: error [alias-bomb]: the document expands to more than 100 MiB of text"
        " through YAML aliases (hint: remove the repeated `*alias` references)" in completed.stderr
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.usefixtures("fast_paths_on", "ctrl_c_acts")  # workers: the scheduler's
def test_an_interrupt_while_a_result_is_reported_still_counts_the_running_jobs(
    tmp_path: Path,
) -> None:
    """Ctrl-C while the main process reports a result rather than while it waits for one: that
    report is finished, the jobs still running end, and the message counts exactly the collections
    on disk (it once counted one fewer: a worker wrote after the count)."""
    written = _interrupted_batch(
        tmp_path,
        "report, sent = cli.report_job, []\n"
        "def interrupted(*args, **kwargs):\n"
        "    if not sent:  # once, while the first result is reported\n"
        "        sent.append(os.kill(os.getpid(), signal.SIGINT))\n"
        "    return report(*args, **kwargs)\n"
        "cli.report_job = interrupted\n",
    )
    assert 1 <= written < 8


@pytest.mark.usefixtures("fast_paths_on", "ctrl_c_acts")  # workers: the scheduler's
def test_an_interrupt_between_a_result_and_its_report_still_reports_it(tmp_path: Path) -> None:
    """Ctrl-C landing after the main process received a result and before its report began (where
    Python's own handler still runs): that result is reported with the late ones, so the message
    still counts exactly the collections on disk."""
    written = _interrupted_batch(
        tmp_path,
        "held, entered = cli.signals_held, []\n"
        "@contextlib.contextmanager\n"
        "def interrupted_first():\n"
        "    entered.append(1)\n"
        "    if len(entered) == 2:  # as if Ctrl-C landed just before the second report\n"
        "        raise KeyboardInterrupt\n"
        "    with held():\n"
        "        yield\n"
        "cli.signals_held = interrupted_first\n",
    )
    assert written >= 2


def test_an_ignored_interrupt_stays_ignored_while_results_are_reported() -> None:
    """A batch started with Ctrl-C ignored (`cmd &` in a script) is not stopped by one: holding
    signals during a report holds only those Python handles."""
    code = (
        "import os, signal\n"
        "from kpn_collections.batch.scheduler import signals_held\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "with signals_held():\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "print(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60
    )
    assert (completed.returncode, completed.stdout) == (0, "True\n"), completed.stderr


def _interrupted_batch(tmp_path: Path, patch: str) -> int:
    """Converts the slow specs with three processes, `patch` (code run after `from kpn_collections
    import cli`) making the run interrupted; checks that it says so and that its count is exactly
    the collections on disk, and returns that count."""
    specs, output = _slow_specs(tmp_path), tmp_path / "out"
    code = (
        "import contextlib, os, signal, sys\n"
        "from kpn_collections import cli\n"
        + patch
        + f"sys.argv = ['kpn-collections', 'convert', {str(specs)!r}, '-o', {str(output)!r},"
        " '--no-cache', '-j', '3']\n"
        "cli.entry()\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300
    )
    assert completed.returncode == 130, completed.stderr
    assert "Traceback" not in completed.stderr
    written = sorted(output.iterdir())
    match = re.search(
        r"interrupted after (\d+) of 8 spec\(s\), (\d+) collection\(s\) written", completed.stderr
    )
    assert match, completed.stderr
    assert int(match[2]) == len(written) == completed.stderr.count(": wrote "), completed.stderr
    return len(written)
