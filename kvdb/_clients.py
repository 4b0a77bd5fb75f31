"""redis-py clients that run every command through a session's command layer.

`SessionRedis` and `AsyncSessionRedis` are redis-py's `Redis` classes with one
change: `execute_command` prefixes keys and encodes values on the way out,
and decodes the reply on the way back, as `kvdb.commands` describes. Every
method of redis-py ends in `execute_command`, so all of them follow the
session's codec and key prefix. So do their pipelines (commands are prepared
when they are queued and finished by `execute()`), their pub/sub objects
(channels and patterns get the prefix; messages come back without it, their
data decoded) and their locks (the name gets the prefix; the token is stored
and compared as raw bytes, and a lock never gets the session's default TTL).

They are built over a pool that the session's client owns, always created
with `decode_responses=False`: the command layer decodes, per session.

    client = SessionRedis(connection_pool=pool, context=CommandContext(codec))

A value that does not decode under `on_decode_error="delete"` is deleted
through the same pool right after the read. redis-py's errors become kvdb's
here (see `kvdb._translate`), and each command is marked retryable or not
(see `kvdb._retry`) before redis-py runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar, cast

import redis
import redis.asyncio
import redis.asyncio.client
import redis.client
from redis.typing import ChannelT, KeyT

from kvdb._log import logger
from kvdb._retry import allow_retries, end_retries, retry_scope
from kvdb._translate import (
    PASSED_THROUGH,
    translate_error,
    translate_results,
    translated,
)
from kvdb.commands import (
    CommandContext,
    PreparedCommand,
    channel_name,
    finish_message,
    prepare,
)
from kvdb.errors import DecodeError

__all__ = [
    "AsyncSessionPipeline",
    "AsyncSessionPubSub",
    "AsyncSessionRedis",
    "SessionPipeline",
    "SessionPubSub",
    "SessionRedis",
    "finish_all",
    "untyped",
]

_Names = TypeVar("_Names", bound=Mapping[ChannelT, object])

# Built once: `cast` evaluates its type on every call, on the hot path.
_Untyped = Callable[..., Any]


def untyped(method: Any) -> Callable[..., Any]:
    """A method that redis-py leaves unannotated, as a typed callable.

    Strict mypy refuses calls to unannotated functions, and the methods this
    module overrides are such functions in redis-py: all take and give `Any`.
    """
    return cast(_Untyped, method)


# redis-py's own execute_command, looked up once: it runs every command.
_execute = untyped(redis.Redis.execute_command)
_aexecute = untyped(redis.asyncio.Redis.execute_command)


class SessionRedis(redis.Redis):
    """A `redis.Redis` whose commands follow a session's codec and key prefix."""

    def __init__(
        self,
        *,
        connection_pool: redis.ConnectionPool,
        context: CommandContext,
        **kwargs: Any,
    ) -> None:
        super().__init__(connection_pool=connection_pool, **kwargs)
        self.context = context
        self._lock_client: SessionRedis | None = None

    def execute_command(self, *args: Any, **options: Any) -> Any:
        context = self.context
        token = allow_retries(args)
        try:
            if context.trivial:
                return _execute(self, *args, **options)

            prepared = prepare(context, args, options)
            reply = _execute(self, *prepared.args, **prepared.options)
            result = prepared.finish(reply)
        except PASSED_THROUGH:
            raise
        except redis.RedisError as exc:
            raise translate_error(exc, context.session_name, context.server) from exc
        finally:
            end_retries(token)

        if prepared.bad_keys:
            self.delete_undecodable(prepared.bad_keys)
        return result

    def delete_undecodable(self, keys: Sequence[bytes]) -> None:
        """Delete keys, prefixed already, whose value does not decode."""
        try:
            # redis.Redis's own method, so that the keys get no second prefix.
            _execute(self, "UNLINK", *keys)
        except redis.RedisError as exc:
            logger.warning("could not delete the undecodable keys %r: %s", keys, exc)
        else:
            logger.warning("deleted the undecodable keys %r", keys)

    def pipeline(
        self, transaction: bool = True, shard_hint: Any = None
    ) -> SessionPipeline:
        """A pipeline whose commands follow the session's codec and prefix."""
        return SessionPipeline(self, transaction=transaction, shard_hint=shard_hint)

    def pubsub(self, **kwargs: Any) -> SessionPubSub:
        """A pub/sub object with prefixed channels and decoded messages."""
        return SessionPubSub(
            self.connection_pool,
            context=self.context,
            event_dispatcher=self._event_dispatcher,
            **kwargs,
        )

    def lock(
        self,
        name: str,
        timeout: float | None = None,
        sleep: float = 0.1,
        blocking: bool = True,
        blocking_timeout: float | None = None,
        lock_class: Any = None,
        thread_local: bool = True,
        raise_on_release_error: bool = True,
    ) -> Any:
        """redis-py's lock on the prefixed `name`, with a raw token."""
        if self._lock_client is None:
            self._lock_client = SessionRedis(
                connection_pool=self.connection_pool,
                context=self.context.for_locks(),
            )

        return redis.Redis.lock(
            self._lock_client,
            name,
            timeout=timeout,
            sleep=sleep,
            blocking=blocking,
            blocking_timeout=blocking_timeout,
            lock_class=lock_class,
            thread_local=thread_local,
            raise_on_release_error=raise_on_release_error,
        )

    def client(self) -> SessionRedis:
        """A client on one connection of the pool, with the same context."""
        return SessionRedis(
            connection_pool=self.connection_pool,
            context=self.context,
            single_connection_client=True,
        )


class SessionPipeline(redis.client.Pipeline):
    """A pipeline that prepares commands as they are queued.

    `execute()` finishes each reply. With `raise_on_error=False`, a reply
    that is redis-py's exception becomes kvdb's (chained to it), and a value
    that does not decode under `on_decode_error="raise"` is a `DecodeError`.
    Commands sent at once after `watch()` are prepared and finished at once.
    """

    def __init__(
        self, client: SessionRedis, *, transaction: bool, shard_hint: Any
    ) -> None:
        # Before redis-py's __init__: its __del__ may reset() a failed instance.
        self._prepared: list[PreparedCommand | None] = []
        super().__init__(
            client.connection_pool, client.response_callbacks, transaction, shard_hint
        )
        self._client = client
        self.context = client.context

    def _translated(self) -> AbstractContextManager[None]:
        return translated(self.context.session_name, self.context.server)

    def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        execute = untyped(super().immediate_execute_command)
        with self._translated(), retry_scope([args]):
            if self.context.trivial:
                return execute(*args, **options)

            prepared = prepare(self.context, args, options)
            result = prepared.finish(execute(*prepared.args, **prepared.options))
        if prepared.bad_keys:
            self._client.delete_undecodable(prepared.bad_keys)

        return result

    def pipeline_execute_command(self, *args: Any, **options: Any) -> Any:
        queue = untyped(super().pipeline_execute_command)
        if self.context.trivial:
            self._prepared.append(None)
            return queue(*args, **options)

        prepared = prepare(self.context, args, options)
        self._prepared.append(prepared)
        return queue(*prepared.args, **prepared.options)

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        prepared = self._prepared
        commands = [args for args, _ in self.command_stack]
        with self._translated(), retry_scope(commands):
            replies = super().execute(raise_on_error)

        results, bad_keys = finish_all(prepared, replies, raise_on_error, self.context)
        if bad_keys:
            self._client.delete_undecodable(bad_keys)
        return results

    # redis-py's Pipeline shadows the RESET command the same way.
    def reset(self) -> None:  # type: ignore[override]
        super().reset()
        self._prepared = []


class SessionPubSub(redis.client.PubSub):
    """A pub/sub object with prefixed channels and decoded messages.

    Channel and pattern names of messages come back without the prefix, as
    `str` when the session has a codec or `decode_responses`; the handlers
    given to `subscribe()` are filed under the same names.
    """

    def __init__(
        self,
        connection_pool: redis.ConnectionPool,
        *,
        context: CommandContext,
        **kwargs: Any,
    ) -> None:
        # Before redis-py's __init__, which resets and so normalizes names.
        self.context = context
        super().__init__(connection_pool, **kwargs)

    def execute_command(self, *args: Any) -> None:
        if not self.context.trivial:
            args = tuple(prepare(self.context, args, {}).args)
        with translated(self.context.session_name, self.context.server):
            untyped(super().execute_command)(*args)

    def parse_response(self, block: bool = True, timeout: float = 0) -> Any:
        with translated(self.context.session_name, self.context.server):
            response = untyped(super().parse_response)(block=block, timeout=timeout)
        return finish_message(self.context, response)

    def _normalize_keys(self, data: Any) -> dict[Any, Any]:
        return _normalize_names(self.context, super()._normalize_keys(data))


class AsyncSessionRedis(redis.asyncio.Redis):
    """The asyncio twin of `SessionRedis`."""

    def __init__(
        self,
        *,
        connection_pool: redis.asyncio.ConnectionPool,
        context: CommandContext,
        **kwargs: Any,
    ) -> None:
        super().__init__(connection_pool=connection_pool, **kwargs)
        self.context = context
        self._lock_client: AsyncSessionRedis | None = None

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        context = self.context
        token = allow_retries(args)
        try:
            if context.trivial:
                return await _aexecute(self, *args, **options)

            prepared = prepare(context, args, options)
            reply = await _aexecute(self, *prepared.args, **prepared.options)
            result = prepared.finish(reply)
        except PASSED_THROUGH:
            raise
        except redis.RedisError as exc:
            raise translate_error(exc, context.session_name, context.server) from exc
        finally:
            end_retries(token)

        if prepared.bad_keys:
            await self.delete_undecodable(prepared.bad_keys)
        return result

    async def delete_undecodable(self, keys: Sequence[bytes]) -> None:
        """Delete keys, prefixed already, whose value does not decode."""
        execute = _aexecute
        try:
            # redis-py's own method, so that the keys get no second prefix.
            await execute(self, "UNLINK", *keys)
        except redis.RedisError as exc:
            logger.warning("could not delete the undecodable keys %r: %s", keys, exc)
        else:
            logger.warning("deleted the undecodable keys %r", keys)

    def pipeline(
        self, transaction: bool = True, shard_hint: str | None = None
    ) -> AsyncSessionPipeline:
        """A pipeline whose commands follow the session's codec and prefix."""
        return AsyncSessionPipeline(
            self, transaction=transaction, shard_hint=shard_hint
        )

    def pubsub(self, **kwargs: Any) -> AsyncSessionPubSub:
        """A pub/sub object with prefixed channels and decoded messages."""
        return AsyncSessionPubSub(
            self.connection_pool,
            context=self.context,
            event_dispatcher=self._event_dispatcher,
            **kwargs,
        )

    def lock(
        self,
        name: KeyT,
        timeout: float | None = None,
        sleep: float = 0.1,
        blocking: bool = True,
        blocking_timeout: float | None = None,
        lock_class: Any = None,
        thread_local: bool = True,
        raise_on_release_error: bool = True,
    ) -> Any:
        """redis-py's lock on the prefixed `name`, with a raw token."""
        if self._lock_client is None:
            self._lock_client = AsyncSessionRedis(
                connection_pool=self.connection_pool,
                context=self.context.for_locks(),
            )

        return redis.asyncio.Redis.lock(
            self._lock_client,
            name,
            timeout=timeout,
            sleep=sleep,
            blocking=blocking,
            blocking_timeout=blocking_timeout,
            lock_class=lock_class,
            thread_local=thread_local,
            raise_on_release_error=raise_on_release_error,
        )

    def client(self) -> AsyncSessionRedis:
        """A client on one connection of the pool, with the same context."""
        return AsyncSessionRedis(
            connection_pool=self.connection_pool,
            context=self.context,
            single_connection_client=True,
        )


class AsyncSessionPipeline(redis.asyncio.client.Pipeline):
    """The asyncio twin of `SessionPipeline`."""

    def __init__(
        self, client: AsyncSessionRedis, *, transaction: bool, shard_hint: str | None
    ) -> None:
        self._prepared: list[PreparedCommand | None] = []
        super().__init__(
            client.connection_pool, client.response_callbacks, transaction, shard_hint
        )
        self._client = client
        self.context = client.context

    def _translated(self) -> AbstractContextManager[None]:
        return translated(self.context.session_name, self.context.server)

    async def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        execute = untyped(super().immediate_execute_command)
        with self._translated(), retry_scope([args]):
            if self.context.trivial:
                return await execute(*args, **options)

            prepared = prepare(self.context, args, options)
            reply = await execute(*prepared.args, **prepared.options)
            result = prepared.finish(reply)
        if prepared.bad_keys:
            await self._client.delete_undecodable(prepared.bad_keys)

        return result

    def pipeline_execute_command(self, *args: Any, **options: Any) -> Any:
        queue = untyped(super().pipeline_execute_command)
        if self.context.trivial:
            self._prepared.append(None)
            return queue(*args, **options)

        prepared = prepare(self.context, args, options)
        self._prepared.append(prepared)
        return queue(*prepared.args, **prepared.options)

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        prepared = self._prepared
        commands = [args for args, _ in self.command_stack]
        with self._translated(), retry_scope(commands):
            replies = await super().execute(raise_on_error)

        results, bad_keys = finish_all(prepared, replies, raise_on_error, self.context)
        if bad_keys:
            await self._client.delete_undecodable(bad_keys)
        return results

    # redis-py's Pipeline shadows the RESET command the same way.
    async def reset(self) -> None:  # type: ignore[override]
        await untyped(super().reset)()
        self._prepared = []


class AsyncSessionPubSub(redis.asyncio.client.PubSub):
    """The asyncio twin of `SessionPubSub`."""

    def __init__(
        self,
        connection_pool: redis.asyncio.ConnectionPool,
        *,
        context: CommandContext,
        **kwargs: Any,
    ) -> None:
        self.context = context
        super().__init__(connection_pool, **kwargs)

    async def execute_command(self, *args: Any) -> None:
        if not self.context.trivial:
            args = tuple(prepare(self.context, args, {}).args)
        with translated(self.context.session_name, self.context.server):
            await super().execute_command(*args)

    async def parse_response(self, block: bool = True, timeout: float = 0) -> Any:
        with translated(self.context.session_name, self.context.server):
            response = await super().parse_response(block=block, timeout=timeout)
        return finish_message(self.context, response)

    def _normalize_keys(self, data: _Names) -> _Names:
        names = _normalize_names(self.context, super()._normalize_keys(data))
        return cast(_Names, names)


def finish_all(
    prepared: Sequence[PreparedCommand | None],
    replies: Iterable[Any],
    raise_on_error: bool,
    context: CommandContext,
) -> tuple[list[Any], list[bytes]]:
    """The finished replies of a pipeline, and the keys to delete.

    With `raise_on_error=False`, the errors among the replies become kvdb's,
    naming the session of `context`, as the errors a command raises do.
    """
    results: list[Any] = []
    bad_keys: list[bytes] = []
    for command, reply in zip(prepared, replies, strict=False):
        if command is None or isinstance(reply, Exception):
            results.append(reply)
            continue

        try:
            results.append(command.finish(reply))
        except DecodeError as exc:
            if raise_on_error:
                raise
            results.append(exc)
        bad_keys += command.bad_keys

    if not raise_on_error:
        results = translate_results(results, context.session_name, context.server)
    return results, bad_keys


def _normalize_names(
    context: CommandContext, data: Mapping[Any, Any]
) -> dict[Any, Any]:
    """Channel names as `finish_message` gives them, to find handlers by."""
    return {channel_name(context, name): handler for name, handler in data.items()}
