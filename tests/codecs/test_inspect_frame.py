"""`inspect_frame`: a stored value's header, read without decoding its body."""

from __future__ import annotations

from typing import Any

import pytest

from kvdb.codecs import inspect_frame
from kvdb.codecs._compressors import COMPRESSORS
from kvdb.errors import DecodeError
from tests.codecs.support import User, make_codec

DOCUMENT = {"rows": [{"id": n, "status": "shipped"} for n in range(100)]}
KEY = "k" * 16


@pytest.mark.parametrize(
    ("settings", "value", "expected"),
    [
        ({"serializer": "json"}, DOCUMENT, ("json", False, False)),
        ({"serializer": "msgpack"}, {"a": {1, 2}}, ("msgpack", True, False)),
        ({"serializer": "json"}, "text", ("text", False, False)),
        ({"serializer": "json"}, b"\x00\x01", ("bytes", False, False)),
        (
            {"serializer": "pickle", "signing_key": KEY},
            DOCUMENT,
            ("pickle", False, True),
        ),
    ],
    ids=["json", "msgpack-typed", "text", "bytes", "pickle-signed"],
)
def test_uncompressed_frames(
    settings: dict[str, Any], value: Any, expected: tuple[str, bool, bool]
) -> None:
    data = make_codec(**settings).encode(value)

    info = inspect_frame(data)

    assert info is not None
    assert expected == (info.serializer, info.typed, info.signed)
    assert (1, None, len(data)) == (info.version, info.compressor, info.stored_size)
    overhead = 6 + (32 if info.signed else 0)
    assert len(data) - overhead == info.body_size == info.serialized_size
    assert 1.0 == info.compression_ratio


@pytest.mark.parametrize("compression", list(COMPRESSORS), ids=list(COMPRESSORS))
def test_compressed_frames(compression: str) -> None:
    plain = make_codec(serializer="json").encode(DOCUMENT)
    data = make_codec(serializer="json", compression=compression).encode(DOCUMENT)

    info = inspect_frame(data)

    assert info is not None
    assert (compression, "json") == (info.compressor, info.serializer)
    assert len(plain) - 6 == info.serialized_size
    assert len(data) - 6 - 8 == info.body_size
    assert info.serialized_size / info.body_size == info.compression_ratio


def test_a_typed_model() -> None:
    codec = make_codec(serializer="json")
    data = codec.encode(User(id=1, name="a", created="2024-01-01T00:00:00"))

    info = inspect_frame(data)

    assert info is not None
    assert info.typed


@pytest.mark.parametrize(
    "data",
    [b"42", b"-7", b"plain text", b"", b"\xff"],
    ids=["int", "negative", "text", "empty", "lone-ff"],
)
def test_values_without_a_frame(data: bytes) -> None:
    assert inspect_frame(data) is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xffK\x01\x03", "the frame is truncated to 4 bytes"),
        (b"\xffK\x02\x03\x00\x00{}", "frame version 2 is not one this kvdb reads"),
        (b"\xffK\x01\x05\x00\x01" + b"s" * 10, "truncated to 16 bytes, inside"),
        (b"\xffK\x01\x03\x01\x00\x00\x00", "truncated to 8 bytes, inside"),
    ],
    ids=["short-header", "version", "short-signature", "short-size-field"],
)
def test_malformed_frames(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        inspect_frame(data, key="user:1")

    assert str(info.value).startswith(
        "the value of key 'user:1' has a malformed kvdb frame: "
    )
    assert reason in str(info.value)


def test_unknown_ids_are_named() -> None:
    info = inspect_frame(b"\xffK\x01\x63\x00\x00body")

    assert info is not None
    assert "unknown id 99" == info.serializer
