"""Warn where a `oneOf` of a response, a request body or a parameter has branches a value can match
together.

`oneOf` accepts a value valid for exactly one branch; the contract tests (Ajv, which knows nothing
of OpenAPI's `discriminator`) and a mock such as Prism reject one valid for two. Each branch's
example (the generator's, as the requests and saved responses use) is validated against the other
branches, in the draft-07 form the contract tests check; a pair is reported only when the example is
valid for its own branch and for the other, so the warning never fires on branches a value cannot
match together (a `const`/`enum` property, a property one requires and the other forbids). Each
distinct `oneOf` is checked once.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from ..credentials import without_credentials
from ..diagnostics import Diagnostics, pointer_join, pointer_unescape
from ..model import Api
from ..refs.resolve import MAX_REF_CHAIN, resolve_fragment
from ..walk import container_levels
from .ajv_schema import AJV6_FORMATS, SchemaStore
from .examples import ExampleGenerator

MAX_BRANCHES = 30
"""Branches of one `oneOf` compared pairwise; later ones are left unchecked (the pairs grow as the
square)."""

_SCHEMA_MAP_KEYWORDS = frozenset({"properties", "patternProperties", "dependentSchemas"})
_ALL_KEYWORDS = _SCHEMA_MAP_KEYWORDS | {
    "items",
    "additionalProperties",
    "additionalItems",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
    "allOf",
    "anyOf",
    "oneOf",
    "prefixItems",
}
"""Keywords whose values are schemas (a mapping of them for the map keywords, a list of them where a
list)."""

# Ajv 6's own ("fast" mode) checks of the formats Python's jsonschema leaves unchecked
_AJV6_FAST_FORMATS = {
    "uri": re.compile(r"^(?:[a-z][a-z0-9+\-.]*:)(?:/?/)?[^\s]*$", re.IGNORECASE),
    "uri-reference": re.compile(
        r"^(?:(?:[a-z][a-z0-9+\-.]*:)?/?/)?(?:[^\\\s#][^\s#]*)?(?:#[^\\\s]*)?$", re.IGNORECASE
    ),
    "hostname": re.compile(
        r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[-0-9a-z]{0,61}[0-9a-z])?)*$",
        re.IGNORECASE,
    ),
    "uuid": re.compile(
        r"^(?:urn:uuid:)?[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$", re.IGNORECASE
    ),
}


def check_one_of_branches(api: Api, diagnostics: Diagnostics) -> None:
    """A `oneof-indistinguishable` warning for each `oneOf` of a body or parameter schema whose
    branches a value can match together (located at the `oneOf`, naming the branches and a value
    valid for both)."""
    document = api.resolver.document
    if not _mentions_one_of(document):
        return
    found = _reachable_one_ofs(api)
    if not found:
        return
    checker = _Checker(api)
    for pointer, (node, uses) in found.items():
        overlap = checker.overlap(node["oneOf"])
        if overlap is None:
            continue
        (first, second), value = overlap
        fails = {
            "response": "the contract test fails on such a response",
            "request": "a server or mock that checks the schema rejects such a request",
            "both": "the contract test fails on such a response and a server or mock that checks "
            "the schema rejects such a request",
        }[uses]
        message = (
            f"`oneOf` branches {_label(node['oneOf'], first)} and "
            f"{_label(node['oneOf'], second)} cannot be told apart: {_short_json(value)} is valid "
            f"for both, and `oneOf` takes a value valid for exactly one, so {fails}"
        )
        hint = (
            "use `anyOf` if a value may match several branches; else make them exclusive: a "
            "property only one branch requires, a distinguishing `enum` or `const`, or "
            "`additionalProperties: false`"
        )
        discriminator = node.get("discriminator")
        name = discriminator.get("propertyName") if isinstance(discriminator, dict) else None
        if isinstance(name, str):
            message += (
                f"; the `discriminator` on `{name}` does not tell them apart, as JSON Schema "
                "validators (Postman's, Prism's) do not read it"
            )
            hint = (
                f"give each branch's `{name}` an `enum` (or `const`) with its own value, "
                "or use `anyOf`"
            )
        diagnostics.warning(
            "oneof-indistinguishable", message, pointer=pointer + "/oneOf", hint=hint
        )


def _mentions_one_of(document: Any) -> bool:
    """Whether any mapping of the document has a `oneOf` key (most have none: then nothing is
    walked)."""
    return any(
        "oneOf" in value
        for level in container_levels(document)
        for value in level
        if isinstance(value, dict)
    )


def _reachable_one_ofs(api: Api) -> dict[str, tuple[dict[str, Any], str]]:
    """pointer -> (schema holding a `oneOf` list, "response", "request" or "both") for the schemas
    reachable from the operations' responses, request bodies and parameters, in the order first
    reached."""
    document = api.resolver.document
    found: dict[int, tuple[str, dict[str, Any], str]] = {}  # id(schema) -> (pointer, schema, use)
    walked: dict[str, set[int]] = {
        "response": set(),
        "request": set(),
    }  # each schema walked once per use
    for operation in api.operations:
        present, raw = resolve_fragment(document, operation.pointer)
        if not present or not isinstance(raw, dict):
            continue
        for key in ("responses", "requestBody", "parameters"):
            use = "response" if key == "responses" else "request"
            for schema, link in _schema_roots(api, raw.get(key), (operation.pointer, key)):
                for node, where in _one_ofs_below(api, schema, link, walked[use]):
                    known = found.get(id(node))
                    found[id(node)] = (
                        where if known is None else known[0],
                        node,
                        use if known is None or known[2] == use else "both",
                    )
    return {pointer: (node, use) for pointer, node, use in found.values()}


_Link = tuple[Any, str | int] | str
"""Where a value is: (the link of its parent, its key or index), or the JSON pointer of a `$ref`'s
target (the pointer is built only for the few values reported, not for each schema walked)."""


def _schema_roots(api: Api, node: Any, link: _Link) -> list[tuple[Any, _Link]]:
    """(schema, link) for the body schemas of an operation's responses or request body (the mapping
    of responses, or the request body), and the schemas of its parameters (the list of them),
    `$ref`s followed."""
    roots: list[tuple[Any, _Link]] = []
    if isinstance(node, list):
        entries = [(_followed(api, p, (link, i))) for i, p in enumerate(node)]  # parameters
    elif isinstance(node, dict) and "content" not in node and "$ref" not in node:
        entries = [(_followed(api, r, (link, status))) for status, r in node.items()]  # responses
    else:
        entries = [_followed(api, node, link)]  # a request body
    for entry, where in entries:
        if not isinstance(entry, dict):
            continue
        if "schema" in entry:  # a parameter, or a Swagger 2.0 response
            roots.append((entry["schema"], (where, "schema")))
        content = entry.get("content")
        if isinstance(content, dict):
            roots.extend(
                (media["schema"], (((where, "content"), kind), "schema"))
                for kind, media in content.items()
                if isinstance(media, dict) and "schema" in media
            )
    return roots


def _one_ofs_below(
    api: Api, schema: Any, link: _Link, seen: set[int]
) -> list[tuple[dict[str, Any], str]]:
    """(schema, pointer) for the schemas with a `oneOf` of several branches reachable from `schema`
    (itself included) through schemas not `seen` yet (`$ref` targets located where they are
    defined); `seen` gets every schema walked."""
    result: list[tuple[dict[str, Any], str]] = []
    stack = [(schema, link)]
    while stack:
        node, link = _followed(api, *stack.pop())
        if type(node) is not dict or id(node) in seen:
            continue
        seen.add(id(node))
        # sorted: the same walk, the same pointers, each run
        for key in sorted(node.keys() & _ALL_KEYWORDS):
            value = node[key]
            if isinstance(value, dict):
                if key in _SCHEMA_MAP_KEYWORDS:
                    stack.extend(((s, ((link, key), name)) for name, s in value.items()))
                else:
                    stack.append((value, (link, key)))
            elif isinstance(value, list):
                stack.extend(((s, ((link, key), i)) for i, s in enumerate(value)))
                if key == "oneOf" and len(value) > 1:
                    result.append((node, _pointer(link)))
    return result


def _followed(api: Api, node: Any, link: _Link) -> tuple[Any, _Link]:
    """`node` with its `$ref` chain followed (None for a broken one), and the link of where it
    ends."""
    if type(node) is not dict or "$ref" not in node:
        return node, link
    for _ in range(MAX_REF_CHAIN):
        ref = node.get("$ref") if type(node) is dict else None
        if not isinstance(ref, str) or not ref.startswith("#"):
            return node, link
        found, node = api.resolver.lookup(ref)
        if not found:
            return None, link
        link = unquote(ref[1:])
    return None, link


def _pointer(link: _Link) -> str:
    tokens: list[str | int] = []
    while not isinstance(link, str):
        link, token = link
        tokens.append(token)
    return link + pointer_join(*reversed(tokens))


class _Checker:
    """Validates branch examples against branches, as the contract tests' Ajv reads the schemas."""

    def __init__(self, api: Api):
        from jsonschema import (
            Draft7Validator,
            FormatChecker,
        )  # here: only specs with a `oneOf` need it

        self.examples = ExampleGenerator(api.resolver)
        self.store = SchemaStore(api.resolver, api.version)
        self.validator_class = Draft7Validator
        known = Draft7Validator.FORMAT_CHECKER.checkers
        self.formats = FormatChecker(formats=())
        # a format checked here neither way is taken as not met: never a false alarm
        for name in AJV6_FORMATS:
            pattern = _AJV6_FAST_FORMATS.get(name)
            if name in known:
                self.formats.checkers[name] = known[name]
            elif pattern is not None:
                self.formats.checkers[name] = (
                    (
                        lambda p: (
                            lambda value: not isinstance(value, str) or p.match(value) is not None
                        )
                    )(pattern),
                    (),
                )
            else:
                self.formats.checkers[name] = (lambda value: not isinstance(value, str)), ()

    def overlap(self, branches: list[Any]) -> tuple[tuple[int, int], Any] | None:
        """((i, j), value) for the first branch i whose example is valid for branch j as well, or
        None."""
        branches = branches[:MAX_BRANCHES]
        if not all(isinstance(branch, (dict, bool)) for branch in branches):
            return None  # a branch that is no schema (reported by validation): nothing to compare
        converted = [self.store.convert(branch) for branch in branches]
        for i, branch in enumerate(branches):
            value = self.examples.example(branch, for_request=False)
            if not self._valid(value, converted[i]):
                continue  # the example does not show the branch: nothing is proven
            for j in range(len(branches)):
                if j != i and self._valid(value, converted[j]):
                    return (min(i, j), max(i, j)), value
        return None

    def _valid(self, value: Any, schema: Any) -> bool:
        root = {"definitions": self.store.definitions, "allOf": [schema]}
        try:
            error = next(
                self.validator_class(root, format_checker=self.formats).iter_errors(value), None
            )
        # a pattern Python cannot read, a schema too deep: nothing proven
        except (
            re.error,
            RecursionError,
        ):
            return False
        return error is None


def _label(branches: list[Any], index: int) -> str:
    """`2 (`Dog`)` for a branch that is a reference, `2` for an inline one."""
    ref = branches[index].get("$ref") if isinstance(branches[index], dict) else None
    name = (
        pointer_unescape(ref.rsplit("/", 1)[-1])
        if isinstance(ref, str) and ref.startswith("#/")
        else ""
    )
    return f"{index + 1} (`{name}`)" if name else str(index + 1)


def _short_json(value: Any, limit: int = 80) -> str:
    """The value as compact JSON, cut at `limit` characters; credential-looking strings emptied."""
    text = json.dumps(
        without_credentials(value), ensure_ascii=False, separators=(",", ":"), default=str
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"
