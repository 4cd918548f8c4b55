"""Normalise stage: Swagger 2.0 and OpenAPI 3.x documents into one Api model (one function per
format)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..diagnostics import Diagnostics
from ..model import Api, SpecVersion
from ..refs.resolve import RefResolver
from .oas3 import normalise_oas3
from .swagger2 import normalise_swagger2

Normaliser = Callable[[dict[str, Any], SpecVersion, RefResolver, Diagnostics], Api]

NORMALISERS: dict[SpecVersion, Normaliser] = {
    SpecVersion.SWAGGER_2_0: normalise_swagger2,
    SpecVersion.OPENAPI_3_0: normalise_oas3,
    SpecVersion.OPENAPI_3_1: normalise_oas3,
}


def normalise(
    document: dict[str, Any], version: SpecVersion, resolver: RefResolver, diagnostics: Diagnostics
) -> Api:
    """Build the internal model of a document in any supported format."""
    return NORMALISERS[version](document, version, resolver, diagnostics)
