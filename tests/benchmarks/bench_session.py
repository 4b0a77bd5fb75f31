"""kvdb sessions beside raw redis-py, on the same server in the same run.

    .venv/bin/python -m tests.benchmarks.bench_session [--url URL] [--rounds N]

Without `--url` it starts a private redis-server on a loopback port. Each case
runs kvdb and its baseline alternately, several rounds, and reports the median
time per operation and the ratio kvdb / baseline (1.00 is parity), twice: in
wall-clock time, and in the client thread's CPU time. On a loopback server the
wall clock also holds the server's turn and the scheduler's whims, which move
a ratio by several percent from one run to the next; the CPU time is what the
client itself spends, kvdb's layer included. Cases:

- `get`/`set` of a short string: a session with no serializer beside redis-py;
- `get`/`set` of a small pydantic model: a json session beside redis-py plus
  hand-written orjson (`orjson.dumps(model.model_dump())` and
  `User.model_validate(orjson.loads(reply))`);
- the same four from 64 concurrent asyncio tasks;
- `mget`/`mset` of 1,000 strings (no serializer) and of 1,000 small dicts
  (a json session beside redis-py plus orjson).

This is a measurement, not a test: nothing fails when the machine is slow.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
import redis
import redis.asyncio
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from kvdb import Client, KVDBSession

OPS = 2_000
ASYNC_TASKS = 64
BATCH = 1_000


class User(BaseModel):
    id: int
    name: str
    email: str
    tags: list[str]
    active: bool


USER = User(
    id=7,
    name="Ada Lovelace",
    email="ada@example.org",
    tags=["math", "code"],
    active=True,
)


def _dump(user: User) -> bytes:
    """What a program without kvdb writes: the model's fields as JSON."""
    return orjson.dumps(user.model_dump())


def _load(reply: bytes | str | None) -> User:
    """What it reads back: the JSON, validated into the model."""
    return User.model_validate(orjson.loads(reply or b"{}"))


# A time per operation: (wall clock, client thread CPU), in seconds.
Times = tuple[float, float]


def _per_op(run: Callable[[], object], ops: int) -> Times:
    start, cpu = time.perf_counter(), time.thread_time()
    run()
    return (time.perf_counter() - start) / ops, (time.thread_time() - cpu) / ops


def _sync_cases(
    raw: redis.Redis, plain: KVDBSession, json_: KVDBSession
) -> dict[str, tuple[Callable[[], object], Callable[[], object], int]]:
    texts = {f"bench:t:{i}": f"value-{i}" for i in range(BATCH)}
    docs = {f"bench:d:{i}": {"id": i, "tags": ["a", "b"]} for i in range(BATCH)}
    # redis-py's side has keys of its own: kvdb's values carry a frame.
    raw_docs = {f"bench:rd:{i}": doc for i, doc in enumerate(docs.values())}

    def repeat(call: Callable[[], object]) -> Callable[[], object]:
        def run() -> None:
            for _ in range(OPS):
                call()

        return run

    return {
        "set str": (
            repeat(lambda: plain.set("bench:s", "hello world")),
            repeat(lambda: raw.set("bench:s", "hello world")),
            OPS,
        ),
        "get str": (
            repeat(lambda: plain.get("bench:s")),
            repeat(lambda: raw.get("bench:s")),
            OPS,
        ),
        "set model": (
            repeat(lambda: json_.set("bench:model:kvdb", USER)),
            repeat(lambda: raw.set("bench:model:raw", _dump(USER))),
            OPS,
        ),
        "get model": (
            repeat(lambda: json_.get("bench:model:kvdb")),
            repeat(lambda: _load(raw.get("bench:model:raw"))),
            OPS,
        ),
        f"mset {BATCH} str": (
            lambda: plain.mset(texts),
            lambda: raw.mset(texts),
            1,
        ),
        f"mget {BATCH} str": (
            lambda: plain.mget(list(texts)),
            lambda: raw.mget(list(texts)),
            1,
        ),
        f"mset {BATCH} dict": (
            lambda: json_.mset(docs),
            lambda: raw.mset({k: orjson.dumps(v) for k, v in raw_docs.items()}),
            1,
        ),
        f"mget {BATCH} dict": (
            lambda: json_.mget(list(docs)),
            lambda: [orjson.loads(v or b"null") for v in raw.mget(list(raw_docs))],
            1,
        ),
    }


async def _async_round(
    plain: KVDBSession, json_: KVDBSession, first: str
) -> dict[str, tuple[Times, Times]]:
    """Time each async case both ways, in one event loop, connections warm.

    Both sides open their 64 connections in an untimed first pass, so that
    what is timed is commands, not connection set-up.
    """
    kwargs = plain.settings.connection.redis_kwargs()
    kwargs.pop("ssl", None)
    raw = redis.asyncio.Redis(**kwargs)
    per_task = OPS // ASYNC_TASKS

    async def fan_out(one: Callable[[], Awaitable[object]]) -> Times:
        async def task() -> None:
            for _ in range(per_task):
                await one()

        ops = per_task * ASYNC_TASKS
        start, cpu = time.perf_counter(), time.thread_time()
        await asyncio.gather(*(task() for _ in range(ASYNC_TASKS)))
        return (time.perf_counter() - start) / ops, (time.thread_time() - cpu) / ops

    async def raw_get_model() -> object:
        return _load(await raw.get("bench:model:raw"))

    cases: dict[str, tuple[Callable[[], Awaitable[object]], ...]] = {
        "aset str x64": (
            lambda: plain.aset("bench:s", "hello world"),
            lambda: raw.set("bench:s", "hello world"),
        ),
        "aget str x64": (
            lambda: plain.aget("bench:s"),
            lambda: raw.get("bench:s"),
        ),
        "aset model x64": (
            lambda: json_.aset("bench:model:kvdb", USER),
            lambda: raw.set("bench:model:raw", _dump(USER)),
        ),
        "aget model x64": (
            lambda: json_.aget("bench:model:kvdb"),
            raw_get_model,
        ),
    }
    try:
        await fan_out(cases["aget str x64"][0])
        await fan_out(cases["aget str x64"][1])
        results = {}
        for name, (ours, theirs) in cases.items():
            if first == "kvdb":
                mine, base = await fan_out(ours), await fan_out(theirs)
            else:
                base, mine = await fan_out(theirs), await fan_out(ours)
            results[name] = (mine, base)
        return results
    finally:
        await raw.aclose()


def _columns(mine: list[Times], base: list[Times]) -> tuple[str, ...]:
    """Median wall-clock times and their ratio; kvdb's CPU time and its ratio."""
    wall, base_wall = (statistics.median(t[0] for t in times) for times in (mine, base))
    cpu, base_cpu = (statistics.median(t[1] for t in times) for times in (mine, base))
    return (
        f"{wall * 1e6:.1f}",
        f"{base_wall * 1e6:.1f}",
        f"{wall / base_wall:.2f}",
        f"{cpu * 1e6:.1f}",
        f"{cpu / base_cpu:.2f}",
    )


def _order(round_: int) -> tuple[str, str]:
    return ("kvdb", "redis-py") if round_ % 2 == 0 else ("redis-py", "kvdb")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a server to use (default: start one)")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        server = None
        url = args.url
        if url is None:
            from tests.servers import find_redis_binary, start_server

            server = start_server(find_redis_binary(), Path(directory))
            url = server.url
        try:
            _run(url, args.rounds)
        finally:
            if server is not None:
                server.stop()


def _run(url: str, rounds: int) -> None:
    client = Client()
    client.configure(environ={})
    plain = client.get_session("plain", url=url)
    json_ = client.get_session("json", url=url, serializer="json")
    # redis-py gets the very connection settings the sessions use (timeouts,
    # keepalive, retries), so that the ratio is the cost of kvdb's layer.
    kwargs = plain.settings.connection.redis_kwargs()
    kwargs.pop("ssl", None)
    raw = redis.Redis(connection_pool=redis.ConnectionPool(**kwargs))
    raw.set("bench:model:raw", _dump(USER))
    json_.set("bench:model:kvdb", USER)

    table = Table(title=f"kvdb vs redis-py, median of {rounds} rounds")
    columns = ("kvdb µs/op", "baseline µs/op", "ratio", "CPU µs/op", "CPU ratio")
    table.add_column("case")
    for column in columns:
        table.add_column(column, justify="right")

    results: dict[str, tuple[list[Times], list[Times]]] = {}
    sync_cases = _sync_cases(raw, plain, json_)
    # Each round runs every case both ways, and the side that goes first
    # alternates, so that neither profits from a warmer machine.
    for round_ in range(rounds):
        for name, (ours, theirs, ops) in sync_cases.items():
            mine, base = results.setdefault(name, ([], []))
            for side in _order(round_):
                if side == "kvdb":
                    mine.append(_per_op(ours, ops))
                else:
                    base.append(_per_op(theirs, ops))
        first = _order(round_)[0]
        for name, (mine_one, base_one) in asyncio.run(
            _async_round(plain, json_, first)
        ).items():
            mine, base = results.setdefault(name, ([], []))
            mine.append(mine_one)
            base.append(base_one)

    for name, (mine, base) in results.items():
        table.add_row(name, *_columns(mine, base))

    Console().print(table)
    raw.close()
    client.close()


if __name__ == "__main__":
    main()
