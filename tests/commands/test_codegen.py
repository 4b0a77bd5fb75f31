"""The generated `SessionCommands` and the generator that writes it."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.asyncio

from kvdb import _codegen
from kvdb._clients import AsyncSessionRedis, SessionRedis
from kvdb._commands import SessionCommands
from kvdb.commands import CommandContext
from tests.commands.support import JSON
from tests.servers import Server


def test_the_generated_file_is_fresh_for_the_installed_redis_py() -> None:
    current = _codegen.TARGET.read_text(encoding="utf-8")

    assert current == _codegen.render(), (
        f"kvdb/_commands.py is stale for redis-py {redis.__version__}: "
        f"run `{_codegen.COMMAND}` and commit the result"
    )


def test_check_exits_0_when_fresh(capsys: pytest.CaptureFixture[str]) -> None:
    assert 0 == _codegen.main(["--check"])
    assert "" == capsys.readouterr().out


def test_check_exits_1_and_says_what_to_run_when_stale(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stale = tmp_path / "_commands.py"
    stale.write_text("# an older redis-py\n", encoding="utf-8")
    monkeypatch.setattr(_codegen, "TARGET", stale)

    assert 1 == _codegen.main(["--check"])
    assert _codegen.COMMAND in capsys.readouterr().out
    assert "# an older redis-py\n" == stale.read_text(encoding="utf-8")


def test_the_header_says_how_the_file_was_made() -> None:
    first_lines = _codegen.render().splitlines()[:2]

    assert f"`{_codegen.COMMAND}`" in first_lines[0]
    assert f"redis-py {redis.__version__}" in first_lines[0]
    assert "Do not edit by hand" in first_lines[1]


def _commands_of_redis_py() -> Iterator[str]:
    for name in dir(redis.Redis):
        if not name.startswith("_") and callable(getattr(redis.Redis, name)):
            yield name


def test_every_redis_py_command_has_a_method_and_a_twin() -> None:
    commands = {
        name
        for name in _commands_of_redis_py()
        if name not in _codegen._SKIPPED and not name.startswith("sentinel")
    }

    for name in commands:
        assert name in vars(SessionCommands), name
        assert f"a{name}" in vars(SessionCommands), name


@pytest.mark.parametrize(
    "name",
    ["pipeline", "pubsub", "lock", "close", "transaction", "select", "watch", "json"],
)
def test_leaves_out_what_the_session_does_itself_or_makes_no_sense(
    name: str,
) -> None:
    assert name not in vars(SessionCommands)
    assert f"a{name}" not in vars(SessionCommands)


@pytest.mark.parametrize(
    "name", ["get", "set", "hset", "zadd", "xadd", "eval", "scan", "publish"]
)
def test_methods_keep_redis_py_parameters(name: str) -> None:
    ours = inspect.signature(getattr(SessionCommands, name)).parameters
    theirs = inspect.signature(getattr(redis.Redis, name)).parameters

    assert [(p.name, p.kind, p.default) for p in theirs.values()] == [
        (p.name, p.kind, p.default) for p in ours.values()
    ]


@pytest.mark.parametrize(
    ("name", "parameter"),
    [
        ("set", "value"),
        ("lpush", "values"),
        ("linsert", "refvalue"),
        ("sadd", "values"),
    ],
)
def test_value_parameters_accept_any_value(name: str, parameter: str) -> None:
    annotation = inspect.signature(getattr(SessionCommands, name)).parameters[parameter]

    assert "Any" == annotation.annotation


def test_async_twins_are_coroutines_except_where_redis_py_is_not() -> None:
    assert inspect.iscoroutinefunction(SessionCommands.aget)
    assert inspect.iscoroutinefunction(SessionCommands.ahset)
    for name in ("abitfield", "amonitor", "aregister_script", "ascan_iter"):
        assert not inspect.iscoroutinefunction(getattr(SessionCommands, name)), name


class _Commands(SessionCommands):
    """The smallest session: two clients over one server."""

    def __init__(self, sync: SessionRedis, asynchronous: AsyncSessionRedis) -> None:
        self._sync = sync
        self._async = asynchronous

    @property
    def client(self) -> SessionRedis:
        return self._sync

    @property
    def aclient(self) -> AsyncSessionRedis:
        return self._async


async def test_generated_methods_run_through_the_session_clients(
    redis_server: Server, prefix: str
) -> None:
    context = CommandContext(codec=JSON, key_prefix=prefix)
    pool = redis.ConnectionPool.from_url(redis_server.url)
    async_pool = redis.asyncio.ConnectionPool.from_url(redis_server.url)
    commands = _Commands(
        SessionRedis(connection_pool=pool, context=context),
        AsyncSessionRedis(connection_pool=async_pool, context=context),
    )

    commands.set("a", {"x": 1})
    await commands.aset("b", [2], ex=60)
    await commands.ahset("h", mapping={"f": {"y": 3}})

    assert [{"x": 1}, [2]] == await commands.amget("a", "b")
    assert {"f": {"y": 3}} == commands.hgetall("h")
    assert {"a", "b", "h"} == {key async for key in commands.ascan_iter()}
    assert {"a", "b", "h"} == set(commands.scan_iter())
    assert [0] == await commands.abitfield("bits").get("u8", 0).execute()

    pool.disconnect()
    await async_pool.aclose()
