"""What the command-layer tests share besides fixtures: codecs and `Calls`."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio

from kvdb._clients import AsyncSessionRedis, SessionRedis
from kvdb.codecs import Codec, build_codec
from kvdb.commands import CommandContext
from kvdb.settings.models import SessionSettings


def make_codec(**settings: Any) -> Codec:
    return build_codec(SessionSettings(**settings))


JSON = make_codec(serializer="json")
PASSTHROUGH = make_codec()


class Calls:
    """Calls commands on a sync or an async session client alike.

    `calls.get("k")` runs `client.get("k")`, and for the async client runs the
    coroutine to its end on a loop of its own.
    """

    def __init__(self, mode: str, url: str, context: CommandContext) -> None:
        self.mode = mode
        self.loop: asyncio.AbstractEventLoop | None = None
        if mode == "sync":
            self.client: Any = SessionRedis(
                connection_pool=redis.ConnectionPool.from_url(url), context=context
            )
        else:
            self.loop = asyncio.new_event_loop()
            self.client = AsyncSessionRedis(
                connection_pool=redis.asyncio.ConnectionPool.from_url(url),
                context=context,
            )

    def run(self, result: Any) -> Any:
        if self.loop is not None and inspect.isawaitable(result):
            return self.loop.run_until_complete(result)
        return result

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.client, name)
        return lambda *args, **kwargs: self.run(method(*args, **kwargs))

    def close(self) -> None:
        if self.loop is None:
            self.client.connection_pool.disconnect()
            return

        self.loop.run_until_complete(self.client.connection_pool.aclose())
        self.loop.close()
