"""The fast paths report exactly what the reference paths report.

CI runs the whole suite a second time with every fast path off (`KPN_COLLECTIONS_FAST_PATHS=off`),
and one test here converts the fixtures, the KPN corpus and the public corpus both ways and requires
identical diagnostics and byte-identical collections. The rest compares each fast answer with the
reference one where whole conversions cannot reach: generated and damaged inputs, the guards' edge
cases, every position a locator can be asked for.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import (
    OpenAPIV2SpecValidator,
    OpenAPIV30SpecValidator,
    OpenAPIV31SpecValidator,
)
from openapi_spec_validator.validation.exceptions import (
    DuplicateOperationIDError,
    ExtraParametersError,
    UnresolvableParameterError,
)

from kpn_collections import fast_paths, write
from kpn_collections.build.check import postman_schema_check
from kpn_collections.credentials import find_in_document
from kpn_collections.diagnostics import Diagnostics, pointer_join
from kpn_collections.load.document import LoadError, SourceDocument, load_document
from kpn_collections.load.fast_yaml import (
    _YAML_REFUSED,
    _ends_in_block_header,
    _has_refused_character,
    _has_risky_flow_collection,
    _unsure_for_yaml_rs,
    fast_yaml,
)
from kpn_collections.load.text_locator import JsonPositions, root_position
from kpn_collections.load.yaml_reader import read_yaml
from kpn_collections.model import SpecVersion, detect_version
from kpn_collections.pipeline import convert_file
from kpn_collections.refs.resolve import RefResolver, check_references, iter_refs
from kpn_collections.validate.fast_meta import oas30_meta_valid as _oas30_meta_valid
from kpn_collections.validate.fast_schema import jsonschema_rs
from kpn_collections.validate.library import (
    _META_SCHEMAS,
    meta_schema,
    semantic_errors,
    structural_check,
)

from ..acceptance.test_public_corpus import PACKAGE, require_package
from ..conftest import CORPUS, FIXTURES, REPO_ROOT, corpus_specs
from ..equivalence.test_fuzz import BUDGET, mutated_documents

pytestmark = pytest.mark.skipif(jsonschema_rs is None, reason="jsonschema-rs is not installed")


def documents() -> list[Path]:
    fixtures = sorted(
        p
        for p in FIXTURES.rglob("*")
        if p.suffix in (".yaml", ".yml", ".json") and "expected" not in p.name
    )
    public = sorted(
        p for p in PACKAGE.rglob("*") if p.suffix in (".yaml", ".json") and p.parent.name != "test"
    )
    return fixtures + corpus_specs() + public


@functools.cache
def loaded() -> list[tuple[Path, dict[str, Any], SpecVersion]]:
    """Every document the comparisons below walk, loaded the first time one asks."""
    found = []
    for path in documents():
        try:
            data = load_document(path).data
        except Exception:
            continue
        version = detect_version(data, Diagnostics())
        if version is not None:
            found.append((path, data, version))
    return found


@pytest.mark.parametrize("version", list(SpecVersion))
def test_meta_schema_read_from_the_library_file_is_the_librarys_own(version: SpecVersion) -> None:
    schema = meta_schema(version)
    assert schema == dict(_META_SCHEMAS[version])
    assert schema["$schema"] and schema is not meta_schema(version)  # a fresh copy each time


@BUDGET
@given(mutated_documents())
def test_meta_schema_fast_answer_on_mutated_documents(document: Any) -> None:
    if not isinstance(document, dict):
        return
    version = detect_version(document, Diagnostics())
    if version is None:
        return
    check = structural_check(version)
    assert check.fast is not None
    # the fast path only ever skips the reference check when it says "valid"
    if check.fast(document):
        assert check.reference_valid(document)


def error_signature(error: Any) -> tuple[Any, ...]:
    """Everything of a jsonschema error the reports are built from, its sub-errors included."""
    return (
        error.message,
        list(error.absolute_path),
        list(error.absolute_schema_path),
        error.validator,
        error.validator_value,
        error.instance,
        [error_signature(sub) for sub in error.context],
    )


def assert_narrowed_errors_are_the_reference_errors(check: Any, document: Any) -> None:
    narrowed = [error_signature(e) for e in check.narrowed.iter_errors(document)]
    assert narrowed == [error_signature(e) for e in check.reference.iter_errors(document)]


@BUDGET
@given(mutated_documents())
def test_narrowed_check_explains_mutated_documents_as_the_reference_does(document: Any) -> None:
    version = detect_version(document, Diagnostics()) if isinstance(document, dict) else None
    for check in (
        [structural_check(version)] if version else [structural_check(v) for v in SpecVersion]
    ):
        assert_narrowed_errors_are_the_reference_errors(check, document)


@pytest.mark.parametrize("fixture", ["swagger20", "oas30", "oas31"])
def test_narrowed_check_explains_a_wrong_field_deep_in_each_version_as_the_reference_does(
    fixture: str,
) -> None:
    document = load_document(next((FIXTURES / fixture / "features").glob("input.*"))).data
    version = detect_version(document, Diagnostics())
    assert version is not None
    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"]["200"] = {"description": 5, "headers": []}
    check = structural_check(version)
    assert check.fast is not None and not check.fast(document)
    assert_narrowed_errors_are_the_reference_errors(check, document)


def test_narrowed_check_skips_the_valid_parts_of_a_big_invalid_document() -> None:
    document = load_document(CORPUS / "kpn-sd-lan-sd-wan-network-view-openapi.yml").data
    operation = next(iter(document["paths"].values()))
    next(iter(operation.values()))["responses"] = {"200": {"description": 5}}
    check = structural_check(SpecVersion.OPENAPI_3_0)
    assert_narrowed_errors_are_the_reference_errors(check, document)
    assert references_met(check.narrowed, document) * 20 < references_met(check.reference, document)


def references_met(validator: Any, document: Any) -> int:
    """How many `$ref`s `validator` meets while finding the errors of `document`."""
    met: list[str] = []
    validators = type(validator).VALIDATORS
    original = validators["$ref"]

    def counting(validator: Any, ref: Any, instance: Any, schema: Any) -> Any:
        met.append(ref)
        return original(validator, ref, instance, schema)

    validators["$ref"] = counting
    try:
        assert list(validator.iter_errors(document))
    finally:
        validators["$ref"] = original
    return len(met)


def test_narrowed_postman_check_explains_a_broken_collection_as_the_reference_does() -> None:
    collection = json.loads(
        (FIXTURES / "oas30" / "features" / "expected.postman_collection.json").read_text(
            encoding="utf-8"
        )
    )
    collection["item"][1]["item"][0]["request"]["method"] = 7
    collection["variable"][0]["type"] = []
    check = postman_schema_check()
    assert check.fast is not None and not check.fast(collection)
    assert_narrowed_errors_are_the_reference_errors(check, collection)


def shipped_schemas() -> dict[str, dict[str, Any]]:
    """Every schema jsonschema-rs is given: the OpenAPI meta-schemas, Postman's, the schema
    meta-schemas."""
    from openapi_schema_validator import OAS31Validator
    from openapi_schema_validator._specifications import REGISTRY

    return {
        **{f"openapi {version.value}": meta_schema(version) for version in SpecVersion},
        "postman": postman_schema_check().schema,
        "oas30 schema": dict(OAS30Validator.META_SCHEMA),
        "oas31 dialect": dict(OAS31Validator.META_SCHEMA),
        "oas31 vocabulary": dict(REGISTRY.contents("https://spec.openapis.org/oas/3.1/meta/base")),
    }


def patterns_in(schema: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "pattern" and isinstance(value, str):
                found.add(value)
            if key == "patternProperties" and isinstance(value, dict):
                found |= {name for name in value if isinstance(name, str)}
            found |= patterns_in(value)
    elif isinstance(schema, list):
        for value in schema:
            found |= patterns_in(value)
    return found


PATTERN_PARTS = [
    *"ab.^$|*+?()",
    "(?:",
    "{2}",
    "{1,3}",
    "{2,}",
    "*?",
    *[rf"\{c}" for c in "dDwWsSbBnrtfv0./$^-_\\"],
    "[a-c]",
    "[^a]",
    r"[\d-]",
    r"[\w.]",
    r"[^\d\s]",
    r"[\s\S]",
    r"[\b]",
    r"\p{L}",
    r"\P{L}",
    r"\p{Nd}",
    r"\u00e9",
    r"\u{1F600}",
    r"\x41",
    r"\cJ",
    "(?=a)",
    "(?!b)",
    "(?<=a)",
    "(?<n>a)",
    r"\k<n>",
    r"\1",
    "\u00e9",
]
NASTY_TEXT = st.lists(
    st.sampled_from(
        [
            *"aAbcxX-_./:$^p{L}0123459#?\\",
            "\n",
            "\r",
            "\t",
            "\v",
            "\f",
            " ",
            "\u00a0",
            "\ufeff",
            "\u2028",
            "\u0660",
            "\uff11",
            "\u00e9",
            "\u00c9",
            "\u212a",
            "\u017f",
            "\U0001f600",
            "\U00010d40",
            "\U0001d7ce",
        ]
    ),
    max_size=8,
).map("".join)


@settings(max_examples=1000, deadline=None)
@given(
    pattern=st.lists(st.sampled_from(PATTERN_PARTS), min_size=1, max_size=7).map("".join),
    texts=st.lists(NASTY_TEXT, min_size=1, max_size=20),
)
def test_jsonschema_rs_matches_what_ecma_262_matches_for_patterns_read_alike(
    pattern: str, texts: list[str]
) -> None:
    """The fast path keeps a pattern only where `read_alike_by_jsonschema_rs` says so; there,
    jsonschema-rs and the reference engine (regress, ECMA-262) match the same texts."""
    from kpn_collections import ecma_regex

    if not ecma_regex.read_alike_by_jsonschema_rs(pattern):
        return
    try:
        fast = jsonschema_rs.validator_for({"pattern": pattern}).is_valid
    except Exception:  # jsonschema-rs cannot build it: the reference answers alone
        return
    for text in texts:
        assert fast(text) == ecma_regex.search(pattern, text), (pattern, text)


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"\bx", "\u00e9x"),  # a word boundary: ASCII words to ECMA-262, Unicode ones to Rust
        (r"\D(?!b)", "\u0661"),  # beside a lookaround, `\d` is Unicode to Rust
        (r"(a)\1\d", "aa\u0661"),
        (r"^\-\p{L}$", "-p{L}"),  # valid only without the `u` flag, where `\p{L}` is "p{L}"
        (r"(?i)x", "X"),  # no ECMA-262 pattern at all
    ],
)
def test_patterns_read_otherwise_leave_the_reference_to_answer_alone(
    pattern: str, text: str
) -> None:
    from kpn_collections import ecma_regex
    from kpn_collections.validate.schema_check import SchemaCheck

    assert not ecma_regex.read_alike_by_jsonschema_rs(pattern)
    check = SchemaCheck({"properties": {"a": {"pattern": pattern}}})
    assert check.fast is None
    expected = [] if ecma_regex.search(pattern, text) else [f"{text!r} does not match {pattern!r}"]
    assert [error.message for error in check.iter_errors({"a": text})] == expected


def test_every_shipped_schema_keeps_its_fast_path() -> None:
    from kpn_collections.validate.fast_meta import oas31_meta_fast as _oas31_meta_fast
    from kpn_collections.validate.fast_schema import fast_schema_facts
    from kpn_collections.validate.schema_check import SchemaCheck

    for name, schema in shipped_schemas().items():
        # every pattern read alike, and no subschema sets its own base URI
        assert fast_schema_facts(schema) == (True, False), name
        if not name.startswith("oas31"):  # those two are built together, with a registry, below
            assert SchemaCheck(schema).fast is not None, name
    assert _oas31_meta_fast() is not None


def test_the_library_meta_check_schemas_hold_patterns_that_read_the_same_in_python() -> None:
    """openapi-spec-validator checks each schema in a definition with Python's `re` (its findings
    are its own); the "meta-check" fast path gives its answer with jsonschema-rs, which is exact
    only because those meta-schemas' patterns are plain literals, anchored or not."""
    schemas = shipped_schemas()
    names = ("oas30 schema", "oas31 dialect", "oas31 vocabulary")
    for pattern in set().union(*(patterns_in(schemas[name]) for name in names)):
        assert re.fullmatch(r"\^?[A-Za-z-]+", pattern), pattern


def test_only_patterns_in_schema_positions_are_looked_at() -> None:
    from kpn_collections.validate.fast_schema import fast_schema_facts

    data_only = {
        "properties": {"pattern": {"enum": [{"pattern": r"\b"}]}, "b": {"pattern": "b$"}},
        "patternProperties": {"^x-$": {"default": {"pattern": r"\b"}}},
        "pattern": "d.$",
    }
    assert fast_schema_facts(data_only) == (True, False)
    assert fast_schema_facts({"items": {"pattern": r"\b"}}) == (False, False)
    assert fast_schema_facts({"patternProperties": {r"^\bx": {}}}) == (False, False)
    assert fast_schema_facts({"properties": {"a": {"$id": "a.json"}}}) == (True, True)


def test_a_digit_outside_ascii_is_no_digit_to_either_path() -> None:
    """U+10D40 (Garay digit zero, Unicode 16) is a digit to Unicode, not to ECMA-262's `\\d`: a
    version number or a response code spelt with it is invalid on both paths."""
    document = json.loads(json.dumps(PET_NEWLINE))
    del document["components"]
    document["openapi"] = "3.0.\U00010d40"
    document["paths"]["/pets"]["get"]["responses"]["2\U00010d40\U00010d40"] = {"description": "ok"}
    check = structural_check(SpecVersion.OPENAPI_3_0)
    assert check.fast is not None
    assert check.fast(document) == check.reference_valid(document)
    assert_narrowed_errors_are_the_reference_errors(check, document)


PET_NEWLINE = {
    "openapi": "3.0.3",
    "info": {"title": "Pets", "version": "1"},
    "paths": {"/pets": {"get": {"responses": {"200": {"description": "ok"}}}}},
    "components": {"schemas": {"Pet\n": {"type": 5}, "Owner": {"type": "object"}}},
}


@pytest.mark.parametrize("other_error", [False, True])
def test_a_name_only_python_would_match_is_left_alone_on_both_paths(other_error: bool) -> None:
    """ "Pet\\n" matches the component-name pattern for Python's `re` (`$` before a final newline),
    not for ECMA-262: neither path checks the schema under that name (the meta-schema allows other
    names), alone or beside another error."""
    document = json.loads(json.dumps(PET_NEWLINE))
    if other_error:
        document["paths"]["/pets"]["get"]["responses"]["200"]["description"] = 5
    check = structural_check(SpecVersion.OPENAPI_3_0)
    assert check.fast is not None
    assert check.fast(document) is check.reference_valid(document) is (not other_error)
    narrowed = [error_signature(e) for e in check.narrowed.iter_errors(document)]
    assert not any(path[:3] == ["components", "schemas", "Pet\n"] for _, path, *_ in narrowed)
    assert_narrowed_errors_are_the_reference_errors(check, document)


def test_a_schema_whose_subschemas_set_their_base_uri_is_explained_the_reference_way() -> None:
    from kpn_collections.validate.schema_check import SchemaCheck

    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://example.com/root.json",
        "properties": {
            "a": {"$ref": "#/definitions/a"},
            "b": {
                "$id": "https://example.com/b.json",
                "$ref": "#/definitions/a",
                "definitions": {"a": {"type": "string"}},
            },
        },
        "definitions": {"a": {"type": "integer"}},
    }
    check = SchemaCheck(schema)
    assert check.narrowed is check.reference
    for instance in ({"a": 1, "b": "x"}, {"a": "x", "b": 1}, {"a": 1, "b": 1}):
        assert check.fast is not None and check.fast(instance) == check.reference_valid(instance)
        assert [error_signature(e) for e in check.iter_errors(instance)] == [
            error_signature(e) for e in check.reference.iter_errors(instance)
        ]


REFERENCE_CLASSES = {
    SpecVersion.SWAGGER_2_0: OpenAPIV2SpecValidator,
    SpecVersion.OPENAPI_3_0: OpenAPIV30SpecValidator,
    SpecVersion.OPENAPI_3_1: OpenAPIV31SpecValidator,
}


def reported_findings(errors: Any) -> list[str]:
    """Findings as `_report_semantic` reports them: type and message, in order (the library's one
    message built from a set, whose order changes with PYTHONHASHSEED, compared sorted), or where
    the walk stopped."""
    found = []
    try:
        for error in errors:
            if isinstance(error, (DuplicateOperationIDError, UnresolvableParameterError)):
                continue  # reported by our own checks instead
            message = error.message
            if isinstance(error, ExtraParametersError):
                head, _, names = message.partition(": ")
                message = f"{head}: {sorted(ast.literal_eval(names))}"
            found.append(f"{type(error).__name__}: {message}")
    except Exception as exc:
        found.append(f"stopped: {type(exc).__name__}")
    return found


def library_findings(document: dict[str, Any], version: SpecVersion) -> list[str]:
    class Offline(REFERENCE_CLASSES[version]):  # type: ignore[misc, valid-type]
        resolver_handlers: dict[str, Any] = {}  # noqa: RUF012

    validator = Offline(document)
    return reported_findings(validator.root_validator(validator.schema_path))


def own_findings(document: dict[str, Any], version: SpecVersion) -> list[str]:
    resolver = RefResolver(document)
    check_references(document, resolver, Diagnostics())
    return reported_findings(semantic_errors(document, version, resolver, well_formed=True))


def refs_ok(document: dict[str, Any]) -> bool:
    """Whether the pipeline would run the semantic pass: local refs only (validation sees bundled
    documents), none broken or cyclic."""
    if any(not isinstance(ref, str) or not ref.startswith("#") for _, ref in iter_refs(document)):
        return False
    resolver = RefResolver(document)
    check_references(document, resolver, Diagnostics())
    return not resolver.broken and not resolver.cyclic


@BUDGET
@given(mutated_documents())
def test_own_semantic_pass_on_mutated_well_formed_documents(document: Any) -> None:
    if not isinstance(document, dict):
        return
    version = detect_version(document, Diagnostics())
    if (
        version is None
        or not structural_check(version).reference_valid(document)
        or not refs_ok(document)
    ):
        return
    assert own_findings(document, version) == library_findings(document, version)


def reference_meta_errors(schema: Any) -> bool:
    try:
        OAS30Validator.check_schema(schema)
    except Exception:
        return True
    return False


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "pattern": "^[a-z]+$"},
        {"type": "string", "pattern": "("},
        {"type": "object", "properties": {"a": {"type": "string", "pattern": "[unclosed"}}},
        {"type": "object", "properties": {"pattern": {"type": "string"}}},
        {"type": 5},
        {"required": []},
        {"minimum": "1"},
        {"allOf": []},
        {
            "example": {"pattern": "("}
        },  # not a pattern the meta-schema checks: the fast path defers, never wrong
    ],
)
def test_schema_meta_fast_answer_never_contradicts_the_reference(schema: dict[str, Any]) -> None:
    if _oas30_meta_valid(schema):
        assert not reference_meta_errors(schema)


def test_postman_schema_fast_answer_is_the_reference_answer() -> None:
    check = postman_schema_check()
    for path in sorted(FIXTURES.glob("*/*/expected.postman_collection.json")):
        collection = json.loads(path.read_text(encoding="utf-8"))
        assert (
            check.fast is not None and check.fast(collection) and check.reference_valid(collection)
        )
        for broken in (
            {**collection, "info": {"name": 5}},
            {**collection, "item": [{"request": 7}]},
            {k: v for k, v in collection.items() if k != "info"},
        ):
            assert check.fast(broken) is False and check.reference_valid(broken) is False


def json_pointers(value: Any, prefix: str = "") -> list[str]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += json_pointers(child, prefix + pointer_join(key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += json_pointers(child, prefix + pointer_join(index))
    return found


def test_json_locator_agrees_with_the_yaml_locator() -> None:
    compared = 0
    for path, _, _ in loaded():
        source = load_document(path)
        if source.format != "json":
            continue
        as_yaml = SourceDocument(source.path, source.data, source.text, "yaml")
        pointers = [*json_pointers(source.data), "/nope", "/paths/~1missing/get"]
        # reading resumes where it stopped
        for order in (
            pointers,
            pointers[::-1],
            pointers[1::2] + pointers[::2],
        ):
            positions = JsonPositions(source.text)
            for pointer in order:
                assert positions.locate(pointer) == as_yaml.locate(pointer), (path, pointer)
                compared += 1
    assert compared > 10_000


def convert_all(tmp_path: Path, name: str, reference: bool) -> tuple[list[Any], dict[str, bytes]]:
    out = tmp_path / name
    specs = [str(FIXTURES), *([str(CORPUS)] if corpus_specs() else []), str(PACKAGE)]
    env = {**os.environ, "KPN_COLLECTIONS_FAST_PATHS": "off" if reference else "on"}
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "kpn_collections",
            "convert",
            *specs,
            "-o",
            str(out),
            "--no-cache",
            "--format",
            "json",
            "-v",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=1800,
    )
    assert completed.returncode in (0, 1), completed.stderr[-2000:]
    report = json.loads(completed.stderr)
    files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.json"))}
    return [(f["source"], f["outcome"], f["diagnostics"]) for f in report["files"]], files


def test_fast_and_reference_paths_give_identical_results(tmp_path: Path) -> None:
    require_package()
    fast_report, fast_files = convert_all(tmp_path, "fast", reference=False)
    reference_report, reference_files = convert_all(tmp_path, "reference", reference=True)
    assert len(fast_report) > 150
    assert fast_report == reference_report
    assert fast_files == reference_files


@pytest.mark.parametrize(
    "text",
    [
        "openapi: 3\n",
        "# c\n\nopenapi: 3\n",
        "  a: 1\n",
        '{"a": 1}',
        '\n\n  {"a": 1}',
        "---\na: 1\n",
        "- a\n",
        "%YAML 1.2\n---\na: 1\n",
        "#x\n   # y\n  b: 2\n",
        "&anchor\na: 1\n",
        "? a\n: 1\n",
        "'quoted'\n",
        "|\n  text\n",
    ],
)
def test_root_position_shortcut_agrees_with_the_composer(text: str) -> None:
    fast = root_position(text)
    node = yaml.compose(text)
    assert node is not None
    assert fast is None or fast == (node.start_mark.line + 1, node.start_mark.column + 1)


def test_root_position_of_every_document_agrees_with_the_composer() -> None:
    for path, _, _ in loaded():
        text = load_document(path).text
        root = yaml.compose(text)
        assert root is not None
        assert root_position(text) in (
            None,
            (root.start_mark.line + 1, root.start_mark.column + 1),
        ), path


# --- walks: each fast walk against the plain walk it replaced
# -------------------------------------------------


def reference_iter_refs(node: Any, pointer: str = "") -> list[tuple[str, Any]]:
    """iter_refs as first written: a pointer built for every value."""
    literal_keys = frozenset({"example", "x-example", "default", "enum", "const"})
    found, stack = [], [(pointer, node)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            if "$ref" in value and not isinstance(value["$ref"], dict):
                found.append((where, value["$ref"]))
            literal = (
                literal_keys if not where.endswith("/responses") else literal_keys - {"default"}
            )
            children = [
                (pointer_join(k), v)
                for k, v in value.items()
                if k not in literal and (k != "$ref" or isinstance(v, dict))
            ]
            if where.rsplit("/", 2)[-2:-1] == ["examples"] and "value" in value:
                children = [(t, v) for t, v in children if t != "/value"]
        elif isinstance(value, list):
            children = [(pointer_join(i), v) for i, v in enumerate(value)]
        else:
            continue
        stack.extend((where + token, child) for token, child in reversed(children))
    return found


def reference_find_in_document(document: Any) -> list[tuple[str, str]]:
    """find_in_document as first written: every string judged, every pointer built."""
    from kpn_collections.credentials import _CREDENTIAL_REFERENCE, credential_by_name, secret_kind

    found, stack = [], [((), document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            stack.extend(((*path, k), v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(value))))
        elif isinstance(value, str) and (len(value) >= 8 or "{{" in value):
            kind = secret_kind(value)
            key = next((str(k) for k in reversed(path) if not isinstance(k, int)), "")
            if kind is None and credential_by_name(key, value):
                kind = f"a value for `{key}`"
            if kind is None and _CREDENTIAL_REFERENCE.search(value):
                kind = "a reference to a Postman credential variable"
            if kind is not None:
                found.append((pointer_join(*path), kind))
    return found


def test_walks_find_what_the_plain_walks_find() -> None:
    refs = secrets = 0
    for path, document, _ in loaded():
        assert list(iter_refs(document)) == reference_iter_refs(document), path
        assert list(find_in_document(document)) == reference_find_in_document(document), path
        refs += len(reference_iter_refs(document))
        secrets += len(reference_find_in_document(document))
    assert refs > 1000 and secrets > 0


@BUDGET
@given(mutated_documents())
def test_walks_on_mutated_documents(document: Any) -> None:
    assert list(iter_refs(document)) == reference_iter_refs(document)
    assert list(find_in_document(document)) == reference_find_in_document(document)


TRICKY_SECRETS = [
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig",
    "x {{client_secret}} y",
    "https://user:pass@example.org/",
    "ghp_" + "a" * 36,
    "Bearer " + "x" * 24,
]


@pytest.mark.parametrize("value", TRICKY_SECRETS)
def test_walks_agree_on_secrets_under_every_kind_of_key(value: str) -> None:
    document = {
        "a": {
            "client_secret": [value, {"x": value}],
            "access-token": "s3cr3t-v4lue-1",
            "e": [[value]],
        },
        "examples": {"x": {"value": {"$ref": value}}},
        "responses": {"default": {"$ref": "#/x"}},
    }
    assert list(find_in_document(document)) == reference_find_in_document(document)
    assert list(iter_refs(document)) == reference_iter_refs(document)


# --- the writer: orjson's text is the standard library's
# ------------------------------------------------------


def test_fast_writer_writes_the_reference_text_of_every_golden_collection() -> None:
    goldens = sorted(FIXTURES.glob("*/*/expected.postman_collection.json"))
    assert len(goldens) >= 5
    for path in goldens:
        collection = json.loads(path.read_text(encoding="utf-8"))
        assert (
            write.dumps(collection)
            == reference_dumps(collection)
            == path.read_text(encoding="utf-8")
        ), path


def test_fast_writer_writes_the_reference_text_of_every_corpus_collection() -> None:
    written = 0
    for path in corpus_specs():
        collection = convert_file(path).collection
        if collection is not None:
            assert write.dumps(collection) == reference_dumps(collection), path
            written += 1
    assert written == len(corpus_specs())


def reference_dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


JSON_LIKE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(JSON_LIKE)
def test_fast_writer_writes_the_reference_text_of_any_data(value: Any) -> None:
    expected = reference_dumps({"v": value})
    if any("\ud800" <= character <= "\udfff" for character in expected):
        return  # lone surrogates: test_a_lone_surrogate_is_written_as_its_json_escape
    assert write.dumps({"v": value}) == expected


@pytest.mark.parametrize(
    "value", [1e-05, 1.5e-7, 2**64, -(2**63) - 1, float("nan"), float("inf"), 1e16, 0.1]
)
def test_fast_writer_leaves_what_orjson_writes_differently_to_the_reference(value: Any) -> None:
    assert write.dumps({"a": [{"b": value}]}) == reference_dumps({"a": [{"b": value}]})
    # a scalar at the root too
    assert write.collection_bytes(value) == reference_dumps(value).encode("utf-8")


def test_a_lone_surrogate_is_written_as_its_json_escape() -> None:
    collection = {"a": ["x\ud800y", {"\udfff": 1}]}
    data = write.collection_bytes(collection)
    # valid UTF-8, and the same strings read back
    assert json.loads(data.decode("utf-8")) == collection
    assert b"x\\ud800y" in data and write.dumps(collection) == data.decode("utf-8")


# --- YAML: yaml-rs where it is sure to read what PyYAML reads
# ------------------------------------------------


def same_data(a: Any, b: Any) -> bool:
    """Equal with the same types throughout (1 is not 1.0 nor True) and NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_data(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_data(x, y) for x, y in zip(a, b, strict=True))
    return a == b or (a != a and b != b)


def reference_yaml(text: str) -> Any:
    """What the PyYAML loader makes of `text`, or the LoadError class when it refuses it."""
    try:
        return read_yaml(text, "x.yaml")
    except LoadError:
        return LoadError


def assert_fast_yaml_is_reference(text: str) -> bool:
    """The fast reader gives PyYAML's document or steps aside; True when it answered."""
    fast = fast_yaml(text)
    if fast is None:
        return False
    expected = reference_yaml(text)
    assert expected is not LoadError, f"yaml-rs read what PyYAML refuses: {text!r}"
    assert same_data(fast, expected), (text, fast, expected)
    return True


def yaml_texts() -> list[tuple[Path, str]]:
    texts = []
    for path in documents():
        if path.suffix in (".yaml", ".yml"):
            try:
                texts.append((path, path.read_bytes().decode("utf-8-sig")))
            except UnicodeDecodeError:
                continue
    return texts


def test_fast_yaml_reads_every_yaml_document_as_pyyaml_does() -> None:
    texts = yaml_texts()
    answered = [path for path, text in texts if assert_fast_yaml_is_reference(text)]
    for _, text in texts:  # the same with the other line ending
        other = text.replace("\r\n", "\n") if "\r\n" in text else text.replace("\n", "\r\n")
        assert_fast_yaml_is_reference(other)
    assert len(answered) > len(texts) // 2, "the fast path should serve most real documents"
    if corpus_specs():
        big = CORPUS / "kpn-sd-lan-sd-wan-network-view-openapi.yml"
        assert big in answered, "the corpus's biggest YAML file is the reason for the fast path"


SCALAR_ALPHABET = "0123456789_.eE+-xXoObB:~ntruefalsNTRUEFALSinfa ?[]{},#'\"!&*|>"


def reference_unsure(text: str) -> bool:
    """The guard's number, tag and refused-character searches as first written: one regular
    expression each (load.py now finds literal characters with str.find and splits the number search
    in three)."""
    from kpn_collections.load.fast_yaml import _TOKEN_BEFORE, _YAML_REFUSED, _number_token_at

    padded = "\n" + text
    if "<<" in padded or "\n%" in padded or _YAML_REFUSED.search(padded):
        return True
    for match in re.finditer(r"[!&]", padded):
        at = match.start()
        if padded[at - 1] in _TOKEN_BEFORE and (
            padded[at] == "!" or not padded[at + 1 : at + 2].isspace()
        ):
            return True
    hints = re.compile(r"0[0-9_xXoObB]|_(?:(?<=[0-9._]_)|(?=[0-9_]))|\+[0-9.]")
    if any(_number_token_at(padded, match.start()) for match in hints.finditer(padded)):
        return True
    return _ends_in_block_header(text) or _has_risky_flow_collection(text)


def test_guard_searches_find_what_single_expressions_find_in_every_yaml_document() -> None:
    for _, text in yaml_texts():
        assert _unsure_for_yaml_rs(text) == reference_unsure(text)


@settings(max_examples=1000, deadline=None)
@given(st.text(SCALAR_ALPHABET + "<%\t\x85\u2028\ufeff\x7f\x00é\n", max_size=40))
def test_guard_searches_find_what_single_expressions_find(text: str) -> None:
    assert _unsure_for_yaml_rs(text) == reference_unsure(text)
    assert _has_refused_character(text) == (_YAML_REFUSED.search(text) is not None)


@settings(max_examples=600, deadline=None)
@given(st.text(SCALAR_ALPHABET, min_size=1, max_size=10))
def test_fast_yaml_types_scalars_as_pyyaml_does(scalar: str) -> None:
    for text in (
        f"k: {scalar}\n",
        f"{scalar}: v\n",
        f"k: [{scalar}, x]\n",
        f"k: {{a: {scalar}}}\n",
        f"k:\n  - {scalar}\n",
        f"k: '{scalar}'\n",
        f'k: "{scalar}"\n',
    ):
        assert_fast_yaml_is_reference(text)


@settings(max_examples=300, deadline=None)
@given(
    JSON_LIKE.filter(lambda v: isinstance(v, (dict, list))),
    st.sampled_from([None, '"', "'", "|", ">"]),
    st.integers(20, 120),
    st.booleans(),
    st.sampled_from(["\n", "\r\n"]),
)
def test_fast_yaml_reads_what_pyyaml_writes_in_every_style(
    value: Any, style: str | None, width: int, flow: bool, line_break: str
) -> None:
    try:
        text = yaml.safe_dump(
            {"root": value},
            default_style=style,
            width=width,
            default_flow_style=flow,
            allow_unicode=True,
            line_break=line_break,
        )
    except yaml.YAMLError:
        return
    assert_fast_yaml_is_reference(text)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_fast_yaml_on_damaged_documents(data: st.DataObject) -> None:
    texts = [text for _, text in YAML_TEXTS if len(text) < 20_000]
    text = data.draw(st.sampled_from(texts))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 3))
        text = (
            text[:at]
            + data.draw(
                st.sampled_from(
                    [
                        "",
                        " ",
                        "\t",
                        ":",
                        "-",
                        "'",
                        '"',
                        "\n",
                        "  ",
                        "{",
                        "[",
                        "#",
                        "0",
                        "1_",
                        "? ",
                        "|",
                        ">",
                        "\r\n",
                        "\r",
                    ]
                )
            )
            + text[at + cut :]
        )
    assert_fast_yaml_is_reference(text)


YAML_TEXTS = yaml_texts()


@pytest.mark.parametrize(
    "text",
    [
        "a: 0612345678\n",
        "a: 1_000\n",
        "0x1F: v\n",
        "+1: v\n",
        "a: !tag 1\n",
        "a: &x [1]\nb: *x\n",
        "<<: {a: 1}\nb: 2\n",
        "%YAML 1.2\n---\na: 1\n",
        "a: b\x01c\n",
        "200: a\n'200': b\n",
        "? [a]\n: 1\n",
        "a: 1\na: 2\n",
        "---\na: 1\n---\nb: 2\n",
        "- 1\n",
        "a: " + "[" * 300 + "]" * 300 + "\n",
    ],
)
def test_fast_yaml_steps_aside_where_readers_differ(text: str) -> None:
    assert fast_yaml(text) is None
    assert not assert_fast_yaml_is_reference(text)


def test_fast_yaml_keeps_integer_keys_as_their_text() -> None:
    assert fast_yaml("responses:\n  200: a\n  404: b\n") == {"responses": {"200": "a", "404": "b"}}


def reference_has_risky_flow_collection(text: str) -> bool:
    """The flow-collection guard as first written: every line visited, block scalars followed line
    by line."""
    from kpn_collections.load.fast_yaml import _BLOCK_SCALAR_HEADER, _FLOW_RISK, _FLOW_START

    block_indent = -1
    for line in text.splitlines():
        if block_indent >= 0:
            if not line.strip() or len(line) - len(line.lstrip(" ")) > block_indent:
                continue
            block_indent = -1
        header = _BLOCK_SCALAR_HEADER.match(line)
        if header is not None:
            key = header.group(2)
            block_indent = (
                len(header.group(1)) if key is None else line.index(key, len(header.group(1)))
            )
            continue
        start = _FLOW_START.match(line) if "[" in line or "{" in line else None
        if start is not None:
            flow = line[start.end() - 1 :]
            opened = flow.count("[") + flow.count("{") - flow.count("]") - flow.count("}")
            if opened != 0 or _FLOW_RISK.search(flow):
                return True
    return False


def test_flow_guard_finds_what_the_line_by_line_guard_finds() -> None:
    for path, text in YAML_TEXTS:
        assert _has_risky_flow_collection(text) == reference_has_risky_flow_collection(text), path


@settings(max_examples=500, deadline=None)
@given(st.data())
def test_flow_guard_on_damaged_documents(data: st.DataObject) -> None:
    text = data.draw(st.sampled_from([text for _, text in YAML_TEXTS if len(text) < 20_000]))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 3))
        text = (
            text[:at]
            + data.draw(
                st.sampled_from(
                    [
                        "",
                        " ",
                        "  ",
                        "    ",
                        ":",
                        "- ",
                        "\n",
                        "\r\n",
                        "{",
                        "[",
                        "]",
                        "}",
                        "|",
                        ">",
                        "|-",
                        "#",
                        ",",
                        "a: [b",
                        "k: |\n",
                        "- |\n",
                        "x: {a: 1}\n",
                        "  [x]\n",
                    ]
                )
            )
            + text[at + cut :]
        )
    if "\r" in text.replace("\r\n", ""):
        assert _has_risky_flow_collection(text)  # lone carriage returns: always the reference path
    else:
        assert _has_risky_flow_collection(text) == reference_has_risky_flow_collection(text)


# --- validation beside the build: same findings, same collection
# ----------------------------------------------


def conversions(paths: list[Path], *, beside: bool) -> list[tuple[Any, ...]]:
    found = []
    for path in paths:
        result = convert_file(path, validate_beside=beside)
        text = write.dumps(result.collection) if result.collection is not None else None
        found.append((str(path), [d.format() for d in result.diagnostics], text))
    return found


PUBLIC_EXAMPLES = REPO_ROOT / "node_modules" / "@readme" / "oas-examples"


def beside_inputs() -> list[Path]:
    """Fixtures, the KPN corpus, and the public examples with a `oneOf` (their `oneOf` check runs
    beside the build too)."""
    fixtures = sorted(
        p
        for p in FIXTURES.rglob("*")
        if p.suffix in (".yaml", ".yml", ".json")
        and "expected" not in p.name
        and p.parent.name != "models"
    )
    one_of = sorted(
        p
        for p in PUBLIC_EXAMPLES.glob("3.*/*/*")
        if p.suffix in (".yaml", ".json") and "oneOf" in p.read_text(encoding="utf-8")
    )
    if not one_of and os.environ.get("CI") == "true":
        pytest.fail(f"@readme/oas-examples is not installed at {PUBLIC_EXAMPLES}: run `npm ci`")
    return fixtures + corpus_specs() + one_of


@pytest.mark.skipif(not hasattr(os, "fork"), reason="validation beside the build needs os.fork")
def test_validating_beside_the_build_finds_and_builds_what_the_stages_in_turn_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kpn_collections.validate import parallel

    # every document, not only the big ones
    monkeypatch.setattr(parallel, "MIN_SOURCE_CHARACTERS", 0)
    paths = beside_inputs()
    assert len(paths) > 20
    beside = conversions(paths, beside=True)
    assert beside == conversions(paths, beside=False)
    assert sum(len(diagnostics) for _, diagnostics, _ in beside) > 50
    found = [line for _, diagnostics, _ in beside for line in diagnostics]
    assert sum(" warning [oneof-indistinguishable] " in line for line in found) > 10


@pytest.mark.skipif(not hasattr(os, "fork"), reason="validation beside the build needs os.fork")
def test_a_failing_validation_process_is_replaced_by_validation_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kpn_collections.validate import parallel

    monkeypatch.setattr(parallel, "MIN_SOURCE_CHARACTERS", 0)
    from kpn_collections.validate import spec as stage

    parent = os.getpid()
    real = stage.validate_spec

    def dies_in_the_child(*args: Any) -> None:
        if os.getpid() != parent:
            os._exit(9)
        real(*args)

    monkeypatch.setattr(stage, "validate_spec", dies_in_the_child)
    paths = [p for p in beside_inputs() if "warts" in str(p) or "broken" in str(p)][:6]
    paths += [p for p in beside_inputs() if p.name == "discriminators.yaml"]  # `oneOf` findings
    assert len(paths) > 6
    assert conversions(paths, beside=True) == conversions(paths, beside=False)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="validation beside the build needs os.fork")
def test_ctrl_c_during_the_build_ends_the_validation_process_without_validating_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C reaches both processes: the stop is not held up by validating again here what the
    interrupted child did not finish (nobody will read those findings), and the child is reaped."""
    from kpn_collections import pipeline
    from kpn_collections.validate import parallel
    from kpn_collections.validate import spec as stage

    monkeypatch.setattr(parallel, "MIN_SOURCE_CHARACTERS", 0)
    parent, here, forked = os.getpid(), [], []

    def interrupted(*args: Any) -> None:
        if os.getpid() != parent:
            raise KeyboardInterrupt  # the child's Ctrl-C
        here.append(args)

    def build(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt  # this process's Ctrl-C

    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            forked.append(pid)
        return pid

    monkeypatch.setattr(stage, "validate_spec", interrupted)
    monkeypatch.setattr(pipeline, "build_collection", build)
    monkeypatch.setattr(os, "fork", fork)
    with pytest.raises(KeyboardInterrupt):
        convert_file(FIXTURES / "oas30" / "features" / "input.yaml", validate_beside=True)
    assert here == []
    assert len(forked) == 1
    with pytest.raises(ChildProcessError):
        os.waitpid(forked[0], os.WNOHANG)


# --- OpenAPI 3.1 schema meta-check: jsonschema-rs for the base dialect
# --------------------------------------------


def reference_meta31_errors(schema: Any) -> bool:
    from jsonschema.validators import validator_for
    from openapi_schema_validator import OAS31_BASE_DIALECT_ID, oas31_format_checker

    try:
        validator_for({"$schema": OAS31_BASE_DIALECT_ID}).check_schema(
            schema, format_checker=oas31_format_checker
        )
    except Exception:
        return True
    return False


SCHEMAS_31 = [
    {"type": "string", "pattern": "^[a-z]+$"},
    {"type": "string", "pattern": "("},
    {"patternProperties": {"(": {"type": "string"}}},
    {"patternProperties": {"^x-": {"type": "string"}}},
    {"type": ["string", "null"]},
    {"type": 5},
    {"discriminator": 5},
    {"discriminator": {"propertyName": "k"}},
    {"xml": {"name": 5}},
    {"externalDocs": {"url": "https://example.com"}},
    {"$ref": 5},
    {"$defs": {"a": 5}},
    {"prefixItems": [{"type": "string"}], "items": False},
    {"$schema": "https://json-schema.org/draft/2020-12/schema"},
    {"properties": {"a": {"$dynamicRef": "#meta"}}},
    {"const": None, "examples": [1]},
    {"minimum": "1"},
    {"unevaluatedProperties": {"type": "integer"}},
    {"dependentRequired": {"a": ["b", "b"]}},
    True,
    False,
]


@pytest.mark.parametrize("schema", SCHEMAS_31)
def test_schema_meta31_fast_answer_is_the_reference_answer_where_it_answers(schema: Any) -> None:
    from kpn_collections.validate.fast_meta import oas31_meta_valid as _oas31_meta_valid

    if _oas31_meta_valid(schema):
        assert not reference_meta31_errors(schema)


def test_schema_meta31_fast_answer_answers_for_most_valid_schemas() -> None:
    from kpn_collections.validate.fast_meta import oas31_meta_valid as _oas31_meta_valid

    valid = [schema for schema in SCHEMAS_31 if not reference_meta31_errors(schema)]
    answered = [schema for schema in valid if _oas31_meta_valid(schema)]
    assert len(answered) >= len(valid) - 2  # `$schema` is left to the reference on purpose


def test_every_corpus_31_schema_meta_fast_answer_is_sound() -> None:
    from kpn_collections.validate.fast_meta import oas31_meta_valid as _oas31_meta_valid

    checked = answered = 0
    for _, document, version in loaded():
        if version is not SpecVersion.OPENAPI_3_1:
            continue
        stack: list[Any] = [document]
        while stack:  # every schema-like mapping in the document, not only the named ones
            node = stack.pop()
            if isinstance(node, dict):
                if "type" in node or "properties" in node or "$ref" in node:
                    fast = _oas31_meta_valid(node)
                    assert not fast or not reference_meta31_errors(node)
                    checked += 1
                    answered += fast
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    assert checked > 50 and answered > 10


@BUDGET
@given(JSON_LIKE)
def test_schema_meta31_fast_answer_on_generated_schemas(value: Any) -> None:
    from kpn_collections.validate.fast_meta import oas31_meta_valid as _oas31_meta_valid

    for schema in (value, {"properties": {"a": value}}, {"items": value}, {"allOf": [value]}):
        if _oas31_meta_valid(schema):
            assert not reference_meta31_errors(schema), schema


SCHEMA_KEYWORDS = [
    "type",
    "properties",
    "items",
    "prefixItems",
    "required",
    "enum",
    "const",
    "pattern",
    "patternProperties",
    "additionalProperties",
    "minimum",
    "maximum",
    "minLength",
    "format",
    "allOf",
    "oneOf",
    "anyOf",
    "not",
    "$ref",
    "$defs",
    "discriminator",
    "xml",
    "example",
    "examples",
    "nullable",
    "readOnly",
    "deprecated",
    "contains",
    "minContains",
    "dependentRequired",
    "unevaluatedProperties",
    "if",
    "then",
    "else",
    "$id",
    "$anchor",
    "$comment",
    "default",
]
SCHEMA_VALUES = st.one_of(
    st.sampled_from(["string", "object", "integer", "null", "(", "^a$", "#/x", "a"]),
    st.integers(-2, 3),
    st.booleans(),
    st.none(),
    st.lists(st.sampled_from(["a", "b", 1]), max_size=3),
)
SCHEMA_LIKE = st.recursive(
    st.dictionaries(st.sampled_from(SCHEMA_KEYWORDS), SCHEMA_VALUES, max_size=4),
    lambda inner: st.dictionaries(
        st.sampled_from(SCHEMA_KEYWORDS),
        st.one_of(
            SCHEMA_VALUES,
            inner,
            st.lists(inner, max_size=2),
            st.dictionaries(st.sampled_from(["a", "b", "^x"]), inner, max_size=2),
        ),
        max_size=4,
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(SCHEMA_LIKE)
def test_schema_meta31_fast_answer_on_generated_schema_like_data(schema: dict[str, Any]) -> None:
    from kpn_collections.validate.fast_meta import oas31_meta_valid as _oas31_meta_valid

    if _oas31_meta_valid(schema):
        assert not reference_meta31_errors(schema), schema


# --- bundle: the text shortcut for "no external $ref"
# ----------------------------------------------------------


def test_text_shortcut_never_hides_an_external_ref() -> None:
    from kpn_collections.refs.bundle import _has_external_ref
    from kpn_collections.refs.local_refs import (
        text_has_only_local_refs as _text_has_only_local_refs,
    )

    sure = external = 0
    for path in documents():
        try:
            source = load_document(path)
        except Exception:
            continue
        walk_says_external = _has_external_ref(source.data)
        external += walk_says_external
        if _text_has_only_local_refs(source.text):
            sure += 1
            assert not walk_says_external, path
    assert sure > 50 and external > 5


@pytest.mark.parametrize(
    ("text", "sure"),
    [
        ('{"$ref": "#/a"}', True),
        ('{"$ref" : "./a.yaml"}', False),
        ("a:\n  $ref: ./x.yaml\n", False),
        ("a:\n  $ref:\n    '#/x'\n", True),
        ('{"$re\\u0066": "./a.yaml"}', False),
        ('a: "\\x24ref"\n', False),
        ("? $ref\n: ./x\n", False),
        ("a: {$ref: ' #/x'}\n", False),
        ('{"$ref": {"$ref": "#/a"}}', False),
        ("", False),
    ],
)
def test_text_shortcut_cases(text: str, sure: bool) -> None:
    from kpn_collections.refs.local_refs import (
        text_has_only_local_refs as _text_has_only_local_refs,
    )

    assert _text_has_only_local_refs(text) is sure


def test_equal_response_schemas_are_converted_once_with_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """contract_tests converts each distinct inline response schema once; NaN (which the content key
    writes as null) must not be taken for null, and a big shared schema keeps the name its first use
    gave it."""
    from kpn_collections.build.ajv_schema import SchemaStore

    big = {
        "type": "object",
        "properties": {f"field{i}": {"type": "string", "maxLength": i} for i in range(30)},
    }
    schemas = [
        {"type": "number", "enum": [float("nan")]},
        {"type": "number", "enum": [None]},
        big,
        {"type": "number", "enum": [float("nan")]},
        big,
        {"type": "number", "enum": [None]},
    ]
    paths = {
        f"/p{i}": {
            "get": {
                "operationId": f"op{i}",
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {"application/json": {"schema": json.loads(json.dumps(schema))}},
                    }
                },
            }
        }
        for i, schema in enumerate(schemas)
    }
    spec = tmp_path / "memo.json"
    spec.write_text(
        json.dumps({"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": paths}),
        encoding="utf-8",
    )
    conversions: list[Any] = []
    original = SchemaStore.convert

    def counting(self: SchemaStore, schema: Any) -> Any:
        conversions.append(schema)
        return original(self, schema)

    monkeypatch.setattr(SchemaStore, "convert", counting)
    fast = convert_file(spec)
    # big once; NaN and null share a key (NaN != NaN, null != NaN), so each is converted again after
    # the other
    assert len(conversions) == 5
    monkeypatch.setattr(fast_paths, "ON", fast_paths.ON - {"orjson"})
    conversions.clear()
    reference = convert_file(spec)
    assert len(conversions) == len(schemas)
    assert fast.collection is not None and fast.diagnostics == reference.diagnostics
    assert write.dumps(fast.collection) == write.dumps(reference.collection)
