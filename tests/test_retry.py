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
        (("GET", "k"), True),
        ((b"GET", b"k"), True),
        (("SET", "k", "v"), True),
        (("SET", "k", "v", "EX", 5), True),
        (("SET", "k", "v", "GET"), False),
        (("SET", "GET", "GET"), True),
        (("DEL", "a", "b"), True),
        (("CLIENT LIST",), True),
        (("INCR", "n"), False),
        (("LPUSH", "l", "x"), False),
        (("SETNX", "k", "v"), False),
        (("PUBLISH", "c", "m"), False),
        (("ZADD", "z", 1, "m"), True),
        (("ZADD", "z", "INCR", 1, "m"), False),
        (("EVAL", "return 1", 0), False),
    ],
    ids=[
        "get",
        "get-bytes",
        "set",
        "set-ex",
        "set-get",
        "set-value-named-get",
        "del",
        "subcommand",
        "incr",
        "lpush",
        "setnx",
        "publish",
        "zadd",
        "zadd-incr",
        "eval",
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
