"""Our own checks: what real SwaggerHub exports get wrong that openapi-spec-validator does not
report, or reports without saying what to do."""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Iterator
from typing import Any

from .. import ecma_regex
from ..credentials import find_in_document
from ..diagnostics import Diagnostics, Link, link_pointer, pointer_join
from ..model import HTTP_METHODS, PATH_TEMPLATE, SpecVersion
from ..normalise.common import as_dict, as_list, iter_operations
from ..refs.resolve import RefResolver

_PATH_ITEM_FIELDS = frozenset({"$ref", "summary", "description", "servers", "parameters"})


def _check_structure(
    document: dict[str, Any], version: SpecVersion, resolver: RefResolver, diagnostics: Diagnostics
) -> None:
    """Errors for structure the converter could only skip (losing requests); warnings where it
    recovers."""
    paths = document.get("paths")
    if paths is not None and not isinstance(paths, dict):
        diagnostics.error(
            "paths-not-mapping",
            f"`paths` is {_kind(paths)}, not a mapping of paths to path items",
            pointer="/paths",
            hint="write `paths:` as `/path: {get: ...}` entries",
        )
        return
    methods = (
        HTTP_METHODS
        if version is not SpecVersion.SWAGGER_2_0
        else tuple(m for m in HTTP_METHODS if m != "trace")
    )
    for path, raw_item in as_dict(paths).items():
        if isinstance(path, str) and path.startswith("x-"):
            continue  # an extension (`x-codegen-contextRoot: /apps`), not a path item
        item = resolver.deref(raw_item)
        if item is None:
            continue  # a broken `$ref`: reported by the resolve stage
        if not isinstance(item, dict):
            diagnostics.error(
                "path-item-not-mapping",
                f"the path item of {path} is {_kind(item)}, not a mapping",
                pointer=pointer_join("paths", path),
                hint="give the path its operations: `get:`, `post:`, ...",
            )
            continue
        for key, operation in item.items():
            pointer = pointer_join("paths", path, key)
            if key in methods:
                if not isinstance(operation, dict):
                    diagnostics.error(
                        "operation-not-mapping",
                        f"the {key.upper()} operation of {path} is "
                        f"{_kind(operation)}, not a mapping",
                        pointer=pointer,
                        hint="write the operation as a mapping with `responses:` (and `summary:`)",
                    )
            elif not (
                key in _PATH_ITEM_FIELDS
                or (key == "trace" and version is SpecVersion.SWAGGER_2_0)
                or (isinstance(key, str) and key.startswith("x-"))
            ):
                lowered = key.lower() if isinstance(key, str) else ""
                hint = (
                    f"write the method in lower case: `{lowered}`"
                    if lowered in methods
                    else f"use one of {', '.join(methods)}, or prefix an extension with `x-`"
                )
                diagnostics.error(
                    "unknown-method",
                    f"{key!r} under {path} is not an HTTP method "
                    f"{_SPEC_NAMES[version]} allows, so its operation cannot be converted",
                    pointer=pointer,
                    hint=hint,
                )
        for index, raw in enumerate(as_list(item.get("parameters"))):
            _check_parameter(
                raw, pointer_join("paths", path, "parameters", index), resolver, diagnostics
            )
        for key in methods:
            operation = item.get(key)
            parameters = operation.get("parameters") if isinstance(operation, dict) else None
            for index, raw in enumerate(as_list(parameters)):
                _check_parameter(
                    raw,
                    pointer_join("paths", path, key, "parameters", index),
                    resolver,
                    diagnostics,
                )


_SPEC_NAMES = {
    SpecVersion.SWAGGER_2_0: "Swagger 2.0",
    SpecVersion.OPENAPI_3_0: "OpenAPI 3.0",
    SpecVersion.OPENAPI_3_1: "OpenAPI 3.1",
}


def _check_parameter(
    raw: Any, pointer: str, resolver: RefResolver, diagnostics: Diagnostics
) -> None:
    parameter = resolver.deref(raw)
    if isinstance(parameter, dict) and not isinstance(parameter.get("in"), str):
        name = parameter.get("name")
        diagnostics.warning(
            "parameter-without-in",
            f"parameter {name!r} has no `in`; it is sent as a query parameter",
            pointer=pointer + ("/in" if "$ref" not in as_dict(raw) else ""),
            hint="add `in: query` (or path, header, cookie)",
        )


def _check_credentials(document: dict[str, Any], diagnostics: Diagnostics) -> None:
    for pointer, kind in find_in_document(document):
        diagnostics.warning(
            "secret-in-spec",
            f"this value looks like {kind}; it is left out of the collection",
            pointer=pointer,
            hint=(
                "replace real credentials in the definition with placeholders; testers set "
                "client_id and client_secret in Postman, or pass them to newman with --env-var"
            ),
        )


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {value[:40]!r}" + ("..." if len(value) > 40 else "")
    return "empty" if value is None else f"a {type(value).__name__}"


def _declared_parameters(parameters: Any, resolver: RefResolver) -> Iterator[dict[str, Any]]:
    if isinstance(parameters, list):
        for parameter in parameters:
            target = resolver.deref(parameter)
            if isinstance(target, dict):
                yield target


def _check_path_parameters(
    document: dict[str, Any], version: SpecVersion, resolver: RefResolver, diagnostics: Diagnostics
) -> None:
    for path, method, operation, item in iter_operations(document, resolver):
        declared: set[str] = {
            p["name"]
            for source in (item.get("parameters"), operation.get("parameters"))
            for p in _declared_parameters(source, resolver)
            if p.get("in") == "path" and isinstance(p.get("name"), str)
        }
        used = PATH_TEMPLATE.findall(path)
        pointer = pointer_join("paths", path, method)
        for name in used:
            if name not in declared:
                diagnostics.warning(
                    "undeclared-path-parameter",
                    f"path parameter {{{name}}} of {method.upper()} {path} is used but never"
                    " declared",
                    pointer=pointer,
                    hint=(
                        f"add a parameter with `name: {name}` and `in: path`; "
                        "the collection gets a path variable for it anyway"
                    ),
                )
        for name in sorted(n for n in declared if n not in used):
            diagnostics.warning(
                "unused-path-parameter",
                f"path parameter {name!r} of {method.upper()} {path} is declared but not in the"
                " path, so no request can be valid",
                pointer=pointer,
                hint=(
                    f"add {{{name}}} to the path or remove the parameter: servers and mock servers"
                    " that check requests reject every call"
                ),
            )


def _check_operation_ids(
    document: dict[str, Any], resolver: RefResolver, diagnostics: Diagnostics
) -> None:
    """One warning per operationId used more than once, at its second use, naming the others."""
    uses: dict[str, list[str]] = {}
    for path, method, operation, _ in iter_operations(document, resolver):
        operation_id = operation.get("operationId")
        if isinstance(operation_id, str):
            uses.setdefault(operation_id, []).append(
                pointer_join("paths", path, method, "operationId")
            )
    for operation_id, pointers in uses.items():
        if len(pointers) > 1:
            others = [p for i, p in enumerate(pointers) if i != 1]
            shown = ", ".join("#" + p for p in others[:3]) + (
                f" and {len(others) - 3} more" if len(others) > 3 else ""
            )
            diagnostics.warning(
                "duplicate-operation-id",
                f"operationId {operation_id!r} is also used at {shown}",
                pointer=pointers[1],
                hint="operationIds must be unique",
            )


_SCHEMA_LISTS = ("allOf", "oneOf", "anyOf", "prefixItems")

_SCHEMA_MAPS = ("properties", "patternProperties", "definitions", "$defs", "dependentSchemas")

_SCHEMA_SINGLE = (
    "items",
    "additionalProperties",
    "not",
    "contains",
    "if",
    "then",
    "else",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "additionalItems",
)

_SCHEMA_CHILD_KEYS = frozenset(_SCHEMA_LISTS + _SCHEMA_MAPS + _SCHEMA_SINGLE)


def _schema_roots(
    document: dict[str, Any], version: SpecVersion
) -> Iterator[tuple[Link | None, Any]]:
    """Every place the document holds a schema directly (not nested in another schema)."""
    if version is SpecVersion.SWAGGER_2_0:
        for name, schema in as_dict(document.get("definitions")).items():
            yield ((None, "definitions"), name), schema
    else:
        for name, schema in as_dict(as_dict(document.get("components")).get("schemas")).items():
            yield (((None, "components"), "schemas"), name), schema
    yield from _nested_schema_roots(document)


def _nested_schema_roots(document: Any) -> Iterator[tuple[Link | None, Any]]:
    """`schema` values of parameters, media types, responses and headers, anywhere outside
    schemas."""
    stack: list[tuple[Link | None, Any]] = [(None, document)]
    while stack:
        link, value = stack.pop()
        if isinstance(value, dict):
            for key, child in value.items():
                if key == "schema" and isinstance(child, dict):
                    yield (link, key), child
                elif isinstance(child, (dict, list)) and key not in _NOT_SCHEMA_HOLDERS:
                    stack.append(((link, key), child))
        elif isinstance(value, list):
            stack.extend(
                ((link, index), child)
                for index, child in enumerate(value)
                if isinstance(child, (dict, list))
            )


_NOT_SCHEMA_HOLDERS = frozenset({"definitions", "schemas", "example", "examples", "x-examples"})


def _check_schemas(
    document: dict[str, Any], version: SpecVersion, resolver: RefResolver, diagnostics: Diagnostics
) -> None:
    visited: set[int] = set()
    stack = list(_schema_roots(document, version))
    while stack:
        link, schema = stack.pop()
        if not isinstance(schema, dict) or id(schema) in visited:
            continue
        visited.add(id(schema))
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            target = resolver.deref(schema)
            if isinstance(target, dict) and "in" in target and "name" in target:
                diagnostics.warning(
                    "ref-to-non-schema",
                    f"this schema refers to {ref}, which is a parameter, not a schema",
                    pointer=link_pointer(link) + "/$ref",
                    hint=(
                        "refer to a schema (for example '#/components/schemas/...'); "
                        "the converter uses that parameter's own schema"
                    ),
                )
            continue
        required = schema.get("required")
        if isinstance(required, bool):
            diagnostics.warning(
                "schema-required-boolean",
                f"`required: {str(required).lower()}` on a schema; in a schema `required` lists"
                " property names",
                pointer=link_pointer(link) + "/required",
                hint=(
                    "write `required: [name, ...]` on the parent object schema, "
                    "or move `required: true` to the parameter"
                ),
            )
        if "enum" in schema:
            _check_enum_types(schema, link, diagnostics)
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            if not_ecma_262(pattern):
                diagnostics.warning(
                    "pattern-not-ecma",
                    f"the pattern {pattern!r} is no ECMA-262 regular expression: Postman's"
                    " contract tests and Prism cannot compile it",
                    pointer=link_pointer(link) + "/pattern",
                    hint=(
                        "write it in JavaScript's syntax: no inline flags like `(?i)`, "
                        "`(?<name>...)` for a named group, `$` instead of `\\Z`"
                    ),
                )
            ambiguity = pattern_ambiguity(pattern)
            if ambiguity:
                diagnostics.warning(
                    "pattern-ambiguous",
                    f"the pattern {pattern!r} may not mean what it seems: {ambiguity}",
                    pointer=link_pointer(link) + "/pattern",
                    hint="escape the character meant literally (`\\[`, `\\&`, `\\-`, `\\|`, `\\~`)",
                )
        if schema.keys().isdisjoint(_SCHEMA_CHILD_KEYS):
            continue
        for key in _SCHEMA_LISTS:
            children = schema.get(key)
            if isinstance(children, list):
                stack.extend((((link, key), index), child) for index, child in enumerate(children))
        for key in _SCHEMA_MAPS:
            stack.extend(
                (((link, key), name), child) for name, child in as_dict(schema.get(key)).items()
            )
        for key in _SCHEMA_SINGLE:
            if isinstance(schema.get(key), dict):
                stack.append(((link, key), schema[key]))


def not_ecma_262(pattern: str) -> bool:
    """Whether `pattern` is a regex to Python (so the format check lets it pass) and none to
    ECMA-262, the language schema patterns are written in (README: "Regular expressions in
    schemas")."""
    if ecma_regex.is_regex(pattern):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            re.compile(pattern)
        except (re.error, RecursionError, OverflowError, ValueError):
            return False
    return True


@functools.lru_cache(maxsize=4096)
def pattern_ambiguity(pattern: str) -> str | None:
    """What Python's regex parser warns about in `pattern` (a `[` inside a class, a doubled `&&`,
    `--`, `||` or `~~` that a future version will read as a set operation...), or None. The warning
    itself is kept from stderr: it belongs to the spec, so it is reported there, located."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            re.compile(pattern)
        except (re.error, RecursionError, OverflowError, ValueError):
            return None  # not a regex at all: the format check reports it
    return "; ".join(dict.fromkeys(str(w.message) for w in caught)) or None


_JSON_TYPE_CHECKS: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def _check_enum_types(schema: dict[str, Any], link: Link | None, diagnostics: Diagnostics) -> None:
    """An `enum` whose values the schema's own `type` rules out: no value can ever be valid."""
    types = schema.get("type")
    enum = schema.get("enum")
    names = [types] if isinstance(types, str) else types if isinstance(types, list) else []
    checks = [_JSON_TYPE_CHECKS[n] for n in names if isinstance(n, str) and n in _JSON_TYPE_CHECKS]
    if not checks or len(checks) != len(names) or not isinstance(enum, list):
        return
    if schema.get("nullable") is True or schema.get("x-nullable") is True:
        checks.append(_JSON_TYPE_CHECKS["null"])
    wrong = [v for v in enum if not any(check(v) for check in checks)]
    if wrong:
        shown = ", ".join(repr(v) for v in wrong[:5]) + (", ..." if len(wrong) > 5 else "")
        diagnostics.warning(
            "enum-type-mismatch",
            f"enum value(s) {shown} are not of the schema's type {types!r}, so no value is valid",
            pointer=link_pointer(link) + "/enum",
            hint=(
                "correct the `type` or the enum values; servers and mock servers that check the "
                "schema reject every value"
            ),
        )


def _check_security_schemes(
    document: dict[str, Any], version: SpecVersion, diagnostics: Diagnostics
) -> None:
    if version is SpecVersion.SWAGGER_2_0:
        for name, scheme in as_dict(document.get("securityDefinitions")).items():
            if (
                isinstance(scheme, dict)
                and scheme.get("type") == "oauth2"
                and "scopes" not in scheme
            ):
                diagnostics.warning(
                    "oauth-scopes-missing",
                    f"OAuth2 scheme {name!r} has no `scopes`",
                    pointer=pointer_join("securityDefinitions", name),
                    hint="add `scopes: {}` (an empty map is fine)",
                )
        return
    components = document.get("components")
    schemes = components.get("securitySchemes") if isinstance(components, dict) else None
    for name, scheme in as_dict(schemes).items():
        if not isinstance(scheme, dict) or scheme.get("type") != "oauth2":
            continue
        for flow_name, flow in as_dict(scheme.get("flows")).items():
            if isinstance(flow, dict) and "scopes" not in flow:
                diagnostics.warning(
                    "oauth-scopes-missing",
                    f"OAuth2 flow {flow_name!r} of scheme {name!r} has no `scopes`",
                    pointer=pointer_join("components", "securitySchemes", name, "flows", flow_name),
                    hint="add `scopes: {}` (an empty map is fine)",
                )


def _check_security_requirements(
    document: dict[str, Any], version: SpecVersion, resolver: RefResolver, diagnostics: Diagnostics
) -> None:
    if version is SpecVersion.SWAGGER_2_0:
        declared = set(as_dict(document.get("securityDefinitions")))
    else:
        declared = set(as_dict(as_dict(document.get("components")).get("securitySchemes")))
    places = [("/security", document.get("security"))]
    places += [
        (pointer_join("paths", path, method, "security"), operation.get("security"))
        for path, method, operation, _ in iter_operations(document, resolver)
    ]
    for pointer, requirements in places:
        for index, alternative in enumerate(requirements if isinstance(requirements, list) else ()):
            for name in alternative if isinstance(alternative, dict) else ():
                if name not in declared:
                    diagnostics.warning(
                        "undefined-security-scheme",
                        f"security requirement names {name!r}, which is not a declared security"
                        " scheme",
                        pointer=f"{pointer}/{index}",
                        hint="declare the scheme or correct the name; the converter ignores it",
                    )


def run_checks(
    document: dict[str, Any], version: SpecVersion, resolver: RefResolver, diagnostics: Diagnostics
) -> None:
    """Every check of our own, in the order their findings are reported."""
    _check_structure(document, version, resolver, diagnostics)
    _check_path_parameters(document, version, resolver, diagnostics)
    _check_operation_ids(document, resolver, diagnostics)
    _check_schemas(document, version, resolver, diagnostics)
    _check_security_schemes(document, version, diagnostics)
    _check_security_requirements(document, version, resolver, diagnostics)
    _check_credentials(document, diagnostics)
