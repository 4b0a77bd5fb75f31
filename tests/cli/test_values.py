"""`kvdb get`, `set`, `delete` and `keys` against a real server."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from kvdb.client import Client
from tests.cli.support import json_output, kvdb, one_error_line, succeeded
from tests.servers import Server


class TestSet:
    @pytest.mark.parametrize(
        ("argument", "options", "expected"),
        [
            ("42", [], 42),
            ("hello world", [], "hello world"),
            ('"42"', [], "42"),
            ("42", ["--text"], "42"),
        ],
        ids=["int", "text", "json-string", "text-option"],
    )
    def test_the_value_is_json_when_it_parses(
        self,
        tmp_path: Path,
        client: Client,
        argument: str,
        options: list[str],
        expected: Any,
    ) -> None:
        output = succeeded(kvdb(tmp_path, "set", "k", argument, *options))

        assert f"set 'k' ({type(expected).__name__})\n" == output
        stored = client.get_session().get("k")
        assert (type(expected), expected) == (type(stored), stored)

    def test_ttl_and_the_session_prefix(
        self, tmp_path: Path, client: Client, raw: redis.Redis
    ) -> None:
        output = succeeded(
            kvdb(tmp_path, "set", "user:1", '{"id": 1}', "--ttl", "60", "-s", "cache")
        )

        assert "set 'user:1' (dict, expires in 60 s)\n" == output
        assert 55_000 < raw.pttl("cache:user:1") <= 60_000
        assert {"id": 1} == client.get_session("cache").get("user:1")

    @pytest.mark.parametrize("ttl", ["0", "-1", "inf", "nan"])
    def test_a_ttl_must_be_positive_and_finite(
        self, tmp_path: Path, settings: Path, ttl: str
    ) -> None:
        result = kvdb(tmp_path, "set", "k", "v", "--ttl", ttl)

        assert 2 == result.returncode
        assert "Traceback" not in result.stderr
        assert "--ttl" in result.stderr
        assert "must be more than 0 seconds, and finite" in result.stderr


class TestGet:
    def test_readable_and_json(self, tmp_path: Path, client: Client) -> None:
        client.get_session("cache").set("doc", {"name": "Ada", "tags": ["x", "y"]})

        readable = succeeded(kvdb(tmp_path, "get", "doc", "-s", "cache"))
        as_json = json_output(kvdb(tmp_path, "get", "doc", "-s", "cache", "--json"))

        assert "{'name': 'Ada', 'tags': ['x', 'y']}\n" == readable
        assert {"name": "Ada", "tags": ["x", "y"]} == as_json

    def test_json_renders_what_json_lacks(self, tmp_path: Path, client: Client) -> None:
        client.get_session().set(
            "k",
            {
                "when": dt.datetime(2024, 1, 2, 3, 4, 5),
                "tags": {"a"},
                "price": decimal.Decimal("1.50"),
                "id": uuid.UUID(int=1),
                "text": b"ok",
                "blob": b"\xff\x00",
            },
        )

        shown = json_output(kvdb(tmp_path, "get", "k", "--json"))

        assert {
            "when": "2024-01-02T03:04:05",
            "tags": ["a"],
            "price": "1.50",
            "id": "00000000-0000-0000-0000-000000000001",
            "text": "ok",
            "blob": {"base64": "/wA="},
        } == shown

    def test_json_has_no_nan(self, tmp_path: Path, client: Client) -> None:
        # msgpack keeps NaN and the infinities, where JSON has no word for them.
        floats = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "one": 1.5}
        client.get_session("cache-msgpack").set("floats", floats)

        result = kvdb(tmp_path, "get", "floats", "-s", "cache-msgpack", "--json")

        shown = json.loads(succeeded(result), parse_constant=_not_json)
        assert {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity", "one": 1.5} == (
            shown
        )

    @pytest.mark.usefixtures("settings")
    def test_a_raw_session_prints_bytes_as_text(
        self, tmp_path: Path, raw: redis.Redis
    ) -> None:
        raw.set("plain", b"written by another client")

        output = succeeded(kvdb(tmp_path, "get", "plain", "-s", "raw"))

        assert "'written by another client'\n" == output

    @pytest.mark.usefixtures("settings")
    def test_a_missing_key(self, tmp_path: Path, redis_server: Server) -> None:
        message = one_error_line(kvdb(tmp_path, "get", "nope", "-s", "cache"))

        assert (
            f"no key 'nope' in session 'cache' ({redis_server.host}:"
            f"{redis_server.port})" == message
        )

    def test_a_value_that_does_not_decode(self, tmp_path: Path, client: Client) -> None:
        client.get_session("pickled").set("pickle", {1, 2})

        message = one_error_line(kvdb(tmp_path, "get", "pickle"))

        assert message.startswith("the value of key 'pickle' has a kvdb frame")
        assert "only a session whose serializer is pickle reads pickle" in message


def _not_json(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON")


def test_delete(tmp_path: Path, client: Client, raw: redis.Redis) -> None:
    client.get_session("cache").mset({"a": 1, "b": 2, "c": 3})

    text = succeeded(kvdb(tmp_path, "delete", "a", "b", "missing", "-s", "cache"))
    shown = json_output(kvdb(tmp_path, "delete", "c", "-s", "cache", "--json"))

    assert "deleted 2 of 3 keys\n" == text
    assert {"deleted": 1, "given": 1} == shown
    assert [] == raw.keys()


class TestKeys:
    @pytest.fixture(autouse=True)
    def stored(self, client: Client) -> None:
        client.get_session("cache").mset({f"page:{n}": n for n in range(5)})
        client.get_session().mset({"page:x": 0, "user:1": 1})

    def test_the_session_sees_its_own_keys(self, tmp_path: Path) -> None:
        output = succeeded(kvdb(tmp_path, "keys", "page:*", "-s", "cache"))

        assert [f"page:{n}" for n in range(5)] == output.splitlines()

    def test_json_of_every_key(self, tmp_path: Path) -> None:
        shown = json_output(kvdb(tmp_path, "keys", "--json"))

        assert [
            "cache:page:0",
            "cache:page:1",
            "cache:page:2",
            "cache:page:3",
            "cache:page:4",
            "page:x",
            "user:1",
        ] == shown

    def test_limit(self, tmp_path: Path) -> None:
        result = kvdb(tmp_path, "keys", "-s", "cache", "--limit", "2", "--count", "1")

        assert 0 == result.returncode, result.stderr
        assert 2 == len(result.stdout.splitlines())
        assert "the first 2 keys found; more match" in result.stderr
