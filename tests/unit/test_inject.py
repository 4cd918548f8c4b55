"""`kpn-collections inject`: the definition itself gets a working client-credentials scheme."""

from __future__ import annotations

import json
from pathlib import Path

from openapi_spec_validator import validate

from kpn_collections.load.document import load_bytes, load_document

from ..acceptance.test_cli import run
from ..conftest import FIXTURES, require_corpus


def inject(spec: Path, tmp_path: Path, *args: str) -> dict:  # type: ignore[type-arg]
    out = tmp_path / ("patched" + spec.suffix)
    completed = run("inject", str(spec), "-o", str(out), *args)
    assert completed.returncode == 0, completed.stderr
    return load_bytes(out.read_bytes(), str(out)).data


def corpus(name: str) -> Path:
    return next(p for p in require_corpus() if p.name == name)


def test_missing_scopes_are_repaired_and_the_result_validates(tmp_path: Path) -> None:
    spec = corpus("kpn-ise-openapi.yml")
    patched = inject(spec, tmp_path)
    flow = patched["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    assert flow == {
        "tokenUrl": (
            "https://api-prd.kpn.com/oauth/client_credential/accesstoken"
            "?grant_type=client_credentials"
        ),
        "scopes": {},
    }
    original = load_document(spec).data
    assert list(patched) == [
        *original,
        "security",
    ]  # key order kept; global security added at the end
    assert patched["security"] == [{"oauth2": []}]
    assert list(patched["paths"]) == list(original["paths"])
    assert patched["paths"] == original["paths"]


def test_swagger2_scheme_repaired_and_token_url_overridden(tmp_path: Path) -> None:
    patched = inject(
        corpus("kpn-sms-openapi.yml"), tmp_path, "--token-url", "https://example.test/token"
    )
    assert patched["securityDefinitions"]["OAuth2"] == {
        "type": "oauth2",
        "tokenUrl": "https://example.test/token",
        "flow": "application",
        "scopes": {},
    }
    validate(patched)


def test_spec_without_security_gets_kpn_scheme_applied_globally(tmp_path: Path) -> None:
    spec = tmp_path / "open.json"
    document = json.loads(
        (FIXTURES / "oas31" / "features" / "input.json").read_text(encoding="utf-8")
    )
    del document["components"]["securitySchemes"]
    del document["security"]
    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict):
                operation.pop("security", None)
    spec.write_text(json.dumps(document, indent=2), encoding="utf-8")
    patched = inject(spec, tmp_path)
    # JSON stays JSON
    assert (tmp_path / "patched.json").read_text(encoding="utf-8").startswith('{\n  "openapi"')
    assert patched["security"] == [{"kpnClientCredentials": []}]
    scheme = patched["components"]["securitySchemes"]["kpnClientCredentials"]
    assert scheme["flows"]["clientCredentials"]["tokenUrl"].startswith(
        "https://api-prd.kpn.com/oauth/"
    )
    validate(patched)


def test_token_operation_becomes_public(tmp_path: Path) -> None:
    patched = inject(corpus("kpn-match-openapi.yml"), tmp_path)
    assert patched["paths"]["/token"]["post"]["security"] == []
    assert patched["security"] == [{"BearerAuth": []}]


def test_inject_strings_survive_yaml_round_trip(tmp_path: Path) -> None:
    spec = FIXTURES / "oas30" / "features" / "input.yaml"
    patched = inject(spec, tmp_path)
    original = load_document(spec).data
    assert patched["paths"] == original["paths"]  # `on`, `200`, dates: still the same strings


def test_inject_broken_input_fails_cleanly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("openapi: [3.0.0\n", encoding="utf-8")
    completed = run("inject", str(bad), "-o", str(tmp_path / "out.yaml"))
    assert completed.returncode == 1
    assert "error [yaml-syntax]" in completed.stderr
    assert not (tmp_path / "out.yaml").exists()
