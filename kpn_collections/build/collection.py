"""Build stage: Api -> Postman Collection v2.1 as plain dicts and lists (JSON is data, never a
template)."""

from __future__ import annotations

import ipaddress
import json
import math
import re
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlsplit

from ..auth.postman import ACCESS_TOKEN, NOAUTH, AuthVariable, MappedAuth, map_requirements
from ..credentials import (
    credential_references,
    defuse,
    is_credential_name,
    redact_descriptions,
    redact_secrets,
    secret_kind,
    strip_url_credentials,
    without_credentials,
)
from ..diagnostics import Diagnostics
from ..model import (
    MISSING,
    PATH_TEMPLATE,
    Api,
    MediaType,
    NamedExample,
    Operation,
    Parameter,
    RequestBody,
    Response,
    SpecVersion,
    TokenRequest,
    is_json,
)
from ..refs.resolve import RefResolver
from ..settings import Settings
from ..write import json_text
from .contract_tests import CONTRACT_SCHEMAS, ContractTests
from .example_check import ExampleCheck, scalar_text
from .examples import ExampleGenerator
from .render import Renderer

SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
GET_ACCESS_TOKEN = "Get Access Token"
TOKEN_VARIABLES = {
    "token_url": "tokenUrl",
    "client_id": "client_id",
    "client_secret": "client_secret",
    "access_token": ACCESS_TOKEN,
    "expires_at": "access_token_expires_at",
}
MAX_REFRESH_MARGIN_MS = 30_000
"""Tokens are renewed this long (or a tenth of their lifetime, if shorter) before they expire."""
ID_NAMESPACE = uuid.UUID("7b1d5c9e-4f0a-5b8e-9c3d-2a6f8e1b4c70")
SWAGGERHUB_MOCK_HOST = "virtserver.swaggerhub.com"
_IGNORED_HEADERS = {
    "accept",
    "content-type",
    "authorization",
}  # OpenAPI says these parameters are ignored
_SPEC_NAMES = {
    SpecVersion.SWAGGER_2_0: "Swagger 2.0",
    SpecVersion.OPENAPI_3_0: "OpenAPI 3.0",
    SpecVersion.OPENAPI_3_1: "OpenAPI 3.1",
}


def stable_id(*parts: str) -> str:
    """A UUID derived from stable names, so the same input always gives the same ids."""
    name = "\x1f".join(parts)
    # a lone surrogate (a `\\ud800` escape in JSON) is no UTF-8: hashed as its escape
    if not name.isascii():
        name = name.encode("utf-8", "backslashreplace").decode("utf-8")
    return str(uuid.uuid5(ID_NAMESPACE, name))


@dataclass
class _Variables:
    """Collection variables in the order they are first needed; each key declared once."""

    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the variables an auth scheme reads, in order
    auth_keys: list[str] = field(default_factory=list)

    def declare(self, key: str, value: str, description: str) -> None:
        if key not in self.entries:
            self.entries[key] = {
                "key": key,
                "value": value,
                "type": "string",
                "description": description,
            }

    def declare_auth(self, variables: Iterable[AuthVariable]) -> None:
        for variable in variables:
            self.declare(variable.key, "", variable.description)
            if variable.key not in self.auth_keys:
                self.auth_keys.append(variable.key)


def _is_loopback(host: str) -> bool:
    """Whether a URL's host is this machine (a token endpoint there may use plain http)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_collection(
    api: Api, settings: Settings, renderer: Renderer, source: str, diagnostics: Diagnostics
) -> dict[str, Any]:
    """The Postman collection for an Api: folders, requests, saved responses, auth and variables."""
    builder = _Builder(api, settings, renderer, diagnostics, source.rsplit(".", 1)[0])
    return builder.collection(source)


class _Builder:
    def __init__(
        self,
        api: Api,
        settings: Settings,
        renderer: Renderer,
        diagnostics: Diagnostics,
        source_stem: str,
    ):
        self.api = api
        self.settings = settings
        self.renderer = renderer
        self.diagnostics = diagnostics
        self.examples = ExampleGenerator(api.resolver)
        # every value a request sends, checked against its schema
        self.checked = ExampleCheck(api, diagnostics)
        self.json_texts: dict[int, tuple[Any, str]] = {}  # id(value) -> (value, its JSON text)
        self.cleaned: dict[
            int, tuple[Any, Any]
        ] = {}  # id(example) -> (example, without its credentials)
        self.variables = _Variables()
        self.path_variables: dict[
            str, str
        ] = {}  # key -> value: variables of path parameters inside a segment
        self.collection_id = stable_id("collection", source_stem, api.title, api.api_version)
        self.collection_auth = map_requirements(api, api.security)
        self.contract_tests = (
            ContractTests(api, renderer, settings.tests) if settings.tests != "none" else None
        )

    def collection(self, source: str) -> dict[str, Any]:
        base_url = self._declare_base_url()
        token_request = self.api.token_request
        if token_request is not None:
            self._declare_token_variables(token_request)
            self._check_token_url(token_request.url, base_url)
        self.variables.declare_auth(self.collection_auth.variables)
        items = self._items()
        if token_request is not None:
            items.insert(0, self._get_access_token_item(token_request))
        shared = (
            self.contract_tests.shared_definitions() if self.contract_tests is not None else None
        )
        if shared is not None:
            self.variables.declare(
                CONTRACT_SCHEMAS,
                shared,
                "JSON Schema definitions the contract tests share "
                "(generated from the API definition; regenerate rather than edit).",
            )
        collection: dict[str, Any] = {
            "info": {
                "_postman_id": self.collection_id,
                "name": self.api.title,
                "description": self.renderer.render(
                    "collection.description.md.jinja",
                    title=self.api.title,
                    description=self.api.description,
                    api_version=self.api.api_version,
                    spec_version=_SPEC_NAMES[self.api.version],
                    source=source,
                    base_url=base_url,
                    credentials=self._credential_variables(),
                    token_flow=token_request is not None,
                    other_servers=self._other_servers(base_url),
                    contact=self.api.contact,
                ),
                "schema": SCHEMA_URL,
            },
            "item": items,
        }
        if self.api.security:
            collection["auth"] = self.collection_auth.auth
        events = []
        if token_request is not None:
            events.append(
                self._script_event(
                    "prerequest",
                    "collection.prerequest.js.jinja",
                    self.collection_id,
                    token_request,
                )
            )
        if self.contract_tests is not None:
            events.append(self._contract_event(self.contract_tests, token_request is not None))
        if events:
            collection["event"] = events
        collection["variable"] = list(self.variables.entries.values())
        # `secret-in-spec` promised: credentials in descriptions are left out
        redact_descriptions(collection)
        return collection

    def _credential_variables(self) -> list[dict[str, str]]:
        """The variables a tester fills in (key and the placeholder the newman line shows), in
        order."""
        keys = list(self.variables.auth_keys)
        # the token is fetched, the client credentials are given
        if self.api.token_request is not None:
            keys = [
                TOKEN_VARIABLES["client_id"],
                TOKEN_VARIABLES["client_secret"],
                *(k for k in keys if k != TOKEN_VARIABLES["access_token"]),
            ]
        placeholders = {
            TOKEN_VARIABLES["client_id"]: "YOUR_ID",
            TOKEN_VARIABLES["client_secret"]: "YOUR_SECRET",
        }
        return [
            {"key": k, "placeholder": placeholders.get(k, "YOUR_" + k.upper())}
            for k in dict.fromkeys(keys)
        ]

    def _contract_event(self, contract_tests: ContractTests, token_flow: bool) -> dict[str, Any]:
        """The collection's test script: the contract checks every request's own script calls."""
        credentials = [c["key"] for c in self._credential_variables()]
        script = contract_tests.collection_script(
            credentials, TOKEN_VARIABLES["access_token"] if token_flow else None, GET_ACCESS_TOKEN
        )
        return _event("test", None, script)

    def _other_servers(self, base_url: str) -> list[dict[str, str]]:
        """The definition's servers other than the one `baseUrl` points at (SwaggerHub's mock left
        out)."""
        found: dict[str, str] = {}
        for server in self.api.servers:
            url = strip_url_credentials(server.url)[0].rstrip("/")
            if SWAGGERHUB_MOCK_HOST in server.url or PATH_TEMPLATE.sub(r"{{\1}}", url) == base_url:
                continue
            found.setdefault(url, server.description)
        return [{"url": url, "description": description} for url, description in found.items()]

    # --- the token flow
    # -------------------------------------------------------------------------------

    def _declare_token_variables(self, token_request: TokenRequest) -> None:
        where = (
            "the API's own token operation"
            if token_request.mode == "token-operation"
            else "the OAuth2 client-credentials token endpoint"
        )
        self.variables.declare(TOKEN_VARIABLES["token_url"], token_request.url, f"URL of {where}.")
        self.variables.declare(
            TOKEN_VARIABLES["client_id"],
            "",
            "Your application's client id (KPN Developer Portal); never stored in the file.",
        )
        self.variables.declare(
            TOKEN_VARIABLES["client_secret"],
            "",
            "Your application's client secret; never stored in the file.",
        )
        self.variables.declare(
            TOKEN_VARIABLES["access_token"],
            "",
            "Bearer token, set by Get Access Token or fetched automatically before a request.",
        )
        self.variables.declare(
            TOKEN_VARIABLES["expires_at"],
            "",
            "When (epoch ms) the access token is renewed: a little before it expires.",
        )

    def _check_token_url(self, url: str, base_url: str) -> None:
        """Warn when the token request, which carries client_secret, would go over plain http to
        another host."""
        if url.startswith("{{baseUrl}}"):
            url = base_url + url[len("{{baseUrl}}") :]
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
        except ValueError:
            return
        if parts.scheme.lower() == "http" and not _is_loopback(host):
            self.diagnostics.warning(
                "insecure-token-url",
                f"the token URL {url} is plain http: client_secret and the access token "
                "would cross the network unencrypted",
                hint="use the https URL of the token endpoint (--token-url)",
            )

    def _without_credentials(self, url: str, setting: str) -> str:
        cleaned, removed = strip_url_credentials(url)
        if removed:
            self.diagnostics.warning(
                "secret-in-settings",
                f"the URL given with {setting} carries credentials; "
                "they are left out of the collection",
                hint="pass credentials to Postman or newman as variables, never in a URL",
            )
        return cleaned

    def _get_access_token_item(self, token_request: TokenRequest) -> dict[str, Any]:
        item_id = self._token_item_id()
        fields = [
            (TOKEN_VARIABLES["client_id"], "{{" + TOKEN_VARIABLES["client_id"] + "}}"),
            (TOKEN_VARIABLES["client_secret"], "{{" + TOKEN_VARIABLES["client_secret"] + "}}"),
            *token_request.extra_fields,
        ]
        events = [
            self._script_event("test", "get_access_token.test.js.jinja", item_id, token_request)
        ]
        if token_request.body_format == "json":
            body: dict[str, Any] = {
                "mode": "raw",
                "raw": _json_text(dict(fields)),
                "options": {"raw": {"language": "json"}},
            }
            content_type = "application/json"
        else:
            body = {
                "mode": "urlencoded",
                "urlencoded": [{"key": k, "value": v, "type": "text"} for k, v in fields],
            }
            content_type = "application/x-www-form-urlencoded"
        # grant_type: in the body unless the URL carries it
        if token_request.mode == "client-credentials":
            body["urlencoded"].append(
                {
                    "key": "grant_type",
                    "value": "client_credentials",
                    "type": "text",
                    "disabled": "grant_type=" in token_request.url,
                }
            )
            events.insert(
                0,
                self._script_event(
                    "prerequest", "get_access_token.prerequest.js.jinja", item_id, token_request
                ),
            )
        reference = "{{" + TOKEN_VARIABLES["token_url"] + "}}"
        return {
            "id": item_id,
            "name": GET_ACCESS_TOKEN,
            "event": events,
            "request": {
                "auth": NOAUTH,
                "method": "POST",
                "header": [
                    {"key": "Content-Type", "value": content_type},
                    {"key": "Accept", "value": "application/json"},
                ],
                "body": body,
                "url": {"raw": reference, "host": [reference]},
                "description": self.renderer.render(
                    "get_access_token.description.md.jinja",
                    token_request=token_request,
                    variables=TOKEN_VARIABLES,
                ),
            },
            "response": [],
        }

    def _token_item_id(self) -> str:
        return stable_id(self.collection_id, "get-access-token")

    def _script_event(
        self, listen: str, template: str, owner_id: str, token_request: TokenRequest
    ) -> dict[str, Any]:
        skip = [self._token_item_id()]
        if token_request.operation is not None:
            skip.append(stable_id(self.collection_id, *token_request.operation))
        text = self.renderer.render(
            template,
            variables=TOKEN_VARIABLES,
            token_request=token_request,
            max_refresh_margin_ms=MAX_REFRESH_MARGIN_MS,
            skip_request_ids=skip,
        )
        return _event(listen, stable_id(owner_id, listen), text)

    # --- servers
    # --------------------------------------------------------------------------------------

    def _declare_base_url(self) -> str:
        if self.settings.base_url is not None:
            url = self._without_credentials(self.settings.base_url, "--base-url / base-url").rstrip(
                "/"
            )
            self.variables.declare("baseUrl", url, "Base URL of the API (set with --base-url).")
            return url
        servers = [s for s in self.api.servers if SWAGGERHUB_MOCK_HOST not in s.url] or list(
            self.api.servers
        )
        if not servers:
            self.diagnostics.warning(
                "no-server",
                "the API definition names no server, so `baseUrl` is empty",
                pointer="/servers" if self.api.version is not SpecVersion.SWAGGER_2_0 else "/host",
                hint="add a server (or `host`), or pass --base-url",
            )
            self.variables.declare(
                "baseUrl", "", "Base URL of the API: set it before sending requests."
            )
            return ""
        server = servers[0]
        url = PATH_TEMPLATE.sub(r"{{\1}}", strip_url_credentials(server.url)[0]).rstrip("/")
        description = "Base URL of the API"
        description += (
            f" ({server.description})."
            if server.description
            else " (first server of the definition)."
        )
        self.variables.declare("baseUrl", url, description)
        for variable in server.variables:
            if is_credential_name(variable.name):
                # left out of the URL above (warned by validation): a secret never goes to the API
                # host
                continue
            text = (variable.description or f"Server variable `{variable.name}`").rstrip(".") + "."
            if variable.enum:
                text += " One of: " + ", ".join(variable.enum) + "."
            default = (
                ""
                if secret_kind(variable.default)
                or ("{{" in variable.default and credential_references(variable.default))
                else variable.default
            )  # warned by validation
            self.variables.declare(variable.name, default, text)
        if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://|^{{", url):
            shown = strip_url_credentials(server.url)[0]
            self.diagnostics.warning(
                "relative-server",
                f"the server URL {shown!r} is relative",
                hint="give an absolute server URL, or pass --base-url",
            )
        return url

    # --- folders
    # --------------------------------------------------------------------------------------

    def _items(self) -> list[dict[str, Any]]:
        requests = [(operation, self._item(operation)) for operation in self.api.operations]
        mode = self.settings.folders
        if mode == "flat":
            return _unique_names(requests)
        groups: dict[str, list[dict[str, Any]]] = {}
        root: list[tuple[Operation, dict[str, Any]]] = []
        members_of: dict[str, list[tuple[Operation, dict[str, Any]]]] = {}
        if mode == "tags":
            for tag in self.api.tags:
                groups.setdefault(tag.name, [])
        for operation, item in requests:
            name = _folder_name(operation, mode)
            if name is None:
                root.append((operation, item))
            else:
                groups.setdefault(name, []).append(item)
                members_of.setdefault(name, []).append((operation, item))
        for pairs in members_of.values():
            _unique_names(pairs)
        descriptions = {tag.name: tag.description for tag in self.api.tags}
        folders = []
        for name, members in groups.items():
            if not members:
                continue
            folder: dict[str, Any] = {
                "id": stable_id(self.collection_id, "folder", name),
                "name": name,
            }
            if descriptions.get(name):
                folder["description"] = descriptions[name]
            folder["item"] = members
            folders.append(folder)
        return folders + _unique_names(root)

    # --- requests
    # -------------------------------------------------------------------------------------

    def _item(self, operation: Operation) -> dict[str, Any]:
        item_id = stable_id(self.collection_id, operation.method, operation.path)
        request = self._request(operation)
        item: dict[str, Any] = {"id": item_id, "name": _request_name(operation)}
        if self.contract_tests is not None:
            item["event"] = [_event("test", None, self.contract_tests.script(operation))]
        behaviour: dict[str, Any] = {}
        if "body" in request and operation.method in _BODY_PRUNED_METHODS:
            # else Postman drops the body of a GET, HEAD or DELETE
            behaviour["disableBodyPruning"] = True
        if _only_redirects(operation.responses):
            # the documented 3xx is the answer, not where it points
            behaviour["followRedirects"] = False
        if behaviour:
            item["protocolProfileBehavior"] = behaviour
        item["request"] = request
        item["response"] = self._saved_responses(item_id, request, operation)
        return item

    def _request(self, operation: Operation) -> dict[str, Any]:
        mapped = self._auth(operation)
        headers: list[dict[str, Any]] = []
        for parameter in operation.parameters:
            if parameter.location == "header" and parameter.name.lower() not in _IGNORED_HEADERS:
                headers.append(self._key_value(parameter))
            elif parameter.location == "cookie":
                headers.append(
                    {
                        **self._key_value(parameter),
                        "key": "Cookie",
                        "value": f"{defuse(parameter.name)}={self._param_text(parameter)}",
                    }
                )
        extras = mapped if mapped is not None else self.collection_auth
        headers.extend({"key": k, "value": v} for k, v in extras.extra_headers)
        body, content_type = self._body(
            operation.request_body, credentials=self._is_token_operation(operation)
        )
        if content_type:
            headers.append({"key": "Content-Type", "value": content_type})
        accept = _accept(operation.responses)
        if accept:
            headers.append({"key": "Accept", "value": accept})
        request: dict[str, Any] = {}
        if mapped is not None:
            request["auth"] = mapped.auth
        request["method"] = operation.method.upper()
        request["header"] = headers
        if body is not None:
            request["body"] = body
        request["url"] = self._url(operation, extras.extra_query)
        request["description"] = self.renderer.render(
            "request.description.md.jinja",
            operation=operation,
            parameters=[_parameter_row(p, self.api.resolver) for p in operation.parameters],
        )
        return request

    def _auth(self, operation: Operation) -> MappedAuth | None:
        """The request's own auth, or None to inherit the collection's."""
        if operation.security is None or operation.security == self.api.security:
            return None
        mapped = map_requirements(self.api, operation.security)
        self.variables.declare_auth(mapped.variables)
        if not self.api.security and mapped.auth["type"] == "noauth" and not mapped.extra_headers:
            return None
        return mapped

    def _url(self, operation: Operation, extra_query: Iterable[tuple[str, str]]) -> dict[str, Any]:
        path_parameters = {p.name: p for p in operation.parameters if p.location == "path"}
        segments: list[str] = []
        variables: list[dict[str, Any]] = []
        parts = operation.path.split("/")
        # empty segments (`/a/`, `/a//b`) are kept
        for segment in parts[1:] if parts[0] == "" else parts:
            whole = PATH_TEMPLATE.fullmatch(segment)
            if whole and whole.group(1) in path_parameters:
                parameter = path_parameters[whole.group(1)]
                segments.append(":" + parameter.name)
                variable = _described(
                    {"key": parameter.name, "value": self._param_text(parameter)},
                    self._field_description(parameter),
                )
                variables.append(variable)
            # a parameter inside a segment ("{a}:{b}"): Postman path variables need whole segments
            else:
                segments.append(
                    PATH_TEMPLATE.sub(
                        lambda m: self._inline_path_value(m.group(1), path_parameters, operation),
                        segment,
                    )
                )
        query: list[dict[str, Any]] = []
        for parameter in operation.parameters:
            if parameter.location == "query":
                query.extend(self._query_entries(parameter))
        query.extend({"key": k, "value": v} for k, v in extra_query)
        raw = "{{baseUrl}}" + "".join("/" + s for s in segments)
        enabled = [q for q in query if not q.get("disabled")]
        if enabled:
            raw += "?" + "&".join(f"{q['key']}={q['value']}" for q in enabled)
        url: dict[str, Any] = {"raw": raw, "host": ["{{baseUrl}}"], "path": segments}
        if query:
            url["query"] = query
        if variables:
            url["variable"] = variables
        return url

    def _inline_path_value(
        self, name: str, path_parameters: dict[str, Parameter], operation: Operation
    ) -> str:
        """A path parameter inside a segment as a `{{variable}}` the tester edits in the
        collection's variables (a Postman `:name` path variable must be a whole segment); operations
        whose parameter of that name has the same value share the variable, another value gets a
        variable of its own (`id_2`)."""
        parameter = path_parameters.get(name)
        if parameter is None:
            return "{{" + name + "}}"
        value = self._param_text(parameter)
        if is_credential_name(name) or not _VARIABLE_NAME.fullmatch(name):
            # no variable a credential check would take for a secret, none Postman cannot resolve
            return value
        key, number = name, 1
        while (
            key in self.variables.entries or key in _RESERVED_VARIABLES
        ) and self.path_variables.get(key) != value:
            number += 1
            key = f"{name}_{number}"
        if key not in self.path_variables:
            self.path_variables[key] = value
            label = f"{operation.method.upper()} {operation.path}"
            where = f"Path parameter `{name}` (inside a path segment of {label})"
            self.variables.declare(
                key,
                value,
                " ".join(
                    p
                    for p in (where + ": edit its value here.", self._field_description(parameter))
                    if p
                ),
            )
        return "{{" + key + "}}"

    def _param_value(self, parameter: Parameter) -> Any:
        value = (
            parameter.example
            if parameter.example is not MISSING
            else (self.examples.example(parameter.schema, for_request=True))
        )
        checked = self.checked.parameter(parameter, without_credentials(value, parameter.name))
        # a repair (an enum value) may bring one back
        return without_credentials(checked, parameter.name)

    def _param_text(self, parameter: Parameter) -> str:
        value = self._param_value(parameter)
        if isinstance(value, list):
            value = ",".join(scalar_text(v) for v in value)
        text = scalar_text(value)
        return quote(text, safe="-._~!$&'()*+,;=:@{}") if parameter.location == "path" else text

    def _key_value(self, parameter: Parameter) -> dict[str, Any]:
        entry = _described(
            {"key": defuse(parameter.name), "value": self._param_text(parameter)},
            self._field_description(parameter),
        )
        if not parameter.required:
            entry["disabled"] = True
        return entry

    def _query_entries(self, parameter: Parameter) -> list[dict[str, Any]]:
        value = self._param_value(parameter)
        explode = (
            parameter.explode if parameter.explode is not None else parameter.style in ("", "form")
        )
        pairs: list[tuple[str, str]]
        if isinstance(value, list):
            if explode:
                pairs = [(parameter.name, scalar_text(v)) for v in value] or [(parameter.name, "")]
            else:
                separator = {"spaceDelimited": " ", "pipeDelimited": "|"}.get(parameter.style, ",")
                pairs = [(parameter.name, separator.join(scalar_text(v) for v in value))]
        elif isinstance(value, dict) and parameter.style == "deepObject":
            pairs = [(f"{parameter.name}[{k}]", scalar_text(v)) for k, v in value.items()]
        elif isinstance(value, dict) and explode:
            pairs = [(str(k), scalar_text(v)) for k, v in value.items()] or [(parameter.name, "")]
        else:
            pairs = [(parameter.name, scalar_text(value))]
        entries = []
        for key, text in pairs:
            entry = _described(
                {"key": defuse(key), "value": text}, self._field_description(parameter)
            )
            if not parameter.required:
                entry["disabled"] = True
            entries.append(entry)
        return entries

    # --- bodies
    # ---------------------------------------------------------------------------------------

    def _field_description(self, parameter: Parameter) -> str:
        return _field_text(
            parameter.description, parameter.schema, parameter.required, self.api.resolver
        )

    def _is_token_operation(self, operation: Operation) -> bool:
        token_request = self.api.token_request
        return token_request is not None and token_request.operation == (
            operation.method,
            operation.path,
        )

    def _body(
        self,
        request_body: RequestBody | None,
        *,
        credentials: bool = False,
        example: NamedExample | None = None,
    ) -> tuple[dict[str, Any] | None, str | None]:
        """The request body and its Content-Type: from `example` (one of the preferred media type's
        named examples) when given, else from the spec's first example, else generated."""
        if request_body is None or not request_body.content:
            return None, None
        media = _preferred_media_type(request_body.content)
        value = example.value if example is not None else media.first_example()
        # fields the spec's own example fills in
        given = set(value) if isinstance(value, dict) else set()
        if value is MISSING:
            value = self.examples.example(media.schema, for_request=True)
        value = self.checked.body(media, self._example_without_credentials(value), example)
        # a repair (an enum value) may bring one back
        value = self._example_without_credentials(value)
        # the token operation sends the credential variables
        if credentials and isinstance(value, dict):
            value = {k: v for k, v in redact_secrets(value).items() if v != ""}
            schema = self.api.resolver.deref(media.schema)
            # never its placeholder
            documented = schema.get("properties", {}) if isinstance(schema, dict) else {}
            value.update(
                {
                    k: "{{" + TOKEN_VARIABLES[k] + "}}"
                    for k in ("client_id", "client_secret")
                    if k in value
                    or k in documented
                    or k == "client_id"
                    or media.media_type.endswith("json")
                }
            )
            if "grant_type" in value:
                value["grant_type"] = "client_credentials"
        kind = media.kind
        chosen = None if credentials else given  # None: every field is meant to be sent
        if kind == "application/x-www-form-urlencoded":
            return {
                "mode": "urlencoded",
                "urlencoded": self._form_fields(media, value, chosen, files=False),
            }, kind
        if kind.startswith("multipart/"):
            return {
                "mode": "formdata",
                "formdata": self._form_fields(media, value, chosen, files=True),
            }, None
        if is_json(kind) or (kind == "*/*" and isinstance(value, (dict, list))):
            return {
                "mode": "raw",
                "raw": _json_text(value),
                "options": {"raw": {"language": "json"}},
            }, ("application/json" if kind == "*/*" else media.media_type)
        if kind in ("application/octet-stream",) or kind.startswith(("image/", "audio/", "video/")):
            return {"mode": "file", "file": {"src": None}}, media.media_type
        language = "xml" if "xml" in kind else ("html" if "html" in kind else "text")
        raw = (
            value
            if isinstance(value, str)
            else _xml_text(value)
            if language == "xml"
            else _json_text(value)
        )
        return {
            "mode": "raw",
            "raw": raw,
            "options": {"raw": {"language": language}},
        }, media.media_type

    def _form_fields(
        self, media: MediaType, value: Any, given: set[Any] | None, *, files: bool
    ) -> list[dict[str, Any]]:
        schema = self.api.resolver.deref(media.schema)
        properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
        if not isinstance(value, dict):
            value = {}
        names = list(
            dict.fromkeys([*value.keys(), *(properties if isinstance(properties, dict) else {})])
        )
        required = schema.get("required") if isinstance(schema, dict) else None
        required = required if isinstance(required, list) else []
        fields = []
        for name in names:
            prop = (
                self.api.resolver.deref(properties.get(name))
                if isinstance(properties, dict)
                else None
            )
            prop = prop if isinstance(prop, dict) else {}
            entry: dict[str, Any] = {"key": defuse(name)}
            if files and _is_file_schema(prop):
                # each part names its type, as servers expect
                media_type = prop.get("contentMediaType")
                entry.update(
                    {
                        "type": "file",
                        "src": [],
                        "contentType": media_type
                        if isinstance(media_type, str)
                        else "application/octet-stream",
                    }
                )
            else:
                field_value = value.get(name, MISSING)
                if field_value is MISSING:
                    field_value = without_credentials(
                        self.examples.example(prop, for_request=True), name
                    )
                entry.update({"value": scalar_text(field_value), "type": "text"})
                if files and isinstance(field_value, (dict, list)):
                    # OpenAPI's default encoding for such a part
                    entry["contentType"] = "application/json"
            _described(
                entry,
                _field_text(prop.get("description"), prop, name in required, self.api.resolver),
            )
            if given is not None and name not in required and name not in given:
                # optional, with only a generated value: like optional query parameters
                entry["disabled"] = True
            fields.append(entry)
        return fields

    # --- saved responses
    # ------------------------------------------------------------------------------

    def _saved_responses(
        self, item_id: str, request: dict[str, Any], operation: Operation
    ) -> list[dict[str, Any]]:
        """One saved response per documented status, or per request/response example pair where the
        spec names several examples: none of them is dropped, and none is repeated beyond its
        pair."""
        redact = self._is_token_operation(operation)
        pairs = _example_pairs(operation)
        named = _named_request_examples(operation)
        first = named[0] if named else None  # the request itself sends this one
        saved = []
        for response, entries in zip(operation.responses, pairs, strict=True):
            for requested, answered in entries:
                original = request
                own = requested is not None and requested is not first
                if own:
                    body, _ = self._body(
                        operation.request_body, credentials=redact, example=requested
                    )
                    original = {**request, "body": body}
                label = _pair_label(requested, answered) if len(entries) > 1 or own else ""
                saved.append(
                    self._saved_response(
                        item_id,
                        original,
                        response,
                        redact=redact,
                        example=answered,
                        label=label,
                        requested=requested,
                    )
                )
        return saved

    def _saved_response(
        self,
        item_id: str,
        request: dict[str, Any],
        response: Response,
        *,
        redact: bool = False,
        example: NamedExample | None = None,
        label: str = "",
        requested: NamedExample | None = None,
    ) -> dict[str, Any]:
        code = _status_code(response.status)
        headers: list[dict[str, Any]] = []
        body = ""
        language = "text"
        if response.content:
            media = _preferred_media_type(response.content)
            value = self._example_without_credentials(
                example.value if example is not None else media.first_example()
            )
            if value is MISSING:
                value = self.examples.example(media.schema, for_request=False)
            if redact:
                value = redact_secrets(value)
            kind = media.kind
            content_type = "application/json" if kind == "*/*" else media.media_type
            headers.append({"key": "Content-Type", "value": content_type})
            if is_json(kind) or kind == "*/*":
                body, language = self._json_text_of(value), "json"
            elif "xml" in kind:
                body, language = (value if isinstance(value, str) else _xml_text(value)), "xml"
            else:
                body = value if isinstance(value, str) else _json_text(value)
                language = "html" if "html" in kind else "text"
        for header in response.headers:
            if header.name.lower() == "content-type":
                continue
            value = (
                without_credentials(header.example, header.name)
                if header.example is not MISSING
                else (self.examples.example(header.schema, for_request=False))
            )
            entry: dict[str, Any] = {"key": header.name, "value": scalar_text(value)}
            if header.description:
                entry["description"] = header.description
            headers.append(entry)
        original = {k: v for k, v in request.items() if k not in ("description", "auth")}
        name = (
            response.description.strip().splitlines()[0][:120]
            if response.description.strip()
            else ""
        )
        name = name or _reason(code)
        response_id = stable_id(item_id, "response", response.status)
        if label:  # one of several pairs of this status: each named, and with an id of its own
            name = f"{name} — {label}"
            response_id = stable_id(
                item_id,
                "response",
                response.status,
                "request",
                requested.name if requested is not None else "",
                "response",
                example.name if example is not None else "",
            )
        return {
            "id": response_id,
            "name": name,
            "originalRequest": original,
            "status": _reason(code),
            "code": code,
            "_postman_previewlanguage": language,
            "header": headers,
            "cookie": [],
            "body": body,
        }

    def _example_without_credentials(self, value: Any) -> Any:
        """`without_credentials(value)`, remembered for example data the definition shares between
        operations."""
        if not isinstance(value, (dict, list)):
            return without_credentials(value)
        known = self.cleaned.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        cleaned = without_credentials(value)
        self.cleaned[id(value)] = (
            value,
            cleaned,
        )  # the value is kept alive with it: its id stays its own
        return cleaned

    def _json_text_of(self, value: Any) -> str:
        """`_json_text(value)`, remembered for the shared values the example generator returns (the
        same error body is saved with every operation's responses)."""
        key = id(value)
        known = self.json_texts.get(key)
        if known is not None and known[0] is value:
            return known[1]
        text = _json_text(value)
        if isinstance(value, (dict, list)):
            self.json_texts[key] = (
                value,
                text,
            )  # the value is kept alive with it: its id stays its own
        return text


def _event(listen: str, script_id: str | None, text: str) -> dict[str, Any]:
    """A script event (`prerequest` or `test`); Postman keeps script text as a list of lines.
    Without an id, the script is only its lines (Postman's defaults: JavaScript, an id of its own):
    every API request has one, and in big collections the id and type add up."""
    # only newlines: str.splitlines() would also cut at U+2028, \x0b, \x1c, ...
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if script_id is None:
        return {"listen": listen, "script": {"exec": lines}}
    return {"listen": listen, "script": {"id": script_id, "type": "text/javascript", "exec": lines}}


def _folder_name(operation: Operation, mode: str) -> str | None:
    if mode == "tags":
        return operation.tags[0] if operation.tags else None
    segments = [s for s in operation.path.split("/") if s and not s.startswith("{")]
    return segments[0] if segments else None


_VARIABLE_NAME = re.compile(r"[\w.-]+")
"""Names a `{{variable}}` reference in a URL carries as they are."""
_RESERVED_VARIABLES = frozenset({"baseUrl", CONTRACT_SCHEMAS, *TOKEN_VARIABLES.values()})
"""Collection variables that may be declared after the requests are built: never a path
parameter's."""

_BODY_PRUNED_METHODS = frozenset({"get", "head", "delete"})
"""Methods whose body Postman drops unless the request says `disableBodyPruning`."""


def _only_redirects(responses: tuple[Response, ...]) -> bool:
    """Whether the operation documents a 3xx and no 2xx as its success."""
    statuses = [r.status.upper() for r in responses]
    return any(s.startswith("3") for s in statuses) and not any(s.startswith("2") for s in statuses)


def _named_request_examples(operation: Operation) -> list[NamedExample]:
    """The named examples of the request body's preferred media type, when it has several (and no
    lone `example`)."""
    body = operation.request_body
    if body is None or not body.content:
        return []
    media = _preferred_media_type(body.content)
    return list(media.examples) if media.example is MISSING and len(media.examples) > 1 else []


def _named_response_examples(response: Response) -> list[NamedExample]:
    """The named examples of the response's preferred media type (none when it gives a lone
    `example`)."""
    if not response.content:
        return []
    media = _preferred_media_type(response.content)
    return list(media.examples) if media.example is MISSING else []


def _example_pairs(
    operation: Operation,
) -> list[list[tuple[NamedExample | None, NamedExample | None]]]:
    """Per documented response, the (request example, response example) pairs saved with it: each
    response example goes with the request example of the same name, else with the first; a request
    example that no response example names goes with the first example of the success response
    (None: the spec's lone example, or generated)."""
    requests = _named_request_examples(operation)
    by_name = {r.name: r for r in requests}
    first = requests[0] if requests else None
    pairs: list[list[tuple[NamedExample | None, NamedExample | None]]] = []
    paired: set[str] = set()
    for response in operation.responses:
        entries: list[tuple[NamedExample | None, NamedExample | None]] = [
            (by_name.get(a.name, first), a) for a in _named_response_examples(response)
        ] or [(first, None)]
        paired.update(r.name for r, _ in entries if r is not None)
        pairs.append(entries)
    if pairs:
        statuses = [r.status for r in operation.responses]
        success = next(
            (i for prefix in ("2", "3") for i, s in enumerate(statuses) if s.startswith(prefix)), 0
        )
        answer = pairs[success][0][1]
        pairs[success].extend((r, answer) for r in requests if r.name not in paired)
    return pairs


def _pair_label(requested: NamedExample | None, answered: NamedExample | None) -> str:
    """How a saved response tells its example pair apart: the examples' summaries, else their
    names."""

    def label(example: NamedExample) -> str:
        lines = example.summary.strip().splitlines()
        return " ".join(lines[0].split())[:120] if lines else example.name

    if answered is None:
        return label(requested) if requested is not None else ""
    if requested is None or requested.name == answered.name:
        return label(answered)
    return f"{label(requested)} → {label(answered)}"


def _request_name(operation: Operation) -> str:
    name = operation.summary.strip() or operation.operation_id.strip()
    return " ".join(name.split()) if name else f"{operation.method.upper()} {operation.path}"


def _unique_names(pairs: list[tuple[Operation, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The items, each clashing name (two operations named alike in one folder) followed by its
    operationId, or by its method and path when that does not tell them apart; the items' own order
    decides nothing."""
    counts = Counter(item["name"] for _, item in pairs)
    clashing = [(operation, item) for operation, item in pairs if counts[item["name"]] > 1]
    ids = Counter((item["name"], operation.operation_id.strip()) for operation, item in clashing)
    for operation, item in clashing:
        operation_id = " ".join(operation.operation_id.split())
        if operation_id and ids[(item["name"], operation.operation_id.strip())] == 1:
            item["name"] = f"{item['name']} ({operation_id})"
        else:
            item["name"] = f"{item['name']} ({operation.method.upper()} {operation.path})"
    return [item for _, item in pairs]


def _parameter_row(parameter: Parameter, resolver: RefResolver) -> dict[str, Any]:
    enum, pattern = _constraints(parameter.schema, resolver)
    return {
        "name": parameter.name,
        "location": parameter.location,
        "required": parameter.required,
        "type": _type_text(parameter.schema, resolver),
        "description": parameter.description,
        "declared": parameter.declared,
        "enum": enum,
        "pattern": pattern,
    }


def _type_text(schema: Any, resolver: RefResolver, depth: int = 0) -> str:
    """A schema's type as a tester reads it (`string (date)`, `array of string`, `object`); a `$ref`
    is followed, so an internal schema name (`healthState1`) never shows."""
    schema = resolver.deref(schema)
    if not isinstance(schema, dict) or depth > 3:
        return ""
    kind = schema.get("type")
    if isinstance(kind, list):
        text = " | ".join(str(k) for k in kind)
    elif isinstance(kind, str):
        text = kind
    elif "items" in schema:
        text = "array"
    elif "properties" in schema or "additionalProperties" in schema:
        text = "object"
    else:
        branches = [b for key in ("oneOf", "anyOf", "allOf") for b in _list(schema.get(key))]
        texts = [t for t in (_type_text(b, resolver, depth + 1) for b in branches) if t]
        text = texts[0] if "allOf" in schema and texts else " or ".join(dict.fromkeys(texts))
    if text == "array":
        items = _type_text(schema.get("items"), resolver, depth + 1)
        text = f"array of {items}" if items else text
    if isinstance(schema.get("format"), str) and schema["format"]:
        text = f"{text} ({schema['format']})"
    return text


def _constraints(schema: Any, resolver: RefResolver) -> tuple[list[str], str]:
    """The allowed values and the pattern of a value (of an array's items when it is an array)."""
    schema = resolver.deref(schema)
    if isinstance(schema, dict) and schema.get("type") == "array":
        schema = resolver.deref(schema.get("items"))
    if not isinstance(schema, dict):
        return [], ""
    enum = [scalar_text(v) for v in _list(schema.get("enum"))]
    pattern = schema.get("pattern")
    return enum, pattern if isinstance(pattern, str) else ""


def _field_text(description: Any, schema: Any, required: bool, resolver: RefResolver) -> str:
    """A key-value field's description: `(Required)`, the definition's text, then type, allowed
    values and pattern (`(Required) The day. Type: string (date).`)."""
    enum, pattern = _constraints(schema, resolver)
    kind = _type_text(schema, resolver)
    parts = [
        "(Required)" if required else "",
        description.strip() if isinstance(description, str) else "",
        f"Type: {kind}." if kind else "",
        "One of: " + ", ".join(enum) + "." if enum else "",
        f"Pattern: {pattern}" if pattern else "",
    ]
    return " ".join(p for p in parts if p)


def _described(entry: dict[str, Any], description: str) -> dict[str, Any]:
    if description:
        entry["description"] = description
    return entry


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _is_file_schema(schema: dict[str, Any]) -> bool:
    return (
        schema.get("format") == "binary"
        or schema.get("type") == "file"
        or ("contentMediaType" in schema and schema.get("type") in (None, "string"))
    )


def _preferred_media_type(content: tuple[MediaType, ...]) -> MediaType:
    def rank(media: MediaType) -> int:
        kind = media.kind
        if kind == "application/json":
            return 0
        if is_json(kind):
            return 1
        if kind == "application/x-www-form-urlencoded":
            return 2
        if kind.startswith("multipart/"):
            return 3
        return 4

    return min(content, key=rank)


def _accept(responses: tuple[Response, ...]) -> str | None:
    ordered = sorted(responses, key=lambda r: (not r.status.startswith("2"), 0))
    for response in ordered:
        if response.content:
            media = _preferred_media_type(response.content)
            return media.media_type
    return None


def _status_code(status: str) -> int:
    if re.fullmatch(r"[1-5][0-9][0-9]", status):
        return int(status)
    if re.fullmatch(r"[1-5]XX", status, re.IGNORECASE):
        return int(status[0]) * 100
    return 500  # `default`: the catch-all for errors


def _reason(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Response"


def _json_text(value: Any) -> str:
    if isinstance(value, str):
        try:
            json.loads(value, parse_constant=_not_json)
            return value  # the spec gave the body as JSON text already
        except ValueError:
            pass
    return json_text(_json_numbers(value))


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _json_numbers(value: Any) -> Any:
    """Example data with infinite and NaN numbers (YAML's .inf, .nan) as null: JSON has no such
    numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_numbers(v) for v in value]
    return value


def _xml_text(value: Any, tag: str = "root") -> str:
    def element(name: str, content: Any) -> str:
        if isinstance(content, dict):
            inner = "".join(element(str(k), v) for k, v in content.items())
        elif isinstance(content, list):
            return "".join(element(name, v) for v in content)
        else:
            inner = _escape_xml(scalar_text(content))
        return f"<{name}>{inner}</{name}>"

    return '<?xml version="1.0" encoding="UTF-8"?>\n' + element(tag, value)


def _escape_xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
