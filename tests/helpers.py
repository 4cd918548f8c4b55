"""Small helpers the tests share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kpn_collections.auth.token_item import GET_ACCESS_TOKEN
from kpn_collections.build.check import postman_schema_validator
from kpn_collections.model import HTTP_METHODS


def iter_requests(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every request item of a collection, depth first, in order."""
    for item in items:
        if "item" in item:
            yield from iter_requests(item["item"])
        else:
            yield item


def operation_requests(collection: dict[str, Any]) -> list[dict[str, Any]]:
    """The requests that stand for API operations: all but the injected Get Access Token request."""
    items = list(iter_requests(collection["item"]))
    if items and items[0]["name"] == GET_ACCESS_TOKEN and collection["item"][0] is items[0]:
        items = items[1:]
    return items


def count_operations(document: dict[str, Any]) -> int:
    """How many operations an API definition declares."""
    return sum(
        1
        for item in document.get("paths", {}).values()
        if isinstance(item, dict)
        for method in item
        if method in HTTP_METHODS
    )


def schema_errors(collection: dict[str, Any]) -> list[str]:
    """Every violation of Postman's v2.1.0 collection schema, as readable strings."""
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in postman_schema_validator().iter_errors(collection)
    ]


def find_request(collection: dict[str, Any], name: str) -> dict[str, Any]:
    """The request item with that name."""
    for item in iter_requests(collection["item"]):
        if item["name"] == name:
            return item
    raise KeyError(name)
