"""A small client of the Postman API (the endpoints publishing needs), patient with rate limits and
5xx.

Every call sends the API key in the `X-Api-Key` header (never in the URL; redirects are not
followed, so it goes to the base URL's host only), and no message this module makes contains it: an
error body that quotes it has it replaced. A 429 is retried after the `Retry-After` (or Postman's
`RetryAfter` / `X-RateLimit-RetryAfter`) seconds; a 5xx answer, a timeout or a dropped connection
after an exponential backoff; all waits of a run together stay within `max_wait` seconds. Creating a
collection is not idempotent: after a failed attempt the workspace is looked at before trying again,
and a collection that the lost attempt made is taken instead of making a second one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

DEFAULT_API_URL = "https://api.getpostman.com"
MAX_COLLECTION_BYTES = 100 * 1000 * 1000
"""Postman's API accepts collections up to 100 MB (documented for PUT /collections/{id}); counted in
decimal megabytes, the smaller reading, so a collection this tool sends is never over the limit."""
MAX_RESPONSE_BYTES = 2 * MAX_COLLECTION_BYTES
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_WAIT = 300.0
"""Seconds a run may spend waiting on rate limits and backoff, in all."""
FIRST_BACKOFF = 1.0
MAX_ATTEMPTS = 8
SLEEP: Callable[[float], None] = time.sleep
"""How the client waits (tests replace it, so that their retries take no time)."""
_RETRY_AFTER_HEADERS = ("retry-after", "retryafter", "x-ratelimit-retryafter")


class ApiError(Exception):
    """A call failed for good: `status` (0 when no answer came), and a message without the API
    key."""

    def __init__(self, status: int, message: str, *, transient: bool = False):
        super().__init__(message)
        self.status = status
        self.message = message
        self.transient = transient

    def __str__(self) -> str:
        return self.message


class CollectionTooLarge(ApiError):
    """A collection over MAX_COLLECTION_BYTES: not sent (Postman would refuse it, or fail with a
    5xx)."""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


Sender = Callable[[str, str, dict[str, str], bytes | None, float], Answer]
"""(method, url, headers, body, timeout) -> Answer; raises OSError when no answer came."""


def _urllib_send(
    method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: float
) -> Answer:
    import http.client

    parts = urlsplit(url)
    connection_type = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_type(parts.netloc, timeout=timeout)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read(MAX_RESPONSE_BYTES + 1)
        if len(raw) > MAX_RESPONSE_BYTES:
            raise OSError(f"the answer is larger than {MAX_RESPONSE_BYTES} bytes")
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", "replace")[:500]
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, parsed)
    except http.client.HTTPException as exc:
        raise OSError(str(exc) or type(exc).__name__) from None
    finally:
        connection.close()


@dataclass
class PostmanApi:
    """The Postman API at `base_url`, called with `api_key`; `sleep`, `send` are injectable for
    tests."""

    base_url: str
    api_key: str
    timeout: float = DEFAULT_TIMEOUT
    max_wait: float = DEFAULT_MAX_WAIT
    sleep: Callable[[float], None] | None = None  # default: SLEEP (looked up when called)
    send: Sender = _urllib_send
    waited: float = 0.0  # seconds waited so far in this run

    def workspace(self, workspace_id: str) -> dict[str, Any]:
        """GET /workspaces/{id}: the workspace with its collections."""
        body = self._call("GET", f"/workspaces/{quote(workspace_id, safe='')}")
        return body.get("workspace") or {} if isinstance(body, dict) else {}

    def collection(self, uid: str) -> dict[str, Any]:
        """GET /collections/{uid}: the collection as Postman holds it."""
        body = self._call("GET", f"/collections/{quote(uid, safe='')}")
        collection = body.get("collection") if isinstance(body, dict) else None
        if not isinstance(collection, dict):
            raise ApiError(200, f"GET /collections/{uid}: the answer holds no collection")
        return collection

    def update(self, uid: str, collection: dict[str, Any]) -> None:
        """PUT /collections/{uid}: replace the collection's content (items keep the ids they
        carry)."""
        self._call("PUT", f"/collections/{quote(uid, safe='')}", {"collection": collection})

    def create(self, workspace_id: str, collection: dict[str, Any]) -> str:
        """POST /collections?workspace=ID: a new collection; its uid. A failed attempt may still
        have made it (the answer was lost): before each retry the workspace is searched for a
        collection of this name that was not there before, and that one is taken."""
        name = collection.get("info", {}).get("name")
        before = self._collection_uids(workspace_id)
        path = "/collections?" + urlencode({"workspace": workspace_id})
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                body = self._call("POST", path, {"collection": collection}, retry_transient=False)
                break
            except ApiError as exc:
                if not exc.transient or attempt == MAX_ATTEMPTS:
                    raise
                self._wait(_backoff(attempt), exc)
                made = [
                    c
                    for c in self._workspace_collections(workspace_id)
                    if c.get("uid") not in before and c.get("name") == name
                ]
                if made:
                    return str(made[0]["uid"])
        uid = (body.get("collection") or {}).get("uid") if isinstance(body, dict) else None
        if not isinstance(uid, str) or not uid:
            raise ApiError(200, "POST /collections: the answer holds no collection uid")
        return uid

    def _workspace_collections(self, workspace_id: str) -> list[dict[str, Any]]:
        return [
            c for c in self.workspace(workspace_id).get("collections") or [] if isinstance(c, dict)
        ]

    def _collection_uids(self, workspace_id: str) -> set[str]:
        return {str(c.get("uid")) for c in self._workspace_collections(workspace_id)}

    # --- one call, retried
    # ------------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, payload: Any = None, *, retry_transient: bool = True
    ) -> Any:
        body = None if payload is None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
        if body is not None and len(body) > MAX_COLLECTION_BYTES:
            raise CollectionTooLarge(
                0,
                f"the collection is {len(body):,} bytes as sent, over the "
                f"{MAX_COLLECTION_BYTES:,} bytes (100 MB) Postman's API accepts; nothing "
                "was sent",
            )
        headers = {
            "X-Api-Key": self.api_key,
            "Accept": "application/json",
            "User-Agent": "kpn-collections-publish",
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                answer = self.send(
                    method, self.base_url.rstrip("/") + path, headers, body, self.timeout
                )
            except OSError as exc:
                error = ApiError(
                    0,
                    f"{method} {path.split('?')[0]}: no answer from {self._host()} "
                    f"({self._clean(str(exc) or type(exc).__name__)})",
                    transient=True,
                )
            else:
                if answer.status < 300:
                    return answer.body
                error = self._error(method, path, answer)
                if answer.status == 429 and attempt < MAX_ATTEMPTS:
                    self._wait(_retry_after(answer, attempt), error)
                    continue
            if not error.transient or not retry_transient or attempt == MAX_ATTEMPTS:
                raise error
            self._wait(_backoff(attempt), error)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _wait(self, seconds: float, error: ApiError) -> None:
        if self.waited + seconds > self.max_wait:
            raise ApiError(
                error.status,
                f"{error.message}; gave up: waiting {seconds:g} s more would pass the "
                f"{self.max_wait:g} s this run may wait in all (--max-wait)",
            )
        self.waited += seconds
        (self.sleep or SLEEP)(seconds)

    def _error(self, method: str, path: str, answer: Answer) -> ApiError:
        detail = ""
        if isinstance(answer.body, dict) and isinstance(answer.body.get("error"), dict):
            error = answer.body["error"]
            detail = f"{error.get('name', '')}: {error.get('message', '')}".strip(": ")
        elif isinstance(answer.body, str):
            detail = answer.body.strip()
        where = f"{method} {path.split('?')[0]}: {self._host()} answered {answer.status}"
        message = f"{where} ({self._clean(detail)[:300]})" if detail else where
        if answer.status == 401:
            message += "; check the API key in POSTMAN_API_KEY (Postman > Settings > API keys)"
        elif answer.status == 403:
            message += "; the API key's user may not change this collection or workspace"
        return ApiError(answer.status, message, transient=answer.status >= 500)

    def _host(self) -> str:
        return urlsplit(self.base_url).netloc or self.base_url

    def _clean(self, text: str) -> str:
        """`text` without the API key, should a server or proxy quote it."""
        return text.replace(self.api_key, "<POSTMAN_API_KEY>") if self.api_key else text


def _backoff(attempt: int) -> float:
    """Seconds to wait after the `attempt`-th failed try: 1, 2, 4, 8, ..."""
    return float(FIRST_BACKOFF * 2 ** (attempt - 1))


def _retry_after(answer: Answer, attempt: int) -> float:
    """The wait a 429 asks for (seconds; an HTTP date is not used by Postman), else the backoff."""
    for name in _RETRY_AFTER_HEADERS:
        value = answer.headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                break
    return _backoff(attempt)
