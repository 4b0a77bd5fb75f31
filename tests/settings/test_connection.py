"""`ConnectionSettings`: a session's URL and fields, normalised, and its pool key."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from pydantic import SecretStr, ValidationError

from kvdb.errors import ConfigError
from kvdb.settings import ConnectionSettings, SessionSettings


def connection(**settings: Any) -> ConnectionSettings:
    return SessionSettings(**settings).connection


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, ("localhost", 6379, 0)),
        ({"url": "redis://h:1/2"}, ("h", 1, 2)),
        ({"url": "redis://h:1/2", "host": "o"}, ("o", 1, 2)),
        ({"url": "redis://h:1/2", "port": 9}, ("h", 9, 2)),
        ({"url": "redis://h:1/2", "db_id": 5}, ("h", 1, 5)),
        ({"url": "redis://h:1/2", "db_id": 0}, ("h", 1, 0)),
        ({"url": "redis://h"}, ("h", 6379, 0)),
    ],
    ids=["defaults", "url", "host", "port", "db", "db-zero", "url-defaults"],
)
def test_fields_override_the_url(
    settings: dict[str, Any], expected: tuple[str, int, int]
) -> None:
    result = connection(**settings)

    assert expected == (result.host, result.port, result.db)


def test_credentials_from_fields_override_the_url() -> None:
    result = connection(url="redis://u:p@h", username="other", password="secret")

    assert result.password is not None
    assert ("other", "secret") == (result.username, result.password.get_secret_value())


def test_credentials_from_the_url_stay_without_fields() -> None:
    result = connection(url="redis://u:p@h")

    assert result.password is not None
    assert ("u", "p") == (result.username, result.password.get_secret_value())


def test_query_options_beat_defaults_but_not_fields() -> None:
    url = "redis://h/0?socket_timeout=2&protocol=3&ssl_cert_reqs=none"

    from_url = connection(url=url)
    with_field = connection(url=url, socket_timeout=9.0)

    assert (2.0, 3, "none") == (
        from_url.socket_timeout,
        from_url.protocol,
        from_url.ssl_cert_reqs,
    )
    assert 9.0 == with_field.socket_timeout


def test_a_field_set_to_its_default_value_still_beats_the_url() -> None:
    result = connection(url="redis://h/0?socket_timeout=2", socket_timeout=5.0)

    assert 5.0 == result.socket_timeout


def test_a_bad_query_option_value_fails_validation_without_the_password() -> None:
    with pytest.raises(ValidationError) as caught:
        SessionSettings(url="redis://:hunter2@h/0?socket_timeout=soon")

    assert "query option socket_timeout='soon'" in str(caught.value)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("settings", "ssl"),
    [
        ({"url": "redis://h"}, False),
        ({"url": "rediss://h"}, True),
        ({"url": "redis://h", "ssl": True}, True),
        ({"url": "rediss://h", "ssl": False}, False),
    ],
    ids=["redis", "rediss", "field-on", "field-off"],
)
def test_ssl_follows_the_scheme_unless_set(settings: dict[str, Any], ssl: bool) -> None:
    assert ssl == connection(**settings).ssl


def test_unix() -> None:
    result = connection(url="unix:///run/redis.sock?db=2")

    assert ("unix", "/run/redis.sock", 2, None) == (
        result.kind,
        result.path,
        result.db,
        result.host,
    )


def test_cluster_from_the_url_adds_startup_nodes() -> None:
    result = connection(
        url="redis+cluster://a:1,b:2",
        startup_nodes=["c:3", "a:1"],
        read_from_replicas=True,
    )

    assert ("cluster", (("a", 1), ("b", 2), ("c", 3)), True) == (
        result.kind,
        result.nodes,
        result.read_from_replicas,
    )


def test_cluster_true_makes_the_url_host_a_startup_node() -> None:
    result = connection(url="rediss://a:1", cluster=True, startup_nodes=["b:2"])

    assert ("cluster", (("a", 1), ("b", 2)), True) == (
        result.kind,
        result.nodes,
        result.ssl,
    )


def test_sentinel() -> None:
    result = connection(
        url="rediss+sentinel://u:pw@s1,s2:26380/mymaster/3",
        sentinel_username="watcher",
        sentinel_password="sentinel-secret",
    )

    assert ("sentinel", (("s1", 26379), ("s2", 26380)), "mymaster", 3, True) == (
        result.kind,
        result.nodes,
        result.service_name,
        result.db,
        result.ssl,
    )
    assert result.sentinel_password is not None
    assert ("watcher", "sentinel-secret") == (
        result.sentinel_username,
        result.sentinel_password.get_secret_value(),
    )


def test_sentinel_service_name_from_the_field() -> None:
    assert (
        "other"
        == connection(url="redis+sentinel://s1", service_name="other").service_name
    )


def test_embedded() -> None:
    result = connection(
        url="embedded:///srv/data?db=1",
        embedded_persistence="aof",
        embedded_binary="/x",
    )

    assert ("embedded", "/srv/data", 1, "aof") == (
        result.kind,
        result.path,
        result.db,
        result.embedded_persistence,
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"url": "unix:///s.sock", "host": "h"},
            "host = 'h': does not apply to a unix://",
        ),
        ({"url": "redis+cluster://a:1", "port": 1}, "port = 1: does not apply"),
        ({"url": "embedded://", "ssl": True}, "ssl = True: does not apply"),
        (
            {"url": "redis://h", "service_name": "m"},
            "service_name = 'm': does not apply",
        ),
        (
            {"url": "redis+sentinel://s", "cluster": True},
            "cluster = True: does not apply",
        ),
        (
            {"url": "redis+cluster://a", "cluster": False},
            "cluster = False: does not apply",
        ),
        ({"url": "redis+sentinel://s1:1"}, "needs the service name"),
        ({"url": "redis+cluster://a:1", "db_id": 2}, "only database 0"),
        ({"url": "redis://a", "cluster": True, "db_id": 2}, "only database 0"),
        ({"startup_nodes": ["a:1"]}, "startup_nodes = ['a:1']: needs cluster = true"),
    ],
    ids=[
        "host-unix",
        "port-cluster",
        "ssl-embedded",
        "service-tcp",
        "cluster-sentinel",
        "not-cluster",
        "no-service",
        "cluster-db",
        "cluster-field-db",
        "nodes-without-cluster",
    ],
)
def test_fields_that_do_not_fit_the_url(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(
        ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")
    ):
        connection(**settings)


@pytest.mark.parametrize(
    ("settings", "label", "safe"),
    [
        ({"url": "redis://u:pw@h:1/2"}, "h:1", "redis://u:***@h:1/2"),
        ({"url": "rediss://:pw@h"}, "h:6379", "rediss://:***@h:6379/0"),
        ({"url": "valkey://[::1]:7/1"}, "[::1]:7", "redis://[::1]:7/1"),
        (
            {"url": "unix://:pw@/run/r.sock?db=1"},
            "/run/r.sock",
            "unix://:***@/run/r.sock?db=1",
        ),
        ({"url": "redis+cluster://a:1,b:2"}, "a:1,b:2", "redis+cluster://a:1,b:2"),
        (
            {"url": "rediss+sentinel://:pw@s:1/m/2"},
            "s:1 (m)",
            "rediss+sentinel://:***@s:1/m/2",
        ),
        ({"url": "embedded:///d"}, "embedded:///d", "embedded:///d?db=0"),
        ({"url": "embedded://"}, "embedded://", "embedded://?db=0"),
    ],
    ids=[
        "tcp",
        "tls",
        "ipv6-alias",
        "unix",
        "cluster",
        "sentinel",
        "embedded-dir",
        "embedded",
    ],
)
def test_server_label_and_safe_url(
    settings: dict[str, Any], label: str, safe: str
) -> None:
    result = connection(**settings)

    assert label == result.server_label()
    assert safe == result.safe_url()


def test_redis_kwargs_tcp_make_a_working_pool_argument_set() -> None:
    kwargs = connection(
        url="redis://u:pw@h:1/2?client_name=app&protocol=3",
        max_connections=4,
        health_check_interval=10,
    ).redis_kwargs()

    assert False is kwargs.pop("ssl")
    pool = redis.ConnectionPool(**kwargs)
    made = pool.make_connection()
    assert {
        "host": "h",
        "port": 1,
        "db": 2,
        "username": "u",
        "password": "pw",
        "client_name": "app",
        "protocol": 3,
        "max_connections": 4,
        "health_check_interval": 10.0,
        "socket_timeout": 5.0,
        "socket_connect_timeout": 5.0,
        "socket_keepalive": True,
    } == kwargs
    assert ("h", 1, 2) == (made.host, made.port, made.db)  # type: ignore[attr-defined]
    pool.disconnect()


def test_redis_kwargs_tls_carry_the_ssl_arguments() -> None:
    kwargs = connection(
        url="rediss://h/0", ssl_ca_certs="/ca.pem", ssl_cert_reqs="optional"
    ).redis_kwargs()

    assert True is kwargs.pop("ssl")
    pool = redis.ConnectionPool(connection_class=redis.SSLConnection, **kwargs)
    pool.make_connection()
    assert ("/ca.pem", "optional", True, None) == (
        kwargs["ssl_ca_certs"],
        kwargs["ssl_cert_reqs"],
        kwargs["ssl_check_hostname"],
        kwargs["ssl_certfile"],
    )


def test_redis_kwargs_unix() -> None:
    kwargs = connection(url="unix:///run/r.sock?db=3").redis_kwargs()

    pool = redis.ConnectionPool(
        connection_class=redis.UnixDomainSocketConnection, **kwargs
    )
    pool.make_connection()
    assert ("/run/r.sock", 3) == (kwargs["path"], kwargs["db"])
    assert not {"host", "port", "ssl", "socket_keepalive"} & kwargs.keys()


def test_redis_kwargs_cluster_leave_out_the_location_and_db() -> None:
    kwargs = connection(url="rediss+cluster://a:1").redis_kwargs()

    assert not {"host", "port", "path", "db"} & kwargs.keys()
    assert kwargs["ssl"] is True


class TestPoolKey:
    def test_equal_settings_give_equal_keys(self) -> None:
        first = connection(url="redis://u:pw@h:1/2", socket_timeout=3)
        second = connection(url="redis://u:pw@h:1/2", socket_timeout=3.0)

        assert first.pool_key() == second.pool_key()

    @pytest.mark.parametrize(
        ("first", "second"),
        [
            ({"url": "redis://h:1/2"}, {"host": "h", "port": 1, "db_id": 2}),
            ({"url": "valkey://h"}, {"url": "redis://h:6379/0"}),
            (
                {"url": "redis://h/0?socket_timeout=2"},
                {"url": "redis://h", "socket_timeout": 2},
            ),
            ({"url": "redis://Host"}, {"url": "redis://host"}),
        ],
        ids=["url-or-fields", "alias", "query-or-field", "host-case"],
    )
    def test_the_same_connection_written_two_ways(
        self, first: dict[str, Any], second: dict[str, Any]
    ) -> None:
        assert connection(**first).pool_key() == connection(**second).pool_key()

    @pytest.mark.parametrize(
        "change",
        [
            {"url": "redis://127.0.0.1:6379/0"},
            {"port": 6380},
            {"db_id": 1},
            {"username": "other"},
            {"password": "other"},
            {"url": "rediss://localhost:6379/0"},
            {"socket_timeout": 1},
            {"protocol": 3},
            {"max_connections": 3},
            {"client_name": "x"},
            {"retry_attempts": 0},
        ],
        ids=lambda change: next(iter(change)) + "-" + str(next(iter(change.values()))),
    )
    def test_any_connection_difference_separates_keys(
        self, change: dict[str, Any]
    ) -> None:
        base = {"url": "redis://localhost:6379/0", "password": "pw"}

        assert (
            connection(**base).pool_key() != connection(**{**base, **change}).pool_key()
        )

    @pytest.mark.parametrize(
        "change",
        [
            {"serializer": "json"},
            {"compression": "zstd"},
            {"key_prefix": "app:"},
            {"decode_responses": True},
            {"default_ttl": 3},
            {"signing_key": "k"},
        ],
        ids=lambda change: next(iter(change)),
    )
    def test_codec_and_keys_do_not_enter_the_key(self, change: dict[str, Any]) -> None:
        assert connection().pool_key() == connection(**change).pool_key()

    def test_the_password_is_not_in_the_key_in_any_plain_form(self) -> None:
        import hashlib

        key = connection(password="hunter2").pool_key()

        assert "hunter2" not in key
        assert hashlib.sha256(b"hunter2").hexdigest() not in key
        assert SecretStr("hunter2").get_secret_value() not in repr(
            connection(password="hunter2")
        )
