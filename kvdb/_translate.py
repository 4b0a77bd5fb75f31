"""The one place where redis-py's exceptions become kvdb's.

Every command a session runs passes through its client's `execute_command`,
which hands any of redis-py's errors (`TRANSLATED`: a `redis.RedisError`, or a
`RedisClusterException`, which redis-py's cluster client raises outside that
tree) to `translate_error`; pipelines and pub/sub use `translated()`, and
the errors that a pipeline run with `raise_on_error=False` returns among its
results become kvdb's in `translate_results`. The kvdb error names the session
and the server (`host:port`, never a password) and keeps redis-py's exception
as its `__cause__`.

Two errors are left as they are (`PASSED_THROUGH`), because they are not
failures but signals that code above catches by name: `WatchError` tells an
optimistic transaction to try again, and `NoScriptError` tells redis-py's
`Script` (used by locks) to load its script and retry.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis.asyncio.sentinel
import redis.sentinel
from redis import exceptions as redis_errors

from kvdb.errors import (
    AuthenticationError,
    CommandError,
    EncodeError,
    KVDBError,
    ServerConnectionError,
    ServerTimeoutError,
    TopologyError,
)

__all__ = [
    "PASSED_THROUGH",
    "TRANSLATED",
    "translate_error",
    "translate_results",
    "translated",
]

PASSED_THROUGH = (redis_errors.WatchError, redis_errors.NoScriptError)

TRANSLATED = (redis_errors.RedisError, redis_errors.RedisClusterException)

# redis-py's own check of a multi-key command on a cluster, and the server's.
_CROSS_SLOT = ("must map to the same key slot", "hash to the same slot")

_AUTH_REPLIES = ("WRONGPASS", "NOAUTH", "invalid password", "invalid username")

# A value of a type that no command takes, in the words of redis-py's encoder
# and of hiredis, which packs the sync client's commands when it is installed.
_UNENCODABLE = ("Invalid input of type", "A tuple item must be")

# Sentinel's errors, which redis-py defines twice: once for each client.
_NO_MASTER = (
    redis.sentinel.MasterNotFoundError,
    redis.asyncio.sentinel.MasterNotFoundError,
)
_NO_REPLICA = (
    redis.sentinel.SlaveNotFoundError,
    redis.asyncio.sentinel.SlaveNotFoundError,
)

# Order matters: redis-py derives several topology errors from ConnectionError.
_TOPOLOGY = (
    redis_errors.RedisClusterException,
    redis_errors.ClusterError,
    redis_errors.ClusterDownError,
    redis_errors.TryAgainError,
    redis_errors.MovedError,
    redis_errors.AskError,
    redis_errors.SlotNotCoveredError,
    *_NO_MASTER,
    *_NO_REPLICA,
)


@contextmanager
def translated(session: str | None, server: str | None) -> Iterator[None]:
    """Raise redis-py's errors inside this block as kvdb's."""
    try:
        yield
    except PASSED_THROUGH:
        raise
    except TRANSLATED as exc:
        raise translate_error(exc, session, server) from exc


def translate_error(
    exc: Exception, session: str | None, server: str | None
) -> KVDBError:
    """The kvdb error for `exc`, raised by session `session` on `server`."""
    cause = exc.__cause__
    if isinstance(exc, redis_errors.RedisClusterException) and isinstance(
        cause, redis_errors.RedisError
    ):
        # "Redis Cluster cannot be connected": what failed is the cause.
        return translate_error(cause, session, server)

    where = f"session {session!r} ({server or 'unknown server'})"
    text = str(exc) or type(exc).__name__

    if isinstance(exc, redis_errors.AuthenticationError) or (
        isinstance(exc, redis_errors.ResponseError) and text.startswith(_AUTH_REPLIES)
    ):
        return AuthenticationError(
            f"{where}: the server refused the credentials ({text}); check the "
            "session's username and password"
        )
    if any(words in text for words in _CROSS_SLOT):
        # redis-py checks this itself, raising an exception of no class of its own.
        return CommandError(
            f"{where}: {text}; the keys of this command must be in one slot: give "
            "them one hash tag, as in {user1}:cart and {user1}:orders"
        )
    if isinstance(exc, _NO_MASTER):
        return TopologyError(
            f"{where}: {text}; is the service name right, and are "
            "sentinel_username and sentinel_password those of the sentinels?"
        )
    if isinstance(exc, _TOPOLOGY):
        return TopologyError(f"{where}: {text}")
    if isinstance(exc, redis_errors.TimeoutError):
        return ServerTimeoutError(
            f"{where}: the server did not answer in time ({text}); raise "
            "`socket_timeout` if the command is slow"
        )
    if isinstance(exc, redis_errors.ConnectionError):
        return ServerConnectionError(
            f"{where}: cannot reach the server ({text}); is it running, and "
            "is the url right?"
        )
    unencodable = any(words in text for words in _UNENCODABLE)
    if isinstance(exc, redis_errors.DataError) and unencodable:
        return EncodeError(
            f"{where}: {text.rstrip('.')}; a session without a serializer stores only "
            "str, bytes, int and float: set `serializer` (json, msgpack or "
            "pickle) to store other values"
        )
    return CommandError(f"{where}: {text}")


def translate_results(
    results: list[Any], session: str | None, server: str | None
) -> list[Any]:
    """The `results` of a pipeline, with redis-py's errors among them as kvdb's.

    Each kvdb error keeps redis-py's as its `__cause__`, as if raised from it.
    """
    return [_translate_result(result, session, server) for result in results]


def _translate_result(result: Any, session: str | None, server: str | None) -> Any:
    if not isinstance(result, TRANSLATED) or isinstance(result, PASSED_THROUGH):
        return result

    error = translate_error(result, session, server)
    error.__cause__ = result
    return error
