"""Settings: what the CLI options (or a caller of the Python API) ask the pipeline to do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FOLDER_MODES = ("tags", "paths", "flat")
AUTH_MODES = ("auto", "client-credentials", "token-operation", "spec")
TEST_MODES = ("none", "smoke", "contract")
KPN_TOKEN_URL = "https://api-prd.kpn.com/oauth/client_credential/accesstoken?grant_type=client_credentials"
SWAGGERHUB_HOST = "api.swaggerhub.com"  # the registry host the SwaggerHub API key is sent to


@dataclass(frozen=True)
class Settings:
    """Options for one conversion; the defaults are what `kpn-collections convert` does."""

    folders: str = "tags"
    base_url: str | None = None
    templates_dir: Path | None = None
    strict: bool = False
    check_output: bool = True
    auth_mode: str = "auto"  # see AUTH_MODES and inject_auth.py
    tests: str = "contract"  # see TEST_MODES and contract_tests.py
    token_url: str | None = None  # overrides the definition's own token URL and the KPN default
    ref_root: Path | None = None  # files `$ref`s may read; default: the input file's directory
    ref_mirror: Path | None = None  # local copies of remote `$ref` targets (see retrieve.py)
    allow_remote_refs: bool = False  # fetch remote `$ref` targets that the mirror lacks over HTTPS
    allow_private_hosts: bool = False  # let remote fetches reach loopback, private and link-local addresses
    swaggerhub_host: str = SWAGGERHUB_HOST  # the only host SWAGGERHUB_API_KEY is sent to (On-Premise: its own)
    overlay: Path | None = None  # testers' additions (overlay.py); default: `<spec stem>.overlay.yaml` when present
