"""Check stage: validate a collection against Postman's Collection v2.1.0 JSON Schema (shipped in
the package)."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import TYPE_CHECKING, Any

from ..diagnostics import Diagnostics, pointer_join
from ..validate.schema_check import SchemaCheck

if TYPE_CHECKING:
    from jsonschema import Draft7Validator

SCHEMA_FILE = "collection-v2.1.0.schema.json"


@functools.lru_cache(maxsize=1)
def postman_schema_check() -> SchemaCheck:
    """Postman's v2.1.0 collection schema, with the fast path."""
    text = (resources.files("kpn_collections") / "schemas" / SCHEMA_FILE).read_text(
        encoding="utf-8"
    )
    return SchemaCheck(json.loads(text))


def postman_schema_validator() -> Draft7Validator:
    """The reference validator for Postman's v2.1.0 collection schema (tests use it directly)."""
    validator: Draft7Validator = postman_schema_check().reference
    return validator


def check_collection(collection: dict[str, Any], diagnostics: Diagnostics) -> None:
    """Report every place the collection breaks the Postman schema (a converter bug, so an
    error)."""
    for error in postman_schema_check().iter_errors(collection):
        diagnostics.error(
            "invalid-collection",
            f"the generated collection does not match the Postman v2.1.0 schema: {error.message}",
            pointer=pointer_join(*error.absolute_path),
            hint="this is a bug in kpn-collections; please report it with the input file",
        )
