"""`kvdb sessions` and `kvdb ping`, and the errors every command reports alike."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import redis

from tests.cli.support import (
    bordered_rows,
    json_output,
    kvdb,
    one_error_line,
    succeeded,
    write_settings,
)
from tests.servers import Server, free_port

SECRET = "hunter2-564738"


class TestSessions:
    def test_which_sessions_share_a_pool(self, tmp_path: Path) -> None:
        # No server listens there: listing sessions never connects.
        write_settings(
            tmp_path,
            f"redis://app:{SECRET}@127.0.0.1:1/0",
            "[sessions.other-db]\ndb_id = 3\n",
        )

        shown = json_output(kvdb(tmp_path, "sessions", "--json"))

        pools = {s["name"]: s["pool_key"] for s in shown["sessions"]}
        assert ["default", "cache", "cache-msgpack", "pickled", "raw", "other-db"] == (
            list(pools)
        )
        assert 1 == len({pools[name] for name in pools if name != "other-db"})
        assert pools["other-db"] != pools["default"]
        assert [
            ["cache", "cache-msgpack", "default", "pickled", "raw"],
            ["other-db"],
        ] == sorted(pool["sessions"] for pool in shown["pools"])
        assert "redis://app:***@127.0.0.1:1/3" == shown["sessions"][-1]["url"]
        assert {
            "serializer": "json",
            "compression": "zstd",
            "key_prefix": "cache:",
        } == {
            name: shown["sessions"][1][name]
            for name in ("serializer", "compression", "key_prefix")
        }

    def test_the_tables_mask_passwords(self, tmp_path: Path) -> None:
        write_settings(tmp_path, f"redis://app:{SECRET}@127.0.0.1:1/0")

        output = succeeded(kvdb(tmp_path, "sessions", "--session", "cache"))

        sessions, pools = bordered_rows(output)
        pool = sessions.pop()
        assert "hunter2" not in output
        assert ["cache", "redis://app:***@127.0.0.1:1/0", "json + zstd", "cache:"] == (
            sessions
        )
        assert [pool, "redis://app:***@127.0.0.1:1/0", "cache"] == pools


class TestPing:
    @pytest.mark.usefixtures("settings")
    def test_round_trip_and_version(self, tmp_path: Path, redis_server: Server) -> None:
        with redis.Redis(host=redis_server.host, port=redis_server.port) as client:
            version = client.info("server")["redis_version"]

        text = succeeded(kvdb(tmp_path, "ping"))
        shown = json_output(kvdb(tmp_path, "ping", "--json", "-n", "2"))

        server = f"{redis_server.host}:{redis_server.port}"
        assert re.fullmatch(
            rf"PONG from {server} \(redis {version}\): \d+\.\d\d ms round trip, "
            r"best of 3\n",
            text,
        )
        assert (server, "redis", version) == (
            shown["server"],
            shown["software"],
            shown["version"],
        )
        assert 2 == len(shown["round_trips_ms"])
        assert min(shown["round_trips_ms"]) == shown["best_ms"]

    def test_an_unreachable_server(self, tmp_path: Path) -> None:
        port = free_port()

        message = one_error_line(
            kvdb(
                tmp_path,
                "ping",
                "--url",
                f"redis://:{SECRET}@127.0.0.1:{port}/0?retry_attempts=0",
            )
        )

        assert f"127.0.0.1:{port}" in message
        assert "hunter2" not in message


class TestErrors:
    def test_an_unknown_session_suggests_a_declared_one(
        self, tmp_path: Path, redis_url: str
    ) -> None:
        write_settings(tmp_path, redis_url)

        message = one_error_line(kvdb(tmp_path, "get", "k", "--session", "cahce"))

        assert message.startswith("no session 'cahce' is declared in ")
        assert "did you mean 'cache'?" in message

    def test_bad_settings(self, tmp_path: Path) -> None:
        (tmp_path / "kvdb.toml").write_text('[defaults]\nserializer = "jsno"\n')

        message = one_error_line(kvdb(tmp_path, "keys"))

        assert "serializer = 'jsno'" in message
