"""The fixtures of the distributed tests: a client, and sessions in both forms.

The servers come from `tests/conftest.py`: `cluster` and `sentinel` are shared
by the run, so each test here uses a key prefix of its own; tests that kill
servers start their own with `make_cluster` and `make_sentinel`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from kvdb import KVDBSession
from tests.distributed.support import Both


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    """A key prefix no other test uses (brackets of test ids included)."""
    return "kvdb-test:" + re.sub(r"[{}]", "", request.node.name)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    """Run the test's commands in their sync or their async form."""
    mode: str = request.param
    return mode


@pytest.fixture
def both(mode: str, session: KVDBSession) -> Iterator[Both]:
    """The module's `session`, called in the form `mode` says."""
    both = Both(mode, session)
    yield both
    both.close()
