"""Security schemes -> Postman auth objects, using collection variables that are always declared."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..model import Api, SecurityRequirement, SecurityScheme

ACCESS_TOKEN = "access_token"
"""The collection variable that holds the bearer token for OAuth2 and http bearer schemes."""

NOAUTH: dict[str, object] = {"type": "noauth"}


@dataclass(frozen=True)
class AuthVariable:
    """A collection variable an auth object refers to; declared with an empty value."""

    key: str
    description: str


@dataclass(frozen=True)
class MappedAuth:
    """A Postman auth object and what else the request needs (extra API-key headers or query
    parameters)."""

    auth: dict[str, object]
    variables: tuple[AuthVariable, ...] = ()
    extra_headers: tuple[tuple[str, str], ...] = ()
    extra_query: tuple[tuple[str, str], ...] = ()


def _variable_name(scheme: SecurityScheme, suffix: str) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "_", scheme.key)
    return f"{base}{suffix}"


def _attribute(key: str, value: str) -> dict[str, str]:
    return {"key": key, "value": value, "type": "string"}


def map_scheme(scheme: SecurityScheme) -> MappedAuth | None:
    """The Postman auth for one scheme, or None for schemes Postman cannot express (mutual TLS)."""
    if scheme.type in ("oauth2", "openIdConnect") or (
        scheme.type == "http" and scheme.scheme == "bearer"
    ):
        return MappedAuth(
            {"type": "bearer", "bearer": [_attribute("token", "{{" + ACCESS_TOKEN + "}}")]},
            (
                AuthVariable(
                    ACCESS_TOKEN,
                    "Bearer token sent with every request (filled in by the token request).",
                ),
            ),
        )
    if scheme.type == "http" and scheme.scheme == "basic":
        user, password = _variable_name(scheme, "_username"), _variable_name(scheme, "_password")
        return MappedAuth(
            {
                "type": "basic",
                "basic": [
                    _attribute("username", "{{" + user + "}}"),
                    _attribute("password", "{{" + password + "}}"),
                ],
            },
            (
                AuthVariable(user, f"User name for HTTP basic auth ({scheme.key})."),
                AuthVariable(
                    password,
                    f"Password for HTTP basic auth ({scheme.key}); never stored in the file.",
                ),
            ),
        )
    if scheme.type == "apiKey" and scheme.param_name:
        variable = _variable_name(scheme, "")
        declared = (
            AuthVariable(
                variable, f"API key sent as {scheme.location} {scheme.param_name!r} ({scheme.key})."
            ),
        )
        if scheme.location == "cookie":
            return MappedAuth(
                NOAUTH,
                declared,
                extra_headers=(("Cookie", f"{scheme.param_name}={{{{{variable}}}}}"),),
            )
        return MappedAuth(
            {
                "type": "apikey",
                "apikey": [
                    _attribute("key", scheme.param_name),
                    _attribute("value", "{{" + variable + "}}"),
                    _attribute("in", "query" if scheme.location == "query" else "header"),
                ],
            },
            declared,
        )
    if scheme.type == "http":  # digest and other HTTP schemes: send the credentials as-is
        return MappedAuth(
            NOAUTH, (), extra_headers=(("Authorization", f"{scheme.scheme.title()} <credentials>"),)
        )
    return None


def map_requirements(api: Api, requirements: tuple[SecurityRequirement, ...]) -> MappedAuth:
    """Postman auth for a security requirement list: the first alternative Postman can express."""
    if not requirements:
        return MappedAuth(NOAUTH)
    for alternative in requirements:
        if not alternative:
            return MappedAuth(NOAUTH)  # `{}`: anonymous access is allowed
        mapped = [m for m in (map_scheme(s) for s in _schemes(api, alternative)) if m is not None]
        if not mapped:
            continue
        primary = next((m for m in mapped if m.auth["type"] != "noauth"), mapped[0])
        headers: list[tuple[str, str]] = list(primary.extra_headers)
        query: list[tuple[str, str]] = list(primary.extra_query)
        variables = list(primary.variables)
        for other in mapped:  # schemes required together: the others travel as plain headers/query
            if other is primary:
                continue
            variables.extend(other.variables)
            headers.extend(other.extra_headers)
            auth = other.auth
            if auth["type"] == "apikey":
                attributes = {a["key"]: a["value"] for a in auth["apikey"]}  # type: ignore[attr-defined]
                target = query if attributes["in"] == "query" else headers
                target.append((attributes["key"], attributes["value"]))
        return MappedAuth(primary.auth, tuple(variables), tuple(headers), tuple(query))
    return MappedAuth(NOAUTH)


def _schemes(api: Api, alternative: SecurityRequirement) -> list[SecurityScheme]:
    return [s for s in (api.scheme(name) for name, _ in alternative) if s is not None]
