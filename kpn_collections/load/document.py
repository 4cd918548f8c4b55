"""Load stage: bytes -> a JSON-compatible document, with source positions for diagnostics.

JSON is parsed with the standard library (duplicate keys and nesting depth checked); YAML by yaml-rs
where it reads what our PyYAML reader (yaml_reader.py) reads, else by that reader. Positions come
from the text (text_locator.py) or, lazily, from the YAML composer when a diagnostic needs a line.
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import fast_paths
from ..diagnostics import Diagnostic, pointer_unescape
from ..files import MAX_FILE_BYTES, FileTooLarge, read_limited
from ..walk import container_levels
from .errors import LoadError, diag, too_deep
from .fast_yaml import fast_yaml
from .limits import MAX_DEPTH
from .text_locator import JsonPositions, root_position
from .yaml_reader import CoreSchemaLoader, read_yaml


@dataclass
class SourceDocument:
    """A loaded document: its data, where it came from, and a way to find source lines by JSON
    pointer."""

    path: str
    data: dict[str, Any]
    text: str
    format: str  # "yaml" or "json"
    _root_node: yaml.Node | None = field(default=None, repr=False)
    _compose_failed: bool = field(default=False, repr=False)
    _json_positions: JsonPositions | None = field(default=None, repr=False)

    def locate(self, pointer: str) -> tuple[int, int] | None:
        """1-based (line, column) of the value at `pointer`, or of its nearest located parent."""
        if not pointer and self.text and fast_paths.enabled("text-locator"):
            root = root_position(self.text)  # whole-document notes need no node tree
            if root is not None:
                return root
        if self.format == "json" and self.text and fast_paths.enabled("text-locator"):
            if self._json_positions is None:
                self._json_positions = JsonPositions(self.text)
            found = self._json_positions.locate(pointer)
            if found is not None:
                return found
        node = self._node_tree()
        if node is None:
            return None
        for token in (pointer_unescape(t) for t in pointer.split("/")[1:]) if pointer else ():
            child = _child_node(node, token)
            if child is None:
                break
            node = child
        return node.start_mark.line + 1, node.start_mark.column + 1

    def _node_tree(self) -> yaml.Node | None:
        if self._root_node is None and not self._compose_failed:
            try:
                self._root_node = yaml.compose(self.text, Loader=CoreSchemaLoader)
            except (yaml.YAMLError, RecursionError):
                self._compose_failed = True
        return self._root_node


def _child_node(node: yaml.Node, token: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == token:
                return value
        return None
    if (
        isinstance(node, yaml.SequenceNode)
        and token.isdecimal()
        and token.isascii()
        and int(token) < len(node.value)
    ):
        return node.value[int(token)]
    return None


def load_document(path: str | Path, *, display_name: str | None = None) -> SourceDocument:
    """Read a YAML or JSON file into a SourceDocument, raising LoadError with a located message."""
    name = display_name or str(path)
    try:
        raw = read_limited(path)
    except FileTooLarge:
        raise LoadError(_too_big(name)) from None
    except OSError as exc:
        raise LoadError(
            diag(
                name,
                "read-failed",
                f"cannot read the file: {exc.strerror or exc}",
                hint="check the path and permissions",
            )
        ) from None
    return load_bytes(raw, name)


def load_bytes(raw: bytes, name: str) -> SourceDocument:
    """Parse bytes (UTF-8, optional BOM) as JSON or YAML into a SourceDocument."""
    if len(raw) > MAX_FILE_BYTES:
        raise LoadError(_too_big(name))
    if b"\x00" in raw[:8192]:
        raise LoadError(
            diag(
                name,
                "not-text",
                "the file is binary, not a YAML or JSON document",
                hint="export the API from SwaggerHub as YAML or JSON",
            )
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LoadError(
            diag(
                name,
                "not-utf8",
                f"the file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                line=line,
                hint="save the file as UTF-8",
            )
        ) from None
    if not text.strip():
        raise LoadError(
            diag(name, "empty", "the file is empty", hint="export the API definition again")
        )
    stripped = text.lstrip()
    json_error: json.JSONDecodeError | None = None
    if name.lower().endswith(".json") or stripped.startswith(("{", "[")):
        data, json_error = _parse_json(text)
        if json_error is None:
            if _depth_exceeds(data, MAX_DEPTH):
                raise LoadError(too_deep(name))
            return _checked_root(SourceDocument(name, data, text, "json"))
    try:
        data = fast_yaml(text) if fast_paths.enabled("yaml-rs") else None
        return _checked_root(
            SourceDocument(name, read_yaml(text, name) if data is None else data, text, "yaml")
        )
    except LoadError as exc:
        if (
            json_error is None
            or json_error is _NOT_PLAIN_JSON
            or not name.lower().endswith(".json")
            or exc.diagnostic.code != "yaml-syntax"
        ):
            raise
        raise LoadError(
            diag(
                name,
                "json-syntax",
                f"not valid JSON: {json_error.msg}",
                line=json_error.lineno,
                column=json_error.colno,
                hint="check the commas, quotes and brackets here",
            )
        ) from None


def _depth_exceeds(data: Any, limit: int) -> bool:
    """True when lists/dicts nest deeper than `limit` (checked level by level, without
    recursion)."""
    return any(depth > limit for depth, _ in enumerate(container_levels(data)))


class _DuplicateJsonKey(Exception):
    pass


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateJsonKey(
            next(key for index, (key, _) in enumerate(pairs) if key in dict(pairs[:index]))
        )
    return result


_NOT_PLAIN_JSON = json.JSONDecodeError("not plain JSON", "", 0)


def _parse_json(text: str) -> tuple[Any, json.JSONDecodeError | None]:
    """(data, None), or (None, the error): then the YAML parser reads it (YAML is a superset of
    JSON) or explains what is wrong (duplicate keys, nesting depth, with their positions)."""
    try:
        return json.loads(text, object_pairs_hook=_json_pairs), None
    except json.JSONDecodeError as exc:
        return None, exc
    except (ValueError, _DuplicateJsonKey, RecursionError):
        return None, _NOT_PLAIN_JSON


def _checked_root(document: SourceDocument) -> SourceDocument:
    if not isinstance(document.data, dict):
        kind = (
            "a list"
            if isinstance(document.data, list)
            else f"a single value ({type(document.data).__name__})"
        )
        raise LoadError(
            diag(
                document.path,
                "not-a-mapping",
                f"the document is {kind}, not a mapping",
                line=1,
                hint="an OpenAPI document starts with `openapi:` or `swagger:`",
            )
        )
    return document


def _too_big(name: str) -> Diagnostic:
    return diag(
        name,
        "too-large",
        f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB",
        hint="split the definition into files joined with $ref",
    )
