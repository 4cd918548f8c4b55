"""Absorbing from files: the edited collection read, the base taken from git or a file, ours
generated from the spec, and the existing overlay file read (`absorb_file`); `hand_edits` for
`convert --check`."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..diagnostics import Diagnostic
from ..files import read_limited
from ..overlay import (
    Operation,
    conventional_overlay,
    empty_overlay,
    overlay_problems,
)
from ..settings import Settings
from .reading import (
    as_list,
    body_of,
    examples_of,
    parameters_of,
    request_of,
    script_lines,
    signature_of,
    text_of,
    url_of,
    walk_requests,
)
from .three_way import GONE, absorb, ours_index

UNREADABLE = (AttributeError, TypeError, KeyError, IndexError, ValueError, RecursionError)
"""What reading a collection of an unexpected shape (a list where an object belongs) raises."""


class AbsorbError(Exception):
    """An input of absorb cannot be used; the message says which and why."""


@dataclass(frozen=True)
class AbsorbFileResult:
    """What `absorb_file` found: the overlay file to write, its new text (None: nothing to write)
    and problems."""

    overlay_path: Path
    text: str | None
    problems: tuple[Diagnostic, ...]
    failed: bool = False  # the spec or the existing overlay is unusable (see problems)


def read_collection(path: Path, display: str | None = None) -> dict[str, Any]:
    """A Postman collection file as data (an AbsorbError when it is no JSON object)."""
    try:
        text = read_limited(path)
    except OSError as exc:
        raise AbsorbError(f"{display or path}: cannot read it: {exc.strerror or exc}") from None
    return _parsed(text, display or str(path))


def committed_text(path: Path) -> bytes | None:
    """The content of `path` in git's HEAD commit, or None (not in a repository, not committed, no
    git)."""
    try:
        completed = subprocess.run(
            ["git", "show", f"HEAD:./{path.name}"],
            cwd=path.absolute().parent,
            capture_output=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout if completed.returncode == 0 else None


def absorb_file(
    edited: Path, spec: Path, settings: Settings, base: Path, *, base_text: bytes | None = None
) -> AbsorbFileResult:
    """Absorb the collection in `edited` into the overlay of `spec`: base is the collection in
    `base` (or `base_text`, e.g. from git), ours what `spec` generates now with its current
    overlay."""
    from ..overlay import dump_overlay, load_overlay, located_in, overlay_for
    from ..pipeline import convert_file

    overlay_path = overlay_for(spec, settings) or conventional_overlay(spec)
    existing = None
    if overlay_path.exists():
        existing, problems = load_overlay(overlay_path)
        if existing is None:
            return AbsorbFileResult(overlay_path, None, tuple(problems), failed=True)
        generated = convert_file(spec, dataclasses.replace(settings, overlay=overlay_path))
    else:  # the first absorb: ours is the plain generation (an empty overlay, not a missing one)
        with tempfile.TemporaryDirectory(prefix="kpn-collections-absorb-") as directory:
            empty = Path(directory) / overlay_path.name
            empty.write_text(dump_overlay(empty_overlay()), encoding="utf-8")
            generated = convert_file(spec, dataclasses.replace(settings, overlay=empty))
    if generated.collection is None:
        return AbsorbFileResult(overlay_path, None, generated.diagnostics, failed=True)
    theirs = read_collection(edited)
    base_collection = (
        read_collection(base) if base_text is None else _parsed(base_text, f"{base} (committed)")
    )
    try:
        result = absorb(
            base_collection,
            theirs,
            generated.collection,
            generated.operations,
            existing,
            source=str(edited),
        )
    except UNREADABLE as exc:
        raise AbsorbError(
            f"{edited}: a collection absorb cannot read ({type(exc).__name__}: {exc}); is it a "
            "Postman v2.1 collection?"
        ) from None
    problems = located_in(edited, list(result.problems))
    invalid = overlay_problems(result.overlay, str(overlay_path))
    if invalid:  # a bug of ours: never write an overlay that would not load
        raise AssertionError(f"absorb made an invalid overlay: {[d.format() for d in invalid]}")
    text = dump_overlay(result.overlay) if result.changed else None
    return AbsorbFileResult(overlay_path, text, tuple(problems))


def _parsed(text: bytes, name: str) -> dict[str, Any]:
    try:
        data = json.loads(text.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise AbsorbError(f"{name}: not a readable collection: {exc}") from None
    if not isinstance(data, dict):
        raise AbsorbError(f"{name}: not a Postman collection (a JSON object)")
    return data


def hand_edits(
    base: dict[str, Any],
    current: dict[str, Any],
    ours: dict[str, Any],
    operations: Iterable[Operation],
) -> list[str]:
    """What a collection file holds beyond a generation (base: the committed file, current: the file
    now, ours: what the spec generates now): the edits absorb would keep that `ours` does not
    already have, named (`listCustomers tests`, `collection items`). Empty for a file that is merely
    stale."""
    result = absorb(base, current, ours, operations)
    ours_requests = {
        signature_of(r.item): r.item for r in walk_requests(ours.get("item"), "", None)
    }
    by_key = {
        operation.keys[0]: item for (operation, item) in ours_index(ours, operations).values()
    }
    found = []
    for key, edits in result.overlay.get("operations", {}).items():
        item = by_key.get(key, {})
        for name, value in edits.items():
            if not _has(item, name, value):
                found.append(f"{key} {name}")
    collection = result.overlay.get("collection", {})
    variables = {
        v.get("key"): v.get("value") for v in as_list(ours.get("variable")) if isinstance(v, dict)
    }
    if any(variables.get(k) != v for k, v in collection.get("variables", {}).items()):
        found.append("collection variables")
    for name in ("tests", "prerequest"):
        have = set(script_lines(ours, "test" if name == "tests" else name))
        if any(line not in have for line in collection.get(name, [])):
            found.append(f"collection {name}")
    if any(
        signature_of(extra["item"]) not in ours_requests for extra in collection.get("items", [])
    ):
        found.append("collection items")
    # a changed generated part may be an earlier spec's
    for orphan in result.overlay.get("orphans", []):
        if orphan["field"] in _ONLY_TESTERS_ADD and orphan["reason"] == GONE:
            found.append(f"{orphan['operation']} {orphan['field']}")
    return found


_ONLY_TESTERS_ADD = frozenset({"tests", "prerequest", "examples", "description"})
"""Edits no generation makes: lines after the generated ones, saved examples of new names, text
after the generated description."""


def _has(item: dict[str, Any], name: str, value: Any) -> bool:
    """Whether a generated request already has an edit (so it explains the difference)."""
    if not item:
        return False
    if name in ("tests", "prerequest"):
        have = set(script_lines(item, "test" if name == "tests" else name))
        return all(line in have for line in value)
    if name in ("query", "header", "path"):
        url = url_of(item)
        entries = parameters_of(
            {
                "query": url.get("query"),
                "path": url.get("variable"),
                "header": request_of(item).get("header"),
            }[name]
        )
        return all(
            parameter in entries
            and ("value" not in change or entries[parameter][0][0] == change["value"])
            and ("disabled" not in change or entries[parameter][0][1] == change["disabled"])
            for parameter, change in value.items()
        )
    if name == "body":
        return body_of(item) == value
    if name == "description":
        return str(value) in text_of(request_of(item).get("description"))
    if name == "examples":
        return all(e["name"] in examples_of(item) for e in value)
    return False
