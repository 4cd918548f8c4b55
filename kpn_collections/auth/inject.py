"""Inject-auth stage: decide how the collection gets its bearer token, and apply that to the Api.

The rules, in order (`--auth-mode` forces one):
1. the definition has an OAuth2 client-credentials scheme: use it (its token URL, `scopes`
   repaired);
2. it declares HTTP bearer security and has its own token operation (a POST `.../token`): the token
   request calls that operation (kpn-match, kpn-fiam);
3. it has no security at all, only OAuth2 flows of other kinds, or bearer without a token operation:
   add KPN's client-credentials scheme (the KPN default token URL) and apply it where nothing else
   applies;
4. it is secured only by API keys or basic auth: keep that as it is, without a token request.
`patch_document` applies the same plan to the raw definition for `kpn-collections inject`.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from ..build.examples import ExampleGenerator
from ..credentials import looks_secret, secret_kind, strip_url_credentials
from ..diagnostics import Diagnostics
from ..model import MISSING, Api, OAuthFlow, Operation, SecurityScheme, SpecVersion, TokenRequest
from ..settings import KPN_TOKEN_URL, Settings

DEFAULT_SCHEME_KEY = "kpnClientCredentials"
CLIENT_ID = "client_id"
CLIENT_SECRET = "client_secret"
_TOKEN_SEGMENT = re.compile(r"^(?:oauth2?[-_]?)?(?:access[-_]?)?token$", re.IGNORECASE)
_CREDENTIAL_FIELDS = (CLIENT_ID, CLIENT_SECRET)


@dataclass(frozen=True)
class AuthPlan:
    """What inject-auth decided: the mode, the scheme to use and the token request (None for
    `spec`)."""

    mode: str  # client-credentials, token-operation or spec
    scheme_key: str = ""
    token_url: str = ""
    # the definition has no global security: make the scheme the default
    apply_globally: bool = False
    token_operation: Operation | None = None
    reason: str = ""


def inject_auth(api: Api, settings: Settings, diagnostics: Diagnostics) -> Api:
    """Return the Api with the planned client-credentials or token-operation auth applied."""
    plan = plan_auth(api, settings, diagnostics)
    api = apply_plan(api, plan)
    if api.token_request is not None:
        url, removed = strip_url_credentials(api.token_request.url)
        if removed and settings.token_url:
            diagnostics.warning(
                "secret-in-settings",
                "the URL given with --token-url / token-url carries "
                "credentials; they are left out of the collection",
                hint="pass credentials to Postman or newman as variables, never in a URL",
            )
        api = dataclasses.replace(
            api, token_request=dataclasses.replace(api.token_request, url=url)
        )
    return api


def plan_auth(api: Api, settings: Settings, diagnostics: Diagnostics) -> AuthPlan:
    """Choose how tokens are obtained; the choice and its reason are reported as an info
    diagnostic."""
    plan = _choose(api, settings, diagnostics)
    if settings.token_url:  # also written into the definition by `inject`: never with credentials
        url, removed = strip_url_credentials(plan.token_url)
        if removed:
            diagnostics.warning(
                "secret-in-settings",
                "the URL given with --token-url / token-url carries credentials; they are left out",
                hint="pass credentials to Postman or newman as variables, never in a URL",
            )
            plan = dataclasses.replace(plan, token_url=url)
    if plan.reason:
        diagnostics.info(
            "auth-choice",
            f"token flow: {plan.mode} ({plan.reason})",
            hint="force another choice with --auth-mode",
        )
    return plan


def _choose(api: Api, settings: Settings, diagnostics: Diagnostics) -> AuthPlan:
    mode = settings.auth_mode
    cc_scheme = next(
        (s for s in api.security_schemes if s.type == "oauth2" and s.flow("clientCredentials")),
        None,
    )
    token_operation = find_token_operation(api)
    schemes_in_use = _schemes_in_use(api)
    if mode == "spec":
        return AuthPlan("spec", reason="--auth-mode spec: the definition's own security only")
    if mode == "token-operation" or (
        mode == "auto"
        and cc_scheme is None
        and token_operation is not None
        and all(s.type == "http" and s.scheme == "bearer" for s in schemes_in_use)
    ):
        if token_operation is None:
            diagnostics.error(
                "no-token-operation",
                "--auth-mode token-operation, but the definition has no "
                "token operation (a POST to a path ending in /token)",
                hint="use --auth-mode client-credentials or auto",
            )
            return AuthPlan("spec", reason="no token operation")
        bearer = next(
            (s for s in schemes_in_use if s.type == "http" and s.scheme == "bearer"), None
        ) or next(
            (s for s in api.security_schemes if s.type == "http" and s.scheme == "bearer"), None
        )
        return AuthPlan(
            "token-operation",
            scheme_key=bearer.key if bearer else "",
            token_url=settings.token_url or "{{baseUrl}}" + token_operation.path,
            apply_globally=not api.security and bearer is not None,
            token_operation=token_operation,
            reason=(
                f"the API issues its own tokens at {token_operation.method.upper()}"
                f" {token_operation.path}"
            ),
        )
    if (
        mode == "auto"
        and cc_scheme is None
        and schemes_in_use
        and all(
            s.type in ("apiKey", "http") and not (s.type == "http" and s.scheme == "bearer")
            for s in schemes_in_use
        )
    ):
        return AuthPlan(
            "spec",
            reason="the definition is secured by "
            + ", ".join(sorted({f"{s.type} {s.scheme}".strip() for s in schemes_in_use}))
            + " only",
        )
    if cc_scheme is not None:
        flow = cc_scheme.flow("clientCredentials")
        assert flow is not None
        url = settings.token_url or flow.token_url or KPN_TOKEN_URL
        return AuthPlan(
            "client-credentials",
            scheme_key=cc_scheme.key,
            token_url=url,
            apply_globally=not api.security,
            reason=(
                f"the definition's OAuth2 scheme {cc_scheme.key!r} has a client-credentials flow"
            ),
        )
    other_oauth = next((s for s in api.security_schemes if s.type == "oauth2"), None)
    key = other_oauth.key if other_oauth else _free_key(api, DEFAULT_SCHEME_KEY)
    reason = (
        f"OAuth2 scheme {key!r} gets a client-credentials flow"
        if other_oauth
        else "no client-credentials scheme in the definition: KPN's is added"
    )
    return AuthPlan(
        "client-credentials",
        scheme_key=key,
        token_url=settings.token_url or KPN_TOKEN_URL,
        apply_globally=not api.security or mode == "client-credentials",
        reason=reason,
    )


def find_token_operation(api: Api) -> Operation | None:
    """The API's own token endpoint: a POST whose last path segment is `token` (or `accesstoken`,
    ...)."""
    for operation in api.operations:
        segments = [s for s in operation.path.split("/") if s]
        if operation.method == "post" and segments and _TOKEN_SEGMENT.match(segments[-1]):
            return operation
    return None


def _schemes_in_use(api: Api) -> list[SecurityScheme]:
    names: dict[str, None] = {}
    for requirements in [api.security, *(op.security or () for op in api.operations)]:
        for alternative in requirements:
            for name, _ in alternative:
                names[name] = None
    return [s for s in (api.scheme(n) for n in names) if s is not None]


def _mapping(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """parent[key] as a mapping, replacing a missing or non-mapping value (`components: null`)."""
    if not isinstance(parent.get(key), dict):
        parent[key] = {}
    return parent[key]


def _free_key_in(schemes: dict[str, Any], base: str) -> str:
    key, counter = base, 1
    while key in schemes:
        counter += 1
        key = f"{base}{counter}"
    return key


def _free_key(api: Api, base: str) -> str:
    key, counter = base, 1
    while api.scheme(key) is not None:
        counter += 1
        key = f"{base}{counter}"
    return key


def apply_plan(api: Api, plan: AuthPlan) -> Api:
    """The Api with the plan's scheme, global security and token request."""
    if plan.mode == "spec":
        return api
    schemes = list(api.security_schemes)
    if plan.mode == "client-credentials":
        existing = api.scheme(plan.scheme_key)
        flow = OAuthFlow("clientCredentials", plan.token_url, "", ())
        if existing is None:
            schemes.append(
                SecurityScheme(
                    plan.scheme_key,
                    "oauth2",
                    flows=(flow,),
                    description="OAuth 2.0 client credentials (added by kpn-collections).",
                )
            )
        else:
            flows = tuple(f for f in existing.flows if f.kind != "clientCredentials")
            old = existing.flow("clientCredentials")
            flow = dataclasses.replace(flow, scopes=old.scopes if old else ())
            schemes[schemes.index(existing)] = dataclasses.replace(existing, flows=(*flows, flow))
        url = (
            plan.token_url
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://|^{{", plan.token_url)
            else ("{{baseUrl}}" + ("" if plan.token_url.startswith("/") else "/") + plan.token_url)
        )  # relative tokenUrl
        # RFC 6749 wants grant_type: the scripts send it in the body unless the URL, as resolved
        # at run time, carries it (KPN's does; a tokenUrl the user overrides may not)
        token_request = TokenRequest("client-credentials", url)
    else:
        assert plan.token_operation is not None
        token_request = _token_operation_request(api, plan.token_operation, plan.token_url)
    security = api.security
    if plan.apply_globally and plan.scheme_key:
        security = (((plan.scheme_key, ()),),)
    operations = tuple(
        (
            dataclasses.replace(op, security=())
            if plan.token_operation is not None and op is plan.token_operation
            else op
        )
        for op in api.operations
    )
    return dataclasses.replace(
        api,
        security_schemes=tuple(schemes),
        security=security,
        operations=operations,
        token_request=token_request,
    )


def _token_operation_request(api: Api, operation: Operation, url: str) -> TokenRequest:
    """Body format and extra fields of the API's own token endpoint, credentials left to
    variables."""
    body_format, extra = "json", []
    if operation.request_body and operation.request_body.content:
        media = operation.request_body.content[0]
        if "form" in media.media_type:
            body_format = "urlencoded"
        value = media.first_example()
        if value is MISSING:
            value = ExampleGenerator(api.resolver).example(media.schema, for_request=True)
        if isinstance(value, dict):
            value = _with_required_fields(api, media.schema, value)
            for key, field_value in value.items():
                if key in _CREDENTIAL_FIELDS or isinstance(field_value, (dict, list)):
                    continue
                if key == "grant_type":
                    field_value = "client_credentials"
                elif looks_secret(key) or secret_kind(str(field_value)):
                    continue  # never copy a secret-looking example into the collection
                extra.append((key, "" if field_value is None else str(field_value)))
    return TokenRequest(
        "token-operation", url, body_format, tuple(extra), (operation.method, operation.path)
    )


def _with_required_fields(api: Api, schema: Any, value: dict[str, Any]) -> dict[str, Any]:
    """The example with the fields its schema requires and it lacks, generated (a named example may
    show only the credentials)."""
    resolved = api.resolver.deref(schema)
    required = resolved.get("required") if isinstance(resolved, dict) else None
    missing = (
        [name for name in required if isinstance(name, str) and name not in value]
        if isinstance(required, list)
        else []
    )
    if not missing:
        return value
    generated = ExampleGenerator(api.resolver).example(schema, for_request=True)
    if not isinstance(generated, dict):
        return value
    return {**value, **{name: generated[name] for name in missing if name in generated}}


def patch_document(
    document: dict[str, Any], version: SpecVersion, plan: AuthPlan
) -> dict[str, Any]:
    """A copy of the raw definition with the plan applied, key order kept, for upload back to
    SwaggerHub."""
    patched = copy.deepcopy(document)
    if plan.mode == "client-credentials":
        if version is SpecVersion.SWAGGER_2_0:
            schemes = _mapping(patched, "securityDefinitions")
            scheme = _mapping(schemes, plan.scheme_key)
            if scheme.get("flow", "application") != "application" or "$ref" in scheme:
                # keep the other flow
                scheme = _mapping(schemes, _free_key_in(schemes, DEFAULT_SCHEME_KEY))
                patched["security"] = [{key: [] for key in schemes if schemes[key] is scheme}]
            scheme.update({"type": "oauth2", "flow": "application", "tokenUrl": plan.token_url})
            scheme.pop("authorizationUrl", None)
            if not isinstance(scheme.get("scopes"), dict):
                scheme["scopes"] = {}
        else:
            schemes = _mapping(_mapping(patched, "components"), "securitySchemes")
            scheme = _mapping(schemes, plan.scheme_key)
            scheme["type"] = "oauth2"
            flow = _mapping(_mapping(scheme, "flows"), "clientCredentials")
            flow["tokenUrl"] = plan.token_url
            if not isinstance(flow.get("scopes"), dict):
                flow["scopes"] = {}
    if plan.token_operation is not None:
        item = patched["paths"][plan.token_operation.path]
        if isinstance(item, dict) and isinstance(item.get(plan.token_operation.method), dict):
            item[plan.token_operation.method]["security"] = []
    if plan.apply_globally and plan.scheme_key:
        patched["security"] = [{plan.scheme_key: []}]
    return patched
