"""Pools that follow the master Redis Sentinel names, and replica reads.

A session on `redis+sentinel://` gets, per pool key, `SentinelPools` (and
`AsyncSentinelPools` per event loop, from `new_sentinel_pools`): redis-py's
`Sentinel`, which asks the sentinels with the session's `sentinel_username`
and `sentinel_password` (over TLS for `rediss+sentinel://`), a
`SentinelConnectionPool` of the master and, when the session reads from
replicas, one of the replicas.

A connection of the master's pool asks the sentinels where the master is
each time it connects. When the master fails, its connections break, and
once the sentinels have promoted a replica the next connection goes there:
the session follows the new master on its own. A master that comes back as a
replica answers writes with READONLY, which closes the connection, so it is
left too. Meanwhile commands fail, and the session's `retry_*` settings retry
the idempotent ones (see `kvdb._retry`).

With `read_from_replicas`, the session's clients are `ReplicaReadingRedis`
and `AsyncReplicaReadingRedis`: commands that redis-py lists as read-only
(`GET`, `MGET`, `HGETALL`, `SCAN`, ...) go to the replicas in turn, or to the
master when no replica is up; writes, pipelines, pub/sub, locks and scripts go
to the master. A replica lags behind its master: a read right after a write
may not see it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.retry
import redis.sentinel
from redis.backoff import NoBackoff
from redis.commands.cluster import READ_COMMANDS

from kvdb._clients import AsyncSessionRedis, SessionRedis
from kvdb._retry import AsyncSessionRetry, SessionRetry
from kvdb.commands import CommandContext

if TYPE_CHECKING:
    from kvdb.settings import ConnectionSettings

__all__ = [
    "AsyncReplicaReadingRedis",
    "AsyncSentinelPools",
    "ReplicaReadingRedis",
    "SentinelPools",
    "new_sentinel_pools",
]

_Counts = list[tuple[int, dict[str, Any]]]


class _CountedPools:
    """What `SentinelPools` and `AsyncSentinelPools` share: their counts."""

    master: Any
    replicas: Any

    def get_connection_count(self) -> _Counts:
        """The connections to the master and the replicas, as a pool counts."""
        pools = [self.master] if self.replicas is None else [self.master, self.replicas]
        return [count for pool in pools for count in pool.get_connection_count()]


@dataclass
class SentinelPools(_CountedPools):
    """The sentinels, the master's pool, and the replicas' when reads go there."""

    sentinel: redis.sentinel.Sentinel
    master: redis.sentinel.SentinelConnectionPool
    replicas: redis.sentinel.SentinelConnectionPool | None

    def client(self, context: CommandContext) -> SessionRedis:
        """A session's client over these pools."""
        if self.replicas is None:
            return SessionRedis(connection_pool=self.master, context=context)
        return ReplicaReadingRedis(
            connection_pool=self.master, replica_pool=self.replicas, context=context
        )

    def disconnect(self) -> None:
        """Close every connection, to the servers and to the sentinels."""
        self.master.disconnect()
        if self.replicas is not None:
            self.replicas.disconnect()
        self.sentinel.close()


@dataclass
class AsyncSentinelPools(_CountedPools):
    """The asyncio twin of `SentinelPools`, for one event loop."""

    sentinel: redis.asyncio.sentinel.Sentinel
    master: redis.asyncio.sentinel.SentinelConnectionPool
    replicas: redis.asyncio.sentinel.SentinelConnectionPool | None

    def client(self, context: CommandContext) -> AsyncSessionRedis:
        """A session's client over these pools."""
        if self.replicas is None:
            return AsyncSessionRedis(connection_pool=self.master, context=context)
        return AsyncReplicaReadingRedis(
            connection_pool=self.master, replica_pool=self.replicas, context=context
        )

    async def aclose(self) -> None:
        """Close every connection, to the servers and to the sentinels."""
        await self.master.aclose()
        if self.replicas is not None:
            await self.replicas.aclose()
        await self.sentinel.aclose()


def new_sentinel_pools(
    connection: ConnectionSettings, *, asynchronous: bool
) -> SentinelPools | AsyncSentinelPools:
    """The pools of a `sentinel` connection; nothing connects until used."""
    kwargs = connection.redis_kwargs()
    use_ssl = kwargs.pop("ssl", False)
    sentinel_kwargs: dict[str, Any] = {
        "username": connection.sentinel_username,
        "password": _reveal(connection),
        "socket_timeout": connection.socket_timeout,
        "socket_connect_timeout": connection.socket_connect_timeout,
        "socket_keepalive": connection.socket_keepalive,
    }
    if use_ssl:
        # The sentinels of a rediss+sentinel:// URL speak TLS like the servers.
        sentinel_kwargs["ssl"] = True
        sentinel_kwargs |= {k: v for k, v in kwargs.items() if k.startswith("ssl_")}

    retry_class = AsyncSessionRetry if asynchronous else SessionRetry
    kwargs["retry"] = retry_class(
        connection.retry_attempts,
        connection.retry_backoff_base,
        connection.retry_backoff_cap,
    )
    # Each sentinel is asked once per look-up; the look-up runs inside the
    # connecting of a server connection, which the session's retries cover.
    sentinel_kwargs["retry"] = (
        redis.asyncio.retry.Retry(NoBackoff(), 0)
        if asynchronous
        else redis.retry.Retry(NoBackoff(), 0)
    )
    module: Any = redis.asyncio.sentinel if asynchronous else redis.sentinel
    sentinel = module.Sentinel(list(connection.nodes), sentinel_kwargs=sentinel_kwargs)
    # redis-py names the sentinels in its errors by their clients' repr.
    named = _AsyncSentinelClient if asynchronous else _SentinelClient
    sentinel.sentinels = [
        named(host=host, port=port, **sentinel_kwargs)
        for host, port in connection.nodes
    ]

    def pool(*, is_master: bool) -> Any:
        return module.SentinelConnectionPool(
            connection.service_name,
            sentinel,
            is_master=is_master,
            ssl=use_ssl,
            **kwargs,
        )

    replicas = pool(is_master=False) if connection.read_from_replicas else None
    pools = AsyncSentinelPools if asynchronous else SentinelPools
    return pools(sentinel, pool(is_master=True), replicas)


def _reveal(connection: ConnectionSettings) -> str | None:
    password = connection.sentinel_password
    return None if password is None else password.get_secret_value()


class _NamedSentinel:
    """A client of one sentinel, whose repr says which, and nothing more."""

    connection_pool: Any

    def __repr__(self) -> str:
        kwargs = self.connection_pool.connection_kwargs
        return f"sentinel {kwargs['host']}:{kwargs['port']}"


class _SentinelClient(_NamedSentinel, redis.Redis):
    """`redis.Redis` for one sentinel, named by `_NamedSentinel`."""


# redis-py's own asyncio bases disagree on `command_info`; mypy reports that
# on any class that adds a base of its own.
class _AsyncSentinelClient(_NamedSentinel, redis.asyncio.Redis):  # type: ignore[misc]
    """`redis.asyncio.Redis` for one sentinel, named by `_NamedSentinel`."""


def _reads_only(args: Sequence[Any]) -> bool:
    name = args[0]
    if isinstance(name, bytes):
        name = name.decode("latin-1")
    return isinstance(name, str) and name.upper() in READ_COMMANDS


class ReplicaReadingRedis(SessionRedis):
    """A `SessionRedis` of the master that sends read-only commands to replicas."""

    def __init__(
        self,
        *,
        connection_pool: redis.ConnectionPool,
        replica_pool: redis.ConnectionPool,
        context: CommandContext,
        **kwargs: Any,
    ) -> None:
        super().__init__(connection_pool=connection_pool, context=context, **kwargs)
        self._replicas = _Replicas(self, replica_pool)

    def execute_command(self, *args: Any, **options: Any) -> Any:
        if _reads_only(args):
            return self._replicas.execute_command(*args, **options)
        return super().execute_command(*args, **options)


class _Replicas(SessionRedis):
    """The replicas' client of a `ReplicaReadingRedis`."""

    def __init__(self, master: SessionRedis, pool: redis.ConnectionPool) -> None:
        super().__init__(connection_pool=pool, context=master.context)
        self._master = master

    def delete_undecodable(self, keys: Sequence[bytes]) -> None:
        # A replica refuses writes.
        self._master.delete_undecodable(keys)


class AsyncReplicaReadingRedis(AsyncSessionRedis):
    """The asyncio twin of `ReplicaReadingRedis`."""

    def __init__(
        self,
        *,
        connection_pool: redis.asyncio.ConnectionPool,
        replica_pool: redis.asyncio.ConnectionPool,
        context: CommandContext,
        **kwargs: Any,
    ) -> None:
        super().__init__(connection_pool=connection_pool, context=context, **kwargs)
        self._replicas = _AsyncReplicas(self, replica_pool)

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if _reads_only(args):
            return await self._replicas.execute_command(*args, **options)
        return await super().execute_command(*args, **options)


class _AsyncReplicas(AsyncSessionRedis):
    """The replicas' client of an `AsyncReplicaReadingRedis`."""

    def __init__(
        self, master: AsyncSessionRedis, pool: redis.asyncio.ConnectionPool
    ) -> None:
        super().__init__(connection_pool=pool, context=master.context)
        self._master = master

    async def delete_undecodable(self, keys: Sequence[bytes]) -> None:
        # A replica refuses writes.
        await self._master.delete_undecodable(keys)
