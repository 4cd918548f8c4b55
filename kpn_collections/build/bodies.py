"""Request bodies: the Postman body and Content-Type of a request, in the form its media type
asks for (raw JSON, XML or text, urlencoded or multipart fields, a file), from the definition's
example or a generated one, checked against the schema."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..auth.token_item import TOKEN_VARIABLES
from ..credentials import defuse, redact_secrets, without_credentials
from ..model import MISSING, Api, MediaType, NamedExample, RequestBody, is_json
from .example_check import ExampleCheck, scalar_text
from .examples import ExampleGenerator
from .parts import described, field_text, json_body_text


def is_file_schema(schema: dict[str, Any]) -> bool:
    return (
        schema.get("format") == "binary"
        or schema.get("type") == "file"
        or ("contentMediaType" in schema and schema.get("type") in (None, "string"))
    )


def preferred_media_type(content: tuple[MediaType, ...]) -> MediaType:
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


def xml_text(value: Any, tag: str = "root") -> str:
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


class Bodies:
    """Builds request bodies for one API; `clean` leaves credentials out of example data."""

    def __init__(
        self,
        api: Api,
        examples: ExampleGenerator,
        checked: ExampleCheck,
        clean: Callable[[Any], Any],
    ):
        self.api = api
        self.examples = examples
        self.checked = checked
        self.clean = clean

    def body(
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
        media = preferred_media_type(request_body.content)
        value = example.value if example is not None else media.first_example()
        # fields the spec's own example fills in
        given = set(value) if isinstance(value, dict) else set()
        if value is MISSING:
            value = self.examples.example(media.schema, for_request=True)
        value = self.checked.body(media, self.clean(value), example)
        # a repair (an enum value) may bring one back
        value = self.clean(value)
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
                "raw": json_body_text(value),
                "options": {"raw": {"language": "json"}},
            }, ("application/json" if kind == "*/*" else media.media_type)
        if kind in ("application/octet-stream",) or kind.startswith(("image/", "audio/", "video/")):
            return {"mode": "file", "file": {"src": None}}, media.media_type
        language = "xml" if "xml" in kind else ("html" if "html" in kind else "text")
        raw = (
            value
            if isinstance(value, str)
            else xml_text(value)
            if language == "xml"
            else json_body_text(value)
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
            if files and is_file_schema(prop):
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
            described(
                entry,
                field_text(prop.get("description"), prop, name in required, self.api.resolver),
            )
            if given is not None and name not in required and name not in given:
                # optional, with only a generated value: like optional query parameters
                entry["disabled"] = True
            fields.append(entry)
        return fields
