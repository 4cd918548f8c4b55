"""Saved responses: the examples a request's Postman entry shows, one per documented status or per
request/response example pair, with the definition's examples (credentials emptied) or generated
ones."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from ..credentials import redact_secrets, without_credentials
from ..model import MISSING, NamedExample, Operation, Response, is_json
from .bodies import Bodies, preferred_media_type, xml_text
from .example_check import scalar_text
from .examples import ExampleGenerator
from .parts import json_body_text, stable_id


class CleanExamples:
    """`without_credentials(value)`, remembered for example data the definition shares between
    operations (the requests' bodies and the saved responses use it)."""

    def __init__(self) -> None:
        self.cleaned: dict[int, tuple[Any, Any]] = {}  # id(example) -> (example, cleaned)

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, (dict, list)):
            return without_credentials(value)
        known = self.cleaned.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        cleaned = without_credentials(value)
        # the value is kept alive with it: its id stays its own
        self.cleaned[id(value)] = (value, cleaned)
        return cleaned


class SavedResponses:
    """The saved responses of each request of one collection."""

    def __init__(self, examples: ExampleGenerator, bodies: Bodies, clean: CleanExamples):
        self.examples = examples
        self.bodies = bodies
        self.clean = clean
        self.json_texts: dict[int, tuple[Any, str]] = {}  # id(value) -> (value, its JSON text)

    def of(
        self, item_id: str, request: dict[str, Any], operation: Operation, *, redact: bool
    ) -> list[dict[str, Any]]:
        """One saved response per documented status, or per request/response example pair where the
        spec names several examples: none of them is dropped, and none is repeated beyond its
        pair. `redact`: the token request's, whose secrets are emptied."""
        pairs = _example_pairs(operation)
        named = _named_request_examples(operation)
        first = named[0] if named else None  # the request itself sends this one
        saved = []
        for response, entries in zip(operation.responses, pairs, strict=True):
            for requested, answered in entries:
                original = request
                own = requested is not None and requested is not first
                if own:
                    body, _ = self.bodies.body(
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
        code = status_code(response.status)
        headers: list[dict[str, Any]] = []
        body = ""
        language = "text"
        if response.content:
            media = preferred_media_type(response.content)
            value = self.clean(example.value if example is not None else media.first_example())
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
                body, language = (value if isinstance(value, str) else xml_text(value)), "xml"
            else:
                body = value if isinstance(value, str) else json_body_text(value)
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
        name = name or reason(code)
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
            "status": reason(code),
            "code": code,
            "_postman_previewlanguage": language,
            "header": headers,
            "cookie": [],
            "body": body,
        }

    def _json_text_of(self, value: Any) -> str:
        """`json_body_text(value)`, remembered for the shared values the example generator returns
        (the same error body is saved with every operation's responses)."""
        key = id(value)
        known = self.json_texts.get(key)
        if known is not None and known[0] is value:
            return known[1]
        text = json_body_text(value)
        if isinstance(value, (dict, list)):
            self.json_texts[key] = (
                value,
                text,
            )  # the value is kept alive with it: its id stays its own
        return text


def _named_request_examples(operation: Operation) -> list[NamedExample]:
    """The named examples of the request body's preferred media type, when it has several (and no
    lone `example`)."""
    body = operation.request_body
    if body is None or not body.content:
        return []
    media = preferred_media_type(body.content)
    return list(media.examples) if media.example is MISSING and len(media.examples) > 1 else []


def _named_response_examples(response: Response) -> list[NamedExample]:
    """The named examples of the response's preferred media type (none when it gives a lone
    `example`)."""
    if not response.content:
        return []
    media = preferred_media_type(response.content)
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


def status_code(status: str) -> int:
    if re.fullmatch(r"[1-5][0-9][0-9]", status):
        return int(status)
    if re.fullmatch(r"[1-5]XX", status, re.IGNORECASE):
        return int(status[0]) * 100
    return 500  # `default`: the catch-all for errors


def reason(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Response"
