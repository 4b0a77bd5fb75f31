"""The fixtures of the command-line tests: settings, and the data behind them.

`settings` writes `kvdb.toml` (see `tests/cli/support.py`) in the test's
temporary directory, which is where the tests run `kvdb`; its sessions use an
empty database of `redis_server`. `client` is a `Client` over the same
settings, to store what a command then reads, and `raw` a plain redis-py
client of that database, to see what is really stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from kvdb.client import Client
from tests.cli.support import write_settings


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Path:
    return write_settings(tmp_path, redis_url)


@pytest.fixture
def client(settings: Path) -> Iterator[Client]:
    client = Client()
    client.configure(settings, environ={})
    yield client
    client.close()


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url) as client:
        yield client
