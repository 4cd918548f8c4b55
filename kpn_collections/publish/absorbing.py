"""`publish --absorb`: edits made in Postman since the last publish, kept in the spec's overlay
(three-way).

base is the collection as last published: the copy the state file keeps (compressed), else, for a
state file written before it kept one, the spec's collection file as it is or as committed in git;
each is used only when its digest is the one recorded for that publish, and none is a refusal, never
a guess. theirs is the collection fetched from Postman with its ids mapped back to the generated
ones, ours what the spec and its overlay generate now. The caller regenerates after a write, so the
update it sends carries the edits.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..absorb import UNREADABLE, absorb, committed_text
from ..diagnostics import Diagnostic
from ..files import read_limited
from ..overlay import (
    conventional_overlay,
    dump_overlay,
    load_overlay,
    overlay_for,
    overlay_problems,
)
from ..pipeline import ConversionResult
from ..settings import Settings
from ..write import write_if_changed
from .compare import digest
from .state import Published, unpack_collection


@dataclass(frozen=True)
class Absorbed:
    """What absorbing one collection did: the overlay file, whether it was (or would be) written,
    the problems absorb reported (secrets left out, orphans), or why nothing was absorbed
    (`refusal`)."""

    overlay: Path
    changed: bool = False
    problems: tuple[Diagnostic, ...] = ()
    refusal: str = ""
    code: str = "publish-no-base"  # of the refusal


def absorb_postman_edits(
    spec: Path,
    settings: Settings,
    published: Published,
    current: dict[str, Any],
    ours: ConversionResult,
    *,
    write: bool,
    collection_file: Path | None = None,
) -> Absorbed:
    """Absorb the edits in `current` (the collection fetched from Postman) into the overlay of
    `spec`; the overlay file is written when `write` and absorb found something new.
    `collection_file`: where `convert` writes the spec's collection (a base when the state file
    keeps none)."""
    overlay_path = overlay_for(spec, settings) or conventional_overlay(spec)
    base = _base(published, collection_file)
    if isinstance(base, str):
        return Absorbed(overlay_path, refusal=base)
    existing = None
    if overlay_path.exists():
        existing, problems = load_overlay(overlay_path)
        if existing is None:
            return Absorbed(
                overlay_path,
                problems=tuple(problems),
                refusal=f"the overlay {overlay_path} is unusable",
                code="publish-absorb-failed",
            )
    assert ours.collection is not None
    theirs = _with_generated_ids(current, published)
    try:
        result = absorb(
            base,
            theirs,
            ours.collection,
            ours.operations,
            existing,
            source=f"collection {published.uid} in Postman",
        )
    except UNREADABLE as exc:
        return Absorbed(
            overlay_path,
            refusal=f"absorb cannot read the collection in Postman ({type(exc).__name__}: {exc})",
            code="publish-absorb-failed",
        )
    invalid = overlay_problems(result.overlay, str(overlay_path))
    if invalid:  # a bug of ours: never write an overlay that would not load
        raise AssertionError(f"absorb made an invalid overlay: {[d.format() for d in invalid]}")
    if result.changed and write:
        write_if_changed(overlay_path, dump_overlay(result.overlay))
    return Absorbed(overlay_path, result.changed, result.problems)


def _base(published: Published, collection_file: Path | None) -> dict[str, Any] | str:
    """The collection as last published, or why it cannot be found."""
    if published.base:
        kept = unpack_collection(published.base)
        if kept is None:
            return "the publish state's copy of what was last published (`base`) is damaged"
        if digest(kept) != published.digest:
            return (
                "the publish state's copy of what was last published is not what its digest says"
                " was published (edited by hand?)"
            )
        return kept
    tried = []
    if collection_file is not None:
        for text, where in (
            (_read(collection_file), str(collection_file)),
            (committed_text(collection_file), f"{collection_file} as committed"),
        ):
            candidate = _parsed(text) if text is not None else None
            if candidate is not None and digest(candidate) == published.digest:
                return candidate
            tried.append(where)
    return (
        "the publish state keeps no copy of what was last published (written by an older"
        " kpn-collections)"
        + (f", and neither {' nor '.join(tried)} is what was published" if tried else "")
    )


def _read(path: Path) -> bytes | None:
    try:
        return read_limited(path)
    except OSError:
        return None


def _parsed(text: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(text.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _with_generated_ids(current: dict[str, Any], published: Published) -> dict[str, Any]:
    """`current` with every item and saved example Postman knows under an id we published carrying
    our generated id again (what absorb's base has); anything added in Postman keeps Postman's
    id."""
    items = {postman: key for key, postman in published.postman_ids().items()}
    responses = {postman: key for key, postman in published.responses.items()}
    theirs = copy.deepcopy(current)

    def walk(children: Any) -> None:
        for item in children if isinstance(children, list) else []:
            if not isinstance(item, dict):
                continue
            if str(item.get("id")) in items:
                item["id"] = items[str(item["id"])]
            saved = item.get("response")
            for response in saved if isinstance(saved, list) else []:
                if isinstance(response, dict) and str(response.get("id")) in responses:
                    response["id"] = responses[str(response["id"])]
            walk(item.get("item"))

    walk(theirs.get("item"))
    return theirs
