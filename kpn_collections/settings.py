"""Settings: what the CLI options (or a caller of the Python API) ask the pipeline to do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

FolderMode = Literal["tags", "paths", "flat"]
AuthMode = Literal["auto", "client-credentials", "token-operation", "spec"]
TestMode = Literal["none", "smoke", "contract"]
FOLDER_MODES: tuple[FolderMode, ...] = get_args(FolderMode)
AUTH_MODES: tuple[AuthMode, ...] = get_args(AuthMode)
TEST_MODES: tuple[TestMode, ...] = get_args(TestMode)
KPN_TOKEN_URL = (
    "https://api-prd.kpn.com/oauth/client_credential/accesstoken?grant_type=client_credentials"
)
SWAGGERHUB_HOST = "api.swaggerhub.com"  # the registry host the SwaggerHub API key is sent to


@dataclass(frozen=True)
class Settings:
    """Options for one conversion; the defaults are what `kpn-collections convert` does."""

    folders: FolderMode = "tags"
    base_url: str | None = None
    templates_dir: Path | None = None
    strict: bool = False
    check_output: bool = True
    auth_mode: AuthMode = "auto"  # see AUTH_MODES and inject_auth.py
    tests: TestMode = "contract"  # see TEST_MODES and contract_tests.py
    token_url: str | None = None  # overrides the definition's own token URL and the KPN default
    ref_root: Path | None = None  # files `$ref`s may read; default: the input file's directory
    ref_mirror: Path | None = None  # local copies of remote `$ref` targets (see retrieve.py)
    allow_remote_refs: bool = False  # fetch remote `$ref` targets that the mirror lacks over HTTPS
    # let remote fetches reach loopback, private and link-local addresses
    allow_private_hosts: bool = False
    # the only host SWAGGERHUB_API_KEY is sent to (On-Premise: its own)
    swaggerhub_host: str = SWAGGERHUB_HOST
    # testers' additions (overlay.py); default: `<spec stem>.overlay.yaml` when present
    overlay: Path | None = None


SETTING_KEYS: dict[str, tuple[str, Any]] = {
    "folders": ("folders", FOLDER_MODES),
    "base-url": ("base_url", str),
    "token-url": ("token_url", str),
    "auth-mode": ("auth_mode", AUTH_MODES),
    "tests": ("tests", TEST_MODES),
    "templates": ("templates_dir", Path),
    "ref-root": ("ref_root", Path),
    "ref-mirror": ("ref_mirror", Path),
    "allow-remote-refs": ("allow_remote_refs", bool),
    "strict": ("strict", bool),
    "check-output": ("check_output", bool),
    "overlay": ("overlay", Path),
    "allow-private-hosts": ("allow_private_hosts", None),
    "swaggerhub-host": ("swaggerhub_host", None),
}
"""The one map of per-spec settings: settings-file key (the option without `--`) -> (`Settings`
field, type or allowed values in a settings file; None: command line only). Adding a setting is a
field above and a line here."""
