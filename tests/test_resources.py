"""Resources stay bounded on any input: example sizes, odd characters and numbers, regex warnings, signals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import REPO_ROOT
from .helpers import schema_errors


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kpn_collections", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO_ROOT)


def api(schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A one-operation definition with `schema` as request body and response."""
    use = {"content": {"application/json": {"schema": schema}}}
    return {"openapi": "3.0.3", "info": {"title": "Res", "version": "1"}, "servers": [{"url": "https://x.test"}],
            "paths": {"/a": {"post": {"requestBody": use, "responses": {"200": {"description": "ok", **use}}}}},
            **extra}


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
    "unique-items": nested_arrays({"type": "string", "format": "uuid", "minLength": 10_000}, 6)
    | {"uniqueItems": True},
    "own-example-in-arrays": nested_arrays({"type": "string", "example": "e" * 50_000}, 5),
    "enum-in-arrays": nested_arrays({"type": "string", "enum": ["e" * 50_000]}, 5),
    "wide-object": {"type": "object", "properties": {
        f"p{i}": {"type": "string", "minLength": 5_000} for i in range(300)}},
}


@pytest.mark.parametrize("name", sorted(AMPLIFIERS))
def test_generated_examples_stay_small_whatever_the_schema_asks(name: str, tmp_path: Path) -> None:
    """A short schema cannot make a big collection: the bound is on the whole example, not per level."""
    spec = tmp_path / "amp.json"
    spec.write_text(json.dumps(api(AMPLIFIERS[name])), encoding="utf-8")
    completed = run_cli("convert", str(spec), "-o", str(tmp_path / "out"), "--no-cache")
    assert completed.returncode == 0, completed.stderr[-2000:]
    written = tmp_path / "out" / "amp.postman_collection.json"
    assert written.stat().st_size < 1_000_000
    assert schema_errors(json.loads(written.read_text(encoding="utf-8"))) == []
