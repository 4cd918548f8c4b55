"""Build stage: Api -> Postman Collection v2.1 as plain dicts and lists (JSON is data, never a
template)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from ..auth.postman import MappedAuth, map_requirements
from ..auth.token_item import GET_ACCESS_TOKEN, TOKEN_VARIABLES, TokenItem
from ..credentials import (
    credential_references,
    defuse,
    is_credential_name,
    redact_descriptions,
    secret_kind,
    strip_url_credentials,
    without_credentials,
)
from ..diagnostics import Diagnostics
from ..model import (
    MISSING,
    PATH_TEMPLATE,
    Api,
    Operation,
    Parameter,
    Response,
    SpecVersion,
)
from ..refs.resolve import RefResolver
from ..settings import Settings
from .bodies import Bodies, preferred_media_type
from .contract_tests import CONTRACT_SCHEMAS, ContractTests
from .example_check import ExampleCheck, scalar_text
from .examples import ExampleGenerator
from .parts import (
    Variables,
    constraints,
    described,
    field_text,
    script_event,
    stable_id,
    type_text,
)
from .render import Renderer
from .responses import CleanExamples, SavedResponses

SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
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
        self.variables = Variables()
        self.path_variables: dict[
            str, str
        ] = {}  # key -> value: variables of path parameters inside a segment
        self.collection_id = stable_id("collection", source_stem, api.title, api.api_version)
        self.token = TokenItem(self.collection_id, renderer, self.variables, diagnostics)
        clean = CleanExamples()
        self.bodies = Bodies(api, self.examples, self.checked, clean)
        self.responses = SavedResponses(self.examples, self.bodies, clean)
        self.collection_auth = map_requirements(api, api.security)
        self.contract_tests = (
            ContractTests(api, renderer, settings.tests) if settings.tests != "none" else None
        )

    def collection(self, source: str) -> dict[str, Any]:
        base_url = self._declare_base_url()
        token_request = self.api.token_request
        if token_request is not None:
            self.token.declare_variables(token_request)
            self.token.check_url(token_request.url, base_url)
        self.variables.declare_auth(self.collection_auth.variables)
        items = self._items()
        if token_request is not None:
            items.insert(0, self.token.item(token_request))
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
                self.token.script_event(
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
        return script_event("test", None, script)

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
            item["event"] = [script_event("test", None, self.contract_tests.script(operation))]
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
        item["response"] = self.responses.of(
            item_id, request, operation, redact=self._is_token_operation(operation)
        )
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
        body, content_type = self.bodies.body(
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
                variable = described(
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
        entry = described(
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
            entry = described(
                {"key": defuse(key), "value": text}, self._field_description(parameter)
            )
            if not parameter.required:
                entry["disabled"] = True
            entries.append(entry)
        return entries

    # --- bodies
    # ---------------------------------------------------------------------------------------

    def _field_description(self, parameter: Parameter) -> str:
        return field_text(
            parameter.description, parameter.schema, parameter.required, self.api.resolver
        )

    def _is_token_operation(self, operation: Operation) -> bool:
        token_request = self.api.token_request
        return token_request is not None and token_request.operation == (
            operation.method,
            operation.path,
        )

    # --- saved responses
    # ------------------------------------------------------------------------------


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
    enum, pattern = constraints(parameter.schema, resolver)
    return {
        "name": parameter.name,
        "location": parameter.location,
        "required": parameter.required,
        "type": type_text(parameter.schema, resolver),
        "description": parameter.description,
        "declared": parameter.declared,
        "enum": enum,
        "pattern": pattern,
    }


def _accept(responses: tuple[Response, ...]) -> str | None:
    ordered = sorted(responses, key=lambda r: (not r.status.startswith("2"), 0))
    for response in ordered:
        if response.content:
            media = preferred_media_type(response.content)
            return media.media_type
    return None
