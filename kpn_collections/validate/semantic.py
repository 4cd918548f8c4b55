"""openapi-spec-validator's semantic pass, walked over the plain document with our resolver.

Fast path "semantic": the library walks the document a second time through jsonschema-path objects,
the costliest part of validation on a big API description. This module makes the same checks in the
same order with the same messages: each schema's meta-check, required properties an `allOf` schema
never defines, `default` values against their schema, duplicate parameters and duplicate tag names
(duplicate operationIds and unresolved path parameters are our own checks, with locations). It is
used only on documents that pass the structural check, where every object has the shape the walk
expects; other documents get the library's own pass.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from functools import partial
from typing import Any

from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.validators import extend, validator_for
from openapi_schema_validator import (
    OAS31_BASE_DIALECT_ID,
    OAS30Validator,
    OAS31Validator,
    oas30_format_checker,
    oas31_format_checker,
)
from openapi_spec_validator.validation.exceptions import (
    ExtraParametersError,
    OpenAPIValidationError,
    ParameterDuplicateError,
)
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT202012

from ..ecma_regex import NESTED_REPEAT_TEST_LENGTH, nested_repeat
from ..model import SpecVersion
from ..refs.resolve import RefResolver

_OPERATIONS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class SemanticPass:
    """One walk of one document; `errors()` yields what openapi-spec-validator's RootValidator
    would."""

    def __init__(
        self,
        document: dict[str, Any],
        version: SpecVersion,
        resolver: RefResolver,
        *,
        meta_valid: Any = None,
    ):
        self.document = document
        self.version = version
        self.resolver = resolver
        self.meta_valid = meta_valid  # a fast "the meta-check finds nothing" answer, or None
        self.visited: set[int] = set()
        self.meta_checked: set[int] = set()
        v31 = version is SpecVersion.OPENAPI_3_1
        self.value_validator_class: Any = bounded_patterns(
            OAS31Validator if v31 else OAS30Validator
        )
        self.value_format_checker = oas31_format_checker if v31 else oas30_format_checker
        specification = DRAFT202012 if v31 else DRAFT4
        registry: Registry[Any] = Registry().with_resource(
            "", Resource.from_contents(document, default_specification=specification)
        )
        self.ref_resolver = registry.resolver(base_uri="")

    def errors(self) -> Iterator[ValidationError]:
        """The findings, in the library's order."""
        document = self.document
        if "tags" in document:
            yield from self._tags(self._deref(document["tags"]))
        if "paths" in document:
            for url, item in self._deref(document["paths"]).items():
                yield from self._path(url, self._deref(item))
        if "components" in document:
            components = self._deref(document["components"])
            if "schemas" in components:
                for schema in self._deref(components["schemas"]).values():
                    yield from self._schema(schema)

    def _deref(self, node: Any) -> Any:
        return self.resolver.deref(node) if isinstance(node, dict) and "$ref" in node else node

    def _tags(self, tags: list[Any]) -> Iterator[ValidationError]:
        seen: set[str] = set()
        for tag in tags:
            name = self._deref(tag)["name"]
            if name in seen:
                yield OpenAPIValidationError(f"Duplicate tag name '{name}'")
            seen.add(name)

    def _path(self, url: str, item: dict[str, Any]) -> Iterator[ValidationError]:
        if "parameters" in item:
            yield from self._parameters(self._deref(item["parameters"]))
        for name, operation in item.items():
            if name in _OPERATIONS:
                yield from self._operation(self._deref(operation))

    def _operation(self, operation: dict[str, Any]) -> Iterator[ValidationError]:
        if "responses" in operation:
            for response in self._deref(operation["responses"]).values():
                yield from self._response(self._deref(response))
        if "parameters" in operation:
            yield from self._parameters(self._deref(operation["parameters"]))

    def _response(self, response: dict[str, Any]) -> Iterator[ValidationError]:
        if self.version is SpecVersion.SWAGGER_2_0:
            if "schema" in response:
                yield from self._schema(response["schema"])
        elif "content" in response:
            for media in self._deref(response["content"]).values():
                media = self._deref(media)
                if "schema" in media:
                    yield from self._schema(media["schema"])

    def _parameters(self, parameters: list[Any]) -> Iterator[ValidationError]:
        seen: set[tuple[Any, Any]] = set()
        for raw in parameters:
            parameter = self._deref(raw)
            if "schema" in parameter:
                yield from self._schema(parameter["schema"])
            if self.version is SpecVersion.SWAGGER_2_0 and "default" in parameter:
                yield from self._value(parameter, parameter["default"])
            key = (parameter["name"], parameter["in"])
            if key in seen:
                yield ParameterDuplicateError(f"Duplicate parameter '{parameter['name']}'")
            seen.add(key)

    def _schema(
        self, raw: Any, require_properties: bool = True, meta_checked: bool = False
    ) -> Iterator[ValidationError]:
        schema = self._deref(raw)
        if not isinstance(schema, (dict, bool)):
            yield OpenAPIValidationError(f"{schema!r} is not of type 'object', 'boolean'")
            return
        if not meta_checked and id(schema) not in self.meta_checked:
            self.meta_checked.add(id(schema))
            error = self._meta(schema)
            if error is not None:
                yield error
                return
        if id(schema) in self.visited:
            return
        self.visited.add(id(schema))
        if isinstance(schema, bool):
            return
        nested: list[str] = []
        if "allOf" in schema:
            for inner in schema["allOf"]:
                yield from self._schema(inner, require_properties=False, meta_checked=True)
                nested += list(self._properties(inner))
        for keyword in ("anyOf", "oneOf"):
            if keyword in schema:
                for inner in schema[keyword]:
                    yield from self._schema(inner, require_properties=False, meta_checked=True)
        for keyword in ("not", "items"):
            if keyword in schema:
                yield from self._schema(
                    schema[keyword], require_properties=False, meta_checked=True
                )
        if "properties" in schema:
            for inner in self._deref(schema["properties"]).values():
                yield from self._schema(inner, require_properties=False, meta_checked=True)
        required = ("required" in schema and self._deref(schema["required"])) or []
        properties = ("properties" in schema and self._deref(schema["properties"]).keys()) or []
        extra = sorted(set(required) - set(properties) - set(nested)) if "allOf" in schema else []
        # sorted: the library's set order changes with PYTHONHASHSEED
        if extra and require_properties:
            yield ExtraParametersError(f"Required list has not defined properties: {extra}")
        if "default" in schema:
            default = schema["default"]
            if default is not None or schema.get("nullable") is not True:
                yield from self._value(schema, default)

    def _properties(self, raw: Any) -> set[str]:
        schema = self._deref(raw)
        found: set[str] = set()
        if not isinstance(schema, dict):
            return found
        if "properties" in schema:
            found.update(self._deref(schema["properties"]).keys())
        for keyword in ("allOf", "anyOf", "oneOf"):
            if keyword in schema:
                for inner in schema[keyword]:
                    found.update(self._properties(inner))
        for keyword in ("items", "not"):
            if keyword in schema:
                found.update(self._properties(schema[keyword]))
        return found

    def _meta(self, schema: Any) -> ValidationError | None:
        if self.meta_valid is not None and self.meta_valid(schema):
            return None
        if self.version is SpecVersion.OPENAPI_3_1:
            dialect = (
                schema.get("$schema")
                if isinstance(schema, dict) and "$schema" in schema
                else (self.document.get("jsonSchemaDialect", OAS31_BASE_DIALECT_ID))
            )
            if not isinstance(dialect, str):
                return OpenAPIValidationError(f"Unknown JSON Schema dialect: {dialect!r}")
            validator_class = validator_for({"$schema": dialect}, default=None)
            if validator_class is None:
                return OpenAPIValidationError(f"Unknown JSON Schema dialect: {dialect!r}")
            check = partial(validator_class.check_schema, format_checker=oas31_format_checker)
        else:
            check = OAS30Validator.check_schema
        try:
            check(schema)
        except (SchemaError, ValidationError) as error:
            return OpenAPIValidationError.create_from(error)
        return None

    def _value(self, schema: Any, value: Any) -> Iterator[ValidationError]:
        validator = self.value_validator_class(
            schema, _resolver=self.ref_resolver, format_checker=self.value_format_checker
        )
        yield from validator.iter_errors(value)


@functools.cache
def bounded_patterns(validator_class: Any) -> Any:
    """`validator_class`, except that a pattern that may backtrack for hours (`^(a+)+$`) is not
    tried on a value longer than a few characters: a `default` must not hang the validation. The
    patterns keep openapi-spec-validator's reading (Python's `re`): these are its findings."""
    check = validator_class.VALIDATORS["pattern"]

    def pattern(
        validator: Any, pattern: Any, instance: Any, schema: Any
    ) -> Iterator[ValidationError]:
        if (
            isinstance(pattern, str)
            and isinstance(instance, str)
            and len(instance) > NESTED_REPEAT_TEST_LENGTH
            and nested_repeat(pattern) is True
        ):
            return
        yield from check(validator, pattern, instance, schema)

    return extend(validator_class, {"pattern": pattern})
