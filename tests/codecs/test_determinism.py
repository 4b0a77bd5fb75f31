"""Equal values encode to equal bytes, so member commands find what was stored."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.codecs.support import FAST, SERIALIZERS, hashable_scalars, make_codec, values

TEXT_FORMATS = [name for name in SERIALIZERS if not name.startswith("pickle")]


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
