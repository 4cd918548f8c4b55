"""OpenAPI 3.0 / 3.1 -> Api."""

from __future__ import annotations

from typing import Any

from ..diagnostics import Diagnostics, pointer_join
from ..model import (
    MISSING,
    PATH_TEMPLATE,
    Api,
    Header,
    MediaType,
    NamedExample,
    OAuthFlow,
    Operation,
    Parameter,
    RequestBody,
    Response,
    SecurityScheme,
    Server,
    ServerVariable,
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


def normalise_oas3(
    document: dict[str, Any], version: SpecVersion, resolver: RefResolver, diagnostics: Diagnostics
) -> Api:
    """Build the Api model of an OpenAPI 3.0 or 3.1 document."""
    operations = tuple(
        _operation(path, method, operation, item, resolver)
        for path, method, operation, item in iter_operations(document, resolver)
    )
    return make_api(
        document,
        version,
        resolver,
        servers=tuple(_servers(document.get("servers"))),
        operations=operations,
        security_schemes=tuple(_security_schemes(document, resolver)),
    )


def _servers(value: Any) -> list[Server]:
    servers = []
    for server in as_list(value):
        if not isinstance(server, dict) or not isinstance(server.get("url"), str):
            continue
        variables = tuple(
            ServerVariable(
                str(name),
                str(spec.get("default", "")),
                text(spec.get("description")),
                tuple(str(v) for v in as_list(spec.get("enum"))),
            )
            for name, spec in as_dict(server.get("variables")).items()
            if isinstance(spec, dict)
        )
        servers.append(Server(server["url"], text(server.get("description")), variables))
    return servers


def _operation(
    path: str, method: str, operation: dict[str, Any], item: dict[str, Any], resolver: RefResolver
) -> Operation:
    used = set(PATH_TEMPLATE.findall(path))
    parameters = [
        _parameter(raw, resolver)
        for raw in merged_parameters(item.get("parameters"), operation.get("parameters"), resolver)
        if raw.get("in") != "path" or raw.get("name") in used
    ]
    security = operation.get("security")
    return Operation(
        method=method,
        path=path,
        operation_id=text(operation.get("operationId")),
        summary=text(operation.get("summary")) or text(item.get("summary")),
        description=text(operation.get("description")) or text(item.get("description")),
        tags=operation_tags(operation),
        parameters=tuple(add_undeclared_path_parameters(path, parameters)),
        request_body=_request_body(operation.get("requestBody"), resolver),
        responses=tuple(_responses(operation.get("responses"), resolver)),
        security=security_requirements(security) if isinstance(security, list) else None,
        deprecated=operation.get("deprecated") is True,
        pointer=operation_pointer(path, method),
    )


def _parameter(raw: dict[str, Any], resolver: RefResolver) -> Parameter:
    location = text(raw.get("in")) or "query"
    schema = raw.get("schema")
    example = _example_of(raw, resolver)
    # parameter with `content` instead of `schema`
    if schema is None and isinstance(raw.get("content"), dict):
        media = next(iter(raw["content"].values()), None)
        if isinstance(media, dict):
            schema = media.get("schema")
            if example is MISSING:
                example = _example_of(media, resolver)
    explode = raw.get("explode")
    return Parameter(
        name=raw["name"],
        location=location,
        required=raw.get("required") is True or location == "path",
        description=text(raw.get("description")),
        schema=schema,
        example=example,
        deprecated=raw.get("deprecated") is True,
        style=text(raw.get("style")),
        explode=explode if isinstance(explode, bool) else None,
    )


def _example_of(node: dict[str, Any], resolver: RefResolver) -> Any:
    if "example" in node:
        return node["example"]
    for named in _named_examples(node.get("examples"), resolver):
        return named.value
    return MISSING


def _named_examples(value: Any, resolver: RefResolver) -> list[NamedExample]:
    examples = []
    for name, raw in as_dict(value).items():
        example = resolver.deref(raw)
        if isinstance(example, dict) and "value" in example:
            examples.append(NamedExample(str(name), example["value"], text(example.get("summary"))))
    return examples


def _media_types(value: Any, resolver: RefResolver) -> tuple[MediaType, ...]:
    media_types = []
    for media_type, raw in as_dict(value).items():
        media = as_dict(resolver.deref(raw))
        media_types.append(
            MediaType(
                media_type=str(media_type),
                schema=media.get("schema"),
                example=media.get("example", MISSING),
                examples=tuple(_named_examples(media.get("examples"), resolver)),
            )
        )
    return tuple(media_types)


def _request_body(value: Any, resolver: RefResolver) -> RequestBody | None:
    body = resolver.deref(value)
    if not isinstance(body, dict):
        return None
    return RequestBody(
        _media_types(body.get("content"), resolver),
        body.get("required") is True,
        text(body.get("description")),
    )


def _responses(value: Any, resolver: RefResolver) -> list[Response]:
    responses = []
    for status, raw in as_dict(value).items():
        response = resolver.deref(raw)
        if not isinstance(response, dict):
            response = {}
        headers = []
        for name, raw_header in as_dict(response.get("headers")).items():
            header = as_dict(resolver.deref(raw_header))
            headers.append(
                Header(
                    str(name),
                    text(header.get("description")),
                    header.get("required") is True,
                    header.get("schema"),
                    _example_of(header, resolver),
                )
            )
        responses.append(
            Response(
                str(status),
                text(response.get("description")),
                _media_types(response.get("content"), resolver),
                tuple(headers),
            )
        )
    return responses


def _security_schemes(document: dict[str, Any], resolver: RefResolver) -> list[SecurityScheme]:
    schemes = []
    components = as_dict(document.get("components"))
    for key, raw in as_dict(components.get("securitySchemes")).items():
        scheme = resolver.deref(raw)
        if not isinstance(scheme, dict):
            continue
        flows = tuple(
            OAuthFlow(
                str(kind),
                text(flow.get("tokenUrl")),
                text(flow.get("authorizationUrl")),
                tuple((str(k), text(v)) for k, v in as_dict(flow.get("scopes")).items()),
            )
            for kind, flow in as_dict(scheme.get("flows")).items()
            if isinstance(flow, dict)
        )
        schemes.append(
            SecurityScheme(
                key=str(key),
                type=text(scheme.get("type")),
                scheme=text(scheme.get("scheme")).lower(),
                location=text(scheme.get("in")),
                param_name=text(scheme.get("name")),
                flows=flows,
                description=text(scheme.get("description")),
                pointer=pointer_join("components", "securitySchemes", key),
            )
        )
    return schemes
