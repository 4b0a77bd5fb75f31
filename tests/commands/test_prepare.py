"""`prepare`: key prefixes, patterns, value encoding and the default TTL."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from kvdb.commands import VALUE_COMMANDS, CommandContext, prepare
from kvdb.errors import EncodeError
from tests.commands.support import JSON, PASSTHROUGH

PREFIXED = CommandContext(codec=PASSTHROUGH, key_prefix="p:")


def prepared_args(context: CommandContext, *args: Any) -> list[Any]:
    return prepare(context, args, {}).args


KEY_CASES: dict[str, tuple[tuple[Any, ...], list[Any]]] = {
    "get": (("GET", "k"), ["GET", "p:k"]),
    "lower-case name": (("get", "k"), ["get", "p:k"]),
    "bytes": ((b"GET", b"k"), [b"GET", b"p:k"]),
    "int key": (("GET", 5), ["GET", "p:5"]),
    "float key": (("GET", 1.5), ["GET", "p:1.5"]),
    "memoryview key": (("GET", memoryview(b"k")), ["GET", b"p:k"]),
    "del": (("DEL", "a", "b"), ["DEL", "p:a", "p:b"]),
    "mset": (("MSET", "a", 1, "b", 2), ["MSET", "p:a", 1, "p:b", 2]),
    "blpop": (("BLPOP", "a", "b", 5), ["BLPOP", "p:a", "p:b", 5]),
    "rename": (("RENAME", "a", "b"), ["RENAME", "p:a", "p:b"]),
    "copy": (("COPY", "a", "b", "DB", 1), ["COPY", "p:a", "p:b", "DB", 1]),
    "bitop": (("BITOP", "AND", "d", "a"), ["BITOP", "AND", "p:d", "p:a"]),
    "watch": (("WATCH", "a", "b"), ["WATCH", "p:a", "p:b"]),
    "object apart": (("OBJECT", "ENCODING", "k"), ["OBJECT", "ENCODING", "p:k"]),
    "object help": (("OBJECT", "HELP"), ["OBJECT", "HELP"]),
    "memory usage": (
        ("MEMORY USAGE", "k", "SAMPLES", 5),
        ["MEMORY USAGE", "p:k", "SAMPLES", 5],
    ),
    "xgroup create": (
        ("XGROUP CREATE", "s", "g", "$"),
        ["XGROUP CREATE", "p:s", "g", "$"],
    ),
    "xinfo stream": (("XINFO STREAM", "s"), ["XINFO STREAM", "p:s"]),
    "debug object": (("DEBUG OBJECT", "k"), ["DEBUG OBJECT", "p:k"]),
    "cluster keyslot": (("CLUSTER KEYSLOT", "k"), ["CLUSTER KEYSLOT", "p:k"]),
    "config get": (("CONFIG GET", "maxmemory"), ["CONFIG GET", "maxmemory"]),
    "ping": (("PING",), ["PING"]),
    "migrate one key": (
        ("MIGRATE", "h", 1, "k", 0, 9),
        ["MIGRATE", "h", 1, "p:k", 0, 9],
    ),
    "migrate keys, password KEYS": (
        ("MIGRATE", "h", 1, "", 0, 9, "COPY", "AUTH", "KEYS", "KEYS", "a", "b"),
        ["MIGRATE", "h", 1, "", 0, 9, "COPY", "AUTH", "KEYS", "KEYS", "p:a", "p:b"],
    ),
    "eval": (
        ("EVAL", "return 1", 2, "a", "b", "argv"),
        ["EVAL", "return 1", 2, "p:a", "p:b", "argv"],
    ),
    "evalsha without keys": (("EVALSHA", "sha", 0, "x"), ["EVALSHA", "sha", 0, "x"]),
    "fcall_ro": (("FCALL_RO", "f", 1, "a", "x"), ["FCALL_RO", "f", 1, "p:a", "x"]),
    "zunionstore": (
        ("ZUNIONSTORE", "d", 2, "a", "b", "WEIGHTS", 1, 2),
        ["ZUNIONSTORE", "p:d", 2, "p:a", "p:b", "WEIGHTS", 1, 2],
    ),
    "zinter": (
        ("ZINTER", 2, "a", "b", "WITHSCORES"),
        ["ZINTER", 2, "p:a", "p:b", "WITHSCORES"],
    ),
    "sintercard": (
        ("SINTERCARD", 1, "a", "LIMIT", 1),
        ["SINTERCARD", 1, "p:a", "LIMIT", 1],
    ),
    "lmpop": (("LMPOP", 2, "a", "b", "LEFT"), ["LMPOP", 2, "p:a", "p:b", "LEFT"]),
    "blmpop": (("BLMPOP", 0, 1, "a", "LEFT"), ["BLMPOP", 0, 1, "p:a", "LEFT"]),
    "bzmpop": (("BZMPOP", 1.5, 1, "a", "MIN"), ["BZMPOP", 1.5, 1, "p:a", "MIN"]),
    "xread": (
        ("XREAD", "COUNT", 2, "STREAMS", "a", "b", "0", "0"),
        ["XREAD", "COUNT", 2, "STREAMS", "p:a", "p:b", "0", "0"],
    ),
    "xreadgroup, consumer STREAMS": (
        ("XREADGROUP", "GROUP", "g", "STREAMS", "COUNT", 1, "STREAMS", "a", ">"),
        ["XREADGROUP", "GROUP", "g", "STREAMS", "COUNT", 1, "STREAMS", "p:a", ">"],
    ),
    "sort": (
        ("SORT", "l", "BY", "w_*", "LIMIT", 0, 5, "GET", "#", "GET", "o_*->f"),
        ["SORT", "p:l", "BY", "p:w_*", "LIMIT", 0, 5, "GET", "#", "GET", "p:o_*->f"],
    ),
    "sort store": (("SORT", "l", "STORE", "d"), ["SORT", "p:l", "STORE", "p:d"]),
    "georadius store": (
        ("GEORADIUS", "g", 1, 2, 3, "m", "STORE", "d"),
        ["GEORADIUS", "p:g", 1, 2, 3, "m", "STORE", "p:d"],
    ),
    "georadiusbymember, member STORE": (
        ("GEORADIUSBYMEMBER", "g", "STORE", 3, "m", "STOREDIST", "d"),
        ["GEORADIUSBYMEMBER", "p:g", "STORE", 3, "m", "STOREDIST", "p:d"],
    ),
    "msetex": (
        ("MSETEX", 2, "a", 1, "b", 2, "EX", 5),
        ["MSETEX", 2, "p:a", 1, "p:b", 2, "EX", 5],
    ),
    "hexpire": (
        ("HEXPIRE", "h", 5, "FIELDS", 1, "f"),
        ["HEXPIRE", "p:h", 5, "FIELDS", 1, "f"],
    ),
    "publish": (("PUBLISH", "ch", "m"), ["PUBLISH", "p:ch", "m"]),
    "spublish": (("SPUBLISH", "ch", "m"), ["SPUBLISH", "p:ch", "m"]),
    "subscribe": (("SUBSCRIBE", "a", "b"), ["SUBSCRIBE", "p:a", "p:b"]),
    "ssubscribe": (("SSUBSCRIBE", "a"), ["SSUBSCRIBE", "p:a"]),
    "unsubscribe from all": (("UNSUBSCRIBE",), ["UNSUBSCRIBE"]),
    "pubsub numsub": (
        ("PUBSUB NUMSUB", "a", "b"),
        ["PUBSUB NUMSUB", "p:a", "p:b"],
    ),
    "pubsub numsub apart": (
        ("PUBSUB", "NUMSUB", "a"),
        ["PUBSUB", "NUMSUB", "p:a"],
    ),
    "hscan match is for fields": (
        ("HSCAN", "h", 0, "MATCH", "f*"),
        ["HSCAN", "p:h", 0, "MATCH", "f*"],
    ),
}


@pytest.mark.parametrize(
    ("args", "expected"), list(KEY_CASES.values()), ids=list(KEY_CASES)
)
def test_prefixes_the_keys(args: tuple[Any, ...], expected: list[Any]) -> None:
    assert expected == prepared_args(PREFIXED, *args)


GLOB_PREFIX = CommandContext(codec=PASSTHROUGH, key_prefix="a*[b]?\\:")
ESCAPED = "a\\*\\[b\\]\\?\\\\:"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("KEYS", "x*"), ["KEYS", ESCAPED + "x*"]),
        (("KEYS",), ["KEYS", ESCAPED + "*"]),
        (("SCAN", 0), ["SCAN", 0, "MATCH", ESCAPED + "*"]),
        (("SCAN", 0, "COUNT", 9), ["SCAN", 0, "COUNT", 9, "MATCH", ESCAPED + "*"]),
        (("SCAN", 0, b"MATCH", b"x*"), ["SCAN", 0, b"MATCH", ESCAPED.encode() + b"x*"]),
        (("PSUBSCRIBE", "n.*"), ["PSUBSCRIBE", ESCAPED + "n.*"]),
        (("PUBSUB CHANNELS",), ["PUBSUB CHANNELS", ESCAPED + "*"]),
        (("PUBSUB", "CHANNELS", "n*"), ["PUBSUB", "CHANNELS", ESCAPED + "n*"]),
        (("GET", "k"), ["GET", "a*[b]?\\:k"]),
    ],
    ids=[
        "keys",
        "keys without a pattern",
        "scan without match",
        "scan with count",
        "scan bytes match",
        "psubscribe",
        "pubsub channels",
        "pubsub channels apart",
        "a key is not escaped",
    ],
)
def test_escapes_the_prefix_in_patterns(
    args: tuple[Any, ...], expected: list[Any]
) -> None:
    assert expected == prepared_args(GLOB_PREFIX, *args)


ENCODING = CommandContext(codec=JSON)
V, W = {"v": 1}, ["w"]


def e(value: Any) -> bytes:
    encoded: bytes = JSON.encode(value)
    return encoded


VALUE_CASES: dict[str, tuple[tuple[Any, ...], list[Any]]] = {
    "set": (("SET", "k", V, "EX", 5), ["SET", "k", e(V), "EX", 5]),
    "set ifeq": (("SET", "k", V, "IFEQ", W), ["SET", "k", e(V), "IFEQ", e(W)]),
    "setnx": (("SETNX", "k", V), ["SETNX", "k", e(V)]),
    "setex": (("SETEX", "k", 5, V), ["SETEX", "k", 5, e(V)]),
    "psetex": (("PSETEX", "k", 5, V), ["PSETEX", "k", 5, e(V)]),
    "getset": (("GETSET", "k", V), ["GETSET", "k", e(V)]),
    "mset": (("MSET", "a", V, "b", W), ["MSET", "a", e(V), "b", e(W)]),
    "msetnx": (("MSETNX", "a", V), ["MSETNX", "a", e(V)]),
    "msetex": (
        ("MSETEX", 2, "a", V, "b", W, "NX", "EX", 5),
        ["MSETEX", 2, "a", e(V), "b", e(W), "NX", "EX", 5],
    ),
    "delex": (("DELEX", "k", "IFNE", V), ["DELEX", "k", "IFNE", e(V)]),
    "hset": (("HSET", "h", "f", V, "g", W), ["HSET", "h", "f", e(V), "g", e(W)]),
    "hmset": (("HMSET", "h", "f", V), ["HMSET", "h", "f", e(V)]),
    "hsetnx": (("HSETNX", "h", "f", V), ["HSETNX", "h", "f", e(V)]),
    "hsetex": (
        ("HSETEX", "h", "FNX", "EX", 5, "FIELDS", 2, "f", V, "g", W),
        ["HSETEX", "h", "FNX", "EX", 5, "FIELDS", 2, "f", e(V), "g", e(W)],
    ),
    "lpush": (("LPUSH", "l", V, W), ["LPUSH", "l", e(V), e(W)]),
    "rpushx": (("RPUSHX", "l", V), ["RPUSHX", "l", e(V)]),
    "lset": (("LSET", "l", 0, V), ["LSET", "l", 0, e(V)]),
    "lrem": (("LREM", "l", 0, V), ["LREM", "l", 0, e(V)]),
    "linsert": (
        ("LINSERT", "l", "BEFORE", V, W),
        ["LINSERT", "l", "BEFORE", e(V), e(W)],
    ),
    "lpos": (("LPOS", "l", V, "RANK", 1), ["LPOS", "l", e(V), "RANK", 1]),
    "sadd": (("SADD", "s", V, W), ["SADD", "s", e(V), e(W)]),
    "srem": (("SREM", "s", V), ["SREM", "s", e(V)]),
    "sismember": (("SISMEMBER", "s", V), ["SISMEMBER", "s", e(V)]),
    "smismember": (("SMISMEMBER", "s", V, W), ["SMISMEMBER", "s", e(V), e(W)]),
    "smove": (("SMOVE", "a", "b", V), ["SMOVE", "a", "b", e(V)]),
    "zadd": (("ZADD", "z", 1, V, 2, W), ["ZADD", "z", 1, e(V), 2, e(W)]),
    "zadd flags": (
        ("ZADD", "z", b"XX", b"GT", b"CH", 1, V),
        ["ZADD", "z", b"XX", b"GT", b"CH", 1, e(V)],
    ),
    "zadd incr": (("ZADD", "z", "INCR", 1, V), ["ZADD", "z", "INCR", 1, e(V)]),
    "zincrby": (("ZINCRBY", "z", 1, V), ["ZINCRBY", "z", 1, e(V)]),
    "zscore": (("ZSCORE", "z", V), ["ZSCORE", "z", e(V)]),
    "zrank withscore": (
        ("ZRANK", "z", V, "WITHSCORE"),
        ["ZRANK", "z", e(V), "WITHSCORE"],
    ),
    "zrevrank": (("ZREVRANK", "z", V), ["ZREVRANK", "z", e(V)]),
    "zmscore": (("ZMSCORE", "z", V, W), ["ZMSCORE", "z", e(V), e(W)]),
    "zrem": (("ZREM", "z", V), ["ZREM", "z", e(V)]),
    "xadd": (("XADD", "s", "*", "f", V), ["XADD", "s", "*", "f", e(V)]),
    "xadd options": (
        ("XADD", "s", b"NOMKSTREAM", b"MAXLEN", b"~", "9", b"LIMIT", 5, "1-1", "f", V),
        [
            "XADD",
            "s",
            b"NOMKSTREAM",
            b"MAXLEN",
            b"~",
            "9",
            b"LIMIT",
            5,
            "1-1",
            "f",
            e(V),
        ],
    ),
    "xadd minid": (
        ("XADD", "s", b"MINID", "0-1", "*", "f", V),
        ["XADD", "s", b"MINID", "0-1", "*", "f", e(V)],
    ),
    "xadd idmp": (
        ("XADD", "s", b"KEEPREF", b"IDMP", "p", "i", "*", "f", V),
        ["XADD", "s", b"KEEPREF", b"IDMP", "p", "i", "*", "f", e(V)],
    ),
    "publish": (("PUBLISH", "ch", V), ["PUBLISH", "ch", e(V)]),
    "spublish": (("SPUBLISH", "ch", V), ["SPUBLISH", "ch", e(V)]),
    # Raw-byte commands, script arguments and other members stay as given.
    "append": (("APPEND", "k", "x"), ["APPEND", "k", "x"]),
    "setrange": (("SETRANGE", "k", 0, "x"), ["SETRANGE", "k", 0, "x"]),
    "incrbyfloat": (("INCRBYFLOAT", "k", 1.5), ["INCRBYFLOAT", "k", 1.5]),
    "hincrby": (("HINCRBY", "h", "f", 1), ["HINCRBY", "h", "f", 1]),
    "eval argv": (("EVAL", "s", 1, "k", "a"), ["EVAL", "s", 1, "k", "a"]),
    "geoadd": (("GEOADD", "g", 1, 2, "m"), ["GEOADD", "g", 1, 2, "m"]),
    "pfadd": (("PFADD", "p", "x"), ["PFADD", "p", "x"]),
}


@pytest.mark.parametrize(
    ("args", "expected"), list(VALUE_CASES.values()), ids=list(VALUE_CASES)
)
def test_encodes_the_values(args: tuple[Any, ...], expected: list[Any]) -> None:
    assert expected == prepared_args(ENCODING, *args)


def test_names_each_value_by_its_own_key_in_errors() -> None:
    with pytest.raises(EncodeError, match="'b'"):
        prepared_args(ENCODING, "MSET", "a", 1, "b", object())


TTL = CommandContext(codec=PASSTHROUGH, default_ttl=2.5)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("SET", "k", "v"), ["SET", "k", "v", "PX", 2500]),
        (("SET", "k", "v", "NX", "GET"), ["SET", "k", "v", "NX", "GET", "PX", 2500]),
        (("SET", "k", "v", "EX", 5), ["SET", "k", "v", "EX", 5]),
        (("SET", "k", "v", b"px", 5), ["SET", "k", "v", b"px", 5]),
        (("SET", "k", "v", "EXAT", 9), ["SET", "k", "v", "EXAT", 9]),
        (("SET", "k", "v", "KEEPTTL"), ["SET", "k", "v", "KEEPTTL"]),
        (("SET", "k", "EX"), ["SET", "k", "EX", "PX", 2500]),
        (("SETNX", "k", "v"), ["SET", "k", "v", "NX", "PX", 2500]),
        (("GETSET", "k", "v"), ["SET", "k", "v", "GET", "PX", 2500]),
        (("MSET", "a", "v"), ["MSET", "a", "v"]),
        (("HSET", "h", "f", "v"), ["HSET", "h", "f", "v"]),
        (("SETEX", "k", 5, "v"), ["SETEX", "k", 5, "v"]),
    ],
    ids=[
        "set",
        "set nx get",
        "set ex",
        "set px in lower case",
        "set exat",
        "set keepttl",
        "set a value named EX",
        "setnx",
        "getset",
        "mset is left alone",
        "hset is left alone",
        "setex",
    ],
)
def test_applies_the_default_ttl(args: tuple[Any, ...], expected: list[Any]) -> None:
    assert expected == prepared_args(TTL, *args)


@pytest.mark.parametrize(
    ("reply", "expected"), [(True, True), (None, False)], ids=["set", "not set"]
)
def test_setnx_with_a_ttl_still_answers_a_bool(reply: Any, expected: bool) -> None:
    assert expected == prepare(TTL, ("SETNX", "k", "v"), {}).finish(reply)


def test_getset_with_a_ttl_asks_redis_py_for_the_old_value() -> None:
    prepared = prepare(TTL, ("GETSET", "k", "v"), {})

    assert {"get": True} == prepared.options
    assert b"old" == prepared.finish(b"old")


def test_a_trivial_context_changes_nothing() -> None:
    context = CommandContext(codec=PASSTHROUGH)
    prepared = prepare(context, ("SET", "k", "v"), {"x": 1})

    assert context.trivial
    assert ["SET", "k", "v"] == prepared.args
    assert {"x": 1} == prepared.options
    assert b"v" == prepared.finish(b"v")


@pytest.mark.parametrize(
    "context",
    [
        CommandContext(codec=JSON),
        CommandContext(codec=PASSTHROUGH, key_prefix="p"),
        CommandContext(codec=PASSTHROUGH, decode_responses=True),
        CommandContext(codec=PASSTHROUGH, default_ttl=1),
    ],
    ids=["codec", "prefix", "decode_responses", "default_ttl"],
)
def test_a_context_with_work_to_do_is_not_trivial(context: CommandContext) -> None:
    assert not context.trivial


def test_prefixes_the_cache_keys_without_changing_the_callers_options() -> None:
    options = {"keys": ["k"]}
    prepared = prepare(PREFIXED, ("GET", "k"), options)

    assert ["p:k"] == prepared.options["keys"]
    assert {"keys": ["k"]} == options


def test_warns_once_about_a_command_whose_keys_it_does_not_know(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="kvdb"):
        first = prepared_args(PREFIXED, "X.UNKNOWNCMD", "k")
        prepared_args(PREFIXED, "X.UNKNOWNCMD", "k")

    assert ["X.UNKNOWNCMD", "k"] == first
    warnings = [r for r in caplog.records if "X.UNKNOWNCMD" in r.getMessage()]
    assert 1 == len(warnings)


def test_does_not_warn_about_unknown_commands_without_a_prefix(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="kvdb"):
        prepared_args(ENCODING, "X.OTHERCMD", "k")

    assert [] == caplog.records


def test_lock_context_keeps_the_prefix_and_nothing_else() -> None:
    context = CommandContext(
        codec=JSON, key_prefix="p:", decode_responses=True, default_ttl=5
    ).for_locks()

    assert ["SET", "p:lock", "token", "NX"] == prepared_args(
        context, "SET", "lock", "token", "NX"
    )
    assert b"token" == prepare(context, ("GET", "lock"), {}).finish(b"token")


def test_value_commands_cover_the_documented_groups() -> None:
    documented = {
        "SET", "GET", "GETSET", "GETDEL", "GETEX", "MGET", "MSET", "MSETNX",
        "SETNX", "SETEX", "PSETEX", "HSET", "HGET", "HMGET", "HGETALL", "HVALS",
        "HSETNX", "HSCAN", "HRANDFIELD", "LPUSH", "RPUSH", "LPUSHX", "RPUSHX",
        "LPOP", "RPOP", "LRANGE", "LINDEX", "LSET", "LREM", "LINSERT", "LPOS",
        "BLPOP", "BRPOP", "LMOVE", "BLMOVE", "RPOPLPUSH", "LMPOP", "SADD", "SREM",
        "SMEMBERS", "SISMEMBER", "SMISMEMBER", "SMOVE", "SPOP", "SRANDMEMBER",
        "SINTER", "SUNION", "SDIFF", "SSCAN", "ZADD", "ZRANGE", "ZRANGEBYSCORE",
        "ZREVRANGE", "ZSCORE", "ZRANK", "ZMSCORE", "XADD", "XRANGE", "XREVRANGE",
        "XREAD", "XREADGROUP", "XCLAIM", "XAUTOCLAIM", "PUBLISH",
    }  # fmt: skip

    assert set() == documented - VALUE_COMMANDS
    assert not {"APPEND", "GETRANGE", "SETRANGE", "INCRBYFLOAT"} & VALUE_COMMANDS
