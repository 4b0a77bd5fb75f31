"""`kvdb migrate`: values re-encoded in place, on a real server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis

from kvdb.client import Client
from kvdb.codecs import inspect_frame
from tests.cli.support import (
    bordered_rows,
    json_output,
    kvdb,
    one_error_line,
    write_settings,
)

PAGES = {
    f"page:{n}": {"title": f"page {n}", "blocks": ["a", "b"] * n} for n in range(7)
}


@pytest.fixture
def stored(client: Client, raw: redis.Redis) -> dict[bytes, Any]:
    """Pages in the json+zstd cache session (odd ones with a TTL), a hash, a
    pickle frame the cache session cannot read; returns the DUMP of each key."""
    cache = client.get_session("cache")
    for n, (key, page) in enumerate(PAGES.items()):
        cache.set(key, page, px=100_000 if n % 2 else None)
    cache.hset("page:hash", "field", "value")
    client.get_session("pickled").set("cache:page:pickle", {1, 2})

    return {key: raw.dump(key) for key in raw.scan_iter()}


def test_a_dry_run_counts_and_writes_nothing(
    tmp_path: Path, raw: redis.Redis, stored: dict[bytes, Any]
) -> None:
    result = kvdb(
        tmp_path,
        "migrate",
        "page:*",
        "-s",
        "cache",
        "-t",
        "cache-msgpack",
        "--dry-run",
        "--json",
    )

    assert 1 == result.returncode
    assert {
        "dry_run": True,
        "scanned": 9,
        "migrated": 7,
        "unchanged": 0,
        "skipped": 1,
        "undecodable": 1,
        "unencodable": 0,
        "changed_meanwhile": 0,
        "failed": 1,
    } == {
        name: value
        for name, value in json.loads(result.stdout).items()
        if name not in ("pattern", "problems")
    }
    assert stored == {key: raw.dump(key) for key in stored}


def test_values_are_re_encoded_in_place_keeping_their_ttl(
    tmp_path: Path, client: Client, raw: redis.Redis, stored: dict[bytes, Any]
) -> None:
    result = kvdb(
        tmp_path,
        "migrate",
        "page:*",
        "-s",
        "cache",
        "--to-session",
        "cache-msgpack",
        "--batch",
        "2",
    )

    assert 1 == result.returncode
    assert result.stdout.startswith(
        "page:* in session cache, re-encoded with the codec of session cache-msgpack\n"
    )
    assert [
        ["migrated", "7"],
        ["unchanged: already in the new codec", "0"],
        ["skipped: not strings", "1"],
        ["undecodable: left as they are", "1"],
        ["unencodable: left as they are", "0"],
        ["changed by another client meanwhile", "0"],
        ["keys scanned", "9"],
    ] == bordered_rows(result.stdout)
    assert (
        "  the value of key 'page:pickle' has a kvdb frame but does not decode"
        in result.stderr
    )
    assert result.stderr.endswith(
        "error: 1 value could not be migrated and was left as it is\n"
    )

    cache = client.get_session("cache")
    for n, (key, page) in enumerate(PAGES.items()):
        data = raw.get(f"cache:{key}")
        assert isinstance(data, bytes)
        frame = inspect_frame(data)
        assert frame is not None
        assert ("msgpack", None) == (frame.serializer, frame.compressor)
        assert page == cache.get(key)
        pttl = raw.pttl(f"cache:{key}")
        assert (90_000 < pttl <= 100_000) if n % 2 else (-1 == pttl)
    for untouched in (b"cache:page:pickle", b"cache:page:hash"):
        assert stored[untouched] == raw.dump(untouched)


def test_a_second_run_finds_nothing_to_change(
    tmp_path: Path, client: Client, raw: redis.Redis
) -> None:
    client.get_session("cache").mset(PAGES)
    arguments = ("migrate", "*", "-s", "cache", "-t", "cache-msgpack", "--json")

    first = json_output(kvdb(tmp_path, *arguments))
    second = json_output(kvdb(tmp_path, *arguments))

    assert (7, 0) == (first["migrated"], first["unchanged"])
    assert (0, 7) == (second["migrated"], second["unchanged"])


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            '[sessions.elsewhere]\nurl = "redis://127.0.0.1:1/0"\n'
            'key_prefix = "cache:"\n',
            "both sessions must use the same database: session 'cache' uses "
            "redis://127.0.0.1:{port}/{db} and session 'elsewhere' uses "
            "redis://127.0.0.1:1/0",
        ),
        (
            '[sessions.elsewhere]\nkey_prefix = "other:"\n',
            "both sessions must have the same key_prefix: session 'cache' has "
            "'cache:' and session 'elsewhere' has 'other:'",
        ),
        (
            '[sessions.elsewhere]\nkey_prefix = "cache:"\nserializer = "none"\n',
            "session 'elsewhere' has no serializer",
        ),
    ],
    ids=["another-server", "another-prefix", "no-serializer"],
)
def test_sessions_that_do_not_fit_are_refused(
    tmp_path: Path, redis_url: str, extra: str, expected: str
) -> None:
    write_settings(tmp_path, redis_url, extra)
    port, db = redis_url.rsplit(":", 1)[1].split("/")

    message = one_error_line(
        kvdb(tmp_path, "migrate", "*", "-s", "cache", "-t", "elsewhere")
    )

    assert expected.format(port=port, db=db) in message
