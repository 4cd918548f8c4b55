"""Load stage: YAML 1.1 traps, JSON input, located load errors and `SourceDocument.locate`."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kpn_collections.diagnostics import Diagnostic, Severity
from kpn_collections.load.document import (
    MAX_DEPTH,
    LoadError,
    SourceDocument,
    load_bytes,
    load_document,
)


def load(text: str | bytes, name: str = "spec.yaml") -> dict[str, Any]:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return load_bytes(raw, name).data


def error(text: str | bytes, name: str = "spec.yaml") -> Diagnostic:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    with pytest.raises(LoadError) as info:
        load_bytes(raw, name)
    diagnostic = info.value.diagnostic
    assert diagnostic.severity is Severity.ERROR
    assert diagnostic.file == name
    assert str(info.value) == diagnostic.format()
    return diagnostic


# --- YAML 1.1 traps
# --------------------------------------------------------------------------------------


def test_status_keys_are_strings() -> None:
    data = load("responses:\n  200:\n    description: ok\n  404:\n    description: missing\n")
    assert list(data["responses"]) == ["200", "404"]


def test_yes_no_values_stay_strings() -> None:
    data = load("a: on\nb: off\nc: yes\nd: no\ne: y\nf: n\ng: Yes\nh: OFF\n")
    assert data == {
        "a": "on",
        "b": "off",
        "c": "yes",
        "d": "no",
        "e": "y",
        "f": "n",
        "g": "Yes",
        "h": "OFF",
    }


def test_yes_no_keys_stay_strings() -> None:
    data = load("on: 1\noff: 2\nyes: 3\nno: 4\ny: 5\nn: 6\n")
    assert data == {"on": 1, "off": 2, "yes": 3, "no": 4, "y": 5, "n": 6}


def test_dates_stay_strings() -> None:
    data = load("d: 2024-01-01\nts: 2024-01-01T12:00:00Z\nspaced: 2001-12-14 21:59:43.10 -5\n")
    assert data == {
        "d": "2024-01-01",
        "ts": "2024-01-01T12:00:00Z",
        "spaced": "2001-12-14 21:59:43.10 -5",
    }


def test_leading_zero_numbers_stay_strings() -> None:
    data = load("phone: 0612345678\nzip: 0123\nzero: 0\n")
    assert data == {"phone": "0612345678", "zip": "0123", "zero": 0}


def test_core_schema_scalars() -> None:
    data = load(
        "t: true\nf: false\nn: null\ntilde: ~\nempty:\ni: 42\nneg: -7\nx: 1.5\ne: 1e3\nhex: 0x1f\n"
    )
    assert data == {
        "t": True,
        "f": False,
        "n": None,
        "tilde": None,
        "empty": None,
        "i": 42,
        "neg": -7,
        "x": 1.5,
        "e": 1000.0,
        "hex": 31,
    }
    assert type(data["i"]) is int
    assert type(data["t"]) is bool


def test_infinity_and_nan() -> None:
    data = load("pos: .inf\nneg: -.inf\nnan: .nan\n")
    assert data["pos"] == math.inf
    assert data["neg"] == -math.inf
    assert math.isnan(data["nan"])


def test_key_keeps_its_text() -> None:
    data = load("1.10: a\n1.0: b\ntrue: c\nnull: d\n")
    assert data == {"1.10": "a", "1.0": "b", "true": "c", "null": "d"}


def test_version_value_is_float() -> None:
    # Deliberate: values follow the YAML 1.2 core schema, so an unquoted `version: 1.0` is the float
    # 1.0 (only keys keep their written text). Specs that want "1.0" must quote it.
    data = load("info:\n  version: 1.0\n")
    assert data["info"]["version"] == 1.0
    assert isinstance(data["info"]["version"], float)


def test_quoted_strings_stay_strings() -> None:
    data = load("a: 'true'\nb: \"null\"\nc: '200'\nd: '1.0'\ne: \"on\"\nf: '0612345678'\n")
    assert data == {"a": "true", "b": "null", "c": "200", "d": "1.0", "e": "on", "f": "0612345678"}


def test_str_tag_allowed() -> None:
    assert load("a: !!str 1\n") == {"a": "1"}


def test_merge_key() -> None:
    data = load("base: &base\n  x: 1\n  y: 2\nderived:\n  <<: *base\n  y: 3\n")
    assert data["derived"] == {"x": 1, "y": 3}
    assert data["base"] == {"x": 1, "y": 2}


def test_merge_key_list() -> None:
    data = load("a: &a {x: 1}\nb: &b {z: 2}\nc:\n  <<: [*a, *b]\n")
    assert data["c"] == {"x": 1, "z": 2}


# --- JSON input
# --------------------------------------------------------------------------------------------


def test_json_by_name() -> None:
    source = load_bytes(b'{"openapi": "3.0.0", "paths": {}}', "spec.json")
    assert source.format == "json"
    assert source.data == {"openapi": "3.0.0", "paths": {}}


def test_json_by_content() -> None:
    source = load_bytes(b'  \n{"openapi": "3.0.0", "n": 1}', "spec.yaml")
    assert source.format == "json"
    assert source.data == {"openapi": "3.0.0", "n": 1}


def test_bom_json() -> None:
    source = load_bytes(b'\xef\xbb\xbf{"a": 1}', "spec.json")
    assert source.data == {"a": 1}
    assert source.format == "json"


def test_bom_yaml() -> None:
    source = load_bytes(b"\xef\xbb\xbfa:\n  b: 1\n", "spec.yaml")
    assert source.data == {"a": {"b": 1}}
    assert source.locate("/a/b") == (2, 6)


def test_yaml_in_json_named_file() -> None:
    source = load_bytes(b"a: 1\n", "spec.json")
    assert source.format == "yaml"
    assert source.data == {"a": 1}


# --- errors
# ------------------------------------------------------------------------------------------------


def test_duplicate_key_yaml() -> None:
    d = error("a: 1\nb:\n  c: 2\n  c: 3\n")
    assert d.code == "duplicate-key"
    assert (d.line, d.column) == (4, 3)
    assert "'c'" in d.message


def test_duplicate_key_json() -> None:
    d = error('{\n  "a": 1,\n    "a": 2\n}\n', "spec.json")
    assert d.code == "duplicate-key"
    assert (d.line, d.column) == (3, 5)


def test_duplicate_quoted_status() -> None:
    d = error("r:\n  200: a\n  '200': b\n")
    assert d.code == "duplicate-key"
    assert d.line == 3


def test_tab_indent() -> None:
    d = error("a:\n\tb: 1\n")
    assert d.code == "yaml-syntax"
    assert (d.line, d.column) == (2, 1)


def test_tab_indent_hint() -> None:
    d = error("a:\n\tb: 1\n")
    assert "tab" in d.hint


def test_bad_indent() -> None:
    d = error("a:\n  b: 1\n c: 2\n")
    assert d.code == "yaml-syntax"
    assert (d.line, d.column) == (3, 2)
    assert d.hint


def test_unclosed_quote() -> None:
    d = error("a: 'unclosed\nb: 2\n")
    assert d.code == "yaml-syntax"
    assert d.line is not None
    assert d.column is not None
    assert "quoted scalar" in d.message


def test_empty_file() -> None:
    d = error(b"")
    assert d.code == "empty"


def test_whitespace_file() -> None:
    d = error(b"  \n\n\t \r\n")
    assert d.code == "empty"


def test_comment_only_file() -> None:
    d = error("# nothing here\n")
    assert d.code == "empty"


def test_binary_file() -> None:
    d = error(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert d.code == "not-text"


def test_invalid_utf8() -> None:
    d = error(b"a: 1\nb: 2\nc: caf\xe9\n")
    assert d.code == "not-utf8"
    assert d.line == 3
    assert "0xe9" in d.message


def test_several_documents() -> None:
    d = error("a: 1\n---\nb: 2\n")
    assert d.code == "several-documents"
    assert d.line == 2


def test_list_document() -> None:
    d = error("- a\n- b\n")
    assert d.code == "not-a-mapping"
    assert "list" in d.message


def test_json_list_document() -> None:
    assert error("[1, 2]", "spec.json").code == "not-a-mapping"


@pytest.mark.parametrize("text", ["hello\n", "42\n", "null\n", "---\n"])
def test_scalar_document(text: str) -> None:
    assert error(text).code == "not-a-mapping"


@pytest.mark.parametrize("text", ["a: &x [*x]\n", "a: &x\n  b: *x\n"])
def test_recursive_alias(text: str) -> None:
    d = error(text)
    assert d.code == "recursive-alias"
    assert (d.line, d.column) == (1, 4)


def test_alias_bomb() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    previous = "a"
    for name in "bcdefghi":  # 9 levels of 10: 10**9 nodes once expanded
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
        previous = name
    d = error("\n".join(lines) + "\n")
    assert d.code == "alias-bomb"
    assert d.line is not None


def test_too_deep() -> None:
    depth = MAX_DEPTH + 300
    d = error("a: " + "[" * depth + "]" * depth + "\n")
    assert d.code == "too-deep"


def test_deep_but_allowed() -> None:
    depth = MAX_DEPTH - 10
    data = load("a: " + "[" * depth + "]" * depth + "\n")
    assert isinstance(data["a"], list)


def test_too_deep_json() -> None:
    depth = MAX_DEPTH + 300
    d = error('{"a": ' + "[" * depth + "]" * depth + "}", "spec.json")
    assert d.code == "too-deep"


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object:os.system {}\n",
        "a: !!python/name:os.system\n",
        "a: !custom 1\n",
        "a: !custom {b: 1}\n",
        "a: !custom [1]\n",
        "a: !!int x\n",
    ],
)
def test_unsupported_tag(text: str) -> None:
    d = error(text)
    assert d.code == "unsupported-tag"
    assert (d.line, d.column) == (1, 4)


def test_complex_key() -> None:
    assert error("? [a, b]\n: 1\n").code == "complex-key"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(LoadError) as info:
        load_document(path)
    d = info.value.diagnostic
    assert d.severity is Severity.ERROR
    assert d.code == "read-failed"
    assert d.file == str(path)


def test_load_document(tmp_path: Path) -> None:
    path = tmp_path / "api.yaml"
    path.write_bytes(b"openapi: 3.0.0\npaths: {}\n")
    source = load_document(path, display_name="api.yaml")
    assert source.path == "api.yaml"
    assert source.data == {"openapi": "3.0.0", "paths": {}}


def test_display_name_in_error(tmp_path: Path) -> None:
    path = tmp_path / "api.yaml"
    path.write_bytes(b"a: 1\na: 2\n")
    with pytest.raises(LoadError) as info:
        load_document(path, display_name="shown.yaml")
    assert info.value.diagnostic.file == "shown.yaml"


def test_format_shape() -> None:
    text = error("a: 1\nb: 2\na: 3\n").format()
    assert text.startswith("spec.yaml:3:1: error [duplicate-key]: ")
    assert re.fullmatch(r"spec\.yaml:3:1: error \[duplicate-key\]: [^()]+ \(hint: .+\)", text)


# --- locate
# ------------------------------------------------------------------------------------------------

YAML_SPEC = """\
openapi: 3.0.0
paths:
  /pets/{id}:
    get:
      parameters:
        - name: id
          in: path
        - name: q
          in: query
      responses:
        200:
          description: ok
components:
  schemas:
    a~b:
      type: string
"""

JSON_SPEC = """\
{
  "openapi": "3.0.0",
  "paths": {
    "/pets": {
      "get": {"responses": {"200": {"description": "ok"}}}
    }
  }
}
"""


def yaml_source() -> SourceDocument:
    return load_bytes(YAML_SPEC.encode(), "spec.yaml")


def test_locate_root() -> None:
    assert yaml_source().locate("") == (1, 1)


def test_locate_nested() -> None:
    source = yaml_source()
    assert source.locate("/openapi") == (1, 10)
    assert source.locate("/paths/~1pets~1{id}/get/responses/200/description") == (12, 24)


def test_locate_list_index() -> None:
    assert yaml_source().locate("/paths/~1pets~1{id}/get/parameters/1/in") == (9, 15)


def test_locate_tilde_key() -> None:
    assert yaml_source().locate("/components/schemas/a~0b/type") == (16, 13)


def test_locate_too_deep() -> None:
    source = yaml_source()
    assert source.locate("/components/schemas/missing/deeper") == source.locate(
        "/components/schemas"
    )
    assert source.locate("/paths/~1pets~1{id}/get/parameters/9") == (6, 9)
    assert source.locate("/openapi/x/y") == (1, 10)


def test_locate_json() -> None:
    source = load_bytes(JSON_SPEC.encode(), "spec.json")
    assert source.format == "json"
    assert source.locate("/openapi") == (2, 14)
    assert source.locate("/paths/~1pets/get/responses/200/description") == (5, 52)
    assert source.locate("/paths/~1pets/post") == (4, 14)


@pytest.mark.xfail(
    not yaml.__with_libyaml__,
    strict=True,
    reason=(
        "without libyaml, PyYAML's pure-Python scanner rejects tab indentation even in JSON, "
        "so SourceDocument.locate returns None"
    ),
)
def test_locate_json_tabs() -> None:
    source = load_bytes(b'{\n\t"paths": {\n\t\t"/a": {}\n\t}\n}\n', "spec.json")
    assert source.locate("/paths/~1a") == (3, 9)


def test_locate_json_escapes() -> None:
    source = load_bytes(b'{\n  "a\\/b": {"x": 1},\n  "caf\\u00e9": 2\n}\n', "spec.json")
    assert source.data == {"a/b": {"x": 1}, "caf\u00e9": 2}
    assert source.locate("/a~1b/x") == (2, 17)
    assert source.locate("/caf\u00e9") == (3, 16)


def test_locate_merged() -> None:
    source = load_bytes(b"base: &b\n  x: 1\nd:\n  <<: *b\n  y: 2\n", "spec.yaml")
    assert source.locate("/d/y") == (5, 6)
    assert source.locate("/d/x") == (4, 3)  # merged in: the nearest located parent is `d`


def test_importing_the_package_leaves_the_environment_alone() -> None:
    """No setting of a library's (mimalloc's purge delay, once) is changed behind the user's back on
    import: the environment a run sees, and passes to what it starts, is the one it was given."""
    import subprocess
    import sys

    code = (
        "import os\nbefore = dict(os.environ)\nimport kpn_collections.cli,"
        " kpn_collections.load.document\nprint(sorted(set(os.environ.items()) ^"
        " set(before.items())))\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MIMALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment
    )
    assert done.stdout == "[]\n"
