"""OpenAPI schemas rewritten as JSON Schema draft-07, the dialect of the Ajv 6 inside Postman and
newman.

Contract tests check response bodies with `pm.response.to.have.jsonSchema(schema)`. OpenAPI's schema
dialect is not JSON Schema, so every schema is converted, the way Prism (the mock server the tests
are proven against) reads the same spec:

- 3.0 `nullable: true` and 2.0 `x-nullable: true` add `"null"` to a single `type` (and to `enum`);
  3.1 type arrays stay as they are.
- 3.0 boolean `exclusiveMinimum`/`exclusiveMaximum` become draft-07 numbers.
- Numeric formats (`int32`, `int64`, `float`) become `minimum`/`maximum` bounds, `byte` a base64
  pattern; formats Ajv 6 does not know (`double`, `binary`, `password`, ...) are dropped instead of
  failing.
- In responses, `writeOnly` properties are left out (they are never sent back).
- Keywords with no meaning to a validator (`example`, `discriminator`, `xml`, `x-*`, ...) are
  dropped.
- 3.1's `prefixItems`, `dependentRequired` and `dependentSchemas` become their draft-07 forms.
- Every `$ref` becomes `#/definitions/<name>`; the named definitions are collected once per
  collection (SchemaStore.definitions), so recursive schemas stay finite and big schemas are not
  copied around. In 2.0 and 3.0 the siblings of a `$ref` are ignored, as those versions say; in 3.1
  they apply.
- Subschemas repeated across a collection's schemas are stored once too (SchemaStore.fold): a `$ref`
  to an equal schema validates exactly as the schema does, and big APIs repeat inline schemas a lot.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from ..credentials import secret_kind
from ..model import SpecVersion
from ..refs.resolve import RefResolver

AJV6_FORMATS = frozenset(
    {
        "date",
        "time",
        "date-time",
        "uri",
        "uri-reference",
        "uri-template",
        "url",
        "email",
        "hostname",
        "ipv4",
        "ipv6",
        "regex",
        "uuid",
        "json-pointer",
        "json-pointer-uri-fragment",
        "relative-json-pointer",
    }
)
"""The formats Ajv 6 validates; any other `format` is dropped (Ajv 6 would refuse to compile it)."""

_NUMBER_RANGES: dict[str, tuple[int | float, int | float]] = {
    "int32": (-(2**31), 2**31 - 1),
    "int64": (
        -(2**53 - 1),
        2**53 - 1,
    ),  # what a JavaScript number holds exactly (Prism reads it so)
    "float": (-(2.0**128), 2.0**128),
}
_BYTE_PATTERN = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
"""Base64, as the `byte` format is checked by ajv-formats (which Prism uses)."""

_SCHEMA_KEYWORDS = ("properties", "patternProperties", "dependencies")
"""Keywords whose values map names to schemas (nested `definitions`/`$defs` are reached through
`$ref`s)."""
_SUBSCHEMA_KEYWORDS = (
    "additionalProperties",
    "additionalItems",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
)
_LIST_KEYWORDS = ("allOf", "anyOf", "oneOf")
_PLAIN_KEYWORDS = (
    "type",
    "enum",
    "const",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "required",
    "format",
)
_JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})

MAX_NAME = 80
"""Longest definition name kept from a reference (longer ones are cut and numbered)."""
FOLD_ABOVE = 70
"""Repeated subschemas whose JSON is at least this long are stored once (a `$ref` costs about 30
characters)."""


class SchemaStore:
    """Converts the schemas of one API for Ajv 6; named definitions are kept once, under unique
    names."""

    def __init__(self, resolver: RefResolver, version: SpecVersion, *, omitted: str = "writeOnly"):
        self.resolver = resolver
        self.version = version
        # the properties left out: `writeOnly` in responses, `readOnly` in requests
        self.omitted = omitted
        self.definitions: dict[str, Any] = {}
        self._names: dict[str, str] = {}  # $ref -> definition name
        self._shared: dict[str, str] = {}  # JSON of a shared inline schema -> definition name
        self._pending: list[tuple[str, Any]] = []  # definitions named but not converted yet

    def convert(self, schema: Any) -> Any:
        """The draft-07 form of a response schema; `$ref`s point into `#/definitions/`."""
        result = self._schema(schema)
        # one definition at a time: a long chain of `$ref`s never deepens the recursion
        while self._pending:
            name, target = self._pending.pop()
            self.definitions[name] = self._schema(target) if target is not None else {}
        return result

    def share(self, schema: Any, name_hint: str) -> Any:
        """A `$ref` to `schema` stored as a definition, the same one for every equal schema (big
        inline schemas that many responses repeat are then kept once)."""
        key = json.dumps(schema, sort_keys=True)
        name = self._shared.get(key)
        if name is None:
            name = self.unique_name(name_hint)
            self._shared[key] = name
            self.definitions[name] = schema
        return {"$ref": "#/definitions/" + name}

    def fold(self, roots: list[tuple[Any, str]]) -> list[Any]:
        """Stores every subschema that occurs more than once (in the definitions, or in `roots`: the
        schemas used outside them, each with a name hint, once per use) once, as a definition the
        occurrences refer to; returns the roots with their repeats replaced (the same list, element
        for element)."""
        keys = _SchemaKeys()
        trees = [*self.definitions.values(), *(root for root, _ in roots)]
        counts = Counter(keys.key(node) for tree in trees for node in _schema_nodes(tree))
        folded = {
            key for key, count in counts.items() if count > 1 and keys.length[key] >= FOLD_ABOVE
        }
        # a subschema repeated only inside a folded one is then stored once already
        for _ in range(2):
            visits = _visits(trees, keys, folded)
            folded = {key for key in folded if visits[key] > 1}
        names: dict[
            bytes, str
        ] = {}  # a folded subschema equal to a definition becomes a `$ref` to it
        for name, definition in self.definitions.items():
            if isinstance(definition, dict) and keys.key(definition) in folded:
                names.setdefault(keys.key(definition), name)
        rebuild = _Rebuild(self, keys, folded, names)
        for name in list(self.definitions):
            definition = self.definitions[name]
            if isinstance(definition, dict):
                own = names.get(keys.key(definition), name)
                self.definitions[name] = (
                    rebuild.inner(definition, name)
                    if own == name
                    else {"$ref": "#/definitions/" + own}
                )
        return [rebuild.node(root, hint) for root, hint in roots]

    def closure(self, schema: Any) -> list[str]:
        """The names of every definition `schema` needs, directly or through other definitions,
        sorted."""
        found: set[str] = set()
        pending = list(_definition_refs(schema))
        while pending:
            name = pending.pop()
            if name not in found:
                found.add(name)
                pending.extend(_definition_refs(self.definitions.get(name)))
        # a "$ref" inside literal data (enum, const) names nothing
        return sorted(found & set(self.definitions))

    def _definition(self, ref: str) -> str:
        """The definition name for a reference; its target is converted (by `convert`) the first
        time."""
        name = self._names.get(ref)
        if name is not None:
            return name
        name = self.unique_name(ref)
        self._names[ref] = name
        self.definitions[name] = True  # placeholder until converted (keeps the name taken)
        target = self.resolver.deref({"$ref": ref})
        if self.version is SpecVersion.OPENAPI_3_1 and target is not None:
            target = self.resolver.lookup(ref)[
                1
            ]  # 3.1 keeps the siblings of a target that is itself a `$ref`
        if isinstance(target, dict) and "in" in target and "name" in target and "schema" in target:
            target = target["schema"]  # a parameter where a schema belongs (reported by validation)
        self._pending.append((name, target))
        return name

    def unique_name(self, ref: str) -> str:
        """A definition name not taken yet, made of the last part of `ref`."""
        base = (
            re.sub(r"[^A-Za-z0-9_.-]+", "_", ref.rsplit("/", 1)[-1]).strip("_")[:MAX_NAME]
            or "schema"
        )
        name, number = base, 1
        while name in self.definitions:
            number += 1
            name = f"{base}_{number}"
        return name

    def _schema(self, schema: Any) -> Any:
        if isinstance(schema, bool):
            return schema
        if not isinstance(schema, dict):
            return {}
        ref = schema.get("$ref")
        if isinstance(ref, str):
            pointer = {"$ref": "#/definitions/" + self._definition(ref)}
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            if self.version is not SpecVersion.OPENAPI_3_1 or not siblings:
                return pointer
            rest = self._schema(siblings)
            return {"allOf": [pointer, rest]} if rest else pointer
        result: dict[str, Any] = {
            k: schema[k] for k in _PLAIN_KEYWORDS if k in schema and _valid(k, schema[k])
        }
        if "required" in result:
            # draft-07 wants them unique
            result["required"] = list(dict.fromkeys(result["required"]))
        for key in _SUBSCHEMA_KEYWORDS:
            if key in schema:
                result[key] = self._schema(schema[key])
        for key in _LIST_KEYWORDS:
            if isinstance(schema.get(key), list) and schema[key]:
                result[key] = [self._schema(s) for s in schema[key]]
        for key in _SCHEMA_KEYWORDS:
            value = schema.get(key)
            if isinstance(value, dict):
                result[key] = {
                    name: (list(dict.fromkeys(sub)) if isinstance(sub, list) else self._schema(sub))
                    for name, sub in value.items()
                    if not (key == "properties" and self._is_write_only(sub))
                    and not (isinstance(sub, list) and not all(isinstance(v, str) for v in sub))
                }
        self._items(schema, result)
        self._dependent(schema, result)
        self._exclusive_bounds(result)
        self._nullable(schema, result)
        self._format(result)
        self._drop_write_only_required(schema, result)
        return result

    def _items(self, schema: dict[str, Any], result: dict[str, Any]) -> None:
        items = schema.get("items")
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list) and prefix:  # 3.1: positional items, then `items` for the rest
            result["items"] = [self._schema(s) for s in prefix]
            if "items" in schema:
                result["additionalItems"] = self._schema(items)
        elif isinstance(items, list):
            if items:  # draft-07 wants a non-empty list here; an empty one constrains nothing
                result["items"] = [self._schema(s) for s in items]
        elif "items" in schema:
            result["items"] = self._schema(items)

    def _dependent(self, schema: dict[str, Any], result: dict[str, Any]) -> None:
        dependencies = dict(result.get("dependencies", {}))
        for key in ("dependentRequired", "dependentSchemas"):
            value = schema.get(key)
            if isinstance(value, dict):
                for name, sub in value.items():
                    if isinstance(sub, list):
                        if all(isinstance(v, str) for v in sub):
                            dependencies[name] = list(dict.fromkeys(sub))
                    else:
                        dependencies[name] = self._schema(sub)
        if dependencies:
            result["dependencies"] = dependencies

    @staticmethod
    def _exclusive_bounds(result: dict[str, Any]) -> None:
        for exclusive, inclusive in (
            ("exclusiveMinimum", "minimum"),
            ("exclusiveMaximum", "maximum"),
        ):
            value = result.get(exclusive)
            if isinstance(value, bool) or (exclusive in result and not _is_number(value)):
                del result[exclusive]
                if value is True and _is_number(result.get(inclusive)):
                    result[exclusive] = result.pop(inclusive)

    def _nullable(self, schema: dict[str, Any], result: dict[str, Any]) -> None:
        keyword = {SpecVersion.OPENAPI_3_0: "nullable", SpecVersion.SWAGGER_2_0: "x-nullable"}.get(
            self.version
        )
        if (
            keyword is None
            or schema.get(keyword) is not True
            or not isinstance(result.get("type"), str)
        ):
            return
        result["type"] = [result["type"], "null"]
        if isinstance(result.get("enum"), list) and None not in result["enum"]:
            result["enum"] = [*result["enum"], None]

    @staticmethod
    def _format(result: dict[str, Any]) -> None:
        fmt = result.get("format")
        if not isinstance(fmt, str):
            result.pop("format", None)
            return
        if fmt in _NUMBER_RANGES:
            low, high = _NUMBER_RANGES[fmt]
            result["minimum"] = (
                max(result["minimum"], low) if _is_number(result.get("minimum")) else low
            )
            result["maximum"] = (
                min(result["maximum"], high) if _is_number(result.get("maximum")) else high
            )
        elif fmt == "byte":
            result["pattern"] = _BYTE_PATTERN
        if fmt not in AJV6_FORMATS:
            del result["format"]

    def _drop_write_only_required(self, schema: dict[str, Any], result: dict[str, Any]) -> None:
        """Responses never carry `writeOnly` properties, so they cannot be required there."""
        properties = schema.get("properties")
        if not isinstance(properties, dict) or not isinstance(result.get("required"), list):
            return
        hidden = {name for name, raw in properties.items() if self._is_write_only(raw)}
        result["required"] = [r for r in result["required"] if r not in hidden]
        if not result["required"]:
            del result["required"]

    def _is_write_only(self, raw: Any) -> bool:
        if isinstance(raw, dict) and raw.get(self.omitted) is True:
            return True  # beside a `$ref` this counts in 3.1 (and a 3.0 author means it too)
        target = self.resolver.deref(raw) if isinstance(raw, dict) else raw
        return isinstance(target, dict) and target.get(self.omitted) is True


def _schema_children(schema: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """The subschemas of a converted schema, each with a name hint (property names for properties);
    literal data (`enum`, `const`, `required`) and the maps of names (`properties` itself) are not
    schemas."""
    for key, value in schema.items():
        kind = _CHILD_KINDS.get(key)
        if kind is None:
            continue
        if isinstance(value, dict):
            if kind == "map":
                yield from ((name, sub) for name, sub in value.items() if isinstance(sub, dict))
            else:
                yield key, value
        elif kind == "list" and isinstance(value, list):
            yield from ((key, item) for item in value if isinstance(item, dict))


_CHILD_KINDS = {
    **dict.fromkeys(_SUBSCHEMA_KEYWORDS, "one"),
    **dict.fromkeys((*_LIST_KEYWORDS, "items"), "list"),
    **dict.fromkeys(_SCHEMA_KEYWORDS, "map"),
}
"""How each keyword holds subschemas: one, a list of them (`items` may be either), or a map of names
to them."""


def _schema_nodes(tree: Any) -> Iterator[dict[str, Any]]:
    """Every schema (object) in a tree, the tree included."""
    stack = [tree] if isinstance(tree, dict) else []
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child for _, child in _schema_children(node))


def _visits(trees: list[Any], keys: _SchemaKeys, folded: set[bytes]) -> Counter[bytes]:
    """How often each schema is met when the subschemas of a folded one are looked at only once."""
    visits: Counter[bytes] = Counter()
    stack = [tree for tree in trees if isinstance(tree, dict)]
    while stack:
        node = stack.pop()
        key = keys.key(node)
        visits[key] += 1
        if key not in folded or visits[key] == 1:
            stack.extend(child for _, child in _schema_children(node))
    return visits


class _SchemaKeys:
    """Content keys of converted schemas (equal for equal JSON: keys sorted, 1 and 1.0 apart) and
    the length of their JSON, computed once per object."""

    def __init__(self) -> None:
        self.length: dict[bytes, int] = {}
        self._known: dict[
            int, tuple[Any, bytes]
        ] = {}  # id(schema) -> (schema, key); the schema keeps its id

    def key(self, schema: dict[str, Any]) -> bytes:
        known = self._known.get(id(schema))
        if known is not None and known[0] is schema:
            return known[1]
        text = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        key = hashlib.blake2b(
            text.encode("utf-8", "surrogatepass"), digest_size=16
        ).digest()  # lone surrogates too
        self._known[id(schema)] = (schema, key)
        self.length[key] = len(text)
        return key


class _Rebuild:
    """Copies of schemas with their folded subschemas replaced by `$ref`s (the first use stores
    them)."""

    def __init__(
        self, store: SchemaStore, keys: _SchemaKeys, folded: set[bytes], names: dict[bytes, str]
    ):
        self.store, self.keys, self.folded, self.names = store, keys, folded, names

    def node(self, schema: Any, hint: str) -> Any:
        if not isinstance(schema, dict):
            return schema
        key = self.keys.key(schema)
        if key not in self.folded:
            return self.inner(schema, hint)
        name = self.names.get(key)
        if name is None:
            name = self.names[key] = self.store.unique_name(hint)
            self.store.definitions[name] = True  # keeps the name taken while the copy is made
            self.store.definitions[name] = self.inner(schema, name)
        return {"$ref": "#/definitions/" + name}

    def inner(self, schema: dict[str, Any], hint: str) -> dict[str, Any]:
        result = dict(schema)
        for key in _SUBSCHEMA_KEYWORDS:
            if isinstance(schema.get(key), dict):
                result[key] = self.node(schema[key], f"{hint}_{key}")
        for key in (*_LIST_KEYWORDS, "items"):
            value = schema.get(key)
            if isinstance(value, list):
                result[key] = [self.node(item, f"{hint}_{key}") for item in value]
            elif key == "items" and isinstance(value, dict):
                result[key] = self.node(value, f"{hint}_items")
        for key in _SCHEMA_KEYWORDS:
            value = schema.get(key)
            if isinstance(value, dict):
                result[key] = {name: self.node(sub, name) for name, sub in value.items()}
        return result


def _is_number(value: Any) -> bool:
    """A finite JSON number (YAML's .inf and .nan have no JSON form; an integer beyond a double's
    range would be Infinity to JavaScript, and math.isfinite cannot take it)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and -_FLOAT_RANGE < value < _FLOAT_RANGE
    )


_FLOAT_RANGE = 2**1023
"""Numbers are used only below this magnitude, where every one is a finite double (NaN and
infinities fail)."""


def _finite(value: Any) -> bool:
    """Whether literal data (`const`, `enum`) holds no infinite or NaN number."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def _valid(keyword: str, value: Any) -> bool:
    """Whether a keyword's value is one draft-07 allows (Ajv 6 refuses to compile a schema
    otherwise)."""
    if keyword == "type":
        names = value if isinstance(value, list) else [value]
        return (
            bool(names)
            and all(isinstance(n, str) and n in _JSON_TYPES for n in names)
            and len(set(names)) == len(names)
        )
    if keyword in ("enum", "const") and _holds_secret(value):
        return False  # a credential never goes into a script: the test checks a little less instead
    if keyword in ("enum", "required"):
        return (
            isinstance(value, list)
            and bool(value or keyword == "required")
            and _finite(value)
            and (keyword == "enum" or all(isinstance(v, str) for v in value))
        )
    if keyword in (
        "maxLength",
        "minLength",
        "maxItems",
        "minItems",
        "maxProperties",
        "minProperties",
    ):
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if keyword == "multipleOf":
        return _is_number(value) and value > 0
    if keyword in ("maximum", "minimum"):
        return _is_number(value)
    if keyword in ("pattern", "format"):
        return isinstance(value, str)
    if keyword == "uniqueItems":
        return isinstance(value, bool)
    return _finite(value)  # const, and the exclusive bounds (converted later)


def _holds_secret(value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    return any(isinstance(v, str) and secret_kind(v) is not None for v in values)


def _definition_refs(schema: Any) -> Iterable[str]:
    """Names of the definitions a converted schema points to (not following them)."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/definitions/"):
                yield ref[len("#/definitions/") :]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
