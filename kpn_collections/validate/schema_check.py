"""JSON Schema checks: Python jsonschema, the reference, explains, reading patterns as ECMA-262
(ecma_regex.py); the "jsonschema-rs" fast path (fast_schema.py) answers "valid?" first, so the
reference runs only where a value is invalid and the findings are always the reference's."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .. import fast_paths
from ..ecma_regex import ecma_validator
from .fast_schema import _said_valid, fast_schema_facts, jsonschema_rs, narrowed

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError


class SchemaCheck:
    """One JSON Schema, checked fast when possible and explained by the reference validator."""

    def __init__(self, schema: dict[str, Any]):
        self.schema = schema
        self.fast: Callable[[Any], bool] | None = None
        self._nested_ids = False
        if jsonschema_rs is not None and fast_paths.enabled("jsonschema-rs"):
            read_alike, self._nested_ids = fast_schema_facts(schema)
            if read_alike:
                # formats are annotations for the reference validator too (it is given no format
                # checker)
                try:
                    self.fast = jsonschema_rs.validator_for(schema, validate_formats=False).is_valid
                # a schema jsonschema-rs cannot build: the reference path answers alone
                except Exception:
                    return

    @functools.cached_property
    def reference(self) -> Any:
        """The reference validator, reading patterns as ECMA-262, built (and jsonschema loaded) the
        first time an answer needs explaining."""
        from jsonschema.validators import validator_for

        return ecma_validator(validator_for(self.schema))(self.schema)

    @functools.cached_property
    def narrowed(self) -> Any:
        """The reference validator, except that `$ref`s to the schema's definitions are first asked
        of jsonschema-rs and not followed where it says valid (see fast_schema.narrowed)."""
        if self.fast is None or self._nested_ids:
            return self.reference
        return narrowed(self.reference, self.schema)

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        """Every error the reference validator finds; none, without running it, when the fast one
        says valid, and from the branches the fast one finds invalid only (see `narrowed`) when it
        does not."""
        if self.fast is not None:
            return (
                iter(())
                if _said_valid(self.fast, instance)
                else self.narrowed.iter_errors(instance)
            )
        return self.reference.iter_errors(instance)

    def reference_valid(self, instance: Any) -> bool:
        """The reference validator's verdict alone (for tests comparing the two paths)."""
        return next(iter(self.reference.iter_errors(instance)), None) is None
