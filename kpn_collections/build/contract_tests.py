"""Contract tests: a Postman test script per request that checks the response against the
definition.

`smoke` checks that the status is documented (exactly, by a `2XX`-style range, or by `default`) and
a success, and that the response's Content-Type is one documented for that status. `contract` also
validates JSON bodies against the documented schema (converted for Postman's Ajv 6 by ajv_schema.py)
and checks that required response headers are present. The checks are written once, in the
collection's test script (`collection.test.js.jinja`, which defines `kpnContract`); each request's
script (`request.test.js.jinja`) only hands it the request's label and documented responses, which
are built here as plain values. Named schemas are stored once, in the collection variable
CONTRACT_SCHEMAS; a script's schemas refer to them by name.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from .. import fast_json
from ..credentials import secret_kind
from ..model import Api, MediaType, Operation, Response, is_json
from .ajv_schema import SchemaStore
from .render import Renderer

SHARE_ABOVE = 400
"""Inline response schemas whose JSON is longer than this many characters go into the shared
definitions."""
CONTRACT_SCHEMAS = "contract_schemas"
"""The collection variable holding the shared JSON Schema definitions (JSON text)."""
NO_BODY_METHODS = frozenset({"head"})
NO_BODY_STATUSES = (204, 205, 304)
MAX_DESCRIPTION = 100
"""Longest response description quoted in a failure message (the first line, cut)."""


@dataclass
class ContractTests:
    """Builds the test scripts of one collection: every operation's documented responses first (so
    the shared definitions hold each repeated subschema once), then a script per request on
    demand."""

    api: Api
    renderer: Renderer
    mode: str  # smoke or contract (see settings.TEST_MODES)

    def __post_init__(self) -> None:
        self.store = SchemaStore(self.api.resolver, self.api.version)
        self._known: dict[
            bytes, tuple[Any, Any]
        ] = {}  # content_key(schema) -> (schema, its converted form)
        self._uses: list[
            tuple[dict[str, Any], str, str]
        ] = []  # (content, media type, name hint) with a schema
        # Every operation's responses are built first, so that subschemas repeated anywhere are
        # stored once.
        self._responses = {
            id(operation): (operation, self._documented(operation))
            for operation in self.api.operations
        }
        if self._uses:
            folded = self.store.fold([(content[kind], hint) for content, kind, hint in self._uses])
            for (content, kind, _), schema in zip(self._uses, folded, strict=True):
                content[kind] = schema

    def script(self, operation: Operation) -> str:
        """The test script text for one operation's request."""
        known = self._responses.get(id(operation))
        return self.renderer.render(
            "request.test.js.jinja",
            label=operation_label(operation),
            mode=self.mode,
            responses=grouped(
                known[1]
                if known is not None and known[0] is operation
                else self._documented(operation)
            ),
        )

    def collection_script(
        self, credentials: list[str], token: str | None, token_request: str
    ) -> str:
        """The collection's test script, which defines the checks every request's script runs:
        `credentials` are the variables a tester fills in, `token` the access token variable (None
        without the token flow) and `token_request` the name of the request that fetches it, for the
        hint a 401 or 403 gets."""
        return self.renderer.render(
            "collection.test.js.jinja",
            mode=self.mode,
            schemas_variable=CONTRACT_SCHEMAS,
            no_body_statuses=list(NO_BODY_STATUSES),
            credentials=credentials,
            token=token,
            token_request=token_request,
        )

    def shared_definitions(self) -> str | None:
        """The JSON text of the shared definitions, or None when no script uses any."""
        if not self.store.definitions:
            return None
        return json.dumps(
            self.store.definitions, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        )

    def _documented(self, operation: Operation) -> dict[str, dict[str, Any]]:
        """Each documented status of an operation with what the script checks for it."""
        return {
            response.status: self._response(response, operation) for response in operation.responses
        }

    def _response(self, response: Response, operation: Operation) -> dict[str, Any]:
        """A documented response, shaped like OpenAPI's: the description of a status that is no 2xx
        (the message when it answers a request that expects a success); `content`, each media type
        with the schema its body is checked against (None for none), unless the method has no body
        (HEAD); in contract mode the required headers. What is empty is left out, to keep big
        collections small."""
        name = operation.operation_id or f"{operation.method}{operation.path}"
        entry: dict[str, Any] = {}
        description = error_description(response)
        if description:
            entry["description"] = description
        if response.content and operation.method not in NO_BODY_METHODS:
            content: dict[str, Any] = {}
            for media in response.content:
                # the first wins, as it did when the script looked through a list
                if media.kind not in content:
                    content[media.kind] = self._schema(media, f"{name}_{response.status}")
                    if content[media.kind] is not None:
                        self._uses.append((content, media.kind, f"{name}_{response.status}"))
            entry["content"] = content
        headers = [
            h.name for h in response.headers if h.required and h.name.lower() != "content-type"
        ]
        if self.mode == "contract" and headers:
            entry["headers"] = headers
        return entry

    def _schema(self, media: MediaType, name_hint: str) -> Any:
        """The schema a body of this media type is checked against in contract mode, or None: JSON
        bodies always, other bodies when the schema describes a string (the body's text)."""
        if self.mode != "contract" or media.schema is None:
            return None
        schema = self._converted(media.schema, name_hint)
        json_like = is_json(media.kind) or media.kind == "*/*"  # `*/*` may hold JSON
        return schema if json_like or self._describes_string(schema) else None

    def _converted(self, source: Any, name_hint: str) -> Any:
        """The Ajv form of a response schema, shared (a `$ref` to a definition) when it is big.
        Equal schemas (many responses repeat the same inline schema: 322 schemas, 173 different, in
        KPN's sd-lan API) are converted once: the result only depends on the schema and on
        definition names already given."""
        key = content_key(source)
        known = self._known.get(key) if key is not None else None
        if known is not None and known[0] == source:  # == as well: the key writes NaN as null
            return known[1]
        schema = self.store.convert(source)
        if isinstance(schema, bool):
            schema = {} if schema else {"not": {}}
        if len(json.dumps(schema)) > SHARE_ABOVE:
            schema = self.store.share(schema, name_hint)
        if key is not None:
            self._known[key] = (source, schema)
        return schema

    def _describes_string(self, schema: dict[str, Any]) -> bool:
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target = self.store.definitions.get(ref.rsplit("/", 1)[-1])
            schema = target if isinstance(target, dict) else {}
        return schema.get("type") == "string"


def grouped(responses: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The documented responses with the statuses that document the same thing under one key, `"400
    401 404"` (APIs often answer every error with the same schema): the request's script says it
    once."""
    groups: dict[str, list[str]] = {}
    entries: dict[str, dict[str, Any]] = {}
    for status, entry in responses.items():
        key = json.dumps(entry, sort_keys=True)
        groups.setdefault(key, []).append(status)
        entries.setdefault(key, entry)
    return {" ".join(statuses): entries[key] for key, statuses in groups.items()}


def error_description(response: Response) -> str:
    """The first line of the description of a response that is no success (not 2xx), cut to
    MAX_DESCRIPTION, for "expected a success, got 500 Internal Server Error (documented error:
    ...)"; empty for a 2xx, when it says no more than the status's reason phrase (which the message
    shows anyway) or when it would quote a credential."""
    if response.status.startswith("2"):
        return ""
    lines = [
        " ".join(line.split()) for line in response.description.split("\n")
    ]  # only newlines end a line
    first = next((line for line in lines if line), "")
    if len(first) > MAX_DESCRIPTION:
        first = first[: MAX_DESCRIPTION - 3].rstrip() + "..."
    with contextlib.suppress(ValueError):
        words = set(_words(first))
        if words and words <= set(_words(HTTPStatus(int(response.status)).phrase)):
            return ""
    return "" if secret_kind(first) is not None else first


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def content_key(value: Any) -> bytes | None:
    """A key equal for values with the same JSON content, or None when there is no quick one."""
    return fast_json.sorted_key(value)


def operation_label(operation: Operation) -> str:
    """How test names refer to an operation: `GET /pets/{id}`, with the operationId when there is
    one."""
    label = f"{operation.method.upper()} {operation.path}"
    return f"{label} ({operation.operation_id})" if operation.operation_id else label
