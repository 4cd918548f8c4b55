"""Swagger 2.0 -> Api (bodies, form data, produces/consumes and security definitions mapped to OAS 3
terms)."""

from __future__ import annotations

from typing import Any

from ..diagnostics import Diagnostics, pointer_join
from ..model import (
    MISSING,
    PATH_TEMPLATE,
    Api,
    Header,
    MediaType,
    OAuthFlow,
    Operation,
    Parameter,
    RequestBody,
    Response,
    SecurityScheme,
    Server,
    SpecVersion,
)
from ..refs.resolve import RefResolver
from .common import (
    add_undeclared_path_parameters,
    as_dict,
    as_list,
    iter_operations,
    make_api,
    merged_parameters,
    operation_pointer,
    operation_tags,
    security_requirements,
    text,
)

_FLOW_NAMES = {
    "application": "clientCredentials",
    "password": "password",
    "accessCode": "authorizationCode",
    "implicit": "implicit",
}
_SCHEMA_KEYS = (
    "type",
    "format",
    "items",
    "enum",
    "default",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "multipleOf",
)
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def normalise_swagger2(
    document: dict[str, Any], version: SpecVersion, resolver: RefResolver, diagnostics: Diagnostics
) -> Api:
    """Build the Api model of a Swagger 2.0 document."""
    consumes = _strings(document.get("consumes"))
    produces = _strings(document.get("produces"))
    operations = tuple(
        _operation(path, method, operation, item, resolver, consumes, produces)
        for path, method, operation, item in iter_operations(document, resolver)
    )
    return make_api(
        document,
        version,
        resolver,
        servers=tuple(_servers(document)),
        operations=operations,
        security_schemes=tuple(_security_schemes(document)),
    )


def _strings(value: Any) -> list[str]:
    return [v for v in as_list(value) if isinstance(v, str)]


def _servers(document: dict[str, Any]) -> list[Server]:
    host = text(document.get("host")).strip().rstrip("/")
    if not host:
        return []
    schemes = _strings(document.get("schemes"))
    scheme = "https" if "https" in schemes or not schemes else schemes[0]
    if "://" in host:  # a common mistake: `host: https://api.example.com`
        scheme, host = host.split("://", 1)
    base_path = text(document.get("basePath")).strip().rstrip("/")
    if base_path and not base_path.startswith("/"):
        base_path = "/" + base_path
    return [Server(f"{scheme}://{host}{base_path}")]


def _operation(
    path: str,
    method: str,
    operation: dict[str, Any],
    item: dict[str, Any],
    resolver: RefResolver,
    consumes: list[str],
    produces: list[str],
) -> Operation:
    used = set(PATH_TEMPLATE.findall(path))
    raw_parameters = merged_parameters(
        item.get("parameters"), operation.get("parameters"), resolver
    )
    operation_consumes = (
        _strings(operation.get("consumes")) if "consumes" in operation else consumes
    )
    operation_produces = (
        _strings(operation.get("produces")) if "produces" in operation else produces
    )
    parameters = [
        _parameter(raw)
        for raw in raw_parameters
        if raw.get("in") in ("query", "header", "path")
        and (raw.get("in") != "path" or raw.get("name") in used)
    ]
    security = operation.get("security")
    return Operation(
        method=method,
        path=path,
        operation_id=text(operation.get("operationId")),
        summary=text(operation.get("summary")),
        description=text(operation.get("description")),
        tags=operation_tags(operation),
        parameters=tuple(add_undeclared_path_parameters(path, parameters)),
        request_body=_request_body(raw_parameters, operation_consumes),
        responses=tuple(_responses(operation.get("responses"), resolver, operation_produces)),
        security=security_requirements(security) if isinstance(security, list) else None,
        deprecated=operation.get("deprecated") is True,
        pointer=operation_pointer(path, method),
    )


def _simple_schema(raw: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema a non-body Swagger 2 parameter or header describes inline."""
    return {key: raw[key] for key in _SCHEMA_KEYS if key in raw}


def _parameter(raw: dict[str, Any]) -> Parameter:
    collection_format = text(raw.get("collectionFormat")) or "csv"
    return Parameter(
        name=raw["name"],
        location=raw["in"],
        required=raw.get("required") is True or raw["in"] == "path",
        description=text(raw.get("description")),
        schema=_simple_schema(raw),
        example=raw.get("x-example", MISSING),
        style={
            "multi": "form",
            "csv": "form",
            "ssv": "spaceDelimited",
            "pipes": "pipeDelimited",
        }.get(collection_format, "form"),
        explode=collection_format == "multi",
    )


def _request_body(raw_parameters: list[dict[str, Any]], consumes: list[str]) -> RequestBody | None:
    body = next((p for p in raw_parameters if p.get("in") == "body"), None)
    if body is not None:
        media_types = consumes or ["application/json"]
        return RequestBody(
            tuple(
                MediaType(m, body.get("schema"), body.get("x-example", MISSING))
                for m in media_types
            ),
            body.get("required") is True,
            text(body.get("description")),
        )
    form = [p for p in raw_parameters if p.get("in") == "formData"]
    if not form:
        return None
    has_file = any(p.get("type") == "file" for p in form)
    form_types = [m for m in consumes if m in _FORM_TYPES]
    media_type = (
        "multipart/form-data"
        if has_file or form_types[:1] == ["multipart/form-data"]
        else (form_types[0] if form_types else "application/x-www-form-urlencoded")
    )
    properties = {}
    for p in form:
        schema = _simple_schema(p)
        if p.get("type") == "file":
            schema = {"type": "string", "format": "binary"}
        if text(p.get("description")):
            schema["description"] = p["description"]
        if "x-example" in p:
            schema["example"] = p["x-example"]
        properties[p["name"]] = schema
    required = [p["name"] for p in form if p.get("required") is True]
    form_schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        form_schema["required"] = required
    return RequestBody((MediaType(media_type, form_schema),), bool(required))


def _responses(value: Any, resolver: RefResolver, produces: list[str]) -> list[Response]:
    responses = []
    for status, raw in as_dict(value).items():
        response = as_dict(resolver.deref(raw))
        examples = as_dict(response.get("examples"))
        media_types: tuple[MediaType, ...] = ()
        if "schema" in response or examples:
            names = produces or list(examples) or ["application/json"]
            media_types = tuple(
                MediaType(m, response.get("schema"), examples.get(m, MISSING)) for m in names
            )
        headers = tuple(
            Header(
                str(name),
                text(h.get("description")),
                False,
                _simple_schema(h),
                h.get("x-example", MISSING),
            )
            for name, h in as_dict(response.get("headers")).items()
            if isinstance(h, dict)
        )
        responses.append(
            Response(str(status), text(response.get("description")), media_types, headers)
        )
    return responses


def _security_schemes(document: dict[str, Any]) -> list[SecurityScheme]:
    schemes = []
    for key, scheme in as_dict(document.get("securityDefinitions")).items():
        if not isinstance(scheme, dict):
            continue
        kind = text(scheme.get("type"))
        pointer = pointer_join("securityDefinitions", key)
        description = text(scheme.get("description"))
        if kind == "basic":
            schemes.append(
                SecurityScheme(str(key), "http", "basic", description=description, pointer=pointer)
            )
        elif kind == "apiKey":
            schemes.append(
                SecurityScheme(
                    str(key),
                    "apiKey",
                    location=text(scheme.get("in")),
                    param_name=text(scheme.get("name")),
                    description=description,
                    pointer=pointer,
                )
            )
        elif kind == "oauth2":
            flow = OAuthFlow(
                _FLOW_NAMES.get(text(scheme.get("flow")), text(scheme.get("flow"))),
                text(scheme.get("tokenUrl")),
                text(scheme.get("authorizationUrl")),
                tuple((str(k), text(v)) for k, v in as_dict(scheme.get("scopes")).items()),
            )
            schemes.append(
                SecurityScheme(
                    str(key), "oauth2", flows=(flow,), description=description, pointer=pointer
                )
            )
    return schemes
