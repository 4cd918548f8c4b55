"""Tests of the test-support gateway (tests/support/gateway.py) and newman runner."""

from __future__ import annotations

import base64
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.support import newman
from tests.support.gateway import Gateway
from tests.support.newman import NewmanRun, require_newman, response_text, run_newman

SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"


def call(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    data: bytes | Iterable[bytes] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Send a request; return (status, lower-cased headers, body) even for 4xx."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status = int(response.status)
            head = {k.lower(): v for k, v in response.headers.items()}
            return status, head, response.read()
    except urllib.error.HTTPError as error:
        head = {k.lower(): v for k, v in error.headers.items()}
        body = error.read()
        error.close()
        return error.code, head, body


def get_token(
    gateway: Gateway, client_id: str = "test-client", client_secret: str = "test-secret"
) -> tuple[int, dict[str, Any]]:
    """POST form credentials to the token URL; return (status, JSON answer)."""
    form = urlencode({"client_id": client_id, "client_secret": client_secret}).encode()
    status, _, body = call(
        "POST",
        gateway.token_url,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        data=form,
    )
    return status, json.loads(body)


def bearer(token: str) -> dict[str, str]:
    """An Authorization header for a bearer token."""
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    """A running gateway with the default credentials."""
    with Gateway() as gw:
        yield gw


# token endpoint -------------------------------------------------------------


def test_urls(gateway: Gateway) -> None:
    assert gateway.url.startswith("http://127.0.0.1:")
    assert gateway.url == f"http://127.0.0.1:{gateway.port}"
    assert (
        gateway.token_url
        == f"{gateway.url}/oauth/client_credential/accesstoken?grant_type=client_credentials"
    )


def test_token_issued_like_kpn(gateway: Gateway) -> None:
    before_ms = int(time.time() * 1000)
    status, answer = get_token(gateway)
    after_ms = int(time.time() * 1000)
    assert status == 200
    assert all(isinstance(value, str) for value in answer.values())
    assert answer["token_type"] == "Bearer"
    assert answer["expires_in"] == "3599"
    assert answer["client_id"] == "test-client"
    assert answer["status"] == "approved"
    assert answer["scope"] == ""
    assert before_ms - 1 <= int(answer["issued_at"]) <= after_ms + 1
    assert gateway.issued_tokens == [answer["access_token"]]
    assert gateway.requests == []
    [record] = gateway.token_requests
    assert record.method == "POST"
    assert record.path == "/oauth/client_credential/accesstoken"
    assert record.query == "grant_type=client_credentials"
    assert record.headers["content-type"] == "application/x-www-form-urlencoded"
    assert record.form() == {"client_id": "test-client", "client_secret": "test-secret"}


def test_tokens_are_unique(gateway: Gateway) -> None:
    tokens = {get_token(gateway)[1]["access_token"] for _ in range(5)}
    assert len(tokens) == 5
    assert set(gateway.issued_tokens) == tokens


def test_token_with_basic_auth(gateway: Gateway) -> None:
    basic = base64.b64encode(b"test-client:test-secret").decode()
    status, _, body = call(
        "POST",
        gateway.token_url,
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        data=b"",
    )
    assert status == 200
    assert json.loads(body)["access_token"] in gateway.issued_tokens


def test_token_with_json_body(gateway: Gateway) -> None:
    payload = json.dumps({"client_id": "test-client", "client_secret": "test-secret"})
    status, headers, body = call(
        "POST",
        gateway.token_url,
        headers={"Content-Type": "application/json"},
        data=payload.encode(),
    )
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["token_type"] == "Bearer"


@pytest.mark.parametrize(
    ("client_id", "client_secret"),
    [("test-client", "wrong"), ("someone-else", "test-secret"), ("", "")],
)
def test_token_wrong_credentials(gateway: Gateway, client_id: str, client_secret: str) -> None:
    status, answer = get_token(gateway, client_id, client_secret)
    assert status == 401
    assert answer["error"] == "invalid_client"
    assert answer["error_description"]
    assert gateway.issued_tokens == []


def test_token_without_credentials(gateway: Gateway) -> None:
    status, _, body = call("POST", gateway.token_url, data=b"")
    assert status == 401
    assert json.loads(body)["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("query", "grant", "error"),
    [
        ("", "", "unsupported_grant_type"),
        ("?grant_type=password", "", "unsupported_grant_type"),
        ("", "&grant_type=password", "unsupported_grant_type"),
        ("?grant=client_credentials", "", "unsupported_grant_type"),
        (
            "?grant_type=client_credentials",
            "&grant_type=client_credentials",
            "invalid_request",
        ),  # given twice
    ],
)
def test_token_needs_one_client_credentials_grant(
    gateway: Gateway, query: str, grant: str, error: str
) -> None:
    form = b"client_id=test-client&client_secret=test-secret" + grant.encode()
    url = f"{gateway.url}/oauth/client_credential/accesstoken{query}"
    status, _, body = call("POST", url, data=form)
    assert status == 400
    assert json.loads(body)["error"] == error
    assert gateway.issued_tokens == []


def test_token_grant_in_the_form_body(gateway: Gateway) -> None:
    form = b"client_id=test-client&client_secret=test-secret&grant_type=client_credentials"
    status, _, _ = call("POST", f"{gateway.url}/oauth/client_credential/accesstoken", data=form)
    assert status == 200


def test_own_token_endpoint_requires_its_fields() -> None:
    with Gateway(own_token_paths=("/oauth2/token",), own_token_fields=("scope",)) as gw:
        form = b"client_id=test-client&client_secret=test-secret"
        status, _, body = call("POST", f"{gw.url}/oauth2/token", data=form)
        assert (status, json.loads(body)["error_description"]) == (400, "missing scope")
        assert call("POST", f"{gw.url}/oauth2/token", data=form + b"&scope=verify")[0] == 200


def test_custom_credentials_and_token_path() -> None:
    with Gateway(client_id="me", client_secret="s3cret", token_path="/oauth2/token") as gw:
        assert gw.token_url == f"{gw.url}/oauth2/token?grant_type=client_credentials"
        assert get_token(gw)[0] == 401
        status, answer = get_token(gw, "me", "s3cret")
        assert status == 200
        assert answer["client_id"] == "me"


# protected requests ---------------------------------------------------------


def test_protected_path_needs_token(gateway: Gateway) -> None:
    status, headers, body = call("GET", f"{gateway.url}/ping")
    assert status == 401
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == "invalid_token"
    [record] = gateway.requests
    assert (record.method, record.path, record.authorized, record.token) == (
        "GET",
        "/ping",
        False,
        None,
    )


def test_unknown_token_rejected(gateway: Gateway) -> None:
    status, _, body = call("GET", f"{gateway.url}/ping", headers=bearer("tok-made-up"))
    assert status == 401
    assert json.loads(body)["error"] == "invalid_token"
    [record] = gateway.requests
    assert record.token == "tok-made-up"
    assert not record.authorized


def test_basic_auth_does_not_open_protected_paths(gateway: Gateway) -> None:
    basic = base64.b64encode(b"test-client:test-secret").decode()
    status, _, _ = call("GET", f"{gateway.url}/ping", headers={"Authorization": f"Basic {basic}"})
    assert status == 401


def test_protected_path_with_token(gateway: Gateway) -> None:
    token = get_token(gateway)[1]["access_token"]
    status, headers, body = call(
        "GET",
        f"{gateway.url}/v1/things/42?x=1&y=two",
        headers={**bearer(token), "X-Extra": "yes"},
    )
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"ok": True, "method": "GET", "path": "/v1/things/42"}
    [record] = gateway.requests
    assert record.path == "/v1/things/42"
    assert record.query == "x=1&y=two"
    assert record.headers["x-extra"] == "yes"
    assert record.headers["authorization"] == f"Bearer {token}"
    assert record.authorized
    assert record.token == token
    assert gateway.authorized_requests == [record]


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_any_method_with_token(gateway: Gateway, method: str) -> None:
    token = get_token(gateway)[1]["access_token"]
    data = b'{"a": 1}' if method in ("POST", "PUT", "PATCH") else None
    status, _, body = call(
        method,
        f"{gateway.url}/any/where",
        headers={**bearer(token), "Content-Type": "application/json"},
        data=data,
    )
    assert status == 200
    assert json.loads(body) == {"ok": True, "method": method, "path": "/any/where"}
    [record] = gateway.requests
    assert record.method == method
    assert record.body == (data or b"")
    if data:
        assert record.json() == {"a": 1}


def test_head_has_no_body(gateway: Gateway) -> None:
    token = get_token(gateway)[1]["access_token"]
    status, _, body = call("HEAD", f"{gateway.url}/ping", headers=bearer(token))
    assert status == 200
    assert body == b""
    assert gateway.requests[0].method == "HEAD"
    # The connection stays usable: a following request on a new call works too.
    assert call("GET", f"{gateway.url}/ping", headers=bearer(token))[0] == 200


def test_chunked_body_is_read(gateway: Gateway) -> None:
    token = get_token(gateway)[1]["access_token"]
    chunks = [b'{"part": ', b'"one", ', b'"more": "two"}']
    status, _, _ = call(
        "POST",
        f"{gateway.url}/upload",
        headers={**bearer(token), "Content-Type": "application/json"},
        data=iter(chunks),
    )
    assert status == 200
    [record] = gateway.requests
    assert record.headers.get("transfer-encoding") == "chunked"
    assert record.json() == {"part": "one", "more": "two"}


def test_chunked_token_request(gateway: Gateway) -> None:
    chunks = [b"client_id=test-client", b"&client_secret=test-secret"]
    status, _, body = call(
        "POST",
        gateway.token_url,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        data=iter(chunks),
    )
    assert status == 200
    assert json.loads(body)["access_token"] in gateway.issued_tokens


@pytest.mark.parametrize("response_status", [201, 204])
def test_response_status(response_status: int) -> None:
    with Gateway(response_status=response_status) as gw:
        token = get_token(gw)[1]["access_token"]
        status, _, body = call("DELETE", f"{gw.url}/things/1", headers=bearer(token))
        assert status == response_status
        if response_status == 204:
            assert body == b""
        else:
            assert json.loads(body)["method"] == "DELETE"
        # An unauthorized request is still a 401.
        assert call("DELETE", f"{gw.url}/things/1")[0] == 401


# expiry ---------------------------------------------------------------------


def test_token_expires() -> None:
    with Gateway(token_lifetime_s=0.3) as gw:
        status, answer = get_token(gw)
        assert status == 200
        assert answer["expires_in"] == "0"
        token = answer["access_token"]
        assert call("GET", f"{gw.url}/ping", headers=bearer(token))[0] == 200
        time.sleep(0.5)
        status, _, body = call("GET", f"{gw.url}/ping", headers=bearer(token))
        assert status == 401
        assert json.loads(body)["error"] == "invalid_token"
        assert [r.authorized for r in gw.requests] == [True, False]
        # A fresh token works again.
        fresh = get_token(gw)[1]["access_token"]
        assert fresh != token
        assert call("GET", f"{gw.url}/ping", headers=bearer(fresh))[0] == 200


def test_expires_in_rounds_down() -> None:
    with Gateway(token_lifetime_s=1.7) as gw:
        assert get_token(gw)[1]["expires_in"] == "1"


def test_revoke(gateway: Gateway) -> None:
    token = get_token(gateway)[1]["access_token"]
    gateway.revoke(token)
    assert call("GET", f"{gateway.url}/ping", headers=bearer(token))[0] == 401


# lifecycle ------------------------------------------------------------------


def test_stop_closes_port() -> None:
    with Gateway() as gw:
        port = gw.port
        assert call("GET", f"{gw.url}/ping")[0] == 401
    with (
        pytest.raises(OSError),
        socket.create_connection(("127.0.0.1", port), timeout=1),
    ):
        pass


def test_two_gateways_get_different_ports() -> None:
    with Gateway() as first, Gateway() as second:
        assert first.port != second.port


# newman ---------------------------------------------------------------------


def test_require_newman_skips_locally_fails_on_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(newman, "NEWMAN", tmp_path / "no-newman")
    assert not newman.newman_available()
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="npm ci"):
        require_newman()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="npm ci"):
        require_newman()


def _script(listen: str, *lines: str) -> dict[str, Any]:
    return {
        "listen": listen,
        "script": {"type": "text/javascript", "exec": list(lines)},
    }


def _token_item() -> dict[str, Any]:
    return {
        "name": "Get token",
        "event": [
            _script(
                "test",
                'pm.test("token issued", function () {',
                "    pm.response.to.have.status(200);",
                '    pm.collectionVariables.set("access_token", pm.response.json().access_token);',
                "});",
            )
        ],
        "request": {
            "method": "POST",
            "header": [],
            "body": {
                "mode": "urlencoded",
                "urlencoded": [
                    {"key": "client_id", "value": "{{client_id}}", "type": "text"},
                    {
                        "key": "client_secret",
                        "value": "{{client_secret}}",
                        "type": "text",
                    },
                ],
            },
            "url": "{{tokenUrl}}",
        },
    }


def _ping_item(name: str = "Ping", *test_lines: str) -> dict[str, Any]:
    lines = test_lines or (
        'pm.test("status is 200", function () {',
        "    pm.response.to.have.status(200);",
        '    pm.expect(pm.response.json().path).to.eql("/ping");',
        "});",
    )
    return {
        "name": name,
        "event": [_script("test", *lines)],
        "request": {
            "method": "GET",
            "header": [],
            "auth": {
                "type": "bearer",
                "bearer": [{"key": "token", "value": "{{access_token}}", "type": "string"}],
            },
            "url": "{{baseUrl}}/ping",
        },
    }


def _collection(*items: dict[str, Any]) -> dict[str, Any]:
    return {
        "info": {"name": "gateway smoke", "schema": SCHEMA},
        "item": list(items),
        "variable": [{"key": "access_token", "value": ""}],
    }


def _env(gw: Gateway) -> dict[str, str]:
    return {
        "baseUrl": gw.url,
        "tokenUrl": gw.token_url,
        "client_id": gw.client_id,
        "client_secret": gw.client_secret,
    }


def test_newman_against_gateway(gateway: Gateway) -> None:
    require_newman()
    ok = run_newman(_collection(_token_item(), _ping_item()), env_vars=_env(gateway))
    assert ok.returncode == 0, ok.describe()
    assert ok.failures == []
    assert ok.script_errors() == []
    assert ok.executed_items() == ["Get token", "Ping"]
    assert ok.assertions() == [
        ("Get token", "token issued", True, None),
        ("Ping", "status is 200", True, None),
    ]
    assert json.loads(response_text(ok.execution("Ping")))["path"] == "/ping"
    [token_request] = gateway.token_requests
    assert token_request.query == "grant_type=client_credentials"
    assert token_request.form() == {
        "client_id": "test-client",
        "client_secret": "test-secret",
    }
    [ping] = gateway.requests
    assert (ping.method, ping.path, ping.authorized) == ("GET", "/ping", True)
    assert ping.token == gateway.issued_tokens[0]

    # A broken script shows up in failures and in script_errors(); a failed
    # expectation shows up in failures but is not a script error.
    broken = run_newman(
        _collection(
            _token_item(),
            _ping_item(
                "Throws in test",
                'pm.test("x", function () { throw new Error("boom"); });',
            ),
            _ping_item("Syntax error", 'pm.test("y", function () {'),
            _ping_item(
                "Wrong status",
                'pm.test("is 201", function () { pm.response.to.have.status(201); });',
            ),
        ),
        env_vars=_env(gateway),
    )
    assert broken.returncode != 0
    _check_broken(broken)


def _check_broken(run: NewmanRun) -> None:
    failed = {(f["source"]["name"], f["error"]["name"], f["at"]) for f in run.failures}
    assert failed == {
        ("Throws in test", "Error", "assertion:0 in test-script"),
        ("Syntax error", "SyntaxError", "test-script"),
        ("Wrong status", "AssertionError", "assertion:0 in test-script"),
    }, run.describe()
    errors = run.script_errors()
    assert len(errors) == 2, errors
    assert any("boom" in e and e.startswith("Throws in test") for e in errors)
    assert any("SyntaxError" in e and e.startswith("Syntax error") for e in errors)
    assert run.failed_assertions() == [
        ("Throws in test", "x", "boom"),
        (
            "Wrong status",
            "is 201",
            "expected response to have status code 201 but got 200",
        ),
    ]
    assert run.request_errors() == []
