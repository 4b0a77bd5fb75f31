"""The URL grammar: one parser for every kind of server kvdb connects to.

```
redis://[[user]:password@]host[:port][/db][?option=value&...]
rediss://...                                     the same, over TLS
valkey(s)://, keydb(s)://, dragonfly(s)://       aliases of redis(s)://
unix://[[user]:password@]/path/to/socket[?db=N&...]
redis+unix://...                                 an alias of unix://
redis+cluster://[[user]:password@]host:port,host:port[/][?...]
rediss+cluster://...                             the same, over TLS
redis+sentinel://[[user]:password@]host:port,host:port/service_name[/db][?...]
rediss+sentinel://...                            TLS to the servers
embedded://[?db=N]                               a private server, data in memory
embedded:///absolute/dir[?db=N]                  a private server, data in dir
```

User, password and paths are percent-decoded, so a password that holds `@`,
`/`, `?` or `:` is written `%40`, `%2F`, `%3F`, `%3A`. The user and password
of a sentinel URL are those of the servers Sentinel watches; the sentinels'
own credentials are the `sentinel_username` and `sentinel_password` settings.

Query options are session settings that describe the connection
(`?socket_timeout=2&protocol=3&ssl_cert_reqs=none`); any other name is an
error. The parser checks their names; `SessionSettings` checks their values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, TypedDict
from urllib.parse import parse_qsl, unquote

from pydantic import SecretStr

from kvdb.settings._messages import SettingError, did_you_mean, mask_url

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_SENTINEL_PORT",
    "URL_OPTIONS",
    "ConnectionKind",
    "ParsedURL",
    "mask_url",
    "parse_node",
    "parse_url",
]

ConnectionKind: TypeAlias = Literal["tcp", "unix", "cluster", "sentinel", "embedded"]

URL_OPTIONS = frozenset(
    {
        "client_name",
        "embedded_persistence",
        "health_check_interval",
        "max_connections",
        "pool_timeout",
        "protocol",
        "read_from_replicas",
        "retry_attempts",
        "retry_backoff_base",
        "retry_backoff_cap",
        "socket_connect_timeout",
        "socket_keepalive",
        "socket_timeout",
        "ssl_ca_certs",
        "ssl_cert_reqs",
        "ssl_certfile",
        "ssl_check_hostname",
        "ssl_keyfile",
    }
)
"""The session settings a URL may carry as query options, besides `db`."""

# Scheme -> (kind, TLS).
_SCHEMES: dict[str, tuple[ConnectionKind, bool]] = {
    "redis": ("tcp", False),
    "rediss": ("tcp", True),
    "valkey": ("tcp", False),
    "valkeys": ("tcp", True),
    "keydb": ("tcp", False),
    "keydbs": ("tcp", True),
    "dragonfly": ("tcp", False),
    "dragonflys": ("tcp", True),
    "unix": ("unix", False),
    "redis+unix": ("unix", False),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
    "embedded": ("embedded", False),
}

DEFAULT_PORT = 6379
"""The port of a server or cluster node whose URL gives none."""

DEFAULT_SENTINEL_PORT = 26379
"""The port of a sentinel whose URL gives none."""

# The settings that a URL of each kind decides even when it leaves them out:
# a unix socket has no host, a plain `redis://` URL says "no TLS". Every URL
# decides `cluster`, and with it `startup_nodes`, which means nothing alone.
_ALWAYS_DECIDED = frozenset({"ssl", "cluster", "startup_nodes"})
_DECIDED_BY_KIND: dict[ConnectionKind, frozenset[str]] = {
    "tcp": _ALWAYS_DECIDED | {"service_name"},
    "unix": _ALWAYS_DECIDED | {"service_name", "host", "port"},
    "cluster": _ALWAYS_DECIDED | {"service_name", "host", "port", "db_id"},
    "sentinel": _ALWAYS_DECIDED | {"host", "port"},
    "embedded": _ALWAYS_DECIDED | {"service_name", "host", "port"},
}


@dataclass(frozen=True, kw_only=True)
class ParsedURL:
    """What one URL says, before other settings are applied to it.

    `None` means the URL does not say. `specified` names the session settings
    that the URL decides, which a less specific source may not override.
    """

    masked: str
    """The URL as written, with its password masked."""
    scheme: str
    kind: ConnectionKind
    tls: bool
    host: str | None = None
    port: int | None = None
    path: str | None = None
    """The socket of `unix://`, the data directory of `embedded:///dir`."""
    db: int | None = None
    username: str | None = None
    password: SecretStr | None = None
    nodes: tuple[tuple[str, int], ...] = ()
    """Cluster startup nodes, or the sentinels, as `(host, port)`."""
    service_name: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    """Query options other than `db`, by setting name, as written."""
    specified: frozenset[str] = frozenset()


def parse_url(url: str) -> ParsedURL:
    """Parse any URL kvdb understands (see the module docstring).

    Raises `ConfigError` naming the URL, with its password masked, and what is
    wrong with it.
    """
    try:
        return _parse(url)
    except _URLError as exc:
        raise SettingError("url", repr(mask_url(url)), str(exc)) from None


def parse_node(node: str) -> tuple[str, int]:
    """Parse `host:port` (or `[v6]:port`) as written in `startup_nodes`."""
    try:
        host, port = _host_port(node)
        if not host:
            raise _URLError("expected 'host:port'")
    except _URLError as exc:
        raise SettingError("startup_nodes", repr(node), str(exc)) from None
    return host, port or DEFAULT_PORT


class _URLError(Exception):
    """What is wrong with a URL; `parse_url` adds the URL, masked."""


class _Location(TypedDict, total=False):
    host: str | None
    port: int | None
    path: str | None
    db: int | None
    nodes: tuple[tuple[str, int], ...]
    service_name: str | None


def _parse(url: str) -> ParsedURL:
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _SCHEMES:
        raise _URLError(_scheme_problem(scheme if sep else ""))
    kind, tls = _SCHEMES[scheme]

    before_query, _, query = rest.partition("?")
    authority, slash, path = before_query.partition("/")
    if "@" not in authority and ":" in rest.rpartition("@")[0]:
        # The last "@" comes after a "/" or "?": a password holds one of them.
        # Said without quoting any part of the URL, which may be the password.
        raise _URLError(
            "a user or password holds '/', '?' or '@' unencoded: "
            "percent-encode it (%2F, %3F, %40)"
        )
    userinfo, _, hosts = authority.rpartition("@")
    username, password = _credentials(userinfo)
    options, query_db = _query(query)

    location = _KIND_PARSERS[kind](hosts, slash + path)
    if query_db is not None:
        if location.get("db") is not None:
            raise _URLError("the database is given twice, in the path and as ?db=")
        location["db"] = query_db
    if kind == "cluster" and location.get("db"):
        raise _URLError("a Redis Cluster has only database 0")
    if kind == "embedded" and userinfo:
        raise _URLError("embedded:// takes no user or password")

    given = {name for name in ("host", "port", "service_name") if location.get(name)}
    if location.get("db") is not None:
        given.add("db_id")
    if username is not None:
        given.add("username")
    if password is not None:
        given.add("password")

    return ParsedURL(
        masked=mask_url(url),
        scheme=scheme,
        kind=kind,
        tls=tls,
        username=username,
        password=password,
        options=options,
        specified=frozenset(given | options.keys()) | _DECIDED_BY_KIND[kind],
        **location,
    )


def _scheme_problem(scheme: str) -> str:
    known = ", ".join(f"{name}://" for name in _SCHEMES)
    if not scheme:
        return f"a URL starts with its scheme, one of {known}"
    return (
        f"unknown scheme {scheme}://{did_you_mean(scheme, _SCHEMES)} (known: {known})"
    )


def _credentials(userinfo: str) -> tuple[str | None, SecretStr | None]:
    user, _, password = userinfo.partition(":")
    return (
        unquote(user) or None,
        SecretStr(unquote(password)) if password else None,
    )


def _query(query: str) -> tuple[dict[str, str], int | None]:
    """Split the query into options by name and the database of `?db=`."""
    options: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in options:
            raise _URLError(f"query option {name!r} is given twice")
        if name != "db" and name not in URL_OPTIONS:
            hint = did_you_mean(name, [*URL_OPTIONS, "db"])
            raise _URLError(f"unknown query option {name!r}{hint}")
        options[name] = value

    db = options.pop("db", None)
    return options, None if db is None else _number(db, "database")


def _number(text: str, what: str) -> int:
    if not text.isdigit():
        raise _URLError(f"the {what} must be a number, not {text!r}")
    return int(text)


def _host_port(text: str) -> tuple[str, int | None]:
    """Split `host[:port]` or `[v6][:port]`; the host may be empty."""
    if text.startswith("["):
        host, bracket, after = text[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise _URLError(f"{text!r} is not a valid [IPv6]:port address")
        port_text = after[1:]
    else:
        host, _, port_text = text.partition(":")

    if not port_text:
        return unquote(host).lower(), None
    port = _number(port_text, "port")
    if not 1 <= port <= 65535:
        raise _URLError(f"port {port} is not between 1 and 65535")
    return unquote(host).lower(), port


def _tcp(hosts: str, path: str) -> _Location:
    if "," in hosts:
        raise _URLError("several hosts need redis+cluster:// or redis+sentinel://")
    host, port = _host_port(hosts)
    return {"host": host or None, "port": port, "db": _path_db(path)}


def _unix(hosts: str, path: str) -> _Location:
    if hosts or not path.strip("/"):
        raise _URLError(
            "a socket URL takes an absolute path: unix:///path/to/redis.sock"
        )
    return {"path": unquote(path)}


def _cluster(hosts: str, path: str) -> _Location:
    return {"nodes": _nodes(hosts, DEFAULT_PORT), "db": _path_db(path)}


def _sentinel(hosts: str, path: str) -> _Location:
    service, _, db = path.strip("/").partition("/")
    return {
        "nodes": _nodes(hosts, DEFAULT_SENTINEL_PORT),
        "service_name": unquote(service) or None,
        "db": _number(db, "database") if db else None,
    }


def _embedded(hosts: str, path: str) -> _Location:
    if hosts:
        raise _URLError(
            "embedded:// takes an absolute directory: embedded:///path/to/dir"
        )
    return {"path": unquote(path) if path.strip("/") else None}


def _path_db(path: str) -> int | None:
    db = path.strip("/")
    return _number(db, "database") if db else None


def _nodes(hosts: str, default_port: int) -> tuple[tuple[str, int], ...]:
    nodes = [_host_port(node) for node in hosts.split(",")]
    if not all(host for host, _ in nodes):
        raise _URLError("every node needs a host: host:port,host:port")
    return tuple((host, port or default_port) for host, port in nodes)


_KIND_PARSERS: dict[ConnectionKind, Callable[[str, str], _Location]] = {
    "tcp": _tcp,
    "unix": _unix,
    "cluster": _cluster,
    "sentinel": _sentinel,
    "embedded": _embedded,
}
