"""Validate stage: openapi-spec-validator plus our own checks, as located diagnostics."""

from .library_settings import install

install()  # before any module of this package loads the libraries
