"""Bundle stage: pull everything that `$ref`s outside the document point to into the document
itself.

SwaggerHub "Unresolved" exports keep references as written: relative files
(`./models/order.yaml#/Order`), SwaggerHub domains and other APIs
(`https://api.swaggerhub.com/domains/OWNER/DOMAIN/VERSION#/...`). The bundler copies each referenced
definition once into the root document's own components (`components/*` in OpenAPI 3,
`definitions`/`parameters`/`responses` in Swagger 2) under a stable, collision-free name, and
rewrites the references to point there. References stay references, so recursive schemas (within a
file or across files) stay representable, and every later stage sees one self-contained document.

Relative references are resolved against the document that holds them. Each document is retrieved
once, through the injected `Retriever` (see retrieve.py): the bundler itself does no I/O. Objects
that have no components section (path items, and in Swagger 2 everything but schemas, parameters and
responses) are inlined instead.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

from .. import fast_paths
from ..diagnostics import Diagnostic, Diagnostics, Severity, pointer_join, pointer_unescape
from ..load.document import LoadError, SourceDocument, load_bytes
from ..model import HTTP_METHODS, SpecVersion
from ..walk import container_levels
from .local_refs import text_has_only_local_refs
from .resolve import resolve_fragment
from .retrieve import RetrievalError, Retriever

_SCHEMA_CHILDREN = {
    **dict.fromkeys(
        ("properties", "patternProperties", "dependentSchemas", "$defs", "definitions"),
        "map:schema",
    ),
    **dict.fromkeys(("allOf", "anyOf", "oneOf", "prefixItems"), "list:schema"),
    **dict.fromkeys(
        (
            "items",
            "additionalProperties",
            "not",
            "contains",
            "if",
            "then",
            "else",
            "propertyNames",
            "unevaluatedProperties",
            "unevaluatedItems",
            "additionalItems",
        ),
        "schema",
    ),
}

_OAS3_GRAMMAR: dict[str, dict[str, str]] = {
    "document": {"paths": "map:path_item", "webhooks": "map:path_item", "components": "components"},
    "components": {
        "schemas": "map:schema",
        "responses": "map:response",
        "parameters": "map:parameter",
        "examples": "map:example",
        "requestBodies": "map:request_body",
        "headers": "map:header",
        "securitySchemes": "map:security_scheme",
        "links": "map:link",
        "callbacks": "map:callback",
        "pathItems": "map:path_item",
    },
    "path_item": {"parameters": "list:parameter", **dict.fromkeys(HTTP_METHODS, "operation")},
    "operation": {
        "parameters": "list:parameter",
        "requestBody": "request_body",
        "responses": "map:response",
        "callbacks": "map:callback",
    },
    "callback": {"*": "path_item"},
    "response": {"headers": "map:header", "content": "map:media_type", "links": "map:link"},
    "parameter": {"schema": "schema", "content": "map:media_type", "examples": "map:example"},
    "header": {"schema": "schema", "content": "map:media_type", "examples": "map:example"},
    "request_body": {"content": "map:media_type"},
    "media_type": {"schema": "schema", "examples": "map:example", "encoding": "map:encoding"},
    "encoding": {"headers": "map:header"},
    "schema": _SCHEMA_CHILDREN,
    "example": {},
    "link": {},
    "security_scheme": {},
}
"""Which kind of object each field of each kind of object holds, for OpenAPI 3.x."""

_SWAGGER2_GRAMMAR: dict[str, dict[str, str]] = {
    "document": {
        "paths": "map:path_item",
        "definitions": "map:schema",
        "parameters": "map:parameter",
        "responses": "map:response",
    },
    "path_item": {"parameters": "list:parameter", **dict.fromkeys(HTTP_METHODS, "operation")},
    "operation": {"parameters": "list:parameter", "responses": "map:response"},
    "response": {"schema": "schema", "headers": "map:header"},
    "parameter": {"schema": "schema", "items": "schema"},
    "header": {"items": "schema"},
    "schema": _SCHEMA_CHILDREN,
}
"""Which kind of object each field of each kind of object holds, for Swagger 2.0."""

_OAS3_SECTIONS = {
    "schema": "schemas",
    "response": "responses",
    "parameter": "parameters",
    "example": "examples",
    "request_body": "requestBodies",
    "header": "headers",
    "security_scheme": "securitySchemes",
    "link": "links",
    "callback": "callbacks",
}
_SWAGGER2_SECTIONS = {"schema": "definitions", "parameter": "parameters", "response": "responses"}

MAX_INLINED = 10_000
"""Most objects copied inline (path items) in one document: guards against exponential expansion."""

_LITERAL_KEYS = frozenset({"example", "x-example", "default", "enum", "const"})
"""Fields whose values are data: a `$ref` in them is not a reference."""

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_SWAGGERHUB_PATH = re.compile(r"^/(?:v1/)?(?:apis|domains)/[^/]+/(?P<name>[^/]+)(?:/[^/]+)?/?$")


@dataclass(frozen=True)
class Origin:
    """Where a bundled part of the document came from."""

    source: SourceDocument
    pointer: str


@dataclass
class BundleResult:
    """The self-contained document, where its bundled parts came from, and every document it
    read."""

    document: dict[str, Any]
    origins: dict[str, Origin] = field(default_factory=dict)  # pointer in `document` -> origin
    documents: tuple[
        str, ...
    ] = ()  # URIs of the referenced documents that were read, in first-use order

    def origin_of(self, pointer: str) -> Origin | None:
        """The source document and pointer of what is at `pointer`, when it was bundled from
        elsewhere."""
        best = ""
        for prefix in self.origins:
            if (pointer == prefix or pointer.startswith(prefix + "/")) and len(prefix) > len(best):
                best = prefix
        if not best:
            return None
        origin = self.origins[best]
        return Origin(origin.source, origin.pointer + pointer[len(best) :])


def bundle(
    source: SourceDocument,
    version: SpecVersion,
    base_uri: str,
    retrieve: Retriever,
    diagnostics: Diagnostics,
) -> BundleResult:
    """Bundle every external `$ref` of `source` (whose own URI is `base_uri`) into one document.

    Problems (missing files, escaping paths, unmirrored URLs, missing pointers) are errors located
    at the `$ref` that names them, in whichever file holds it. The source document itself is never
    mutated.
    """
    if (
        fast_paths.enabled("local-refs") and text_has_only_local_refs(source.text)
    ) or not _has_external_ref(source.data):
        return BundleResult(source.data)
    try:
        return _Bundler(source, version, base_uri, retrieve, diagnostics).run()
    except RecursionError:
        diagnostics.error(
            "ref-too-deep",
            "references nest too deeply to bundle (a chain of hundreds of "
            "definitions, each referring to the next)",
            hint="shorten the chain, or bundle the definitions into fewer files",
        )
        return BundleResult(source.data)


def _has_external_ref(node: Any) -> bool:
    """Whether any `$ref` string anywhere (literal data included) points outside the document."""
    return any(
        isinstance(value, dict)
        and isinstance(value.get("$ref"), str)
        and not value["$ref"].startswith("#")
        for level in container_levels(node)
        for value in level
    )


@dataclass
class _Document:
    uri: str
    source: SourceDocument


class _Bundler:
    def __init__(
        self,
        source: SourceDocument,
        version: SpecVersion,
        base_uri: str,
        retrieve: Retriever,
        diagnostics: Diagnostics,
    ):
        self.version = version
        swagger2 = version is SpecVersion.SWAGGER_2_0
        self.grammar = _SWAGGER2_GRAMMAR if swagger2 else _OAS3_GRAMMAR
        self.sections = _SWAGGER2_SECTIONS if swagger2 else _OAS3_SECTIONS
        self.section_root = "" if swagger2 else "/components"
        self.root = _Document(_normal_uri(base_uri), source)
        self.retrieve = retrieve
        self.diagnostics = diagnostics
        self.documents: dict[str, _Document | RetrievalError | None] = {self.root.uri: self.root}
        self.placed: dict[tuple[str, str, str], str] = {}  # (uri, pointer, section) -> local ref
        self.bundled: dict[
            str, dict[str, Any]
        ] = {}  # section -> name -> content, in first-use order
        self.taken: dict[str, set[str]] = {}  # section -> names in use
        self.origins: dict[str, Origin] = {}
        self.inlining: list[tuple[str, str]] = []
        self.inlined = 0

    def run(self) -> BundleResult:
        document = self._walk(self.root.source.data, self.root, "document", "", "")
        if self.bundled:
            container = document if not self.section_root else document.setdefault("components", {})
            if not isinstance(container, dict):
                container = document["components"] = {}
            for section, entries in self.bundled.items():
                existing = container.get(section)
                container[section] = {**(existing if isinstance(existing, dict) else {}), **entries}
        read = tuple(
            uri for uri, doc in self.documents.items() if uri != self.root.uri and doc is not None
        )
        return BundleResult(document, self.origins, read)

    # -- walking
    # ---------------------------------------------------------------------------------------------

    def _walk(self, node: Any, doc: _Document, kind: str, pointer: str, out: str) -> Any:
        """A copy of `node` (an object of `kind` at `pointer` in `doc`, going to `out`) with refs
        rewritten."""
        if isinstance(node, list):
            if kind in ("schema", "unknown"):  # `items` as a list of schemas (tuple validation)
                return [
                    self._walk(v, doc, kind, f"{pointer}/{i}", f"{out}/{i}")
                    for i, v in enumerate(node)
                ]
            return node
        if not isinstance(node, dict):
            return node
        copy: dict[str, Any] = {}
        ref = node.get("$ref")
        if isinstance(ref, str):
            replacement = self._reference(ref, doc, kind, pointer + "/$ref", out)
            # inlined: the referenced object, then the $ref's siblings
            if isinstance(replacement, dict):
                copy.update(replacement)
            else:
                copy["$ref"] = replacement if replacement is not None else ref
        children = self.grammar.get(kind)
        for key, value in node.items():
            if key == "$ref" and isinstance(ref, str):
                continue
            token = pointer_join(key)
            spec = self._child_spec(kind, children, key)
            copy[key] = (
                value
                if spec is None
                else self._walk_spec(value, doc, spec, pointer + token, out + token)
            )
        return copy

    def _child_spec(self, kind: str, children: dict[str, str] | None, key: str) -> str | None:
        # an unknown part of the document: look for references everywhere but in data
        if children is None:
            return None if key in _LITERAL_KEYS else "unknown"
        if key in children:
            return children[key]
        if "*" in children:
            return children["*"]
        if (
            kind in ("example", "link", "security_scheme")
            or key in _LITERAL_KEYS
            or key == "examples"
        ):
            return None
        return "unknown"

    def _walk_spec(self, value: Any, doc: _Document, spec: str, pointer: str, out: str) -> Any:
        shape, _, kind = spec.rpartition(":")
        if shape == "map" and isinstance(value, dict):
            return {
                k: self._walk(v, doc, kind, pointer + pointer_join(k), out + pointer_join(k))
                for k, v in value.items()
            }
        if shape == "list" and isinstance(value, list):
            return [
                self._walk(v, doc, kind, f"{pointer}/{i}", f"{out}/{i}")
                for i, v in enumerate(value)
            ]
        if shape:
            return (
                self._walk(value, doc, "unknown", pointer, out)
                if isinstance(value, (dict, list))
                else value
            )
        return self._walk(value, doc, kind, pointer, out)

    # -- references
    # ------------------------------------------------------------------------------------------

    def _reference(
        self, ref: str, doc: _Document, kind: str, at: str, out: str
    ) -> str | dict[str, Any] | None:
        """The rewritten `$ref` value, an inlined object, or None (the problem has been
        reported)."""
        if ref.startswith("#") and doc is self.root:
            return ref
        try:
            target_uri, fragment = urldefrag(urljoin(doc.uri, ref))
            target_uri = _normal_uri(target_uri)
        except ValueError as exc:
            self._error(
                doc,
                at,
                "ref-invalid",
                f"reference {ref!r} is not a valid URI reference: {exc}",
                "write a relative path, an https URL, or '#/...' for this document",
            )
            return None
        if target_uri == self.root.uri:
            return "#" + fragment
        target_doc = self._document(target_uri, doc, at)
        if target_doc is None:
            return None
        found, target = resolve_fragment(target_doc.source.data, fragment)
        if not found:
            self._error(
                doc,
                at,
                "ref-target-missing",
                f"reference {ref!r}: {target_doc.source.path} has nothing at #{unquote(fragment)}",
                "correct the JSON pointer after '#' (escape '/' in names as ~1 and '~' as ~0)",
            )
            return None
        if kind == "unknown":
            kind = self._kind_from_pointer(unquote(fragment))
        section = self.sections.get(kind)
        if section is None:
            return self._inline(target, target_doc, kind, unquote(fragment), at, doc, out)
        return self._place(target, target_doc, kind, section, unquote(fragment))

    def _place(self, target: Any, doc: _Document, kind: str, section: str, pointer: str) -> str:
        key = (doc.uri, pointer, section)
        if key not in self.placed:
            taken = self._taken(section)
            name = _choose_name(pointer, doc.uri, taken)
            taken.add(name)
            location = f"{self.section_root}/{section}/{name}"
            self.placed[key] = "#" + location
            # keeps first-use order, even when recursive
            self.bundled.setdefault(section, {})[name] = None
            self.bundled[section][name] = self._walk(target, doc, kind, pointer, location)
            self.origins[location] = Origin(doc.source, pointer)
        return self.placed[key]

    def _inline(
        self,
        target: Any,
        doc: _Document,
        kind: str,
        pointer: str,
        at: str,
        referrer: _Document,
        out: str,
    ) -> dict[str, Any] | None:
        key = (doc.uri, pointer)
        if key in self.inlining:
            self._error(
                referrer,
                at,
                "ref-cycle",
                f"reference cycle through {doc.source.path}#{pointer}: "
                f"a {kind.replace('_', ' ')} cannot contain itself",
                "break the cycle; only schemas, parameters and responses may refer back to"
                " themselves",
            )
            return None
        if not isinstance(target, dict):
            self._error(
                referrer,
                at,
                "ref-not-object",
                f"the reference points to a {type(target).__name__}, not an object",
                "",
            )
            return None
        self.inlined += 1
        if self.inlined > MAX_INLINED:
            if self.inlined == MAX_INLINED + 1:
                self._error(
                    referrer,
                    at,
                    "ref-too-large",
                    f"more than {MAX_INLINED} objects would be copied "
                    "inline (path items referring to path items many times over)",
                    "refer to fewer shared path items",
                )
            return None
        self.inlining.append(key)
        try:
            content = self._walk(target, doc, kind, pointer, out)
        finally:
            self.inlining.pop()
        for (
            name
        ) in content:  # each field, not the whole object: the $ref's siblings stay where they are
            token = pointer_join(name)
            self.origins[out + token] = Origin(doc.source, pointer + token)
        return content

    def _kind_from_pointer(self, pointer: str) -> str:
        tokens = [pointer_unescape(t) for t in pointer.split("/")[1:]]
        section = (
            tokens[1]
            if self.section_root and len(tokens) > 2 and tokens[0] == "components"
            else (tokens[0] if not self.section_root and len(tokens) > 1 else "")
        )
        for kind, name in self.sections.items():
            if name == section:
                return kind
        return "schema"

    def _taken(self, section: str) -> set[str]:
        if section not in self.taken:
            container: Any = self.root.source.data
            if self.section_root:
                container = container.get("components")
            own = container.get(section) if isinstance(container, dict) else None
            self.taken[section] = set(own) if isinstance(own, dict) else set()
        return self.taken[section]

    def _document(self, uri: str, referrer: _Document, at: str) -> _Document | None:
        if uri not in self.documents:
            try:
                retrieved = self.retrieve(uri)
            except RetrievalError as exc:
                self.documents[uri] = exc
            except (ValueError, OSError) as exc:
                self.documents[uri] = RetrievalError(
                    "ref-invalid", f"cannot retrieve {uri}: {exc}", "correct the reference"
                )
            else:
                try:
                    self.documents[uri] = _Document(
                        uri, load_bytes(retrieved.content, retrieved.display)
                    )
                except LoadError as exc:
                    self.diagnostics.items.append(exc.diagnostic)
                    self.documents[uri] = None
        found = self.documents[uri]
        if isinstance(found, RetrievalError):
            self._error(referrer, at, found.code, found.message, found.hint)
            return None
        return found

    def _error(self, doc: _Document, pointer: str, code: str, message: str, hint: str) -> None:
        position = doc.source.locate(pointer)
        line, column = position if position else (None, None)
        self.diagnostics.items.append(
            Diagnostic(
                Severity.ERROR,
                code,
                message,
                file=doc.source.path,
                pointer=pointer,
                line=line,
                column=column,
                hint=hint,
            )
        )


def _normal_uri(uri: str) -> str:
    """One spelling per document: `file:` URIs percent-encoded the same way whatever the $ref
    wrote."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"file URL with a host ({parts.netloc})")
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise ValueError("file URL without an absolute path")
        return Path(os.path.normpath(path)).as_uri()
    return uri


def _document_stem(uri: str) -> str:
    """A short name for a document: a SwaggerHub API or domain name, or the file name without
    extension."""
    path = urlsplit(uri).path
    swaggerhub = _SWAGGERHUB_PATH.match(path)
    if swaggerhub and urlsplit(uri).scheme != "file":
        return unquote(swaggerhub["name"])
    name = unquote(path.rstrip("/").rsplit("/", 1)[-1])
    return name.rsplit(".", 1)[0] if "." in name else name


def _choose_name(pointer: str, uri: str, taken: set[str]) -> str:
    """A components name for what `pointer` in `uri` holds: its own name if free, else qualified."""
    tokens = [pointer_unescape(t) for t in pointer.split("/")[1:]] if pointer else []
    stem = _sanitise(_document_stem(uri)) or "ref"
    own = _sanitise(tokens[-1]) if tokens else stem
    if not own or own.isdecimal():
        own = f"{stem}_{own}" if own else stem
    candidates = [own, f"{stem}_{own}"] if own != stem else [own]
    for candidate in candidates:
        if candidate not in taken:
            return candidate
    number = 2
    while f"{candidates[-1]}_{number}" in taken:
        number += 1
    return f"{candidates[-1]}_{number}"


def _sanitise(name: str) -> str:
    """Characters OpenAPI allows in component names (`^[a-zA-Z0-9._-]+$`), others replaced by
    `_`."""
    return _UNSAFE_NAME.sub("_", name).strip("_")
