"""Credentials: recognise secret-looking values, so that none reaches a collection's variables or
scripts.

A collection is shared (committed, exported, sent to colleagues); the secrets its requests need live
in Postman or newman (`--env-var client_secret=...`), never in the file. Three lines of defence use
this module: the spec is scanned and each credential-looking value is a located warning
(`find_in_document`); values the converter copies into variables are cleaned
(`strip_url_credentials`, `secret_kind`); and the finished collection's variables and scripts are
swept once more (`find_in_collection`), so anything that slipped through fails the conversion
instead of being written.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .diagnostics import pointer_join

CREDENTIAL_VARIABLES = ("client_secret", "access_token")
"""Collection variables whose value must stay empty in a file on disk (`convert --check` enforces
it)."""

CONTRACT_SCHEMAS = "contract_schemas"
"""The collection variable holding the contract tests' JSON Schemas (contract_tests.py): data a
script reads, never part of a URL."""


@dataclass(frozen=True)
class _Shape:
    """A credential's shape: what it is called, a regex that finds it, and `may_match`, a test of
    the literal text every match contains (plain substring searches, ten times quicker than the
    regex over the megabytes of text a big definition has; most strings contain none)."""

    kind: str
    pattern: re.Pattern[str]
    may_match: Callable[[str], bool]


def _names_a_scheme(value: str) -> bool:
    lowered = value.lower()
    return "bearer" in lowered or "basic" in lowered


def _has_a_key_prefix(value: str) -> bool:
    return (
        "AKIA" in value
        or "AIza" in value
        or "sk_live_" in value
        or "xox" in value
        or ("gh" in value and _GITHUB_TOKEN_PREFIX.search(value) is not None)
    )


_GITHUB_TOKEN_PREFIX = re.compile("gh[pousr]_")


_SHAPES: tuple[_Shape, ...] = (
    _Shape(
        "a JSON Web Token",
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
        lambda value: "eyJ" in value,
    ),
    _Shape(
        "a private key",
        re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----"),
        lambda value: "-----BEGIN" in value,
    ),
    _Shape(
        "bearer or basic credentials",
        re.compile(r"\b(?ai:bearer|basic)\s+[A-Za-z0-9._~+/=-]{20,}"),  # ASCII, any case (RFC 9110)
        _names_a_scheme,
    ),
    _Shape(
        "a user name and password in a URL",
        re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/@\s:?#]+:[^/@\s?#]+@"),
        lambda value: "://" in value and "@" in value,
    ),
    _Shape(
        "a credential in a URL query",
        re.compile(
            r"[?&](?i:client_secret|access_token|refresh_token|api_?key|password|token)"
            r"=(?!\{\{)[^&#\s]{6,}"
        ),
        lambda value: "=" in value,
    ),
    _Shape(
        "an access key",
        re.compile(
            r"\b(?:gh[pousr]_[A-Za-z0-9]{36}|xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}"
            r"|sk_live_[A-Za-z0-9]{16,}|AIza[0-9A-Za-z_-]{35})\b"
        ),
        _has_a_key_prefix,
    ),
)
"""The shapes of credentials, in the order `secret_kind` names them. A new shape needs a
`may_match` that every match passes (a test draws matches from each pattern to check it)."""

_CREDENTIAL_KEY = re.compile(
    r"(?i)^(?:client[-_]?secret|access[-_]?token|refresh[-_]?token|id[-_]?token)$"
)
"""OAuth credential names: a value under one is a secret (other names, `password`, `apiKey`, usually
hold made-up example data; a real token there is still caught by its shape)."""

_URL_CREDENTIAL_KEY = re.compile(
    r"(?i)^(?:client_secret|access_token|refresh_token|api_?key|password|token)$"
)

_PLACEHOLDER = re.compile(
    r"(?i)^(?:string|\*+|x+|\.+|<[^>]*>|\{\{[^}]*\}\}|\$\{[^}]*\}|your[-_ ].*|.*example.*"
    r"|changeme|secret|password|token|null|none|redacted|bearer|basic)$"
)


def secret_kind(value: str) -> str | None:
    """What credential `value` looks like ("a JSON Web Token", ...), or None."""
    for shape in _SHAPES:
        if shape.may_match(value) and shape.pattern.search(value):
            return shape.kind
    return None


def credential_by_name(key: str, value: Any) -> bool:
    """A value under a credential's name (`client_secret: s3cr3t-v4lue`) that is not a
    placeholder."""
    return (
        isinstance(value, str)
        and len(value) >= 8
        and _CREDENTIAL_KEY.match(key) is not None
        and _PLACEHOLDER.match(value.strip()) is None
    )


_CREDENTIAL_REFERENCE = re.compile(
    r"(?i)\{\{\s*([^{}]*?(?:secret|passw|token|api[-_]?key)[^{}]*?)\s*\}\}"
)
"""A Postman variable reference to a credential (`{{client_secret}}`): in request data, Postman
would send the secret to the API instead of only to the token endpoint."""


_URL_TEMPLATE = re.compile(r"\{\{?\s*([^{}]*?)\s*\}\}?")
"""A variable reference in a URL: Postman's `{{name}}`, or an OpenAPI server variable's `{name}`."""

_URL_TEMPLATE_KEYS = frozenset(
    {"url", "host", "basePath", "tokenUrl", "refreshUrl", "authorizationUrl"}
)
"""Keys whose text is a server or token URL (a `url` only under `servers`), where a `{name}` becomes
part of `baseUrl` or `tokenUrl`."""


def is_credential_name(name: str) -> bool:
    """Whether a variable name stands for a credential (`client_secret`, `access_token`, `api_key`,
    ...); the collection's own `tokenUrl` and `access_token_expires_at` are no credentials."""
    return (
        re.search(r"(?i)secret|passw|token|api[-_]?key|credential", name) is not None
        and re.search(r"(?i)url|uri|expires", name) is None
    )


def credential_references(text: str) -> list[str]:
    """The credential variables `text` refers to as `{{name}}` or `{name}`, in order."""
    if "{" not in text:
        return []
    return [m.group(0) for m in _URL_TEMPLATE.finditer(text) if is_credential_name(m.group(1))]


def looks_secret(key: str) -> bool:
    """Whether a field name suggests a credential: the wide net used around the token endpoint (its
    request and response examples), where every such value is one."""
    return bool(
        re.search(r"secret|password|passwd|assertion|token|key|credential", key, re.IGNORECASE)
    )


def redact_secrets(value: Any) -> Any:
    """A copy of token-endpoint example data with the values of secret-looking keys (`looks_secret`)
    emptied; other example data goes through the narrower `without_credentials`."""
    if isinstance(value, dict):
        return {
            k: "" if looks_secret(str(k)) and not isinstance(v, (dict, list)) else redact_secrets(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_secrets(v) for v in value]
    return value


def without_credentials(value: Any, key: str = "") -> Any:
    """Example data with every credential-looking string (by shape, by an OAuth credential's name,
    or a `{{client_secret}}`-style reference) emptied, and such references in keys unwrapped; other
    values unchanged (the same object when nothing was found)."""
    if isinstance(value, str):
        return "" if _credential_text(value, key) else value
    if isinstance(value, dict):
        cleaned: dict[str, Any] = {}
        for key_text, item in value.items():
            cleaned.setdefault(defuse(str(key_text)), without_credentials(item, str(key_text)))
        if list(cleaned) == list(value) and all(cleaned[k] is value[k] for k in value):
            return value
        return cleaned
    if isinstance(value, list):
        items = [without_credentials(v, key) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


@functools.lru_cache(maxsize=1 << 16)
def _credential_text(value: str, key: str) -> bool:
    """Whether example text is a credential (by shape, under an OAuth credential's name, or a
    reference to a credential variable); remembered, since the same examples recur in many
    responses."""
    return bool(
        secret_kind(value) or credential_by_name(key, value) or _CREDENTIAL_REFERENCE.search(value)
    )


def defuse(name: str) -> str:
    """A name (of a parameter, a field) with credential references unwrapped: `{{client_secret}}` ->
    `client_secret`, which Postman sends as it is."""
    return _CREDENTIAL_REFERENCE.sub(lambda match: match.group(1), name) if "{{" in name else name


def strip_url_credentials(url: str) -> tuple[str, bool]:
    """(url without user:password, secret query parameters and references to credential variables
    such as `{{client_secret}}` or `{access_token}`, whether anything was removed)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, False
    netloc, path, fragment, removed = parts.netloc, parts.path, parts.fragment, False
    if "@" in netloc:
        netloc, removed = netloc.rsplit("@", 1)[1], True
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [
            (k, v)
            for k, v in pairs
            if not credential_references(f"{k}={v}")
            and (not _URL_CREDENTIAL_KEY.match(k) or v.startswith("{{"))
        ]
        if len(kept) != len(pairs):
            query, removed = urlencode(kept, safe="{}"), True
    if credential_references(netloc + path + fragment):  # Postman would send the secret to this URL
        netloc, path, fragment = (
            _without_credential_references(text) for text in (netloc, path, fragment)
        )
        removed = True
    if not removed:
        return url, False
    return urlunsplit((parts.scheme, netloc, path, query, fragment)), True


def _without_credential_references(text: str) -> str:
    return _URL_TEMPLATE.sub(lambda m: "" if is_credential_name(m.group(1)) else m.group(0), text)


REDACTED = "[redacted]"
"""What stands in a description for a credential found there."""

_PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----(?:.*?-----END (?:[A-Z]+ )*PRIVATE KEY-----|.*)",
    re.DOTALL,
)


@functools.lru_cache(maxsize=1 << 14)
def redact_text(text: str) -> str:
    """Text (a description, a name) with each part that looks like a credential (`secret_kind`)
    replaced by `[redacted]`: `Authorization: Bearer eyJ...` in a curl example becomes
    `Authorization: Bearer [redacted]`."""
    if secret_kind(text) is None:
        return text
    text = _PRIVATE_KEY_BLOCK.sub(REDACTED, text)
    for shape in _SHAPES:
        text = shape.pattern.sub(_redaction, text)
    return text


def _redaction(match: re.Match[str]) -> str:
    """What replaces one credential: the secret part only (the scheme, the parameter name, `Bearer`
    stay)."""
    found = match.group(0)
    if found.endswith("@") and "://" in found:  # user:password@ in a URL: left out
        return found[: found.index("://") + 3]
    if found[0] in "?&":  # ?client_secret=value: the value left out
        return found.split("=", 1)[0] + "="
    if found[:6].lower() in ("bearer", "basic "):
        return found.split(None, 1)[0] + " " + REDACTED
    return REDACTED


def redact_descriptions(node: Any) -> None:
    """Redact credentials (`redact_text`) in place in every `description` and `name` of a
    collection: the text taken from the definition's descriptions, summaries and code samples
    (scripts and variable values are swept separately, request data is cleaned where it is made; a
    saved response's `originalRequest` shares its parts with the request, redacted already)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str):
                if key in ("description", "name") and value:
                    node[key] = redact_text(value)
            elif key not in ("event", "originalRequest") and isinstance(value, (dict, list)):
                redact_descriptions(value)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, (dict, list)):
                redact_descriptions(item)


def find_in_document(document: Any) -> Iterator[tuple[str, str]]:
    """(JSON pointer, what it looks like) for every credential-looking value in an API definition,
    in document order. Each distinct text and key is judged once (descriptions, examples and names
    recur), and pointers are built only for what is found: on a big API description this walk visits
    a million values."""
    found: list[tuple[str, str]] = []
    path: list[str | int] = []
    shapes: dict[str, str | None] = {}
    credential_keys: dict[str, bool] = {}

    def judge(value: str, key: str, token: str | int | None) -> None:
        if value in shapes:
            kind = shapes[value]
        else:
            kind = shapes[value] = secret_kind(value)
        if kind is None:
            if key not in credential_keys:
                credential_keys[key] = _CREDENTIAL_KEY.match(key) is not None
            if credential_keys[key] and credential_by_name(key, value):
                kind = f"a value for `{key}`"
            elif "{{" in value and _CREDENTIAL_REFERENCE.search(value):
                kind = "a reference to a Postman credential variable"
            elif (
                key in _URL_TEMPLATE_KEYS
                and (key != "url" or "servers" in path)
                and credential_references(value)
            ):
                kind = "a reference to a credential variable in a URL"
        if kind is not None:
            found.append(
                (pointer_join(*path) if token is None else pointer_join(*path, token), kind)
            )

    def walk(value: Any, key: str) -> None:  # text is judged here, without a call per value
        items = value.items() if isinstance(value, dict) else enumerate(value)
        is_mapping = isinstance(value, dict)
        for token, child in items:
            child_key = str(token) if is_mapping else key
            if isinstance(child, str):
                if len(child) >= 8 or "{" in child:  # shorter text is no credential
                    judge(child, child_key, token)
            elif isinstance(child, (dict, list)):
                path.append(token)
                walk(child, child_key)
                path.pop()

    if isinstance(document, (dict, list)):
        walk(document, "")
    elif isinstance(document, str) and (len(document) >= 8 or "{{" in document):
        judge(document, "", None)
    return iter(found)


def find_in_collection(collection: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(JSON pointer, what it looks like) for every credential-looking text in a collection's
    variables (values and descriptions) and scripts (the places a shared file must never carry a
    secret)."""
    for index, variable in enumerate(_list(collection.get("variable"))):
        if not isinstance(variable, dict):
            continue
        for field in ("value", "description"):
            text = variable.get(field)
            if isinstance(text, str):
                kind = secret_kind(text) or (
                    f"a value for `{variable.get('key')}`"
                    if field == "value" and text and variable.get("key") in CREDENTIAL_VARIABLES
                    else None
                )
                if (
                    kind is None
                    and field == "value"
                    and variable.get("key") != CONTRACT_SCHEMAS
                    and "{{" in text
                    and any(r.startswith("{{") for r in credential_references(text))
                ):
                    kind = (  # Postman would send the secret to this URL
                        "a reference to a credential variable"
                    )
                if kind:
                    yield pointer_join("variable", index, field), kind
    yield from _scripts(collection, "", {})


def _scripts(
    node: dict[str, Any], pointer: str, seen: dict[str, str | None]
) -> Iterator[tuple[str, str]]:
    """Script lines with a credential's shape; `seen` remembers each distinct line's answer (the
    same template lines recur in every request)."""
    for index, event in enumerate(_list(node.get("event"))):
        script = event.get("script") if isinstance(event, dict) else None
        lines = (script.get("exec") if isinstance(script, dict) else None) or []
        for number, line in enumerate(lines if isinstance(lines, list) else [lines]):
            if not isinstance(line, str):
                continue
            if line in seen:
                kind = seen[line]
            else:
                kind = seen[line] = secret_kind(line)
            if kind:
                yield pointer + pointer_join("event", index, "script", "exec", number), kind
    for index, item in enumerate(_list(node.get("item"))):
        if isinstance(item, dict):
            yield from _scripts(item, pointer + pointer_join("item", index), seen)


def _list(value: Any) -> list[Any]:
    """A list from a collection, which may be a file edited by hand: anything else counts as
    empty."""
    return value if isinstance(value, list) else []
