"""KVDBSession against a real server: commands, codec, prefix, lifecycle, errors."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
from pydantic import BaseModel

from kvdb import (
    AuthenticationError,
    Client,
    CommandError,
    DecodeError,
    KVDBSession,
    ServerConnectionError,
    SessionClosedError,
)
from tests.servers import AuthServer, Server, TlsServer


class User(BaseModel):
    name: str
    age: int


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int


@pytest.fixture
def raw(redis_server: Server) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_server.url) as raw:
        yield raw


@pytest.fixture
def session(
    client: Client, redis_server: Server, request: pytest.FixtureRequest
) -> KVDBSession:
    """A json session whose prefix is unique to the test."""
    return client.get_session(
        "json", url=redis_server.url, serializer="json", key_prefix=request.node.name
    )


VALUES = [
    pytest.param("text", id="str"),
    pytest.param(b"\x00\xff", id="bytes"),
    pytest.param(42, id="int"),
    pytest.param(1.5, id="float"),
    pytest.param(True, id="bool"),
    pytest.param({"a": [1, 2, {"b": None}]}, id="dict"),
    pytest.param((1, "two"), id="tuple"),
    pytest.param({1, 2, 3}, id="set"),
    pytest.param(dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC), id="datetime"),
    pytest.param(Decimal("1.10"), id="decimal"),
    pytest.param(User(name="Ada", age=36), id="model"),
    pytest.param(Point(1, 2), id="dataclass"),
]


class TestStrings:
    @pytest.mark.parametrize("value", VALUES)
    def test_set_get_round_trip(self, session: KVDBSession, value: Any) -> None:
        session.set("value", value)

        got = session.get("value")

        assert value == got
        assert type(value) is type(got)

    @pytest.mark.parametrize("value", VALUES)
    async def test_aset_aget_round_trip(self, session: KVDBSession, value: Any) -> None:
        await session.aset("value", value)

        got = await session.aget("value")

        assert value == got
        assert type(value) is type(got)

    def test_prefix_is_on_the_server_and_off_in_replies(
        self, session: KVDBSession, raw: redis.Redis
    ) -> None:
        prefix = session.settings.key_prefix
        session.mset({"a": 1, "b": 2})

        assert [1, 2, None] == session.mget(["a", "b", "c"])
        assert raw.exists(f"{prefix}:a")
        assert {"a", "b"} == set(session.scan_iter())
        assert {"a", "b"} == set(session.keys("*"))

    def test_incr_works_on_stored_ints(self, session: KVDBSession) -> None:
        session.set("n", 5)
        session.incr("n")

        assert 6 == session.get("n")

    def test_default_ttl(self, client: Client, redis_server: Server) -> None:
        session = client.get_session(
            "ttl", url=redis_server.url, default_ttl=100, key_prefix="ttl"
        )

        session.set("k", "v")
        session.set("kept", "v", ex=1000)

        assert 0 < session.ttl("k") <= 100
        assert 100 < session.ttl("kept")

    def test_getdel_getex_getset(self, session: KVDBSession) -> None:
        session.set("k", {"v": 1})

        assert {"v": 1} == session.getset("k", {"v": 2})
        assert {"v": 2} == session.getex("k", ex=100)
        assert {"v": 2} == session.getdel("k")
        assert None is session.get("k")


class TestCollections:
    def test_hashes(self, session: KVDBSession) -> None:
        session.hset("h", mapping={"a": User(name="A", age=1), "b": [1, 2]})

        assert User(name="A", age=1) == session.hget("h", "a")
        assert {"a": User(name="A", age=1), "b": [1, 2]} == session.hgetall("h")
        assert [[1, 2], None] == session.hmget("h", ["b", "zz"])

    def test_lists(self, session: KVDBSession) -> None:
        session.rpush("l", {"i": 1}, {"i": 2}, {"i": 3})

        assert [{"i": 1}, {"i": 2}, {"i": 3}] == session.lrange("l", 0, -1)
        assert 1 == session.lrem("l", 0, {"i": 2})
        assert {"i": 3} == session.rpop("l")
        assert ("l", {"i": 1}) == tuple(session.blpop(["l"], timeout=1))

    def test_sets_return_sets_and_find_members(self, session: KVDBSession) -> None:
        session.sadd("s", Point(1, 2), Point(3, 4), "x")

        assert {Point(1, 2), Point(3, 4), "x"} == session.smembers("s")
        assert session.sismember("s", Point(3, 4))
        assert 1 == session.srem("s", Point(1, 2))

    def test_sorted_set_members(self, session: KVDBSession) -> None:
        session.zadd("z", {"a": 1.0, "b": 2.0})

        assert [("a", 1.0), ("b", 2.0)] == session.zrange("z", 0, -1, withscores=True)
        assert 2.0 == session.zscore("z", "b")

    async def test_async_collections(self, session: KVDBSession) -> None:
        await session.ahset("h", "f", {"deep": [1]})
        await session.asadd("s", 1, 2)

        assert {"deep": [1]} == await session.ahget("h", "f")
        assert {1, 2} == await session.asmembers("s")
        assert [("s")] == [key async for key in session.ascan_iter(match="s")]


class TestPipelinesPubSubLocks:
    def test_pipeline_encodes_and_decodes(self, session: KVDBSession) -> None:
        with session.pipeline() as pipe:
            pipe.set("p", User(name="P", age=2)).get("p").incr("n")
            results = pipe.execute()

        assert [True, User(name="P", age=2), 1] == results

    async def test_async_pipeline(self, session: KVDBSession) -> None:
        async with session.apipeline(transaction=False) as pipe:
            pipe.set("ap", [1, 2])
            pipe.get("ap")
            results = await pipe.execute()

        assert [True, [1, 2]] == results

    def test_pubsub_prefix_and_codec(self, session: KVDBSession) -> None:
        reader = session.pubsub()
        reader.subscribe("news")
        reader.get_message(timeout=1)  # the subscribe confirmation

        session.publish("news", {"headline": "kvdb"})
        message = reader.get_message(timeout=2)
        reader.close()

        assert message is not None
        assert "news" == _text(message["channel"])
        assert {"headline": "kvdb"} == message["data"]

    async def test_async_pubsub(self, session: KVDBSession) -> None:
        reader = session.apubsub()
        await reader.subscribe("anews")
        await reader.get_message(timeout=1)

        await session.apublish("anews", [1, 2, 3])
        message = await reader.get_message(timeout=2)
        await reader.aclose()

        assert message is not None
        assert [1, 2, 3] == message["data"]

    def test_lock_is_prefixed(self, session: KVDBSession, raw: redis.Redis) -> None:
        lock = session.lock("resource", timeout=5)

        with lock:
            assert raw.exists(f"{session.settings.key_prefix}:resource")
        assert not raw.exists(f"{session.settings.key_prefix}:resource")

    async def test_async_lock(self, session: KVDBSession) -> None:
        lock = session.alock("aresource", timeout=5)

        assert await lock.acquire(blocking=False)
        await lock.release()


class TestLifecycle:
    def test_clear_with_prefix_keeps_other_keys(
        self, session: KVDBSession, raw: redis.Redis
    ) -> None:
        raw.set("test_session:outsider", 1)
        session.mset({"a": 1, "b": 2})

        assert 2 == session.clear()
        assert raw.exists("test_session:outsider")
        assert [] == list(session.scan_iter())

    def test_context_manager_closes(self, session: KVDBSession) -> None:
        with session as same:
            same.set("ctx", 1)

        with pytest.raises(SessionClosedError):
            session.get("ctx")

    async def test_async_context_manager(self, session: KVDBSession) -> None:
        async with session:
            await session.aset("actx", 1)

        with pytest.raises(SessionClosedError):
            await session.aget("actx")

    def test_no_serializer_gives_bytes_or_text(
        self, client: Client, redis_server: Server
    ) -> None:
        as_bytes = client.get_session("bytes", url=redis_server.url)
        as_text = client.get_session(
            "text", url=redis_server.url, decode_responses=True
        )

        as_bytes.set("test_session:plain", "v")

        assert b"v" == as_bytes.get("test_session:plain")
        assert "v" == as_text.get("test_session:plain")
        assert as_bytes.pool_key == as_text.pool_key


class TestErrors:
    def test_server_down_names_session_and_server(self, client: Client) -> None:
        session = client.get_session(
            "down", url="redis://127.0.0.1:1/0", retry_attempts=0
        )

        with pytest.raises(ServerConnectionError) as info:
            session.get("k")

        assert "'down'" in str(info.value)
        assert "127.0.0.1:1" in str(info.value)
        assert isinstance(info.value.__cause__, redis.ConnectionError)

    def test_wrong_password(self, client: Client, auth_server: AuthServer) -> None:
        url = f"redis://:wrong-secret@{auth_server.host}:{auth_server.port}/0"
        session = client.get_session("badauth", url=url)

        with pytest.raises(AuthenticationError) as info:
            session.ping()

        assert "wrong-secret" not in str(info.value)
        assert f"{auth_server.host}:{auth_server.port}" in str(info.value)

    @pytest.mark.parametrize(
        ("policy", "expected"),
        [("miss", None), ("delete", None)],
        ids=["miss", "delete"],
    )
    def test_decode_error_policy(
        self,
        client: Client,
        redis_server: Server,
        raw: redis.Redis,
        policy: str,
        expected: object,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        key = f"test_session:corrupt:{policy}"
        writer = client.get_session("writer", url=redis_server.url, serializer="json")
        writer.set(key, {"a": "b" * 100})
        stored = raw.get(key)
        assert isinstance(stored, bytes)
        raw.set(key, stored[:-5])
        reader = client.get_session(
            f"reader-{policy}",
            url=redis_server.url,
            serializer="json",
            on_decode_error=policy,
        )

        with caplog.at_level(logging.WARNING, logger="kvdb"):
            assert expected == reader.get(key)

        assert key in caplog.text
        if policy == "miss":
            assert raw.exists(key)
            with pytest.raises(DecodeError, match=key):
                writer.get(key)
        else:
            assert not raw.exists(key)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def test_async_twins_are_coroutine_functions() -> None:
    assert asyncio.iscoroutinefunction(KVDBSession.aget)
    assert not asyncio.iscoroutinefunction(KVDBSession.get)


@pytest.mark.tls
class TestTls:
    @pytest.mark.parametrize("client_cert", [False, True], ids=["ca-only", "mtls"])
    def test_sync_and_async_over_tls(
        self, client: Client, tls_server: TlsServer, client_cert: bool
    ) -> None:
        session = client.get_session(
            "tls",
            url=tls_server.url,
            ssl_ca_certs=str(tls_server.ca_file),
            ssl_certfile=str(tls_server.client_cert) if client_cert else None,
            ssl_keyfile=str(tls_server.client_key) if client_cert else None,
            serializer="json",
        )

        session.set("test_session:tls", {"secure": True})

        async def read() -> Any:
            return await session.aget("test_session:tls")

        assert {"secure": True} == session.get("test_session:tls")
        assert {"secure": True} == asyncio.run(read())

    def test_an_unknown_ca_is_a_connection_error(
        self, client: Client, tls_server: TlsServer
    ) -> None:
        session = client.get_session("tls-noca", url=tls_server.url, retry_attempts=0)

        with pytest.raises(ServerConnectionError, match="certificate verify failed"):
            session.ping()


class TestAcl:
    def test_acl_user_from_settings(
        self, client: Client, auth_server: AuthServer
    ) -> None:
        session = client.get_session(
            "acl",
            url=auth_server.url,
            username=auth_server.username,
            password=auth_server.user_password,
        )

        session.set("test_session:acl", 1)

        assert 1 == int(session.get("test_session:acl"))
        assert auth_server.username == _text(session.acl_whoami())

    def test_password_from_a_file(
        self, client: Client, auth_server: AuthServer, tmp_path: Path
    ) -> None:
        secret = tmp_path / "redis-password"
        secret.write_text(auth_server.password + "\n")

        session = client.get_session(
            "from-file", url=auth_server.url, password_file=secret
        )

        assert session.ping()
        assert auth_server.password not in repr(session.settings)

    def test_a_restricted_user_gets_a_command_error(
        self, client: Client, auth_server: AuthServer
    ) -> None:
        session = client.get_session(
            "limited",
            url=auth_server.url,
            username=auth_server.restricted_username,
            password=auth_server.restricted_password,
        )

        session.set("app:allowed", 1)
        with pytest.raises(CommandError) as caught:
            session.set("elsewhere", 1)

        assert "'limited'" in str(caught.value)
        assert auth_server.restricted_password not in str(caught.value)


class TestTransactions:
    def test_transaction_watches_prefixed_keys_and_retries(
        self, session: KVDBSession, raw: redis.Redis
    ) -> None:
        session.set("test_session:tx", 1)
        tries: list[int] = []

        def bump(pipe: Any) -> None:
            current = pipe.get("test_session:tx")
            if not tries:
                # Another client writes the watched key: the first try fails.
                raw.set(f"{session.settings.key_prefix}:test_session:tx", 10)
            tries.append(current)
            pipe.multi()
            pipe.set("test_session:tx", current + 1)

        session.transaction(bump, "test_session:tx")

        assert [1, 10] == tries
        assert 11 == session.get("test_session:tx")

    async def test_atransaction(self, session: KVDBSession) -> None:
        await session.aset("test_session:atx", {"n": 1})

        async def bump(pipe: Any) -> None:
            current = await pipe.get("test_session:atx")
            pipe.multi()
            pipe.set("test_session:atx", {"n": current["n"] + 1})

        results = await session.atransaction(bump, "test_session:atx")

        assert [True] == results
        assert {"n": 2} == await session.aget("test_session:atx")
