"""Decoding any bytes returns a value or raises `DecodeError`, and never hangs.

The default run tries a few examples of each kind; the `slow` runs try many.
Sessions here cap decompression at 1 MiB, so that a frame that declares a
large size costs little to refuse.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import msgpack
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvdb.codecs import Codec, _frame
from kvdb.codecs._typed import TAGS
from kvdb.errors import DecodeError
from tests.codecs.support import FAST, SERIALIZERS, SLOW, make_codec, values

SESSIONS: dict[str, dict[str, Any]] = {
    **{
        name: {**settings, "compression": "zstd"}
        for name, settings in SERIALIZERS.items()
    },
    "pickle-signed": {"serializer": "pickle", "signing_key": "0123456789abcdef-secret"},
}


def _codec(session: str) -> Codec:
    return make_codec(
        **SESSIONS[session],
        compression_threshold=64,
        max_decompressed_size=1024 * 1024,
    )


def _decode(codec: Codec, data: bytes) -> None:
    """Decode `data`; any exception but `DecodeError` fails the test."""
    with contextlib.suppress(DecodeError):
        codec.decode(data, "fuzz")


headers = st.builds(
    _frame.header,
    serializer=st.integers(0, 7),
    compressor=st.integers(0, 8),
    flags=st.integers(0, 3),
)
any_bytes = st.binary(max_size=256) | st.binary(max_size=64).map(_frame.MAGIC.__add__)
framed_bytes = st.builds(bytes.__add__, headers, st.binary(max_size=256))


@st.composite
def damaged_frames(draw: st.DrawFn, session: str) -> bytes:
    """A valid frame of `session`, cut short or with one bit flipped."""
    value = draw(values())
    if draw(st.booleans()):
        value = [value, "padding " * 20]  # long enough to be compressed
    data: bytes = _codec(session).encode(value)

    if draw(st.booleans()):
        return data[: draw(st.integers(0, len(data) - 1))]
    index = draw(st.integers(0, len(data) - 1))
    flipped = data[index] ^ (1 << draw(st.integers(0, 7)))
    return data[:index] + bytes((flipped,)) + data[index + 1 :]


# Names a frame may ask for. `antigravity` and `this` are stdlib modules with
# visible side effects on import; no test imports them otherwise.
NEVER_IMPORTED = ("antigravity", "this", "kvdb_fuzz_absent")
class_names = st.sampled_from(
    [f"{module}:X" for module in NEVER_IMPORTED]
    + [
        "os:system",
        "builtins:dict",
        "tests.codecs.support:User",
        "tests.codecs.support:Color",
        "tests.codecs.support:Pair",
        "registered-nowhere",
        "Europe/Paris",
    ]
)
tree_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | class_names
)


def _tree_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = st.sampled_from(sorted(TAGS)) | st.text(max_size=3)
    return st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=2)


trees = st.recursive(tree_leaves, _tree_containers, max_leaves=12)


def _typed_frames(tree: Any) -> list[bytes]:
    head_json = _frame.header(_frame.JSON, 0, _frame.TYPED)
    head_msgpack = _frame.header(_frame.MSGPACK, 0, _frame.TYPED)
    return [head_json + orjson.dumps(tree), head_msgpack + msgpack.packb(tree)]


def _check_trees(session: str, tree: Any) -> None:
    codec = _codec(session)
    for data in _typed_frames(tree):
        _decode(codec, data)

    for module in NEVER_IMPORTED:
        assert module not in sys.modules


parametrize_sessions = pytest.mark.parametrize("session", SESSIONS)


@parametrize_sessions
@FAST
@given(data=any_bytes)
def test_any_bytes(session: str, data: bytes) -> None:
    _decode(_codec(session), data)


@parametrize_sessions
@FAST
@given(data=framed_bytes)
def test_any_bytes_behind_a_valid_header(session: str, data: bytes) -> None:
    _decode(_codec(session), data)


@parametrize_sessions
@FAST
@given(tree=trees)
def test_any_tagged_tree(session: str, tree: Any) -> None:
    _check_trees(session, tree)


@parametrize_sessions
@FAST
@given(data=st.data())
def test_damaged_frames(session: str, data: st.DataObject) -> None:
    _decode(_codec(session), data.draw(damaged_frames(session)))


@pytest.mark.slow
@parametrize_sessions
@SLOW
@given(data=any_bytes | framed_bytes)
def test_any_bytes_many(session: str, data: bytes) -> None:
    _decode(_codec(session), data)


@pytest.mark.slow
@parametrize_sessions
@SLOW
@given(tree=trees)
def test_any_tagged_tree_many(session: str, tree: Any) -> None:
    _check_trees(session, tree)


@pytest.mark.slow
@parametrize_sessions
@SLOW
@given(data=st.data())
def test_damaged_frames_many(session: str, data: st.DataObject) -> None:
    _decode(_codec(session), data.draw(damaged_frames(session)))
