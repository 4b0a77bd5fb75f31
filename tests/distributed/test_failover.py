"""Kill a master while a writer keeps writing: how long do writes fail, and is
any acknowledged write lost?

A write counts as acknowledged when the `WAIT 1 <timeout>` sent right after it,
on the same connection, says that a replica has it. The tests assert an upper
bound on the outage and that every acknowledged write is still there once the
failover is over. The default run has one failover of each kind; repeated and
longer runs are marked `slow`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
import redis.sentinel
from redis.crc import key_slot

from kvdb import Client, KVDBSession, ServerError
from kvdb._cluster import AsyncSessionRedisCluster, SessionRedisCluster
from tests.servers import ClusterFactory, SentinelFactory, SentinelSetup

MAX_OUTAGE = 30.0
"""Seconds that writes may fail after a kill: generous, for slow CI machines."""

MAX_WRITES = 20_000
WAIT_MS = 200
"""How long WAIT waits for a replica; after a failover none is left, and each
write then takes this long."""


@dataclass
class Run:
    """What a writer saw: acknowledged writes, failures, and the outage."""

    acknowledged: dict[str, int] = field(default_factory=dict)
    written: int = 0
    failures: list[ServerError] = field(default_factory=list)
    first_failure: float | None = None
    last_failure: float | None = None
    recovered: float | None = None

    @property
    def outage(self) -> float:
        """Seconds from the first failed write to the first success after the
        last one; 0 when no write failed."""
        if self.first_failure is None:
            return 0.0
        assert self.recovered is not None, "writes never came back"
        return self.recovered - self.first_failure

    def note(self, key: str, value: int, outcome: bool | ServerError) -> None:
        now = time.monotonic()
        if isinstance(outcome, ServerError):
            self.failures.append(outcome)
            self.first_failure = self.first_failure or now
            self.last_failure, self.recovered = now, None
            return

        self.written += 1
        if self.last_failure is not None and self.recovered is None:
            self.recovered = now
        if outcome:
            self.acknowledged[key] = value

    def done(self, killed_at: float | None, settle: float) -> bool:
        """Whether writes have gone well for `settle` seconds after the kill."""
        if killed_at is None:
            return False
        since = self.recovered or (killed_at if self.last_failure is None else None)
        return since is not None and time.monotonic() - since > settle


Write = Callable[[str, int], bool]


def _write_through_kill(
    write: Write, kill: Callable[[], object], *, kill_after: int, settle: float
) -> Run:
    """Write keys `{w}:0`, `{w}:1`, ... (one slot on a cluster); kill after
    `kill_after` writes; stop
    `settle` seconds after writes came back, or at the limits."""
    run = Run()
    killed_at = None
    deadline = time.monotonic() + MAX_OUTAGE + 30

    for value in range(MAX_WRITES):
        if value == kill_after:
            kill()
            killed_at = time.monotonic()
        key = f"{{w}}:{value}"
        try:
            outcome: bool | ServerError = write(key, value)
        except ServerError as exc:
            outcome = exc
        run.note(key, value, outcome)
        if run.done(killed_at, settle) or time.monotonic() > deadline:
            break
        time.sleep(0.005)

    return run


async def _awrite_through_kill(
    write: Callable[[str, int], Awaitable[bool]],
    kill: Callable[[], object],
    *,
    kill_after: int,
    settle: float,
) -> Run:
    """The asyncio twin of `_write_through_kill`."""
    run = Run()
    killed_at = None
    deadline = time.monotonic() + MAX_OUTAGE + 30

    for value in range(MAX_WRITES):
        if value == kill_after:
            kill()
            killed_at = time.monotonic()
        key = f"{{w}}:{value}"
        try:
            outcome: bool | ServerError = await write(key, value)
        except ServerError as exc:
            outcome = exc
        run.note(key, value, outcome)
        if run.done(killed_at, settle) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.005)

    return run


def _check(run: Run, session: KVDBSession, kill_after: int) -> None:
    """The outage bound, and every acknowledged write still there."""
    print(
        f"\n{session.name}: {run.written} writes, {len(run.failures)} failed, "
        f"outage {run.outage:.2f} s, {len(run.acknowledged)} acknowledged"
    )
    assert run.outage < MAX_OUTAGE
    # Without acknowledged writes from before the kill, nothing is proven.
    assert kill_after // 2 < len(run.acknowledged)

    keys = sorted(run.acknowledged)
    stored = dict(zip(keys, session.mget(keys), strict=True))
    assert {} == {k: v for k, v in run.acknowledged.items() if stored[k] != v}


def _settings(**overrides: Any) -> dict[str, Any]:
    # Few retries: the outage shows, instead of hiding inside one command.
    return {"serializer": "json", "retry_attempts": 1, **overrides}


# -- Redis Cluster --------------------------------------------------------------


def _cluster_writer(session: KVDBSession) -> Write:
    """SET a key of one hash tag, then WAIT on the node that serves its slot.

    A cluster pipeline sends the commands for one node on one connection, so
    the WAIT follows the SET on the connection that carried it.
    """
    client = session.client
    assert isinstance(client, SessionRedisCluster)
    slot = key_slot(f"{session.settings.key_prefix}:{{w}}".encode())

    def write(key: str, value: int) -> bool:
        node = client.nodes_manager.get_node_from_slot(slot)
        pipe = session.pipeline()
        pipe.set(key, value)
        pipe.execute_command("WAIT", 1, WAIT_MS, target_nodes=node)
        _, replicas = pipe.execute()
        return bool(replicas >= 1)

    return write


def test_cluster_shard_failover(client: Client, make_cluster: ClusterFactory) -> None:
    cluster = make_cluster()
    session = client.get_session(
        "cluster-writer", url=cluster.url, key_prefix="fo", **_settings()
    )
    write = _cluster_writer(session)

    run = _write_through_kill(
        write, lambda: cluster.kill_master("{w}"), kill_after=100, settle=1.0
    )
    cluster.wait_until_ok()

    _check(run, session, kill_after=100)
    assert run.failures, "the kill went unnoticed: was the right master killed?"
    # A node of several broke off: the errors point at a failover, not at the URL.
    assert any("failing over" in str(failure) for failure in run.failures)


@pytest.mark.slow
def test_cluster_repeated_failovers(
    client: Client, make_cluster: ClusterFactory
) -> None:
    cluster = make_cluster()
    session = client.get_session(
        "cluster-writer", url=cluster.url, key_prefix="fo", **_settings()
    )
    write = _cluster_writer(session)

    for _ in range(3):
        run = _write_through_kill(
            write, lambda: cluster.kill_master("{w}"), kill_after=50, settle=1.0
        )
        killed = [a for a, p in cluster.processes.items() if not p.running]
        cluster.wait_until_ok()
        _check(run, session, kill_after=50)
        for address in killed:
            cluster.restart(address)
        cluster.wait_until_ok()


@pytest.mark.slow
async def test_cluster_failover_async(
    client: Client, make_cluster: ClusterFactory
) -> None:
    cluster = make_cluster()
    session = client.get_session(
        "cluster-writer", url=cluster.url, key_prefix="fo", **_settings()
    )
    slot = key_slot(b"w")

    async def write(key: str, value: int) -> bool:
        client_ = session.aclient
        assert isinstance(client_, AsyncSessionRedisCluster)
        if client_._initialize:
            # The slot table is read again on the next command after a
            # failure; one through the session fails as a kvdb error.
            await session.aexists(key)
        node = client_.nodes_manager.get_node_from_slot(slot)
        pipe = session.apipeline()
        pipe.set(key, value)
        pipe.execute_command("WAIT", 1, WAIT_MS, target_nodes=[node])
        _, replicas = await pipe.execute()
        return bool(replicas >= 1)

    run = await _awrite_through_kill(
        write, lambda: cluster.kill_master("{w}"), kill_after=100, settle=1.0
    )
    cluster.wait_until_ok()

    _check(run, session, kill_after=100)


@pytest.mark.slow
def test_cluster_retries_ride_through_a_failover(
    client: Client, make_cluster: ClusterFactory
) -> None:
    cluster = make_cluster()
    session = client.get_session(
        "patient",
        url=cluster.url,
        key_prefix="fo",
        **_settings(retry_attempts=40, retry_backoff_cap=0.5),
    )

    def write(key: str, value: int) -> bool:
        return bool(session.set(key, value))

    run = _write_through_kill(
        write, lambda: cluster.kill_master("{w}"), kill_after=50, settle=0.5
    )

    assert [] == run.failures


# -- Sentinel -------------------------------------------------------------------


def _sentinel_writer(session: KVDBSession) -> Write:
    """SET, then WAIT, in one pipeline: one connection to the master."""

    def write(key: str, value: int) -> bool:
        pipe = session.pipeline(transaction=False)
        pipe.set(key, value)
        pipe.execute_command("WAIT", 1, WAIT_MS)
        _, replicas = pipe.execute()
        return bool(replicas >= 1)

    return write


def test_sentinel_failover(client: Client, make_sentinel: SentinelFactory) -> None:
    setup = make_sentinel()
    session = client.get_session("sentinel-writer", url=setup.url, **_settings())
    write = _sentinel_writer(session)
    killed: list[tuple[str, int]] = []

    run = _write_through_kill(
        write, lambda: killed.append(setup.kill_master()), kill_after=100, settle=1.0
    )
    promoted = setup.wait_for_failover(killed[0])

    _check(run, session, kill_after=100)
    assert run.failures, "the kill went unnoticed: was the master killed?"
    sync_client = session.client
    assert isinstance(sync_client, redis.Redis)
    pool = sync_client.connection_pool
    assert isinstance(pool, redis.sentinel.SentinelConnectionPool)
    assert promoted == pool.get_master_address()  # type: ignore[no-untyped-call]


@pytest.mark.slow
async def test_sentinel_failover_async(
    client: Client, make_sentinel: SentinelFactory
) -> None:
    setup = make_sentinel()
    session = client.get_session("sentinel-writer", url=setup.url, **_settings())
    killed: list[tuple[str, int]] = []

    async def write(key: str, value: int) -> bool:
        pipe = session.apipeline(transaction=False)
        pipe.set(key, value)
        pipe.execute_command("WAIT", 1, WAIT_MS)
        _, replicas = await pipe.execute()
        return bool(replicas >= 1)

    run = await _awrite_through_kill(
        write, lambda: killed.append(setup.kill_master()), kill_after=100, settle=1.0
    )
    setup.wait_for_failover(killed[0])

    _check(run, session, kill_after=100)


@pytest.mark.slow
def test_sentinel_repeated_failovers_with_replica_reads(
    client: Client, make_sentinel: SentinelFactory
) -> None:
    setup = make_sentinel()
    session = client.get_session(
        "sentinel-writer", url=setup.url, read_from_replicas=True, **_settings()
    )
    write = _sentinel_writer(session)

    for _ in range(2):
        _sentinel_failover_and_back(setup, session, write)


def _sentinel_failover_and_back(
    setup: SentinelSetup, session: KVDBSession, write: Write
) -> None:
    killed: list[tuple[str, int]] = []
    run = _write_through_kill(
        write, lambda: killed.append(setup.kill_master()), kill_after=50, settle=1.0
    )
    setup.wait_for_failover(killed[0])
    _check(run, session, kill_after=50)

    # The old master comes back as a replica of the new one.
    setup.restart(killed[0])
    _wait(lambda: setup.master_address() != killed[0] and _replicated(setup))


def _replicated(setup: SentinelSetup) -> bool:
    host, port = setup.master_address()
    with redis.Redis(host=host, port=port) as master:
        return int(master.info("replication")["connected_slaves"]) >= 1


def _wait(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the setup did not settle"
        time.sleep(0.2)


@pytest.mark.slow
def test_sentinel_retries_ride_through_a_failover(
    client: Client, make_sentinel: SentinelFactory
) -> None:
    setup = make_sentinel()
    session = client.get_session(
        "patient",
        url=setup.url,
        **_settings(retry_attempts=40, retry_backoff_cap=0.5),
    )

    def write(key: str, value: int) -> bool:
        return bool(session.set(key, value))

    run = _write_through_kill(write, setup.kill_master, kill_after=50, settle=0.5)

    assert [] == run.failures
