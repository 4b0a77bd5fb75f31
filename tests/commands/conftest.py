"""The fixtures of the command-layer tests: contexts and clients.

`json_context` builds a `CommandContext` over the json codec with a key prefix
unique to the test (it holds the test's name, brackets and all, so glob
escaping is exercised everywhere). `both` is a `Calls` (see `support.py`) over
a sync or an async client, so that one test body runs every command in both
forms; `raw` reads what the server really stores.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from kvdb.commands import CommandContext
from tests.commands.support import JSON, Calls
from tests.servers import Server


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    """A key prefix no other test uses."""
    return f"kvdb-test:{request.node.name}:"


@pytest.fixture
def json_context(prefix: str) -> CommandContext:
    return CommandContext(codec=JSON, key_prefix=prefix)


@pytest.fixture(params=["sync", "async"])
def both(
    request: pytest.FixtureRequest, redis_server: Server, json_context: CommandContext
) -> Iterator[Calls]:
    """A json session client with a prefix, sync or async."""
    calls = Calls(request.param, redis_server.url, json_context)
    yield calls
    calls.close()


@pytest.fixture
def raw(redis_server: Server) -> Iterator[redis.Redis]:
    """A plain redis-py client, to see what is stored."""
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()
