"""Examples checked against their schemas: every value a request sends is valid, or a warning says
why not.

The definition's own examples (of parameters, of request bodies, named ones too, and those inside
schemas that generated values are made of) are often wrong: an array written as JSON text, a
required property left out, a value outside the enum. A server or mock that checks requests (Prism)
rejects such a request, so each value is checked against its schema the way Prism reads it (the
draft-07 form ajv_schema.py makes, with `readOnly` properties left out) by the validators of
schema_check.py, each distinct (schema, value) once. A value that does not validate is repaired:
JSON text read as JSON, a missing required property added, an enum value put in, a `oneOf` part
taken from the branch that alone fits, any other wrong part generated anew, and last the whole value
generated. The definition's example that was wrong is reported (`example-invalid`, located at the
example); a part the generator made itself is repaired without a word. Where a schema allows no
value at all (none of its own enum values fits it) the warning is `no-valid-request`, at the
operation; where the converter finds no valid value but cannot prove there is none,
`no-valid-example`, at the schema. Either way the value is sent as it is.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from .. import ecma_regex
from ..credentials import redact_text
from ..diagnostics import Diagnostics, pointer_escape, pointer_join, pointer_unescape
from ..model import (
    MISSING,
    Api,
    MediaType,
    NamedExample,
    Operation,
    Parameter,
    SpecVersion,
    is_json,
)
from ..refs.resolve import RefResolver, resolve_fragment
from ..validate.schema_check import SchemaCheck
from .ajv_schema import SchemaStore
from .contract_tests import content_key
from .examples import ExampleGenerator

MAX_ROUNDS = 4
"""Repair rounds for one value: each fixes every error found, and a fix may uncover errors below
it."""
MAX_ERRORS = 50
_DRAFT_07 = "http://json-schema.org/draft-07/schema#"
_TYPES: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}
_GIVEN_KEYS = ("example", "examples", "default", "const", "enum")
"""Where a schema gives the value the example generator takes (in its order), see
examples._given_value."""


class _Check:
    """One schema in the form Prism validates, with its validator and a generator of values that fit
    it."""

    def __init__(self, schema: Any, store: SchemaStore):
        converted = store.convert(schema)
        if isinstance(converted, bool):
            converted = {} if converted else {"not": {}}
        definitions = {name: store.definitions[name] for name in store.closure(converted)}
        self.root = {"$schema": _DRAFT_07, **converted, "definitions": definitions}
        self.source = schema  # kept alive: its id is part of the key while the check lives
        self.resolver = store.resolver
        self.check = SchemaCheck(self.root)
        self.generator = ExampleGenerator(RefResolver(self.root))

    def errors(self, value: Any) -> list[Any]:
        """The reference validator's errors (at most MAX_ERRORS), asked only when jsonschema-rs says
        invalid; none for a value too deep to explain (1,000 nested `$ref`s), which is then sent as
        it is."""
        if self.check.fast is not None:
            try:
                if self.check.fast(value):
                    return []
            except UnicodeEncodeError:  # a lone surrogate: the reference validator judges it
                pass
        try:
            return list(itertools.islice(self.explain.iter_errors(value), MAX_ERRORS))
        except RecursionError:
            return []

    @property
    def explain(self) -> Any:
        """The reference validator: the schema check's own (patterns read as ECMA-262, as Prism
        reads them; one that may backtrack for hours, `^(a+)+$`, is not tried on a long text)."""
        return self.check.reference

    def generated(self, schema: Any) -> Any:
        """A value made from the converted schema alone (no example in it: the examples are what
        failed)."""
        return copy.deepcopy(self.generator.example(schema, for_request=True))

    @functools.cached_property
    def _own_value(self) -> Any:
        return ExampleGenerator(self.resolver).example(self.source, for_request=True)

    def given(self, path: tuple[Any, ...]) -> Any:
        """The part at `path` of the value made from the definition's own schema, with the examples
        of its parts (a required property a named example left out has its own `example`, which
        beats a generated one); MISSING where that value has no such part."""
        value = self._own_value
        for step in path:
            in_object = isinstance(value, dict) and isinstance(step, str) and step in value
            in_array = isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value)
            if not (in_object or in_array):
                return MISSING
            value = value[step]
        return copy.deepcopy(value)


class ExampleCheck:
    """Checks the values one Api's requests send; `parameter` and `body` return the value to
    send."""

    def __init__(self, api: Api, diagnostics: Diagnostics):
        self.api = api
        self.diagnostics = diagnostics
        self.store = SchemaStore(api.resolver, api.version, omitted="readOnly")
        self.checks: dict[Any, _Check] = {}
        self.results: dict[
            tuple[Any, Any], tuple[Any, _Outcome]
        ] = {}  # (schema key, value key) -> (value, outcome)
        self.reported: set[tuple[str, str]] = set()
        self.owner: dict[int, Operation] = {}
        for operation in api.operations:
            for parameter in operation.parameters:
                self.owner[id(parameter)] = operation
            for media in (
                operation.request_body.content if operation.request_body is not None else ()
            ):
                self.owner[id(media)] = operation

    def parameter(self, parameter: Parameter, value: Any) -> Any:
        """The value to send for a parameter: `value` when the server reads a valid one from its
        text."""
        operation = self.owner.get(id(parameter))
        if operation is None or parameter.schema is None:
            return value
        place = _Place(
            self,
            operation,
            f"the {parameter.location} parameter `{parameter.name}` of {_label(operation)}",
            parameter.example is not MISSING,
            parameter=parameter,
        )
        return self._checked(
            parameter.schema, value, _as_sent(value, parameter.schema, self.api.resolver), place
        )

    def body(self, media: MediaType, value: Any, named: NamedExample | None) -> Any:
        """The request body value to send for `media` (its named example `named`, or its first
        example, or the generated `value`)."""
        operation = self.owner.get(id(media))
        if operation is None or media.schema is None or value is MISSING:
            return value
        kind = media.kind
        if kind == "application/x-www-form-urlencoded" or kind.startswith("multipart/"):
            sent = _form_as_sent(value, media.schema, self.api.resolver)
        elif is_json(kind) or (kind == "*/*" and isinstance(value, (dict, list))):
            sent = _json_value(value) if isinstance(value, str) else value
        else:
            return value  # XML, text, files: what the schema describes is not the text sent
        place = _Place(
            self,
            operation,
            f"the request body of {_label(operation)}",
            named is not None or media.first_example() is not MISSING,
            media=media,
            named=named,
        )
        return self._checked(media.schema, value, sent, place)

    # --- checking and repairing
    # --------------------------------------------------------------------------

    def _check_of(self, schema: Any) -> tuple[Any, _Check]:
        key: Any = content_key(schema)
        if key is None:
            key = id(schema)
        known = self.checks.get(key)
        if known is None or (isinstance(key, int) and known.source is not schema):
            known = self.checks[key] = _Check(schema, self.store)
        return key, known

    def _checked(self, schema: Any, value: Any, sent: Any, place: _Place) -> Any:
        key, check = self._check_of(schema)
        value_key: Any = content_key(sent)
        if value_key is None:
            value_key = id(sent)
        known = self.results.get((key, value_key))
        if known is not None and (known[0] is sent or not isinstance(value_key, int)):
            outcome = known[1]
        else:
            outcome = _outcome(check, sent)
            self.results[(key, value_key)] = (sent, outcome)
        if outcome.status == "valid":
            return value
        if outcome.status == "none":
            self._report(
                "no-valid-request",
                place.operation.pointer,
                f"no request to {_label(place.operation)} can be valid: no value of "
                f"{place.subject} matches its schema ({outcome.reason})",
                "correct the schema (see the warnings about it): servers and mock servers that "
                "check requests reject every call; the collection sends the definition's own value",
            )
            return value
        source = place.example_pointer() if place.given else place.source_pointer(outcome.path)
        # a part the generator made itself (a `oneOf` value that fits two branches)
        if source is None:
            if outcome.status == "unfixed":
                self._report(
                    "no-valid-example",
                    place.schema_pointer(),
                    "the converter could not make a value that matches the schema of "
                    f"{place.subject} ({outcome.reason}): the collection sends its best try",
                    "a server that checks requests may reject it; give an example that matches "
                    "the schema",
                )
                return value
            return copy.deepcopy(outcome.value)
        if outcome.status == "unfixed":
            self._report(
                "example-invalid",
                source,
                f"{place.what()} does not match its schema ({outcome.reason}), and the converter "
                "could not make a value that does: the collection sends it as it is",
                "correct the example (or the schema): servers and mock servers that check requests "
                "reject it",
            )
            return value
        self._report(
            "example-invalid",
            source,
            f"{place.what()} does not match its schema ({outcome.reason}); the collection sends "
            f"{outcome.fix} instead",
            "correct the example so that it matches the schema: servers and mock "
            "servers that check requests reject it",
        )
        return copy.deepcopy(outcome.value)

    def _report(self, code: str, pointer: str, message: str, hint: str) -> None:
        if (code, pointer) not in self.reported:
            self.reported.add((code, pointer))
            self.diagnostics.warning(code, message, pointer=pointer, hint=hint)


@dataclass(frozen=True)
class _Outcome:
    """What checking a value found: `valid`; `repaired` (into `value`, by `fix`); `unfixed` (no
    repair worked); or `none` (no value can be valid)."""

    status: str
    reason: str = ""  # the first error, as users read it
    path: tuple[Any, ...] = ()  # where in the value that error is
    fix: str = ""
    value: Any = None


class _Invalid:
    """No repair made the value valid."""


_INVALID: Any = _Invalid()


def _outcome(check: _Check, sent: Any) -> _Outcome:
    errors = check.errors(sent)
    if not errors:
        return _Outcome("valid")
    reason, path = _reason(errors[0]), tuple(errors[0].absolute_path)
    repaired, left = _repaired(check, sent, errors)
    if repaired is not _INVALID:
        return _Outcome("repaired", reason, path, "a repaired value", repaired)
    generated = check.generated(check.root)
    repaired, _ = _repaired(check, generated, check.errors(generated))
    if repaired is not _INVALID:
        return _Outcome("repaired", reason, path, "a generated value", repaired)
    return _Outcome("none" if _contradiction(check, left) else "unfixed", reason, path)


def _contradiction(check: _Check, errors: list[Any]) -> bool:
    """Whether one of `errors` is in a schema that no value can satisfy: none of its own `enum`
    values (or its `const`) is valid against it (an object type with a string enum). Other failures
    prove nothing."""
    for error in errors:
        schema = error.schema
        if not isinstance(schema, dict):
            continue
        values = (
            schema.get("enum")
            if isinstance(schema.get("enum"), list)
            else ([schema["const"]] if "const" in schema else None)
        )
        if values and not any(check.explain.evolve(schema=schema).is_valid(v) for v in values):
            return True
    return False


def _label(operation: Operation) -> str:
    return f"{operation.method.upper()} {operation.path}"


def _reason(error: Any) -> str:
    where = "/".join(pointer_escape(p) for p in error.absolute_path)
    # credentials were emptied before: twice sure
    message = redact_text(" ".join(str(error.message).split()))
    message = message if len(message) <= 160 else message[:157] + "..."
    return f"at /{where}: {message}" if where else message


def _repaired(check: _Check, value: Any, errors: list[Any]) -> tuple[Any, list[Any]]:
    """`value` with every error fixed (a copy), or _INVALID and the errors that stay after
    MAX_ROUNDS."""
    value = copy.deepcopy(value)
    for _ in range(MAX_ROUNDS):
        if not errors:
            return value, []
        value = _fix_round(check, value, errors)
        errors = check.errors(value)
    return (value, []) if not errors else (_INVALID, errors)


def _fix_round(check: _Check, value: Any, errors: list[Any]) -> Any:
    replaced: list[tuple[Any, ...]] = []
    for error in sorted(errors, key=lambda e: len(e.absolute_path)):
        path = tuple(error.absolute_path)
        if any(path[: len(r)] == r for r in replaced):
            continue  # below a part already put anew
        instance = error.instance
        keyword = error.validator
        if keyword == "required" and isinstance(instance, dict):
            properties = error.schema.get("properties") if isinstance(error.schema, dict) else None
            for name in error.validator_value:
                if name not in instance:
                    sub = properties.get(name, {}) if isinstance(properties, dict) else {}
                    given = check.given((*path, name))
                    instance[name] = check.generated(sub) if given is MISSING else given
            continue
        if (
            keyword == "additionalProperties"
            and error.validator_value is False
            and isinstance(instance, dict)
        ):
            known = error.schema.get("properties") or {}
            patterns = list(error.schema.get("patternProperties") or {})
            for name in [
                n
                for n in instance
                if n not in known and not any(ecma_regex.search(p, n) for p in patterns)
            ]:
                del instance[name]
            continue
        new: Any
        if keyword == "enum" and isinstance(error.validator_value, list) and error.validator_value:
            new = next(
                (v for v in error.validator_value if v is not None), error.validator_value[0]
            )
        elif keyword == "const":
            new = error.validator_value
        elif (
            keyword == "type"
            and isinstance(instance, str)
            and _json_of_type(instance, error.validator_value)
        ):
            new = json.loads(instance)
        elif keyword in ("oneOf", "anyOf") and isinstance(error.validator_value, list):
            new = _branch_value(check, error.schema, error.validator_value)
        else:
            new = check.generated(error.schema)
        value = _put(value, path, copy.deepcopy(new))
        replaced.append(path)
    return value


def _branch_value(check: _Check, schema: dict[str, Any], branches: list[Any]) -> Any:
    """A value generated from the first branch whose value the whole `oneOf`/`anyOf` schema accepts
    (a value of the first branch may match the others too), else from the schema as a whole."""
    whole = check.explain.evolve(schema=schema)
    for branch in branches:
        candidate = check.generated(branch)
        if whole.is_valid(candidate):
            return candidate
    return check.generated(schema)


def _json_of_type(text: str, types: Any) -> bool:
    """Whether `text` is JSON whose value has one of `types` (a JSON text where an array or object
    is due)."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return False
    names = types if isinstance(types, list) else [types]
    return any(_TYPES[n](parsed) for n in names if n in _TYPES)


def _put(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    node = value
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return value


def _json_value(text: str) -> Any:
    """What a server reads from a JSON body the collection sends as the text `text` (see
    build_collection)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def scalar_text(value: Any) -> str:
    """How a parameter or form field value is written in the request (the text a server reads)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _as_sent(value: Any, schema: Any, resolver: RefResolver) -> Any:
    """A parameter or form field value as a server reads it back from its text: typed by the
    schema's `type` (the way Prism's validator coerces parameters)."""
    target = resolver.deref(schema)
    target = target if isinstance(target, dict) else {}
    if isinstance(value, list):
        return [_as_sent(item, target.get("items"), resolver) for item in value]
    if isinstance(value, dict):
        return value
    text = scalar_text(value)
    kinds = target.get("type")
    for kind in kinds if isinstance(kinds, list) else [kinds]:
        if kind == "integer" and re.fullmatch(r"-?[0-9]+", text):
            return int(text)
        if kind == "number" and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?", text):
            number = json.loads(text)
            return number
        if kind == "boolean" and text in ("true", "false"):
            return text == "true"
    return text


def _form_as_sent(value: Any, schema: Any, resolver: RefResolver) -> Any:
    if not isinstance(value, dict):
        return value
    target = resolver.deref(schema)
    properties = target.get("properties") if isinstance(target, dict) else None
    properties = properties if isinstance(properties, dict) else {}
    return {
        name: field
        if isinstance(field, (dict, list))
        else _as_sent(field, properties.get(name), resolver)
        for name, field in value.items()
    }


class _Place:
    """Where in the document a checked value comes from, found when a warning needs it."""

    def __init__(
        self,
        owner: ExampleCheck,
        operation: Operation,
        subject: str,
        given: bool,
        *,
        parameter: Parameter | None = None,
        media: MediaType | None = None,
        named: NamedExample | None = None,
    ):
        self.document = owner.api.resolver.document
        self.swagger = owner.api.version is SpecVersion.SWAGGER_2_0
        self.operation = operation
        self.subject = subject  # what the value is for: "the query parameter `q` of GET /a"
        self.given = given  # the definition's own example, not a generated value
        self.parameter = parameter
        self.media = media
        self.named = named

    def what(self) -> str:
        """What the checked value is, as a warning names it."""
        if not self.given:
            return f"the schema example used for {self.subject}"
        return (
            "the example"
            + (f" `{self.named.name}`" if self.named is not None else "")
            + f" of {self.subject}"
        )

    def example_pointer(self) -> str:
        """The pointer of the definition's own example (the operation's when it cannot be told)."""
        holder = self._holder()
        if holder is None:
            return self.operation.pointer
        pointer, node = holder
        if self.swagger:
            return pointer + "/x-example" if "x-example" in node else pointer
        if self.named is not None:
            return self._follow(pointer + pointer_join("examples", self.named.name))[0] + "/value"
        if (
            self.parameter is not None
            and "example" not in node
            and isinstance(node.get("content"), dict)
        ):
            media = next(iter(node["content"]), None)
            if media is not None:
                pointer, node = self._follow(pointer + pointer_join("content", media))
        if "example" in node:
            return pointer + "/example"
        for name in node["examples"] if isinstance(node.get("examples"), dict) else ():
            target_pointer, target = self._follow(pointer + pointer_join("examples", name))
            if isinstance(target, dict) and "value" in target:
                return target_pointer + "/value"
        return pointer

    def schema_pointer(self) -> str:
        """The pointer of the parameter's or body's schema (the operation's when it cannot be
        told)."""
        holder = self._holder()
        if holder is None:
            return self.operation.pointer
        pointer, node = holder
        if (
            self.parameter is not None
            and "schema" not in node
            and isinstance(node.get("content"), dict)
        ):
            pointer, node = self._follow(
                pointer + pointer_join("content", next(iter(node["content"]), ""))
            )
        if not self.swagger or (self.media is not None and "schema" in node):
            pointer = pointer + "/schema"
        return pointer

    def source_pointer(self, path: tuple[Any, ...]) -> str | None:
        """The pointer of the schema's own value (`example`, `default`, `enum`...) that the part of
        a generated value at `path` came from; None when the generator made that part itself."""
        pointer, node = self._follow(self.schema_pointer())
        for step in [*path, None]:
            if not isinstance(node, dict):
                return None
            for key in _GIVEN_KEYS:
                if key in node:
                    return pointer + "/" + key
            if step is None:
                return None
            if isinstance(step, int) and isinstance(node.get("items"), dict):
                pointer, node = self._follow(pointer + "/items")
                continue
            for part in [""] + [
                f"/{key}/{i}"
                for key in ("allOf", "oneOf", "anyOf")
                for i in range(len(node.get(key) or ()) if isinstance(node.get(key), list) else 0)
            ]:
                part_pointer, part_node = self._follow(pointer + part) if part else (pointer, node)
                properties = part_node.get("properties") if isinstance(part_node, dict) else None
                if isinstance(step, str) and isinstance(properties, dict) and step in properties:
                    pointer, node = self._follow(part_pointer + pointer_join("properties", step))
                    break
            else:
                return None
        return None

    def _holder(self) -> tuple[str, dict[str, Any]] | None:
        """(pointer, node) of the parameter, or of the media type (Swagger 2.0: the body
        parameter)."""
        operation_pointer, operation = self._follow(self.operation.pointer)
        item_pointer = operation_pointer.rsplit("/", 1)[0]
        if not isinstance(operation, dict):
            return None
        if self.media is not None and not self.swagger:
            pointer, node = self._follow(operation_pointer + "/requestBody")
            if isinstance(node, dict) and isinstance(node.get("content"), dict):
                found = self._follow(pointer + pointer_join("content", self.media.media_type))
                return found if isinstance(found[1], dict) else None
            return None
        for base in (operation_pointer, item_pointer):
            for pointer, node in self._parameters(base):
                if self.media is not None and node.get("in") == "body":
                    return pointer, node
                if (
                    self.parameter is not None
                    and node.get("name") == self.parameter.name
                    and (node.get("in") or "query") == self.parameter.location
                ):
                    return pointer, node
        return None

    def _parameters(self, base: str) -> Iterator[tuple[str, dict[str, Any]]]:
        pointer, node = self._follow(base)
        parameters = node.get("parameters") if isinstance(node, dict) else None
        for index in range(len(parameters) if isinstance(parameters, list) else 0):
            found = self._follow(f"{pointer}/parameters/{index}")
            if isinstance(found[1], dict):
                yield found

    def _follow(self, pointer: str) -> tuple[str, Any]:
        """(pointer, node) that `pointer` leads to, `$ref`s along the way and at its end
        followed."""
        node: Any = self.document
        current = ""
        for token in [pointer_unescape(t) for t in pointer.split("/")[1:]]:
            current, node = self._deref(current, node)
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdecimal() and int(token) < len(node):
                node = node[int(token)]
            else:
                return current, None
            current += "/" + pointer_escape(token)
        return self._deref(current, node)

    def _deref(self, pointer: str, node: Any) -> tuple[str, Any]:
        seen = 0
        while (
            isinstance(node, dict)
            and isinstance(node.get("$ref"), str)
            and node["$ref"].startswith("#/")
        ):
            seen += 1
            if seen > 64:
                return pointer, None
            found = _resolve(self.document, node["$ref"][1:])
            if found is None:
                return pointer, None
            pointer, node = unquote(node["$ref"][1:]), found
        return pointer, node


def _resolve(document: Any, fragment: str) -> Any:
    found, node = resolve_fragment(document, fragment)
    return node if found else None
