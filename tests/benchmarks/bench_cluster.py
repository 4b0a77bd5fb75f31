"""Pipelined throughput on a three-shard Redis Cluster beside one server.

    .venv/bin/python -m tests.benchmarks.bench_cluster [--rounds N]
        [--cluster-url URL --server-url URL]

Without URLs it starts, on loopback, a cluster of three masters with a replica
each and one plain server, from the same redis-server binary. Each case writes
or reads 10,000 keys in pipelines of 100, through a kvdb session on the
cluster and one on the server, and through redis-py's own clients beside them;
the keys are spread over every slot, so a cluster pipeline talks to all three
masters. The table gives the median operations per second of the rounds and
the ratio cluster / server (above 1.00, the cluster is faster).

This is a measurement, not a test: nothing fails when the machine is slow. On
one machine the three masters share its cores with the benchmark itself, so
the cluster's gain is smaller than on three hosts.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
import redis.cluster
from rich.console import Console
from rich.table import Table

from kvdb import Client, KVDBSession

KEYS = 10_000
BATCH = 100
VALUE = "x" * 64


def _keys() -> list[str]:
    return [f"bench:{i}" for i in range(KEYS)]


def _pipelined(new_pipeline: Callable[[], Any], command: str) -> Callable[[], None]:
    """Run `command` on every key, `BATCH` commands to a pipeline."""
    keys = _keys()

    def run() -> None:
        for start in range(0, KEYS, BATCH):
            pipe = new_pipeline()
            for key in keys[start : start + BATCH]:
                if command == "set":
                    pipe.set(key, VALUE)
                else:
                    pipe.get(key)
            pipe.execute()

    return run


def _per_second(run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return KEYS / (time.perf_counter() - start)


def _cases(
    session: KVDBSession, raw: redis.Redis | redis.cluster.RedisCluster
) -> dict[str, Callable[[], None]]:
    def kvdb_pipeline() -> Any:
        return session.pipeline(transaction=False)

    def raw_pipeline() -> Any:
        return raw.pipeline(transaction=False)

    return {
        "kvdb SET": _pipelined(kvdb_pipeline, "set"),
        "kvdb GET": _pipelined(kvdb_pipeline, "get"),
        "redis-py SET": _pipelined(raw_pipeline, "set"),
        "redis-py GET": _pipelined(raw_pipeline, "get"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster-url", help="a cluster to use (default: start one)")
    parser.add_argument("--server-url", help="a server to use (default: start one)")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        started: list[Any] = []
        cluster_url, server_url = args.cluster_url, args.server_url
        if cluster_url is None or server_url is None:
            from tests.servers import find_redis_binary, start_cluster, start_server

            binary = find_redis_binary()
            if cluster_url is None:
                started.append(start_cluster(binary, Path(directory) / "cluster"))
                cluster_url = started[-1].url
            if server_url is None:
                started.append(start_server(binary, Path(directory) / "server"))
                server_url = started[-1].url
        try:
            _run(cluster_url, server_url, args.rounds)
        finally:
            for servers in started:
                servers.stop()


def _run(cluster_url: str, server_url: str, rounds: int) -> None:
    client = Client()
    client.configure(environ={})
    on_cluster = client.get_session("cluster", url=cluster_url)
    on_server = client.get_session("server", url=server_url)
    host, port = on_cluster.settings.connection.nodes[0]
    raw_cluster = redis.cluster.RedisCluster(host=host, port=port)
    raw_server = redis.Redis.from_url(server_url)

    cluster_cases = _cases(on_cluster, raw_cluster)
    server_cases = _cases(on_server, raw_server)
    results: dict[str, tuple[list[float], list[float]]] = {}
    # Each round runs every case on both, the side that goes first
    # alternating, so that neither profits from a warmer machine. Round 0
    # opens the connections and fills the keys, and is not counted.
    for round_ in range(rounds + 1):
        for name in cluster_cases:
            cluster_rates, server_rates = results.setdefault(name, ([], []))
            sides = [(cluster_cases, cluster_rates), (server_cases, server_rates)]
            for cases, rates in sides if round_ % 2 == 0 else reversed(sides):
                rate = _per_second(cases[name])
                if round_:
                    rates.append(rate)

    table = Table(
        title=f"pipelines of {BATCH}, {KEYS:,} keys, median of {rounds} rounds"
    )
    for column in ("case", "one server ops/s", "3-shard cluster ops/s", "ratio"):
        table.add_column(column, justify="right" if column != "case" else "left")
    for name, (cluster_rates, server_rates) in results.items():
        cluster_rate = statistics.median(cluster_rates)
        server_rate = statistics.median(server_rates)
        table.add_row(
            name,
            f"{server_rate:,.0f}",
            f"{cluster_rate:,.0f}",
            f"{cluster_rate / server_rate:.2f}",
        )
    Console().print(table)

    on_cluster.clear()
    on_server.clear()
    raw_cluster.close()
    raw_server.close()
    client.close()


if __name__ == "__main__":
    main()
