"""What the distributed tests share besides fixtures: `Both`, `pipelined`, and
counts of what the servers saw."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis
import redis.cluster

from kvdb import KVDBSession
from tests.servers import Address, Cluster


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


def pipelined(session: KVDBSession, mode: str, queue: Callable[[Any], object]) -> Any:
    """Queue commands with `queue` in a sync or an asyncio pipeline, and run it."""
    if mode == "sync":
        with session.pipeline() as pipe:
            queue(pipe)
            return pipe.execute()

    async def run() -> Any:
        pipe = session.apipeline()
        queue(pipe)
        return await pipe.execute()

    return asyncio.run(run())


def count_calls(
    addresses: Iterable[Address], command: str, password: str | None = None
) -> int:
    """How many times the servers have run `command`, by INFO commandstats."""
    total = 0
    for host, port in addresses:
        with redis.Redis(host=host, port=port, password=password) as server:
            stats: dict[str, Any] = server.info("commandstats")
        total += int(stats.get(f"cmdstat_{command.lower()}", {}).get("calls", 0))
    return total


def wait_for_replicas_in_slot_table(cluster: Cluster, timeout: float = 30.0) -> None:
    """Wait until every node lists a replica of every master in CLUSTER SLOTS.

    Redis 7.0 leaves out of CLUSTER SLOTS a replica whose replication offset
    is still 0, as on a fresh cluster whose masters have had no write yet; a
    client that reads the slot table then has no replica to read from.
    """
    keys = [f"kvdb-test-warm:{i}" for i in range(64)]
    with redis.cluster.RedisCluster(
        host=cluster.host, port=cluster.port, password=cluster.password
    ) as raw:
        # Enough keys to write to every master, which moves its replica's offset.
        raw.mset_nonatomic(dict.fromkeys(keys, 1))
        raw.delete(*keys)

    deadline = time.monotonic() + timeout
    while not all(_lists_replicas(node, cluster.password) for node in cluster.nodes):
        assert time.monotonic() < deadline, "replicas missing from CLUSTER SLOTS"
        time.sleep(0.1)


def _lists_replicas(node: Address, password: str | None) -> bool:
    host, port = node
    with redis.Redis(host=host, port=port, password=password) as server:
        ranges = server.execute_command("CLUSTER", "SLOTS")
    # Each range: first slot, last slot, its master, then its replicas.
    return all(len(entry) > 3 for entry in ranges)
