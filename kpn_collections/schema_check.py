"""JSON Schema checks with a fast path: jsonschema-rs (Rust) answers "valid?", Python jsonschema explains.

Most documents are valid, and for those the Rust validator's yes is all that is needed (about 100 times
faster on a big API description). Only when it says no does the reference validator, Python's jsonschema,
run to produce the errors, with the detail (`context`, `validator`, paths) the reports are built from. So the
findings are always the reference path's; `tests/test_fast_paths.py` checks that both validators agree on
validity over the corpus, the fixtures and mutated documents. Without jsonschema-rs (an unusual platform)
every check simply takes the reference path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .fast_paths import REFERENCE_ONLY

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

try:
    import jsonschema_rs
except ImportError:  # pragma: no cover - jsonschema-rs ships wheels for the usual platforms
    jsonschema_rs = None  # type: ignore[assignment]



class SchemaCheck:
    """One JSON Schema, checked fast when possible and explained by the reference validator."""

    def __init__(self, schema: dict[str, Any]):
        self.schema = schema
        self.fast: Callable[[Any], bool] | None = None
        if jsonschema_rs is not None and not REFERENCE_ONLY:
            # formats are annotations for the reference validator too (it is given no format checker)
            self.fast = jsonschema_rs.validator_for(schema, validate_formats=False).is_valid

    @functools.cached_property
    def reference(self) -> Any:
        """The reference validator, built (and jsonschema loaded) the first time an answer needs explaining."""
        from jsonschema.validators import validator_for

        return validator_for(self.schema)(self.schema)

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        """Every error the reference validator finds; none, without running it, when the fast one says valid."""
        if self.fast is not None and self.fast(instance):
            return iter(())
        return self.reference.iter_errors(instance)

    def reference_valid(self, instance: Any) -> bool:
        """The reference validator's verdict alone (for tests comparing the two paths)."""
        return next(iter(self.reference.iter_errors(instance)), None) is None
