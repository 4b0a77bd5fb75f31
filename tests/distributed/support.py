"""What the distributed tests share besides fixtures: `Both` and `count_clients`."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterable
from typing import Any

import redis

from kvdb import KVDBSession
from tests.servers import Address


class Both:
    """Calls a session's commands in their sync or their async form alike.

    `both.get("k")` runs `session.get("k")`, or `await session.aget("k")` on an
    event loop of its own; a `*scan_iter` comes back as a list.
    """

    def __init__(self, mode: str, session: KVDBSession) -> None:
        self.mode = mode
        self.session = session
        self._loop = asyncio.new_event_loop() if mode == "async" else None

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if self._loop is None:
            method: Callable[..., Any] = getattr(self.session, name)
            if name.endswith("scan_iter"):
                return lambda *args, **kwargs: list(method(*args, **kwargs))
            return method

        loop = self._loop
        twin = getattr(self.session, f"a{name}")

        async def run(*args: Any, **kwargs: Any) -> Any:
            if name.endswith("scan_iter"):
                return [item async for item in twin(*args, **kwargs)]
            result = twin(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result

        return lambda *args, **kwargs: loop.run_until_complete(run(*args, **kwargs))

    def close(self) -> None:
        if self._loop is None:
            return
        # Closes the loop's pools, as asyncio.run() would (see kvdb.pools).
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()


def count_clients(
    addresses: Iterable[Address], name: str, password: str | None = None
) -> dict[Address, int]:
    """How many connections named `name` each server has, by CLIENT LIST."""
    counts = {}
    for host, port in addresses:
        with redis.Redis(host=host, port=port, password=password) as server:
            clients = server.client_list()
        counts[(host, port)] = sum(1 for c in clients if c.get("name") == name)
    return counts
