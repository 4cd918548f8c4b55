"""Inject-auth stage: the hook point where the client-credentials token flow is added to the Api.

For now it passes the Api through unchanged; the token-flow work fills it in.
"""

from __future__ import annotations

from .diagnostics import Diagnostics
from .model import Api
from .settings import Settings


def inject_auth(api: Api, settings: Settings, diagnostics: Diagnostics) -> Api:
    """Return the Api with the client-credentials security applied (currently unchanged)."""
    return api
