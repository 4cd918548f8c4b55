"""Property-based tests: mutated and truncated definitions either convert to a schema-valid
collection or fail with located errors; never an exception, never a hang.

The bases are the small fixtures and the real KPN exports under 100 KB. Hypothesis runs derandomized
(a fixed seed, the same examples on every run) with a fixed example budget, so CI time is bounded
and a failure reproduces; `deadline` is the per-document time bound (a hang guard, not a speed
target).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpn_collections import Settings, cli, convert_document
from kpn_collections.diagnostics import Severity
from kpn_collections.load.document import load_bytes

from ..conftest import FIXTURES, corpus_specs
from ..helpers import schema_errors

SMALL = 100_000
BASES = sorted(p for p in FIXTURES.glob("*/*/input.*") if p.stat().st_size < SMALL) + [
    p for p in corpus_specs() if p.stat().st_size < SMALL
]
CAMPAIGN = int(os.environ.get("KPN_FUZZ_EXAMPLES", "0"))
"""A longer, randomized local campaign: `KPN_FUZZ_EXAMPLES=5000 pytest
tests/equivalence/test_fuzz.py` (CI: fixed budget)."""
BUDGET = settings(
    max_examples=CAMPAIGN or 200,
    deadline=timedelta(seconds=20),
    derandomize=not CAMPAIGN,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LINE = re.compile(
    r"^(?P<file>[^:]+)(?::(?P<line>\d+)(?::\d+)?)?: error \[(?P<code>[a-z0-9-]+)\]"
    r"(?: at #(?P<pointer>\S*))?: .+? \(hint: (?P<hint>.+)\)$"
)
UNLOCATED = {
    "empty",
    "not-text",
    "too-large",
    "not-openapi",
}  # whole-file problems: there is no line to name


@functools.cache
def base_text(index: int) -> bytes:
    return BASES[index].read_bytes()


@functools.cache
def base_document(index: int) -> Any:
    return load_bytes(
        base_text(index), BASES[index].name
    ).data  # the converter's own reading: string keys


def check_outcome(
    collection: dict[str, Any] | None, diagnostics: tuple[Any, ...] | list[Any]
) -> None:
    errors = [d for d in diagnostics if d.severity is Severity.ERROR]
    if collection is not None:
        assert errors == []
        assert schema_errors(collection) == []
        return
    assert errors, "no collection and no error to say why"
    for error in errors:
        assert error.file and error.message and error.hint, error.format()
        assert error.line is not None or error.pointer or error.code in UNLOCATED, error.format()


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def paths_in(document: Any) -> list[list[Any]]:
    """Every path (list of keys/indexes) to a node, breadth first, capped for speed."""
    found: list[list[Any]] = [[]]
    queue: list[tuple[list[Any], Any]] = [([], document)]
    while queue and len(found) < 3000:
        path, node = queue.pop(0)
        children = (
            node.items()
            if isinstance(node, dict)
            else enumerate(node)
            if isinstance(node, list)
            else []
        )
        for key, child in children:
            found.append([*path, key])
            queue.append(([*path, key], child))
    return found


def parent_of(document: Any, path: list[Any]) -> Any:
    node = document
    for key in path[:-1]:
        node = node[key]
    return node


@st.composite
def mutated_documents(draw: st.DrawFn) -> Any:
    document = copy.deepcopy(base_document(draw(st.integers(0, len(BASES) - 1))))
    for _ in range(draw(st.integers(1, 4))):
        paths = paths_in(document)
        if len(paths) < 2:
            break
        path = paths[draw(st.integers(1, len(paths) - 1))]
        parent, key = parent_of(document, path), path[-1]
        action = draw(st.sampled_from(["delete", "replace", "swap", "duplicate", "rename"]))
        if action == "delete":
            del parent[key]
        # a name the regex engines may read differently ("Pet\n", "2\u0660\u0660")
        elif action == "rename":
            if isinstance(parent, dict) and isinstance(key, str):
                parent[key + draw(st.sampled_from(["\n", "\u0660", "\r", "\ufeff", "$"]))] = (
                    parent.pop(key)
                )
        elif action == "replace":
            parent[key] = draw(JSON_VALUES)
        else:
            other = paths[draw(st.integers(1, len(paths) - 1))]
            if other[: len(path)] == path or path[: len(other)] == other:
                continue  # one contains the other
            other_parent, other_key = parent_of(document, other), other[-1]
            if action == "swap":
                parent[key], other_parent[other_key] = other_parent[other_key], parent[key]
            else:
                parent[key] = copy.deepcopy(other_parent[other_key])
    return document


@pytest.mark.skipif(not BASES, reason="no fixtures found")
@BUDGET
@given(mutated_documents())
def test_mutated_documents_convert_or_fail_located(document: Any) -> None:
    if not isinstance(document, dict):
        return
    result = convert_document(document, Settings(), source="mutated.yaml")
    check_outcome(result.collection, result.diagnostics)


@pytest.mark.skipif(not BASES, reason="no fixtures found")
@BUDGET
@given(st.data())
def test_truncated_and_corrupted_files_exit_0_or_1_with_located_errors(data: st.DataObject) -> None:
    """Through the command line (in-process): exit code 0 and a valid collection, or 1, located
    errors and nothing written."""
    index = data.draw(st.integers(0, len(BASES) - 1))
    raw = bytearray(base_text(index))
    raw = raw[: data.draw(st.integers(0, len(raw)))]
    for _ in range(data.draw(st.integers(0, 3))):
        if raw:
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    with tempfile.TemporaryDirectory() as scratch:
        spec = Path(scratch) / BASES[index].name
        spec.write_bytes(bytes(raw))
        out = Path(scratch) / "out"
        result = CliRunner().invoke(
            cli.main, ["convert", str(spec), "-o", str(out), "--no-cache", "-q"]
        )
        assert result.exit_code in (0, 1), result.output
        written = list(out.glob("*.json")) if out.is_dir() else []
        if result.exit_code == 0:
            [collection] = written
            assert schema_errors(json.loads(collection.read_text(encoding="utf-8"))) == []
            return
        assert written == [] and f"{spec}: FAILED" in result.output
        errors = [line for line in result.output.splitlines() if " error [" in line]
        assert errors, result.output
        for line in errors:
            match = LINE.match(line)
            assert match and match["file"] == str(spec) and match["hint"], line
            assert match["line"] or match["pointer"] or match["code"] in UNLOCATED, line


@BUDGET
@given(JSON_VALUES)
def test_arbitrary_json_values_as_definitions(value: Any) -> None:
    document = (
        value
        if isinstance(value, dict)
        else {"openapi": "3.0.3", "info": {"title": "x", "version": "1"}, "paths": value}
    )
    result = convert_document(document, Settings(), source="random.yaml")
    check_outcome(result.collection, result.diagnostics)
