"""`kvdb inspect`: how a key is stored, read from a real server."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from kvdb.client import Client
from tests.cli.support import json_output, kvdb, succeeded, table_rows

DOCUMENT = {"rows": [{"id": n, "status": "shipped"} for n in range(200)]}


def test_a_compressed_value_as_json(
    tmp_path: Path, client: Client, raw: redis.Redis
) -> None:
    client.get_session("cache").set("orders", DOCUMENT, px=90_000)

    shown = json_output(kvdb(tmp_path, "inspect", "orders", "-s", "cache", "--json"))

    frame = shown.pop("frame")
    assert 80 < shown.pop("ttl") <= 90
    assert {
        "key": "orders",
        "type": "string",
        "size": raw.strlen("cache:orders"),
        "value_type": "dict",
        "decode_error": None,
    } == shown
    assert {
        "version": 1,
        "serializer": "json",
        "compressor": "zstd",
        "signed": False,
        "typed": False,
        "stored_size": raw.strlen("cache:orders"),
    } == {name: frame[name] for name in list(frame)[:6]}
    assert frame["serialized_size"] / frame["body_size"] == frame["compression_ratio"]
    assert frame["compression_ratio"] > 5


def test_the_table(tmp_path: Path, client: Client, raw: redis.Redis) -> None:
    client.get_session("cache").set("orders", DOCUMENT)
    encoded = raw.get("cache:orders")
    assert encoded is not None

    output = succeeded(kvdb(tmp_path, "inspect", "orders", "-s", "cache"))

    rows = table_rows(output)
    compression = rows.pop("compression")
    assert {
        "key": "orders",
        "type": "string",
        "ttl": "none",
        "stored": f"{len(encoded):,} bytes",
        "frame": "kvdb frame version 1",
        "serializer": "json",
        "compressor": "zstd",
        "decodes to": "dict",
    } == rows
    assert re.fullmatch(r"[\d,]+ -> [\d,]+ bytes \(ratio \d+\.\d\d\)", compression)


@pytest.mark.usefixtures("settings")
@pytest.mark.parametrize(
    ("store", "expected"),
    [
        (
            lambda raw: raw.set("n", b"42"),
            {
                "stored": "2 bytes",
                "frame": "none: a plain value (an integer, or another client's)",
                "decodes to": "int",
            },
        ),
        (
            lambda raw: raw.hset("n", "f", "v"),
            {"type": "hash", "value": "not read: kvdb frames are on string values"},
        ),
    ],
    ids=["plain-integer", "hash"],
)
def test_values_without_a_frame(
    tmp_path: Path,
    raw: redis.Redis,
    store: Callable[[redis.Redis], object],
    expected: dict[str, str],
) -> None:
    store(raw)

    rows = table_rows(succeeded(kvdb(tmp_path, "inspect", "n")))

    assert expected == {name: rows[name] for name in expected}


def test_a_value_that_does_not_decode_is_shown_then_fails(
    tmp_path: Path, client: Client
) -> None:
    client.get_session("pickled").set("p", {1, 2})

    result = kvdb(tmp_path, "inspect", "p")

    rows = table_rows(result.stdout)
    assert 1 == result.returncode
    assert ("pickle", "does not decode") == (rows["serializer"], rows["decodes to"])
    assert result.stderr.startswith("error: the value of key 'p' has a kvdb frame")
    assert "Traceback" not in result.stderr


@pytest.mark.usefixtures("settings")
def test_a_malformed_frame(tmp_path: Path, raw: redis.Redis) -> None:
    raw.set("bad", b"\xffK\x01\x03")

    result = kvdb(tmp_path, "inspect", "bad")

    assert 1 == result.returncode
    assert "malformed" == table_rows(result.stdout)["frame"]
    assert (
        "error: the value of key 'bad' has a malformed kvdb frame: the frame is "
        "truncated to 4 bytes\n" == result.stderr
    )
