"""The URL grammar: every scheme, credentials, databases, query options, errors."""

from __future__ import annotations

import pytest

from kvdb.errors import ConfigError
from kvdb.settings import mask_url, parse_url
from kvdb.settings.urls import parse_node


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://localhost:6379/0", ("tcp", False, "localhost", 6379, 0)),
        ("redis://cache.internal", ("tcp", False, "cache.internal", None, None)),
        ("rediss://cache.internal:6380/2", ("tcp", True, "cache.internal", 6380, 2)),
        ("valkey://h:1/3", ("tcp", False, "h", 1, 3)),
        ("valkeys://h:1/3", ("tcp", True, "h", 1, 3)),
        ("keydb://h:1/3", ("tcp", False, "h", 1, 3)),
        ("keydbs://h:1/3", ("tcp", True, "h", 1, 3)),
        ("dragonfly://h:1/3", ("tcp", False, "h", 1, 3)),
        ("dragonflys://h:1/3", ("tcp", True, "h", 1, 3)),
        ("REDIS://Cache.Internal/", ("tcp", False, "cache.internal", None, None)),
        ("redis://[::1]:7000/1", ("tcp", False, "::1", 7000, 1)),
        ("redis://", ("tcp", False, None, None, None)),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_tcp_urls(
    url: str, expected: tuple[str, bool, str | None, int | None, int | None]
) -> None:
    parsed = parse_url(url)

    assert expected == (parsed.kind, parsed.tls, parsed.host, parsed.port, parsed.db)


def test_credentials_are_percent_decoded() -> None:
    parsed = parse_url("redis://app%2Duser:p%40ss%3Aw%2Fd@h/0")

    assert "app-user" == parsed.username
    assert parsed.password is not None
    assert "p@ss:w/d" == parsed.password.get_secret_value()


@pytest.mark.parametrize(
    ("url", "username", "password"),
    [
        ("redis://:secret@h", None, "secret"),
        ("redis://user@h", "user", None),
        ("redis://user:@h", "user", None),
        ("redis://h", None, None),
        ("redis://user:p@ss@h", "user", "p@ss"),
    ],
    ids=["password-only", "user-only", "empty-password", "none", "unencoded-at"],
)
def test_credential_forms(url: str, username: str | None, password: str | None) -> None:
    parsed = parse_url(url)

    assert username == parsed.username
    secret = parsed.password.get_secret_value() if parsed.password else None
    assert password == secret


@pytest.mark.parametrize(
    ("url", "path", "db"),
    [
        ("unix:///run/redis/redis.sock", "/run/redis/redis.sock", None),
        ("unix:///run/redis.sock?db=3", "/run/redis.sock", 3),
        ("redis+unix:///run/redis.sock?db=1", "/run/redis.sock", 1),
        ("unix:///run/my%20redis.sock", "/run/my redis.sock", None),
    ],
    ids=["unix", "unix-db", "redis+unix", "percent-encoded-path"],
)
def test_unix_urls(url: str, path: str, db: int | None) -> None:
    parsed = parse_url(url)

    assert ("unix", path, db) == (parsed.kind, parsed.path, parsed.db)


def test_unix_url_with_password() -> None:
    parsed = parse_url("unix://:secret@/run/redis.sock")

    assert parsed.password is not None
    assert ("/run/redis.sock", "secret") == (
        parsed.path,
        parsed.password.get_secret_value(),
    )


@pytest.mark.parametrize(
    ("url", "tls", "nodes"),
    [
        ("redis+cluster://a:7000,b:7001/", False, (("a", 7000), ("b", 7001))),
        ("rediss+cluster://a:7000", True, (("a", 7000),)),
        ("redis+cluster://a,b:7001/0", False, (("a", 6379), ("b", 7001))),
    ],
    ids=["two-nodes", "tls", "default-port"],
)
def test_cluster_urls(url: str, tls: bool, nodes: tuple[tuple[str, int], ...]) -> None:
    parsed = parse_url(url)

    assert ("cluster", tls, nodes) == (parsed.kind, parsed.tls, parsed.nodes)


@pytest.mark.parametrize(
    ("url", "tls", "nodes", "service", "db"),
    [
        (
            "redis+sentinel://s1:26379,s2:26380/mymaster/2",
            False,
            (("s1", 26379), ("s2", 26380)),
            "mymaster",
            2,
        ),
        ("rediss+sentinel://s1/mymaster", True, (("s1", 26379),), "mymaster", None),
        ("redis+sentinel://s1:1", False, (("s1", 1),), None, None),
    ],
    ids=["service-and-db", "tls-default-port", "no-service"],
)
def test_sentinel_urls(
    url: str,
    tls: bool,
    nodes: tuple[tuple[str, int], ...],
    service: str | None,
    db: int | None,
) -> None:
    parsed = parse_url(url)

    assert ("sentinel", tls, nodes, service, db) == (
        parsed.kind,
        parsed.tls,
        parsed.nodes,
        parsed.service_name,
        parsed.db,
    )


def test_sentinel_url_credentials_are_the_servers() -> None:
    parsed = parse_url("redis+sentinel://app:secret@s1:26379/mymaster/0")

    assert parsed.password is not None
    assert ("app", "secret") == (parsed.username, parsed.password.get_secret_value())


@pytest.mark.parametrize(
    ("url", "path", "db"),
    [
        ("embedded://", None, None),
        ("embedded:///var/lib/app-data", "/var/lib/app-data", None),
        ("embedded:///var/lib/app-data?db=2", "/var/lib/app-data", 2),
        ("embedded://?db=1", None, 1),
    ],
    ids=["in-memory", "dir", "dir-db", "in-memory-db"],
)
def test_embedded_urls(url: str, path: str | None, db: int | None) -> None:
    parsed = parse_url(url)

    assert ("embedded", path, db) == (parsed.kind, parsed.path, parsed.db)


def test_query_options_are_kept_by_name() -> None:
    parsed = parse_url(
        "redis://h/0?socket_timeout=2&protocol=3&ssl_cert_reqs=none&client_name=a+b"
    )

    assert {
        "socket_timeout": "2",
        "protocol": "3",
        "ssl_cert_reqs": "none",
        "client_name": "a b",
    } == parsed.options


@pytest.mark.parametrize(
    ("url", "specified"),
    [
        ("redis://h", {"host", "ssl", "cluster", "service_name"}),
        (
            "redis://u:p@h:1/2?socket_timeout=1",
            {"host", "port", "db_id", "username", "password", "socket_timeout"},
        ),
        ("unix:///s.sock", {"host", "port", "ssl"}),
        ("redis+cluster://a:1", {"host", "port", "db_id", "cluster"}),
        ("redis+sentinel://a:1/m", {"service_name", "host", "port"}),
    ],
    ids=["host-only", "everything", "unix", "cluster", "sentinel"],
)
def test_specified_names_what_the_url_decides(url: str, specified: set[str]) -> None:
    assert specified <= parse_url(url).specified


def test_a_tcp_url_without_port_or_db_leaves_them_open() -> None:
    assert (
        not {"port", "db_id", "username", "password"} & parse_url("redis://h").specified
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("localhost:6379", "starts with its scheme"),
        ("redis:/localhost", "starts with its scheme"),
        ("rdis://h", "unknown scheme rdis://; did you mean 'redis'?"),
        ("http://h", "unknown scheme http://"),
        ("redis://h:port/0", "the port must be a number, not 'port'"),
        ("redis://h:70000", "port 70000 is not between 1 and 65535"),
        ("redis://h/zero", "the database must be a number, not 'zero'"),
        ("redis://h/0?db=1", "the database is given twice"),
        ("redis://a:1,b:2", "several hosts need redis+cluster://"),
        ("redis://h/0?timeout=2", "unknown query option 'timeout'"),
        ("redis://h/0?socket_timout=2", "did you mean 'socket_timeout'?"),
        ("redis://h/0?protocol=2&protocol=3", "'protocol' is given twice"),
        ("unix://run/redis.sock", "takes an absolute path: unix:///"),
        ("unix://", "takes an absolute path"),
        ("redis+cluster://a:1/3", "a Redis Cluster has only database 0"),
        ("redis+cluster://a:1,:2", "every node needs a host"),
        ("redis+sentinel://s1/mymaster/x", "the database must be a number"),
        ("embedded://data", "embedded:///path/to/dir"),
        ("embedded://:pw@/data", "embedded:// takes no user or password"),
        ("redis://[::1", "is not a valid [IPv6]:port address"),
    ],
    ids=lambda value: value,
)
def test_errors_name_the_url_and_the_problem(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_url(url)

    assert message in str(caught.value)
    assert str(caught.value).startswith("url = ")


@pytest.mark.parametrize(
    "url",
    [
        "redis://user:hunter2@h:port/0",
        "redis://:hunter2@h/0?nope=1",
        "rdis://:hunter2@h",
        "redis://user:hun/ter2@h:x",
        "redis+sentinel://:hunter2@s1/m/x",
        "redis://user:hun?ter2@h/0",
    ],
    ids=[
        "bad-port",
        "bad-option",
        "bad-scheme",
        "unencoded-slash",
        "sentinel",
        "unencoded-question-mark",
    ],
)
def test_errors_mask_the_password(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_url(url)

    assert "hunter2" not in str(caught.value)
    assert "hun" not in str(caught.value).replace("hunter", "")
    assert ":***@" in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "redis://h/0?password=hunter2",
        "redis://h/0?socket_timeout=2&auth_token=hunter2",
        "redis://h/x?password=hunter2",
    ],
    ids=["password-option", "after-a-known-option", "with-another-problem"],
)
def test_errors_mask_unknown_query_options(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_url(url)

    assert "hunter2" not in str(caught.value)
    assert "=***" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://user:pw@h:1/0", "redis://user:***@h:1/0"),
        ("redis://:pw@h", "redis://:***@h"),
        ("redis://user@h", "redis://user@h"),
        ("redis://h/0", "redis://h/0"),
        ("redis://u:p@w/d@h/0", "redis://u:***@h/0"),
        ("not a url", "not a url"),
    ],
    ids=["user-password", "password", "user", "none", "unencoded", "not-a-url"],
)
def test_mask_url(url: str, masked: str) -> None:
    assert masked == mask_url(url)


@pytest.mark.parametrize(
    ("node", "expected"),
    [("h:7000", ("h", 7000)), ("h", ("h", 6379)), ("[::1]:7000", ("::1", 7000))],
    ids=["host-port", "host", "ipv6"],
)
def test_parse_node(node: str, expected: tuple[str, int]) -> None:
    assert expected == parse_node(node)


def test_parse_node_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="startup_nodes = 'h:x'"):
        parse_node("h:x")
