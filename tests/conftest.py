"""Shared test setup: golden-file regeneration and access to the shared real-spec corpus."""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs every property test on the same examples (a failure there can be rerun exactly); locally
# they vary.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "fixtures"
CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "kpn"

# The batch cache of every converter the tests start goes to a throw-away directory, not ~/.cache.
os.environ.setdefault(
    "KPN_COLLECTIONS_CACHE_DIR", tempfile.mkdtemp(prefix="kpn-collections-test-cache-")
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite fixtures/**/expected.postman_collection.json from the current converter",
    )


SLOW_GROUPS = ("e2e", "equivalence")
"""Groups whose tests take seconds each (external tools, whole corpora): run first, so that the
many quick tests of the other groups fill the workers' last minutes instead of one long test."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def group(item: pytest.Item) -> int:
        parts = item.path.relative_to(REPO_ROOT / "tests").parts
        return 0 if parts and parts[0] in SLOW_GROUPS else 1

    items.sort(key=group)  # stable: the order within a group stays the collection order


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def corpus_specs() -> list[Path]:
    """The real KPN exports; an empty list when this clone has no ../shared/corpus (never on CI)."""
    return (
        sorted(CORPUS.glob("*.yml")) + sorted(CORPUS.glob("*.yaml")) + sorted(CORPUS.glob("*.json"))
    )


def require_corpus() -> list[Path]:
    """The corpus specs, skipping (locally) or failing (CI=true) when the corpus is missing."""
    specs = corpus_specs()
    if specs:
        return specs
    message = (
        f"the shared KPN corpus is not at {CORPUS} (it sits beside the clone as"
        " ../shared/corpus/kpn)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def ctrl_c_acts() -> Iterator[None]:
    """Ctrl-C acts in the commands the test starts, as it does from a terminal. A test run started
    in the background (`cmd &` in a script) has SIGINT ignored, its children inherit that, and a
    batch sent Ctrl-C would then finish as if none came."""
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.fixture
def fast_paths_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """For a test of what a fast path itself gives (worker processes, a linear-time regex engine):
    every fast path on, in this process and in the commands it starts, whatever the switch says
    (CI's second run sets KPN_COLLECTIONS_FAST_PATHS=off)."""
    from kpn_collections import fast_paths

    monkeypatch.setattr(fast_paths, "ON", frozenset(fast_paths.FAST_PATHS))
    monkeypatch.setenv(fast_paths.ENVIRONMENT_VARIABLE, "on")
