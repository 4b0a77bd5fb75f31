"""Sessions on a real Redis Cluster: the session API, slots, sharing, errors."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis.asyncio.cluster
import redis.cluster
from pydantic import BaseModel
from redis.crc import key_slot

from kvdb import (
    AuthenticationError,
    Client,
    CommandError,
    ConfigError,
    KVDBError,
    KVDBSession,
    ServerConnectionError,
)
from kvdb._cluster import AsyncSessionRedisCluster, SessionRedisCluster
from tests.distributed.support import (
    Both,
    count_calls,
    count_clients,
    pipelined,
    wait_for_replicas_in_slot_table,
)
from tests.servers import Cluster, ClusterFactory


class User(BaseModel):
    name: str
    age: int


@pytest.fixture
def session(client: Client, cluster: Cluster, prefix: str) -> KVDBSession:
    return client.get_session(
        "cluster", url=cluster.url, serializer="json", key_prefix=prefix
    )


@pytest.fixture
def raw(cluster: Cluster) -> Iterator[redis.cluster.RedisCluster]:
    """A plain redis-py cluster client, to see what the servers store."""
    with redis.cluster.RedisCluster(host=cluster.host, port=cluster.port) as raw:
        yield raw


def _eventually(read: Callable[[], object], timeout: float = 2.0) -> object:
    """What `read` returns once it is not None: a replica lags its master."""
    deadline = time.monotonic() + timeout
    while (value := read()) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return value


def _masters_of(raw: redis.cluster.RedisCluster, keys: list[str]) -> set[str]:
    node_of = raw.get_node_from_key
    # redis-py leaves get_node_from_key unannotated.
    return {node_of(key).name for key in keys}  # type: ignore[no-untyped-call]


def _gets(cluster: Cluster) -> tuple[int, int]:
    """How many GETs the masters and the replicas have answered."""
    return count_calls(cluster.masters(), "GET"), count_calls(cluster.replicas(), "GET")


KEYS = [f"key-{i}" for i in range(12)]


class TestCommands:
    def test_clients_are_redis_py_cluster_clients(self, session: KVDBSession) -> None:
        assert isinstance(session.client, SessionRedisCluster)
        assert isinstance(session.client, redis.cluster.RedisCluster)

    async def test_async_client_is_the_asyncio_cluster_client(
        self, session: KVDBSession
    ) -> None:
        assert isinstance(session.aclient, AsyncSessionRedisCluster)
        assert isinstance(session.aclient, redis.asyncio.cluster.RedisCluster)

    def test_strings(self, both: Both) -> None:
        both.set("user", User(name="Ada", age=36))
        both.set("ttl", 1, ex=60)

        assert User(name="Ada", age=36) == both.get("user")
        assert User(name="Ada", age=36) == both.getdel("user")
        assert None is both.get("user")
        assert 0 < both.ttl("ttl") <= 60
        assert 2 == both.incr("ttl")

    def test_hashes(self, both: Both) -> None:
        both.hset("h", mapping={"a": {"deep": [1]}, "b": 2})

        assert {"deep": [1]} == both.hget("h", "a")
        assert {"a": {"deep": [1]}, "b": 2} == both.hgetall("h")
        assert [2, None] == both.hmget("h", ["b", "zz"])

    def test_lists(self, both: Both) -> None:
        both.rpush("l", {"i": 1}, {"i": 2}, {"i": 3})

        assert [{"i": 1}, {"i": 2}, {"i": 3}] == both.lrange("l", 0, -1)
        assert {"i": 3} == both.rpop("l")
        assert ["l", {"i": 1}] == list(both.blpop(["l"], timeout=1))

    def test_sets_and_sorted_sets(self, both: Both) -> None:
        both.sadd("s", "x", 2, (1, 2))
        both.zadd("z", {"a": 1.0, "b": 2.0})

        assert {"x", 2, (1, 2)} == both.smembers("s")
        assert both.sismember("s", (1, 2))
        assert [("a", 1.0), ("b", 2.0)] == both.zrange("z", 0, -1, withscores=True)

    def test_prefix_is_stored_and_hidden(
        self, both: Both, raw: redis.cluster.RedisCluster, prefix: str
    ) -> None:
        both.set("plain", "v")

        assert (1, 0) == (raw.exists(f"{prefix}:plain"), raw.exists("plain"))
        assert ["plain"] == both.scan_iter()


class TestKeysInSeveralSlots:
    def test_the_keys_span_several_masters(
        self, raw: redis.cluster.RedisCluster, prefix: str
    ) -> None:
        # Without this the tests below would prove nothing.
        assert 1 < len(_masters_of(raw, [f"{prefix}:{key}" for key in KEYS]))

    def test_mset_mget_in_the_callers_order(self, both: Both) -> None:
        values = {key: {"n": i} for i, key in enumerate(KEYS)}
        asked = [*reversed(KEYS), "missing", KEYS[3]]

        assert both.mset(values)
        assert [*({"n": i} for i in reversed(range(12))), None, {"n": 3}] == both.mget(
            asked
        )

    def test_mget_keeps_apart_keys_that_compare_equal(
        self, both: Both, prefix: str
    ) -> None:
        # 1 == 1.0 in Python, but on the wire they are two keys, "1" and "1.0";
        # in two slots here, so that the values come from two MGETs.
        assert key_slot(f"{prefix}:1".encode()) != key_slot(f"{prefix}:1.0".encode())
        both.set(1, "int")
        both.set(1.0, "float")

        assert ["int", "float", "int"] == both.mget([1, 1.0, 1])

    def test_mget_takes_keys_as_arguments(self, both: Both) -> None:
        both.mset({"a": 1, "b": 2})

        assert [2, 1] == both.mget("b", "a")

    def test_delete_exists_touch_unlink_count_across_slots(self, both: Both) -> None:
        both.mset(dict.fromkeys(KEYS, 1))

        assert 12 == both.exists(*KEYS, "missing")
        assert 12 == both.touch(*KEYS)
        assert 6 == both.delete(*KEYS[:6])
        assert 6 == both.unlink(*KEYS, "missing")
        assert 0 == both.exists(*KEYS)

    def test_hash_tags_keep_their_slot_under_the_prefix(
        self, both: Both, raw: redis.cluster.RedisCluster, prefix: str
    ) -> None:
        both.mset({"{user1}:name": "Ada", "{user1}:age": 36})

        stored = [f"{prefix}:{{user1}}:name", f"{prefix}:{{user1}}:age"]
        assert {key_slot(b"user1")} == {key_slot(key.encode()) for key in stored}
        assert ["Ada", 36] == both.mget(["{user1}:name", "{user1}:age"])
        # Commands of several keys work when the keys share a tag.
        assert 2 == both.sadd("{user1}:a", 1, 2)
        both.sadd("{user1}:b", 2, 3)
        assert {2} == both.sinter("{user1}:a", "{user1}:b")

    def test_keys_without_a_shared_tag_need_one(self, both: Both) -> None:
        with pytest.raises(CommandError, match="hash tag"):
            both.sinter("a", "b")

    def test_scan_iter_visits_every_master(
        self, both: Both, raw: redis.cluster.RedisCluster
    ) -> None:
        raw.set("outsider-of-every-prefix", 1)
        both.mset(dict.fromkeys(KEYS, 1))

        assert sorted(KEYS) == sorted(both.scan_iter(count=5))

    def test_clear_with_prefix_keeps_other_keys(
        self, both: Both, raw: redis.cluster.RedisCluster
    ) -> None:
        raw.set("outsider-of-every-prefix", 1)
        both.mset(dict.fromkeys(KEYS, 1))

        assert 12 == both.clear()
        assert [] == both.scan_iter()
        assert raw.exists("outsider-of-every-prefix")


def test_clear_without_prefix_flushes_every_master(
    client: Client, cluster: Cluster, raw: redis.cluster.RedisCluster
) -> None:
    session = client.get_session("whole", url=cluster.url)
    raw.mset_nonatomic(dict.fromkeys(KEYS, 1))

    assert 12 <= session.dbsize()
    assert session.dbsize() == session.clear()
    assert 0 == raw.dbsize(target_nodes=raw.PRIMARIES)


@pytest.mark.parametrize(
    "prefix_setting",
    [pytest.param("{app}", id="whole-tag"), pytest.param("app{", id="half-a-tag")],
)
def test_a_prefix_with_braces_is_refused(
    client: Client, cluster: Cluster, prefix_setting: str
) -> None:
    with pytest.raises(ConfigError, match="braces"):
        client.get_session("braces", url=cluster.url, key_prefix=prefix_setting)


class TestPipelinesPubSubLocks:
    def test_pipeline_across_slots(self, session: KVDBSession) -> None:
        with session.pipeline() as pipe:
            pipe.set("p", User(name="P", age=2)).get("p").incr("n")
            pipe.get("missing")
            pipe.delete("p", "n")
            results = pipe.execute()

        # DEL of keys in two slots gives one count per slot.
        assert [True, User(name="P", age=2), 1, None, 1, 1] == results

    def test_transaction_on_one_slot(self, session: KVDBSession) -> None:
        with session.pipeline(transaction=True) as pipe:
            pipe.set("{t}:a", [1]).incr("{t}:n").get("{t}:a")
            results = pipe.execute()

        # redis-py's cluster transactions leave SET's reply as the server's OK.
        assert [1, [1]] == results[1:]

    async def test_async_pipeline_across_slots(self, session: KVDBSession) -> None:
        pipe = session.apipeline()
        pipe.set("ap", [1, 2]).get("ap").exists("ap", "missing", "other")
        results = await pipe.execute()

        # EXISTS of keys in several slots gives one count per slot.
        assert [True, [1, 2]] == results[:2]
        assert (3, 1) == (len(results[2:]), sum(results[2:]))

    def test_pipeline_splits_keys_of_several_slots(
        self, session: KVDBSession, mode: str
    ) -> None:
        def queue(pipe: Any) -> None:
            pipe.mset({"{u}:a": 1, "{v}:b": 2})
            pipe.exists("{u}:a", "{v}:b", "{v}:missing")
            pipe.touch("{u}:a", "{v}:b")
            pipe.delete("{u}:a", "{v}:b")

        # One result per slot of each command's keys.
        assert [True, True, 1, 1, 1, 1, 1, 1] == pipelined(session, mode, queue)

    async def test_pipeline_results_hold_kvdb_errors(
        self, session: KVDBSession
    ) -> None:
        session.set("{e}:text", "not a list")
        with session.pipeline() as pipe:
            pipe.lpush("{e}:text", 1).get("{e}:text")
            results = pipe.execute(raise_on_error=False)
        apipe = session.apipeline()
        apipe.lpush("{e}:text", 1).get("{e}:text")
        aresults = await apipe.execute(raise_on_error=False)

        for error, text in (results, aresults):
            assert isinstance(error, CommandError)
            assert isinstance(error.__cause__, redis.ResponseError)
            assert "not a list" == text

    def test_pipeline_mget_of_one_slot(self, session: KVDBSession, mode: str) -> None:
        def queue(pipe: Any) -> None:
            pipe.mset_nonatomic({"{u}:a": 1, "{u}:b": [2]})
            pipe.mget(["{u}:b", "{u}:a", "{u}:missing"])
            pipe.mget("{u}:a", "{u}:b")

        assert [True, [[2], 1, None], [1, [2]]] == pipelined(session, mode, queue)

    def test_pipeline_mget_across_slots_says_what_to_do(
        self, session: KVDBSession, mode: str
    ) -> None:
        with pytest.raises(CommandError, match=r"one hash tag.*session's mget\(\)"):
            pipelined(session, mode, lambda pipe: pipe.mget(["{u}:a", "{v}:b"]))

    @pytest.mark.parametrize(
        ("command", "args"),
        [
            pytest.param("publish", ("news", 1), id="publish"),
            pytest.param("dbsize", (), id="dbsize"),
            pytest.param("keys", ("*",), id="keys"),
            pytest.param("mget_nonatomic", (["a", "b"],), id="mget_nonatomic"),
        ],
    )
    def test_pipeline_refuses_commands_of_no_one_slot(
        self, session: KVDBSession, mode: str, command: str, args: tuple[Any, ...]
    ) -> None:
        with pytest.raises(CommandError, match=rf"{command}\(\) cannot be queued"):
            pipelined(session, mode, lambda pipe: getattr(pipe, command)(*args))

    def test_pipeline_queues_commands_of_several_keys_in_one_slot(
        self, session: KVDBSession, mode: str
    ) -> None:
        def queue(pipe: Any) -> None:
            pipe.sadd("{u}:s1", 1, 2).sadd("{u}:s2", 2, 3)
            pipe.sinter("{u}:s1", "{u}:s2")
            pipe.sunionstore("{u}:all", ["{u}:s1", "{u}:s2"])
            pipe.smove("{u}:s1", "{u}:s2", 1)
            pipe.rename("{u}:all", "{u}:renamed")
            pipe.smembers("{u}:renamed")

        expected = [2, 2, {2}, 3, True, True, {1, 2, 3}]
        assert expected == pipelined(session, mode, queue)

    def test_pipeline_commands_of_several_keys_need_one_slot(
        self, session: KVDBSession, mode: str
    ) -> None:
        with pytest.raises(CommandError, match="hash tag"):
            pipelined(session, mode, lambda pipe: pipe.sinter("{u}:a", "{v}:b"))

    def test_pubsub(self, session: KVDBSession) -> None:
        reader = session.pubsub()
        reader.subscribe("news")
        reader.get_message(timeout=1)  # the subscribe confirmation

        session.publish("news", {"headline": "kvdb"})
        message = reader.get_message(timeout=2)
        reader.close()

        assert message is not None
        assert ("news", {"headline": "kvdb"}) == (message["channel"], message["data"])

    async def test_async_pubsub(self, session: KVDBSession) -> None:
        reader = session.apubsub()
        await reader.subscribe("anews")
        await reader.get_message(timeout=1)

        await session.apublish("anews", [1, 2, 3])
        message = await reader.get_message(timeout=2)
        await reader.aclose()

        assert message is not None
        assert [1, 2, 3] == message["data"]

    def test_sharded_pubsub_is_refused_with_a_prefix(
        self, session: KVDBSession
    ) -> None:
        reader = session.pubsub()

        with pytest.raises(KVDBError, match="sharded pub/sub"):
            reader.ssubscribe("news")
        reader.close()

    def test_lock_is_prefixed(
        self, session: KVDBSession, raw: redis.cluster.RedisCluster, prefix: str
    ) -> None:
        with session.lock("resource", timeout=5):
            assert raw.exists(f"{prefix}:resource")

        assert not raw.exists(f"{prefix}:resource")

    async def test_async_lock(
        self, session: KVDBSession, raw: redis.cluster.RedisCluster, prefix: str
    ) -> None:
        lock = session.alock("aresource", timeout=5)

        assert await lock.acquire(blocking=False)
        assert raw.exists(f"{prefix}:aresource")
        await lock.release()


class TestSharing:
    def test_sessions_that_connect_alike_share_node_connections(
        self, client: Client, cluster: Cluster
    ) -> None:
        url = f"{cluster.url}?client_name=kvdb-share-sync"
        json_ = client.get_session("json", url=url, serializer="json", key_prefix="a")
        raw_ = client.get_session("raw", url=url, key_prefix="b")

        for key in KEYS:
            json_.set(key, {"v": key})
            raw_.set(key, key)

        assert json_.pool_key == raw_.pool_key
        assert ("json", "raw") == client.pools()[0].sessions
        counts = count_clients(cluster.masters(), "kvdb-share-sync")
        assert {1} == set(counts.values())
        assert 3 <= client.pools()[0].sync_connections

    async def test_async_sessions_share_node_connections(
        self, client: Client, cluster: Cluster
    ) -> None:
        # redis-py's asyncio cluster client keeps open the connection it read
        # the slot table on: two sessions must open what one session opens.
        alone_url = f"{cluster.url}?client_name=kvdb-alone-async"
        alone = client.get_session("alone", url=alone_url, key_prefix="c")
        url = f"{cluster.url}?client_name=kvdb-share-async"
        json_ = client.get_session("json", url=url, serializer="json", key_prefix="a")
        raw_ = client.get_session("raw", url=url, key_prefix="b")

        for key in KEYS:
            await alone.aset(key, key)
            await alone.aset(key, key)
            await json_.aset(key, {"v": key})
            await raw_.aset(key, key)

        shared = count_clients(cluster.masters(), "kvdb-share-async")
        single = count_clients(cluster.masters(), "kvdb-alone-async")
        assert sorted(single.values()) == sorted(shared.values())
        assert 0 not in shared.values()
        assert 3 <= client.pools()[1].async_connections

    def test_closing_the_last_session_closes_the_node_connections(
        self, client: Client, cluster: Cluster
    ) -> None:
        url = f"{cluster.url}?client_name=kvdb-share-close"
        first = client.get_session("first", url=url)
        second = client.get_session("second", url=url, serializer="json")
        first.mset(dict.fromkeys(KEYS, 1))
        second.get("x")

        first.close()
        assert 3 == sum(count_clients(cluster.masters(), "kvdb-share-close").values())
        second.close()
        assert 0 == sum(count_clients(cluster.masters(), "kvdb-share-close").values())

    def test_two_event_loops_in_a_row(self, session: KVDBSession) -> None:
        async def roundtrip(value: int) -> object:
            await session.aset("loop", value)
            return await session.aget("loop")

        assert [1, 2] == [asyncio.run(roundtrip(1)), asyncio.run(roundtrip(2))]


class TestSettingsAndErrors:
    def test_cluster_true_with_startup_nodes(
        self, client: Client, cluster: Cluster
    ) -> None:
        (host, port), *others = cluster.nodes[:3]
        session = client.get_session(
            "nodes",
            url=f"redis://{host}:{port}",
            cluster=True,
            startup_nodes=[f"{h}:{p}" for h, p in others],
            serializer="json",
            key_prefix="nodes-test",
        )
        session.set("k", [1])

        assert isinstance(session.client, SessionRedisCluster)
        assert [1] == session.get("k")
        session.clear()

    def test_unreachable_nodes_name_session_and_nodes(self, client: Client) -> None:
        session = client.get_session(
            "nowhere", url="redis+cluster://127.0.0.1:1,127.0.0.1:2/"
        )

        with pytest.raises(ServerConnectionError, match=r"'nowhere'.*127\.0\.0\.1:1"):
            session.get("k")

    async def test_async_unreachable_nodes(self, client: Client) -> None:
        session = client.get_session("nowhere", url="redis+cluster://127.0.0.1:1/")

        with pytest.raises(ServerConnectionError, match=r"'nowhere'.*127\.0\.0\.1:1"):
            await session.aget("k")

    def test_read_from_replicas(
        self, client: Client, cluster: Cluster, prefix: str
    ) -> None:
        wait_for_replicas_in_slot_table(cluster)
        session = client.get_session(
            "replicas", url=cluster.url, read_from_replicas=True, key_prefix=prefix
        )
        session.mset(dict.fromkeys(KEYS, "v"))
        masters, replicas = _gets(cluster)

        values = [_eventually(functools.partial(session.get, key)) for key in KEYS]

        assert [b"v"] * len(KEYS) == values
        masters_after, replicas_after = _gets(cluster)
        assert 0 == masters_after - masters
        # One GET per key, and more where a replica had not caught up yet.
        assert len(KEYS) <= replicas_after - replicas
        session.clear()

    def test_pipelines_read_from_masters(
        self, client: Client, cluster: Cluster, prefix: str, mode: str
    ) -> None:
        wait_for_replicas_in_slot_table(cluster)
        session = client.get_session(
            "replicas",
            url=cluster.url,
            read_from_replicas=True,
            serializer="json",
            key_prefix=prefix,
        )
        masters, replicas = _gets(cluster)

        results = pipelined(
            session,
            mode,
            lambda pipe: [pipe.set(key, i).get(key) for i, key in enumerate(KEYS)],
        )

        # Each GET sees the SET queued before it, as only the master can.
        assert [x for i in range(len(KEYS)) for x in (True, i)] == results
        masters_after, replicas_after = _gets(cluster)
        assert (len(KEYS), 0) == (masters_after - masters, replicas_after - replicas)
        session.clear()

    def test_a_password_protected_cluster(
        self, client: Client, make_cluster: ClusterFactory
    ) -> None:
        protected = make_cluster(password="s3cret-cluster")
        session = client.get_session(
            "protected", url=protected.url, password="s3cret-cluster"
        )
        wrong = client.get_session("wrong", url=protected.url, password="nope")

        session.set("k", 1)
        assert b"1" == session.get("k")
        with pytest.raises(AuthenticationError, match="'wrong'") as caught:
            wrong.get("k")
        assert "nope" not in str(caught.value)
