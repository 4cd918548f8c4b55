"""Absorb: from a collection testers edited back to the spec's overlay, three-way.

base is the collection generated then (the committed file), theirs the edited one (exported from
Postman or edited in the file), ours what the current spec generates. Only base -> theirs
differences are the testers' work; an edit whose operation is gone, or that collides with a spec
change on the same field, goes under the overlay's `orphans` with a located report, never dropped.
Postman's re-serialisation (ids, key order, header `type`s, `exec` line splitting, description
objects, `_` fields) is normalised away before comparing, and secrets typed into the edited
collection are reported and left out.

`absorb` works on data (the `publish` command calls it); `absorb_file` reads and generates the three
collections for the CLI.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .build.collection import stable_id
from .credentials import CREDENTIAL_VARIABLES, credential_by_name, find_in_document, secret_kind
from .diagnostics import Diagnostic, Severity, pointer_join, pointer_unescape
from .files import read_limited
from .overlay import (
    FORMAT_KEY,
    MARKER,
    Operation,
    conventional_overlay,
    empty_overlay,
    overlay_problems,
    schema_problems,
)
from .settings import Settings

_GONE = "its operation is no longer in the spec"
_Signature = tuple[str, str]  # (METHOD, host/path as Postman holds it, `:name` for path variables)


@dataclass(frozen=True)
class AbsorbResult:
    """The overlay after absorbing (the existing one with the new edits merged in), whether it
    changed, and the problems found: orphaned edits, collisions, secrets left out (pointers into the
    edited collection)."""

    overlay: dict[str, Any]
    changed: bool
    problems: tuple[Diagnostic, ...] = ()


@dataclass
class _Request:
    item: dict[str, Any]
    pointer: str
    folder: str | None  # the top-level folder it sits in


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
    ours_by_signature = _ours_index(ours, operations)
    base_requests = list(_walk_requests(base.get("item"), "", None))
    their_requests = list(_walk_requests(theirs.get("item"), "", None))
    matches = _match(base_requests, their_requests)
    for base_request, their_request in matches:
        signature = _signature(base_request.item)
        found = ours_by_signature.get(signature)
        _operation_edits(work, base_request, their_request, found)
    claimed = {id(t.item) for _, t in matches}
    _collection_edits(work, base, theirs, claimed)
    _leave_out_secrets(work)
    merged = _merged(existing or empty_overlay(), work)
    changed = _normal(merged) != _normal(existing or empty_overlay())
    return AbsorbResult(merged, changed, tuple(work.problems))


# --- reading collections as Postman writes them
# -------------------------------------------------------------


def _walk_requests(items: Any, pointer: str, folder: str | None) -> Iterator[_Request]:
    for index, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            continue
        here = pointer + pointer_join("item", index)
        if "request" in item:
            yield _Request(item, here, folder)
        elif isinstance(item.get("item"), list):
            yield from _walk_requests(
                item["item"], here, folder if folder is not None else str(item.get("name"))
            )


def _signature(item: dict[str, Any]) -> _Signature:
    request = item.get("request")
    if isinstance(request, str):
        return "GET", _url_text(request)
    request = request if isinstance(request, dict) else {}
    return str(request.get("method", "GET")).upper(), _url_text(request.get("url"))


def _url_text(url: Any) -> str:
    """`{{baseUrl}}/customers/:customerId` from a url string or object (a Postman export may drop
    `raw`)."""
    if isinstance(url, dict):
        host, path = url.get("host"), url.get("path")
        if host is None and path is None:
            return _url_text(url.get("raw", ""))
        host_text = ".".join(str(h) for h in host) if isinstance(host, list) else str(host or "")
        segments = path if isinstance(path, list) else str(path or "").strip("/").split("/")
        texts = [s.get("value", "") if isinstance(s, dict) else str(s) for s in segments]
        return host_text + "".join("/" + s for s in texts if s != "" or len(texts) > 1)
    text = str(url or "").split("?", 1)[0].split("#", 1)[0]
    return text.rstrip("/") if text.count("/") > 0 else text


def _list(value: Any) -> list[Any]:
    """A list from an edited collection: anything else counts as empty."""
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("content", "")
    return value if isinstance(value, str) else ""


def _lines(item: dict[str, Any], listen: str) -> list[str]:
    """A script's lines however Postman split them (one string, a list, lines with newlines in
    them)."""
    lines: list[str] = []
    for event in _list(item.get("event")):
        if isinstance(event, dict) and event.get("listen") == listen:
            script = event.get("script")
            exec_lines = script.get("exec", []) if isinstance(script, dict) else []
            text = (
                exec_lines
                if isinstance(exec_lines, str)
                else "\n".join(str(x) for x in _list(exec_lines))
            )
            lines.extend(text.split("\n"))
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _request(item: dict[str, Any]) -> dict[str, Any]:
    request = item.get("request")
    return request if isinstance(request, dict) else {"url": request}


def _parameters(entries: Any) -> dict[str, list[tuple[str, bool]]]:
    found: dict[str, list[tuple[str, bool]]] = {}
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("key"), str):
            value = entry.get("value")
            found.setdefault(entry["key"], []).append(
                ("" if value is None else str(value), bool(entry.get("disabled")))
            )
    return found


def _url(item: dict[str, Any]) -> dict[str, Any]:
    url = _request(item).get("url")
    return url if isinstance(url, dict) else {}


def _body(item: dict[str, Any]) -> dict[str, Any] | None:
    """The request body without what Postman adds on export (entry `type: text`, description
    objects)."""
    body = _request(item).get("body")
    if not isinstance(body, dict) or not isinstance(body.get("mode"), str) or not body["mode"]:
        return None
    mode = body["mode"]
    clean: dict[str, Any] = {"mode": mode}
    data = body.get(mode)
    if mode in ("urlencoded", "formdata") and isinstance(data, list):
        clean[mode] = [_clean_entry(e) for e in data if isinstance(e, dict)]
    elif data is not None:
        clean[mode] = data
    options = body.get("options")
    if isinstance(options, dict) and options:
        clean["options"] = options
    return clean


def _clean_entry(entry: dict[str, Any]) -> dict[str, Any]:
    clean = {"key": entry.get("key", ""), "value": entry.get("value", "")}
    if entry.get("type") not in (None, "text", "default"):
        clean["type"] = entry["type"]
    if entry.get("src") is not None:
        clean["src"] = entry["src"]
    if entry.get("disabled"):
        clean["disabled"] = True
    return clean


def _examples(item: dict[str, Any]) -> dict[str, dict[str, Any]]:
    examples: dict[str, dict[str, Any]] = {}
    for response in _list(item.get("response")):
        if isinstance(response, dict) and isinstance(response.get("name"), str):
            examples.setdefault(response["name"], _clean_example(response))
    return examples


def _clean_example(response: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {"name": response["name"]}
    if isinstance(response.get("code"), int):
        clean["code"] = response["code"]
    if isinstance(response.get("status"), str):
        clean["status"] = response["status"]
    headers = [
        {"key": str(h.get("key", "")), "value": str(h.get("value", ""))}
        for h in _list(response.get("header"))
        if isinstance(h, dict)
    ]
    if headers:
        clean["header"] = headers
    body = response.get("body")
    clean["body"] = body if isinstance(body, str) else ""
    return clean


# --- matching and comparing
# ---------------------------------------------------------------------------------


def _ours_index(
    ours: dict[str, Any], operations: Iterable[Operation]
) -> dict[_Signature, tuple[Operation, dict[str, Any]]]:
    collection_id = str((ours.get("info") or {}).get("_postman_id", ""))
    by_id = {r.item.get("id"): r.item for r in _walk_requests(ours.get("item"), "", None)}
    index: dict[_Signature, tuple[Operation, dict[str, Any]]] = {}
    for operation in operations:
        item = by_id.get(stable_id(collection_id, operation.method, operation.path))
        if item is not None:
            index.setdefault(_signature(item), (operation, item))
    return index


def _match(base: list[_Request], theirs: list[_Request]) -> list[tuple[_Request, _Request]]:
    """Each base request with its edited counterpart: the same method and URL, the same name when
    several."""
    pairs = []
    unclaimed: dict[_Signature, list[_Request]] = {}
    for request in theirs:
        unclaimed.setdefault(_signature(request.item), []).append(request)
    base_count: dict[_Signature, int] = {}
    for request in base:
        base_count[_signature(request.item)] = base_count.get(_signature(request.item), 0) + 1
    for request in base:
        signature = _signature(request.item)
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
    work: _Work, base: _Request, theirs: _Request, ours: tuple[Operation, dict[str, Any]] | None
) -> None:
    method, url = _signature(base.item)
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
            _lines(base.item, listen),
            _lines(theirs.item, listen),
            pointer + "/event",
        )
        if added:
            edits[name] = added
    base_url, their_url = _url(base.item), _url(theirs.item)
    for name, base_entries, their_entries in (
        ("query", base_url.get("query"), their_url.get("query")),
        ("header", _request(base.item).get("header"), _request(theirs.item).get("header")),
        ("path", base_url.get("variable"), their_url.get("variable")),
    ):
        before, after = _parameters(base_entries), _parameters(their_entries)
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
    body = _body(theirs.item)
    if body != _body(base.item) and body is not None:
        edits["body"] = body
    base_text, their_text = (
        _text(_request(base.item).get("description")),
        _text(_request(theirs.item).get("description")),
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
    base_examples, their_examples = _examples(base.item), _examples(theirs.item)
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
            work.orphan(key, name, _GONE, value, pointer)
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
            "query": _parameters(_url(item).get("query")),
            "header": _parameters(_request(item).get("header")),
            "path": _parameters(_url(item).get("variable")),
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
    if "body" in edits and _body(base) != _body(ours) != _body(theirs):
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
        v.get("key"): v.get("value") for v in _list(base.get("variable")) if isinstance(v, dict)
    }
    variables = {}
    for index, variable in enumerate(_list(theirs.get("variable"))):
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
            work, "collection", name, _lines(base, listen), _lines(theirs, listen), "/event"
        )
        if added:
            work.collection[name] = added
    base_folders = {
        str(i.get("name")) for i in _list(base.get("item")) if isinstance(i, dict) and "item" in i
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
            inside = [r for r in _walk_requests(item["item"], here, name) if id(r.item) in claimed]
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
            child = _text(child)
            if not child:
                continue
        if key == "type" and child == "text" and "key" in value:
            continue
        if key == "exec":
            text = child if isinstance(child, str) else "\n".join(str(x) for x in _list(child))
            child = text.split("\n")
        clean[key] = _clean_item(child)
    return clean


# --- secrets and merging
# --------------------------------------------------------------------------------------


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


# --- files
# --------------------------------------------------------------------------------------------------


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
    from .overlay import dump_overlay, load_overlay, located_in, overlay_for
    from .pipeline import convert_file

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
    ours_requests = {_signature(r.item): r.item for r in _walk_requests(ours.get("item"), "", None)}
    by_key = {
        operation.keys[0]: item for (operation, item) in _ours_index(ours, operations).values()
    }
    found = []
    for key, edits in result.overlay.get("operations", {}).items():
        item = by_key.get(key, {})
        for name, value in edits.items():
            if not _has(item, name, value):
                found.append(f"{key} {name}")
    collection = result.overlay.get("collection", {})
    variables = {
        v.get("key"): v.get("value") for v in _list(ours.get("variable")) if isinstance(v, dict)
    }
    if any(variables.get(k) != v for k, v in collection.get("variables", {}).items()):
        found.append("collection variables")
    for name in ("tests", "prerequest"):
        have = set(_lines(ours, "test" if name == "tests" else name))
        if any(line not in have for line in collection.get(name, [])):
            found.append(f"collection {name}")
    if any(_signature(extra["item"]) not in ours_requests for extra in collection.get("items", [])):
        found.append("collection items")
    # a changed generated part may be an earlier spec's
    for orphan in result.overlay.get("orphans", []):
        if orphan["field"] in _ONLY_TESTERS_ADD and orphan["reason"] == _GONE:
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
        have = set(_lines(item, "test" if name == "tests" else name))
        return all(line in have for line in value)
    if name in ("query", "header", "path"):
        url = _url(item)
        entries = _parameters(
            {
                "query": url.get("query"),
                "path": url.get("variable"),
                "header": _request(item).get("header"),
            }[name]
        )
        return all(
            parameter in entries
            and ("value" not in change or entries[parameter][0][0] == change["value"])
            and ("disabled" not in change or entries[parameter][0][1] == change["disabled"])
            for parameter, change in value.items()
        )
    if name == "body":
        return _body(item) == value
    if name == "description":
        return str(value) in _text(_request(item).get("description"))
    if name == "examples":
        return all(e["name"] in _examples(item) for e in value)
    return False
