"""openapi-spec-validator integration: the structural check against the OpenAPI meta-schema, the
semantic pass, and their errors reported as located diagnostics."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

from jsonschema.exceptions import ValidationError
from openapi_schema_validator import (
    OAS31_BASE_DIALECT_ID,
)
from openapi_spec_validator import (
    OpenAPIV2SpecValidator,
    OpenAPIV30SpecValidator,
    OpenAPIV31SpecValidator,
)
from openapi_spec_validator.schemas import schema_v2, schema_v30, schema_v31
from openapi_spec_validator.validation import keywords
from openapi_spec_validator.validation.exceptions import (
    DuplicateOperationIDError,
    UnresolvableParameterError,
)

from .. import fast_paths
from ..diagnostics import Diagnostics, pointer_join
from ..model import SpecVersion
from ..refs.resolve import RefResolver
from .fast_meta import oas30_meta_valid, oas31_meta_valid, schema_keyword
from .schema_check import SchemaCheck
from .semantic import SemanticPass


class _OfflineV2(OpenAPIV2SpecValidator):
    resolver_handlers: dict[str, Any] = {}  # noqa: RUF012 - never fetch anything while validating
    keyword_validators = {  # noqa: RUF012 - the library's API
        **OpenAPIV2SpecValidator.keyword_validators,
        "schema": schema_keyword(keywords.OpenAPIV30SchemaValidator, fast_meta=True),
    }


class _OfflineV30(OpenAPIV30SpecValidator):
    resolver_handlers: dict[str, Any] = {}  # noqa: RUF012 - never fetch anything while validating
    keyword_validators = {  # noqa: RUF012 - the library's API
        **OpenAPIV30SpecValidator.keyword_validators,
        "schema": schema_keyword(keywords.OpenAPIV30SchemaValidator, fast_meta=True),
    }


class _OfflineV31(OpenAPIV31SpecValidator):
    resolver_handlers: dict[str, Any] = {}  # noqa: RUF012 - never fetch anything while validating
    keyword_validators = {  # noqa: RUF012 - the library's API
        **OpenAPIV31SpecValidator.keyword_validators,
        "schema": schema_keyword(keywords.OpenAPIV31SchemaValidator, fast_meta=False),
    }


_VALIDATORS: dict[SpecVersion, type[Any]] = {
    SpecVersion.SWAGGER_2_0: _OfflineV2,
    SpecVersion.OPENAPI_3_0: _OfflineV30,
    SpecVersion.OPENAPI_3_1: _OfflineV31,
}

_META_SCHEMAS = {
    SpecVersion.SWAGGER_2_0: schema_v2,
    SpecVersion.OPENAPI_3_0: schema_v30,
    SpecVersion.OPENAPI_3_1: schema_v31,
}


def meta_schema(version: SpecVersion) -> dict[str, Any]:
    """The OpenAPI meta-schema openapi-spec-validator ships for a version. Read here from the
    library's JSON file (the library reads it with a pure-Python YAML reader in every process); the
    library's own copy when the file is not where this version of it
    keeps it. Tests check both are equal."""
    if fast_paths.enabled("meta-schema-json"):
        file = (
            resources.files("openapi_spec_validator")
            / "resources"
            / "schemas"
            / f"v{version.value}"
        )
        file = file / "schema.json"
        try:
            schema = json.loads(file.read_bytes())
        except (OSError, ValueError):
            schema = None
        if isinstance(schema, dict):
            return schema
    return dict(_META_SCHEMAS[version])


@functools.cache
def structural_check(version: SpecVersion) -> SchemaCheck:
    """The OpenAPI meta-schema of a version (the one openapi-spec-validator ships), fast path
    included."""
    return SchemaCheck(meta_schema(version))


def semantic_errors(
    document: dict[str, Any], version: SpecVersion, resolver: RefResolver, *, well_formed: bool
) -> Iterator[ValidationError]:
    """openapi-spec-validator's semantic findings: from our own walk (`semantic.py`) for a document
    that passed the structural check, from the library's for any other (whose shapes only the
    library's walk handles the library's way)."""
    paths = document.get("paths")
    if isinstance(paths, dict) and any(isinstance(k, str) and k.startswith("x-") for k in paths):
        # extensions under `paths` are not path items: both walks would trip over them
        document = {
            **document,
            "paths": {
                k: v for k, v in paths.items() if not (isinstance(k, str) and k.startswith("x-"))
            },
        }
    if well_formed and fast_paths.enabled("semantic"):
        meta_valid: Any = oas30_meta_valid
        if version is SpecVersion.OPENAPI_3_1:
            base_dialect = (
                document.get("jsonSchemaDialect", OAS31_BASE_DIALECT_ID) == OAS31_BASE_DIALECT_ID
            )
            meta_valid = oas31_meta_valid if base_dialect else None
        return SemanticPass(document, version, resolver, meta_valid=meta_valid).errors()
    validator = _VALIDATORS[version](document)
    return validator.root_validator(validator.schema_path)


def report_structural(
    error: ValidationError, explained: set[str], diagnostics: Diagnostics
) -> None:
    for leaf in _relevant_leaves(error):
        pointer = pointer_join(*leaf.absolute_path)
        if pointer in explained:
            continue  # our own check said it better
        diagnostics.warning("invalid-spec", _describe(leaf), pointer=pointer, hint=_hint_for(leaf))


def _relevant_leaves(error: ValidationError) -> list[ValidationError]:
    """The sub-errors of a oneOf/anyOf failure that explain it, skipping the `$ref`-alternative
    branches."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return [error]
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(int(sub.schema_path[0]), []).append(sub)
    candidates = [
        subs
        for subs in branches.values()
        if not any(s.validator == "required" and "'$ref'" in s.message for s in subs)
    ] or list(branches.values())
    best = min(candidates, key=len)
    leaves: list[ValidationError] = []
    for sub in best:
        leaves.extend(_relevant_leaves(sub))
    return leaves


def _describe(error: ValidationError) -> str:
    if error.validator == "additionalProperties":
        return error.message.replace("Additional properties", "unexpected properties")
    if error.validator == "type" and error.absolute_path:
        return (
            f"`{error.absolute_path[-1]}` is {error.instance!r}:"
            f" {error.message.split(' is ', 1)[-1]}"
        )
    return str(error.message)


def _hint_for(error: ValidationError) -> str:
    if (
        error.validator == "type"
        and isinstance(error.instance, str)
        and error.instance in ("true", "false")
    ):
        return "write the boolean without quotes"
    if error.validator == "required":
        return "add the missing property"
    if error.validator == "additionalProperties":
        return "remove the property, or prefix a custom extension with `x-`"
    return "see the OpenAPI specification for this object"


def report_semantic(errors: Iterator[ValidationError], diagnostics: Diagnostics) -> None:
    try:
        for error in errors:
            if isinstance(error, (UnresolvableParameterError, DuplicateOperationIDError)):
                continue  # our own checks report these, with locations
            if (
                error.validator == "required"
                and error.absolute_path
                and error.absolute_path[-1] == "required"
            ):
                # `required: true` on a schema: reported by _check_schemas with its location
                continue
            if "is not of type 'array'" in str(error.message) and isinstance(error.instance, bool):
                continue
            diagnostics.warning(
                "invalid-spec", str(error.message), hint="see the OpenAPI specification"
            )
    except Exception as exc:
        if any(d.pointer for d in diagnostics.items if d.code != "no-server"):
            return  # it tripped over a problem reported above, with its location
        diagnostics.warning(
            "validator-stopped",
            f"openapi-spec-validator stopped early: {exc.__class__.__name__}",
            hint="fix the problems reported above and validate again",
        )
