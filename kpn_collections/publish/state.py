"""The publish state file: where each spec's collection lives in Postman, and what was last
published there.

Meant to be committed, so that every clone and CI job updates the same collections. Per workspace
and spec (its path relative to the project root): the collection's uid, a digest of the whole
collection as last published, and per request and folder (keyed by the generated item id) Postman's
id for it, its label and a digest of its content; and the collection as published itself, compressed
(`base`: what `publish --absorb` compares a collection edited in Postman with). Written
deterministically (sorted keys, two-space indent, trailing newline), only when it changed,
atomically.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..files import read_limited
from ..write import write_if_changed

STATE_VERSION = 1
DEFAULT_STATE_FILE = ".kpn-collections-publish.json"
MAX_STATE_BYTES = 256 * 1024 * 1024
"""Largest state file read (a few hundred bytes per request, and each collection compressed: about a
tenth of it, so a few collections near Postman's 100 MB limit still fit)."""
MAX_BASE_BYTES = 200 * 1000 * 1000
"""Largest collection a `base` may expand to (twice what Postman accepts): a state file is no zip
bomb."""


class StateError(Exception):
    """The state file is unusable; the message names the file and what is wrong."""


@dataclass
class Published:
    """What the state file says about one spec's collection in one workspace."""

    uid: str
    name: str
    digest: str  # of the whole collection as published (compare.digest of the generated collection)
    # key -> {"id", "label", "digest"}
    items: dict[str, dict[str, str]] = field(default_factory=dict)
    # generated saved-example id -> Postman's id
    responses: dict[str, str] = field(default_factory=dict)
    # the collection as published, compressed (pack_collection); "" in older state files
    base: str = ""

    def postman_ids(self) -> dict[str, str]:
        """Generated item id -> Postman's id."""
        return {key: value["id"] for key, value in self.items.items() if value.get("id")}

    def known(self) -> dict[str, tuple[str, str]]:
        """Key -> (label, digest), for compare.changes."""
        return {key: (value["label"], value["digest"]) for key, value in self.items.items()}

    def as_dict(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "name": self.name,
            "digest": self.digest,
            "items": {
                key: dict(sorted(value.items())) for key, value in sorted(self.items.items())
            },
            "responses": dict(sorted(self.responses.items())),
            **({"base": self.base} if self.base else {}),
        }


@dataclass
class State:
    """The whole state file: workspace id -> spec path -> Published."""

    path: Path
    workspaces: dict[str, dict[str, Published]] = field(default_factory=dict)

    def get(self, workspace: str, spec: str) -> Published | None:
        """The collection published for `spec` in `workspace`, if any."""
        return self.workspaces.get(workspace, {}).get(spec)

    def put(self, workspace: str, spec: str, published: Published) -> None:
        """Record a publish and write the file (after every collection: a batch stopped half-way
        keeps what it did, so the next run updates those collections instead of creating them
        again)."""
        self.workspaces.setdefault(workspace, {})[spec] = published
        self.save()

    def save(self) -> bool:
        """Write the file when its content changed; whether it was written."""
        data = {
            "version": STATE_VERSION,
            "workspaces": {
                w: {s: p.as_dict() for s, p in sorted(specs.items())}
                for w, specs in sorted(self.workspaces.items())
            },
        }
        return write_if_changed(
            self.path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        )


def load_state(path: Path) -> State:
    """Read the state file; an empty state when it does not exist yet."""
    if not path.exists():
        return State(path)
    try:
        data = json.loads(read_limited(path, MAX_STATE_BYTES).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise StateError(f"{path}: cannot read the publish state: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise StateError(f"{path}: not a publish state file of version {STATE_VERSION}")
    state = State(path)
    workspaces = data.get("workspaces")
    if not isinstance(workspaces, dict):
        raise StateError(f"{path}: `workspaces` must be an object")
    for workspace, specs in workspaces.items():
        if not isinstance(specs, dict):
            raise StateError(f"{path}: workspaces.{workspace} must be an object")
        for spec, entry in specs.items():
            state.workspaces.setdefault(workspace, {})[spec] = _published(
                path, f"{workspace}.{spec}", entry
            )
    return state


def _published(path: Path, where: str, entry: Any) -> Published:
    if not isinstance(entry, dict) or not all(
        isinstance(entry.get(k), str) for k in ("uid", "name", "digest")
    ):
        raise StateError(f"{path}: workspaces.{where} needs the strings uid, name and digest")
    items = entry.get("items", {})
    if not isinstance(items, dict) or not all(
        isinstance(v, dict) and all(isinstance(v.get(k), str) for k in ("id", "label", "digest"))
        for v in items.values()
    ):
        raise StateError(
            f"{path}: workspaces.{where}.items must map item keys to {{id, label, digest}}"
        )
    responses = entry.get("responses", {})
    if not isinstance(responses, dict) or not all(isinstance(v, str) for v in responses.values()):
        raise StateError(
            f"{path}: workspaces.{where}.responses must map saved-example ids to Postman's ids"
        )
    base = entry.get("base", "")
    if not isinstance(base, str):
        raise StateError(
            f"{path}: workspaces.{where}.base must be a string (the collection as published)"
        )
    return Published(
        entry["uid"],
        entry["name"],
        entry["digest"],
        {
            str(k): {"id": v["id"], "label": v["label"], "digest": v["digest"]}
            for k, v in items.items()
        },
        {str(k): v for k, v in responses.items()},
        base,
    )


def pack_collection(collection: dict[str, Any]) -> str:
    """A collection as the state file keeps it: compact JSON, zlib-compressed, base64 (about a tenth
    of it)."""
    text = json.dumps(collection, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return base64.b64encode(zlib.compress(text.encode("utf-8"), 9)).decode("ascii")


def unpack_collection(packed: str) -> dict[str, Any] | None:
    """The collection `pack_collection` packed, or None when `packed` is no such thing (cut, edited,
    too big)."""
    try:
        inflate = zlib.decompressobj()
        raw = inflate.decompress(base64.b64decode(packed, validate=True), MAX_BASE_BYTES + 1)
        if len(raw) > MAX_BASE_BYTES or not inflate.eof:
            return None
        data = json.loads(raw.decode("utf-8"))
    except (binascii.Error, zlib.error, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None
