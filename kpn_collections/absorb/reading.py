"""Reading collections as Postman writes them: requests found in the item tree, and each part of a
request with what Postman adds on export (ids, key order, header `type`s, `exec` line splitting,
description objects) normalised away."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..diagnostics import pointer_join

Signature = tuple[str, str]  # (METHOD, host/path as Postman holds it, `:name` for path variables)


@dataclass
class Request:
    item: dict[str, Any]
    pointer: str
    folder: str | None  # the top-level folder it sits in


def walk_requests(items: Any, pointer: str, folder: str | None) -> Iterator[Request]:
    for index, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            continue
        here = pointer + pointer_join("item", index)
        if "request" in item:
            yield Request(item, here, folder)
        elif isinstance(item.get("item"), list):
            yield from walk_requests(
                item["item"], here, folder if folder is not None else str(item.get("name"))
            )


def signature_of(item: dict[str, Any]) -> Signature:
    request = item.get("request")
    if isinstance(request, str):
        return "GET", url_text(request)
    request = request if isinstance(request, dict) else {}
    return str(request.get("method", "GET")).upper(), url_text(request.get("url"))


def url_text(url: Any) -> str:
    """`{{baseUrl}}/customers/:customerId` from a url string or object (a Postman export may drop
    `raw`)."""
    if isinstance(url, dict):
        host, path = url.get("host"), url.get("path")
        if host is None and path is None:
            return url_text(url.get("raw", ""))
        host_text = ".".join(str(h) for h in host) if isinstance(host, list) else str(host or "")
        segments = path if isinstance(path, list) else str(path or "").strip("/").split("/")
        texts = [s.get("value", "") if isinstance(s, dict) else str(s) for s in segments]
        return host_text + "".join("/" + s for s in texts if s != "" or len(texts) > 1)
    text = str(url or "").split("?", 1)[0].split("#", 1)[0]
    return text.rstrip("/") if text.count("/") > 0 else text


def as_list(value: Any) -> list[Any]:
    """A list from an edited collection: anything else counts as empty."""
    return value if isinstance(value, list) else []


def text_of(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("content", "")
    return value if isinstance(value, str) else ""


def script_lines(item: dict[str, Any], listen: str) -> list[str]:
    """A script's lines however Postman split them (one string, a list, lines with newlines in
    them)."""
    lines: list[str] = []
    for event in as_list(item.get("event")):
        if isinstance(event, dict) and event.get("listen") == listen:
            script = event.get("script")
            exec_lines = script.get("exec", []) if isinstance(script, dict) else []
            text = (
                exec_lines
                if isinstance(exec_lines, str)
                else "\n".join(str(x) for x in as_list(exec_lines))
            )
            lines.extend(text.split("\n"))
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def request_of(item: dict[str, Any]) -> dict[str, Any]:
    request = item.get("request")
    return request if isinstance(request, dict) else {"url": request}


def parameters_of(entries: Any) -> dict[str, list[tuple[str, bool]]]:
    found: dict[str, list[tuple[str, bool]]] = {}
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("key"), str):
            value = entry.get("value")
            found.setdefault(entry["key"], []).append(
                ("" if value is None else str(value), bool(entry.get("disabled")))
            )
    return found


def url_of(item: dict[str, Any]) -> dict[str, Any]:
    url = request_of(item).get("url")
    return url if isinstance(url, dict) else {}


def body_of(item: dict[str, Any]) -> dict[str, Any] | None:
    """The request body without what Postman adds on export (entry `type: text`, description
    objects)."""
    body = request_of(item).get("body")
    if not isinstance(body, dict) or not isinstance(body.get("mode"), str) or not body["mode"]:
        return None
    mode = body["mode"]
    clean: dict[str, Any] = {"mode": mode}
    data = body.get(mode)
    if mode in ("urlencoded", "formdata") and isinstance(data, list):
        clean[mode] = [_clean_entry(e) for e in data if isinstance(e, dict)]
    elif data is not None:
        clean[mode] = data
    options = body.get("options")
    if isinstance(options, dict) and options:
        clean["options"] = options
    return clean


def _clean_entry(entry: dict[str, Any]) -> dict[str, Any]:
    clean = {"key": entry.get("key", ""), "value": entry.get("value", "")}
    if entry.get("type") not in (None, "text", "default"):
        clean["type"] = entry["type"]
    if entry.get("src") is not None:
        clean["src"] = entry["src"]
    if entry.get("disabled"):
        clean["disabled"] = True
    return clean


def examples_of(item: dict[str, Any]) -> dict[str, dict[str, Any]]:
    examples: dict[str, dict[str, Any]] = {}
    for response in as_list(item.get("response")):
        if isinstance(response, dict) and isinstance(response.get("name"), str):
            examples.setdefault(response["name"], _clean_example(response))
    return examples


def _clean_example(response: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {"name": response["name"]}
    if isinstance(response.get("code"), int):
        clean["code"] = response["code"]
    if isinstance(response.get("status"), str):
        clean["status"] = response["status"]
    headers = [
        {"key": str(h.get("key", "")), "value": str(h.get("value", ""))}
        for h in as_list(response.get("header"))
        if isinstance(h, dict)
    ]
    if headers:
        clean["header"] = headers
    body = response.get("body")
    clean["body"] = body if isinstance(body, str) else ""
    return clean
