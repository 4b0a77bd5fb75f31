"""redis-py's Redis Cluster clients, following a session's codec and key prefix.

A session on a Redis Cluster talks through `SessionRedisCluster` (sync) or
`AsyncSessionRedisCluster` (asyncio): redis-py's `RedisCluster` classes whose
`execute_command` prefixes the keys and encodes the values before redis-py
picks the slot, and decodes the reply after, as `SessionRedis` does on one
server. Their pipelines and pub/sub objects do the same; their locks take the
prefix only. What the sync and asyncio classes share besides their I/O lives
in `_ClusterFace` and `_PipelineCommands`.

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
in one pipelined round, and their results are joined in the caller's order
(by position: `1` and `1.0` are two keys on the wire); they are atomic per
slot only (keys under one hash tag make one command). `dbsize` and `keys` ask
every master, not one node. Other commands of several keys (`msetnx`,
`sinter`, `rename`, `eval` with several keys, transactions) need their keys in
one slot.

**Pipelines.** A pipeline sends every command to the master of its slot, even
when the session reads from replicas, so that a read sees the writes queued
before it. `delete`, `exists`, `touch`, `unlink`, `mset` and `mset_nonatomic`
queue one command per slot, so they add one result per slot; `mget` takes
keys of one slot, to give one result. The commands of several keys that
redis-py refuses to queue in a cluster pipeline (`sinter`, `rename`, `smove`,
...) are queued like any other and need their keys in one slot; those that do
not go to the node of one slot (`publish`, `dbsize`, `keys`, `ping`, ...)
raise `CommandError` at once, saying to call them on the session instead.

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
session, the cluster's start-up nodes and the node that failed; when that node
is one of several, the message says that it may be failing over, and which
settings ride through that.

Sharded pub/sub (`ssubscribe`, `spublish`) is redis-py's own: the session's
reader refuses it unless the session has neither a key prefix nor a codec.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

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
from kvdb._translate import PASSED_THROUGH, TRANSLATED, translate_error
from kvdb.commands import CommandContext, PreparedCommand, prepare
from kvdb.errors import (
    CommandError,
    ConfigError,
    KVDBError,
    ServerConnectionError,
    ServerTimeoutError,
)

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

# For a master that failed and for a replica that reads went to alike: the
# cluster takes seconds to promote a replica, or to drop the replica.
_FAILOVER_HINT = (
    "the cluster may be failing over, which takes a few seconds: raise the "
    "session's retry_attempts and retry_backoff_cap to let idempotent commands "
    "ride through it (the Failover section of kvdb's README has measured times)"
)

_SharedT = TypeVar(
    "_SharedT", redis.cluster.RedisCluster, redis.asyncio.cluster.RedisCluster
)


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


def _failed_node(error: Exception) -> str | None:
    """The node that `error` came from, when redis-py says (its sync client does)."""
    node = getattr(error, "connection", None)
    host, port = getattr(node, "host", None), getattr(node, "port", None)
    if host is None or port is None:
        return None
    return f"{host}:{port}"


def _cluster_error(context: CommandContext, error: Exception, nodes: int) -> KVDBError:
    """The kvdb error for `error`, raised on a cluster of `nodes` known nodes.

    A node of several that breaks a connection or falls silent is most often
    failing over, so the message says that instead of asking whether the URL
    is right. That stays for a single node, and for redis-py's "cannot be
    connected" (a `RedisClusterException`), when no start-up node answered.
    """
    node = _failed_node(error)
    server = context.server or ""
    if node is not None:
        server += f", node {node}"
    translated = translate_error(error, context.session_name, server)

    # By the translated class: redis-py's AuthenticationError is a
    # ConnectionError too. By the error's: "cannot be connected" is not one.
    broken = type(translated) in (ServerConnectionError, ServerTimeoutError)
    if nodes < 2 or not broken or not isinstance(error, _BROKEN):
        return translated

    where = f"session {context.session_name!r} ({server})"
    failed = "a node of the cluster" if node is None else "the node"
    text = str(error) or type(error).__name__
    if isinstance(translated, ServerTimeoutError):
        return ServerTimeoutError(
            f"{where}: {failed} did not answer in time ({text}); {_FAILOVER_HINT}; "
            "or, if the command is slow, raise `socket_timeout`"
        )
    return ServerConnectionError(
        f"{where}: cannot reach {failed} ({text}); {_FAILOVER_HINT}"
    )


def _in_order(
    count: int, positions: Iterable[Sequence[int]], replies: Iterable[Sequence[Any]]
) -> list[Any]:
    """The values of one MGET per slot, each at the position of its key."""
    values: list[Any] = [None] * count
    for slot_positions, reply in zip(positions, replies, strict=True):
        for position, value in zip(slot_positions, reply, strict=True):
            values[position] = value

    return values


class _Forwarded:
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
            setattr(face_class, name, _Forwarded(name))


class _ClusterFace(Generic[_SharedT]):
    """What the sync and the asyncio faces share: everything but their I/O.

    A face class names `_plain`, redis-py's class of the shared client, whose
    methods it calls on itself where it overrides them. The attributes below
    are slots of each face class: two bases with slots of their own (this and
    redis-py's asyncio client) cannot be combined.
    """

    _plain: ClassVar[Any]
    _asynchronous: ClassVar[bool]

    _shared: _SharedT
    _retry: Any
    _lock_face: _ClusterFace[_SharedT] | None
    context: CommandContext

    @classmethod
    def over(
        cls, shared: _SharedT, context: CommandContext, connection: ConnectionSettings
    ) -> Self:
        """A face of `shared` for the session of `context`."""
        retry = _retries(connection, asynchronous=cls._asynchronous)
        return cls._face(shared, context, retry)

    @classmethod
    def _face(cls, shared: _SharedT, context: CommandContext, retry: Any) -> Self:
        face = cls.__new__(cls)
        face.__dict__ = shared.__dict__
        face._shared = shared
        face._retry = retry
        face._lock_face = None
        face.context = context
        return face

    # -- errors -------------------------------------------------------------

    def _where(self) -> str:
        """The session and the cluster, as the start of a message."""
        context = self.context
        return f"session {context.session_name!r} ({context.server})"

    def _error(self, error: Exception) -> KVDBError:
        nodes = len(self._shared.nodes_manager.nodes_cache)
        return _cluster_error(self.context, error, nodes)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Raise redis-py's errors inside this block as kvdb's."""
        try:
            yield
        except PASSED_THROUGH:
            raise
        except TRANSLATED as exc:
            raise self._error(exc) from exc

    # -- keys in several slots ---------------------------------------------

    # redis-py's multi-key commands split their keys with the two methods
    # after this one: here by the slot of each key as stored, prefix and all.
    def _stored_slot(self, key: Any) -> int:
        encoder = self._shared.encoder
        return key_slot(self.context.prefix_bytes + _encode(encoder, key))

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

    def _positions_by_slot(self, keys: Sequence[Any]) -> dict[int, list[int]]:
        """Where in `keys` the keys of each slot are.

        Positions, not keys: redis-py joins its per-slot replies in a dict
        keyed by the caller's keys, where `1` and `1.0` are one key.
        """
        slots: dict[int, list[int]] = {}
        for position, key in enumerate(keys):
            slots.setdefault(self._stored_slot(key), []).append(position)
        return slots

    def dbsize(self, **kwargs: Any) -> Any:
        """The number of keys on all masters (or on `target_nodes`)."""
        kwargs.setdefault("target_nodes", self._plain.PRIMARIES)
        return self._plain.dbsize(self, **kwargs)

    def keys(self, pattern: Any = "*", **kwargs: Any) -> Any:
        """The keys matching `pattern` on all masters (or on `target_nodes`)."""
        kwargs.setdefault("target_nodes", self._plain.PRIMARIES)
        return self._plain.keys(self, pattern, **kwargs)

    # -- objects that are not commands --------------------------------------

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

        return self._plain.lock(
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


class SessionRedisCluster(
    _ClusterFace[redis.cluster.RedisCluster], redis.cluster.RedisCluster
):
    """A `redis.cluster.RedisCluster` whose commands follow a session's codec
    and key prefix, over the node pools of a shared cluster client.

    Make one with `SessionRedisCluster.over(shared, context, connection)`.
    """

    __slots__ = ("_lock_face", "_retry", "_shared", "context")

    _plain = redis.cluster.RedisCluster
    _asynchronous = False
    _retry: redis.retry.Retry

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
            raise self._error(exc) from exc

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

        with self._translated():
            log = _log_retry(self.context)
            return self._retry.call_with_retry(run, log, _retryable([command]))

    def mget(self, keys: Any, *args: Any) -> Any:
        """MGET, one per slot of the keys, the values in the order of `keys`."""
        names = list_or_args(keys, args)
        positions = self._positions_by_slot(names)
        if len(positions) == 1:
            return super().mget(names)

        by_slot = {slot: [names[i] for i in at] for slot, at in positions.items()}
        replies = self._execute_pipeline_by_slot("MGET", by_slot)
        return _in_order(len(names), positions.values(), replies)

    def mset(self, mapping: Mapping[Any, Any]) -> Any:
        """MSET, one per slot of the keys."""
        if len(self._partition_pairs_by_slot(mapping)) == 1:
            return super().mset(mapping)
        return all(self.mset_nonatomic(mapping))

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

    def close(self) -> None:
        """Nothing: the node pools are shared, and the session closes them."""


_forward_slots(SessionRedisCluster, redis.cluster.RedisCluster)


def _redis_py_method(name: str) -> Callable[..., Any]:
    """The command method `name` of redis-py, from past the pipeline class that
    blocks it (the same method in the sync and the asyncio pipelines)."""
    below = redis.cluster.ClusterPipeline.__mro__[1:]
    return untyped(next(vars(klass)[name] for klass in below if name in vars(klass)))


_redis_py_mget = _redis_py_method("mget")


class _PipelineCommands:
    """How the sync and the asyncio cluster pipelines queue commands.

    redis-py's cluster pipelines queue `delete`, `exists`, `touch` and the like
    without passing through `execute_command`, so without the prefix, and
    refuse several keys; and they block some commands outright, raising
    redis-py's exception before the session could translate it. Here each of
    those is queued once per slot, queued like any other command, or refused
    with a `CommandError` that says what to do (see the module's docstring).
    """

    _face: SessionRedisCluster | AsyncSessionRedisCluster
    _prepared: list[PreparedCommand | None]
    context: CommandContext
    execute_command: Callable[..., Any]

    def _translated(self) -> AbstractContextManager[None]:
        return self._face._translated()

    def _split_command_across_slots(self, command: str, *keys: Any) -> Any:
        # Slots of the keys as stored, with the session's prefix.
        for slot_keys in self._face._partition_keys_by_slot(keys).values():
            self.execute_command(command, *slot_keys)
        return self

    def delete(self, *names: Any) -> Any:
        """DEL, queued once per slot of the keys."""
        return self._split_command_across_slots("DEL", *names)

    def exists(self, *names: Any) -> Any:
        """EXISTS, queued once per slot of the keys."""
        return self._split_command_across_slots("EXISTS", *names)

    def touch(self, *names: Any) -> Any:
        """TOUCH, queued once per slot of the keys."""
        return self._split_command_across_slots("TOUCH", *names)

    def mget(self, keys: Any, *args: Any) -> Any:
        """MGET of keys in one slot, queued as one command with one result."""
        names = list_or_args(keys, args)
        if len(self._face._partition_keys_by_slot(names)) > 1:
            raise CommandError(
                f"{self._face._where()}: mget() in a cluster pipeline takes keys "
                "of one slot, to give one result; give them one hash tag, as in "
                "{user1}:cart and {user1}:orders, or call the session's mget(), "
                "which reads several slots"
            )
        return _redis_py_mget(self, names)

    def mset(self, mapping: Mapping[Any, Any]) -> Any:
        """MSET, queued once per slot of the keys."""
        for pairs in self._face._partition_pairs_by_slot(mapping).values():
            self.execute_command("MSET", *pairs)
        return self

    mset_nonatomic = mset


def _refused(name: str) -> Callable[..., Any]:
    def refuse(pipe: _PipelineCommands, *args: Any, **kwargs: Any) -> Any:
        raise CommandError(
            f"{pipe._face._where()}: {name}() cannot be queued in a cluster "
            "pipeline, which sends each command to the node of its keys' slot; "
            "call it on the session instead"
        )

    refuse.__name__ = name
    return refuse


# The commands of several keys that redis-py blocks in a cluster pipeline,
# though its pipeline checks that their keys share a slot as it does for any
# command; queued as they are, they behave as outside a pipeline.
_ONE_SLOT = frozenset(
    """
    bitop brpoplpush msetnx pfcount pfmerge rename renamenx rpoplpush sdiff
    sdiffstore sinter sinterstore smove sort sunion sunionstore
    """.split()  # noqa: SIM905 - a word list reads better than quoted names
)


def _replace_blocked_commands() -> None:
    """Give `_PipelineCommands` each command redis-py blocks in a pipeline."""
    for command in redis.cluster.PIPELINE_BLOCKED_COMMANDS:
        name = command.replace(" ", "_").lower()
        if name in _ONE_SLOT:
            setattr(_PipelineCommands, name, _redis_py_method(name))
        elif name not in vars(_PipelineCommands):
            setattr(_PipelineCommands, name, _refused(name))


_replace_blocked_commands()


class SessionClusterPipeline(_PipelineCommands, redis.cluster.ClusterPipeline):
    """A cluster pipeline that prepares commands as they are queued.

    `execute()` finishes each reply, as `SessionPipeline` does on one server.
    Every command goes to the master of its slot, replica reads or not.

    It differs from its asyncio twin where redis-py's pipelines differ: after
    a broken connection, redis-py's sync pipeline sends the commands of the
    batch again one by one, through `_send_again`, which keeps back those that
    are not idempotent; its asyncio pipeline sends again only the commands
    that met a redirection. `unlink()` and `watch()` queue at once here, and
    are coroutines there, as in redis-py.
    """

    _face: SessionRedisCluster

    def __init__(self, face: SessionRedisCluster, *, transaction: bool) -> None:
        # Before redis-py's __init__: its __del__ may reset() a failed instance.
        self._prepared = []
        # No load balancing strategy, whatever the face's: redis-py would send
        # the pipeline's reads to replicas, and a GET would miss the SET queued
        # before it.
        super().__init__(
            nodes_manager=face.nodes_manager,
            commands_parser=face.commands_parser,
            startup_nodes=list(face.nodes_manager.startup_nodes.values()),
            result_callbacks=face.result_callbacks,
            cluster_response_callbacks=face.cluster_response_callbacks,
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

        results, bad_keys = finish_all(prepared, replies, raise_on_error, self.context)
        if bad_keys:
            self._face.delete_undecodable(bad_keys)
        return results

    # redis-py's ClusterPipeline shadows the RESET command the same way.
    def reset(self) -> None:  # type: ignore[override]
        untyped(super().reset)()
        self._prepared = []

    def unlink(self, *names: Any) -> Any:
        """UNLINK, queued once per slot of the keys."""
        return self._split_command_across_slots("UNLINK", *names)

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
        raise pipe._face._error(exc) from exc

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


# redis-py's own asyncio bases disagree on `command_info`; mypy reports that
# on any class that adds a base of its own.
class AsyncSessionRedisCluster(  # type: ignore[misc]
    _ClusterFace[redis.asyncio.cluster.RedisCluster],
    redis.asyncio.cluster.RedisCluster,
):
    """The asyncio twin of `SessionRedisCluster`, a face of a shared client of
    one event loop."""

    __slots__ = ("_lock_face", "_retry", "_shared", "context")

    _plain = redis.asyncio.cluster.RedisCluster
    _asynchronous = True
    _retry: redis.asyncio.retry.Retry

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
            raise self._error(exc) from exc

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

        with self._translated():
            log = _alog_retry(self.context)
            return await self._retry.call_with_retry(run, log, _retryable([command]))

    async def mget(self, keys: Any, *args: Any) -> Any:
        """MGET, one per slot of the keys, the values in the order of `keys`."""
        names = list_or_args(keys, args)
        positions = self._positions_by_slot(names)
        if len(positions) == 1:
            return await super().mget(names)

        by_slot = {slot: [names[i] for i in at] for slot, at in positions.items()}
        replies = await self._execute_pipeline_by_slot("MGET", by_slot)
        return _in_order(len(names), positions.values(), replies)

    async def mset(self, mapping: Mapping[Any, Any]) -> Any:
        """MSET, one per slot of the keys."""
        if len(self._partition_pairs_by_slot(mapping)) == 1:
            return await super().mset(mapping)
        return all(await self.mset_nonatomic(mapping))

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

    def _pipeline_client(self) -> redis.asyncio.cluster.RedisCluster:
        """The client a pipeline runs on: the shared one, or, when it reads
        from replicas, a view of it that reads from masters."""
        if self.load_balancing_strategy is None:
            return self._shared
        return _AsyncMasterReads.of(self._shared)


_forward_slots(AsyncSessionRedisCluster, redis.asyncio.cluster.RedisCluster)


class _AsyncMasterReads(redis.asyncio.cluster.RedisCluster):
    """A view of a shared asyncio client that sends every command to a master.

    redis-py's asyncio pipeline picks each command's node through the client
    it runs on, and with replica reads that would send a GET to a replica,
    where it would miss the SET queued before it. The view has a copy of the
    client's instance dictionary without the load balancing strategy, and
    with the node lookups bound to the view instead of the client; what
    redis-py keeps in `__slots__` (the slot table, the node connections, the
    flag that asks for a new slot table) is the shared client's, as for a face.
    """

    __slots__ = ("_shared",)

    _shared: redis.asyncio.cluster.RedisCluster

    @classmethod
    def of(cls, shared: redis.asyncio.cluster.RedisCluster) -> Self:
        view = cls.__new__(cls)
        view._shared = shared
        view.__dict__ = {**shared.__dict__, "load_balancing_strategy": None}
        # redis-py picks nodes through methods bound when the client was made.
        view._policies_callback_mapping = {
            policy: _rebound(callback, shared, view)
            for policy, callback in shared._policies_callback_mapping.items()
        }
        return view

    def __del__(self, *_: Any) -> None:
        # As for a face: the shared client is the registry's to close.
        pass


_forward_slots(_AsyncMasterReads, redis.asyncio.cluster.RedisCluster)


def _rebound(callback: Any, shared: object, view: object) -> Any:
    """`callback`, a method of `shared`, as the same method of `view`."""
    if getattr(callback, "__self__", None) is not shared:
        return callback
    return getattr(view, callback.__name__)


# As for AsyncSessionRedisCluster: redis-py's bases disagree on `command_info`.
class AsyncSessionClusterPipeline(  # type: ignore[misc]
    _PipelineCommands, redis.asyncio.cluster.ClusterPipeline
):
    """The asyncio twin of `SessionClusterPipeline` (whose docstring says where
    they differ).

    It runs on the shared client (`_pipeline_client()`), not on the face:
    redis-py sends commands that met a redirection again through its client,
    prepared already.
    """

    _face: AsyncSessionRedisCluster

    def __init__(self, face: AsyncSessionRedisCluster, *, transaction: bool) -> None:
        self._prepared = []
        super().__init__(face._pipeline_client(), transaction)
        self._face = face
        self.context = face.context

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

        results, bad_keys = finish_all(prepared, replies, raise_on_error, self.context)
        if bad_keys:
            await self._face.delete_undecodable(bad_keys)
        return results

    # redis-py's ClusterPipeline shadows the RESET command the same way.
    async def reset(self) -> None:  # type: ignore[override]
        await untyped(super().reset)()
        self._prepared = []

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
        self._face = cluster
        redis.asyncio.cluster.ClusterPubSub.__init__(self, cluster, **kwargs)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if args and str(args[0]).upper() in _SHARDED:
            _check_sharded(self.context)
        if self.cluster._initialize:
            # redis-py picks the node from the slot table, read on first use.
            with self._face._translated():
                await self.cluster.initialize()
        return await super().execute_command(*args, **kwargs)
