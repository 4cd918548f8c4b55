"""kpn-collections: SwaggerHub OpenAPI exports -> Postman v2.1 collections with a working token
flow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .settings import Settings

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .pipeline import ConversionResult, convert_document, convert_file

__all__ = ["ConversionResult", "Settings", "__version__", "convert_document", "convert_file"]


def __getattr__(name: str) -> Any:
    """The pipeline is imported on first use: a command that needs none of it (a run served from the
    cache, `--help`) starts without loading the validators."""
    if name in ("ConversionResult", "convert_document", "convert_file"):
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
