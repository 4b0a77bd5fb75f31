"""Retries that never run a write twice.

redis-py retries a failed command with the `Retry` object of its connection,
whatever the command is. A command that failed with a broken connection may
still have reached the server, so running it again is safe only when running
it twice has the same effect as running it once: reads, `SET` without `GET`,
`DEL`, and so on. `INCR` or `LPUSH` twice is a different database.

The session's client marks each command it sends (`allow_retries` around a
single command, `retry_scope` around a pipeline), and the
`Retry` classes here consult that mark: an idempotent command is retried with
exponential backoff and jitter, any other command fails at once. The mark is a
context variable, so threads and asyncio tasks each see their own.

The mark covers the whole call, connecting included: kvdb cannot always tell
a failure before a command was sent from one after, so a non-idempotent
command whose connection fails to open is not retried either.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import redis.asyncio.retry
import redis.retry
from redis.backoff import ExponentialWithJitterBackoff

__all__ = [
    "AsyncSessionRetry",
    "SessionRetry",
    "allow_retries",
    "end_retries",
    "is_idempotent",
    "retry_scope",
]

T = TypeVar("T")

_may_retry: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "kvdb_may_retry", default=True
)

# Commands that have the same effect when run twice. Reads first, then writes
# that set state to a given value rather than change it relative to itself.
# SETNX, HSETNX and MSETNX are left out on purpose: a second run answers "not
# set", and the caller would believe its own successful write had lost a race.
_IDEMPOTENT: frozenset[str] = frozenset(
    """
    BITCOUNT BITPOS DBSIZE DUMP ECHO EXISTS EXPIRETIME GEODIST GEOHASH GEOPOS
    GEORADIUS_RO GEORADIUSBYMEMBER_RO GEOSEARCH GET GETBIT GETRANGE HEXISTS HGET
    HGETALL HKEYS HLEN HMGET HRANDFIELD HSCAN HSTRLEN HVALS INFO KEYS LASTSAVE
    LCS LINDEX LLEN LPOS LRANGE MGET OBJECT PEXPIRETIME PING PTTL PUBSUB
    RANDOMKEY SCAN SCARD SDIFF SINTER SINTERCARD SISMEMBER SMEMBERS SMISMEMBER
    SRANDMEMBER SSCAN STRLEN SUBSTR SUNION TIME TOUCH TTL TYPE XINFO XLEN
    XPENDING XRANGE XREAD XREVRANGE ZCARD ZCOUNT ZDIFF ZINTER ZINTERCARD
    ZLEXCOUNT ZMSCORE ZRANDMEMBER ZRANGE ZRANGEBYLEX ZRANGEBYSCORE ZRANK
    ZREVRANGE ZREVRANGEBYLEX ZREVRANGEBYSCORE ZREVRANK ZSCAN ZSCORE ZUNION
    MEMORY CLIENT CONFIG COMMAND
    DEL UNLINK EXPIRE EXPIREAT PEXPIRE PEXPIREAT PERSIST HSET HMSET HDEL
    MSET SETEX PSETEX SADD SREM ZREM ZREMRANGEBYSCORE
    ZREMRANGEBYRANK ZREMRANGEBYLEX SDIFFSTORE SINTERSTORE SUNIONSTORE
    ZDIFFSTORE ZINTERSTORE ZUNIONSTORE ZRANGESTORE LSET LTRIM SETBIT SETRANGE
    RESTORE FLUSHDB FLUSHALL SELECT AUTH HELLO XDEL XTRIM XACK
    """.split()  # noqa: SIM905 - a word list reads better than 130 quoted names
)


def _spellings(word: str) -> frozenset[str | bytes]:
    return frozenset({word, word.lower(), word.encode(), word.lower().encode()})


# Commands whose retry depends on an option: its spellings, and the index of
# the argument where options may start (after the key and value).
_UNLESS_OPTION = {"SET": (_spellings("GET"), 3), "ZADD": (_spellings("INCR"), 2)}

# The verdict for each command name as redis-py spells it (str or bytes,
# "CLIENT LIST" with its subcommand), worked out on first sight: the check
# runs on every command a session sends.
_verdicts: dict[Any, bool | tuple[frozenset[str | bytes], int]] = {}


def is_idempotent(args: Sequence[Any]) -> bool:
    """Whether running the command in `args` twice equals running it once."""
    verdict = _verdicts.get(args[0])
    if verdict is None:
        verdict = _verdicts[args[0]] = _verdict(args[0])
    if verdict is True or verdict is False:
        return verdict

    # SET ... GET returns the old value, which the first run replaced; ZADD
    # ... INCR adds again. Only words are compared, never the user's values.
    option, start = verdict
    return not any(type(arg) in (str, bytes) and arg in option for arg in args[start:])


def _verdict(command: str | bytes) -> bool | tuple[frozenset[str | bytes], int]:
    name = command.decode("ascii", "replace") if isinstance(command, bytes) else command
    # redis-py writes some subcommands into the name: "CLIENT LIST".
    name = name.upper().split(" ", 1)[0]
    return _UNLESS_OPTION.get(name) or name in _IDEMPOTENT


def allow_retries(args: Sequence[Any]) -> contextvars.Token[bool]:
    """Mark the command in `args` as retryable or not until `end_retries`."""
    return _may_retry.set(is_idempotent(args))


def end_retries(token: contextvars.Token[bool]) -> None:
    """Undo the `allow_retries` that returned `token`."""
    _may_retry.reset(token)


@contextmanager
def retry_scope(commands: Sequence[Sequence[Any]]) -> Iterator[None]:
    """Allow retries inside this block only if every command is idempotent."""
    token = _may_retry.set(all(is_idempotent(args) for args in commands))
    try:
        yield
    finally:
        _may_retry.reset(token)


def _marked_retryable(_: Exception) -> bool:
    return _may_retry.get()


def _combine(
    is_retryable: Callable[[Exception], bool] | None,
) -> Callable[[Exception], bool]:
    # redis-py passes no predicate on the command path: no closure there.
    if is_retryable is None:
        return _marked_retryable
    return lambda error: _may_retry.get() and is_retryable(error)


def _backoff(base: float, cap: float) -> ExponentialWithJitterBackoff:
    return ExponentialWithJitterBackoff(cap=cap, base=base)


class SessionRetry(redis.retry.Retry):
    """redis-py's `Retry`, held back for commands that are not idempotent."""

    def __init__(self, attempts: int, base: float, cap: float) -> None:
        super().__init__(_backoff(base, cap), attempts)

    def call_with_retry(
        self,
        do: Callable[[], T],
        fail: Any,
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        return super().call_with_retry(
            do, fail, _combine(is_retryable), with_failure_count
        )


class AsyncSessionRetry(redis.asyncio.retry.Retry):
    """The asyncio twin of `SessionRetry`."""

    def __init__(self, attempts: int, base: float, cap: float) -> None:
        super().__init__(_backoff(base, cap), attempts)

    async def call_with_retry(
        self,
        do: Callable[[], Awaitable[T]],
        fail: Any,
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        return await super().call_with_retry(
            do, fail, _combine(is_retryable), with_failure_count
        )
