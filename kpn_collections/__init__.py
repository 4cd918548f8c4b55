"""kpn-collections: SwaggerHub OpenAPI exports -> Postman v2.1 collections with a working token flow."""

from __future__ import annotations

__version__ = "0.1.0"

from .pipeline import ConversionResult, convert_document, convert_file
from .settings import Settings

__all__ = ["ConversionResult", "Settings", "__version__", "convert_document", "convert_file"]
