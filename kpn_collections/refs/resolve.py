"""Resolve stage: follow `$ref`s inside the document, reporting the ones that lead nowhere.

The raw document is never mutated. Every later stage follows references through one RefResolver,
which caches lookups by pointer and cuts reference cycles.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from ..diagnostics import Diagnostics, Link, link_pointer, pointer_unescape

_LITERAL_KEYS = frozenset({"example", "x-example", "default", "enum", "const"})
"""Keys whose values are literal data: a `$ref` inside them is not a reference."""

MAX_REF_CHAIN = 64
"""Longest chain of `$ref` -> `$ref` -> ... followed before it is reported as a cycle."""


class RefResolver:
    """Looks up local `#/...` references in one document."""

    def __init__(self, document: dict[str, Any]):
        self.document = document
        self._cache: dict[str, Any] = {}
        self.broken: dict[str, str] = {}  # ref -> reason, for refs that cannot be followed
        # refs (found by check_references) in a cycle or an over-long chain
        self.cyclic: set[str] = set()

    def lookup(self, ref: str) -> tuple[bool, Any]:
        """(found, target) for one reference string, without following further refs."""
        if ref in self._cache:
            return True, self._cache[ref]
        if ref in self.broken:
            return False, None
        if not ref.startswith("#"):
            self.broken[ref] = "external"
            return False, None
        found, node = resolve_fragment(self.document, ref[1:])
        if not found:
            self.broken[ref] = "missing"
            return False, None
        self._cache[ref] = node
        return True, node

    def deref(self, node: Any) -> Any:
        """Follow `$ref` chains from `node`; None when a reference is broken or circular."""
        seen: list[str] = []
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in seen or len(seen) >= MAX_REF_CHAIN:
                return None
            seen.append(ref)
            found, node = self.lookup(ref)
            if not found:
                return None
        return node


def resolve_fragment(document: Any, fragment: str) -> tuple[bool, Any]:
    """(found, node) for a URI fragment holding a JSON pointer (percent-encoded, `~0`/`~1`
    escaped)."""
    pointer = unquote(fragment)
    if pointer and not pointer.startswith("/"):
        return False, None  # a plain-name fragment (JSON Schema anchor): not supported
    node: Any = document
    for token in (pointer_unescape(t) for t in pointer.split("/")[1:]):
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif (
            isinstance(node, list)
            and token.isdecimal()
            and token.isascii()
            and int(token) < len(node)
        ):
            node = node[int(token)]
        else:
            return False, None
    return True, node


def iter_refs(document: Any) -> Iterator[tuple[str, Any]]:
    """Yield (pointer of the $ref object, ref value) for every `$ref` in a document, in document
    order."""
    containers = (dict, list)
    stack: list[tuple[Any, Link | None]] = (
        [(document, None)] if isinstance(document, containers) else []
    )
    pop, push = stack.pop, stack.append  # children pushed last first: popped in document order
    while stack:
        value, link = pop()
        if isinstance(value, dict):
            if "$ref" in value and not isinstance(value["$ref"], dict):
                yield link_pointer(link), value["$ref"]
            literal = (
                _LITERAL_KEYS if link is None or link[1] != "responses" else _RESPONSES_LITERAL_KEYS
            )
            if (
                link is not None
                and link[0] is not None
                and link[0][1] == "examples"
                and "value" in value
            ):
                literal = literal | {"value"}  # an Example Object's literal value
            for key, child in reversed(value.items()):
                if (
                    isinstance(child, containers)
                    and key not in literal
                    and (key != "$ref" or isinstance(child, dict))
                ):
                    push((child, (link, key)))
        else:
            for index in range(len(value) - 1, -1, -1):
                child = value[index]
                if isinstance(child, containers):
                    push((child, (link, index)))


_RESPONSES_LITERAL_KEYS = _LITERAL_KEYS - {"default"}  # under `responses`, `default` is a response


def check_references(
    document: dict[str, Any], resolver: RefResolver, diagnostics: Diagnostics
) -> None:
    """Report every `$ref` that is not a string or leads nowhere; each `$ref` cycle is reported
    once."""
    reported: set[str] = set()
    for where, ref in iter_refs(document):
        if not isinstance(ref, str):
            if where.endswith(("/properties", "/definitions")):
                continue  # a property or definition that happens to be named "$ref"
            diagnostics.error(
                "ref-not-string",
                f"`$ref` must be a string, not {type(ref).__name__}",
                pointer=where + "/$ref",
                hint="write the reference as '#/components/schemas/Name'",
            )
            continue
        if not ref.startswith("#"):
            continue  # the bundle stage resolved or reported it; one left here sits in literal data
        if resolver.deref({"$ref": ref}) is not None:
            continue
        if not resolver.lookup(ref)[0]:
            diagnostics.warning(
                "dangling-ref",
                f"reference {ref!r} points to nothing in this document",
                pointer=where + "/$ref",
                hint="add the missing definition or correct the reference; " + _EMPTY_SCHEMA_HINT,
            )
            continue
        chain = _ref_chain(resolver, ref)
        if chain[-1] not in chain[:-1]:
            resolver.cyclic.update(chain)
            if reported.isdisjoint(chain):
                diagnostics.warning(
                    "ref-chain-too-long",
                    f"reference {ref!r} starts a chain of more than "
                    f"{MAX_REF_CHAIN} `$ref`s to `$ref`s",
                    pointer=where + "/$ref",
                    hint="point the reference at the definition itself; " + _EMPTY_SCHEMA_HINT,
                )
                reported.update(chain)
            continue
        cycle = chain[chain.index(chain[-1]) : -1]
        resolver.cyclic.update(cycle)
        if reported.isdisjoint(cycle):
            reported.update(cycle)
            shown = (
                " -> ".join(cycle[:4]) + (" -> ..." if len(cycle) > 4 else "") + f" -> {cycle[0]}"
            )
            diagnostics.warning(
                "ref-cycle",
                f"`$ref` cycle of {len(cycle)} reference(s) never reaches a definition: {shown}",
                pointer=where + "/$ref",
                hint="point one reference of the cycle at a real definition; " + _EMPTY_SCHEMA_HINT,
            )


_EMPTY_SCHEMA_HINT = "the converter uses an empty schema in its place"


def _ref_chain(resolver: RefResolver, ref: str) -> list[str]:
    """The refs followed from `ref`, ending with a repeated ref (a cycle) or the last ref of the
    chain."""
    chain, seen = [ref], {ref}
    while True:
        found, node = resolver.lookup(chain[-1])
        if not found or not isinstance(node, dict) or not isinstance(node.get("$ref"), str):
            return chain
        chain.append(node["$ref"])
        if chain[-1] in seen:
            return chain
        seen.add(chain[-1])
