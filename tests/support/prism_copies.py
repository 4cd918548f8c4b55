"""The copies of corpus specs that Prism is given where it cannot serve the spec as it is.

Each entry says why: a limitation of Prism itself, which a defect of the spec may set off (the
converter warns about each such defect). A spec whose defect only means that no request to some
operation can be valid (kpn-ise, kpn-fiam-eneco-data-products) needs no copy: Prism rejects exactly
those requests, which the tests expect from the converter's `no-valid-request` (or
`unused-path-parameter`) warnings. The collection under test is always converted from the original
spec; only Prism's copy is adapted, and only as far as the reason needs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kpn_collections.load.document import load_document
from kpn_collections.model import PATH_TEMPLATE
from kpn_collections.refs.resolve import RefResolver, resolve_fragment


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    stack = [node]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            yield value
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def empty_dangling_refs(document: dict[str, Any]) -> None:
    """Replace `$ref`s that point nowhere by an empty schema (what the converter uses, with a
    warning)."""
    for node in _nodes(document):
        for key, value in list(node.items()):
            ref = value.get("$ref") if isinstance(value, dict) else None
            if (
                isinstance(ref, str)
                and ref.startswith("#")
                and not resolve_fragment(document, ref[1:])[0]
            ):
                node[key] = {}


def json_instead_of_any(document: dict[str, Any]) -> None:
    """`*/*` becomes application/json in `produces`, `consumes` and `content`."""
    for node in _nodes(document):
        for key in ("produces", "consumes"):
            if isinstance(node.get(key), list):
                node[key] = ["application/json" if m == "*/*" else m for m in node[key]]
        content = node.get("content")
        if isinstance(content, dict) and "*/*" in content and "application/json" not in content:
            node["content"] = {
                ("application/json" if k == "*/*" else k): v for k, v in content.items()
            }


def drop_unused_path_parameters(document: dict[str, Any]) -> None:
    """Remove declared path parameters that the path has no `{name}` for."""
    resolver = RefResolver(document)
    for path, item in document.get("paths", {}).items():
        used = set(PATH_TEMPLATE.findall(path))
        for operation in [item, *(v for v in item.values() if isinstance(v, dict))]:
            parameters = operation.get("parameters")
            if isinstance(parameters, list):
                operation["parameters"] = [
                    p
                    for p in parameters
                    if not (
                        isinstance(resolver.deref(p), dict)
                        and resolver.deref(p).get("in") == "path"
                        and resolver.deref(p).get("name") not in used
                    )
                ]


def string_multipart_objects(document: dict[str, Any]) -> None:
    """Object-typed properties of multipart bodies become strings (the JSON text the part
    carries)."""
    for node in _nodes(document):
        media = node.get("multipart/form-data")
        schema = media.get("schema") if isinstance(media, dict) else None
        if isinstance(schema, dict):
            for name, prop in schema.get("properties", {}).items():
                if isinstance(prop, dict) and prop.get("type") == "object":
                    schema["properties"][name] = {"type": "string"}


def default_consumes(document: dict[str, Any]) -> None:
    """A Swagger 2.0 document without `consumes` says application/json, what the collection
    sends."""
    document.setdefault("consumes", ["application/json"])


def xml_bodies_as_text(document: dict[str, Any]) -> None:
    """XML request bodies are described as text."""
    for node in _nodes(document):
        body = node.get("requestBody")
        content = body.get("content") if isinstance(body, dict) else None
        for media_type, media in (content or {}).items():
            if "xml" in media_type and isinstance(media, dict):
                media["schema"] = {"type": "string"}


def escape_literal_braces(document: dict[str, Any]) -> None:
    """Braces that are no quantifier (`({true|false})?`) are escaped in `pattern`s: the same regular
    expression for Postman's Ajv 6, and one that compiles in the unicode mode of Prism's Ajv 8."""
    for node in _nodes(document):
        if isinstance(node.get("pattern"), str):
            node["pattern"] = re.sub(r"\{(?!\d+(?:,\d*)?\})([^}]*)\}", r"\\{\1\\}", node["pattern"])


@dataclass(frozen=True)
class Adaptation:
    reason: str
    changes: tuple[Callable[[dict[str, Any]], None], ...]
    # the converter's warning code for a spec defect, if that is the reason
    warning: str | None = None


ADAPTATIONS: dict[str, Adaptation] = {
    "kpn-match-openapi.yml": Adaptation(
        "Prism refuses to load a spec with a dangling $ref (#/components/schemas/TokenRequest does"
        " not exist); its copy has an empty schema there, as the converter uses",
        (empty_dangling_refs,),
        "dangling-ref",
    ),
    "kpn-wholesale-wba-openapi.yml": Adaptation(
        "two operations declare a path parameter the path lacks (no request to them can be valid,"
        " as the converter warns), on which Prism crashes instead of rejecting them (TypeError in"
        " its path deserialiser, no answer at all); and patterns such as `({true|false})?` do not"
        " compile in the unicode mode of Prism's Ajv 8, so Prism silently checks no response body"
        " at all. Its copy drops the declarations and escapes those braces",
        (drop_unused_path_parameters, escape_literal_braces),
        "unused-path-parameter",
    ),
    "kpn-mobile-services-management-openapi.yml": Adaptation(
        "Prism cannot serialise an object example as `*/*` (HTTP 500, NO_COMPLEX_OBJECT_TEXT); its"
        " copy says application/json",
        (json_instead_of_any,),
    ),
    "xdroid-speech-to-text-openapi.yml": Adaptation(
        "Prism reads every multipart part as a string, so the object part `config` (sent as JSON,"
        " OpenAPI's default encoding) never validates; its copy types that part as a string",
        (string_multipart_objects,),
    ),
    "vonage-sms-openapi.yml": Adaptation(
        "Prism accepts no body at all for a Swagger 2.0 operation when the spec names no `consumes`"
        " (HTTP 415); its copy says application/json, what the collection sends",
        (default_consumes,),
    ),
}


FIXTURE_ADAPTATIONS: dict[str, Adaptation] = {
    "oas30/warts": Adaptation(
        "the fixture has a dangling $ref on purpose, and Prism refuses to load it",
        (empty_dangling_refs,),
        "dangling-ref",
    ),
    "oas31/features": Adaptation(
        "Prism reads no XML: it checks the raw text of an XML request body against the "
        "object schema; its copy describes XML bodies as text",
        (xml_bodies_as_text,),
    ),
}
"""Fixtures by `<version>/<name>`; Prism gets them bundled into one file."""


def prism_spec(
    spec: Path,
    directory: Path,
    document: dict[str, Any] | None = None,
    adaptation: Adaptation | None = None,
) -> Path:
    """The file to give Prism for `spec`: the spec itself, or its adapted copy in `directory`.

    `document` (a bundled form of the spec) and `adaptation` default to the spec as loaded and its
    ADAPTATIONS entry."""
    adaptation = adaptation if adaptation is not None else ADAPTATIONS.get(spec.name)
    if adaptation is None and document is None:
        return spec
    document = document if document is not None else load_document(spec).data
    for change in adaptation.changes if adaptation is not None else ():
        change(document)
    copy = directory / (spec.stem + ".prism.json")
    copy.write_text(json.dumps(document), encoding="utf-8")
    return copy
