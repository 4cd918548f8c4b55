"""Publish generated collections to a Postman workspace: create once, then update the same
collection in place.

`publish` runs one plan: for each spec, convert it, compare the collection with what the state file
says was last published, and (unless nothing changed) fetch the collection from Postman, refuse when
a tester edited it there (unless forced; with `absorb`, those edits are first kept in the spec's
overlay and the collection generated again, so that it carries them), and send the new content with
every unchanged request's Postman id, so Postman updates those requests in place instead of deleting
and recreating them. The state file is written after every collection, so a batch stopped half-way
never creates a collection twice.
"""

from __future__ import annotations

import copy
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..diagnostics import Diagnostic, Severity
from ..settings import Settings
from .api import DEFAULT_API_URL, ApiError, CollectionTooLarge, PostmanApi
from .compare import Changes, changes, digest, entries
from .state import DEFAULT_STATE_FILE, Published, State, StateError, load_state, pack_collection

if TYPE_CHECKING:
    from ..pipeline import ConversionResult

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_STATE_FILE",
    "NoApiKey",
    "PostmanApi",
    "PublishAborted",
    "PublishJob",
    "PublishResult",
    "StateError",
    "load_state",
    "publish",
]


@dataclass(frozen=True)
class PublishJob:
    """One spec to publish: its file, its key in the state file (project-relative path), its
    settings, and where `convert` writes its collection."""

    spec: Path
    key: str
    settings: Settings
    # the file `convert` writes: a base for --absorb if the state has none
    collection_file: Path | None = None


@dataclass(frozen=True)
class PublishResult:
    """What happened to one spec. `outcome`: created, updated, unchanged, would-create,
    would-update, edited (refused: changed in Postman since the last publish), failed, bug."""

    spec: str
    outcome: str
    diagnostics: tuple[Diagnostic, ...] = ()
    details: tuple[
        str, ...
    ] = ()  # one line each: the requests added, removed, changed, edited, lost
    summary: str = ""
    bug: str | None = None
    absorbed: str = ""  # the overlay file edits made in Postman were (or would be) absorbed into

    @property
    def ok(self) -> bool:
        """Whether this spec ended as it should."""
        return self.outcome not in ("edited", "failed", "bug")


class PublishAborted(Exception):
    """Nothing can be published (the workspace cannot be read: wrong API key, unknown workspace)."""


class NoApiKey(PublishAborted):
    """A spec needs Postman and no API key was given (`make_api` raises it)."""


@dataclass
class _Run:
    workspace: str
    state: State
    make_api: Callable[[], PostmanApi]
    dry_run: bool
    force: bool
    absorb: bool = False
    api: PostmanApi | None = None
    workspace_uids: set[str] | None = None
    sent: list[str] = field(default_factory=list)

    def connect(self) -> PostmanApi:
        """The API client, the workspace checked on first use (a wrong key or workspace stops the
        run here)."""
        if self.api is None:
            self.api = self.make_api()
        if self.workspace_uids is None:
            try:
                found = self.api.workspace(self.workspace)
            except ApiError as exc:
                raise PublishAborted(f"cannot read workspace {self.workspace}: {exc}") from None
            self.workspace_uids = {
                str(c.get("uid")) for c in found.get("collections") or [] if isinstance(c, dict)
            }
        return self.api


def publish(
    jobs: Sequence[PublishJob],
    *,
    workspace: str,
    state: State,
    make_api: Callable[[], PostmanApi],
    dry_run: bool = False,
    force: bool = False,
    absorb: bool = False,
) -> Iterator[PublishResult]:
    """Publish each job's collection to `workspace`, in order; one result per job. `make_api` is
    called once, when the first spec needs Postman (a run where nothing changed needs no API key;
    with `absorb`, every published collection is fetched, to absorb edits made in Postman into the
    overlay before updating). PublishAborted when the workspace cannot be read."""
    run = _Run(workspace, state, make_api, dry_run, force, absorb)
    for job in jobs:
        try:
            yield _publish_one(run, job)
        except CollectionTooLarge as exc:
            yield _failed(
                job,
                "publish-too-large",
                str(exc),
                "split the spec (one per tag or path group), or generate smaller tests (--tests"
                " smoke in the settings file's overrides for this spec)",
            )
        except ApiError as exc:
            yield _failed(
                job,
                "publish-api-error",
                str(exc),
                "the other collections went on; run publish again to retry this one",
            )
        except StateError as exc:
            yield _failed(job, "publish-state", str(exc), "")
        except OSError as exc:
            yield _failed(
                job, "publish-state", f"cannot write the publish state {run.state.path}: {exc}", ""
            )
        except PublishAborted:
            raise
        except Exception:
            yield PublishResult(str(job.spec), "bug", bug=traceback.format_exc())


def _failed(job: PublishJob, code: str, message: str, hint: str) -> PublishResult:
    return PublishResult(
        str(job.spec),
        "failed",
        (Diagnostic(Severity.ERROR, code, message, file=str(job.spec), hint=hint),),
    )


def _publish_one(run: _Run, job: PublishJob) -> PublishResult:
    from ..pipeline import convert_file

    result = convert_file(job.spec, job.settings)
    if result.collection is None or not result.succeeded(strict=job.settings.strict):
        return PublishResult(str(job.spec), "failed", result.diagnostics)
    generated = result.collection
    diagnostics = tuple(result.diagnostics)
    name = str(generated.get("info", {}).get("name", ""))
    new = entries(generated)
    whole = digest(generated)
    published = run.state.get(run.workspace, job.key)
    spec = str(job.spec)
    if published is not None and published.digest == whole and not run.absorb:
        return PublishResult(
            spec, "unchanged", diagnostics, summary=f"unchanged (collection {published.uid})"
        )
    if published is None:
        requests = sum(1 for e in new.values() if e.key != "(collection)")
        if run.dry_run:
            return PublishResult(
                spec,
                "would-create",
                diagnostics,
                tuple(f"+ {e.label}" for e in new.values() if e.key != "(collection)"),
                f"would create collection {name!r} with {requests} requests and folders",
            )
        api = run.connect()
        uid = api.create(run.workspace, outgoing(generated, {}, {}))
        assert run.workspace_uids is not None
        run.workspace_uids.add(uid)
        # recorded at once: should the run stop before the next line, the next run updates this
        # collection
        run.state.put(run.workspace, job.key, Published(uid, name, ""))
        _record(run, job.key, uid, name, whole, generated, api.collection(uid))
        return PublishResult(
            spec,
            "created",
            diagnostics,
            summary=(
                f"created collection {name!r} ({uid}) in "
                f"workspace {run.workspace}: {requests} requests and folders"
            ),
        )
    api = run.connect()
    assert run.workspace_uids is not None
    if published.uid not in run.workspace_uids:
        return _failed(
            job,
            "publish-not-in-workspace",
            f"the publish state {run.state.path} says this spec's collection is {published.uid}, "
            f"which is not in workspace {run.workspace}",
            "was it deleted or moved in Postman? remove this spec's entry from the state file to "
            "create the collection anew",
        )
    current = api.collection(published.uid)
    spec_changes = changes(published.known(), new)
    details = [*spec_changes.lines()]
    edits = Changes()
    if published.digest:  # "" : a create whose end was not recorded; nobody edited it since
        by_postman_id = {postman_id: key for key, postman_id in published.postman_ids().items()}
        edits = changes(published.known(), entries(current, by_postman_id))
    if published.digest == whole and not edits:  # reached with --absorb only
        return PublishResult(
            spec,
            "unchanged",
            diagnostics,
            summary=f"unchanged (collection {published.uid}; no edits in Postman)",
        )
    if edits and run.absorb:
        return _absorb_then_update(run, job, published, current, result, edits, spec_changes)
    if edits and not run.force:
        return PublishResult(
            spec,
            "edited",
            diagnostics,
            tuple(_edit_lines(edits)),
            f"not published: edited in Postman since the last publish ({edits.counts()}); "
            "publish with --absorb to keep them in the spec's overlay, or with --force to "
            "overwrite them",
        )
    lost = [f"lost: {line[2:]}" for line in _edit_lines(edits)] if edits else []
    if run.dry_run:
        return PublishResult(
            spec,
            "would-update",
            diagnostics,
            tuple(details + lost),
            f"would update collection {published.uid}: {spec_changes.counts()}"
            + (f"; would overwrite {len(lost)} edit(s) made in Postman" if lost else ""),
        )
    return _update(
        run,
        job,
        published,
        current,
        generated,
        whole,
        diagnostics,
        details + lost,
        "",
        spec_changes,
        suffix=f"; overwrote {len(lost)} edit(s) made in Postman (--force)" if lost else "",
    )


def _update(
    run: _Run,
    job: PublishJob,
    published: Published,
    current: dict[str, Any],
    generated: dict[str, Any],
    whole: str,
    diagnostics: tuple[Diagnostic, ...],
    details: list[str],
    prefix: str,
    spec_changes: Changes,
    *,
    suffix: str = "",
    absorbed: str = "",
) -> PublishResult:
    """Send `generated` over the collection in Postman, each item with the id it has there; record
    it."""
    assert run.api is not None
    present = {str(i) for i in _ids(current.get("item") or [])}
    ids = {k: v for k, v in published.postman_ids().items() if v in present}
    responses = {k: v for k, v in published.responses.items() if v in present}
    # requests and examples added in Postman, now from the overlay: they keep Postman's ids
    if absorbed:
        ours = set(published.postman_ids().values()) | set(published.responses.values())
        found_ids, found_responses = match_ids(
            generated.get("item") or [], current.get("item") or []
        )
        ids.update({k: v for k, v in found_ids.items() if k not in ids and v not in ours})
        responses.update(
            {k: v for k, v in found_responses.items() if k not in responses and v not in ours}
        )
    run.api.update(published.uid, outgoing(generated, ids, responses))
    name = str(generated.get("info", {}).get("name", ""))
    _record(run, job.key, published.uid, name, whole, generated, run.api.collection(published.uid))
    kept = sum(1 for key in entries(generated) if key in ids)
    return PublishResult(
        str(job.spec),
        "updated",
        diagnostics,
        tuple(details),
        f"{prefix}updated collection {published.uid}: {spec_changes.counts()}; {kept} item ids kept"
        + suffix,
        absorbed=absorbed,
    )


def _absorb_then_update(
    run: _Run,
    job: PublishJob,
    published: Published,
    current: dict[str, Any],
    result: ConversionResult,
    edits: Changes,
    spec_changes: Changes,
) -> PublishResult:
    """`--absorb`: the edits made in Postman kept in the spec's overlay, the collection generated
    again with them and sent; a refusal when the collection as last published is not at hand."""
    from ..pipeline import convert_file
    from .absorbing import absorb_postman_edits

    spec = str(job.spec)
    diagnostics = tuple(result.diagnostics)
    absorbed = absorb_postman_edits(
        job.spec,
        job.settings,
        published,
        current,
        result,
        write=not run.dry_run,
        collection_file=job.collection_file,
    )
    verb = "would absorb" if run.dry_run else "absorbed"
    lines = (
        [f"{verb}: {label} (edited in Postman)" for label in edits.changed]
        + [f"{verb}: {label} (added in Postman)" for label in edits.added]
        + [
            f"not absorbed: {label} (deleted in Postman; an overlay only adds, generation brings it"
            " back)"
            for label in edits.removed
        ]
    )
    if absorbed.refusal:
        hint = (
            "export the collection from Postman and run `kpn-collections absorb` with --base (the"
            " collection as last published, e.g. from git history), or publish with --force to"
            " overwrite the edits"
            if absorbed.code == "publish-no-base"
            else ""
        )
        refusal = Diagnostic(
            Severity.ERROR,
            absorbed.code,
            "cannot absorb the edits made in Postman: "
            f"{absorbed.refusal}; nothing absorbed, nothing published",
            file=spec,
            hint=hint,
        )
        return PublishResult(
            spec,
            "edited",
            diagnostics + absorbed.problems + (refusal,),
            tuple(_edit_lines(edits)),
            f"not published: edited in Postman since the last publish ({edits.counts()})",
        )
    diagnostics += absorbed.problems
    if run.dry_run:
        return PublishResult(
            spec,
            "would-update",
            diagnostics,
            tuple(lines + spec_changes.lines()),
            f"would absorb the edits made in Postman ({edits.counts()}) into "
            f"{absorbed.overlay}, then update collection {published.uid}",
            absorbed=str(absorbed.overlay),
        )
    generated = result.collection
    if absorbed.changed:  # generate again: the collection sent carries the edits
        result = convert_file(job.spec, job.settings)
        if result.collection is None or not result.succeeded(strict=job.settings.strict):
            return PublishResult(
                spec,
                "failed",
                result.diagnostics + absorbed.problems,
                tuple(lines),
                f"absorbed the edits into {absorbed.overlay}, which the spec then failed to "
                "convert with; not published",
                absorbed=str(absorbed.overlay),
            )
        generated = result.collection
        diagnostics = tuple(result.diagnostics) + absorbed.problems
        spec_changes = changes(published.known(), entries(generated))
    assert generated is not None
    note = (
        f"absorbed the edits made in Postman into {absorbed.overlay} (commit it with the publish"
        " state)"
        if absorbed.changed
        else f"nothing new to absorb into {absorbed.overlay}"
    )
    return _update(
        run,
        job,
        published,
        current,
        generated,
        digest(generated),
        diagnostics,
        lines + spec_changes.lines(),
        f"{note}; ",
        spec_changes,
        absorbed=str(absorbed.overlay),
    )


def _edit_lines(edits: Changes) -> list[str]:
    return (
        [f"~ {label} (edited in Postman)" for label in edits.changed]
        + [f"+ {label} (added in Postman)" for label in edits.added]
        + [f"- {label} (deleted in Postman)" for label in edits.removed]
    )


def _record(
    run: _Run,
    key: str,
    uid: str,
    name: str,
    whole: str,
    generated: dict[str, Any],
    fetched: dict[str, Any],
) -> None:
    """Write what was just published, with the ids Postman gave each item and saved example."""
    item_ids, response_ids = match_ids(generated.get("item") or [], fetched.get("item") or [])
    items = {
        e.key: {"id": item_ids.get(e.key, ""), "label": e.label, "digest": e.digest}
        for e in entries(generated).values()
    }
    run.state.put(
        run.workspace,
        key,
        Published(uid, name, whole, items, response_ids, pack_collection(generated)),
    )


def outgoing(
    generated: dict[str, Any], ids: dict[str, str], responses: dict[str, str]
) -> dict[str, Any]:
    """The collection as sent: each item and saved example with the Postman id it has in this
    collection (`ids`, `responses`: generated id -> Postman's) or none (Postman gives it one); no
    other ids, since the generated ones are the same in every workspace and Postman refuses ids of
    another collection."""
    collection = copy.deepcopy(generated)
    collection.get("info", {}).pop("_postman_id", None)
    _strip_script_ids(collection)
    _carry(collection.get("item") or [], ids, responses)
    return collection


def _carry(items: list[Any], ids: dict[str, str], responses: dict[str, str]) -> None:
    for item in items:
        own = item.pop("id", None)
        if own in ids:
            item["id"] = ids[own]
        _strip_script_ids(item)
        for response in item.get("response") or []:
            example = response.pop("id", None)
            if example in responses:
                response["id"] = responses[example]
        _carry(item.get("item") or [], ids, responses)


def _strip_script_ids(holder: dict[str, Any]) -> None:
    for event in holder.get("event") or []:
        if isinstance(event.get("script"), dict):
            event["script"].pop("id", None)


def _ids(items: list[Any]) -> Iterator[str]:
    for item in items:
        if isinstance(item, dict):
            yield str(item.get("id", ""))
            yield from (
                str(r.get("id", "")) for r in item.get("response") or [] if isinstance(r, dict)
            )
            yield from _ids(item.get("item") or [])


def match_ids(generated: list[Any], fetched: list[Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Generated id -> Postman id, for items and for saved examples, from a collection as sent and
    as Postman gave it back right after: siblings matched by name (in order, for equal names), saved
    examples by position within their request."""
    item_ids: dict[str, str] = {}
    response_ids: dict[str, str] = {}
    unused = [f for f in fetched if isinstance(f, dict)]
    for ours in generated:
        theirs = next((f for f in unused if f.get("name") == ours.get("name")), None)
        if theirs is None:
            continue
        unused.remove(theirs)
        if ours.get("id") and theirs.get("id"):
            item_ids[str(ours["id"])] = str(theirs["id"])
        for mine, postman in zip(
            ours.get("response") or [], theirs.get("response") or [], strict=False
        ):
            if mine.get("id") and isinstance(postman, dict) and postman.get("id"):
                response_ids[str(mine["id"])] = str(postman["id"])
        sub_items, sub_responses = match_ids(ours.get("item") or [], theirs.get("item") or [])
        item_ids.update(sub_items)
        response_ids.update(sub_responses)
    return item_ids, response_ids
