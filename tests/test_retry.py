"""Retries: idempotent commands are retried, others never run twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

from kvdb._retry import (
    AsyncSessionRetry,
    SessionRetry,
    allow_retries,
    end_retries,
    is_idempotent,
    retry_scope,
)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(("GET", "k"), True, id="get"),
        pytest.param((b"GET", b"k"), True, id="get-bytes"),
        pytest.param((b"get", b"k"), True, id="get-lower-bytes"),
        pytest.param(("SET", "k", "v"), True, id="set"),
        pytest.param(("SET", "k", "v", "EX", 5), True, id="set-ex"),
        pytest.param(("SET", "k", "v", "XX"), True, id="set-xx"),
        pytest.param(("SET", "k", "v", "GET"), False, id="set-get"),
        pytest.param(("SET", "GET", "GET"), True, id="set-value-named-get"),
        pytest.param(("SET", "k", "v", "NX"), False, id="set-nx"),
        pytest.param(("SET", "k", "v", "PX", 100, "NX"), False, id="lock"),
        pytest.param((b"SET", b"k", b"v", b"nx"), False, id="set-nx-bytes"),
        pytest.param(("SET", "NX", "v"), True, id="set-key-named-nx"),
        pytest.param(("SET", "k", "v", "IFEQ", "old"), False, id="set-ifeq"),
        pytest.param(("SETNX", "k", "v"), False, id="setnx"),
        pytest.param(("HSETNX", "h", "f", "v"), False, id="hsetnx"),
        pytest.param(("MSETNX", "a", 1, "b", 2), False, id="msetnx"),
        pytest.param(("MSET", "a", 1, "b", 2), True, id="mset"),
        pytest.param(("DEL", "a", "b"), True, id="del"),
        pytest.param(("HSET", "h", "f", "v"), False, id="hset"),
        pytest.param(("SADD", "s", "m"), False, id="sadd"),
        pytest.param(("EXPIRE", "k", 10), True, id="expire"),
        pytest.param(("PEXPIREAT", "k", 10), True, id="pexpireat"),
        pytest.param(("EXPIRE", "k", 10, "NX"), False, id="expire-nx"),
        pytest.param(("EXPIRE", "k", 10, "GT"), False, id="expire-gt"),
        pytest.param(("EXPIRE", "k", 10, "XX"), True, id="expire-xx"),
        pytest.param(("ZADD", "z", 1, "m"), False, id="zadd"),
        pytest.param(("ZADD", "z", "INCR", 1, "m"), False, id="zadd-incr"),
        pytest.param(("SUNIONSTORE", "s", "s", "t"), True, id="sunionstore"),
        pytest.param(("ZUNIONSTORE", "z", 2, "z", "y"), False, id="zunionstore"),
        pytest.param(("ZRANGESTORE", "z", "z", 1, -1), False, id="zrangestore"),
        pytest.param(("INCR", "n"), False, id="incr"),
        pytest.param(("LPUSH", "l", "x"), False, id="lpush"),
        pytest.param(("LTRIM", "l", 1, -1), False, id="ltrim"),
        pytest.param(("LREM", "l", 1, "x"), False, id="lrem"),
        pytest.param(("ZREMRANGEBYRANK", "z", 0, 0), False, id="zremrangebyrank"),
        pytest.param(("ZREMRANGEBYSCORE", "z", 0, 1), False, id="zremrangebyscore"),
        pytest.param(("ZREM", "z", "m"), False, id="zrem"),
        pytest.param(("SREM", "s", "m"), False, id="srem"),
        pytest.param(("SETBIT", "b", 7, 1), False, id="setbit"),
        pytest.param(("RESTORE", "k", 0, b"x"), False, id="restore"),
        pytest.param(("XADD", "x", "*", "f", "v"), False, id="xadd"),
        pytest.param(("XACK", "x", "g", "0-1"), False, id="xack"),
        pytest.param(("PUBLISH", "c", "m"), False, id="publish"),
        pytest.param(("EVAL", "return 1", 0), False, id="eval"),
        pytest.param(("CLIENT LIST",), True, id="client-list"),
        pytest.param(("CLIENT SETNAME", "app"), True, id="client-setname"),
        pytest.param(("CLIENT KILL", "ID", 7), False, id="client-kill"),
        pytest.param(("CLIENT PAUSE", 100), False, id="client-pause"),
        pytest.param(("CLIENT", "LIST"), True, id="client-then-list"),
        pytest.param((b"CLIENT", b"kill", b"ID", b"7"), False, id="client-then-kill"),
        pytest.param(("CLIENT",), False, id="client-alone"),
        pytest.param(("CONFIG GET", "maxmemory"), True, id="config-get"),
    ],
)
def test_is_idempotent(args: tuple[Any, ...], expected: bool) -> None:
    assert expected == is_idempotent(args)


def failing_once() -> tuple[Callable[[], str], list[int]]:
    """A call that fails with a broken connection once, then succeeds."""
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise redis.ConnectionError("connection reset")
        return "ok"

    return call, calls


def test_an_idempotent_command_is_retried() -> None:
    retry = SessionRetry(attempts=3, base=0, cap=0)
    call, calls = failing_once()

    token = allow_retries(("GET", "k"))
    try:
        assert "ok" == retry.call_with_retry(call, lambda error: None)
    finally:
        end_retries(token)

    assert 2 == len(calls)


def test_a_write_that_may_have_landed_is_not_retried() -> None:
    retry = SessionRetry(attempts=3, base=0, cap=0)
    call, calls = failing_once()

    token = allow_retries(("INCR", "n"))
    try:
        with pytest.raises(redis.ConnectionError):
            retry.call_with_retry(call, lambda error: None)
    finally:
        end_retries(token)

    assert 1 == len(calls)


def test_a_pipeline_is_retried_only_if_every_command_may_be() -> None:
    retry = SessionRetry(attempts=3, base=0, cap=0)
    call, calls = failing_once()

    with (
        retry_scope([("GET", "a"), ("LPUSH", "l", "x")]),
        pytest.raises(redis.ConnectionError),
    ):
        retry.call_with_retry(call, lambda error: None)

    assert 1 == len(calls)


async def test_async_retry_follows_the_same_rule() -> None:
    retry = AsyncSessionRetry(attempts=3, base=0, cap=0)
    calls: list[int] = []

    async def call() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise redis.ConnectionError("connection reset")
        return "ok"

    async def fail(error: Exception) -> None:
        return None

    with retry_scope([("GET", "k")]):
        assert "ok" == await retry.call_with_retry(call, fail)
    assert 2 == len(calls)
