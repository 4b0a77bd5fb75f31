"""redis-py's errors become kvdb's: by class and message, and against a server."""

from __future__ import annotations

import pytest
import redis
import redis.asyncio.sentinel
import redis.sentinel
from redis import exceptions as redis_errors

from kvdb import Client, CommandError, EncodeError, KVDBSession, TopologyError
from kvdb._translate import translate_error, translate_results

SENTINEL_HINT = "sentinel_username and sentinel_password"
SERIALIZER_HINT = "a session without a serializer stores only str, bytes, int"


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(redis.sentinel.MasterNotFoundError, id="sync"),
        pytest.param(redis.asyncio.sentinel.MasterNotFoundError, id="async"),
    ],
)
def test_no_master_is_a_topology_error_with_a_hint(
    error: type[Exception],
) -> None:
    translated = translate_error(error("No master found for 'app'"), "s", "sentinel")

    assert TopologyError is type(translated)
    assert SENTINEL_HINT in str(translated)


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(redis.sentinel.SlaveNotFoundError, id="sync"),
        pytest.param(redis.asyncio.sentinel.SlaveNotFoundError, id="async"),
    ],
)
def test_no_replica_is_a_topology_error(error: type[Exception]) -> None:
    translated = translate_error(error("No slave found for 'app'"), "s", "sentinel")

    assert TopologyError is type(translated)
    assert SENTINEL_HINT not in str(translated)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "Invalid input of type: 'tuple'. Convert to a bytes, string, int or "
            "float first.",
            id="redis-py",
        ),
        pytest.param("A tuple item must be str, int, float or bytes.", id="hiredis"),
    ],
)
def test_an_unencodable_value_is_an_encode_error(text: str) -> None:
    translated = translate_error(redis_errors.DataError(text), "s", "a:1")

    assert EncodeError is type(translated)
    assert SERIALIZER_HINT in str(translated)


def test_pipeline_results_keep_all_but_redis_errors() -> None:
    failed = redis_errors.ResponseError("WRONGTYPE Operation against a key")
    unloaded = redis_errors.NoScriptError("NOSCRIPT No matching script")

    results = translate_results([b"x", failed, unloaded, None], "s", "a:1")

    assert [b"x", unloaded, None] == [results[0], results[2], results[3]]
    assert CommandError is type(results[1])
    assert failed is results[1].__cause__


@pytest.fixture
def plain(client: Client, redis_url: str) -> KVDBSession:
    """A session without a serializer, on a fresh database."""
    return client.get_session("plain", url=redis_url)


class TestOnAServer:
    def test_an_unencodable_value_is_an_encode_error(self, plain: KVDBSession) -> None:
        with pytest.raises(EncodeError, match=SERIALIZER_HINT) as caught:
            plain.set("k", (1, 2))

        assert isinstance(caught.value.__cause__, redis_errors.DataError)
        assert 0 == plain.exists("k")

    async def test_an_unencodable_value_is_an_encode_error_async(
        self, plain: KVDBSession
    ) -> None:
        with pytest.raises(EncodeError, match=SERIALIZER_HINT) as caught:
            await plain.aset("k", (1, 2))

        assert isinstance(caught.value.__cause__, redis_errors.DataError)
        assert 0 == await plain.aexists("k")

    @pytest.mark.parametrize("transaction", [True, False], ids=["multi", "pipeline"])
    def test_a_pipeline_returns_kvdb_errors(
        self, plain: KVDBSession, transaction: bool
    ) -> None:
        with plain.pipeline(transaction=transaction) as pipe:
            pipe.set("str", "x").lpush("str", 1).get("str")
            results = pipe.execute(raise_on_error=False)

        assert [True, b"x"] == [results[0], results[2]]
        assert CommandError is type(results[1])
        assert "session 'plain'" in str(results[1])
        assert isinstance(results[1].__cause__, redis_errors.ResponseError)

    @pytest.mark.parametrize("transaction", [True, False], ids=["multi", "pipeline"])
    async def test_a_pipeline_returns_kvdb_errors_async(
        self, plain: KVDBSession, transaction: bool
    ) -> None:
        async with plain.apipeline(transaction=transaction) as pipe:
            pipe.set("str", "x").lpush("str", 1).get("str")
            results = await pipe.execute(raise_on_error=False)

        assert [True, b"x"] == [results[0], results[2]]
        assert CommandError is type(results[1])
        assert "session 'plain'" in str(results[1])
        assert isinstance(results[1].__cause__, redis_errors.ResponseError)
