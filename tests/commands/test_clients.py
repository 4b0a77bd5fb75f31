"""`SessionRedis` and `AsyncSessionRedis` against a real server.

Every command group runs in sync and async form (the `both` fixture) over a
json session with a key prefix unique to the test; `raw` shows what the
server really stores.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis
import redis.asyncio

from kvdb._clients import AsyncSessionRedis
from kvdb.commands import CommandContext
from tests.commands.support import JSON, PASSTHROUGH, Calls, make_codec
from tests.servers import Server

MODEL = {"name": "John", "age": 30, "tags": ["a", "b"]}


def test_strings(both: Calls, raw: redis.Redis, prefix: str) -> None:
    assert both.set("model", MODEL) is True
    assert both.set("model", {"new": 1}, get=True) == MODEL
    both.mset({"a": [1], "b": "text", "n": 7})

    assert {"new": 1} == both.get("model")
    assert [[1], "text", 7, None] == both.mget("a", "b", "n", "missing")
    assert JSON.encode({"new": 1}) == raw.get(prefix + "model")
    assert 8 == both.incr("n")
    assert "text" == both.getdel("b")
    assert [1] == both.getex("a", ex=100)
    assert both.setnx("a", 2) is False
    assert both.msetnx({"c": 1, "d": 2}) is True
    with pytest.warns(DeprecationWarning, match="setex"):
        both.setex("e", 100, {"e": 1})
    both.psetex("f", 100_000, 1.5)
    assert [{"e": 1}, 1.5] == both.mget(["e", "f"])
    assert [1] == both.getset("a", 3)
    assert 3 == both.get("a")


def test_raw_byte_commands_work_on_raw_values(both: Calls) -> None:
    assert 3 == both.append("r", "abc")
    both.setrange("r", 1, "X")

    assert b"aXc" == both.getrange("r", 0, -1)
    assert 2.5 == both.incrbyfloat("float", 2.5)
    assert 3 == both.strlen("r")


def test_hashes(both: Calls) -> None:
    both.hset("h", "f", MODEL, mapping={"g": [1], "n": 1}, items=["i", None])

    assert MODEL == both.hget("h", "f")
    assert {"f": MODEL, "g": [1], "n": 1, "i": None} == both.hgetall("h")
    assert [[1], None] == both.hmget("h", ["g", "nope"])
    assert {"f", "g", "n", "i"} == set(both.hkeys("h"))
    assert [1] in both.hvals("h")
    assert both.hsetnx("h", "f", 2) == 0
    assert 3 == both.hincrby("h", "n", 2)
    assert {"f", "g", "n", "i"} == set(dict(both.hscan("h")[1]))
    assert both.hrandfield("h") in {"f", "g", "n", "i"}
    pairs = _pairs(both.hrandfield("h", 4, withvalues=True))
    assert both.hgetall("h") == dict(pairs)


def test_hscan_iter(both: Calls) -> None:
    both.hset("h", mapping={f"f{i}": {"i": i} for i in range(30)})

    found = both.hscan_iter("h", count=5)
    if both.mode == "async":
        found = both.run(_collect(found))

    assert {f"f{i}": {"i": i} for i in range(30)} == dict(found)


async def _collect(iterator: Any) -> list[Any]:
    return [item async for item in iterator]


def test_lists(both: Calls) -> None:
    assert 3 == both.rpush("l", MODEL, 1, "x")
    both.lpush("l", [0])
    both.linsert("l", "BEFORE", 1, {"before": 1})
    both.lset("l", 0, [9])

    assert [[9], MODEL, {"before": 1}, 1, "x"] == both.lrange("l", 0, -1)
    assert {"before": 1} == both.lindex("l", 2)
    assert 3 == both.lpos("l", 1)
    assert 1 == both.lrem("l", 0, {"before": 1})
    assert [9] == both.lpop("l")
    assert ["x", 1] == both.rpop("l", 2)
    assert MODEL == both.lmove("l", "l2")
    assert ("l2", MODEL) == tuple(both.blpop(["empty", "l2"], timeout=1))
    assert None is both.brpop(["empty"], timeout=0.05)

    both.rpush("m", 1, 2, 3)
    assert ["m", [1, 2]] == both.lmpop(2, "empty", "m", direction="LEFT", count=2)
    assert 3 == both.rpoplpush("m", "m2")
    assert 2 == both.lpushx("m2", 4)


def test_sets(both: Calls) -> None:
    assert 3 == both.sadd("s", 1, "x", 2.5)
    both.sadd("t", "x", "y")

    assert {1, "x", 2.5} == both.smembers("s")
    assert both.sismember("s", "x")
    assert [True, False] == [bool(r) for r in both.smismember("s", ["x", "nope"])]
    assert {"x"} == both.sinter("s", "t")
    assert {"y"} == both.sdiff("t", "s")
    assert {"x", "y"} <= both.sunion("s", "t")
    assert both.smove("t", "s", "y")
    assert {1, "x", 2.5, "y"} == set(both.sscan("s")[1])
    assert both.spop("t") == "x"
    assert both.srandmember("s") is not None
    assert 1 == both.srem("s", "y")
    assert 1 == both.sintercard(2, ["s", "s"], limit=1)


def test_sets_of_unhashable_members_come_back_as_lists(both: Calls) -> None:
    both.sadd("s", {"a": 1}, [1])

    members = both.smembers("s")

    assert isinstance(members, list)
    assert sorted([{"a": 1}, [1]], key=str) == sorted(members, key=str)


def test_sorted_sets(both: Calls) -> None:
    assert 2 == both.zadd("z", {"m": 1, "n": 2.5})
    both.zadd("z", {"m": 5}, xx=True, ch=True)

    assert ["n", "m"] == both.zrange("z", 0, -1)
    assert [("n", 2.5), ("m", 5.0)] == [
        tuple(pair) for pair in both.zrange("z", 0, -1, withscores=True)
    ]
    assert ["m"] == both.zrevrange("z", 0, 0)
    assert ["n"] == both.zrangebyscore("z", 0, 3)
    assert 5.0 == both.zscore("z", "m")
    assert 1 == both.zrank("z", "m")
    assert [5.0, None] == both.zmscore("z", ["m", "nope"])
    assert 6.0 == both.zincrby("z", 1, "m")
    assert both.zrandmember("z") in {"m", "n"}
    assert ("n", 2.5) == tuple(both.zpopmin("z")[0])
    assert ("z", "m", 6.0) == tuple(both.bzpopmax(["empty", "z"], timeout=1))

    both.zadd("y", {"a": 1, "b": 2})
    both.zadd("x", {"b": 3})
    assert ["b"] == both.zinter(["x", "y"])
    assert {"a", "b"} == set(both.zunion(["x", "y"]))
    assert 1 == both.zunionstore("u", ["x"])
    # redis-py leaves the score of ZMPOP as the server sends it.
    key, [(member, _)] = both.zmpop(1, ["u"], min=True)
    assert ("u", "b") == (key, member)
    assert ["a", "b"] == [m for m, _ in both.zscan("y")[1]]
    assert 1 == both.zrem("y", "a")


def test_streams(both: Calls) -> None:
    first = both.xadd("s", {"f": MODEL, "g": 1})
    both.xadd("s", {"f": [2]}, maxlen=100)

    entries = both.xrange("s")
    assert [{"f": MODEL, "g": 1}, {"f": [2]}] == [fields for _, fields in entries]
    assert first == entries[0][0]
    assert isinstance(first, str)
    assert [{"f": [2]}] == [fields for _, fields in both.xrevrange("s", count=1)]

    read = both.xread({"s": 0}, count=1)
    assert [["s", [(first, {"f": MODEL, "g": 1})]]] == read

    both.xgroup_create("s", "g", id="0")
    group_read = both.xreadgroup("g", "c", {"s": ">"}, count=1)
    assert [["s", [(first, {"f": MODEL, "g": 1})]]] == group_read
    assert [(first, {"f": MODEL, "g": 1})] == both.xclaim("s", "g", "d", 0, [first])
    assert [first] == both.xclaim("s", "g", "d", 0, [first], justid=True)
    claimed = both.xautoclaim("s", "g", "e", 0)
    assert [(first, {"f": MODEL, "g": 1})] == claimed[1]
    assert 1 == both.xack("s", "g", first)


def test_keys_and_scan(both: Calls, raw: redis.Redis, prefix: str) -> None:
    both.mset({"k1": 1, "k2": 2, "other": 3})
    raw.set("outside-" + prefix, 1)

    assert {"k1", "k2", "other"} == set(both.keys())
    assert {"k1", "k2"} == set(both.keys("k*"))
    assert {"k1", "k2", "other"} == set(both.scan(0, count=1000)[1])

    found = both.scan_iter(match="k*", count=1)
    if both.mode == "async":
        found = both.run(_collect(found))
    assert {"k1", "k2"} == set(found)

    assert 3 == both.exists("k1", "k2", "other")
    assert both.rename("k1", "renamed")
    assert "string" == both.type("renamed").decode()
    assert 1 == both.delete("renamed")
    assert both.expire("k2", 100)
    assert 0 < both.ttl("k2") <= 100
    assert isinstance(both.object("encoding", "k2"), bytes)
    assert both.memory_usage("k2") > 0
    raw.delete("outside-" + prefix)


def test_randomkey_comes_back_without_the_prefix(
    redis_url: str, json_context: CommandContext
) -> None:
    calls = Calls("sync", redis_url, json_context)
    calls.set("only", 1)

    assert "only" == calls.randomkey()
    calls.close()


def test_scripts_prefix_keys_and_leave_arguments_raw(
    both: Calls, raw: redis.Redis, prefix: str
) -> None:
    script = "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])"

    assert b"raw" == both.eval(script, 1, "k", "raw")
    assert b"raw" == raw.get(prefix + "k")

    sha = both.script_load(script)
    assert b"again" == both.evalsha(sha, 1, "k", "again")

    registered = both.register_script("return KEYS[1]")
    assert (prefix + "x").encode() == both.run(registered(keys=["x"]))


def test_publish_counts_subscribers(both: Calls) -> None:
    assert 0 == both.publish("channel", MODEL)


def test_default_ttl(redis_server: Server, prefix: str, raw: redis.Redis) -> None:
    context = CommandContext(codec=JSON, key_prefix=prefix, default_ttl=50)
    calls = Calls("sync", redis_server.url, context)

    calls.set("a", 1)
    calls.set("b", 1, ex=500)
    assert calls.setnx("c", 1) is True
    assert calls.setnx("c", 2) is False
    assert calls.getset("c", 3) == 1
    calls.mset({"d": 1})

    assert 0 < raw.pttl(prefix + "a") <= 50_000
    assert 50_000 < raw.pttl(prefix + "b") <= 500_000
    assert 0 < raw.pttl(prefix + "c") <= 50_000
    assert -1 == raw.pttl(prefix + "d")
    assert 3 == calls.get("c")
    calls.close()


def test_delete_policy_removes_an_undecodable_value(
    redis_server: Server, prefix: str, raw: redis.Redis
) -> None:
    codec = make_codec(serializer="json", on_decode_error="delete")
    calls = Calls("sync", redis_server.url, CommandContext(codec, key_prefix=prefix))
    raw.set(prefix + "bad", b"\xffK\x01\x03\x00\x00{not json")

    assert None is calls.get("bad")
    assert 0 == raw.exists(prefix + "bad")
    calls.close()


def test_passthrough_with_decode_responses(redis_server: Server, prefix: str) -> None:
    context = CommandContext(PASSTHROUGH, key_prefix=prefix, decode_responses=True)
    calls = Calls("sync", redis_server.url, context)

    calls.set("a", "text")
    calls.hset("h", mapping={"f": "v"})
    calls.rpush("l", "x", b"\xff")

    assert "text" == calls.get("a")
    assert {"f": "v"} == calls.hgetall("h")
    assert ["x", b"\xff"] == calls.lrange("l", 0, -1)
    assert {"a", "h", "l"} == set(calls.keys())
    assert isinstance(calls.dump("a"), bytes)  # DUMP asks redis-py for bytes
    calls.close()


def test_passthrough_without_a_prefix_is_plain_redis_py(
    redis_server: Server, prefix: str
) -> None:
    calls = Calls("sync", redis_server.url, CommandContext(PASSTHROUGH))

    calls.set(prefix + "a", "text")

    assert b"text" == calls.get(prefix + "a")
    assert {prefix.encode() + b"a"} == set(calls.keys(prefix.replace("[", "?") + "*"))
    calls.close()


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_reply_shapes_of_both_protocols(
    redis_server: Server, json_context: CommandContext, protocol: int
) -> None:
    calls = Calls("sync", f"{redis_server.url}?protocol={protocol}", json_context)
    calls.hset("h", mapping={"f": MODEL})
    calls.zadd("z", {"m": 1})
    calls.xadd("s", {"f": MODEL})
    calls.rpush("l", MODEL)

    assert {"f": MODEL} == calls.hgetall("h")
    fields = _pairs(calls.hrandfield("h", 1, withvalues=True))
    assert [["f", MODEL]] == [list(pair) for pair in fields]
    scored = calls.zrange("z", 0, -1, withscores=True)
    assert [["m", 1.0]] == [list(pair) for pair in scored]
    assert [["m", 1.0]] == [list(pair) for pair in _pairs(calls.zpopmin("z"))]
    assert ["l", MODEL] == list(calls.blpop(["l"], timeout=1))
    read = calls.xread({"s": 0})
    streams = dict(read) if isinstance(read, list) else read
    assert ["s"] == list(streams)
    calls.close()


def _pairs(reply: list[Any]) -> list[Any]:
    if reply and not isinstance(reply[0], (list, tuple)):
        return [reply[i : i + 2] for i in range(0, len(reply), 2)]
    return reply


def test_a_single_connection_client_keeps_the_context(
    redis_server: Server, json_context: CommandContext
) -> None:
    calls = Calls("sync", redis_server.url, json_context)
    single = calls.client.client()

    single.set("a", MODEL)

    assert MODEL == single.get("a")
    assert MODEL == calls.get("a")
    single.close()
    calls.close()


# -- pipelines ------------------------------------------------------------------


@pytest.mark.parametrize("transaction", [True, False], ids=["multi", "pipeline"])
def test_pipeline(both: Calls, transaction: bool) -> None:
    pipe = both.client.pipeline(transaction=transaction)
    pipe.set("a", MODEL).get("a").hset("h", mapping={"f": [1]}).hgetall("h")
    pipe.rpush("l", 1, 2).lrange("l", 0, -1).smembers("missing").incr("n")

    results = both.run(pipe.execute())

    assert [True, MODEL, 1, {"f": [1]}, 2, [1, 2], set(), 1] == results


def test_pipeline_keeps_errors_and_undecodable_values(
    both: Calls, raw: redis.Redis, prefix: str
) -> None:
    raw.set(prefix + "bad", b"\xffK\x01\x03\x00\x00{not json")
    raw.rpush(prefix + "list", b"x")
    pipe = both.client.pipeline(transaction=False)
    pipe.get("bad").incr("list").set("ok", 1).get("ok")

    results = both.run(pipe.execute(raise_on_error=False))

    assert "DecodeError" == type(results[0]).__name__
    assert "CommandError" == type(results[1]).__name__
    assert isinstance(results[1].__cause__, redis.ResponseError)
    assert [True, 1] == results[2:]


def test_pipeline_with_watch(both: Calls) -> None:
    both.set("counter", {"n": 1})
    pipe = both.client.pipeline()

    both.run(pipe.watch("counter"))
    current = both.run(pipe.get("counter"))
    pipe.multi()
    pipe.set("counter", {"n": current["n"] + 1})
    pipe.get("counter")
    results = both.run(pipe.execute())

    assert {"n": 1} == current
    assert [True, {"n": 2}] == results
    assert {"n": 2} == both.get("counter")


def test_pipeline_watch_sees_a_change_made_by_another_client(
    both: Calls, raw: redis.Redis, prefix: str
) -> None:
    pipe = both.client.pipeline()
    both.run(pipe.watch("watched"))
    raw.set(prefix + "watched", 1)
    pipe.multi()
    pipe.set("watched", 2)

    with pytest.raises(redis.WatchError):
        both.run(pipe.execute())
    both.run(pipe.reset())


def test_transaction_helper(both: Calls) -> None:
    def increment(pipe: Any) -> None:
        value = pipe.get("t") or 0
        pipe.multi()
        pipe.set("t", value + 1)

    async def aincrement(pipe: Any) -> None:
        value = await pipe.get("t") or 0
        pipe.multi()
        pipe.set("t", value + 1)

    function = increment if both.mode == "sync" else aincrement
    for _ in range(2):
        both.run(both.client.transaction(function, "t"))

    assert 2 == both.get("t")


# -- pub/sub --------------------------------------------------------------------


def test_pubsub_prefixes_channels_and_decodes_messages(
    both: Calls, raw: redis.Redis, prefix: str
) -> None:
    pubsub = both.client.pubsub(ignore_subscribe_messages=True)
    both.run(pubsub.subscribe("news"))
    both.run(pubsub.psubscribe("ne*"))

    assert 2 == raw.publish(prefix + "news", JSON.encode(MODEL))
    messages = [_next_message(both, pubsub) for _ in range(2)]

    by_type = {message["type"]: message for message in messages}
    assert {"type": "message", "pattern": None, "channel": "news", "data": MODEL} == (
        by_type["message"]
    )
    assert ("ne*", "news", MODEL) == (
        by_type["pmessage"]["pattern"],
        by_type["pmessage"]["channel"],
        by_type["pmessage"]["data"],
    )

    both.run(pubsub.unsubscribe())
    both.run(pubsub.punsubscribe())
    both.run(pubsub.aclose() if both.mode == "async" else pubsub.close())


def _next_message(both: Calls, pubsub: Any) -> Any:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        message = both.run(pubsub.get_message(timeout=0.5))
        if message is not None:
            return message
    raise AssertionError("no message arrived")


def test_pubsub_handlers_get_decoded_messages(both: Calls, prefix: str) -> None:
    received: list[Any] = []
    pubsub = both.client.pubsub()
    both.run(pubsub.subscribe(news=received.append))
    both.run(pubsub.get_message(timeout=1))  # the subscribe confirmation

    both.publish("news", MODEL)
    both.run(pubsub.get_message(timeout=1))

    assert [("news", MODEL)] == [(m["channel"], m["data"]) for m in received]
    both.run(pubsub.aclose() if both.mode == "async" else pubsub.close())


async def test_async_pubsub_with_a_coroutine_handler(
    redis_server: Server, json_context: CommandContext
) -> None:
    pool = redis.asyncio.ConnectionPool.from_url(redis_server.url)
    client = AsyncSessionRedis(connection_pool=pool, context=json_context)
    received: list[Any] = []

    async def handler(message: Any) -> None:
        received.append(message["data"])

    pubsub = client.pubsub()
    await pubsub.subscribe(news=handler)
    await pubsub.get_message(timeout=1)
    await client.publish("news", MODEL)  # type: ignore[arg-type]  # any value
    await pubsub.get_message(timeout=1)

    assert [MODEL] == received
    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it bare
    await pool.aclose()


def test_listen_yields_decoded_messages(
    redis_server: Server, json_context: CommandContext
) -> None:
    calls = Calls("sync", redis_server.url, json_context)
    pubsub = calls.client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("events")
    calls.publish("events", [1, 2])
    calls.publish("events", "stop")

    data = []
    for message in pubsub.listen():
        data.append(message["data"])
        if message["data"] == "stop":
            break

    assert [[1, 2], "stop"] == data
    pubsub.close()
    calls.close()


def test_pubsub_channels_and_numsub(both: Calls, raw: redis.Redis, prefix: str) -> None:
    listener = raw.pubsub()  # type: ignore[no-untyped-call]  # redis-py leaves it bare
    listener.subscribe(prefix + "c1")

    assert ["c1"] == both.pubsub_channels()
    assert [("c1", 1), ("c2", 0)] == [tuple(p) for p in both.pubsub_numsub("c1", "c2")]
    listener.close()


# -- locks --------------------------------------------------------------------


def test_lock_prefixes_its_name_and_keeps_a_raw_token(
    redis_server: Server, prefix: str, raw: redis.Redis
) -> None:
    context = CommandContext(JSON, key_prefix=prefix, default_ttl=30)
    calls = Calls("sync", redis_server.url, context)

    lock = calls.client.lock("job", blocking_timeout=1)
    with lock:
        token = raw.get(prefix + "job")
        assert lock.owned()
        assert -1 == raw.ttl(prefix + "job")
        assert calls.client.lock("job", blocking=False).acquire() is False
    assert token is not None
    assert isinstance(token, bytes)
    assert not token.startswith(b"\xffK")  # not a kvdb frame
    assert 0 == raw.exists(prefix + "job")
    calls.close()


async def test_async_lock(redis_server: Server, prefix: str) -> None:
    pool = redis.asyncio.ConnectionPool.from_url(redis_server.url)
    client = AsyncSessionRedis(
        connection_pool=pool, context=CommandContext(JSON, key_prefix=prefix)
    )

    lock = client.lock("job", timeout=10)
    assert await lock.acquire(blocking=False)
    assert await lock.owned()
    assert await client.exists("job")
    await lock.extend(5)
    await lock.release()
    assert not await client.exists("job")
    await pool.aclose()
