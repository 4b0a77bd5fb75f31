"""Connection pools, shared by every session that connects the same way.

A pool is found by its key: a stable hash of a session's normalised connection
settings (`ConnectionSettings.pool_key()`), never of its codec, key prefix or
`decode_responses`. Sessions with equal keys share one pool however their
values are encoded.

Each key holds at most one sync pool and, for every event loop that used it,
one asyncio pool: an asyncio connection belongs to the loop that opened it, so
a pool is never handed to another loop. A loop's pool is closed when that loop
shuts down (see `_close_with_loop`), so `asyncio.run()` twice in a row leaves
nothing behind.

Pools are created on a session's first command, never before, and dropped
without being closed in a child process after `fork()`: the parent's sockets
are the parent's. A pool is closed when the last session using it is closed,
or garbage-collected: a session replaced in the client's registry and dropped
by the program releases its pool too.

What a "pool" is depends on the kind of connection: a redis-py connection pool
for one server; for a Redis Cluster, a redis-py cluster client that owns one
pool per node (see `kvdb._cluster`); for Sentinel, the pools of the master and
the replicas behind the sentinels (see `kvdb._sentinel`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.asyncio import connection as async_connection

from kvdb._cluster import cluster_connection_count, new_cluster_client
from kvdb._log import logger
from kvdb._retry import AsyncSessionRetry, SessionRetry
from kvdb._sentinel import AsyncSentinelPools, SentinelPools, new_sentinel_pools
from kvdb.settings import ConnectionSettings

__all__ = ["AsyncPool", "PoolInfo", "PoolRegistry", "SyncPool"]

SyncPool = redis.ConnectionPool | redis.cluster.RedisCluster | SentinelPools
"""What the registry keeps for a pool key: see the module's docstring."""

AsyncPool = (
    redis.asyncio.ConnectionPool
    | redis.asyncio.cluster.RedisCluster
    | AsyncSentinelPools
)
"""What the registry keeps for a pool key and an event loop."""


@dataclass(frozen=True)
class PoolInfo:
    """What `KVDBClient.pools()` reports of one pool key."""

    key: str
    server: str
    sessions: tuple[str, ...]
    sync_connections: int
    async_pools: int
    async_connections: int


@dataclass(frozen=True)
class _User:
    """A session that uses a pool: its name, and what releases it if collected."""

    name: str
    finalizer: weakref.finalize[Any, Any]


@dataclass
class _Entry:
    """The pools of one key, and who uses them."""

    connection: ConnectionSettings
    users: dict[int, _User] = field(default_factory=dict)
    sync_pool: SyncPool | None = None
    # One pool per event loop, keyed by id(loop) since loops need not be
    # hashable; the loop itself is kept to tell a reused id from the same loop.
    async_pools: dict[int, tuple[asyncio.AbstractEventLoop, Any]] = field(
        default_factory=dict
    )
    # Async generators whose `finally` closes a loop's pool at loop shutdown,
    # by id(loop); the loop only holds them weakly.
    closers: dict[int, AsyncIterator[None]] = field(default_factory=dict)


def _connection_count(pool: Any) -> int:
    if isinstance(
        pool, (redis.cluster.RedisCluster, redis.asyncio.cluster.RedisCluster)
    ):
        return cluster_connection_count(pool)
    return sum(count for count, _ in pool.get_connection_count())


class PoolRegistry:
    """The pools of one `Client`, by key. Safe to use from many threads."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._entries: dict[str, _Entry] = {}
        _registries.add(self)

    # -- users ---------------------------------------------------------------

    def register(self, connection: ConnectionSettings, user: object, name: str) -> str:
        """Note that session `user` (called `name`) uses the pool of `connection`.

        The registry holds `user` weakly: if it is collected unreleased, its
        use of the pool ends then.
        """
        key = connection.pool_key()
        finalizer = weakref.finalize(user, self._release_id, key, id(user))
        finalizer.atexit = False  # the process's sockets close with it
        with self._lock:
            entry = self._entries.setdefault(key, _Entry(connection))
            entry.users[id(user)] = _User(name, finalizer)

        return key

    def release(self, key: str, user: object) -> None:
        """Forget `user`; close the pools of `key` if nobody uses them now."""
        self._release_id(key, id(user))

    def _release_id(self, key: str, user_id: int) -> None:
        entry = self._forget(key, user_id)
        if entry is not None:
            _close_sync(entry)
            logger.debug("closed the pools of %s", entry.connection.server_label())

    async def arelease(self, key: str, user: object) -> None:
        """Like `release`, and await the closing of this loop's pool."""
        entry = self._forget(key, id(user))
        if entry is not None:
            await _close_async(entry)
            _close_sync(entry)
            logger.debug("closed the pools of %s", entry.connection.server_label())

    def _forget(self, key: str, user_id: int) -> _Entry | None:
        """Forget a user; the entry of `key` if that left it without users."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            user = entry.users.pop(user_id, None)
            if user is None:
                return None
            user.finalizer.detach()
            if entry.users:
                return None
            del self._entries[key]

        return entry

    # -- pools ---------------------------------------------------------------

    def sync_pool(self, key: str) -> SyncPool:
        """The sync pool of `key`, created on first use.

        For a cluster this connects: redis-py asks for the slot table.
        """
        with self._lock:
            entry = self._entry(key)
            if entry.sync_pool is None:
                entry.sync_pool = _new_pool(entry.connection, asynchronous=False)

            return entry.sync_pool

    def async_pool(self, key: str) -> AsyncPool:
        """The asyncio pool of `key` for the running event loop."""
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._entry(key)
            for loop_id, (other, _) in list(entry.async_pools.items()):
                if other.is_closed():
                    # Closed without shutting down its async generators, so
                    # the closer never ran; with no loop left to close them
                    # on, the sockets close when their objects are collected.
                    del entry.async_pools[loop_id]
                    entry.closers.pop(loop_id, None)

            found = entry.async_pools.get(id(loop))
            if found is not None and found[0] is loop:
                pool: AsyncPool = found[1]
                return pool

            pool = _new_pool(entry.connection, asynchronous=True)
            entry.async_pools[id(loop)] = (loop, pool)
            entry.closers[id(loop)] = _close_with_loop(entry, loop, pool)

        return pool

    def _entry(self, key: str) -> _Entry:
        try:
            return self._entries[key]
        except KeyError:
            raise KeyError(f"no session uses the pool {key}") from None

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        """Close every sync pool and forget every pool."""
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()

        for entry in entries:
            _close_sync(entry)

    async def aclose(self) -> None:
        """Close every pool, awaiting those of the running loop."""
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()

        for entry in entries:
            await _close_async(entry)
            _close_sync(entry)

    def describe(self) -> list[PoolInfo]:
        """One `PoolInfo` per key in use."""
        with self._lock:
            entries = dict(self._entries)

        infos = []
        for key, entry in entries.items():
            pools = [pool for _, pool in entry.async_pools.values()]
            sync = entry.sync_pool
            infos.append(
                PoolInfo(
                    key=key,
                    server=entry.connection.server_label(),
                    sessions=tuple(sorted({u.name for u in entry.users.values()})),
                    sync_connections=0 if sync is None else _connection_count(sync),
                    async_pools=len(pools),
                    async_connections=sum(_connection_count(p) for p in pools),
                )
            )
        return infos

    def _after_fork(self) -> None:
        # A child process must not touch its parent's sockets: it starts with
        # fresh pools, keeping only who uses which key. Another thread of the
        # parent may have held the lock when it forked: the child's is new.
        self._lock = threading.RLock()
        for entry in self._entries.values():
            entry.sync_pool = None
            entry.async_pools.clear()
            entry.closers.clear()


_registries: weakref.WeakSet[PoolRegistry] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for registry in list(_registries):
        registry._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _close_sync(entry: _Entry) -> None:
    pool = entry.sync_pool
    if isinstance(pool, redis.cluster.RedisCluster):
        pool.close()
    elif pool is not None:
        pool.disconnect()
    entry.sync_pool = None


async def _close_async(entry: _Entry) -> None:
    loop = asyncio.get_running_loop()
    for loop_id, (other, pool) in list(entry.async_pools.items()):
        if other is loop:
            await pool.aclose()
            del entry.async_pools[loop_id]
    # Pools of other loops can only be closed from their own loop, which
    # does so when it shuts down.


def _close_with_loop(
    entry: _Entry, loop: asyncio.AbstractEventLoop, pool: Any
) -> AsyncIterator[None]:
    """Arrange for `pool` to be closed when `loop` shuts down.

    An event loop closes the async generators it has started before it stops
    (`asyncio.run()` and `asyncio.Runner` call `shutdown_asyncgens()`), and a
    generator's `finally` runs inside the loop. So we start one that waits at
    its first `yield` and closes the pool on the way out.
    """

    async def closer() -> AsyncIterator[None]:
        try:
            yield
        finally:
            entry.async_pools.pop(id(loop), None)
            entry.closers.pop(id(loop), None)
            await pool.aclose()
            if isinstance(pool, redis.asyncio.ConnectionPool):
                # Its closed connections still hold the loop's streams; a
                # session's cached client would keep the loop alive with them.
                pool.reset()  # type: ignore[no-untyped-call]  # untyped in redis-py

    generator = closer()
    # Run the generator to its first `yield` without awaiting: the first step
    # registers it with the running loop, and reaching the `yield` ends the
    # step with StopIteration. The step object has `send()` like a coroutine,
    # though typing knows it only as an Awaitable.
    with contextlib.suppress(StopIteration):
        generator.__anext__().send(None)  # type: ignore[attr-defined]
    return generator


def _new_pool(connection: ConnectionSettings, *, asynchronous: bool) -> Any:
    """A redis-py pool for `connection`, sync or asyncio."""
    if connection.kind == "cluster":
        return new_cluster_client(connection, asynchronous=asynchronous)
    if connection.kind == "sentinel":
        return new_sentinel_pools(connection, asynchronous=asynchronous)

    module: Any = async_connection if asynchronous else redis.connection
    kwargs = connection.redis_kwargs()
    use_ssl = kwargs.pop("ssl", False)
    if connection.kind == "embedded":
        kwargs.update(_embedded_location(connection))

    if "path" in kwargs:
        # Keepalive is a TCP option; a unix socket connection refuses it.
        kwargs.pop("socket_keepalive", None)
        kwargs["connection_class"] = module.UnixDomainSocketConnection
    elif use_ssl:
        kwargs["connection_class"] = module.SSLConnection
    else:
        kwargs["connection_class"] = module.Connection

    retry_class = AsyncSessionRetry if asynchronous else SessionRetry
    kwargs["retry"] = retry_class(
        connection.retry_attempts,
        connection.retry_backoff_base,
        connection.retry_backoff_cap,
    )
    if connection.pool_timeout is not None and connection.max_connections:
        return module.BlockingConnectionPool(timeout=connection.pool_timeout, **kwargs)
    return module.ConnectionPool(**kwargs)


def _embedded_location(connection: ConnectionSettings) -> dict[str, Any]:
    """Start (or join) the embedded server and say where it listens."""
    from kvdb.embedded import start_embedded  # only sessions on embedded://

    server = start_embedded(
        Path(connection.path) if connection.path else None,
        binary=connection.embedded_binary,
        persistence=connection.embedded_persistence,
    )
    if server.socket_path is not None:
        return {"path": str(server.socket_path)}
    return {"host": server.host, "port": server.port}
