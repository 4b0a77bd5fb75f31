"""redis-py's Redis Cluster clients, following a session's codec and key prefix.

A session on a Redis Cluster talks through `SessionRedisCluster` (sync) or
`AsyncSessionRedisCluster` (asyncio): redis-py's `RedisCluster` classes whose
`execute_command` prefixes the keys and encodes the values before redis-py
picks the slot, and decodes the reply after, as `SessionRedis` does on one
server. Their pipelines and pub/sub objects do the same; their locks take the
prefix only.

**One set of node connections per pool key.** The pool registry keeps one
plain redis-py cluster client per pool key, and one asyncio client per event
loop (`new_cluster_client`): it owns the slot table and a connection pool per
node. A session's client is a *face* of that shared client (`over()`): an
object of the session's class whose state is the shared client's. The face's
instance dictionary is the shared client's own dictionary (assigned, not
copied), and the attributes that redis-py keeps in `__slots__` are forwarded to
the shared client; only the session's `context` is the face's own. So sessions
that connect alike route through one slot table and one pool per node, and a
topology refresh that one of them triggers serves all. Closing a sync face
closes nothing (the registry closes the shared client when its last session is
closed); `aclose()` on an asyncio face drops the shared connections, which
reconnect on the next command, as redis-py itself does after CLUSTERDOWN.

**Keys and slots.** The slot of a key is that of the key as stored, with its
prefix: under `key_prefix = "app"`, `{user1}:cart` is stored as
`app:{user1}:cart`, in the slot of the hash tag `user1` that the user wrote, so
keys that share a tag share a slot. A prefix with a brace in it would bring a
hash tag of its own, or half of one, and put keys in slots their names do not
show; `check_key_prefix` refuses it.

**Multi-key commands.** `mget`, `mset`, `delete`, `exists`, `touch` and
`unlink` with keys in several slots run as one command per slot, sent together
in one pipelined round, and their results are joined in the caller's order;
they are atomic per slot only (keys under one hash tag make one command).
`dbsize` and `keys` ask every master, not one node. Other commands of several
keys (`msetnx`, `sinter`, `rename`, `eval` with several keys, transactions)
need their keys in one slot. In a pipeline, `delete`, `exists`, `touch` and
`unlink` queue one command per slot, so they add one result per slot.

**Retries.** redis-py follows MOVED and ASK redirections and waits out TRYAGAIN
itself. Its retries of a whole command are turned off (they would run a write
twice); `execute_command` retries instead, with the session's `retry_*`
settings (exponential backoff with jitter): a command the cluster refused
(CLUSTERDOWN, MASTERDOWN, a slot not covered) is retried whatever it is, since
it did not run, and a command whose connection broke (a node died, a failover
is under way) only if it is idempotent (see `kvdb._retry`). In a pipeline,
redis-py sends again, one by one, the commands that met a redirection or a
broken connection; after a broken connection the commands that are not
idempotent are not sent again but fail. What is left surfaces as
`TopologyError`, `ServerConnectionError` or `ServerTimeoutError`, naming the
session, the cluster's start-up nodes and the node that failed.

Sharded pub/sub (`ssubscribe`, `spublish`) is redis-py's own: the session's
reader refuses it unless the session has neither a key prefix nor a codec.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio.cluster
import redis.asyncio.retry
import redis.cluster
import redis.retry
from redis import exceptions as redis_errors
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.commands.cluster import READ_COMMANDS
from redis.commands.helpers import list_or_args
from redis.crc import key_slot

from kvdb._clients import AsyncSessionPubSub, SessionPubSub, finish_all, untyped
from kvdb._log import logger
from kvdb._retry import is_idempotent
from kvdb._translate import PASSED_THROUGH, TRANSLATED, translate_error, translated
from kvdb.commands import CommandContext, PreparedCommand, prepare
from kvdb.errors import ConfigError, KVDBError

if TYPE_CHECKING:
    from typing import Self

    from kvdb.settings import ConnectionSettings

__all__ = [
    "AsyncSessionClusterPipeline",
    "AsyncSessionClusterPubSub",
    "AsyncSessionRedisCluster",
    "SessionClusterPipeline",
    "SessionClusterPubSub",
    "SessionRedisCluster",
    "check_key_prefix",
    "cluster_connection_count",
    "new_cluster_client",
]

# Refusals: the command did not run, so running it again is safe whatever it is.
_REFUSED = (
    redis_errors.ClusterDownError,
    redis_errors.TryAgainError,
    redis_errors.SlotNotCoveredError,
)
# The command may have run before the connection broke.
_BROKEN = (redis_errors.ConnectionError, redis_errors.TimeoutError)

_SHARDED = frozenset({"SSUBSCRIBE", "SUNSUBSCRIBE"})


def check_key_prefix(prefix: str | None) -> None:
    """Refuse a key prefix that would choose the slots of a cluster's keys.

    Raises `ConfigError` for a prefix with `{` or `}`: with it, the hash tag
    that decides a key's slot would come from the prefix, or from a brace of
    the prefix and one of the key, instead of from the key the user wrote.
    """
    if prefix and ("{" in prefix or "}" in prefix):
        raise ConfigError(
            f"key_prefix = {prefix!r}: a session on a Redis Cluster takes no "
            "braces in its key prefix, since Redis would hash the prefix instead "
            "of the key; put a hash tag in the keys themselves ({user1}:cart)"
        )


def new_cluster_client(connection: ConnectionSettings, *, asynchronous: bool) -> Any:
    """The shared redis-py cluster client of `connection`, sync or asyncio.

    The sync client asks a start-up node for the slot table right away; the
    asyncio one on its first command. Its own retries are off: the sessions'
    faces retry (see the module's docstring).
    """
    kwargs = connection.redis_kwargs()
    if not kwargs.pop("ssl", False):
        kwargs = {k: v for k, v in kwargs.items() if not k.startswith("ssl_")}
    else:
        kwargs["ssl"] = True
    if connection.read_from_replicas:
        # Reads go to the replicas of a slot in turn, never to its master.
        strategy = redis.cluster.LoadBalancingStrategy.ROUND_ROBIN_REPLICAS
        kwargs["load_balancing_strategy"] = strategy

    if asynchronous:
        if kwargs["max_connections"] is None:
            # redis-py's asyncio nodes need a bound; this is its default.
            del kwargs["max_connections"]
        nodes = [
            redis.asyncio.cluster.ClusterNode(host, port)
            for host, port in connection.nodes
        ]
        return redis.asyncio.cluster.RedisCluster(
            startup_nodes=nodes,
            retry=redis.asyncio.retry.Retry(NoBackoff(), 0),
            **kwargs,
        )

    node = untyped(redis.cluster.ClusterNode)
    return redis.cluster.RedisCluster(
        startup_nodes=[node(host, port) for host, port in connection.nodes],
        retry=redis.retry.Retry(NoBackoff(), 0),
        **kwargs,
    )


def cluster_connection_count(client: Any) -> int:
    """How many connections `client`, a shared cluster client, holds open."""
    nodes = client.nodes_manager.nodes_cache.values()
    if isinstance(client, redis.cluster.RedisCluster):
        pools = [
            n.redis_connection.connection_pool for n in nodes if n.redis_connection
        ]
        return sum(count for pool in pools for count, _ in pool.get_connection_count())
    # redis-py's asyncio cluster nodes keep their connections in a list.
    return sum(
        1
        for node in nodes
        for connection in node._connections
        if connection.is_connected
    )


def _retries(connection: ConnectionSettings, *, asynchronous: bool) -> Any:
    backoff = ExponentialWithJitterBackoff(
        cap=connection.retry_backoff_cap, base=connection.retry_backoff_base
    )
    module: Any = redis.asyncio.retry if asynchronous else redis.retry
    return module.Retry(backoff, connection.retry_attempts, (*_REFUSED, *_BROKEN))


def _retryable(args: Sequence[Any]) -> Callable[[Exception], bool]:
    """Whether a failure of the command `args` may be retried."""
    idempotent = is_idempotent(args)

    def retryable(error: Exception) -> bool:
        if isinstance(error, redis_errors.AuthenticationError):
            return False
        return isinstance(error, _REFUSED) or idempotent

    return retryable


def _encode(encoder: Any, key: Any) -> bytes:
    """`key` as redis-py sends it (str, int and float as text)."""
    encoded: bytes = encoder.encode(key)
    return encoded


def _log_retry(context: CommandContext) -> Callable[[Exception], None]:
    """What a face's retries call after each failure."""

    def log(error: Exception) -> None:
        logger.debug("session %s: %s; retrying", context.session_name, error)

    return log


def _alog_retry(context: CommandContext) -> Callable[[Exception], Awaitable[None]]:
    """What an asyncio face's retries await after each failure."""
    log = _log_retry(context)

    async def alog(error: Exception) -> None:
        log(error)

    return alog


def _server(context: CommandContext, error: Exception) -> str:
    """The cluster for messages, and the node that failed when redis-py says."""
    node = getattr(error, "connection", None)
    host, port = getattr(node, "host", None), getattr(node, "port", None)
    if host is None or port is None:
        return f"cluster {context.server}"
    return f"cluster {context.server}, node {host}:{port}"


class _Shared:
    """An attribute of a face that is the attribute of its shared client."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __get__(self, face: Any, owner: type | None = None) -> Any:
        if face is None:
            return self
        return getattr(face._shared, self._name)

    def __set__(self, face: Any, value: Any) -> None:
        setattr(face._shared, self._name, value)


def _forward_slots(face_class: type, shared_class: type) -> None:
    """Forward to the shared client the attributes its class keeps in slots."""
    for klass in shared_class.__mro__:
        for name in vars(klass).get("__slots__", ()):
            setattr(face_class, name, _Shared(name))


class SessionRedisCluster(redis.cluster.RedisCluster):
    """A `redis.cluster.RedisCluster` whose commands follow a session's codec
    and key prefix, over the node pools of a shared cluster client.

    Make one with `SessionRedisCluster.over(shared, context, connection)`.
    """

    __slots__ = ("_lock_face", "_retry", "_shared", "context")

    _shared: redis.cluster.RedisCluster
    _retry: redis.retry.Retry
    _lock_face: SessionRedisCluster | None
    context: CommandContext

    @classmethod
    def over(
        cls,
        shared: redis.cluster.RedisCluster,
        context: CommandContext,
        connection: ConnectionSettings,
    ) -> Self:
        """A face of `shared` for the session of `context`."""
        return cls._face(shared, context, _retries(connection, asynchronous=False))

    @classmethod
    def _face(
        cls, shared: redis.cluster.RedisCluster, context: CommandContext, retry: Any
    ) -> Self:
        face = cls.__new__(cls)
        face.__dict__ = shared.__dict__
        face._shared = shared
        face._retry = retry
        face._lock_face = None
        face.context = context
        return face

    def execute_command(self, *args: Any, **options: Any) -> Any:
        context = self.context
        execute = untyped(super().execute_command)
        prepared = None if context.trivial else prepare(context, args, options)
        sent = args if prepared is None else prepared.args
        sent_options = options if prepared is None else prepared.options

        try:
            reply = self._retry.call_with_retry(
                lambda: execute(*sent, **sent_options),
                _log_retry(context),
                _retryable(args),
            )
            if prepared is None:
                return reply
            result = prepared.finish(reply)
        except PASSED_THROUGH:
            raise
        except TRANSLATED as exc:
            server = _server(context, exc)
            raise translate_error(exc, context.session_name, server) from exc

        if prepared.bad_keys:
            self.delete_undecodable(prepared.bad_keys)
        return result

    def delete_undecodable(self, keys: Sequence[bytes]) -> None:
        """Delete keys, prefixed already, whose value does not decode."""
        execute = untyped(redis.cluster.RedisCluster.execute_command)
        for key in keys:
            # One by one: the keys may be in different slots. redis-py's own
            # method, so that they get no second prefix.
            try:
                execute(self, "UNLINK", key)
            except TRANSLATED as exc:
                logger.warning("could not delete the undecodable key %r: %s", key, exc)
            else:
                logger.warning("deleted the undecodable key %r", key)

    # -- keys in several slots ---------------------------------------------

    def _stored_slot(self, key: Any) -> int:
        return key_slot(self.context.prefix_bytes + _encode(self.encoder, key))

    def _partition_keys_by_slot(self, keys: Iterable[Any]) -> dict[int, list[Any]]:
        slots: dict[int, list[Any]] = {}
        for key in keys:
            slots.setdefault(self._stored_slot(key), []).append(key)
        return slots

    def _partition_pairs_by_slot(
        self, mapping: Mapping[Any, Any]
    ) -> dict[int, list[Any]]:
        slots: dict[int, list[Any]] = {}
        for key, value in mapping.items():
            slots.setdefault(self._stored_slot(key), []).extend((key, value))
        return slots

    def _execute_pipeline_by_slot(
        self, command: str, slots_to_args: Mapping[int, Iterable[Any]]
    ) -> list[Any]:
        """`command` once per slot, in one pipeline, retried as a whole."""
        strategy = self.load_balancing_strategy if command in READ_COMMANDS else None

        def run() -> list[Any]:
            pipe = self.pipeline()
            for slot, args in slots_to_args.items():
                node = self.nodes_manager.get_node_from_slot(slot, False, strategy)
                pipe.execute_command(command, *args, target_nodes=[node])
            return pipe.execute_untranslated()

        with translated(self.context.session_name, f"cluster {self.context.server}"):
            log = _log_retry(self.context)
            return self._retry.call_with_retry(run, log, _retryable([command]))

    def mget(self, keys: Any, *args: Any) -> Any:
        """MGET, one per slot of the keys, the values in the order of `keys`."""
        names = list_or_args(keys, args)
        if len(self._partition_keys_by_slot(names)) == 1:
            return super().mget(names)
        return self.mget_nonatomic(names)

    def mset(self, mapping: Mapping[Any, Any]) -> Any:
        """MSET, one per slot of the keys."""
        if len(self._partition_pairs_by_slot(mapping)) == 1:
            return super().mset(mapping)
        return all(self.mset_nonatomic(mapping))

    def dbsize(self, **kwargs: Any) -> Any:
        """The number of keys on all masters (or on `target_nodes`)."""
        kwargs.setdefault("target_nodes", self.PRIMARIES)
        return super().dbsize(**kwargs)

    def keys(self, pattern: Any = "*", **kwargs: Any) -> Any:
        """The keys matching `pattern` on all masters (or on `target_nodes`)."""
        kwargs.setdefault("target_nodes", self.PRIMARIES)
        return super().keys(pattern, **kwargs)

    # -- objects that are not commands --------------------------------------

    def pipeline(
        self, transaction: Any = None, shard_hint: Any = None
    ) -> SessionClusterPipeline:
        """A cluster pipeline whose commands follow the session's codec and prefix.

        Not a transaction unless `transaction` is true; a transaction's keys
        must all be in one slot.
        """
        if shard_hint:
            raise redis_errors.RedisClusterException(
                "shard_hint is not used on a cluster"
            )
        return SessionClusterPipeline(self, transaction=bool(transaction))

    def pubsub(
        self, node: Any = None, host: Any = None, port: Any = None, **kwargs: Any
    ) -> SessionClusterPubSub:
        """A pub/sub object with prefixed channels and decoded messages.

        Without `node` (or `host` and `port`) it listens on a node that
        serves the slot of the first channel.
        """
        return SessionClusterPubSub(
            self, context=self.context, node=node, host=host, port=port, **kwargs
        )

    def lock(
        self,
        name: Any,
        timeout: float | None = None,
        sleep: float = 0.1,
        blocking: bool = True,
        blocking_timeout: float | None = None,
        lock_class: Any = None,
        thread_local: bool = True,
        raise_on_release_error: bool = True,
    ) -> Any:
        """redis-py's lock on the prefixed `name`, with a raw token."""
        if self._lock_face is None:
            self._lock_face = self._face(
                self._shared, self.context.for_locks(), self._retry
            )

        return redis.cluster.RedisCluster.lock(
            self._lock_face,
            name,
            timeout=timeout,
            sleep=sleep,
            blocking=blocking,
            blocking_timeout=blocking_timeout,
            lock_class=lock_class,
            thread_local=thread_local,
            raise_on_release_error=raise_on_release_error,
        )

    def close(self) -> None:
        """Nothing: the node pools are shared, and the session closes them."""


_forward_slots(SessionRedisCluster, redis.cluster.RedisCluster)


class SessionClusterPipeline(redis.cluster.ClusterPipeline):
    """A cluster pipeline that prepares commands as they are queued.

    `execute()` finishes each reply, as `SessionPipeline` does on one server.
    """

    def __init__(self, face: SessionRedisCluster, *, transaction: bool) -> None:
        # Before redis-py's __init__: its __del__ may reset() a failed instance.
        self._prepared: list[PreparedCommand | None] = []
        super().__init__(
            nodes_manager=face.nodes_manager,
            commands_parser=face.commands_parser,
            startup_nodes=list(face.nodes_manager.startup_nodes.values()),
            result_callbacks=face.result_callbacks,
            cluster_response_callbacks=face.cluster_response_callbacks,
            load_balancing_strategy=face.load_balancing_strategy,
            reinitialize_steps=face.reinitialize_steps,
            retry=face.retry,
            lock=face._lock,
            transaction=transaction,
            event_dispatcher=face._event_dispatcher,
        )
        self._face = face
        self.context = face.context
        # redis-py sends failed commands again through this, one by one.
        self.parent_execute_command = self._send_again

    def _translated(self) -> AbstractContextManager[None]:
        return translated(self.context.session_name, f"cluster {self.context.server}")

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        return _queue(self, untyped(super().execute_command), args, kwargs)

    # redis-py queues through either name.
    pipeline_execute_command = execute_command

    def _send_again(self, *args: Any, **options: Any) -> Any:
        """Run a command of the batch again, unless it may have run already."""
        queue = self._execution_strategy.command_queue
        broke = any(isinstance(c.result, _BROKEN) for c in queue)
        if broke and not is_idempotent(args):
            raise redis_errors.ConnectionError(
                "a connection of the pipeline broke, and this command may have "
                "run; it is not idempotent, so it was not sent again"
            )
        return untyped(redis.cluster.RedisCluster.execute_command)(
            self, *args, **options
        )

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        with self._translated():
            return self.execute_untranslated(raise_on_error)

    def execute_untranslated(self, raise_on_error: bool = True) -> list[Any]:
        """`execute()`, raising redis-py's errors as they are, to retry by."""
        prepared = self._prepared
        replies = super().execute(raise_on_error)

        results, bad_keys = finish_all(prepared, replies, raise_on_error)
        if bad_keys:
            self._face.delete_undecodable(bad_keys)
        return results

    # redis-py's ClusterPipeline shadows the RESET command the same way.
    def reset(self) -> None:  # type: ignore[override]
        untyped(super().reset)()
        self._prepared = []

    # redis-py's strategies queue these without passing through
    # `execute_command`, so without the prefix; and refuse several keys.

    def _per_slot(self, command: str, keys: Sequence[Any]) -> Any:
        for slot_keys in self._face._partition_keys_by_slot(keys).values():
            self.execute_command(command, *slot_keys)
        return self

    def delete(self, *names: Any) -> Any:
        """DEL, queued once per slot of the keys."""
        return self._per_slot("DEL", names)

    def exists(self, *names: Any) -> Any:
        """EXISTS, queued once per slot of the keys."""
        return self._per_slot("EXISTS", names)

    def touch(self, *names: Any) -> Any:
        """TOUCH, queued once per slot of the keys."""
        return self._per_slot("TOUCH", names)

    def unlink(self, *names: Any) -> Any:
        """UNLINK, queued once per slot of the keys."""
        return self._per_slot("UNLINK", names)

    def watch(self, *names: Any) -> Any:
        """WATCH the prefixed keys; they must be in one slot."""
        return self.execute_command("WATCH", *names)


def _queue(
    pipe: SessionClusterPipeline | AsyncSessionClusterPipeline,
    queue: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Prepare a command and queue it with `queue`, redis-py's method of `pipe`.

    In a transaction, WATCH and the commands after it run at once instead:
    their reply is finished here.
    """
    context = pipe.context
    prepared = None if context.trivial else prepare(context, args, kwargs)
    if prepared is not None:
        args, kwargs = tuple(prepared.args), prepared.options

    before = len(pipe)
    try:
        result = queue(*args, **kwargs)
    except PASSED_THROUGH:
        raise
    except TRANSLATED as exc:
        server = f"cluster {context.server}"
        raise translate_error(exc, context.session_name, server) from exc

    if len(pipe) > before:
        pipe._prepared.append(prepared)
        return result
    return result if prepared is None else prepared.finish(result)


class SessionClusterPubSub(SessionPubSub, redis.cluster.ClusterPubSub):
    """`SessionPubSub` on the node of a cluster that serves the first channel.

    Messages published anywhere in the cluster reach every node, so one
    connection hears them all.
    """

    def __init__(
        self, cluster: SessionRedisCluster, *, context: CommandContext, **kwargs: Any
    ) -> None:
        # Before redis-py's __init__, which resets and so normalizes names.
        self.context = context
        redis.cluster.ClusterPubSub.__init__(self, cluster, **kwargs)

    def ssubscribe(self, *args: Any, **kwargs: Any) -> Any:
        _check_sharded(self.context)
        return super().ssubscribe(*args, **kwargs)


def _check_sharded(context: CommandContext) -> None:
    if not context.trivial:
        raise KVDBError(
            f"session {context.session_name!r}: sharded pub/sub (ssubscribe) does "
            "not go through the session's key prefix and codec; use subscribe() "
            "and publish(), which work across the whole cluster"
        )


class AsyncSessionRedisCluster(redis.asyncio.cluster.RedisCluster):
    """The asyncio twin of `SessionRedisCluster`, a face of a shared client of
    one event loop."""

    __slots__ = ("_lock_face", "_retry", "_shared", "context")

    _shared: redis.asyncio.cluster.RedisCluster
    _retry: redis.asyncio.retry.Retry
    _lock_face: AsyncSessionRedisCluster | None
    context: CommandContext

    @classmethod
    def over(
        cls,
        shared: redis.asyncio.cluster.RedisCluster,
        context: CommandContext,
        connection: ConnectionSettings,
    ) -> Self:
        """A face of `shared` for the session of `context`."""
        return cls._face(shared, context, _retries(connection, asynchronous=True))

    @classmethod
    def _face(
        cls,
        shared: redis.asyncio.cluster.RedisCluster,
        context: CommandContext,
        retry: Any,
    ) -> Self:
        face = cls.__new__(cls)
        face.__dict__ = shared.__dict__
        face._shared = shared
        face._retry = retry
        face._lock_face = None
        face.context = context
        return face

    def __del__(self, *_: Any) -> None:
        # redis-py warns of an unclosed client here; the shared client is
        # the registry's to close, not a face's.
        pass

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        context = self.context
        execute = untyped(super().execute_command)
        prepared = None if context.trivial else prepare(context, args, options)
        sent = args if prepared is None else prepared.args
        sent_options = options if prepared is None else prepared.options

        try:
            reply = await self._retry.call_with_retry(
                lambda: execute(*sent, **sent_options),
                _alog_retry(context),
                _retryable(args),
            )
            if prepared is None:
                return reply
            result = prepared.finish(reply)
        except PASSED_THROUGH:
            raise
        except TRANSLATED as exc:
            server = _server(context, exc)
            raise translate_error(exc, context.session_name, server) from exc

        if prepared.bad_keys:
            await self.delete_undecodable(prepared.bad_keys)
        return result

    async def delete_undecodable(self, keys: Sequence[bytes]) -> None:
        """Delete keys, prefixed already, whose value does not decode."""
        execute = untyped(redis.asyncio.cluster.RedisCluster.execute_command)
        for key in keys:
            try:
                await execute(self, "UNLINK", key)
            except TRANSLATED as exc:
                logger.warning("could not delete the undecodable key %r: %s", key, exc)
            else:
                logger.warning("deleted the undecodable key %r", key)

    # -- keys in several slots ---------------------------------------------

    def _stored_slot(self, key: Any) -> int:
        return key_slot(self.context.prefix_bytes + _encode(self.encoder, key))

    def _partition_keys_by_slot(self, keys: Iterable[Any]) -> dict[int, list[Any]]:
        slots: dict[int, list[Any]] = {}
        for key in keys:
            slots.setdefault(self._stored_slot(key), []).append(key)
        return slots

    def _partition_pairs_by_slot(
        self, mapping: Mapping[Any, Any]
    ) -> dict[int, list[Any]]:
        slots: dict[int, list[Any]] = {}
        for key, value in mapping.items():
            slots.setdefault(self._stored_slot(key), []).extend((key, value))
        return slots

    # redis-py types it on its sync mixin; its asyncio mixin awaits it.
    async def _execute_pipeline_by_slot(  # type: ignore[override]
        self, command: str, slots_to_args: Mapping[int, Iterable[Any]]
    ) -> list[Any]:
        """`command` once per slot, in one pipeline, retried as a whole."""
        strategy = self.load_balancing_strategy if command in READ_COMMANDS else None

        async def run() -> list[Any]:
            if self._initialize:
                await self.initialize()
            pipe = self.pipeline()
            for slot, args in slots_to_args.items():
                node = self.nodes_manager.get_node_from_slot(slot, False, strategy)
                pipe.execute_command(command, *args, target_nodes=[node])
            return await pipe.execute_untranslated()

        with translated(self.context.session_name, f"cluster {self.context.server}"):
            log = _alog_retry(self.context)
            return await self._retry.call_with_retry(run, log, _retryable([command]))

    async def mget(self, keys: Any, *args: Any) -> Any:
        """MGET, one per slot of the keys, the values in the order of `keys`."""
        names = list_or_args(keys, args)
        if len(self._partition_keys_by_slot(names)) == 1:
            return await super().mget(names)
        return await self.mget_nonatomic(names)

    async def mset(self, mapping: Mapping[Any, Any]) -> Any:
        """MSET, one per slot of the keys."""
        if len(self._partition_pairs_by_slot(mapping)) == 1:
            return await super().mset(mapping)
        return all(await self.mset_nonatomic(mapping))

    async def dbsize(self, **kwargs: Any) -> Any:
        """The number of keys on all masters (or on `target_nodes`)."""
        kwargs.setdefault("target_nodes", self.PRIMARIES)
        return await super().dbsize(**kwargs)

    async def keys(self, pattern: Any = "*", **kwargs: Any) -> Any:
        """The keys matching `pattern` on all masters (or on `target_nodes`)."""
        kwargs.setdefault("target_nodes", self.PRIMARIES)
        return await super().keys(pattern, **kwargs)

    # -- objects that are not commands --------------------------------------

    def pipeline(
        self, transaction: Any = None, shard_hint: Any = None
    ) -> AsyncSessionClusterPipeline:
        """The asyncio twin of `SessionRedisCluster.pipeline`."""
        if shard_hint:
            raise redis_errors.RedisClusterException(
                "shard_hint is not used on a cluster"
            )
        # redis-py's pipeline sets no `_event_dispatcher`, which its typing
        # protocol declares; it never reads one either.
        return AsyncSessionClusterPipeline(  # type: ignore[abstract]
            self, transaction=bool(transaction)
        )

    def pubsub(
        self,
        node: redis.asyncio.cluster.ClusterNode | None = None,
        host: str | None = None,
        port: int | None = None,
        **kwargs: Any,
    ) -> AsyncSessionClusterPubSub:
        """The asyncio twin of `SessionRedisCluster.pubsub`."""
        return AsyncSessionClusterPubSub(
            self, context=self.context, node=node, host=host, port=port, **kwargs
        )

    def lock(
        self,
        name: Any,
        timeout: float | None = None,
        sleep: float = 0.1,
        blocking: bool = True,
        blocking_timeout: float | None = None,
        lock_class: Any = None,
        thread_local: bool = True,
        raise_on_release_error: bool = True,
    ) -> Any:
        """redis-py's lock on the prefixed `name`, with a raw token."""
        if self._lock_face is None:
            self._lock_face = self._face(
                self._shared, self.context.for_locks(), self._retry
            )

        return redis.asyncio.cluster.RedisCluster.lock(
            self._lock_face,
            name,
            timeout=timeout,
            sleep=sleep,
            blocking=blocking,
            blocking_timeout=blocking_timeout,
            lock_class=lock_class,
            thread_local=thread_local,
            raise_on_release_error=raise_on_release_error,
        )


_forward_slots(AsyncSessionRedisCluster, redis.asyncio.cluster.RedisCluster)


class AsyncSessionClusterPipeline(redis.asyncio.cluster.ClusterPipeline):
    """The asyncio twin of `SessionClusterPipeline`.

    It runs on the shared client, not on the face: redis-py sends commands
    that met a redirection again through its client, prepared already.
    """

    def __init__(self, face: AsyncSessionRedisCluster, *, transaction: bool) -> None:
        self._prepared: list[PreparedCommand | None] = []
        super().__init__(face._shared, transaction)
        self._face = face
        self.context = face.context

    def _translated(self) -> AbstractContextManager[None]:
        return translated(self.context.session_name, f"cluster {self.context.server}")

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        return _queue(self, untyped(super().execute_command), args, kwargs)

    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        with self._translated():
            return await self.execute_untranslated(raise_on_error, allow_redirections)

    async def execute_untranslated(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        """`execute()`, raising redis-py's errors as they are, to retry by."""
        prepared = self._prepared
        try:
            replies = await super().execute(raise_on_error, allow_redirections)
        except (*_BROKEN, *_REFUSED):
            # redis-py reads the slot table again only before retrying a
            # pipeline, which kvdb does not; so on the next command, as its
            # single commands do after a broken connection.
            self.cluster_client._initialize = True
            raise

        results, bad_keys = finish_all(prepared, replies, raise_on_error)
        if bad_keys:
            await self._face.delete_undecodable(bad_keys)
        return results

    # redis-py's ClusterPipeline shadows the RESET command the same way.
    async def reset(self) -> None:  # type: ignore[override]
        await untyped(super().reset)()
        self._prepared = []

    def _split_command_across_slots(self, command: str, *keys: Any) -> Any:
        # Slots of the keys as stored, with the session's prefix.
        for slot_keys in self._face._partition_keys_by_slot(keys).values():
            self.execute_command(command, *slot_keys)
        return self

    def mset_nonatomic(self, mapping: Mapping[Any, Any]) -> Any:
        for pairs in self._face._partition_pairs_by_slot(mapping).values():
            self.execute_command("MSET", *pairs)
        return self

    async def unlink(self, *names: Any) -> Any:
        """UNLINK, queued once per slot of the keys."""
        return self._split_command_across_slots("UNLINK", *names)

    # redis-py types WATCH on its command mixin as a sync command.
    async def watch(self, *names: Any) -> Any:  # type: ignore[override]
        """WATCH the prefixed keys; they must be in one slot."""
        return self.execute_command("WATCH", *names)


class AsyncSessionClusterPubSub(
    AsyncSessionPubSub, redis.asyncio.cluster.ClusterPubSub
):
    """The asyncio twin of `SessionClusterPubSub`."""

    def __init__(
        self,
        cluster: AsyncSessionRedisCluster,
        *,
        context: CommandContext,
        **kwargs: Any,
    ) -> None:
        self.context = context
        redis.asyncio.cluster.ClusterPubSub.__init__(self, cluster, **kwargs)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if args and str(args[0]).upper() in _SHARDED:
            _check_sharded(self.context)
        if self.cluster._initialize:
            # redis-py picks the node from the slot table, read on first use.
            with translated(self.context.session_name, self.context.server):
                await self.cluster.initialize()
        return await super().execute_command(*args, **kwargs)
