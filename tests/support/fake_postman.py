"""A local, stateful fake of the Postman API (the collection and workspace endpoints publishing
uses).

It keeps collections per workspace and assigns ids as Postman does: a new collection gets an
`<owner>-<uuid>` uid; every item and saved example sent without an id gets a fresh one; one sent
with the id it has in this collection keeps it (updated in place); an id that belongs to another
collection is refused (400). GET gives a collection back with Postman's additions (ids, uids,
timestamps, empty `response` arrays, `type: text` on headers). Faults are injected per call: a 429
with `Retry-After`, a 5xx, or a timeout (the call is carried out, the answer comes after the client
stopped waiting).
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

OWNER = "12345678"


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int = 0


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    kind: str  # "429", "5xx" (any status: `status`), "timeout"
    times: int = 1
    status: int = 503
    retry_after: str | None = "1"
    delay: float = 1.0
    message: str = "Something went wrong"


@dataclass
class FakePostman:
    api_key: str
    workspaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    # uid -> collection (v2.1, with ids)
    collections: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        """Forget everything (between tests sharing one server)."""
        with self.lock:
            self.workspaces.clear()
            self.collections.clear()
            self.calls.clear()
            self.faults.clear()

    def add_workspace(self, workspace_id: str, name: str = "KPN APIs") -> None:
        self.workspaces[workspace_id] = {
            "id": workspace_id,
            "name": name,
            "type": "team",
            "description": "",
            "collections": [],
        }

    def inject(self, method: str, path: str, kind: str, **options: Any) -> None:
        """Make the next matching call(s) fail: kind 429, 5xx or timeout."""
        self.faults.append(Fault(method, re.compile(path), kind, **options))

    def writes(self) -> list[Call]:
        """The calls that change something (POST, PUT, PATCH, DELETE), failed ones included."""
        return [c for c in self.calls if c.method not in ("GET", "HEAD")]

    def workspace_collections(self, workspace_id: str) -> list[dict[str, Any]]:
        return [self.collections[uid] for uid in self.workspaces[workspace_id]["collections"]]

    # --- what the handler calls
    # ------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any, float]:
        parts = urlsplit(target)
        call = Call(method, parts.path, parse_qs(parts.query), body)
        with self.lock:
            self.calls.append(call)
            if headers.get("x-api-key") != self.api_key:
                call.status = 401
                return (
                    401,
                    {},
                    {
                        "error": {
                            "name": "AuthenticationError",
                            "message": (
                                "Invalid API Key. Every request requires a valid API Key "
                                "to be sent."
                            ),
                        }
                    },
                    0,
                )
            fault = next(
                (
                    f
                    for f in self.faults
                    if f.times > 0 and f.method == method and f.path.fullmatch(parts.path)
                ),
                None,
            )
            if fault is not None:
                fault.times -= 1
                if fault.kind == "429":
                    call.status = 429
                    extra = (
                        {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                    )
                    return (
                        429,
                        extra,
                        {
                            "error": "rateLimited",
                            "message": "Rate limit exceeded. Please retry after some time.",
                        },
                        0,
                    )
                if fault.kind == "5xx":
                    call.status = fault.status
                    return (
                        fault.status,
                        {},
                        {"error": {"name": "serverError", "message": fault.message}},
                        0,
                    )
            status, answer = self._route(method, parts.path, call.query, body)
            call.status = status
            delay = fault.delay if fault is not None and fault.kind == "timeout" else 0
            return status, {}, answer, delay

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        match = re.fullmatch(r"/workspaces/([^/]+)", path)
        if match and method == "GET":
            workspace = self.workspaces.get(match.group(1))
            if workspace is None:
                return 404, _not_found("workspace", match.group(1))
            listed = [
                {"id": c["info"]["_postman_id"], "name": c["info"]["name"], "uid": c["info"]["uid"]}
                for c in self.workspace_collections(workspace["id"])
            ]
            return 200, {
                "workspace": {
                    **{k: v for k, v in workspace.items() if k != "collections"},
                    "collections": listed,
                }
            }
        if path == "/collections" and method == "POST":
            workspace_id = (query.get("workspace") or [""])[0]
            if workspace_id not in self.workspaces:
                return 404, _not_found("workspace", workspace_id)
            problem = self._check(body, None)
            if problem:
                return 400, problem
            collection = copy.deepcopy(body["collection"])
            collection_id = str(uuid.uuid4())
            uid = f"{OWNER}-{collection_id}"
            collection["info"] = {**collection["info"], "_postman_id": collection_id, "uid": uid}
            self._assign_ids(collection.get("item") or [], set())
            self.collections[uid] = collection
            self.workspaces[workspace_id]["collections"].append(uid)
            return 200, {
                "collection": {"id": collection_id, "name": collection["info"]["name"], "uid": uid}
            }
        match = re.fullmatch(r"/collections/([^/]+)", path)
        if match:
            uid = match.group(1)
            stored = self.collections.get(uid)
            if stored is None:
                return 404, _not_found("collection", uid)
            if method == "GET":
                return 200, {"collection": _as_postman_gives_it(stored)}
            if method == "PUT":
                problem = self._check(body, uid)
                if problem:
                    return 400, problem
                collection = copy.deepcopy(body["collection"])
                collection["info"] = {
                    **collection["info"],
                    "_postman_id": stored["info"]["_postman_id"],
                    "uid": uid,
                }
                self._assign_ids(collection.get("item") or [], set(_ids(stored.get("item") or [])))
                self.collections[uid] = collection
                return 200, {
                    "collection": {
                        "id": stored["info"]["_postman_id"],
                        "name": collection["info"]["name"],
                        "uid": uid,
                    }
                }
        return 404, {"error": {"name": "notFound", "message": f"no route {method} {path}"}}

    def _check(self, body: Any, uid: str | None) -> dict[str, Any] | None:
        if not isinstance(body, dict) or not isinstance(body.get("collection"), dict):
            return _bad("malformedRequestError", "Found 1 errors with the supplied collection.")
        collection = body["collection"]
        if not isinstance(collection.get("info"), dict) or not collection["info"].get("name"):
            return _bad("malformedRequestError", "collection.info.name is required")
        others = {
            i
            for other_uid, other in self.collections.items()
            if other_uid != uid
            for i in _ids(other.get("item") or [])
        }
        taken = [i for i in _ids(collection.get("item") or []) if i in others]
        if taken:
            return _bad("instanceFoundError", f"The specified item already exists: {taken[0]}")
        return None

    def _assign_ids(self, items: list[Any], known: set[str]) -> None:
        for item in items:
            if not item.get("id"):
                item["id"] = str(uuid.uuid4())
            for response in item.get("response") or []:
                if not response.get("id"):
                    response["id"] = str(uuid.uuid4())
            self._assign_ids(item.get("item") or [], known)

    # --- edits a tester makes in the app
    # ----------------------------------------------------------------

    def edit_request(self, uid: str, name: str, change: Any) -> None:
        """Apply `change(item)` to the request called `name` (anywhere in the collection)."""
        for item in _items(self.collections[uid].get("item") or []):
            if item.get("name") == name and "request" in item:
                change(item)
                return
        raise KeyError(name)


def _items(items: list[Any]) -> Iterator[dict[str, Any]]:
    for item in items:
        yield item
        yield from _items(item.get("item") or [])


def _ids(items: list[Any]) -> Iterator[str]:
    for item in items:
        if item.get("id"):
            yield str(item["id"])
        for response in item.get("response") or []:
            if response.get("id"):
                yield str(response["id"])
        yield from _ids(item.get("item") or [])


def _as_postman_gives_it(stored: dict[str, Any]) -> dict[str, Any]:
    """The collection as Postman's GET shows it: uids beside ids, timestamps, empty arrays, header
    types."""
    collection = copy.deepcopy(stored)
    collection["info"] = {
        **collection["info"],
        "updatedAt": "2026-12-04T08:00:00.000Z",
        "createdAt": "2026-12-01T08:00:00.000Z",
        "lastUpdatedBy": OWNER,
    }

    def dress(items: list[Any]) -> None:
        for item in items:
            item["uid"] = f"{OWNER}-{item['id']}"
            if "request" in item:
                item.setdefault("response", [])
                for header in item["request"].get("header") or []:
                    header.setdefault("type", "text")
                for response in item["response"]:
                    response["uid"] = f"{OWNER}-{response['id']}"
            dress(item.get("item") or [])

    dress(collection.get("item") or [])
    return collection


def _not_found(kind: str, what: str) -> dict[str, Any]:
    return {
        "error": {
            "name": "instanceNotFoundError",
            "message": f"We could not find the {kind} you are looking for: {what}",
        }
    }


def _bad(name: str, message: str) -> dict[str, Any]:
    return {"error": {"name": name, "message": message}}


class _Handler(BaseHTTPRequestHandler):
    fake: FakePostman
    # headers and body leave in separate writes: without this, each keep-alive answer waits out the
    # client's delayed ACK (40 ms a request; half the time of a big collection's run)
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, extra, answer, delay = self.fake.handle(self.command, self.path, headers, body)
        if delay:
            time.sleep(delay)  # the client gave up by now: it retries a call that did happen
        data = json.dumps(answer).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def fake_postman(api_key: str) -> Iterator[FakePostman]:
    """A FakePostman serving on 127.0.0.1 (a free port) until the block ends."""
    fake = FakePostman(api_key)
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
