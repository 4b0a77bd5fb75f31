"""Sessions through a real Redis Sentinel: the session API, replicas, auth, TLS."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import redis
import redis.sentinel

from kvdb import AuthenticationError, Client, KVDBError, KVDBSession
from kvdb._clients import SessionRedis
from kvdb._sentinel import ReplicaReadingRedis
from tests.distributed.support import Both, count_clients
from tests.servers import SentinelFactory, SentinelSetup, TlsFiles


@pytest.fixture
def session(client: Client, sentinel: SentinelSetup, prefix: str) -> KVDBSession:
    return client.get_session(
        "sentinel", url=sentinel.url, serializer="json", key_prefix=prefix
    )


@pytest.fixture
def master(sentinel: SentinelSetup) -> Iterator[redis.Redis]:
    """A plain client of the current master, to see what it stores."""
    host, port = sentinel.master_address()
    with redis.Redis(host=host, port=port) as master:
        yield master


def _replica(setup: SentinelSetup) -> tuple[str, int]:
    master = setup.master_address()
    sentinels = set(setup.sentinels)
    return next(a for a in setup.processes if a != master and a not in sentinels)


def _eventually(read: Callable[[], object], timeout: float = 2.0) -> object:
    """What `read` returns once it is not None: a replica lags its master."""
    deadline = time.monotonic() + timeout
    while (value := read()) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return value


class TestCommands:
    def test_the_client_follows_the_master_sentinel_names(
        self, session: KVDBSession, sentinel: SentinelSetup
    ) -> None:
        session.set("k", 1)

        client = session.client
        assert isinstance(client, SessionRedis)
        pool = client.connection_pool
        assert isinstance(pool, redis.sentinel.SentinelConnectionPool)
        # redis-py leaves get_master_address unannotated.
        found = pool.get_master_address()  # type: ignore[no-untyped-call]
        assert sentinel.master_address() == found

    def test_strings_and_collections(
        self, both: Both, master: redis.Redis, prefix: str
    ) -> None:
        both.set("user", {"name": "Ada"})
        both.hset("h", mapping={"a": [1], "b": 2})
        both.rpush("l", 1, {"two": 2})

        assert {"name": "Ada"} == both.get("user")
        assert [{"name": "Ada"}, None] == both.mget(["user", "missing"])
        assert {"a": [1], "b": 2} == both.hgetall("h")
        assert [1, {"two": 2}] == both.lrange("l", 0, -1)
        assert master.exists(f"{prefix}:user")
        assert ["h", "l", "user"] == sorted(both.scan_iter())
        assert 3 == both.clear()

    def test_pipeline_is_a_transaction(self, session: KVDBSession) -> None:
        with session.pipeline() as pipe:
            pipe.set("p", [1]).get("p").incr("n")
            results = pipe.execute()

        assert [True, [1], 1] == results

    def test_pubsub_and_lock(self, session: KVDBSession) -> None:
        reader = session.pubsub()
        reader.subscribe("news")
        reader.get_message(timeout=1)
        session.publish("news", {"headline": "kvdb"})
        message = reader.get_message(timeout=2)
        reader.close()

        assert message is not None
        assert {"headline": "kvdb"} == message["data"]
        with session.lock("resource", timeout=5) as lock:
            assert lock.owned()

    async def test_async_pipeline_pubsub_lock(self, session: KVDBSession) -> None:
        pipe = session.apipeline()
        pipe.set("ap", [1]).get("ap")
        reader = session.apubsub()
        await reader.subscribe("anews")
        await reader.get_message(timeout=1)
        await session.apublish("anews", "hello")
        message = await reader.get_message(timeout=2)
        await reader.aclose()
        lock = session.alock("aresource", timeout=5)

        assert [True, [1]] == await pipe.execute()
        assert message is not None
        assert "hello" == message["data"]
        assert await lock.acquire(blocking=False)
        await lock.release()


class TestReplicas:
    def test_reads_go_to_the_replica_and_writes_to_the_master(
        self, client: Client, sentinel: SentinelSetup, prefix: str
    ) -> None:
        url = f"{sentinel.url}?client_name=kvdb-replica-reads"
        session = client.get_session(
            "reads", url=url, read_from_replicas=True, key_prefix=prefix
        )
        session.set("k", "v")

        assert isinstance(session.client, ReplicaReadingRedis)
        assert b"v" == _eventually(lambda: session.get("k"))
        replica = count_clients([_replica(sentinel)], "kvdb-replica-reads")
        master = count_clients([sentinel.master_address()], "kvdb-replica-reads")
        assert ([1], [1]) == (list(replica.values()), list(master.values()))

    async def test_async_reads_go_to_the_replica(
        self, client: Client, sentinel: SentinelSetup, prefix: str
    ) -> None:
        url = f"{sentinel.url}?client_name=kvdb-replica-areads"
        session = client.get_session(
            "reads", url=url, read_from_replicas=True, key_prefix=prefix
        )
        await session.aset("k", "v")

        for _ in range(100):
            if await session.aget("k") is not None:
                break
            time.sleep(0.02)
        replica = count_clients([_replica(sentinel)], "kvdb-replica-areads")
        assert [1] == list(replica.values())

    def test_sessions_that_connect_alike_share_the_master_pool(
        self, client: Client, sentinel: SentinelSetup
    ) -> None:
        url = f"{sentinel.url}?client_name=kvdb-sentinel-share"
        json_ = client.get_session("json", url=url, serializer="json", key_prefix="a")
        raw_ = client.get_session("raw", url=url, key_prefix="b")
        json_.set("k", {"v": 1})
        raw_.set("k", "v")

        assert json_.pool_key == raw_.pool_key
        counts = count_clients([sentinel.master_address()], "kvdb-sentinel-share")
        assert [1] == list(counts.values())
        json_.clear()
        raw_.clear()


class TestAuthAndTls:
    def test_sentinel_and_server_passwords(
        self, client: Client, make_sentinel: SentinelFactory
    ) -> None:
        setup = make_sentinel(password="server-pw", sentinel_password="sentinel-pw")
        url = setup.url.replace("://", "://:server-pw@")
        session = client.get_session(
            "auth", url=url, sentinel_password="sentinel-pw", serializer="json"
        )
        refused = client.get_session(
            "refused", url=url, sentinel_password="wrong-sentinel-pw"
        )

        session.set("k", [1])
        assert [1] == session.get("k")
        with pytest.raises(KVDBError, match="'refused'") as caught:
            refused.get("k")
        assert "wrong-sentinel-pw" not in str(caught.value)

    def test_wrong_server_password(
        self, client: Client, make_sentinel: SentinelFactory
    ) -> None:
        setup = make_sentinel(password="server-pw")
        session = client.get_session("wrong", url=setup.url.replace("://", "://:nope@"))

        with pytest.raises(AuthenticationError, match="'wrong'"):
            session.get("k")

    def test_tls_to_sentinels_and_servers(
        self, client: Client, make_sentinel: SentinelFactory, tls_files: TlsFiles
    ) -> None:
        setup = make_sentinel(tls=True)
        session = client.get_session(
            "tls",
            url=setup.url,
            ssl_ca_certs=str(tls_files.ca_file),
            serializer="json",
        )

        assert setup.url.startswith("rediss+sentinel://")
        session.set("k", {"over": "tls"})
        assert {"over": "tls"} == session.get("k")
