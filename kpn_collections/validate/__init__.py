"""Validate stage: openapi-spec-validator plus our own checks, as located diagnostics."""
