"""Golden files: each fixture converts to exactly its committed expected collection.

Regenerate after an intended change with:  python -m pytest tests/acceptance/test_golden.py
--update-golden
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kpn_collections import Settings, convert_file
from kpn_collections.diagnostics import Severity
from kpn_collections.load.document import load_document
from kpn_collections.write import dumps

from ..conftest import FIXTURES
from ..helpers import count_operations, operation_requests, schema_errors

INPUTS = sorted(p for p in FIXTURES.glob("*/*/input.*") if p.parent.parent.name != "broken")


def test_fixtures_exist_for_each_version() -> None:
    versions = {p.parent.parent.name for p in INPUTS}
    assert {"swagger20", "oas30", "oas31"} <= versions


@pytest.mark.parametrize("spec", INPUTS, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_fixture_matches_golden(spec: Path, update_golden: bool) -> None:
    result = convert_file(spec, Settings(check_output=True), display_name=spec.name)
    assert result.collection is not None, [d.format() for d in result.diagnostics]
    diagnostics_file = spec.parent / "expected.diagnostics.txt"
    shown = "".join(
        d.format() + "\n" for d in result.diagnostics if d.severity is not Severity.INFO
    )
    if update_golden and (shown or diagnostics_file.exists()):
        diagnostics_file.write_text(shown, encoding="utf-8")
    # clean fixtures convert silently; fixtures with warts snapshot exactly what users are told
    assert shown == (
        diagnostics_file.read_text(encoding="utf-8") if diagnostics_file.exists() else ""
    )
    assert schema_errors(result.collection) == []
    document = load_document(spec).data
    assert len(operation_requests(result.collection)) == count_operations(document)
    text = dumps(result.collection)
    expected = spec.parent / "expected.postman_collection.json"
    if update_golden:
        expected.write_text(text, encoding="utf-8")
    assert expected.exists(), f"no golden file: run python -m pytest {__file__} --update-golden"
    assert json.loads(expected.read_text(encoding="utf-8")) == result.collection
    assert expected.read_text(encoding="utf-8") == text
