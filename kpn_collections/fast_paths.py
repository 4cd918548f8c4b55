"""The switch for every fast path: each one gives the reference path's answer, only sooner.

KPN_COLLECTIONS_REFERENCE_VALIDATION=1 turns them all off (jsonschema-rs before Python jsonschema,
the semantic pass before openapi-spec-validator's, the JSON source locator before the YAML composer,
orjson before the standard library's encoder, yaml-rs before PyYAML): for comparing the two paths in
tests (`tests/test_fast_paths.py`), or to rule the fast paths out when in doubt.
"""

from __future__ import annotations

import os

REFERENCE_ONLY = os.environ.get("KPN_COLLECTIONS_REFERENCE_VALIDATION") == "1"
