"""Overlays: what testers add to a generated collection, kept in a file beside the spec and applied
on every generation (`collection = generate(spec) + overlay`).

An overlay is keyed by operation (operationId, else `METHOD /path`), so it survives reordering and
renamed summaries. `load_overlay` reads and checks one (a located error like a bad spec, credentials
refused); `apply_overlay` adds it to a built collection. The format's JSON Schema ships as
schemas/overlay.schema.json.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .build.collection import stable_id
from .credentials import CREDENTIAL_VARIABLES, find_in_document
from .diagnostics import Diagnostic, Severity, pointer_join
from .load.document import LoadError, SourceDocument, load_document
from .settings import Settings

OVERLAY_SUFFIX = ".overlay.yaml"
"""The overlay of `specs/billing.yaml` is `specs/billing.overlay.yaml` unless the settings name
another."""

SCHEMA_FILE = "overlay.schema.json"
FORMAT_KEY = "kpn-collections-overlay"
MARKER = "// Added by testers (kept in {name}; edit there or absorb an edited collection):"
"""The line before a tester's added lines in a generated script: they run after the generated
ones."""


@dataclass(frozen=True)
class Operation:
    """One operation of the spec as the collection builder saw it: where its request is and its
    overlay keys."""

    method: str  # lower case, as in the spec
    path: str
    operation_id: str

    @property
    def keys(self) -> tuple[str, ...]:
        """The overlay keys that name this operation: operationId first, then `METHOD /path`."""
        by_path = f"{self.method.upper()} {self.path}"
        return (self.operation_id.strip(), by_path) if self.operation_id.strip() else (by_path,)

    @property
    def key(self) -> str:
        """The key absorb writes."""
        return self.keys[0]


def conventional_overlay(spec: Path) -> Path:
    """Where the overlay of `spec` is looked for when the settings name none."""
    return spec.with_name(spec.name.rsplit(".", 1)[0] + OVERLAY_SUFFIX)


def spec_of_overlay(overlay: Path) -> Path | None:
    """The spec a conventionally named overlay belongs to, when it exists (for the pre-commit
    hook)."""
    if not overlay.name.endswith(OVERLAY_SUFFIX):
        return None
    stem = overlay.name[: -len(OVERLAY_SUFFIX)]
    for suffix in (".yaml", ".yml", ".json"):
        candidate = overlay.with_name(stem + suffix)
        if candidate.is_file():
            return candidate
    return None


def overlay_for(spec: Path, settings: Settings) -> Path | None:
    """The overlay file a conversion of `spec` applies: the one the settings name, else the
    conventional one when it exists, else None."""
    if settings.overlay is not None:
        return settings.overlay
    conventional = conventional_overlay(spec)
    return conventional if conventional.is_file() else None


@functools.lru_cache(maxsize=1)
def overlay_schema() -> dict[str, Any]:
    """The overlay format's JSON Schema (shipped in the package, for editors too)."""
    text = (resources.files("kpn_collections") / "schemas" / SCHEMA_FILE).read_text(
        encoding="utf-8"
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


def schema_problems(data: Any, file: str) -> list[Diagnostic]:
    """Where overlay data breaks the overlay schema, as errors (not yet located in the file's
    text)."""
    from jsonschema import Draft202012Validator

    problems = []
    validator = Draft202012Validator(overlay_schema())
    for error in sorted(
        validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]
    ):
        problems.append(
            Diagnostic(
                Severity.ERROR,
                "overlay-invalid",
                f"not a valid overlay: {error.message}",
                file=file,
                pointer=pointer_join(*error.absolute_path),
                hint=(
                    "see the overlay format in the README (schema: kpn_collections/schemas/"
                    f"{SCHEMA_FILE})"
                ),
            )
        )
    return problems


def overlay_problems(data: Any, file: str) -> list[Diagnostic]:
    """Schema errors and credentials in overlay data, as errors (not yet located in the file's
    text)."""
    problems = schema_problems(data, file)
    if problems:
        return problems
    for pointer, kind in find_in_document(data):
        problems.append(
            Diagnostic(
                Severity.ERROR,
                "secret-in-overlay",
                f"the overlay carries {kind}",
                file=file,
                pointer=pointer,
                hint=(
                    "an overlay is committed and shared: keep credentials in Postman's current "
                    "values or pass them to newman with --env-var"
                ),
            )
        )
    reported = {d.pointer for d in problems}
    for key, value in (data.get("collection") or {}).get("variables", {}).items():
        if (
            key in CREDENTIAL_VARIABLES
            and value
            and pointer_join("collection", "variables", key) not in reported
        ):
            problems.append(
                Diagnostic(
                    Severity.ERROR,
                    "secret-in-overlay",
                    f"the overlay sets `{key}`",
                    file=file,
                    pointer=pointer_join("collection", "variables", key),
                    hint="leave credential variables empty; fill them in Postman or newman",
                )
            )
    return problems


def load_overlay(
    path: Path, display: str | None = None
) -> tuple[dict[str, Any] | None, list[Diagnostic]]:
    """The overlay in `path` and the problems found (located by line); None when it is unusable."""
    name = display or str(path)
    try:
        source = load_document(path, display_name=name)
    except LoadError as exc:
        diagnostic = exc.diagnostic
        if diagnostic.code == "read-failed" and not path.exists():
            diagnostic = Diagnostic(
                Severity.ERROR,
                "overlay-missing",
                "the overlay file does not exist",
                file=name,
                hint="create it, or fix `overlay` in the settings file",
            )
        return None, [diagnostic]
    problems = [_located(source, d) for d in overlay_problems(source.data, name)]
    return (None if problems else source.data), problems


def located_in(path: Path, problems: list[Diagnostic]) -> list[Diagnostic]:
    """`problems` found in the overlay at `path` with their lines filled in (read again: problems
    are rare)."""
    if not problems:
        return problems
    try:
        source = load_document(path, display_name=problems[0].file)
    except LoadError:
        return problems
    return [_located(source, d) for d in problems]


def _located(source: SourceDocument, diagnostic: Diagnostic) -> Diagnostic:
    position = source.locate(diagnostic.pointer)
    return diagnostic.located(*position) if position else diagnostic


def apply_overlay(
    collection: dict[str, Any],
    overlay: dict[str, Any],
    operations: Iterable[Operation],
    *,
    source: str = "overlay",
) -> tuple[dict[str, Any], list[Diagnostic]]:
    """`collection` with the overlay's additions (a new dict; the argument is left as it was), and
    warnings for entries that name no operation of the spec. `operations` are those the collection
    was built from."""
    result = copy.deepcopy(collection)
    problems: list[Diagnostic] = []
    collection_id = str(result.get("info", {}).get("_postman_id", ""))
    items_by_id = {item.get("id"): item for item in _requests(result.get("item", []))}
    by_key: dict[str, dict[str, Any]] = {}
    for operation in operations:
        item = items_by_id.get(stable_id(collection_id, operation.method, operation.path))
        if item is not None:
            for key in operation.keys:
                by_key.setdefault(key, item)
    marker = MARKER.format(name=Path(source).name)
    for key, entry in (overlay.get("operations") or {}).items():
        item = by_key.get(key) or by_key.get(_normal_key(key))
        if item is None:
            problems.append(
                Diagnostic(
                    Severity.WARNING,
                    "overlay-orphan",
                    f"no operation `{key}` in the spec: its additions are not applied",
                    file=source,
                    pointer=pointer_join("operations", key),
                    hint="move them to the operation's new key, or under `orphans`",
                )
            )
            continue
        _apply_operation(item, entry, marker, problems, source, key)
    _apply_collection(result, overlay.get("collection") or {}, marker, collection_id)
    return result, problems


def _normal_key(key: str) -> str:
    """`get /a` -> `GET /a` (a method typed in lower case still matches)."""
    method, _, path = key.partition(" ")
    return f"{method.upper()} {path.strip()}" if path else key


def _requests(items: list[Any]) -> Iterable[dict[str, Any]]:
    for item in items:
        if isinstance(item, dict):
            if "request" in item:
                yield item
            yield from _requests(item.get("item") or [])


def _append_lines(
    owner: dict[str, Any], listen: str, lines: list[str], marker: str, script_id: str
) -> None:
    if not lines:
        return
    events = owner.setdefault("event", [])
    event = next((e for e in events if e.get("listen") == listen), None)
    if event is None:
        event = {
            "listen": listen,
            "script": {"id": script_id, "type": "text/javascript", "exec": []},
        }
        events.append(event)
    script = event["script"]
    exec_lines = script.get("exec") or []
    script["exec"] = ([*exec_lines, marker] if exec_lines else [marker]) + list(lines)


def _apply_operation(
    item: dict[str, Any],
    entry: dict[str, Any],
    marker: str,
    problems: list[Diagnostic],
    source: str,
    key: str,
) -> None:
    item_id = str(item.get("id", ""))
    _append_lines(
        item,
        "prerequest",
        entry.get("prerequest", []),
        marker,
        stable_id(item_id, "overlay", "prerequest"),
    )
    _append_lines(
        item, "test", entry.get("tests", []), marker, stable_id(item_id, "overlay", "test")
    )
    request = item["request"]
    url = request.get("url")
    if isinstance(url, dict):
        for name, change in (entry.get("query") or {}).items():
            _set_parameter(url.setdefault("query", []), name, change)
        for name, change in (entry.get("path") or {}).items():
            variables = url.get("variable") or []
            found = next((v for v in variables if v.get("key") == name), None)
            if found is None:
                problems.append(
                    Diagnostic(
                        Severity.WARNING,
                        "overlay-orphan",
                        f"`{key}` has no path parameter `{name}`",
                        file=source,
                        pointer=pointer_join("operations", key, "path", name),
                    )
                )
            elif "value" in change:
                found["value"] = change["value"]
        _rewrite_raw(url)
    for name, change in (entry.get("header") or {}).items():
        _set_parameter(request.setdefault("header", []), name, change)
    if "body" in entry:
        request["body"] = copy.deepcopy(entry["body"])
    if entry.get("description"):
        generated = request.get("description") or ""
        request["description"] = (
            f"{generated}\n\n{entry['description']}" if generated else entry["description"]
        )
    responses = item.setdefault("response", [])
    for example in entry.get("examples", []):
        saved = {
            "id": stable_id(item_id, "overlay", "example", example["name"]),
            **copy.deepcopy(example),
        }
        saved.setdefault(
            "originalRequest",
            {k: v for k, v in request.items() if k not in ("description", "auth")},
        )
        responses.append(saved)


def _set_parameter(entries: list[dict[str, Any]], name: str, change: dict[str, Any]) -> None:
    found = [e for e in entries if isinstance(e, dict) and e.get("key") == name]
    if not found:
        found = [{"key": name, "value": ""}]
        entries.append(found[0])
    for entry in found:
        if "value" in change:
            entry["value"] = change["value"]
        if change.get("disabled"):
            entry["disabled"] = True
        elif "disabled" in change:
            entry.pop("disabled", None)


def _rewrite_raw(url: dict[str, Any]) -> None:
    """`url.raw` again from its parts (Postman shows the raw text and sends the enabled query
    entries)."""
    raw = str(url.get("raw", "")).split("?", 1)[0]
    enabled = [q for q in url.get("query") or [] if not q.get("disabled")]
    if enabled:
        raw += "?" + "&".join(f"{q.get('key', '')}={q.get('value', '')}" for q in enabled)
    url["raw"] = raw
    if not url.get("query"):
        url.pop("query", None)


def _apply_collection(
    result: dict[str, Any], entry: dict[str, Any], marker: str, collection_id: str
) -> None:
    variables = result.setdefault("variable", [])
    for key, value in (entry.get("variables") or {}).items():
        found = next((v for v in variables if v.get("key") == key), None)
        if found is None:
            variables.append({"key": key, "value": value, "type": "string"})
        else:
            found["value"] = value
    _append_lines(
        result,
        "prerequest",
        entry.get("prerequest", []),
        marker,
        stable_id(collection_id, "overlay", "prerequest"),
    )
    _append_lines(
        result, "test", entry.get("tests", []), marker, stable_id(collection_id, "overlay", "test")
    )
    items = result.setdefault("item", [])
    for extra in entry.get("items", []):
        item = copy.deepcopy(extra["item"])
        folder_name = extra.get("folder")
        _give_ids(item, stable_id(collection_id, "overlay", "item", folder_name or ""))
        if folder_name is None:
            items.append(item)
            continue
        folder = next(
            (
                i
                for i in items
                if isinstance(i, dict) and i.get("name") == folder_name and "item" in i
            ),
            None,
        )
        if folder is None:
            folder = {
                "id": stable_id(collection_id, "folder", folder_name),
                "name": folder_name,
                "item": [],
            }
            items.append(folder)
        folder["item"].append(item)


def _give_ids(item: dict[str, Any], parent: str) -> None:
    """Ids for an added request or folder and what it holds, derived from their names (stable across
    generations, so `publish` updates them in place in Postman instead of recreating them)."""
    item_id = item.setdefault("id", stable_id(parent, str(item.get("name", ""))))
    for index, response in enumerate(item.get("response") or []):
        if isinstance(response, dict):
            response.setdefault("id", stable_id(item_id, "example", str(index)))
    seen: dict[str, int] = {}
    for child in item.get("item") or []:
        if isinstance(child, dict):
            name = str(child.get("name", ""))
            seen[name] = seen.get(name, 0) + 1  # two children of one name get two ids
            _give_ids(child, stable_id(item_id, str(seen[name])) if seen[name] > 1 else item_id)


def empty_overlay() -> dict[str, Any]:
    """An overlay with nothing in it."""
    return {FORMAT_KEY: 1}


def dump_overlay(overlay: dict[str, Any]) -> str:
    """Overlay data as the YAML text absorb writes (keys in a fixed order; long lines kept
    whole)."""
    header = (
        "# Testers' additions to the generated Postman collection, applied on every generation.\n"
        '# Format: see the README section "Overlays"; JSON Schema: kpn_collections/schemas/'
        f"{SCHEMA_FILE}\n"
    )
    ordered = {
        FORMAT_KEY: 1,
        **{k: overlay[k] for k in ("operations", "collection", "orphans") if overlay.get(k)},
    }
    return header + yaml.dump(
        ordered,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=1_000_000,
        default_flow_style=False,
    )


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True
