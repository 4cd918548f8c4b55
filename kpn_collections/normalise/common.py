"""Pieces both normalisers share: operations walk, tags, security requirements, path parameters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..diagnostics import pointer_join
from ..model import (
    HTTP_METHODS,
    MISSING,
    PATH_TEMPLATE,
    Api,
    Contact,
    Operation,
    Parameter,
    SecurityRequirement,
    SecurityScheme,
    Server,
    SpecVersion,
    Tag,
)
from ..refs.resolve import RefResolver


def as_dict(value: Any) -> dict[str, Any]:
    """The value if it is a mapping, else an empty one (broken input degrades, it does not
    crash)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """The value if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def text(value: Any) -> str:
    """A string field, or empty when absent or of another type."""
    return value if isinstance(value, str) else ""


def iter_operations(
    document: dict[str, Any], resolver: RefResolver
) -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(path, method, operation, path item) in document order; path items may be `$ref`s."""
    for path, raw_item in as_dict(document.get("paths")).items():
        if isinstance(path, str) and path.startswith("x-"):
            continue  # an extension, not a path item
        item = resolver.deref(raw_item)
        if not isinstance(item, dict):
            continue
        for key, operation in item.items():
            if key in HTTP_METHODS and isinstance(operation, dict):
                yield path, key, operation, item


def tags(document: dict[str, Any]) -> tuple[Tag, ...]:
    """Top-level tag declarations."""
    return tuple(
        Tag(text(t.get("name")), text(t.get("description")))
        for t in as_list(document.get("tags"))
        if isinstance(t, dict) and text(t.get("name"))
    )


def operation_tags(operation: dict[str, Any]) -> tuple[str, ...]:
    """The operation's tag names, as strings."""
    return tuple(str(t) for t in as_list(operation.get("tags")) if isinstance(t, (str, int, float)))


def security_requirements(value: Any) -> tuple[SecurityRequirement, ...]:
    """A `security` list as tuples of (scheme, scopes) alternatives."""
    requirements: list[SecurityRequirement] = []
    for alternative in as_list(value):
        if isinstance(alternative, dict):
            requirements.append(
                tuple(
                    (str(name), tuple(str(s) for s in as_list(scopes)))
                    for name, scopes in alternative.items()
                )
            )
    return tuple(requirements)


def merged_parameters(
    path_level: Any, operation_level: Any, resolver: RefResolver
) -> list[dict[str, Any]]:
    """Path-item parameters overridden by operation parameters with the same name and location."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for source in (path_level, operation_level):
        for raw in as_list(source):
            parameter = resolver.deref(raw)
            if not isinstance(parameter, dict):
                continue
            if parameter.get("in") == "body":  # Swagger 2: one body, whatever its name
                merged[("", "body")] = parameter
            elif isinstance(parameter.get("name"), str):
                merged[(parameter["name"], text(parameter.get("in")))] = parameter
    return list(merged.values())


def add_undeclared_path_parameters(path: str, parameters: list[Parameter]) -> list[Parameter]:
    """Add a path parameter for each `{name}` in the path the spec forgot to declare (warned in
    validation)."""
    declared = {p.name for p in parameters if p.location == "path"}
    extra = [
        Parameter(
            name,
            "path",
            True,
            "Not declared in the API definition.",
            {"type": "string"},
            MISSING,
            declared=False,
        )
        for name in dict.fromkeys(PATH_TEMPLATE.findall(path))
        if name not in declared
    ]
    return parameters + extra


def make_api(
    document: dict[str, Any],
    version: SpecVersion,
    resolver: RefResolver,
    *,
    servers: tuple[Server, ...],
    operations: tuple[Operation, ...],
    security_schemes: tuple[SecurityScheme, ...],
) -> Api:
    """The Api with the fields both formats read the same way (info, security, tags)."""
    info = as_dict(document.get("info"))
    return Api(
        version=version,
        title=text(info.get("title")) or "Untitled API",
        resolver=resolver,
        description=text(info.get("description")),
        api_version=str(info.get("version", "")),
        servers=servers,
        operations=operations,
        security_schemes=security_schemes,
        security=security_requirements(document.get("security")),
        tags=tags(document),
        contact=contact(info.get("contact")),
    )


def contact(node: Any) -> Contact:
    """`info.contact`: name, email and url, each text or empty."""
    fields = as_dict(node)
    return Contact(
        text(fields.get("name")).strip(),
        text(fields.get("email")).strip(),
        text(fields.get("url")).strip(),
    )


def operation_pointer(path: str, method: str) -> str:
    """JSON pointer of an operation."""
    return pointer_join("paths", path, method)
