"""Every fast path, and the one switch that turns them off.

A fast path gives exactly its reference implementation's answer, only sooner. Each one lives in its
own module beside its reference and asks `enabled(name)` before it runs, so that it can be removed
by deleting that module and its line here.

`KPN_COLLECTIONS_FAST_PATHS` is the switch: unset or `on` turns every fast path on, `off` turns
them all off (CI runs the suite once more that way), and a comma-separated list of names turns on
only those (`KPN_COLLECTIONS_FAST_PATHS=yaml-rs,orjson`), to find which one is to blame.
"""

from __future__ import annotations

import os

ENVIRONMENT_VARIABLE = "KPN_COLLECTIONS_FAST_PATHS"

FAST_PATHS: dict[str, str] = {
    "yaml-rs": "YAML read by yaml-rs (Rust) where the text holds nothing it reads differently; "
    "reference: PyYAML",
    "text-locator": "source positions read off the text (JSON scanner, the root's first line); "
    "reference: the YAML composer's node tree",
    "jsonschema-rs": 'jsonschema-rs (Rust) answers "valid?" first; reference: Python jsonschema',
    "meta-check": "schemas checked against the OpenAPI meta-schemas by jsonschema-rs, visited "
    "schemas kept in a set; reference: openapi-spec-validator's own check",
    "meta-schema-json": "the OpenAPI meta-schemas read from the library's JSON files; "
    "reference: the library's own (YAML-loaded) copies",
    "semantic": "openapi-spec-validator's semantic checks walked over the plain document; "
    "reference: the library's own pass",
    "local-refs": "a document whose text names no external `$ref` is not walked for them; "
    "reference: the bundler's walk",
    "library-settings": "openapi-spec-validator's and openapi-schema-validator's default "
    "settings given without pydantic-settings where no variable of theirs is set; reference: "
    "their own settings modules",
    "orjson": "JSON written by orjson; reference: the standard library's encoder",
    "validate-beside": "a big document validated (and its `oneOf`s checked) in a second process "
    "while this one builds; reference: one stage after the other",
    "scheduler": "a batch converted over one process per core, biggest spec first; "
    "reference: one spec after the other in this process",
}
"""Name -> what the fast path does and what its reference is (the README lists the same)."""


def _switched_on(value: str | None) -> frozenset[str]:
    text = (value or "").strip()
    if text in ("", "on"):
        return frozenset(FAST_PATHS)
    if text == "off":
        return frozenset()
    return frozenset(name.strip() for name in text.split(",") if name.strip() in FAST_PATHS)


ON: frozenset[str] = _switched_on(os.environ.get(ENVIRONMENT_VARIABLE))
"""The fast paths this process takes, read once at import."""


def enabled(name: str) -> bool:
    """Whether the fast path `name` (a key of FAST_PATHS) is on."""
    if name not in FAST_PATHS:
        raise KeyError(f"no fast path is named {name!r}")
    return name in ON


def setting_problem() -> str | None:
    """What is wrong with the switch's value (a name no fast path has), for the CLI to report."""
    text = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if text in ("", "on", "off"):
        return None
    unknown = sorted(name.strip() for name in text.split(",") if name.strip() not in FAST_PATHS)
    if not unknown:
        return None
    return (
        f"{ENVIRONMENT_VARIABLE}: no fast path is named {', '.join(map(repr, unknown))} "
        f"(use on, off, or names among {', '.join(FAST_PATHS)})"
    )


def fingerprint() -> str:
    """The fast paths that are on, for cache keys: a result made with some off is kept apart."""
    return ",".join(sorted(ON))
