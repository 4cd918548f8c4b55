"""Load stage: bytes -> a JSON-compatible document with source positions for diagnostics."""
