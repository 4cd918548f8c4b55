"""What a collection holds, entry by entry, with Postman's re-serialisation noise taken out.

Postman does not give back what it was sent: it adds ids and uids to every item, timestamps and an
owner to `info`, empty `response`/`event` arrays, `type: text` on headers and parameters, and may
join or split a script's `exec` lines differently. `entries` turns a collection (as generated, or as
fetched from Postman) into one digest per request and folder plus one for the collection's own
fields, keyed by the generated item id, so that comparing two of them shows only real changes: a
spec change, or a tester's edit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

COLLECTION_KEY = "(collection)"
"""The entry of the collection's own fields: name, description, auth, variables, collection
scripts."""

_NOISE_KEYS = frozenset(
    {
        "id",
        "uid",
        "_postman_id",
        "_exporter_id",
        "_collection_link",
        "postman_id",
        "createdAt",
        "updatedAt",
        "lastUpdatedBy",
        "owner",
        "fork",
    }
)
"""Keys Postman adds, or fills with its own values, wherever they appear."""


@dataclass(frozen=True)
class Entry:
    """One request or folder (or the collection's own fields): where it is, and a digest of its
    content."""

    key: str  # the generated item id (stable across regenerations), or COLLECTION_KEY
    label: str  # `Folder / Request name`, for messages
    digest: str


def entries(
    collection: Mapping[str, Any], keys: Mapping[str, str] | None = None
) -> dict[str, Entry]:
    """Every entry of `collection` by key. Items are keyed by their own `id`, mapped through `keys`
    (Postman id -> generated id) when given; an item Postman knows under an id we never published
    keeps that id."""
    found: dict[str, Entry] = {}
    own = {k: v for k, v in collection.items() if k != "item"}
    found[COLLECTION_KEY] = Entry(
        COLLECTION_KEY, "collection settings (variables, auth, scripts, description)", digest(own)
    )
    for item, label in _walk(collection.get("item") or [], ""):
        item_id = str(item.get("id", ""))
        key = (keys or {}).get(item_id, item_id) or f"(no id) {label}"
        content = {k: v for k, v in item.items() if k != "item"}
        if "item" in item:
            content["folder"] = True  # a folder emptied in Postman is still a folder, not a request
        found[key] = Entry(key, label, digest(content))
    return found


def _walk(items: list[Any], prefix: str) -> Iterator[tuple[dict[str, Any], str]]:
    for item in items:
        if not isinstance(item, dict):
            continue
        label = f"{prefix}{item.get('name', '?')}"
        yield item, label
        if isinstance(item.get("item"), list):
            yield from _walk(item["item"], label + " / ")


def digest(value: Any) -> str:
    """A short digest of `value` with the noise taken out (key order does not count)."""
    text = json.dumps(normalised(value), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()[:32]


def normalised(value: Any) -> Any:
    """`value` as the comparison sees it: Postman's additions and default values removed, script
    lines split the same way, empty lists and objects dropped, a description object reduced to its
    text."""
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if key in _NOISE_KEYS:
                continue
            if key == "exec":
                item = _script_lines(item)
            elif key == "description" and isinstance(item, dict) and "content" in item:
                item = item["content"]
            elif key == "type" and item == "text" and ("key" in value or "value" in value):
                continue  # `type: text` is the default of a header, query or form field
            elif key == "disabled" and item is False:
                continue  # the default, which Postman may leave out
            item = normalised(item)
            if item in ([], {}, None):
                continue
            result[key] = item
        return result
    if isinstance(value, list):
        return [normalised(v) for v in value]
    return value


def _script_lines(exec_value: Any) -> list[str]:
    text = "\n".join(exec_value) if isinstance(exec_value, list) else str(exec_value or "")
    return text.split("\n") if text else []


@dataclass(frozen=True)
class Changes:
    """How one set of entries differs from another (labels, in the newer set's order)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def lines(self) -> list[str]:
        """One line per entry: `+ label`, `- label`, `~ label`."""
        return (
            [f"+ {label} (added)" for label in self.added]
            + [f"- {label} (removed)" for label in self.removed]
            + [f"~ {label} (changed)" for label in self.changed]
        )

    def counts(self) -> str:
        """`2 added, 0 removed, 1 changed`."""
        return f"{len(self.added)} added, {len(self.removed)} removed, {len(self.changed)} changed"


def changes(old: Mapping[str, tuple[str, str]], new: Mapping[str, Entry]) -> Changes:
    """What differs from `old` (key -> (label, digest), as the state file keeps it) to `new`."""
    added = tuple(e.label for k, e in new.items() if k not in old)
    removed = tuple(label for k, (label, _) in old.items() if k not in new)
    changed = tuple(e.label for k, e in new.items() if k in old and old[k][1] != e.digest)
    return Changes(added, removed, changed)
