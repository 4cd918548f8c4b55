"""The internal model: Swagger 2.0 and OpenAPI 3.x normalised into one set of frozen dataclasses.

Schemas stay as the raw (unmutated) dicts of the document, with their `$ref`s; the RefResolver that
travels with the Api follows them.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any

from .diagnostics import Diagnostics
from .refs.resolve import RefResolver

PATH_TEMPLATE = re.compile(r"{([^{}]+)}")
"""A `{name}` template in a path or server URL."""

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class SpecVersion(enum.Enum):
    """The API description formats the converter reads."""

    SWAGGER_2_0 = "2.0"
    OPENAPI_3_0 = "3.0"
    OPENAPI_3_1 = "3.1"


def detect_version(document: dict[str, Any], diagnostics: Diagnostics) -> SpecVersion | None:
    """Which format the document is in; an error diagnostic and None when it is none we read."""
    if "swagger" in document:
        if str(document["swagger"]) == "2.0":
            return SpecVersion.SWAGGER_2_0
        diagnostics.error(
            "unsupported-version",
            f"Swagger version {document['swagger']!r} is not supported",
            pointer="/swagger",
            hint="use Swagger 2.0 or OpenAPI 3.0/3.1",
        )
        return None
    if "openapi" in document:
        version = str(document["openapi"])
        if re.fullmatch(r"3\.0\.\d+", version):
            return SpecVersion.OPENAPI_3_0
        if re.fullmatch(r"3\.1\.\d+", version):
            return SpecVersion.OPENAPI_3_1
        diagnostics.error(
            "unsupported-version",
            f"OpenAPI version {version!r} is not supported",
            pointer="/openapi",
            hint="use OpenAPI 3.0.x or 3.1.x (or Swagger 2.0)",
        )
        return None
    diagnostics.error(
        "not-openapi",
        "the document has neither a `swagger` nor an `openapi` key",
        hint="is this an API definition? SwaggerHub exports start with `openapi:` or `swagger:`",
    )
    return None


class _Missing:
    """Marks an example that the spec does not give (None is a valid example value)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


@dataclass(frozen=True)
class ServerVariable:
    name: str
    default: str
    description: str = ""
    enum: tuple[str, ...] = ()


@dataclass(frozen=True)
class Contact:
    name: str = ""
    email: str = ""
    url: str = ""


@dataclass(frozen=True)
class Server:
    url: str
    description: str = ""
    variables: tuple[ServerVariable, ...] = ()


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # path, query, header, cookie
    required: bool
    description: str = ""
    schema: Any = None
    example: Any = MISSING
    deprecated: bool = False
    style: str = ""
    explode: bool | None = None
    declared: bool = True  # False for a path parameter the spec uses but never declares


@dataclass(frozen=True)
class NamedExample:
    name: str
    value: Any
    summary: str = ""


def is_json(kind: str) -> bool:
    """Whether a media type (without parameters, see `MediaType.kind`) is JSON: application/json,
    text/json or any `+json` type. `*/*` may hold JSON too; callers say what they do with it."""
    return kind in ("application/json", "text/json") or kind.endswith("+json")


@dataclass(frozen=True)
class MediaType:
    media_type: str
    schema: Any = None
    example: Any = MISSING
    examples: tuple[NamedExample, ...] = ()

    @property
    def kind(self) -> str:
        """The media type without parameters, lower case: `application/json; charset=utf-8` ->
        `application/json`."""
        return self.media_type.split(";")[0].strip().lower()

    def first_example(self) -> Any:
        """The spec's own example for this media type, or MISSING."""
        if self.example is not MISSING:
            return self.example
        for named in self.examples:
            if named.value is not MISSING:
                return named.value
        return MISSING


@dataclass(frozen=True)
class RequestBody:
    content: tuple[MediaType, ...]
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Header:
    name: str
    description: str = ""
    required: bool = False
    schema: Any = None
    example: Any = MISSING


@dataclass(frozen=True)
class Response:
    status: str  # "200", "2XX", "default"
    description: str = ""
    content: tuple[MediaType, ...] = ()
    headers: tuple[Header, ...] = ()


@dataclass(frozen=True)
class OAuthFlow:
    kind: str  # clientCredentials, password, authorizationCode, implicit
    token_url: str = ""
    authorization_url: str = ""
    scopes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SecurityScheme:
    key: str
    type: str  # oauth2, apiKey, http, openIdConnect, mutualTLS
    scheme: str = ""  # for http: basic, bearer, ...
    location: str = ""  # for apiKey: header, query, cookie
    param_name: str = ""  # for apiKey
    flows: tuple[OAuthFlow, ...] = ()
    description: str = ""
    pointer: str = ""

    def flow(self, kind: str) -> OAuthFlow | None:
        """The OAuth flow of that kind, if the scheme has one."""
        return next((f for f in self.flows if f.kind == kind), None)


SecurityRequirement = tuple[tuple[str, tuple[str, ...]], ...]
"""One alternative of a security requirement: (scheme name, scopes) pairs that apply together."""


@dataclass(frozen=True)
class Operation:
    method: str  # lower case
    path: str
    operation_id: str = ""
    summary: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    parameters: tuple[Parameter, ...] = ()
    request_body: RequestBody | None = None
    responses: tuple[Response, ...] = ()
    security: tuple[SecurityRequirement, ...] | None = None  # None: inherit the API's
    deprecated: bool = False
    pointer: str = ""


@dataclass(frozen=True)
class TokenRequest:
    """How the collection obtains its bearer token (filled in by the inject-auth stage)."""

    # "client-credentials" (an OAuth2 token URL) or "token-operation" (the API's own endpoint)
    mode: str
    # the `tokenUrl` variable's value: an absolute URL, or "{{baseUrl}}/path" for a token operation
    url: str
    body_format: str = "urlencoded"  # or "json"
    extra_fields: tuple[
        tuple[str, str], ...
    ] = ()  # further body fields the token endpoint documents
    operation: tuple[str, str] | None = None  # (method, path) of the API's own token operation


@dataclass(frozen=True)
class Tag:
    name: str
    description: str = ""


@dataclass(frozen=True)
class Api:
    version: SpecVersion
    title: str
    resolver: RefResolver = field(repr=False, compare=False)
    description: str = ""
    api_version: str = ""
    servers: tuple[Server, ...] = ()
    operations: tuple[Operation, ...] = ()
    security_schemes: tuple[SecurityScheme, ...] = ()
    security: tuple[SecurityRequirement, ...] = ()
    tags: tuple[Tag, ...] = ()
    token_request: TokenRequest | None = None
    contact: Contact = Contact()

    def scheme(self, key: str) -> SecurityScheme | None:
        """The security scheme declared under that name."""
        return next((s for s in self.security_schemes if s.key == key), None)
