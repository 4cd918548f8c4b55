"""The three-way absorb: the testers' edits (base -> theirs) placed by the operations of ours, and
merged into the existing overlay; orphans and collisions reported, secrets left out."""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..build.collection import stable_id
from ..credentials import CREDENTIAL_VARIABLES, credential_by_name, find_in_document, secret_kind
from ..diagnostics import Diagnostic, Severity, pointer_join, pointer_unescape
from ..overlay import (
    FORMAT_KEY,
    MARKER,
    Operation,
    empty_overlay,
    schema_problems,
)
from .reading import (
    Request,
    Signature,
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

GONE = "its operation is no longer in the spec"


@dataclass(frozen=True)
class AbsorbResult:
    """The overlay after absorbing (the existing one with the new edits merged in), whether it
    changed, and the problems found: orphaned edits, collisions, secrets left out (pointers into the
    edited collection)."""

    overlay: dict[str, Any]
    changed: bool
    problems: tuple[Diagnostic, ...] = ()


@dataclass
class _Work:
    """The edits found so far, in the overlay's shape, and the problems."""

    source: str
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    collection: dict[str, Any] = field(default_factory=dict)
    orphans: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Diagnostic] = field(default_factory=list)

    def report(
        self, severity: Severity, code: str, message: str, pointer: str, hint: str = ""
    ) -> None:
        self.problems.append(
            Diagnostic(severity, code, message, file=self.source, pointer=pointer, hint=hint)
        )

    def orphan(self, operation: str, name: str, reason: str, value: Any, pointer: str) -> None:
        entry = {"operation": operation, "field": name, "reason": reason, "value": value}
        if entry not in self.orphans:
            self.orphans.append(entry)
        self.report(
            Severity.WARNING,
            "absorb-orphan",
            f"`{operation}` {name}: {reason}; kept under `orphans` in the overlay",
            pointer,
            hint="move it to where it belongs in the overlay, or delete it",
        )


def absorb(
    base: dict[str, Any],
    theirs: dict[str, Any],
    ours: dict[str, Any],
    operations: Iterable[Operation],
    existing: dict[str, Any] | None = None,
    *,
    source: str = "edited collection",
) -> AbsorbResult:
    """The testers' edits (base -> theirs) merged into the `existing` overlay, placed by the
    operations of `ours` (the collection the current spec generates, with `operations` its
    spec's)."""
    work = _Work(source)
    ours_by_signature = ours_index(ours, operations)
    base_requests = list(walk_requests(base.get("item"), "", None))
    their_requests = list(walk_requests(theirs.get("item"), "", None))
    matches = _match(base_requests, their_requests)
    for base_request, their_request in matches:
        signature = signature_of(base_request.item)
        found = ours_by_signature.get(signature)
        _operation_edits(work, base_request, their_request, found)
    claimed = {id(t.item) for _, t in matches}
    _collection_edits(work, base, theirs, claimed)
    _leave_out_secrets(work)
    merged = _merged(existing or empty_overlay(), work)
    changed = _normal(merged) != _normal(existing or empty_overlay())
    return AbsorbResult(merged, changed, tuple(work.problems))


def ours_index(
    ours: dict[str, Any], operations: Iterable[Operation]
) -> dict[Signature, tuple[Operation, dict[str, Any]]]:
    collection_id = str((ours.get("info") or {}).get("_postman_id", ""))
    by_id = {r.item.get("id"): r.item for r in walk_requests(ours.get("item"), "", None)}
    index: dict[Signature, tuple[Operation, dict[str, Any]]] = {}
    for operation in operations:
        item = by_id.get(stable_id(collection_id, operation.method, operation.path))
        if item is not None:
            index.setdefault(signature_of(item), (operation, item))
    return index


def _match(base: list[Request], theirs: list[Request]) -> list[tuple[Request, Request]]:
    """Each base request with its edited counterpart: the same method and URL, the same name when
    several."""
    pairs = []
    unclaimed: dict[Signature, list[Request]] = {}
    for request in theirs:
        unclaimed.setdefault(signature_of(request.item), []).append(request)
    base_count: dict[Signature, int] = {}
    for request in base:
        base_count[signature_of(request.item)] = base_count.get(signature_of(request.item), 0) + 1
    for request in base:
        signature = signature_of(request.item)
        candidates = unclaimed.get(signature, [])
        same_name = [c for c in candidates if c.item.get("name") == request.item.get("name")]
        chosen = (
            same_name[0]
            if same_name
            else (candidates[0] if len(candidates) == 1 and base_count[signature] == 1 else None)
        )
        if chosen is not None:
            candidates.remove(chosen)
            pairs.append((request, chosen))
    return pairs


def _added_lines(
    work: _Work, operation: str, name: str, base: list[str], theirs: list[str], pointer: str
) -> list[str]:
    """Lines the testers added (kept); generated lines they changed become an orphan (the spec owns
    those)."""
    added: list[str] = []
    changed: list[str] = []
    matcher = difflib.SequenceMatcher(None, base, theirs, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "insert":
            added += theirs[j1:j2]
        elif tag == "replace":
            changed += theirs[j1:j2]
        elif tag == "delete" and any(line.strip() for line in base[i1:i2]):
            work.report(
                Severity.WARNING,
                "absorb-removed-lines",
                f"`{operation}` {name}: {i2 - i1} line(s) "
                "were removed; generation brings them back",
                pointer,
                hint="an overlay only adds lines: delete added lines in the overlay file itself",
            )
    marker_prefix = MARKER.split("(", 1)[0]
    added = [line for line in added if not line.startswith(marker_prefix)]
    if changed:
        work.orphan(
            operation, name, "changes generated lines, which the spec owns", changed, pointer
        )
    return added if any(line.strip() for line in added) else []


def _operation_edits(
    work: _Work, base: Request, theirs: Request, ours: tuple[Operation, dict[str, Any]] | None
) -> None:
    method, url = signature_of(base.item)
    key = (
        ours[0].key
        if ours is not None
        else (f"{method} {_spec_path(url)}" if "/" in url else str(base.item.get("name", url)))
    )  # Get Access Token
    edits: dict[str, Any] = {}
    pointer = theirs.pointer
    for listen, name in (("test", "tests"), ("prerequest", "prerequest")):
        added = _added_lines(
            work,
            key,
            name,
            script_lines(base.item, listen),
            script_lines(theirs.item, listen),
            pointer + "/event",
        )
        if added:
            edits[name] = added
    base_url, their_url = url_of(base.item), url_of(theirs.item)
    for name, base_entries, their_entries in (
        ("query", base_url.get("query"), their_url.get("query")),
        ("header", request_of(base.item).get("header"), request_of(theirs.item).get("header")),
        ("path", base_url.get("variable"), their_url.get("variable")),
    ):
        before, after = parameters_of(base_entries), parameters_of(their_entries)
        changes = {}
        for parameter, values in after.items():
            if before.get(parameter) == values:
                continue
            value, disabled = values[0]
            was = before[parameter][0] if before.get(parameter) else None
            change: dict[str, Any] = {}
            if was is None or was[0] != value:
                change["value"] = value
            if name != "path" and (was is None or was[1] != disabled):
                change["disabled"] = disabled
            if change:
                changes[parameter] = change
        for parameter in before.keys() - after.keys():
            if name != "path":
                changes[parameter] = {"disabled": True}
        if changes:
            edits[name] = changes
    body = body_of(theirs.item)
    if body != body_of(base.item) and body is not None:
        edits["body"] = body
    base_text, their_text = (
        text_of(request_of(base.item).get("description")),
        text_of(request_of(theirs.item).get("description")),
    )
    if their_text.strip() != base_text.strip():
        if (
            their_text.startswith(base_text.rstrip())
            and their_text[len(base_text.rstrip()) :].strip()
        ):
            edits["description"] = their_text[len(base_text.rstrip()) :].strip()
        elif their_text.strip():
            work.orphan(
                key,
                "description",
                "changes the generated description, which the spec owns",
                their_text,
                pointer + "/request/description",
            )
    base_examples, their_examples = examples_of(base.item), examples_of(theirs.item)
    added_examples = []
    for name, example in their_examples.items():
        if name not in base_examples:
            added_examples.append(example)
        elif example != base_examples[name]:
            work.orphan(
                key,
                "examples",
                f"changes the generated saved example `{name}`; save it under a new "
                "name to keep it",
                example,
                pointer + "/response",
            )
    if added_examples:
        edits["examples"] = added_examples
    if not edits:
        return
    if ours is None:
        for name, value in edits.items():
            work.orphan(key, name, GONE, value, pointer)
        return
    _keep_unless_collision(work, key, edits, base.item, theirs.item, ours[1], pointer)


def _keep_unless_collision(
    work: _Work,
    key: str,
    edits: dict[str, Any],
    base: dict[str, Any],
    theirs: dict[str, Any],
    ours: dict[str, Any],
    pointer: str,
) -> None:
    """Edits of fields the spec changed since base collide (unless ours already has the edit, as
    after an earlier absorb): orphans. The rest are the operation's entry."""

    def entries(item: dict[str, Any]) -> dict[str, dict[str, list[tuple[str, bool]]]]:
        return {
            "query": parameters_of(url_of(item).get("query")),
            "header": parameters_of(request_of(item).get("header")),
            "path": parameters_of(url_of(item).get("variable")),
        }

    before, now, edited = entries(base), entries(ours), entries(theirs)
    for name in ("query", "header", "path"):
        for parameter in list(edits.get(name, {})):
            if (
                before[name].get(parameter)
                != now[name].get(parameter)
                != edited[name].get(parameter)
            ):
                change = edits[name].pop(parameter)
                work.orphan(
                    key,
                    f"{name} {parameter}",
                    "the spec changed this parameter too",
                    change,
                    pointer,
                )
        if name in edits and not edits[name]:
            del edits[name]
    if "body" in edits and body_of(base) != body_of(ours) != body_of(theirs):
        work.orphan(
            key, "body", "the spec changed the request body too", edits.pop("body"), pointer
        )
    if edits:
        work.operations[key] = edits


def _spec_path(url: str) -> str:
    """`{{baseUrl}}/a/:id` -> `/a/{id}` (the spec's form, for keys of operations that are gone)."""
    path = url.split("/", 1)[1] if "/" in url else ""
    return (
        "/" + "/".join("{" + s[1:] + "}" if s.startswith(":") else s for s in path.split("/"))
        if path
        else "/"
    )


def _collection_edits(
    work: _Work, base: dict[str, Any], theirs: dict[str, Any], claimed: set[int]
) -> None:
    base_variables = {
        v.get("key"): v.get("value") for v in as_list(base.get("variable")) if isinstance(v, dict)
    }
    variables = {}
    for index, variable in enumerate(as_list(theirs.get("variable"))):
        if not isinstance(variable, dict) or not isinstance(variable.get("key"), str):
            continue
        key, value = variable["key"], variable.get("value")
        value = "" if value is None else value if isinstance(value, str) else json.dumps(value)
        if base_variables.get(key) == value:
            continue
        if key in CREDENTIAL_VARIABLES or credential_by_name(key, value) or secret_kind(value):
            if value:
                work.report(
                    Severity.WARNING,
                    "absorb-secret",
                    f"the value of the collection variable `{key}` "
                    "looks like a credential: left out of the overlay",
                    pointer_join("variable", index, "value"),
                    hint="keep credentials in Postman's current values, never in initial values",
                )
            continue
        variables[key] = value
    if variables:
        work.collection["variables"] = variables
    for listen, name in (("test", "tests"), ("prerequest", "prerequest")):
        added = _added_lines(
            work,
            "collection",
            name,
            script_lines(base, listen),
            script_lines(theirs, listen),
            "/event",
        )
        if added:
            work.collection[name] = added
    base_folders = {
        str(i.get("name")) for i in as_list(base.get("item")) if isinstance(i, dict) and "item" in i
    }
    extras = []
    for extra in _extra_items(theirs.get("item"), "", None, base_folders, claimed):
        if schema_problems({"collection": {"items": [extra]}}, work.source):
            work.report(
                Severity.WARNING,
                "absorb-unreadable",
                f"an added item ({_shown(extra['item'])}) is no "
                "Postman request or folder with a name: left out",
                "/item",
                hint="give it a name and a request in Postman, export again and absorb",
            )
            continue
        extras.append(extra)
    if extras:
        work.collection["items"] = extras


def _extra_items(
    items: Any, pointer: str, folder: str | None, base_folders: set[str], claimed: set[int]
) -> Iterator[dict[str, Any]]:
    """Requests and folders in the edited collection that generation did not make."""
    for index, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            continue
        here = pointer + pointer_join("item", index)
        if "request" in item:
            if id(item) not in claimed:
                yield _placed(folder, _clean_item(item))
        elif isinstance(item.get("item"), list):
            name = str(item.get("name"))
            inside = [r for r in walk_requests(item["item"], here, name) if id(r.item) in claimed]
            if (folder is None and name in base_folders) or inside:
                yield from _extra_items(item["item"], here, folder or name, base_folders, claimed)
            else:
                yield _placed(folder, _clean_item(item))


def _shown(item: Any) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return f"`{name}`" if isinstance(name, str) else json.dumps(item)[:60]


def _placed(folder: str | None, item: dict[str, Any]) -> dict[str, Any]:
    return {"folder": folder, "item": item} if folder is not None else {"item": item}


_NOISE = frozenset({"id", "_postman_id", "_", "_exporter_id", "uid", "_postman_isSubFolder"})


def _clean_item(value: Any) -> Any:
    """An added request or folder without Postman's bookkeeping (ids, `type: text`, description
    objects)."""
    if isinstance(value, list):
        return [_clean_item(v) for v in value]
    if not isinstance(value, dict):
        return value
    clean: dict[str, Any] = {}
    for key, child in value.items():
        if key in _NOISE or child in ([], None, {}):
            continue
        if key == "description":
            child = text_of(child)
            if not child:
                continue
        if key == "type" and child == "text" and "key" in value:
            continue
        if key == "exec":
            text = child if isinstance(child, str) else "\n".join(str(x) for x in as_list(child))
            child = text.split("\n")
        clean[key] = _clean_item(child)
    return clean


def _leave_out_secrets(work: _Work) -> None:
    """Every credential-looking value in what is about to be written is reported and removed."""
    candidate = {
        "operations": work.operations,
        "collection": work.collection,
        "orphans": work.orphans,
    }
    for pointer, kind in sorted(
        find_in_document(candidate), key=lambda found: found[0], reverse=True
    ):
        tokens = [pointer_unescape(t) for t in pointer.split("/")[1:]]
        parent: Any = candidate
        for token in tokens[:-1]:
            parent = parent[int(token)] if isinstance(parent, list) else parent[token]
        last = tokens[-1]
        where = pointer_join("overlay", *tokens)
        if last == "value" and isinstance(parent, dict) and "key" in parent and len(tokens) >= 3:
            owner: Any = candidate  # a key/value entry (a header): the whole entry goes
            for token in tokens[:-2]:
                owner = owner[int(token)] if isinstance(owner, list) else owner[token]
            parent, last = owner, tokens[-2]
        # a parameter's value: the parameter's whole change goes
        elif (
            last == "value"
            and len(tokens) == 5
            and tokens[0] == "operations"
            and tokens[2] in ("query", "header", "path")
        ):
            parent, last = work.operations[tokens[1]][tokens[2]], tokens[3]
        if isinstance(parent, list):
            del parent[int(last)]
        else:
            del parent[last]
        work.report(
            Severity.WARNING,
            "absorb-secret",
            f"{kind} in the edited collection (for the overlay at #{where}): left out",
            "",
            hint=(
                "keep credentials in Postman's current values or newman's "
                "--env-var, never in the collection"
            ),
        )
    _prune_empty(candidate)


def _prune_empty(value: Any) -> None:
    if isinstance(value, dict):
        for key in list(value):
            _prune_empty(value[key])
            if value[key] in ({}, []) and key not in ("value",):
                del value[key]
    elif isinstance(value, list):
        for child in value:
            _prune_empty(child)


def _merged(existing: dict[str, Any], work: _Work) -> dict[str, Any]:
    """The existing overlay with the new edits: lines appended unless already there, values
    replaced."""
    merged = copy.deepcopy(existing)
    merged.setdefault(FORMAT_KEY, 1)
    operations = merged.setdefault("operations", {})
    for key, edits in work.operations.items():
        entry = operations.setdefault(key, {})
        _merge_entry(entry, edits)
    collection = merged.setdefault("collection", {})
    edits = dict(work.collection)
    items = edits.pop("items", [])
    _merge_entry(collection, edits)
    known = collection.setdefault("items", [])
    for extra in items:
        same = next(
            (
                i
                for i, k in enumerate(known)
                if k.get("folder") == extra.get("folder")
                and k["item"].get("name") == extra["item"].get("name")
            ),
            None,
        )
        if same is None:
            known.append(extra)
        else:
            known[same] = extra
    orphans = merged.setdefault("orphans", [])
    orphans.extend(o for o in work.orphans if o not in orphans)
    merged["collection"] = {k: v for k, v in collection.items() if v not in ({}, [])}
    return {k: v for k, v in merged.items() if v not in ({}, [])}


def _merge_entry(entry: dict[str, Any], edits: dict[str, Any]) -> None:
    for name, value in edits.items():
        if name in ("tests", "prerequest"):
            lines = entry.get(name, [])
            if lines[len(lines) - len(value) :] != value:
                entry[name] = lines + value
        elif name == "description":
            text = entry.get(name, "")
            if value not in text:
                entry[name] = f"{text}\n\n{value}" if text else value
        elif name == "examples":
            examples = [
                e for e in entry.get(name, []) if e["name"] not in {v["name"] for v in value}
            ]
            entry[name] = examples + value
        elif name in ("query", "header", "path", "variables"):
            entry[name] = {**entry.get(name, {}), **value}
        else:
            entry[name] = value


def _normal(overlay: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in overlay.items() if v not in ({}, [])}, sort_keys=True)
