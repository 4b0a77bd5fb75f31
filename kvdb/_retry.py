"""Retries that never run a write twice.

redis-py retries a failed command with the `Retry` object of its connection,
whatever the command is. A command that failed with a broken connection may
still have reached the server, so kvdb runs it again only when that is
harmless: when running it twice leaves the server as running it once does,
and the second reply tells the caller nothing false that matters. `INCR` or
`LPUSH` twice is a different database; `SET ... NX` run twice answers "not
set" to the caller that did set the key, so a lock taken that way would be
held by a caller told that it is not. When in doubt a command is not retried:
a missing retry is an error the caller sees, a wrong one is silent.

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
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
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

# Whether a command may be retried: always, never, or as its arguments say.
_Verdict = bool | Callable[[Sequence[Any]], bool]

_may_retry: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "kvdb_may_retry", default=True
)


def _names(words: str) -> frozenset[str]:
    # A word list reads better than a hundred quoted names.
    return frozenset(words.split())


# Reads. MEMORY PURGE, the one MEMORY subcommand that acts, frees what it can
# however often it runs.
_READS = _names(
    """
    BITCOUNT BITPOS COMMAND DBSIZE DUMP ECHO EXISTS EXPIRETIME GEODIST GEOHASH
    GEOPOS GEORADIUS_RO GEORADIUSBYMEMBER_RO GEOSEARCH GET GETBIT GETRANGE
    HEXISTS HGET HGETALL HKEYS HLEN HMGET HRANDFIELD HSCAN HSTRLEN HVALS INFO
    KEYS LASTSAVE LCS LINDEX LLEN LPOS LRANGE MEMORY MGET OBJECT PEXPIRETIME
    PING PTTL PUBSUB RANDOMKEY SCAN SCARD SDIFF SINTER SINTERCARD SISMEMBER
    SMEMBERS SMISMEMBER SRANDMEMBER SSCAN STRLEN SUBSTR SUNION TIME TOUCH TTL
    TYPE XINFO XLEN XPENDING XRANGE XREAD XREVRANGE ZCARD ZCOUNT ZDIFF ZINTER
    ZINTERCARD ZLEXCOUNT ZMSCORE ZRANDMEMBER ZRANGE ZRANGEBYLEX ZRANGEBYSCORE
    ZRANK ZREVRANGE ZREVRANGEBYLEX ZREVRANGEBYSCORE ZREVRANK ZSCAN ZSCORE ZUNION
    """
)

# Writes that set a given state and answer a second run as they did the first.
# A set operation stored twice gives the same set even when its destination is
# one of its sources; ZUNIONSTORE and ZINTERSTORE would add the scores again,
# and ZRANGESTORE would trim again, so they are not here. CONFIG reads and sets
# the server's settings. SELECT, AUTH and HELLO set up the connection, which a
# retry does on its new connection.
_WRITES = _names(
    """
    AUTH CONFIG FLUSHALL FLUSHDB HELLO HMSET LSET MSET PSETEX SDIFFSTORE SELECT
    SETEX SETRANGE SINTERSTORE SUNIONSTORE ZDIFFSTORE
    """
)

# DEL and UNLINK count the keys they removed, so a retry may answer 0 where
# the first run did the work; they are retried all the same, as they are sent
# for their effect. The counting writes that add (SADD, HSET, ZADD) are not:
# `if sadd(seen, id)` is how a consumer skips what it has seen, and a retry
# would tell it that it had seen an item it never processed. Likewise HDEL,
# SREM, ZREM and PERSIST: `if zrem(...)` is how a worker claims a job.
_COUNTED = _names("DEL UNLINK")

# Not retried, besides the writes that change state relative to itself (INCR,
# LPUSH, XADD, ...) and those acting outside the database (PUBLISH, EVAL):
# LTRIM, LREM and ZREMRANGEBYRANK remove by position, again on a second run;
# SETNX, HSETNX, MSETNX, SETBIT, XACK, XDEL, XTRIM, ZREMRANGEBYSCORE and
# ZREMRANGEBYLEX answer whether they did something, which a retry would deny;
# RESTORE fails the second time, the key being there.
_IDEMPOTENT = _READS | _WRITES | _COUNTED

# CLIENT subcommands that read, or set up the connection (again on a retry's
# new connection). KILL, PAUSE, UNBLOCK and the others act on other clients,
# and a second run finds no one left to act on, or acts longer.
_CLIENT_IDEMPOTENT = _names(
    "GETNAME GETREDIR ID INFO LIST NO-EVICT NO-TOUCH SETINFO SETNAME TRACKINGINFO"
)


def _unless(words: str, *, start: int) -> Callable[[Sequence[Any]], bool]:
    """A verdict: retry unless one of `words` is among the arguments from `start`.

    Arguments before `start` are the key and the value, which may spell an
    option word. Options are words, so only `str` and `bytes` are looked up.
    """
    spellings = frozenset(
        spelling
        for word in words.split()
        for spelling in (word, word.lower(), word.encode(), word.lower().encode())
    )

    def verdict(args: Sequence[Any]) -> bool:
        if len(args) <= start:  # no options at all: the common case
            return True
        return not any(
            type(arg) in (str, bytes) and arg in spellings for arg in args[start:]
        )

    return verdict


# Commands retried unless an option changes what a second run does. SET NX and
# SET IFEQ (and the other IF options) answer whether they set the key, and SET
# GET returns the value that the first run replaced; SET XX is retried, since
# the key is there for the second run too. EXPIRE NX, GT and LT answer whether
# they changed the TTL.
_UNLESS_OPTION: dict[str, _Verdict] = {
    "SET": _unless("NX GET IFEQ IFNE IFDEQ IFDNE", start=3),
    **dict.fromkeys(
        ("EXPIRE", "EXPIREAT", "PEXPIRE", "PEXPIREAT"), _unless("NX GT LT", start=3)
    ),
}

# The verdict for each command name as redis-py spells it (str or bytes,
# "CLIENT LIST" with its subcommand), worked out on first sight: the check
# runs on every command a session sends.
_verdicts: dict[Any, _Verdict] = {}


def is_idempotent(args: Sequence[Any]) -> bool:
    """Whether running the command in `args` twice equals running it once."""
    verdict = _verdicts.get(args[0])
    if verdict is None:
        verdict = _verdicts[args[0]] = _verdict(args[0])

    if verdict is True or verdict is False:
        return verdict
    return verdict(args)


def _verdict(command: str | bytes) -> _Verdict:
    name = command.decode("ascii", "replace") if isinstance(command, bytes) else command
    # redis-py writes some subcommands into the name: "CLIENT LIST".
    name, _, subcommand = name.upper().partition(" ")

    if name == "CLIENT":
        return subcommand in _CLIENT_IDEMPOTENT if subcommand else _client_subcommand
    return _UNLESS_OPTION.get(name) or name in _IDEMPOTENT


def _client_subcommand(args: Sequence[Any]) -> bool:
    # CLIENT sent with its subcommand as an argument of its own.
    subcommand = args[1] if len(args) > 1 else ""
    if isinstance(subcommand, bytes):
        subcommand = subcommand.decode("ascii", "replace")

    return isinstance(subcommand, str) and subcommand.upper() in _CLIENT_IDEMPOTENT


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

    def call_with_retry(
        self,
        do: Callable[[], Awaitable[T]],
        fail: Any,
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> Coroutine[Any, Any, T]:
        # Not a coroutine itself: handing back redis-py's saves every command
        # a coroutine frame of its own.
        return super().call_with_retry(
            do, fail, _combine(is_retryable), with_failure_count
        )
