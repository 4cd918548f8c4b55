"""Every fast path obeys the one switch: `KPN_COLLECTIONS_FAST_PATHS` (fast_paths.py).

With a fast path's name off, its code is never run (each case below makes it raise if it were) and
the answer is the reference's; every registered name is asked for somewhere in the package, and no
code asks for a name that is not registered.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kpn_collections import fast_json, fast_paths, write
from kpn_collections.batch import jobs as batch_jobs
from kpn_collections.batch import scheduler as batch
from kpn_collections.diagnostics import Diagnostics
from kpn_collections.load import document as load
from kpn_collections.model import SpecVersion
from kpn_collections.pipeline import convert_file
from kpn_collections.refs import bundle as bundle_stage
from kpn_collections.refs.resolve import RefResolver
from kpn_collections.settings import Settings
from kpn_collections.validate import fast_meta, library, parallel, schema_check
from kpn_collections.validate.schema_check import SchemaCheck

from ..conftest import FIXTURES, REPO_ROOT

PACKAGE_DIR = REPO_ROOT / "kpn_collections"
ASKED = re.compile(r"""enabled\(\s*["']([a-z0-9-]+)["']\s*\)""")


def _raise(*_: Any, **__: Any) -> Any:
    raise AssertionError("a fast path ran while switched off")


def test_every_fast_path_is_asked_for_and_only_registered_names_are() -> None:
    asked = {
        name
        for path in PACKAGE_DIR.rglob("*.py")
        for name in ASKED.findall(path.read_text(encoding="utf-8"))
    }
    assert asked == set(fast_paths.FAST_PATHS)


def test_the_switch_reads_on_off_and_names() -> None:
    every = frozenset(fast_paths.FAST_PATHS)
    assert fast_paths._switched_on(None) == every
    assert fast_paths._switched_on(" on ") == every
    assert fast_paths._switched_on("off") == frozenset()
    assert fast_paths._switched_on("yaml-rs, orjson") == {"yaml-rs", "orjson"}


def test_an_unknown_name_is_a_usage_error_before_anything_runs(tmp_path: Path) -> None:
    env = {**os.environ, "KPN_COLLECTIONS_FAST_PATHS": "yaml-rs,yaml_rs"}
    out = str(tmp_path / "out")
    completed = subprocess.run(
        [sys.executable, "-m", "kpn_collections", "convert", str(FIXTURES / "oas30"), "-o", out],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert completed.returncode == 2, completed.stderr
    assert "no fast path is named 'yaml_rs'" in completed.stderr
    assert "Traceback" not in completed.stderr and not (tmp_path / "out").exists()


YAML_TEXT = b"openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n"
JSON_TEXT = b'{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}}'


def _load_yaml() -> Any:
    return load.load_bytes(YAML_TEXT, "api.yaml").data


def _locate_json() -> Any:
    source = load.load_bytes(JSON_TEXT, "api.json")
    return source.locate(""), source.locate("/info/title")


def _check_schema() -> Any:
    check = SchemaCheck({"type": "object", "required": ["a"]})
    return [e.message for e in check.iter_errors({})], [
        e.message for e in check.iter_errors({"a": 1})
    ]


def _meta_check() -> Any:
    """The semantic pass asks the meta-check fast path of each schema; off, the reference checks."""
    findings = []
    for version, fixture in (
        (SpecVersion.OPENAPI_3_0, "oas30"),
        (SpecVersion.OPENAPI_3_1, "oas31"),
    ):
        document = load.load_document(next((FIXTURES / fixture / "features").glob("input.*"))).data
        errors = library.semantic_errors(document, version, RefResolver(document), well_formed=True)
        findings.append([e.message for e in errors])
    return findings


def _meta_schema() -> Any:
    return library.meta_schema(SpecVersion.OPENAPI_3_0)["$schema"]


def _semantic() -> Any:
    document = load.load_document(FIXTURES / "oas30" / "features" / "input.yaml").data
    resolver = RefResolver(document)
    return [
        e.message
        for e in library.semantic_errors(
            document, SpecVersion.OPENAPI_3_0, resolver, well_formed=True
        )
    ]


def _bundle() -> Any:
    source = load.load_bytes(YAML_TEXT, "api.yaml")
    result = bundle_stage.bundle(
        source, SpecVersion.OPENAPI_3_0, "file:///api.yaml", _raise, Diagnostics()
    )
    return result.document


def _write() -> Any:
    return write.dumps({"a": [1, 2.5, "x"]}), write.json_text({"b": [None, True]})


def _validate_beside(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(parallel, "MIN_SOURCE_CHARACTERS", 0)
    result = convert_file(FIXTURES / "oas30" / "features" / "input.yaml", validate_beside=True)
    return [d.format() for d in result.diagnostics]


def _schedule(tmp_path: Path) -> Any:
    specs = [FIXTURES / "oas30" / name / "input.yaml" for name in ("features", "warts")]
    jobs = [
        batch_jobs.Job(index, spec, tmp_path / f"{index}.json", Settings())
        for index, spec in enumerate(specs)
    ]
    results = list(batch.run_jobs(jobs, 2, lambda: None))
    return [r.index for r in results], [p.read_bytes() for p in sorted(tmp_path.glob("*.json"))]


CASES: dict[str, tuple[list[tuple[Any, str]], Callable[..., Any]]] = {
    "yaml-rs": ([(load, "fast_yaml")], _load_yaml),
    "text-locator": ([(load, "root_position"), (load, "JsonPositions")], _locate_json),
    "jsonschema-rs": ([(schema_check, "jsonschema_rs")], _check_schema),
    "meta-check": ([(fast_meta, "oas30_meta_check"), (fast_meta, "oas31_meta_fast")], _meta_check),
    "meta-schema-json": ([(library, "resources")], _meta_schema),
    "semantic": ([(library, "SemanticPass")], _semantic),
    "local-refs": ([(bundle_stage, "text_has_only_local_refs")], _bundle),
    "orjson": ([(fast_json, "orjson")], _write),
    "validate-beside": ([(parallel, "validate_beside")], _validate_beside),
    "scheduler": ([(batch, "_input_size")], _schedule),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_fast_path_switched_off_never_runs_and_gives_the_same_answer(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    targets, action = CASES[name]

    def run() -> Any:
        if action is _validate_beside:
            return action(monkeypatch)
        if action is _schedule:
            return action(tmp_path)
        return action()

    fast_answer = run()
    monkeypatch.setattr(fast_paths, "ON", fast_paths.ON - {name})
    for owner, attribute in targets:
        monkeypatch.setattr(owner, attribute, _Tripwire(), raising=False)
    assert run() == fast_answer


class _Tripwire:
    """Stands in for a fast path's code: any use of it fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a fast path was used while switched off (.{name})")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a fast path ran while switched off")

    def __bool__(self) -> bool:
        raise AssertionError("a fast path was consulted while switched off")


_LOADED = (
    "import sys\nfrom kpn_collections.validate import spec\nspec.prepare()\n"
    "print('pydantic_settings' in sys.modules)"
)


@pytest.mark.parametrize(
    ("switch", "variable", "loaded"),
    [
        ("on", None, "False"),
        ("off", None, "True"),
        ("on", "openapi_spec_validator_resolved_cache_maxsize", "True"),  # their names: any case
        ("on", "OPENAPI_SCHEMA_VALIDATOR_COMPILED_VALIDATOR_CACHE_MAX_SIZE", "True"),
    ],
)
def test_the_library_settings_stand_in_only_where_they_give_the_defaults(
    switch: str, variable: str | None, loaded: str
) -> None:
    """Fast path "library-settings" works at import, so in a fresh process: on, the validators load
    without pydantic-settings; off, or with a variable of the libraries' set, their own settings."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith(("OPENAPI_SPEC_VALIDATOR_", "OPENAPI_SCHEMA_VALIDATOR_"))
    }
    env["KPN_COLLECTIONS_FAST_PATHS"] = switch
    if variable is not None:
        env[variable] = "64"
    completed = subprocess.run(
        [sys.executable, "-c", _LOADED], capture_output=True, text=True, env=env, check=True
    )
    assert completed.stdout.strip() == loaded, completed.stderr


def test_the_stand_in_settings_are_the_libraries_defaults() -> None:
    """The stand-ins give what the libraries' own settings give with no variable set, and every
    name the libraries import from their settings modules."""
    from kpn_collections.validate import library_settings

    code = (
        "from openapi_spec_validator import settings as spec\n"
        "from openapi_schema_validator import settings as schema\n"
        "s, c = spec.OpenAPISpecValidatorSettings(), schema.OpenAPISchemaValidatorSettings()\n"
        "print(s.resolved_cache_maxsize, s.schema_validator_backend,"
        " spec.get_resolved_cache_maxsize(), spec.get_schema_validator_backend(),"
        " c.compiled_validator_cache_max_size,"
        " schema.get_settings().compiled_validator_cache_max_size)"
    )
    env = {**os.environ, "KPN_COLLECTIONS_FAST_PATHS": "off"}
    env = {k: v for k, v in env.items() if not k.upper().startswith(library_settings.PREFIXES)}
    real = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout.split()
    spec, schema = library_settings.SpecValidatorSettings, library_settings.SchemaValidatorSettings
    assert real == [
        str(spec.resolved_cache_maxsize),
        spec.schema_validator_backend,
        str(spec.resolved_cache_maxsize),
        spec.schema_validator_backend,
        str(schema.compiled_validator_cache_max_size),
        str(schema.compiled_validator_cache_max_size),
    ]
    modules = library_settings.stand_ins()
    imported = re.compile(
        r"from (openapi_s\w+_validator\.settings) import (?:\(([^)]*)\)|([\w, ]+))"
    )
    for package in ("openapi_spec_validator", "openapi_schema_validator"):
        found = importlib.util.find_spec(package)
        assert found is not None and found.submodule_search_locations is not None
        for path in Path(next(iter(found.submodule_search_locations))).rglob("*.py"):
            for module, grouped, names in imported.findall(path.read_text(encoding="utf-8")):
                for name in re.findall(r"\w+", grouped + " " + names):
                    assert hasattr(modules[module], name), (path, name)
