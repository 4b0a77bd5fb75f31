"""`kvdb config show|check|schema`, run as the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from kvdb.settings import settings_file_schema

KVDB = Path(sys.executable).with_name("kvdb")

ISSUE_EXAMPLE = """
    [defaults]
    url = "redis://localhost:6379/0"
    serializer = "json"

    [sessions.cache]
    db_id = 2
    compression = "zstd"

    [profiles.staging.sessions.cache]
    db_id = 4
"""

SECRET = "hunter2-918273"


def kvdb(cwd: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run `kvdb` in `cwd`, with no KVDB_* variables but `variables`."""
    environ = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith("KVDB_") and name.upper() != "REDIS_URL"
    }
    environ.update(variables, COLUMNS="200")
    return subprocess.run(
        [str(KVDB), *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def shown_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert 0 == result.returncode, result.stderr
    shown: dict[str, Any] = json.loads(result.stdout)
    return shown


class TestShow:
    def test_without_a_settings_file_shows_the_default_session(
        self, tmp_path: Path
    ) -> None:
        result = kvdb(tmp_path, "config", "show")

        assert 0 == result.returncode, result.stderr
        assert "no settings file" in result.stdout
        assert "session default" in result.stdout
        assert '"redis://localhost:6379/0"' in result.stdout

    def test_every_session_with_sources(self, tmp_path: Path) -> None:
        write(tmp_path / "kvdb.toml", ISSUE_EXAMPLE)

        result = kvdb(tmp_path, "config", "show", KVDB_SESSIONS__CACHE__KEY_PREFIX="c:")

        assert 0 == result.returncode, result.stderr
        assert "session default" in result.stdout
        assert "session cache" in result.stdout
        assert "kvdb.toml [sessions.cache]" in result.stdout
        assert "KVDB_SESSIONS__CACHE__KEY_PREFIX" in result.stdout

    def test_one_session_of_one_profile_as_json(self, tmp_path: Path) -> None:
        write(tmp_path / "kvdb.toml", ISSUE_EXAMPLE)

        shown = shown_json(
            kvdb(
                tmp_path,
                "config",
                "show",
                "--session",
                "cache",
                "-p",
                "staging",
                "--json",
            )
        )

        assert str(tmp_path / "kvdb.toml") == shown["file"]
        assert "staging" == shown["profile"]
        sessions = shown["sessions"]
        assert ["cache"] == list(sessions)
        assert {
            "value": 4,
            "source": "kvdb.toml [profiles.staging.sessions.cache]",
        } == (sessions["cache"]["db_id"])
        assert {"value": "zstd", "source": "kvdb.toml [sessions.cache]"} == (
            sessions["cache"]["compression"]
        )
        assert {"value": 5.0, "source": "default"} == sessions["cache"][
            "socket_timeout"
        ]

    def test_kvdb_profile_and_config_are_honoured(self, tmp_path: Path) -> None:
        write(tmp_path / "elsewhere.toml", ISSUE_EXAMPLE)

        shown = shown_json(
            kvdb(
                tmp_path,
                "config",
                "show",
                "--json",
                KVDB_CONFIG="elsewhere.toml",
                KVDB_PROFILE="staging",
            )
        )

        sessions = shown["sessions"]
        assert 4 == sessions["cache"]["db_id"]["value"]

    def test_the_config_option(self, tmp_path: Path) -> None:
        path = write(tmp_path / "other.toml", "[defaults]\ndb_id = 9\n")

        shown = shown_json(
            kvdb(tmp_path, "config", "show", "--config", str(path), "--json")
        )

        sessions = shown["sessions"]
        assert 9 == sessions["default"]["db_id"]["value"]

    def test_url_option_shows_what_a_url_resolves_to(self, tmp_path: Path) -> None:
        shown = shown_json(
            kvdb(
                tmp_path,
                "config",
                "show",
                "--url",
                f"rediss://app:{SECRET}@h:7000/3?socket_timeout=2",
                "--json",
            )
        )

        default = shown["sessions"]["default"]
        assert {
            "url": "rediss://app:***@h:7000/3?socket_timeout=2",
            "host": "h",
            "port": 7000,
            "db_id": 3,
            "ssl": True,
            "password": "***",
            "socket_timeout": 2.0,
        } == {
            name: default[name]["value"]
            for name in (
                "url",
                "host",
                "port",
                "db_id",
                "ssl",
                "password",
                "socket_timeout",
            )
        }
        assert "--url" == default["db_id"]["source"]

    @pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
    def test_secrets_are_masked(self, tmp_path: Path, as_json: bool) -> None:
        (tmp_path / "key").write_text(f"{SECRET}-file\n")
        write(
            tmp_path / "kvdb.toml",
            f"""
            [defaults]
            password = "{SECRET}-toml"
            signing_key_file = "{tmp_path / "key"}"
            [sessions.cache]
            url = "redis://app:{SECRET}-url@cache:6379/1"
            """,
        )

        result = kvdb(
            tmp_path,
            "config",
            "show",
            *(["--json"] if as_json else []),
            KVDB_SESSIONS__CACHE__SENTINEL_PASSWORD=f"{SECRET}-env",
        )

        assert 0 == result.returncode, result.stderr
        assert "hunter2" not in result.stdout + result.stderr
        assert "918273" not in result.stdout + result.stderr
        assert "redis://app:***@cache:6379/1" in result.stdout

    def test_a_missing_password_file_does_not_stop_show(self, tmp_path: Path) -> None:
        shown = shown_json(
            kvdb(
                tmp_path,
                "config",
                "show",
                "--json",
                KVDB_PASSWORD_FILE="/does/not/exist",
            )
        )

        default = shown["sessions"]["default"]
        assert {"value": "***", "source": "KVDB_PASSWORD_FILE"} == default["password"]

    def test_bad_settings_exit_1_with_the_message(self, tmp_path: Path) -> None:
        path = write(tmp_path / "kvdb.toml", '[sessions.cache]\ncompression = "zsdt"\n')

        result = kvdb(tmp_path, "config", "show")

        assert 1 == result.returncode
        assert f"error: {path}: sessions.cache.compression = 'zsdt'" in result.stderr
        assert "did you mean 'zstd'?" in result.stderr
        assert "Traceback" not in result.stderr
        assert "" == result.stdout

    def test_an_unknown_session(self, tmp_path: Path) -> None:
        write(tmp_path / "kvdb.toml", ISSUE_EXAMPLE)

        result = kvdb(tmp_path, "config", "show", "--session", "cahce")

        assert 1 == result.returncode
        assert "no session 'cahce' (--session) is declared" in result.stderr

    def test_with_url_any_session_name_is_shown(self, tmp_path: Path) -> None:
        write(tmp_path / "kvdb.toml", ISSUE_EXAMPLE)

        shown = shown_json(
            kvdb(
                tmp_path,
                "config",
                "show",
                "-s",
                "adhoc",
                "--url",
                "redis://h/3",
                "--json",
            )
        )

        assert {"value": 3, "source": "--url"} == shown["sessions"]["adhoc"]["db_id"]


class TestCheck:
    def test_a_good_file(self, tmp_path: Path) -> None:
        path = write(tmp_path / "app.toml", ISSUE_EXAMPLE)

        result = kvdb(tmp_path, "config", "check", str(path))

        assert 0 == result.returncode, result.stderr
        assert f"ok: {path} (sessions: default, cache; profiles: staging)" == (
            result.stdout.strip()
        )

    def test_a_given_file_is_checked_without_the_environment(
        self, tmp_path: Path
    ) -> None:
        path = write(tmp_path / "app.toml", ISSUE_EXAMPLE)

        result = kvdb(
            tmp_path, "config", "check", str(path), KVDB_PROFILE="nope", KVDB_PORT="x"
        )

        assert 0 == result.returncode, result.stderr

    def test_every_profile_is_checked(self, tmp_path: Path) -> None:
        path = write(
            tmp_path / "app.toml",
            """
            [profiles.prod.sessions.cache]
            url = "redis+cluster://a:1,b:2"
            db_id = 3
            """,
        )

        result = kvdb(tmp_path, "config", "check", str(path))

        assert 1 == result.returncode
        assert (
            f"error: session 'cache': {path}: profiles.prod.sessions.cache.db_id = 3: "
            "a Redis Cluster has only database 0"
        ) == result.stderr.strip()

    def test_toml_syntax_error(self, tmp_path: Path) -> None:
        path = write(tmp_path / "app.toml", "[defaults]\nurl = redis://h\n")

        result = kvdb(tmp_path, "config", "check", str(path))

        assert 1 == result.returncode
        assert f"error: {path}: invalid TOML:" in result.stderr
        assert "line 2, column 7" in result.stderr
        assert "Traceback" not in result.stderr

    def test_without_a_file_checks_what_the_library_would_use(
        self, tmp_path: Path
    ) -> None:
        write(tmp_path / "kvdb.toml", ISSUE_EXAMPLE)

        good = kvdb(tmp_path, "config", "check")
        bad = kvdb(tmp_path, "config", "check", KVDB_SERIALIZER="yaml")

        assert 0 == good.returncode, good.stderr
        assert str(tmp_path / "kvdb.toml") in good.stdout
        assert 1 == bad.returncode
        assert "KVDB_SERIALIZER = 'yaml'" in bad.stderr

    def test_a_missing_file(self, tmp_path: Path) -> None:
        result = kvdb(tmp_path, "config", "check", "missing.toml")

        assert 1 == result.returncode
        assert "missing.toml (from the FILE argument) does not exist" in result.stderr


def test_schema_prints_the_generated_schema(tmp_path: Path) -> None:
    result = kvdb(tmp_path, "config", "schema")

    assert 0 == result.returncode, result.stderr
    assert settings_file_schema() == json.loads(result.stdout)
