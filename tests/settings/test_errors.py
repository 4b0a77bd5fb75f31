"""What bad settings get: one `ConfigError` naming file, key, value and the fix."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from kvdb.errors import ConfigError
from tests.settings.conftest import Env, WriteFile


def load_error(env: Env, write_file: WriteFile, text: str) -> tuple[Path, str]:
    path = write_file(text)
    with pytest.raises(ConfigError) as caught:
        env.load()
    return path, str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[sessions.cache]\ncompression = "zsdt"',
            "sessions.cache.compression = 'zsdt': must be 'zstd', 'lz4', 'gzip', "
            "'zlib', 'brotli' or 'snappy'; did you mean 'zstd'?",
        ),
        (
            "[sessions.cache]\ncompresion = 1",
            "sessions.cache.compresion is not a setting; did you mean 'compression'?",
        ),
        (
            "[defaults]\nport = 70000",
            "defaults.port = 70000: must be less than or equal to 65535",
        ),
        (
            "[profiles.prod.sessions.cache]\ndb_id = -1",
            "profiles.prod.sessions.cache.db_id = -1: "
            "must be greater than or equal to 0",
        ),
        (
            '[profiles.prod.defaults]\nurl = "redis://h:x"',
            "profiles.prod.defaults.url = 'redis://h:x': the port must be a number",
        ),
        (
            '[defaults]\nurl = "redis://h/0?socket_timeout=soon"',
            "defaults.url = 'redis://h/0?socket_timeout=soon': query option "
            "socket_timeout='soon': must be a valid number",
        ),
        (
            '[defaults]\ntrusted_modules = ["a", 2]',
            "defaults.trusted_modules[1] = 2: must be a valid string",
        ),
        (
            '[sessions."odd.name"]\nserializer = "yaml"',
            "sessions.\"odd.name\".serializer = 'yaml': must be",
        ),
        (
            "[defaults]\nprotocol = 4",
            "defaults.protocol = 4: must be 2 or 3",
        ),
    ],
    ids=[
        "closed-choice",
        "unknown-key",
        "range",
        "profile-session",
        "url",
        "url-option",
        "list-item",
        "quoted-session-name",
        "protocol",
    ],
)
def test_bad_values_name_file_key_value_and_what_is_allowed(
    env: Env, write_file: WriteFile, text: str, expected: str
) -> None:
    path, message = load_error(env, write_file, text)

    assert message.startswith(f"{path}: ")
    assert expected in message


def test_startup_node_error_explains_the_form(env: Env, write_file: WriteFile) -> None:
    path = write_file("[defaults]\nstartup_nodes = ['a:1', 'b:x']\n")
    with pytest.raises(ConfigError) as caught:
        env.load()

    assert (
        f"{path}: defaults.startup_nodes = 'b:x': the port must be a number, not 'x'"
    ) == str(caught.value)


def test_every_problem_of_every_table_in_one_error(
    env: Env, write_file: WriteFile
) -> None:
    path, message = load_error(
        env,
        write_file,
        """
        [defaults]
        serializer = "jsn"
        [sessions.cache]
        port = "x"
        [profiles.prod.sessions.cache]
        colour = "blue"
        """,
    )

    assert message.startswith("3 problems in the kvdb settings:\n")
    assert f"  {path}: defaults.serializer = 'jsn'" in message
    assert f"  {path}: sessions.cache.port = 'x'" in message
    assert f"  {path}: profiles.prod.sessions.cache.colour is not a setting" in message


def test_file_and_environment_problems_together(
    env: Env, write_file: WriteFile
) -> None:
    env["KVDB_PORT"] = "x"
    path, message = load_error(env, write_file, "[defaults]\ndb_id = 'y'\n")

    assert "2 problems" in message
    assert "KVDB_PORT = 'x': must be a valid integer" in message
    assert f"{path}: defaults.db_id = 'y'" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[default]\nurl = 'redis://h'",
            "default is not allowed here (allowed: defaults, ",
        ),
        ("[defualts]\n", "did you mean 'defaults'?"),
        ("url = 'redis://h'", "url is not allowed here"),
        ("url = 'redis://h'", "settings go in [defaults] or a sessions table"),
        ("[profiles.prod]\nurl = 'x'", "profiles.prod.url is not allowed here"),
        ("[profiles.prod]\nurl = 'x'", "settings go in [profiles.prod.defaults]"),
        ("[profiles.prod.session.cache]", "did you mean 'sessions'?"),
        ("sessions = 3", "sessions must be a table, like [sessions]"),
        ("[sessions]\ncache = 3", "sessions.cache must be a table"),
        ("profiles = []", "profiles must be a table"),
        ("[profiles]\nprod = 1", "profiles.prod must be a table"),
    ],
    ids=[
        "default-without-s",
        "typo",
        "setting-at-top",
        "setting-at-top-hint",
        "setting-in-profile",
        "setting-in-profile-hint",
        "profile-typo",
        "sessions-value",
        "session-value",
        "profiles-array",
        "profile-value",
    ],
)
def test_misplaced_tables(
    env: Env, write_file: WriteFile, text: str, expected: str
) -> None:
    _, message = load_error(env, write_file, text)

    assert expected in message


def test_toml_syntax_error_gives_line_and_column(
    env: Env, write_file: WriteFile
) -> None:
    path, message = load_error(env, write_file, '[defaults]\nserializer = "json\n')

    assert message.startswith(f"{path}: invalid TOML: ")
    assert "line 2, column" in message


def test_toml_syntax_error_in_pyproject(env: Env, write_file: WriteFile) -> None:
    write_file("[tool.kvdb\n", name="pyproject.toml")

    with pytest.raises(ConfigError, match=r"pyproject\.toml: invalid TOML: .*line 1"):
        env.load()


def test_pyproject_errors_use_the_full_dotted_key(
    env: Env, write_file: WriteFile
) -> None:
    path = write_file(
        "[tool.kvdb.sessions.cache]\nserializer = 'x'\n", name="pyproject.toml"
    )

    with pytest.raises(ConfigError) as caught:
        env.load()

    assert str(caught.value).startswith(
        f"{path}: tool.kvdb.sessions.cache.serializer = 'x'"
    )


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            'serializer = "none"\ncompression = "zstd"',
            "sessions.cache.compression): compression needs a serializer",
        ),
        (
            'compression = "zstd"\ncompression_level = 99',
            "sessions.cache.compression_level): compression_level: 99 is not a "
            "zstd level",
        ),
        (
            "serializer_kwargs = { jsonlb = 'orjson' }",
            "sessions.cache.serializer_kwargs): serializer_kwargs: unknown option "
            "'jsonlb'",
        ),
        (
            'signing_key = "0123456789abcdef-long-enough"',
            "sessions.cache.signing_key): signing_key signs pickle frames",
        ),
    ],
    ids=["compression-without-serializer", "level", "kwargs", "signing-key"],
)
def test_codec_settings_that_do_not_fit_fail_where_they_are_written(
    env: Env, write_file: WriteFile, table: str, expected: str
) -> None:
    path = write_file(f'[defaults]\nserializer = "json"\n[sessions.cache]\n{table}\n')
    settings = env.load()

    with pytest.raises(ConfigError) as checked:
        settings.check()
    with pytest.raises(ConfigError) as resolved:
        settings.resolve("cache")

    assert f"session 'cache' ({path}: {expected}" in str(checked.value)
    assert str(checked.value) == str(resolved.value)


def test_errors_carry_no_pydantic_noise(env: Env, write_file: WriteFile) -> None:
    _, message = load_error(env, write_file, "[defaults]\nport = 'x'\n")

    assert "errors.pydantic.dev" not in message
    assert "validation error" not in message
    assert "type=" not in message


class TestSecretsNeverShow:
    SECRET = "hunter2-918273"

    @pytest.mark.parametrize(
        "text",
        [
            "[defaults]\npassword = 918273",
            "[sessions.cache]\npassword = ['hunter2-918273']",
            "[defaults]\nsentinel_password = {a = 'hunter2-918273'}",
            "[defaults]\nsigning_key = 918273",
            "[defaults]\npasswrod = 'hunter2-918273'",
            "[defaults]\nurl = 'redis://:hunter2-918273@h:x/0'",
            "[defaults]\nurl = 'redis://:hunter2-918273@h/0?socket_timeout=x'",
            "[defaults]\nurl = 'redis://u:hunter2/918273@h/0'",
        ],
        ids=[
            "password-wrong-type",
            "password-list",
            "sentinel-password-table",
            "signing-key-number",
            "misspelt-password-key",
            "url-bad-port",
            "url-bad-option",
            "url-unencoded-slash",
        ],
    )
    def test_in_file_errors(self, env: Env, write_file: WriteFile, text: str) -> None:
        _, message = load_error(env, write_file, text)

        assert "918273" not in message
        assert "hunter2" not in message

    def test_wrong_type_password_is_shown_masked(
        self, env: Env, write_file: WriteFile
    ) -> None:
        path, message = load_error(env, write_file, "[defaults]\npassword = 918273\n")

        assert f"{path}: defaults.password = ***: must be a valid string" == message

    def test_in_environment_errors(self, env: Env) -> None:
        env["KVDB_SESSIONS__CACHE__PASSWORD"] = self.SECRET
        env["KVDB_URL"] = f"redis://:{self.SECRET}@h:port"

        with pytest.raises(ConfigError) as caught:
            env.load()

        assert self.SECRET not in str(caught.value)

    def test_in_resolution_errors(self, env: Env) -> None:
        env["KVDB_URL"] = f"unix://:{self.SECRET}@/run/r.sock"
        env["KVDB_HOST"] = "h"

        with pytest.raises(ConfigError) as caught:
            env.load().resolve()

        assert "KVDB_HOST = 'h': does not apply to a unix:// URL" in str(caught.value)
        assert self.SECRET not in str(caught.value)

    def test_in_reprs_and_pool_keys(self, env: Env, tmp_path: Path) -> None:
        (tmp_path / "key").write_text(self.SECRET + "-key")
        env["KVDB_URL"] = f"redis://app:{self.SECRET}-url@h/0"
        env["KVDB_PASSWORD"] = self.SECRET
        env["KVDB_SENTINEL_PASSWORD"] = self.SECRET + "-sentinel"
        env["KVDB_SIGNING_KEY_FILE"] = str(tmp_path / "key")
        env["KVDB_SERIALIZER"] = "pickle"

        settings = env.load()
        resolved = settings.resolve()
        explained = settings.explain()
        connection = resolved.connection

        shown = [
            repr(settings),
            repr(resolved),
            str(resolved),
            repr(explained),
            repr(connection),
            str(connection),
            connection.pool_key(),
            connection.safe_url(),
            connection.server_label(),
            repr(settings.resolve("default", {"url": f"redis://:{self.SECRET}@o"})),
        ]
        assert [] == [text for text in shown if "hunter2" in text or "918273" in text]

    def test_in_log_records(
        self, env: Env, write_file: WriteFile, caplog: pytest.LogCaptureFixture
    ) -> None:
        write_file(f"[defaults]\npassword = '{self.SECRET}'\n")
        env["KVDB_URL"] = f"redis://:{self.SECRET}@h/0"

        with caplog.at_level(logging.DEBUG, logger="kvdb"):
            env.load().explain()

        assert self.SECRET not in caplog.text
