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

    @functools.cached_property
    def narrowed(self) -> Any:
        """The reference validator, except that a `$ref` to one of the schema's definitions is first asked of
        jsonschema-rs, and not followed when the Rust validator says the value there is valid.

        Python's jsonschema spends nearly all its time on the valid parts of a document (4 s on GitHub's API
        description with one wrong field, against 0.02 s this way): explaining an error only needs the
        branches that hold one. A valid subtree yields no errors from the reference validator either (the
        same assumption as `iter_errors` makes for a whole document), so the errors, their order and their
        detail are the reference validator's. Definitions are found by `$ref`s of the form `#/definitions/...`
        or `#/$defs/...`; anything else is followed the reference way."""
        from jsonschema.validators import extend

        base = type(self.reference)
        follow = base.VALIDATORS["$ref"]
        fast_for = functools.cache(functools.partial(_fast_definition_check, self.schema))

        def ref(validator: Any, ref: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
            fast = fast_for(ref) if isinstance(ref, str) else None
            if fast is not None and fast(instance):
                return
            yield from follow(validator, ref, instance, schema)

        return extend(base, {"$ref": ref})(self.schema)

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        """Every error the reference validator finds; none, without running it, when the fast one says valid,
        and from the branches the fast one finds invalid only (see `narrowed`) when it does not."""
        if self.fast is not None:
            return iter(()) if self.fast(instance) else self.narrowed.iter_errors(instance)
        return self.reference.iter_errors(instance)

    def reference_valid(self, instance: Any) -> bool:
        """The reference validator's verdict alone (for tests comparing the two paths)."""
        return next(iter(self.reference.iter_errors(instance)), None) is None


_DEFINITIONS_KEYS = ("definitions", "$defs")
_RESOURCE_KEYS = ("$schema", "id", "$id", *_DEFINITIONS_KEYS)


def _fast_definition_check(schema: dict[str, Any], ref: str) -> Callable[[Any], bool] | None:
    """jsonschema-rs's "valid?" for the definition `ref` names in `schema` (a wrapper schema with the same
    dialect, base URI and definitions, whose only check is that `$ref`), or None for any other reference."""
    parts = ref.split("/")
    if len(parts) < 3 or parts[0] != "#" or parts[1] not in _DEFINITIONS_KEYS or parts[1] not in schema:
        return None
    wrapper = {key: schema[key] for key in _RESOURCE_KEYS if key in schema}
    try:
        return jsonschema_rs.validator_for({**wrapper, "$ref": ref}, validate_formats=False).is_valid
    except Exception:  # a reference jsonschema-rs cannot build: followed the reference way
        return None
