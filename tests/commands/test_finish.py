"""`PreparedCommand.finish` and `finish_message`, on replies of every shape.

The replies are what redis-py's response callbacks return: RESP2 shapes
(tuples, flat pairs), RESP3 ones (nested lists, dicts) and the unified ones
of `legacy_responses=False`.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from kvdb.commands import CommandContext, finish_message, prepare
from kvdb.errors import DecodeError
from tests.commands.support import JSON, PASSTHROUGH, make_codec

CONTEXT = CommandContext(codec=JSON, key_prefix="p:")
BAD = b"\xffK\x01\x03\x00\x00{not json"  # a json frame that does not decode


def e(value: Any) -> bytes:
    encoded: bytes = JSON.encode(value)
    return encoded


def finish(
    args: tuple[Any, ...],
    reply: Any,
    context: CommandContext = CONTEXT,
    **options: Any,
) -> Any:
    return prepare(context, args, options).finish(reply)


A, B = {"a": 1}, [2, "b"]

REPLIES: dict[str, tuple[tuple[Any, ...], Any, Any]] = {
    "get": (("GET", "k"), e(A), A),
    "get a miss": (("GET", "k"), None, None),
    "get raw bytes of another writer": (("GET", "k"), b"12", 12),
    "set with get": (("SET", "k", 1, "GET"), e(A), A),
    "set": (("SET", "k", 1), True, True),
    "mget": (("MGET", "a", "b", "c"), [e(A), None, e(B)], [A, None, B]),
    "hget": (("HGET", "h", "f"), e(A), A),
    "hgetall": (("HGETALL", "h"), {b"f": e(A), b"g": e(B)}, {"f": A, "g": B}),
    "hkeys": (("HKEYS", "h"), [b"f", b"g"], ["f", "g"]),
    "hvals": (("HVALS", "h"), [e(A), e(B)], [A, B]),
    "hscan": (("HSCAN", "h", 0), (0, {b"f": e(A)}), (0, {"f": A})),
    "hscan novalues": (("HSCAN", "h", 0, "NOVALUES"), (0, [b"f"]), (0, ["f"])),
    "hrandfield": (("HRANDFIELD", "h"), b"f", "f"),
    "hrandfield count": (("HRANDFIELD", "h", 2), [b"f", b"g"], ["f", "g"]),
    "hrandfield withvalues, flat": (
        ("HRANDFIELD", "h", 1, "WITHVALUES"),
        [b"f", e(A)],
        ["f", A],
    ),
    "hrandfield withvalues, nested": (
        ("HRANDFIELD", "h", 1, "WITHVALUES"),
        [[b"f", e(A)]],
        [["f", A]],
    ),
    "lpop": (("LPOP", "l"), e(A), A),
    "lpop count": (("LPOP", "l", 2), [e(A), e(B)], [A, B]),
    "lpop count, empty": (("LPOP", "l", 2), None, None),
    "lrange": (("LRANGE", "l", 0, -1), [e(A)], [A]),
    "lmove": (("LMOVE", "a", "b", "LEFT", "RIGHT"), e(A), A),
    "blpop, tuple": (("BLPOP", "a", 0), (b"p:a", e(A)), ("a", A)),
    "blpop, list": (("BLPOP", "a", 0), [b"p:a", e(A)], ["a", A]),
    "blpop timed out": (("BLPOP", "a", 1), None, None),
    "lmpop": (("LMPOP", 1, "a", "LEFT"), [b"p:a", [e(A), e(B)]], ["a", [A, B]]),
    "sort": (("SORT", "l"), [e(A), e(B)], [A, B]),
    "sort groups": (("SORT", "l", "GET", "#", "GET", "w"), [(e(A), e(B))], [(A, B)]),
    "sort store": (("SORT", "l", "STORE", "d"), 2, 2),
    "smembers": (("SMEMBERS", "s"), {e(1), e("x")}, {1, "x"}),
    "smembers of dicts": (("SMEMBERS", "s"), {e(A)}, [A]),
    "spop count": (("SPOP", "s", 2), [e(1), e(2)], [1, 2]),
    "sscan": (("SSCAN", "s", 0), (5, [e(A)]), (5, [A])),
    "zrange": (("ZRANGE", "z", 0, -1), [e(A), e(B)], [A, B]),
    "zrange withscores, tuples": (
        ("ZRANGE", "z", 0, -1, "WITHSCORES"),
        [(e(A), 1.0)],
        [(A, 1.0)],
    ),
    "zrange withscores, lists": (
        ("ZRANGE", "z", 0, -1, "WITHSCORES"),
        [[e(A), 1.0]],
        [[A, 1.0]],
    ),
    "zrange withscores, flat": (
        ("ZRANGE", "z", 0, -1, "WITHSCORES"),
        [e(A), b"1"],
        [A, b"1"],
    ),
    "zrandmember": (("ZRANDMEMBER", "z"), e(A), A),
    "zpopmin, tuples": (("ZPOPMIN", "z"), [(e(A), 1.0)], [(A, 1.0)]),
    "zpopmin, resp3 without count": (("ZPOPMIN", "z"), [e(A), 1.0], [A, 1.0]),
    "zscan": (("ZSCAN", "z", 0), (0, [(e(A), 1.0)]), (0, [(A, 1.0)])),
    "bzpopmin": (("BZPOPMIN", "z", 0), (b"p:z", e(A), 1.0), ("z", A, 1.0)),
    "zmpop": (
        ("ZMPOP", 1, "z", "MIN"),
        [b"p:z", [[e(A), 1.0]]],
        ["z", [[A, 1.0]]],
    ),
    "zscore": (("ZSCORE", "z", 1), 1.5, 1.5),
    "xrange": (
        ("XRANGE", "s", "-", "+"),
        [(b"1-0", {b"f": e(A)}), (None, None)],
        [("1-0", {"f": A}), (None, None)],
    ),
    "xread, resp2": (
        ("XREAD", "STREAMS", "s", "0"),
        [[b"p:s", [(b"1-0", {b"f": e(A)})]]],
        [["s", [("1-0", {"f": A})]]],
    ),
    "xread, resp3": (
        ("XREAD", "STREAMS", "s", "0"),
        {b"p:s": [[(b"1-0", {b"f": e(A)})]]},
        {"s": [[("1-0", {"f": A})]]},
    ),
    "xread, unified": (
        ("XREAD", "STREAMS", "s", "0"),
        {b"p:s": [(b"1-0", {b"f": e(A)})]},
        {"s": [("1-0", {"f": A})]},
    ),
    "xreadgroup claim": (
        ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"),
        [[b"p:s", [(b"1-0", {b"f": e(A)}, 5, 1)]]],
        [["s", [("1-0", {"f": A}, 5, 1)]]],
    ),
    "xclaim": (
        ("XCLAIM", "s", "g", "c", 0, "1-0"),
        [(b"1-0", {b"f": e(A)})],
        [("1-0", {"f": A})],
    ),
    "xclaim justid": (
        ("XCLAIM", "s", "g", "c", 0, "1-0", "JUSTID"),
        [b"1-0"],
        ["1-0"],
    ),
    "xautoclaim": (
        ("XAUTOCLAIM", "s", "g", "c", 0, "0-0"),
        [b"0-0", [(b"1-0", {b"f": e(A)})], [b"2-0"]],
        ["0-0", [("1-0", {"f": A})], ["2-0"]],
    ),
    "scan": (("SCAN", 0), (7, [b"p:a", b"p:b"]), (7, ["a", "b"])),
    "keys": (("KEYS", "*"), [b"p:a"], ["a"]),
    "randomkey of another namespace": (("RANDOMKEY",), b"other", "other"),
    "pubsub channels": (("PUBSUB CHANNELS",), [b"p:c"], ["c"]),
    "pubsub numsub": (("PUBSUB NUMSUB", "c"), [(b"p:c", 2)], [("c", 2)]),
    "type": (("TYPE", "k"), b"string", b"string"),
    "incrbyfloat": (("INCRBYFLOAT", "k", 1), 2.5, 2.5),
}


@pytest.mark.parametrize(
    ("args", "reply", "expected"), list(REPLIES.values()), ids=list(REPLIES)
)
def test_decodes_values_and_unprefixes_names(
    args: tuple[Any, ...], reply: Any, expected: Any
) -> None:
    assert expected == finish(args, reply)


PREFIX_ONLY = CommandContext(codec=PASSTHROUGH, key_prefix="p:")


@pytest.mark.parametrize(
    ("args", "reply", "expected"),
    [
        (("GET", "k"), b"v", b"v"),
        (("SCAN", 0), (0, [b"p:a"]), (0, [b"a"])),
        (("BLPOP", "a", 0), (b"p:a", b"v"), (b"a", b"v")),
        (("ZMPOP", 1, "z", "MIN"), [b"p:z", [[b"m", 1.0]]], [b"z", [[b"m", 1.0]]]),
        (("XREAD", "STREAMS", "s", "0"), [[b"p:s", []]], [[b"s", []]]),
        (("HGETALL", "h"), {b"f": b"v"}, {b"f": b"v"}),
    ],
    ids=["get", "scan", "blpop", "zmpop", "xread", "hgetall"],
)
def test_without_a_codec_only_names_change(
    args: tuple[Any, ...], reply: Any, expected: Any
) -> None:
    assert expected == finish(args, reply, PREFIX_ONLY)


TEXT = CommandContext(codec=PASSTHROUGH, decode_responses=True)


@pytest.mark.parametrize(
    ("args", "reply", "expected"),
    [
        (("GET", "k"), b"v", "v"),
        (("GET", "k"), b"\xff", b"\xff"),
        (("HGETALL", "h"), {b"f": b"v"}, {"f": "v"}),
        (("SMEMBERS", "s"), {b"a"}, {"a"}),
        (("ZRANGE", "z", 0, 1, "WITHSCORES"), [(b"m", 1.0)], [("m", 1.0)]),
        (("TYPE", "k"), b"hash", "hash"),
    ],
    ids=["get", "not utf-8", "hgetall", "smembers", "zrange", "type"],
)
def test_decode_responses_turns_bytes_into_str(
    args: tuple[Any, ...], reply: Any, expected: Any
) -> None:
    assert expected == finish(args, reply, TEXT)


def test_decode_responses_leaves_dump_alone() -> None:
    assert b"\x00dump" == finish(("DUMP", "k"), b"\x00dump", TEXT, NEVER_DECODE=[])


def test_decode_responses_leaves_decoded_values_alone() -> None:
    context = CommandContext(codec=JSON, decode_responses=True)

    assert b"raw" == finish(("GET", "k"), e(b"raw"), context)
    assert "string" == finish(("TYPE", "k"), b"string", context)


@pytest.mark.parametrize(
    "reply",
    [{b"\x00x", b"y"}, [b"y"]],
    ids=["set", "list"],
)
def test_decode_responses_keeps_the_container_types(reply: Any) -> None:
    finished = finish(("SMEMBERS", "s"), reply, TEXT)

    assert type(reply) is type(finished)


def test_a_bad_value_raises_by_default() -> None:
    with pytest.raises(DecodeError, match="'k'"):
        finish(("GET", "k"), BAD)


def test_miss_reads_a_bad_value_as_none_and_names_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    context = CommandContext(
        codec=make_codec(serializer="json", on_decode_error="miss"),
        key_prefix="p:",
        session_name="cache",
    )

    with caplog.at_level(logging.WARNING, logger="kvdb"):
        prepared = prepare(context, ("MGET", "a", "b"), {})
        assert [None, A] == prepared.finish([BAD, e(A)])

    assert [] == prepared.bad_keys
    assert "'a'" in caplog.text
    assert "cache" in caplog.text


def test_delete_lists_whole_values_for_deletion() -> None:
    context = CommandContext(
        codec=make_codec(serializer="json", on_decode_error="delete"),
        key_prefix="p:",
    )

    mget = prepare(context, ("MGET", "a", "b"), {})
    hget = prepare(context, ("HGET", "h", "f"), {})

    assert [None, None] == mget.finish([BAD, BAD])
    assert [b"p:a", b"p:b"] == mget.bad_keys
    assert None is hget.finish(BAD)
    assert [] == hget.bad_keys


MESSAGES: dict[str, tuple[list[Any], list[Any]]] = {
    "message": ([b"message", b"p:c", e(A)], [b"message", "c", A]),
    "pmessage": (
        [b"pmessage", b"p\\*:n*", b"p*:news", e(A)],
        [b"pmessage", "n*", "news", A],
    ),
    "smessage": ([b"smessage", b"p*:c", e(B)], [b"smessage", "c", B]),
    "subscribe": ([b"subscribe", b"p*:c", 1], [b"subscribe", "c", 1]),
    "punsubscribe": ([b"punsubscribe", b"p\\*:n*", 0], [b"punsubscribe", "n*", 0]),
    "pong": ([b"pong", b""], [b"pong", b""]),
}


@pytest.mark.parametrize(
    ("message", "expected"), list(MESSAGES.values()), ids=list(MESSAGES)
)
def test_finishes_pubsub_messages(message: list[Any], expected: list[Any]) -> None:
    context = CommandContext(codec=JSON, key_prefix="p*:")
    if message[0] == b"message":
        context = CONTEXT

    assert expected == finish_message(context, message)


def test_pubsub_messages_without_a_codec_keep_bytes_unless_asked() -> None:
    message = [b"message", b"p:c", b"data"]

    assert [b"message", b"c", b"data"] == finish_message(PREFIX_ONLY, message)
    assert [b"message", "c", "data"] == finish_message(
        CommandContext(codec=PASSTHROUGH, key_prefix="p:", decode_responses=True),
        message,
    )
