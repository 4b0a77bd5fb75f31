"""`KVDBSession`: one named way of talking to a server.

A session is a pool, a codec and a key prefix. Its command methods (`set`,
`get`, `hset`, ... and their `a`-prefixed async twins) are generated from
redis-py into `kvdb._commands`; they run on `session.client` and
`session.aclient`, redis-py clients whose every command goes through the
session's codec and prefix (see `kvdb.commands`): `redis.Redis` and
`redis.asyncio.Redis` for one server or Sentinel, redis-py's `RedisCluster`
classes for a Redis Cluster (see `kvdb._cluster` and `kvdb._sentinel`).

A session never connects when it is made; its first command does. Closing it
releases its use of the shared pool, and a closed session refuses every
command with `SessionClosedError` rather than reopening anything.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import redis.asyncio.cluster
import redis.cluster

from kvdb._clients import AsyncSessionRedis, SessionRedis
from kvdb._cluster import (
    AsyncSessionRedisCluster,
    SessionRedisCluster,
    check_key_prefix,
)
from kvdb._commands import SessionCommands
from kvdb._sentinel import AsyncSentinelPools, SentinelPools
from kvdb._translate import translated
from kvdb.codecs import Codec, build_codec
from kvdb.commands import CommandContext
from kvdb.errors import KVDBError, SessionClosedError
from kvdb.settings import ConnectionSettings, SessionSettings

if TYPE_CHECKING:
    from typing import Self

    from kvdb.pools import AsyncPool, PoolRegistry, SyncPool

__all__ = ["KVDBSession"]

_AsyncClient = AsyncSessionRedis | AsyncSessionRedisCluster

# Keys unlinked per round trip by `clear()` on a prefixed session.
_CLEAR_BATCH = 500


class KVDBSession(SessionCommands):
    """A named session: sync commands, `a`-prefixed async twins, and more.

    Get one with `KVDBClient.get_session(name)`; the client keeps it, shares
    its pool with sessions that connect the same way, and closes it.
    """

    def __init__(
        self, name: str, settings: SessionSettings, *, pools: PoolRegistry
    ) -> None:
        self.name = name
        self.settings = settings
        self.codec: Codec = build_codec(settings)
        key_prefix = _namespace(settings.key_prefix)
        if settings.connection.kind == "cluster":
            check_key_prefix(key_prefix)
        self._context = CommandContext(
            codec=self.codec,
            key_prefix=key_prefix,
            decode_responses=settings.decode_responses,
            default_ttl=settings.default_ttl,
            session_name=name,
            server=_server_label(settings.connection),
        )
        self._pools = pools
        self._pool_key = pools.register(settings.connection, self, name)
        self._closed = False
        self._lock = threading.Lock()
        self._client: SessionRedis | SessionRedisCluster | None = None
        # The loop that last asked for the asyncio client (held weakly, so
        # that a finished loop can go), its pool and the client; another loop
        # gets a client of its own, over its own pool.
        self._aclient: (
            tuple[weakref.ref[asyncio.AbstractEventLoop], AsyncPool, _AsyncClient]
            | None
        ) = None
        _sessions.add(self)

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        server = self.settings.connection.safe_url()
        return f"<KVDBSession {self.name!r} {server}{state}>"

    # -- clients -------------------------------------------------------------

    @property
    def pool_key(self) -> str:
        """The key of the pool this session shares with others."""
        return self._pool_key

    @property
    def closed(self) -> bool:
        """Whether `close()` or `aclose()` was called."""
        return self._closed

    @property
    def client(self) -> SessionRedis | SessionRedisCluster:
        """The sync redis-py client over the shared pool.

        A `redis.Redis`, or a `redis.cluster.RedisCluster` on a cluster.
        """
        if self._closed:
            self._check_open()
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    # A cluster's pool asks a node for the slot table.
                    with translated(self.name, self._context.server):
                        pool = self._pools.sync_pool(self._pool_key)
                    self._client = self._sync_client(pool)
                client = self._client
        return client

    @property
    def aclient(self) -> AsyncSessionRedis | AsyncSessionRedisCluster:
        """The asyncio client for the running loop.

        A `redis.asyncio.Redis`, or a `redis.asyncio.cluster.RedisCluster`.
        """
        if self._closed:
            self._check_open()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError as exc:
            raise KVDBError(
                f"session {self.name!r}: `aclient` and the async methods need a "
                "running event loop; call them from async code"
            ) from exc

        # Every async command asks: the loop that asked last is answered
        # without a trip through the registry and its lock.
        cached = self._aclient
        if cached is not None and cached[0]() is loop:
            return cached[2]

        pool = self._pools.async_pool(self._pool_key)
        client = self._async_client(pool)
        self._aclient = (weakref.ref(loop), pool, client)
        return client

    def _sync_client(self, pool: SyncPool) -> SessionRedis | SessionRedisCluster:
        connection = self.settings.connection
        if isinstance(pool, redis.cluster.RedisCluster):
            return SessionRedisCluster.over(pool, self._context, connection)
        if isinstance(pool, SentinelPools):
            return pool.client(self._context)
        return SessionRedis(connection_pool=pool, context=self._context)

    def _async_client(self, pool: AsyncPool) -> _AsyncClient:
        connection = self.settings.connection
        if isinstance(pool, redis.asyncio.cluster.RedisCluster):
            return AsyncSessionRedisCluster.over(pool, self._context, connection)
        if isinstance(pool, AsyncSentinelPools):
            return pool.client(self._context)
        return AsyncSessionRedis(connection_pool=pool, context=self._context)

    def _check_open(self) -> None:
        if self._closed:
            raise SessionClosedError(
                f"session {self.name!r} is closed; get a new one with "
                f"KVDBClient.get_session({self.name!r})"
            )

    # -- objects that are not commands ---------------------------------------

    def pipeline(
        self, transaction: bool | None = None, shard_hint: str | None = None
    ) -> Any:
        """A pipeline with the codec: a MULTI/EXEC transaction by default.

        On a cluster, a pipeline is no transaction unless `transaction` is
        true, as in redis-py, since a transaction's keys must share a slot.
        """
        if transaction is None:
            return self.client.pipeline(shard_hint=shard_hint)
        return self.client.pipeline(transaction=transaction, shard_hint=shard_hint)

    def apipeline(
        self, transaction: bool | None = None, shard_hint: str | None = None
    ) -> Any:
        """The asyncio pipeline; queue commands, then `await p.execute()`."""
        if transaction is None:
            return self.aclient.pipeline(shard_hint=shard_hint)
        return self.aclient.pipeline(transaction=transaction, shard_hint=shard_hint)

    def transaction(
        self, func: Callable[[Any], Any], *watches: str, **kwargs: Any
    ) -> Any:
        """Run `func(pipe)` in a MULTI/EXEC transaction, again on a WatchError.

        As redis-py's `Redis.transaction`: the keys in `watches` (prefixed,
        like every key) are watched before each try; `value_from_callable`,
        `watch_delay` and `shard_hint` are its keywords.
        """
        return self.client.transaction(func, *watches, **kwargs)

    async def atransaction(
        self, func: Callable[[Any], Any], *watches: str, **kwargs: Any
    ) -> Any:
        """The async twin of `transaction()`; `func` is a coroutine function."""
        # redis-py annotates the cluster's `func` as a coroutine, though it
        # calls it with the pipeline, as the single-server client does.
        client: Any = self.aclient
        return await client.transaction(func, *watches, **kwargs)

    def pubsub(self, **kwargs: Any) -> Any:
        """A pub/sub reader: channels get the prefix, messages the codec."""
        return self.client.pubsub(**kwargs)

    def apubsub(self, **kwargs: Any) -> Any:
        """The asyncio pub/sub reader."""
        return self.aclient.pubsub(**kwargs)

    def lock(self, name: str, **kwargs: Any) -> Any:
        """A redis-py `Lock` on the prefixed key `name`.

        Takes redis-py's arguments (`timeout`, `sleep`, `blocking`,
        `blocking_timeout`, `thread_local`). The token is not encoded.
        """
        return self.client.lock(name, **kwargs)

    def alock(self, name: str, **kwargs: Any) -> Any:
        """The asyncio `Lock`; `await lock.acquire()`, or `async with`."""
        return self.aclient.lock(name, **kwargs)

    # -- clearing ------------------------------------------------------------

    def clear(self) -> int:
        """Delete the session's keys and return how many were deleted.

        Without a `key_prefix` this is FLUSHDB of the session's database
        (of every master of a cluster); with one, only keys under the prefix
        go, by SCAN and UNLINK.
        """
        client = self.client
        if not self.settings.key_prefix:
            count = int(client.dbsize())
            client.flushdb()
            return count

        deleted = 0
        for batch in _batches(client.scan_iter(count=_CLEAR_BATCH)):
            deleted += int(client.unlink(*batch))
        return deleted

    async def aclear(self) -> int:
        """The async twin of `clear()`."""
        client = self.aclient
        if not self.settings.key_prefix:
            count = int(await client.dbsize())
            await client.flushdb()
            return count

        deleted = 0
        batch: list[Any] = []
        async for key in client.scan_iter(count=_CLEAR_BATCH):
            batch.append(key)
            if len(batch) == _CLEAR_BATCH:
                deleted += int(await client.unlink(*batch))
                batch = []
        if batch:
            deleted += int(await client.unlink(*batch))
        return deleted

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        """Release the pool; it closes when no open session uses it."""
        if self._closed:
            return
        self._closed = True
        self._client = None
        self._aclient = None
        self._pools.release(self._pool_key, self)

    async def aclose(self) -> None:
        """Like `close()`, awaiting the running loop's connections."""
        if self._closed:
            return
        self._closed = True
        self._client = None
        self._aclient = None
        await self._pools.arelease(self._pool_key, self)

    def __enter__(self) -> Self:
        self._check_open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


# Every live session, so that a child process after fork() drops the clients
# they keep on their parent's pools and gets its own from its registry.
_sessions: weakref.WeakSet[KVDBSession] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for session in list(_sessions):
        session._client = None
        session._aclient = None


os.register_at_fork(after_in_child=_after_fork_in_child)


def _server_label(connection: ConnectionSettings) -> str:
    """The server as the session's messages name it: a cluster by its nodes."""
    label = connection.server_label()
    return f"cluster {label}" if connection.kind == "cluster" else label


def _namespace(prefix: str | None) -> str | None:
    """The prefix as stored: `cache` namespaces keys as `cache:key`."""
    if not prefix or prefix.endswith(":"):
        return prefix
    return f"{prefix}:"


def _batches(keys: Iterable[Any]) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for key in keys:
        batch.append(key)
        if len(batch) == _CLEAR_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
