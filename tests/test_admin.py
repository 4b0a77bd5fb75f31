"""`kvdb.admin`: ping, inspect_key and migrate, against a real server.

The command-line tests (`tests/cli/`) run these through `kvdb`; the tests
here reach what a command line cannot: a write by another client in the
middle of a migration, a target codec that refuses a value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from kvdb.admin import _software, inspect_key, migrate, ping
from kvdb.client import Client
from kvdb.codecs import Codec
from kvdb.session import KVDBSession


@pytest.fixture
def source(client: Client, redis_url: str) -> KVDBSession:
    return client.get_session("source", url=redis_url, serializer="json")


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url) as client:
        yield client


class _Meddling:
    """A codec that lets another client write `key` while it encodes."""

    passthrough = False

    def __init__(self, codec: Codec, raw: redis.Redis, key: str) -> None:
        self._codec = codec
        self._raw = raw
        self._key = key

    def encode(self, value: Any, key: str | None = None) -> Any:
        self._raw.set(self._key, b"written meanwhile")
        return self._codec.encode(value, key)


def test_a_write_during_the_migration_wins(
    client: Client,
    source: KVDBSession,
    raw: redis.Redis,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source.mset({"a": {"n": 1}, "b": {"n": 2}})
    target = client.get_session("target", url=redis_url, serializer="msgpack")
    monkeypatch.setattr(target, "codec", _Meddling(target.codec, raw, "a"))

    report = migrate(source, target)

    assert (2, 1, 1) == (report.scanned, report.migrated, report.changed_meanwhile)
    assert b"written meanwhile" == raw.get("a")


def test_a_value_the_target_cannot_encode_is_left_alone(
    client: Client, source: KVDBSession, raw: redis.Redis, redis_url: str
) -> None:
    source.mset({"small": "x", "large": "x" * 100})
    before = raw.get("large")
    target = client.get_session(
        "target", url=redis_url, serializer="msgpack", max_value_size=50
    )

    report = migrate(source, target)

    assert (1, 1) == (report.unchanged, report.unencodable)
    assert before == raw.get("large")
    assert report.problems[0].startswith("the value for key 'large' is 106 bytes")


def test_inspect_a_missing_key(source: KVDBSession) -> None:
    assert inspect_key(source, "missing") is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: ping(s, count=0), "count must be at least 1, not 0"),
        (lambda s: migrate(s, s, batch_size=0), "batch_size must be at least 1"),
    ],
    ids=["ping-count", "migrate-batch-size"],
)
def test_counts_must_be_positive(source: KVDBSession, call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(source)


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ({"redis_version": "7.2.4"}, ("redis", "7.2.4")),
        (
            {
                "redis_version": "7.2.4",
                "server_name": "valkey",
                "valkey_version": "8.0.1",
            },
            ("valkey", "8.0.1"),
        ),
        (
            {"redis_version": "6.2.11", "dragonfly_version": "df-v1.21.2"},
            ("dragonfly", "df-v1.21.2"),
        ),
        ({"redis_version": 6.2}, ("redis", "6.2")),
    ],
    ids=["redis", "valkey", "dragonfly", "parsed-as-float"],
)
def test_the_server_software(info: dict[str, Any], expected: tuple[str, str]) -> None:
    assert expected == _software(info)
