"""Layering: the 8 sources, REDIS_URL, the URL-vs-field rule, files and env."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kvdb._types import NOT_GIVEN
from kvdb.errors import ConfigError
from kvdb.settings import load_settings
from tests.settings.conftest import Env, WriteFile

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

# Layer -> how to set key_prefix there, and the source label it shows.
LAYERS = [
    ("get_session", "get_session()"),
    ("env-session", "KVDB_SESSIONS__CACHE__KEY_PREFIX"),
    ("profile-session", "kvdb.toml [profiles.p.sessions.cache]"),
    ("file-session", "kvdb.toml [sessions.cache]"),
    ("env-defaults", "KVDB_KEY_PREFIX"),
    ("profile-defaults", "kvdb.toml [profiles.p.defaults]"),
    ("file-defaults", "kvdb.toml [defaults]"),
    ("built-in", "default"),
]


def _layered_file(from_layer: int) -> str:
    """A file that sets key_prefix in every file layer at or below `from_layer`."""

    def value(layer: int) -> str:
        return f'key_prefix = "L{layer}"' if layer >= from_layer else ""

    return f"""
        [defaults]
        {value(7)}
        [sessions.cache]
        default_ttl = 60
        {value(4)}
        [profiles.p.defaults]
        {value(6)}
        [profiles.p.sessions.cache]
        {value(3)}
    """


@pytest.mark.parametrize(
    "layer",
    range(1, 9),
    ids=[
        f"{name}-beats-{LAYERS[index + 1][0]}" if index < 7 else name
        for index, (name, _) in enumerate(LAYERS)
    ],
)
def test_each_layer_beats_the_next(env: Env, write_file: WriteFile, layer: int) -> None:
    write_file(_layered_file(layer))
    if layer <= 2:
        env["KVDB_SESSIONS__CACHE__KEY_PREFIX"] = "L2"
    if layer <= 5:
        env["KVDB_KEY_PREFIX"] = "L5"
    overrides = {"key_prefix": "L1"} if layer == 1 else None

    settings = env.load(profile="p")
    explained = settings.explain("cache", overrides)

    expected = f"L{layer}" if layer < 8 else None
    assert expected == settings.resolve("cache", overrides).key_prefix
    assert LAYERS[layer - 1][1] == explained["key_prefix"].source


def test_each_setting_is_resolved_on_its_own(env: Env, write_file: WriteFile) -> None:
    write_file(
        """
        [defaults]
        serializer = "msgpack"
        [sessions.cache]
        compression = "lz4"
        """
    )
    env["KVDB_SESSIONS__CACHE__KEY_PREFIX"] = "c:"

    settings = env.load().resolve("cache", {"default_ttl": 5})

    assert ("msgpack", "lz4", "c:", 5.0) == (
        settings.serializer,
        settings.compression,
        settings.key_prefix,
        settings.default_ttl,
    )


class TestIssueExample:
    def test_as_written(self, env: Env, write_file: WriteFile) -> None:
        write_file(ISSUE_EXAMPLE)

        cache = env.load().resolve("cache")
        default = env.load().resolve("default")

        assert (2, "zstd", "json") == (
            cache.connection.db,
            cache.compression,
            cache.serializer,
        )
        assert (0, None, "json") == (
            default.connection.db,
            default.compression,
            default.serializer,
        )

    def test_with_the_staging_profile(self, env: Env, write_file: WriteFile) -> None:
        write_file(ISSUE_EXAMPLE)
        env["KVDB_PROFILE"] = "staging"

        settings = env.load()
        cache = settings.resolve("cache")

        assert "staging" == settings.profile
        assert (4, "zstd") == (cache.connection.db, cache.compression)
        assert "kvdb.toml [profiles.staging.sessions.cache]" == (
            settings.explain("cache")["db_id"].source
        )

    def test_profile_argument_beats_kvdb_profile(
        self, env: Env, write_file: WriteFile
    ) -> None:
        write_file(ISSUE_EXAMPLE + "\n[profiles.other]\n")
        env["KVDB_PROFILE"] = "other"

        assert 4 == env.load(profile="staging").resolve("cache").connection.db


class TestUrlAndFields:
    @pytest.mark.parametrize(
        ("file", "variables", "db"),
        [
            ("[defaults]\ndb_id = 2", {"KVDB_URL": "redis://h:6379/7"}, 7),
            ("[sessions.cache]\ndb_id = 2", {"KVDB_URL": "redis://h:6379/7"}, 2),
            ("", {"KVDB_URL": "redis://h:6379/7", "KVDB_DB_ID": "2"}, 2),
            ('[sessions.cache]\nurl = "redis://h/7"\ndb_id = 2', {}, 2),
            ("[defaults]\ndb_id = 2", {"KVDB_URL": "redis://h:6379"}, 2),
            ("[defaults]\ndb_id = 3", {}, 3),
            ("", {"KVDB_URL": "redis://h:6379/7"}, 7),
            ("", {"KVDB_SESSIONS__CACHE__URL": "redis://h/7", "KVDB_DB_ID": "2"}, 7),
        ],
        ids=[
            "url-beats-less-specific-db",
            "more-specific-db-beats-url",
            "same-layer-db-beats-url",
            "same-table-db-beats-url",
            "db-fills-in-url-without-db",
            "db-beats-default-url",
            "default-never-beats-url",
            "session-url-beats-env-default-db",
        ],
    )
    def test_database(
        self,
        env: Env,
        write_file: WriteFile,
        file: str,
        variables: dict[str, str],
        db: int,
    ) -> None:
        write_file(
            file + "\n[sessions.cache]\n" if "sessions.cache" not in file else file
        )
        for name, value in variables.items():
            env[name] = value

        assert db == env.load().resolve("cache").connection.db

    def test_host_port_and_credentials(self, env: Env, write_file: WriteFile) -> None:
        write_file(
            """
            [defaults]
            host = "less-specific"
            port = 1
            username = "nobody"
            password = "less-specific-password"
            [sessions.cache]
            port = 7000
            """
        )
        env["KVDB_URL"] = "redis://app:url-password@url-host:6380/1"

        connection = env.load().resolve("cache").connection

        assert connection.password is not None
        assert ("url-host", 7000, "app", "url-password") == (
            connection.host,
            connection.port,
            connection.username,
            connection.password.get_secret_value(),
        )

    def test_password_file_fills_in_a_url_without_password(
        self, env: Env, write_file: WriteFile, tmp_path: Path
    ) -> None:
        (tmp_path / "secret").write_text("from-file\n")
        write_file(
            f"""
            [defaults]
            password_file = "{tmp_path / "secret"}"
            [sessions.cache]
            url = "redis://cache:6379/0"
            """
        )

        settings = env.load()
        connection = settings.resolve("cache").connection

        assert connection.password is not None
        assert "from-file" == connection.password.get_secret_value()
        assert "kvdb.toml [defaults]" == settings.explain("cache")["password"].source

    def test_url_password_beats_a_less_specific_password_file(
        self, env: Env, write_file: WriteFile, tmp_path: Path
    ) -> None:
        write_file('[defaults]\npassword_file = "/does/not/exist"\n[sessions.cache]\n')
        env["KVDB_SESSIONS__CACHE__URL"] = "redis://:url-password@h/0"

        connection = env.load().resolve("cache").connection

        assert connection.password is not None
        assert "url-password" == connection.password.get_secret_value()

    @pytest.mark.parametrize(
        ("file", "timeout"),
        [
            ("[defaults]\nsocket_timeout = 9", 2.0),
            ("[sessions.cache]\nsocket_timeout = 9", 9.0),
            ("", 2.0),
        ],
        ids=["less-specific-field", "more-specific-field", "built-in-default"],
    )
    def test_query_options(
        self, env: Env, write_file: WriteFile, file: str, timeout: float
    ) -> None:
        write_file(file + ("\n[sessions.cache]\n" if "sessions" not in file else ""))
        env["KVDB_URL"] = "redis://h/0?socket_timeout=2"

        settings = env.load()

        assert timeout == settings.resolve("cache").connection.socket_timeout

    def test_query_option_shows_the_url_as_its_source(self, env: Env) -> None:
        env["KVDB_URL"] = "redis://h/0?socket_timeout=2"

        explained = env.load().explain()

        assert (2.0, "KVDB_URL") == (
            explained["socket_timeout"].value,
            explained["socket_timeout"].source,
        )

    def test_a_less_specific_ssl_does_not_turn_a_url_into_tls(
        self, env: Env, write_file: WriteFile
    ) -> None:
        write_file('[defaults]\nssl = true\n[sessions.plain]\nurl = "redis://h"\n')

        settings = env.load()

        assert False is settings.resolve("plain").connection.ssl
        assert True is settings.resolve("default").connection.ssl

    def test_defaults_for_other_kinds_do_not_break_a_socket_session(
        self, env: Env, write_file: WriteFile
    ) -> None:
        write_file(
            """
            [defaults]
            url = "redis+sentinel://s1/mymaster"
            host = "h"
            [sessions.local]
            url = "unix:///run/redis.sock"
            """
        )

        assert "/run/redis.sock" == env.load().resolve("local").connection.path

    def test_a_session_url_leaves_a_cluster_of_the_defaults(
        self, env: Env, write_file: WriteFile
    ) -> None:
        write_file(
            """
            [defaults]
            url = "redis://a:7000"
            cluster = true
            startup_nodes = ["b:7001", "c:7002"]
            [sessions.single]
            url = "redis://other/2"
            """
        )
        settings = env.load()

        assert "tcp" == settings.resolve("single").connection.kind
        assert "cluster" == settings.resolve("default").connection.kind

    def test_explain_attributes_url_parts_to_the_url(self, env: Env) -> None:
        env["KVDB_URL"] = "rediss://app:pw@h:7000/3"

        explained = env.load().explain()

        assert {
            "host": ("h", "KVDB_URL"),
            "port": (7000, "KVDB_URL"),
            "db_id": (3, "KVDB_URL"),
            "username": ("app", "KVDB_URL"),
            "ssl": (True, "KVDB_URL"),
        } == {
            name: (explained[name].value, explained[name].source)
            for name in ("host", "port", "db_id", "username", "ssl")
        }


class TestRedisUrl:
    def test_used_when_nothing_sets_a_url(self, env: Env) -> None:
        env["REDIS_URL"] = "redis://from-redis-url:6379/5"

        settings = env.load()

        assert "from-redis-url" == settings.resolve().connection.host
        assert "REDIS_URL" == settings.explain()["url"].source

    @pytest.mark.parametrize(
        ("file", "variables", "host"),
        [
            ("", {"KVDB_URL": "redis://kvdb-url"}, "kvdb-url"),
            ('[defaults]\nurl = "redis://file"', {}, "file"),
            (
                '[profiles.p.defaults]\nurl = "redis://profile"',
                {"KVDB_PROFILE": "p"},
                "profile",
            ),
        ],
        ids=["kvdb-url", "file-defaults", "profile-defaults"],
    )
    def test_ignored_when_a_source_sets_a_url(
        self,
        env: Env,
        write_file: WriteFile,
        file: str,
        variables: dict[str, str],
        host: str,
    ) -> None:
        write_file(file)
        env["REDIS_URL"] = "redis://from-redis-url"
        for name, value in variables.items():
            env[name] = value

        assert host == env.load().resolve().connection.host

    def test_fields_from_any_layer_beat_it(
        self, env: Env, write_file: WriteFile
    ) -> None:
        write_file("[defaults]\ndb_id = 3\n")
        env["REDIS_URL"] = "redis://h:6379/5"

        assert 3 == env.load().resolve().connection.db

    def test_a_bad_one_is_reported_by_name(self, env: Env) -> None:
        env["REDIS_URL"] = "http://:hunter2@h"

        with pytest.raises(ConfigError, match="REDIS_URL = 'http://:\\*\\*\\*@h'"):
            env.load().resolve()


class TestEnvironment:
    def test_names_are_case_insensitive(self, env: Env) -> None:
        env["kvdb_serializer"] = "json"
        env["Kvdb_Sessions__Cache__Db_Id"] = "3"

        settings = env.load()
        cache = settings.resolve("cache")

        assert ("json", 3) == (cache.serializer, cache.connection.db)
        assert (
            "Kvdb_Sessions__Cache__Db_Id" == settings.explain("cache")["db_id"].source
        )

    def test_session_names_match_ignoring_case_and_dashes(
        self, env: Env, write_file: WriteFile
    ) -> None:
        write_file('[sessions.My-Cache]\nkey_prefix = "m:"\n')
        env["KVDB_SESSIONS__MY_CACHE__DB_ID"] = "6"

        settings = env.load()
        resolved = settings.resolve("my-cache")

        assert ["default", "My-Cache"] == settings.session_names()
        assert ("m:", 6) == (resolved.key_prefix, resolved.connection.db)

    def test_sessions_declared_only_in_the_environment(self, env: Env) -> None:
        env["KVDB_SESSIONS__QUEUE__SERIALIZER"] = "msgpack"

        settings = env.load()

        assert ["default", "queue"] == settings.session_names()
        assert "msgpack" == settings.resolve("queue").serializer

    def test_json_lists_and_tables(self, env: Env) -> None:
        env["KVDB_TRUSTED_MODULES"] = json.dumps(["app.models", "app.events"])
        env["KVDB_SERIALIZER_KWARGS"] = json.dumps({"jsonlib": "orjson"})
        env["KVDB_SERIALIZER"] = "json"

        settings = env.load().resolve()

        assert ["app.models", "app.events"] == settings.trusted_modules
        assert {"jsonlib": "orjson"} == settings.serializer_kwargs

    def test_bad_json(self, env: Env) -> None:
        env["KVDB_STARTUP_NODES"] = "a:1,b:2"

        with pytest.raises(
            ConfigError, match="KVDB_STARTUP_NODES = 'a:1,b:2': expected JSON"
        ):
            env.load()

    def test_none_unsets(self, env: Env, write_file: WriteFile) -> None:
        write_file('[defaults]\nserializer = "json"\nsocket_timeout = "none"\n')
        env["KVDB_SESSIONS__RAW__SERIALIZER"] = "None"

        raw = env.load().resolve("raw")

        assert (None, None) == (raw.serializer, raw.connection.socket_timeout)

    def test_empty_variables_count_as_unset(self, env: Env) -> None:
        env["KVDB_SERIALIZER"] = ""
        env["KVDB_PROFILE"] = ""

        settings = env.load()

        assert (None, None) == (settings.resolve().serializer, settings.profile)

    def test_unrelated_kvdb_variables_are_left_alone(self, env: Env) -> None:
        env["KVDB_TEST_SERVER_BINARY"] = "/usr/bin/redis-server"

        assert ["default"] == env.load().session_names()

    @pytest.mark.parametrize(
        ("name", "message"),
        [
            (
                "KVDB_SERIALISER",
                "'serialiser' is not a setting; did you mean 'serializer'?",
            ),
            ("KVDB_PROFIL", "did you mean 'profile'?"),
            ("KVDB_SESSIONS__CACHE__COMPRESION", "did you mean 'compression'?"),
            ("KVDB_SESSIONS__CACHE", "expected KVDB_SESSIONS__<NAME>__<SETTING>"),
            ("KVDB_SESSION__CACHE__DB_ID", "a session's setting is written"),
        ],
        ids=["typo", "control-typo", "session-typo", "no-setting", "no-s"],
    )
    def test_misspelt_names(self, env: Env, name: str, message: str) -> None:
        env[name] = "1"

        with pytest.raises(ConfigError, match=message.replace("?", r"\?")):
            env.load()

    def test_the_same_setting_twice(self, env: Env) -> None:
        env["KVDB_URL"] = "redis://a"
        env["kvdb_url"] = "redis://b"

        with pytest.raises(
            ConfigError, match="KVDB_URL and kvdb_url set the same setting"
        ):
            env.load()

    def test_an_explicit_environ_mapping_is_used_instead(self, env: Env) -> None:
        env["KVDB_SERIALIZER"] = "json"

        settings = load_settings(environ={"KVDB_SERIALIZER": "pickle"})

        assert "pickle" == settings.resolve().serializer


class TestSecretFiles:
    @pytest.mark.parametrize(
        ("content", "password"),
        [
            ("s3cret\n", "s3cret"),
            ("s3cret\r\n", "s3cret"),
            ("s3cret", "s3cret"),
            ("s3cret\n\n", "s3cret\n"),
            (" spaced ", " spaced "),
        ],
        ids=["newline", "crlf", "no-newline", "two-newlines", "spaces-kept"],
    )
    def test_one_trailing_newline_is_stripped(
        self, env: Env, tmp_path: Path, content: str, password: str
    ) -> None:
        (tmp_path / "pw").write_text(content, newline="")
        env["KVDB_PASSWORD_FILE"] = str(tmp_path / "pw")

        connection = env.load().resolve().connection

        assert connection.password is not None
        assert password == connection.password.get_secret_value()

    def test_session_file_variable(self, env: Env, tmp_path: Path) -> None:
        (tmp_path / "pw").write_text("cache-pw\n")
        env["KVDB_PASSWORD"] = "default-pw"
        env["KVDB_SESSIONS__CACHE__PASSWORD_FILE"] = str(tmp_path / "pw")

        settings = env.load()
        cache = settings.resolve("cache").connection

        assert cache.password is not None
        assert "cache-pw" == cache.password.get_secret_value()
        assert "KVDB_SESSIONS__CACHE__PASSWORD_FILE" == (
            settings.explain("cache")["password"].source
        )

    def test_sentinel_password_and_signing_key_files(
        self, env: Env, tmp_path: Path
    ) -> None:
        (tmp_path / "sentinel").write_text("sentinel-pw\n")
        (tmp_path / "key").write_text("signing-key-of-pickle-frames\n")
        env["KVDB_SENTINEL_PASSWORD_FILE"] = str(tmp_path / "sentinel")
        env["KVDB_SIGNING_KEY_FILE"] = str(tmp_path / "key")
        env["KVDB_SERIALIZER"] = "pickle"

        settings = env.load().resolve()

        assert settings.sentinel_password is not None
        assert settings.signing_key is not None
        assert ("sentinel-pw", "signing-key-of-pickle-frames") == (
            settings.sentinel_password.get_secret_value(),
            settings.signing_key.get_secret_value(),
        )

    def test_a_more_specific_password_beats_a_password_file(
        self, env: Env, write_file: WriteFile
    ) -> None:
        write_file('[defaults]\npassword_file = "/does/not/exist"\n')
        env["KVDB_PASSWORD"] = "from-env"

        connection = env.load().resolve().connection

        assert connection.password is not None
        assert "from-env" == connection.password.get_secret_value()

    @pytest.mark.parametrize(
        ("content", "problem"),
        [(None, "No such file or directory"), ("\n", "the file is empty")],
        ids=["missing", "empty"],
    )
    def test_an_unreadable_file_names_the_file_and_setting(
        self, env: Env, tmp_path: Path, content: str | None, problem: str
    ) -> None:
        if content is not None:
            (tmp_path / "pw").write_text(content)
        env["KVDB_SESSIONS__CACHE__PASSWORD_FILE"] = str(tmp_path / "pw")

        with pytest.raises(ConfigError) as caught:
            env.load().resolve("cache")

        assert (
            f"session 'cache': KVDB_SESSIONS__CACHE__PASSWORD_FILE = "
            f"'{tmp_path / 'pw'}': cannot read the file: {problem}"
            if content is None
            else f"'{tmp_path / 'pw'}': {problem}"
        ) in str(caught.value)

    def test_check_does_not_read_secret_files(self, env: Env) -> None:
        env["KVDB_PASSWORD_FILE"] = "/does/not/exist"

        env.load().check()

    def test_password_and_password_file_in_one_table(
        self, env: Env, write_file: WriteFile
    ) -> None:
        path = write_file('[sessions.cache]\npassword = "x"\npassword_file = "/x"\n')

        with pytest.raises(ConfigError) as caught:
            env.load()

        assert (
            f"{path}: sessions.cache.password_file = '/x': set password or "
            "password_file, not both"
        ) == str(caught.value)


class TestFileDiscovery:
    def test_kvdb_toml_in_the_working_directory(
        self, env: Env, write_file: WriteFile
    ) -> None:
        path = write_file('[defaults]\nserializer = "json"\n')

        settings = env.load()

        assert (path, "json") == (settings.path, settings.resolve().serializer)

    def test_pyproject_tool_kvdb(self, env: Env, write_file: WriteFile) -> None:
        path = write_file(
            """
            [project]
            name = "app"

            [tool.kvdb.defaults]
            serializer = "msgpack"

            [tool.kvdb.sessions.cache]
            db_id = 2
            """,
            name="pyproject.toml",
        )

        settings = env.load()

        assert path == settings.path
        assert "pyproject.toml [tool.kvdb.sessions.cache]" == (
            settings.explain("cache")["db_id"].source
        )
        assert ("msgpack", 2) == (
            settings.resolve("cache").serializer,
            settings.resolve("cache").connection.db,
        )

    def test_pyproject_without_tool_kvdb_is_no_settings_file(
        self, env: Env, write_file: WriteFile
    ) -> None:
        write_file('[project]\nname = "app"\n', name="pyproject.toml")

        assert None is env.load().path

    def test_kvdb_toml_beats_pyproject(self, env: Env, write_file: WriteFile) -> None:
        write_file("[tool.kvdb.defaults]\ndb_id = 1\n", name="pyproject.toml")
        path = write_file("[defaults]\ndb_id = 2\n")

        assert path == env.load().path

    def test_kvdb_config_beats_both(self, env: Env, write_file: WriteFile) -> None:
        write_file("[defaults]\ndb_id = 2\n")
        path = write_file("[defaults]\ndb_id = 3\n", name="conf/app.toml")
        env["KVDB_CONFIG"] = "conf/app.toml"

        settings = env.load()

        assert (path, 3) == (settings.path, settings.resolve().connection.db)

    def test_the_config_argument_beats_kvdb_config(
        self, env: Env, write_file: WriteFile
    ) -> None:
        path = write_file("[defaults]\ndb_id = 4\n", name="given.toml")
        env["KVDB_CONFIG"] = "does-not-exist.toml"

        assert path == env.load(path).path

    @pytest.mark.parametrize(
        ("use_env", "given_by"),
        [(True, "KVDB_CONFIG"), (False, "the config argument")],
        ids=["env", "argument"],
    )
    def test_a_named_file_must_exist(
        self, env: Env, use_env: bool, given_by: str
    ) -> None:
        if use_env:
            env["KVDB_CONFIG"] = "missing.toml"

        with pytest.raises(
            ConfigError, match=f"missing.toml \\(from {given_by}\\) does not"
        ):
            env.load(None if use_env else "missing.toml")

    def test_no_file_at_all(self, env: Env) -> None:
        settings = env.load()

        assert (None, None, (), ["default"]) == (
            settings.path,
            settings.profile,
            settings.profiles,
            settings.session_names(),
        )
        assert "redis://localhost:6379/0" == settings.resolve().url


class TestProfiles:
    def test_a_missing_profile_lists_the_profiles(
        self, env: Env, write_file: WriteFile
    ) -> None:
        write_file("[profiles.staging]\n[profiles.prod]\n")
        env["KVDB_PROFILE"] = "stage"

        with pytest.raises(ConfigError) as caught:
            env.load()

        assert "profile 'stage' (from KVDB_PROFILE) is not in" in str(caught.value)
        assert "did you mean 'staging'? (profiles there: staging, prod)" in str(
            caught.value
        )

    def test_a_profile_without_a_file(self, env: Env) -> None:
        with pytest.raises(ConfigError, match="there is no settings file"):
            env.load(profile="staging")

    def test_sessions_declared_in_the_profile(
        self, env: Env, write_file: WriteFile
    ) -> None:
        write_file('[profiles.p.sessions.extra]\nkey_prefix = "x:"\n')

        assert ["default"] == env.load().session_names()
        assert ["default", "extra"] == env.load(profile="p").session_names()


class TestSessionNames:
    def test_an_undeclared_session_is_an_error(
        self, env: Env, write_file: WriteFile
    ) -> None:
        write_file("[sessions.cache]\n")

        with pytest.raises(ConfigError) as caught:
            env.load().resolve("cahce")

        assert "no session 'cahce' is declared" in str(caught.value)
        assert "did you mean 'cache'?" in str(caught.value)

    def test_an_undeclared_session_unlike_any_declared_gets_the_defaults(
        self, env: Env, write_file: WriteFile
    ) -> None:
        write_file('[defaults]\nserializer = "json"\n[sessions.cache]\n')

        settings = env.load().resolve("jobs")

        assert "json" == settings.serializer
        assert "redis://localhost:6379/0" == settings.connection.safe_url()

    def test_an_undeclared_session_with_keywords_is_declared_by_them(
        self, env: Env
    ) -> None:
        settings = env.load().resolve("adhoc", {"url": "redis://adhoc/3"})

        assert 3 == settings.connection.db

    def test_sessions_that_env_names_cannot_tell_apart(
        self, env: Env, write_file: WriteFile
    ) -> None:
        write_file("[sessions.a-b]\n[sessions.a_b]\n")

        with pytest.raises(
            ConfigError, match="sessions 'a-b' and 'a_b' are one session"
        ):
            env.load()


class TestOverrides:
    def test_raw_values_are_validated(self, env: Env) -> None:
        settings = env.load().resolve(
            "default",
            {
                "url": "redis://h/1",
                "password": "pw",
                "serializer": "json",
                "serializer_kwargs": {"jsonlib": "json"},
            },
        )

        assert settings.password is not None
        assert ("pw", {"jsonlib": "json"}) == (
            settings.password.get_secret_value(),
            settings.serializer_kwargs,
        )

    def test_not_given_values_are_left_out(self, env: Env) -> None:
        settings = env.load().resolve("default", {"serializer": NOT_GIVEN, "db_id": 2})

        assert (None, 2) == (settings.serializer, settings.connection.db)

    def test_bad_values_name_the_keyword(self, env: Env) -> None:
        with pytest.raises(ConfigError) as caught:
            env.load().resolve("default", {"compression": "zsdt", "port": "x"})

        message = str(caught.value)
        assert "2 problems" in message
        assert "session 'default': get_session() compression = 'zsdt'" in message
        assert "did you mean 'zstd'?" in message
        assert "get_session() port = 'x': must be a valid integer" in message

    def test_unknown_keyword(self, env: Env) -> None:
        with pytest.raises(
            ConfigError, match="get_session\\(\\) serialiser is not a setting"
        ):
            env.load().resolve("default", {"serialiser": "json"})

    def test_keyword_url_beats_a_session_db(
        self, env: Env, write_file: WriteFile
    ) -> None:
        write_file("[sessions.cache]\ndb_id = 2\n")

        connection = env.load().resolve("cache", {"url": "redis://h/9"}).connection

        assert 9 == connection.db


def test_a_snapshot_does_not_follow_later_changes(
    env: Env, write_file: WriteFile
) -> None:
    path = write_file("[defaults]\ndb_id = 1\n")
    env["KVDB_SERIALIZER"] = "json"
    settings = env.load()

    path.write_text("[defaults]\ndb_id = 2\n")
    env["KVDB_SERIALIZER"] = "msgpack"

    assert (1, "json") == (
        settings.resolve().connection.db,
        settings.resolve().serializer,
    )
