"""`kvdb sessions` and `kvdb ping`, and the errors every command reports alike."""

from __future__ import annotations

import json
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
DECLARED = "(declared: default, cache, cache-msgpack, pickled, raw)"

# A session whose secret only the production machines have.
BROKEN = '[sessions.prod]\npassword_file = "/nonexistent/secret"\n'
REASON = "password_file = '/nonexistent/secret': cannot read the file"
BROKEN_LINE = "1 session cannot be made: prod (the error is listed with each)"


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

    def test_a_session_that_cannot_be_made_is_listed_with_its_error(
        self, tmp_path: Path
    ) -> None:
        write_settings(tmp_path, "redis://127.0.0.1:1/0", BROKEN)

        result = kvdb(tmp_path, "sessions")

        rows = bordered_rows(result.stdout)
        names = [row[0] for row in rows]
        # The row of prod, and the lines its error wraps onto.
        cells = [
            row[1] for row in rows[names.index("prod") :] if row[0] in ("prod", "")
        ]
        shown = "".join("".join(cells).split())
        assert ["raw", "redis://127.0.0.1:1/0"] == rows[names.index("raw")][:2]
        assert shown.startswith("broken:")
        assert "".join(REASON.split()) in shown
        assert BROKEN_LINE == one_error_line(result)

    def test_the_json_of_a_session_that_cannot_be_made(self, tmp_path: Path) -> None:
        write_settings(tmp_path, "redis://127.0.0.1:1/0", BROKEN)

        result = kvdb(tmp_path, "sessions", "--json")

        shown = json.loads(result.stdout)["sessions"]
        assert ["default", "cache", "cache-msgpack", "pickled", "raw"] == [
            session["name"] for session in shown if "url" in session
        ]
        assert ["name", "error"] == list(shown[-1])
        assert "prod" == shown[-1]["name"]
        assert REASON in shown[-1]["error"]
        assert BROKEN_LINE == one_error_line(result)


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

        assert message.startswith("no session 'cahce' (--session) is declared in ")
        assert "did you mean 'cache'?" in message

    @pytest.mark.parametrize(
        ("args", "option"),
        [
            (["ping", "--session", "nope"], "--session"),
            (["get", "k", "-s", "nope"], "--session"),
            (["sessions", "-s", "nope"], "--session"),
            (["config", "show", "-s", "nope"], "--session"),
            (["server", "-s", "nope"], "--session"),
            (["migrate", "*", "-s", "cache", "--to-session", "nope"], "--to-session"),
        ],
        ids=["ping", "get", "sessions", "config-show", "server", "migrate-target"],
    )
    def test_an_undeclared_session_is_refused(
        self, tmp_path: Path, redis_url: str, args: list[str], option: str
    ) -> None:
        # get_session() would give it the defaults: another server, or codec.
        path = write_settings(tmp_path, redis_url)

        message = one_error_line(kvdb(tmp_path, *args))

        assert (
            f"no session 'nope' ({option}) is declared in {path} or the "
            f"environment {DECLARED}; declare it, or give --url to connect "
            "elsewhere" == message
        )

    def test_with_url_a_session_name_is_a_label(
        self, tmp_path: Path, redis_url: str
    ) -> None:
        write_settings(tmp_path, redis_url)

        output = succeeded(kvdb(tmp_path, "ping", "-s", "nope", "--url", redis_url))

        assert output.startswith("PONG from ")

    def test_the_options_are_named_as_typed(self, tmp_path: Path) -> None:
        (tmp_path / "kvdb.toml").write_text("[defaults]\ndb_id = 1\n")

        config = one_error_line(kvdb(tmp_path, "ping", "--config", "missing.toml"))
        profile = one_error_line(kvdb(tmp_path, "keys", "--profile", "prod"))

        missing = tmp_path / "missing.toml"
        assert f"settings file {missing} (from --config) does not exist" == config
        assert profile.startswith("profile 'prod' (from --profile) is not in ")

    def test_bad_settings(self, tmp_path: Path) -> None:
        (tmp_path / "kvdb.toml").write_text('[defaults]\nserializer = "jsno"\n')

        message = one_error_line(kvdb(tmp_path, "keys"))

        assert "serializer = 'jsno'" in message
