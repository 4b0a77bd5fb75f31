"""The normalised connection settings of a session.

`ConnectionSettings` is what a session's URL and its separate connection fields
come to: one kind of connection (`tcp`, `unix`, `cluster`, `sentinel` or
`embedded`), where the server is, how to authenticate, TLS, timeouts and pool
limits. Two sessions whose connection settings are equal can share a pool, and
`pool_key()` says when they are. Nothing here knows about codecs or key prefixes.

A setting set on the session overrides what the URL says; a setting left at its
default does not, so `redis://h/0?socket_timeout=2` times out after 2 seconds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import SecretStr

from kvdb.settings._messages import MASK, SettingError, shown
from kvdb.settings.models import (
    Persistence,
    SessionSettings,
    SslCertReqs,
    url_option_values,
)
from kvdb.settings.urls import (
    DEFAULT_PORT,
    URL_OPTIONS,
    ConnectionKind,
    ParsedURL,
    parse_node,
    parse_url,
)

__all__ = ["ConnectionSettings"]

# Keys pool keys by process, so that a pool key seen in a log cannot be used to
# guess a password offline.
_POOL_KEY_SALT = secrets.token_bytes(32)

_T = TypeVar("_T")

_SSL_ARGUMENTS = (
    "ssl_ca_certs",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_cert_reqs",
    "ssl_check_hostname",
)


@dataclass(frozen=True, kw_only=True)
class ConnectionSettings:
    """Where and how a session connects, normalised from its settings.

    Build it with `ConnectionSettings.from_settings()`, or read it from
    `SessionSettings.connection`. Hosts are kept as written (lowercased):
    `localhost` and `127.0.0.1` are different servers to kvdb.
    """

    kind: ConnectionKind
    host: str | None
    """The server of a `tcp` connection; `None` for the other kinds."""
    port: int | None
    path: str | None
    """The socket of `unix`, the data directory of `embedded` (or `None`)."""
    db: int
    username: str | None
    password: SecretStr | None
    nodes: tuple[tuple[str, int], ...]
    """The startup nodes of `cluster`, the sentinels of `sentinel`."""
    service_name: str | None
    sentinel_username: str | None
    sentinel_password: SecretStr | None
    read_from_replicas: bool
    ssl: bool
    ssl_ca_certs: str | None
    ssl_certfile: str | None
    ssl_keyfile: str | None
    ssl_cert_reqs: SslCertReqs
    ssl_check_hostname: bool
    socket_timeout: float | None
    socket_connect_timeout: float | None
    socket_keepalive: bool
    client_name: str | None
    protocol: int
    max_connections: int | None
    pool_timeout: float | None
    retry_attempts: int
    retry_backoff_base: float
    retry_backoff_cap: float
    health_check_interval: float
    embedded_binary: Path | None
    embedded_persistence: Persistence

    @classmethod
    def from_settings(cls, settings: SessionSettings) -> ConnectionSettings:
        """Combine the URL of `settings` with its separate connection fields.

        Raises `ConfigError` when they do not fit together: a `host` for a
        `unix://` URL, a sentinel URL without a service name, a cluster with
        a database other than 0.
        """
        parsed = parse_url(settings.url)
        _check_fields_apply(settings, parsed)
        options = url_option_values(parsed)

        def pick(name: str) -> Any:
            if _is_set(settings, name):
                return getattr(settings, name)
            return options.get(name, getattr(settings, name))

        return cls(
            **_location(settings, parsed),
            db=_db(settings, parsed),
            username=_first(settings.username, parsed.username),
            password=_first(settings.password, parsed.password),
            sentinel_username=settings.sentinel_username,
            sentinel_password=settings.sentinel_password,
            ssl=parsed.tls if settings.ssl is None else settings.ssl,
            embedded_binary=settings.embedded_binary,
            **{name: pick(name) for name in sorted(URL_OPTIONS)},
        )

    def pool_key(self) -> str:
        """A stable hash of these settings: equal settings, equal key.

        The passwords enter it only through an HMAC keyed for this process,
        so the key says nothing about them, and it differs between processes.
        """
        fields = {
            field.name: getattr(self, field.name) for field in dataclasses.fields(self)
        }
        for name in ("password", "sentinel_password"):
            fields[name] = _digest(fields[name])

        text = json.dumps(fields, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def server_label(self) -> str:
        """Name the server for messages: `host:port`, a socket, or nodes."""
        if self.kind == "tcp":
            return _address(self.host or "localhost", self.port or DEFAULT_PORT)
        if self.kind == "unix":
            return self.path or ""
        if self.kind == "embedded":
            return f"embedded://{self.path or ''}"

        nodes = ",".join(_address(host, port) for host, port in self.nodes)
        if self.kind == "sentinel":
            return f"{nodes} ({self.service_name})"
        return nodes

    def safe_url(self) -> str:
        """This connection as a URL, with the password masked as `***`."""
        tls = "s" if self.ssl else ""
        auth = _userinfo(self.username, self.password)
        nodes = ",".join(_address(host, port) for host, port in self.nodes)

        if self.kind == "tcp":
            address = _address(self.host or "localhost", self.port or DEFAULT_PORT)
            return f"redis{tls}://{auth}{address}/{self.db}"
        if self.kind == "unix":
            return f"unix://{auth}{quote(self.path or '')}?db={self.db}"
        if self.kind == "cluster":
            return f"redis{tls}+cluster://{auth}{nodes}"
        if self.kind == "sentinel":
            service = quote(self.service_name or "", safe="")
            return f"redis{tls}+sentinel://{auth}{nodes}/{service}/{self.db}"
        return f"embedded://{quote(self.path or '')}?db={self.db}"

    def redis_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of `redis.ConnectionPool` and `redis.asyncio`'s.

        A `tcp` connection gets `host` and `port`, a `unix` one `path`. The
        other kinds get the arguments every connection shares, without where
        to connect: the nodes, the service name and the embedded server are
        the caller's to turn into a cluster client, a Sentinel or a socket.

        `ssl` is no argument of the pool: pop it and, when it is true, choose
        `SSLConnection` as the `connection_class`; the `ssl_*` arguments are
        present only then. `pool_timeout` and the `retry_*` settings are left
        to the caller too, who picks the pool class and builds the retries.
        The result holds the password in clear: never log it.
        """
        kwargs: dict[str, Any] = {
            "username": self.username,
            "password": _reveal(self.password),
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": self.socket_connect_timeout,
            "client_name": self.client_name,
            "protocol": self.protocol,
            "health_check_interval": self.health_check_interval,
            "max_connections": self.max_connections,
        }
        if self.kind != "cluster":
            kwargs["db"] = self.db
        if self.kind == "unix":
            kwargs["path"] = self.path
            return kwargs

        # TCP keepalive is an option of TCP sockets only.
        kwargs["socket_keepalive"] = self.socket_keepalive
        kwargs["ssl"] = self.ssl
        if self.ssl:
            kwargs.update({name: getattr(self, name) for name in _SSL_ARGUMENTS})
        if self.kind == "tcp":
            kwargs["host"] = self.host
            kwargs["port"] = self.port
        return kwargs


def _is_set(settings: SessionSettings, name: str) -> bool:
    """Whether a source set `name`; setting a None-default field to None is not."""
    if name not in settings.model_fields_set:
        return False
    default = SessionSettings.model_fields[name].default
    return getattr(settings, name) is not None or default is not None


def _check_fields_apply(settings: SessionSettings, parsed: ParsedURL) -> None:
    """Refuse fields set for a kind of URL they cannot describe."""
    kind = parsed.kind
    misfits = {
        "host": kind not in ("tcp",),
        "port": kind not in ("tcp",),
        "service_name": kind != "sentinel",
        "ssl": kind in ("unix", "embedded") and settings.ssl is True,
        "cluster": (kind in ("unix", "sentinel", "embedded") and settings.cluster)
        or (kind == "cluster" and not settings.cluster),
    }
    for name, misfit in misfits.items():
        if misfit and _is_set(settings, name):
            raise SettingError(
                name,
                shown(name, getattr(settings, name)),
                f"does not apply to a {parsed.scheme}:// URL",
            )

    cluster = kind == "cluster" or (kind == "tcp" and settings.cluster)
    if settings.startup_nodes and not cluster:
        raise SettingError(
            "startup_nodes",
            shown("startup_nodes", settings.startup_nodes),
            "needs cluster = true or a redis+cluster:// URL",
        )


def _location(settings: SessionSettings, parsed: ParsedURL) -> dict[str, Any]:
    host = _first(settings.host, parsed.host) or "localhost"
    port = _first(settings.port, parsed.port) or DEFAULT_PORT
    extra = tuple(parse_node(node) for node in settings.startup_nodes)
    location: dict[str, Any] = {
        "kind": parsed.kind,
        "host": None,
        "port": None,
        "path": parsed.path,
        "nodes": parsed.nodes,
        "service_name": None,
    }

    if parsed.kind == "tcp" and settings.cluster:
        location.update(kind="cluster", nodes=_unique(((host, port), *extra)))
    elif parsed.kind == "tcp":
        location.update(host=host, port=port)
    elif parsed.kind == "cluster":
        location.update(nodes=_unique((*parsed.nodes, *extra)))
    elif parsed.kind == "sentinel":
        service = _first(settings.service_name, parsed.service_name)
        if not service:
            raise SettingError(
                "url",
                repr(parsed.masked),
                "a sentinel URL needs the service name: "
                "redis+sentinel://host:26379/mymaster, or set service_name",
            )
        location.update(service_name=service)
    return location


def _db(settings: SessionSettings, parsed: ParsedURL) -> int:
    db = _first(settings.db_id, parsed.db) or 0
    if db and (parsed.kind == "cluster" or settings.cluster):
        raise SettingError("db_id", repr(db), "a Redis Cluster has only database 0")
    return db


def _first(field: _T | None, from_url: _T | None) -> _T | None:
    """The field where it is set, else what the URL says."""
    return field if field is not None else from_url


def _unique(nodes: tuple[tuple[str, int], ...]) -> tuple[tuple[str, int], ...]:
    return tuple(dict.fromkeys(nodes))


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _userinfo(username: str | None, password: SecretStr | None) -> str:
    user = quote(username or "", safe="")
    if password is not None:
        return f"{user}:{MASK}@"
    return f"{user}@" if user else ""


def _digest(secret: SecretStr | None) -> str | None:
    if secret is None:
        return None
    value = secret.get_secret_value().encode()
    return hmac.new(_POOL_KEY_SALT, value, hashlib.sha256).hexdigest()


def _reveal(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()
