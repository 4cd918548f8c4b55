"""A small KPN-like API gateway for tests (stdlib only).

It issues OAuth2 client-credentials tokens the way KPN's gateway does and
answers every other request with 200 JSON when it carries a valid bearer
token, 401 otherwise. Every request is recorded for the test to inspect.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import math
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, final
from urllib.parse import parse_qs, unquote_plus, urlsplit

__all__ = ["Gateway", "RecordedRequest"]

DEFAULT_TOKEN_PATH = "/oauth/client_credential/accesstoken"


@dataclass
class RecordedRequest:
    """One request as the gateway saw it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    authorized: bool
    token: str | None

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        """The body parsed as application/x-www-form-urlencoded (last value wins)."""
        parsed = parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
        return {key: values[-1] for key, values in parsed.items()}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    gateway: Gateway


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # headers and body leave in separate writes: without this, each keep-alive answer waits out the
    # client's delayed ACK (40 ms a request; half the time of a big collection's run)
    disable_nagle_algorithm = True

    def log_message(self, fmt: str, *args: Any) -> None:
        """Keep test output quiet."""

    def _handle(self) -> None:
        self.server.gateway._dispatch(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle
    do_HEAD = do_OPTIONS = do_TRACE = _handle

    def read_body(self) -> bytes:
        """Read the body fully, by Content-Length or chunked encoding."""
        encoding = self.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in encoding:
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline().split(b";", 1)[0].strip()
                size = int(size_line or b"0", 16)
                if size == 0:
                    # Skip trailers up to the blank line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_json(self, status: int, payload: dict[str, Any]) -> None:
        """Answer with a JSON body (none for HEAD, 204 and 304)."""
        data = json.dumps(payload).encode("utf-8")
        no_body = status in (204, 304) or status < 200
        self.send_response(status)
        if not no_body:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="gateway"')
        self.end_headers()
        if self.command != "HEAD" and not no_body:
            self.wfile.write(data)


@final
class Gateway:
    """A KPN-like gateway on 127.0.0.1 (random port), run as a context manager."""

    def __init__(
        self,
        client_id: str = "test-client",
        client_secret: str = "test-secret",
        token_lifetime_s: float = 3599,
        token_path: str = DEFAULT_TOKEN_PATH,
        response_status: int = 200,
        own_token_paths: tuple[str, ...] = (),
        own_token_fields: tuple[str, ...] = (),
    ) -> None:
        """`own_token_paths`: further token endpoints, like an API's own POST /token, where
        grant_type may come in the body or not at all; `own_token_fields`: body fields those
        endpoints require besides the credentials (400 invalid_request without them)."""
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime_s = token_lifetime_s
        self.token_path = token_path
        self.response_status = response_status
        self.own_token_paths = own_token_paths
        self.own_token_fields = own_token_fields
        self.requests: list[RecordedRequest] = []
        self.token_requests: list[RecordedRequest] = []
        self.issued_tokens: list[str] = []
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.gateway = self
        self._thread: threading.Thread | None = None
        self.port: int = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.token_url = f"{self.url}{token_path}?grant_type=client_credentials"

    # lifecycle -----------------------------------------------------------

    def start(self) -> Gateway:
        """Serve in a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"gateway-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # tokens --------------------------------------------------------------

    def issue_token(self) -> str:
        """Issue a new token valid for token_lifetime_s."""
        token = f"tok-{next(self._counter)}-{secrets.token_hex(8)}"
        with self._lock:
            self._expiry[token] = time.monotonic() + self.token_lifetime_s
            self.issued_tokens.append(token)
        return token

    def is_valid(self, token: str | None) -> bool:
        """Whether token was issued here and has not expired."""
        if not token:
            return False
        with self._lock:
            expiry = self._expiry.get(token)
        return expiry is not None and time.monotonic() < expiry

    def revoke(self, token: str) -> None:
        """Make a token invalid at once."""
        with self._lock:
            self._expiry.pop(token, None)

    @property
    def authorized_requests(self) -> list[RecordedRequest]:
        """The recorded non-token requests that carried a valid token."""
        with self._lock:
            return [r for r in self.requests if r.authorized]

    # handling ------------------------------------------------------------

    def _dispatch(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        headers = {name.lower(): value for name, value in handler.headers.items()}
        body = handler.read_body()
        if split.path == self.token_path or split.path in self.own_token_paths:
            record = RecordedRequest(
                handler.command, split.path, split.query, headers, body, False, None
            )
            with self._lock:
                self.token_requests.append(record)
            own = split.path in self.own_token_paths
            status, payload = self._token_response(handler.command, split.query, headers, body, own)
            handler.send_json(status, payload)
            return
        token = _bearer(headers.get("authorization"))
        authorized = self.is_valid(token)
        record = RecordedRequest(
            handler.command, split.path, split.query, headers, body, authorized, token
        )
        with self._lock:
            self.requests.append(record)
        if not authorized:
            description = "missing bearer token" if token is None else "invalid or expired token"
            handler.send_json(401, {"error": "invalid_token", "error_description": description})
            return
        handler.send_json(
            self.response_status,
            {"ok": True, "method": handler.command, "path": split.path},
        )

    def _token_response(
        self, method: str, query: str, headers: dict[str, str], body: bytes, own: bool = False
    ) -> tuple[int, dict[str, Any]]:
        if method != "POST":
            return 405, {"error": "invalid_request", "error_description": "use POST"}
        fields = _body_fields(headers, body)
        # like Apigee's OAuthV2 policy: grant_type in the query string (KPN's URLs) or the form body
        grants = parse_qs(query).get("grant_type", []) + (
            [str(fields["grant_type"])] if "grant_type" in fields else []
        )
        if len(grants) > 1:  # RFC 6749 3.2: parameters must not be included more than once
            return 400, {
                "error": "invalid_request",
                "error_description": "grant_type is given more than once",
            }
        if own and not grants:
            grants = ["client_credentials"]  # an API's own token endpoint needs no grant_type
        if grants != ["client_credentials"]:
            return 400, {
                "error": "unsupported_grant_type",
                "error_description": (
                    "grant_type must be client_credentials (in the query string or the body)"
                ),
            }
        missing = [name for name in self.own_token_fields if own and not fields.get(name)]
        if missing:
            return 400, {
                "error": "invalid_request",
                "error_description": f"missing {', '.join(missing)}",
            }
        client_id, client_secret = _credentials(headers, body)
        if client_id != self.client_id or client_secret != self.client_secret:
            return 401, {
                "error": "invalid_client",
                "error_description": "ClientId or secret is invalid",
            }
        token = self.issue_token()
        expires_in = max(0, math.floor(self.token_lifetime_s))
        return 200, {
            "refresh_token_expires_in": "0",
            "api_product_list": "[test]",
            "organization_name": "kpn",
            "token_type": "Bearer",
            "issued_at": str(int(time.time() * 1000)),
            "client_id": client_id,
            "access_token": token,
            "application_name": "test-app",
            "scope": "",
            "expires_in": str(expires_in),
            "refresh_count": "0",
            "status": "approved",
        }


def _bearer(value: str | None) -> str | None:
    """The token of an 'Authorization: Bearer X' header, or None."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _body_fields(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The fields of a JSON object or form-encoded body (last value wins), else none."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return {}
    if "json" in headers.get("content-type", "").lower() or text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    return {key: values[-1] for key, values in parse_qs(text, keep_blank_values=True).items()}


def _credentials(headers: dict[str, str], body: bytes) -> tuple[str | None, str | None]:
    """client_id and client_secret from a form or JSON body, or HTTP Basic auth."""
    client_id: str | None = None
    client_secret: str | None = None
    text = body.decode("utf-8", errors="replace").strip()
    content_type = headers.get("content-type", "").lower()
    if text:
        if "json" in content_type or text.startswith("{"):
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            if isinstance(data, dict):
                raw_id, raw_secret = data.get("client_id"), data.get("client_secret")
                client_id = raw_id if isinstance(raw_id, str) else None
                client_secret = raw_secret if isinstance(raw_secret, str) else None
        else:
            form = parse_qs(text, keep_blank_values=True)
            client_id = form.get("client_id", [None])[-1]
            client_secret = form.get("client_secret", [None])[-1]
    if client_id is None and client_secret is None:
        scheme, _, encoded = headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() == "basic" and encoded:
            try:
                decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None, None
            user, sep, password = decoded.partition(":")
            if sep:
                # RFC 6749 2.3.1: Basic credentials are form-urlencoded first.
                client_id, client_secret = unquote_plus(user), unquote_plus(password)
    return client_id, client_secret
