"""The token flow's own parts of a collection: the "Get Access Token" request, the collection
variables it reads and sets, and the scripts that fetch and renew the token."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from ..build.parts import Variables, json_body_text, script_event, stable_id
from ..build.render import Renderer
from ..diagnostics import Diagnostics
from ..model import TokenRequest
from .postman import ACCESS_TOKEN, NOAUTH

GET_ACCESS_TOKEN = "Get Access Token"
TOKEN_VARIABLES = {
    "token_url": "tokenUrl",
    "client_id": "client_id",
    "client_secret": "client_secret",
    "access_token": ACCESS_TOKEN,
    "expires_at": "access_token_expires_at",
}
MAX_REFRESH_MARGIN_MS = 30_000
"""Tokens are renewed this long (or a tenth of their lifetime, if shorter) before they expire."""


def _is_loopback(host: str) -> bool:
    """Whether a URL's host is this machine (a token endpoint there may use plain http)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TokenItem:
    """Builds the token flow's parts for one collection (ids derived from `collection_id`)."""

    def __init__(
        self, collection_id: str, renderer: Renderer, variables: Variables, diagnostics: Diagnostics
    ):
        self.collection_id = collection_id
        self.renderer = renderer
        self.variables = variables
        self.diagnostics = diagnostics

    def declare_variables(self, token_request: TokenRequest) -> None:
        where = (
            "the API's own token operation"
            if token_request.mode == "token-operation"
            else "the OAuth2 client-credentials token endpoint"
        )
        self.variables.declare(TOKEN_VARIABLES["token_url"], token_request.url, f"URL of {where}.")
        self.variables.declare(
            TOKEN_VARIABLES["client_id"],
            "",
            "Your application's client id (KPN Developer Portal); never stored in the file.",
        )
        self.variables.declare(
            TOKEN_VARIABLES["client_secret"],
            "",
            "Your application's client secret; never stored in the file.",
        )
        self.variables.declare(
            TOKEN_VARIABLES["access_token"],
            "",
            "Bearer token, set by Get Access Token or fetched automatically before a request.",
        )
        self.variables.declare(
            TOKEN_VARIABLES["expires_at"],
            "",
            "When (epoch ms) the access token is renewed: a little before it expires.",
        )

    def check_url(self, url: str, base_url: str) -> None:
        """Warn when the token request, which carries client_secret, would go over plain http to
        another host."""
        if url.startswith("{{baseUrl}}"):
            url = base_url + url[len("{{baseUrl}}") :]
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
        except ValueError:
            return
        if parts.scheme.lower() == "http" and not _is_loopback(host):
            self.diagnostics.warning(
                "insecure-token-url",
                f"the token URL {url} is plain http: client_secret and the access token "
                "would cross the network unencrypted",
                hint="use the https URL of the token endpoint (--token-url)",
            )

    def item(self, token_request: TokenRequest) -> dict[str, Any]:
        item_id = self.item_id()
        fields = [
            (TOKEN_VARIABLES["client_id"], "{{" + TOKEN_VARIABLES["client_id"] + "}}"),
            (TOKEN_VARIABLES["client_secret"], "{{" + TOKEN_VARIABLES["client_secret"] + "}}"),
            *token_request.extra_fields,
        ]
        events = [
            self.script_event("test", "get_access_token.test.js.jinja", item_id, token_request)
        ]
        if token_request.body_format == "json":
            body: dict[str, Any] = {
                "mode": "raw",
                "raw": json_body_text(dict(fields)),
                "options": {"raw": {"language": "json"}},
            }
            content_type = "application/json"
        else:
            body = {
                "mode": "urlencoded",
                "urlencoded": [{"key": k, "value": v, "type": "text"} for k, v in fields],
            }
            content_type = "application/x-www-form-urlencoded"
        # grant_type: in the body unless the URL carries it
        if token_request.mode == "client-credentials":
            body["urlencoded"].append(
                {
                    "key": "grant_type",
                    "value": "client_credentials",
                    "type": "text",
                    "disabled": "grant_type=" in token_request.url,
                }
            )
            events.insert(
                0,
                self.script_event(
                    "prerequest", "get_access_token.prerequest.js.jinja", item_id, token_request
                ),
            )
        reference = "{{" + TOKEN_VARIABLES["token_url"] + "}}"
        return {
            "id": item_id,
            "name": GET_ACCESS_TOKEN,
            "event": events,
            "request": {
                "auth": NOAUTH,
                "method": "POST",
                "header": [
                    {"key": "Content-Type", "value": content_type},
                    {"key": "Accept", "value": "application/json"},
                ],
                "body": body,
                "url": {"raw": reference, "host": [reference]},
                "description": self.renderer.render(
                    "get_access_token.description.md.jinja",
                    token_request=token_request,
                    variables=TOKEN_VARIABLES,
                ),
            },
            "response": [],
        }

    def item_id(self) -> str:
        return stable_id(self.collection_id, "get-access-token")

    def script_event(
        self, listen: str, template: str, owner_id: str, token_request: TokenRequest
    ) -> dict[str, Any]:
        skip = [self.item_id()]
        if token_request.operation is not None:
            skip.append(stable_id(self.collection_id, *token_request.operation))
        text = self.renderer.render(
            template,
            variables=TOKEN_VARIABLES,
            token_request=token_request,
            max_refresh_margin_ms=MAX_REFRESH_MARGIN_MS,
            skip_request_ids=skip,
        )
        return script_event(listen, stable_id(owner_id, listen), text)
