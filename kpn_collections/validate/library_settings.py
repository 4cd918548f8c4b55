"""Fast path "library-settings": openapi-spec-validator's and openapi-schema-validator's settings
without pydantic-settings. Their reference is the libraries' own settings modules.

Each library reads a few settings from environment variables through pydantic-settings, whose import
costs a tenth of a second and 12 MB in every process that validates. Where no variable of theirs is
set (none named `OPENAPI_SPEC_VALIDATOR_*` or `OPENAPI_SCHEMA_VALIDATOR_*`, in any case: they read
names case-insensitively, and no `.env` file), their settings are their defaults: `install` then
puts stand-in modules with those defaults where Python looks for their settings modules first.
Otherwise, or once a library is loaded, it does nothing and the libraries read their own. The
choice is made when this package is imported: a variable set later in the same process (by a
program that embeds the converter) is not seen.
"""

from __future__ import annotations

import functools
import os
import sys
import types

from .. import fast_paths

PREFIXES = ("OPENAPI_SPEC_VALIDATOR_", "OPENAPI_SCHEMA_VALIDATOR_")
"""The environment variables the libraries' settings read start with these (in any case)."""


class SpecValidatorSettings:
    """openapi-spec-validator 0.9.0's `OpenAPISpecValidatorSettings()` with no variable set."""

    resolved_cache_maxsize = 128
    schema_validator_backend = "auto"


class SchemaValidatorSettings:
    """openapi-schema-validator 0.9.0's `OpenAPISchemaValidatorSettings()` with no variable set."""

    compiled_validator_cache_max_size = 128


@functools.lru_cache(maxsize=1)
def _schema_validator_settings() -> SchemaValidatorSettings:
    return SchemaValidatorSettings()


def install() -> None:
    """Stand in for both settings modules, where that gives the libraries' own answers."""
    if not fast_paths.enabled("library-settings") or any(
        name.upper().startswith(PREFIXES) for name in os.environ
    ):
        return
    if {"openapi_spec_validator", "openapi_schema_validator"} & sys.modules.keys():
        return  # loaded already, with their own settings
    sys.modules.update(stand_ins())


def stand_ins() -> dict[str, types.ModuleType]:
    """Module name -> the stand-in for that settings module."""
    spec = types.ModuleType("openapi_spec_validator.settings", __doc__)
    vars(spec).update(
        OpenAPISpecValidatorSettings=SpecValidatorSettings,
        get_resolved_cache_maxsize=lambda: SpecValidatorSettings.resolved_cache_maxsize,
        get_schema_validator_backend=lambda: SpecValidatorSettings.schema_validator_backend,
    )
    schema = types.ModuleType("openapi_schema_validator.settings", __doc__)
    vars(schema).update(
        OpenAPISchemaValidatorSettings=SchemaValidatorSettings,
        get_settings=_schema_validator_settings,
        reset_settings_cache=_schema_validator_settings.cache_clear,
    )
    return {spec.__name__: spec, schema.__name__: schema}
