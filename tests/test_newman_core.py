"""newman (the real Postman runner) runs converted fixtures against a local server without script errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpn_collections import Settings, convert_file

from .conftest import FIXTURES
from .helpers import iter_requests
from .support.gateway import Gateway
from .support.newman import require_newman, run_newman

FEATURE_FIXTURES = sorted(FIXTURES.glob("*/features/input.*"))


@pytest.mark.parametrize("spec", FEATURE_FIXTURES, ids=lambda p: p.parent.parent.name)
def test_newman_runs_converted_fixture(spec: Path) -> None:
    require_newman()
    result = convert_file(spec, Settings())
    assert result.collection is not None
    expected = len(list(iter_requests(result.collection["item"])))
    with Gateway() as gateway:
        token = gateway.issue_token()
        run = run_newman(result.collection, env_vars={"baseUrl": gateway.url, "access_token": token})
        assert run.script_errors() == [], run.describe()
        assert run.request_errors() == [], run.describe()
        assert len(run.executions) == expected
        assert len(gateway.requests) == expected
        bearer_requests = [r for r in gateway.requests if r.headers.get("authorization") == f"Bearer {token}"]
        assert bearer_requests, "no request carried the collection's bearer token"
