"""Every real KPN SwaggerHub export converts: no errors, schema-valid, one request per operation,
stable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kpn_collections import Settings, convert_file
from kpn_collections.load.document import load_document
from kpn_collections.write import dumps

from ..conftest import CORPUS, REPO_ROOT, corpus_specs, require_corpus
from ..helpers import count_operations, operation_requests, schema_errors

SPECS = corpus_specs() or [CORPUS / "missing-corpus.yml"]


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_corpus_spec_converts(spec: Path) -> None:
    require_corpus()
    result = convert_file(spec, Settings(check_output=True))
    assert result.errors == [], [d.format() for d in result.errors]
    assert result.collection is not None
    assert schema_errors(result.collection) == []
    requests = operation_requests(result.collection)
    assert len(requests) == count_operations(load_document(spec).data)
    again = convert_file(spec, Settings(check_output=True))
    assert again.collection is not None
    assert dumps(again.collection) == dumps(result.collection)


def test_corpus_has_all_seventeen_specs() -> None:
    assert len(require_corpus()) == 17


def test_output_identical_across_hash_seeds(tmp_path: Path) -> None:
    specs = require_corpus()
    outputs = []
    for seed in ("0", "12345"):
        out = tmp_path / seed
        env = {**os.environ, "PYTHONHASHSEED": seed}
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "kpn_collections",
                "convert",
                *map(str, specs),
                "-o",
                str(out),
                "-q",
            ],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        outputs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert len(outputs[0]) == len(specs)
    assert outputs[0] == outputs[1]


def test_known_warts_are_located_warnings() -> None:
    require_corpus()
    expectations = {
        "kpn-match-openapi.yml": ("dangling-ref", "/components/schemas/TokenResponse"),
        "kpn-ise-openapi.yml": (
            "oauth-scopes-missing",
            "/components/securitySchemes/oauth2/flows/clientCredentials",
        ),
        "kpn-tv-guide-openapi.yml": ("oauth-scopes-missing", "/components/securitySchemes/oauth2"),
        "xdroid-speech-to-text-openapi.yml": (
            "ref-to-non-schema",
            "/paths/~1job~1{job_id}/get/parameters/0/schema",
        ),
    }
    for name, (code, fragment) in expectations.items():
        result = convert_file(CORPUS / name)
        matching = [d for d in result.warnings if d.code == code]
        assert matching, f"{name}: no {code} warning in {[d.format() for d in result.diagnostics]}"
        assert any(fragment in d.pointer or fragment in d.message for d in matching)
        assert all(d.line is not None and d.file.endswith(name) for d in matching)
        assert result.collection is not None
