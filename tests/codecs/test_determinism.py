"""Equal values encode to equal bytes, so member commands find what was stored."""

from __future__ import annotations

import datetime as dt
import os
import pickle
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvdb.codecs._serializers import PICKLE_LIBRARIES, PickleSerializer
from tests.codecs.support import (
    FAST,
    SERIALIZERS,
    Box,
    Pair,
    Point,
    User,
    hashable_scalars,
    make_codec,
    values,
)

TEXT_FORMATS = [name for name in SERIALIZERS if not name.startswith("pickle")]

LOOKALIKES: dict[str, Any] = {
    "ints": list(range(1000)),
    "floats": [n * 0.37 for n in range(1000)],
    "CJK text": ["亏损"],
    "bytes": (b"\x8f\x91",),
    "a dataclass of ints": Point(143, 145),
}
"""Values whose pickles hold the bytes of the set opcodes, but no set."""

HOLDERS: dict[str, Any] = {
    "set": {1},
    "frozenset in a list": [frozenset({"a"})],
    "set in a dict in a tuple": ({"k": {1.5}},),
    "set in a dataclass": Pair({1}, None),
    "model": User(id=1, name="a", created=dt.datetime(2024, 1, 1)),
    "model in a list": [Box(content=1)],
}
"""Values whose pickles hold a set (a model's state holds its fields set)."""


@pytest.mark.parametrize("serializer", SERIALIZERS)
@FAST
@given(value=values())
def test_encoding_twice_gives_the_same_bytes(serializer: str, value: Any) -> None:
    codec = make_codec(**SERIALIZERS[serializer])

    assert codec.encode(value) == codec.encode(value)


@pytest.mark.parametrize("serializer", TEXT_FORMATS)
@FAST
@given(value=values())
def test_a_decoded_value_encodes_as_it_was_stored(serializer: str, value: Any) -> None:
    codec = make_codec(**SERIALIZERS[serializer])

    data = codec.encode(value)

    assert data == codec.encode(codec.decode(data))


@pytest.mark.parametrize("serializer", SERIALIZERS)
@FAST
@given(
    members=st.lists(hashable_scalars(), min_size=2, max_size=12, unique=True),
    noise=st.integers(20, 60),
)
def test_equal_sets_built_differently_encode_alike(
    serializer: str, members: list[Any], noise: int
) -> None:
    codec = make_codec(**SERIALIZERS[serializer])
    forward = set(members)
    # Growing then shrinking a set changes its table, so its iteration order.
    # Tuples are never members: none is equal to one, as 0 would be to False.
    extra = {("noise", n) for n in range(noise)}
    backward = set(extra)
    for member in reversed(members):
        backward.add(member)
    backward -= extra

    assert forward == backward
    assert codec.encode(forward) == codec.encode(backward)
    assert codec.encode(frozenset(forward)) == codec.encode(frozenset(backward))
    assert codec.encode([forward]) == codec.encode([backward])


_ENCODE_SETS = textwrap.dedent(
    """
    import sys
    from kvdb.codecs import build_codec
    from kvdb.settings.models import SessionSettings
    from tests.codecs.support import SERIALIZERS

    words = {f"member-{n}" for n in range(40)}
    value = {"set": words, "frozen": frozenset(words), "nested": [{frozenset(words)}]}
    for name, settings in SERIALIZERS.items():
        codec = build_codec(SessionSettings(**settings))
        sys.stdout.write(name + " " + codec.encode(value).hex() + "\\n")
    """
)


def test_sets_encode_alike_in_processes_with_other_hash_seeds() -> None:
    outputs = []
    for seed in ("1", "2"):
        result = subprocess.run(
            [sys.executable, "-c", _ENCODE_SETS],
            capture_output=True,
            check=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        outputs.append(result.stdout.splitlines())

    assert len(SERIALIZERS) == len(outputs[0])
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("picklelib", PICKLE_LIBRARIES)
@pytest.mark.parametrize("value", LOOKALIKES.values(), ids=LOOKALIKES.keys())
def test_set_opcode_bytes_are_not_taken_for_a_set(picklelib: str, value: Any) -> None:
    serializer = PickleSerializer(PICKLE_LIBRARIES[picklelib]())

    body, _ = serializer.dumps(value)

    assert b"\x8f" in body or b"\x91" in body
    assert not serializer._holds_set(value)


@pytest.mark.parametrize("picklelib", PICKLE_LIBRARIES)
@pytest.mark.parametrize("value", HOLDERS.values(), ids=HOLDERS.keys())
def test_a_set_is_found_wherever_it_is(picklelib: str, value: Any) -> None:
    serializer = PickleSerializer(PICKLE_LIBRARIES[picklelib]())

    assert serializer._holds_set(value)


def test_a_value_only_protocol_5_pickles_is_stored_canonically() -> None:
    codec = make_codec(serializer="pickle")

    data = codec.encode(pickle.PickleBuffer(b"\x8f\x91"))

    assert b"\x8f\x91" == codec.decode(data)
