"""The stored bytes: the frame layout, integers, raw values, compression, limits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import cramjam
import pytest

from kvdb.codecs import _frame
from kvdb.codecs._compressors import COMPRESSORS
from kvdb.errors import DecodeError, EncodeError, ValueTooLargeError
from tests.codecs.support import make_codec

COMPRESSIBLE = "abc" * 1000


def _frame_of(
    serializer: int, body: bytes, compressor: int = 0, flags: int = 0
) -> bytes:
    return _frame.header(serializer, compressor, flags) + body


class TestLayout:
    def test_text_is_utf8_behind_the_header(self) -> None:
        codec = make_codec(serializer="json")

        assert b"\xffK\x01\x02\x00\x00h\xc3\xa9" == codec.encode("hé")

    def test_bytes_are_stored_as_they_are(self) -> None:
        codec = make_codec(serializer="msgpack")

        assert b"\xffK\x01\x01\x00\x00\x00\xff" == codec.encode(b"\x00\xff")

    def test_plain_json_is_not_typed(self) -> None:
        codec = make_codec(serializer="json")

        assert b'\xffK\x01\x03\x00\x00{"a":[1,2.5]}' == codec.encode({"a": [1, 2.5]})

    def test_tagged_json_is_typed(self) -> None:
        codec = make_codec(serializer="json")

        assert b'\xffK\x01\x03\x00\x02{"~t":[1]}' == codec.encode((1,))

    @pytest.mark.parametrize(
        ("serializer", "frame_id"),
        [("auto", 3), ("json", 3), ("msgpack", 4), ("pickle", 5)],
        ids=["auto", "json", "msgpack", "pickle"],
    )
    def test_the_header_names_the_serializer(
        self, serializer: str, frame_id: int
    ) -> None:
        codec = make_codec(serializer=serializer)

        assert bytes((0xFF, 0x4B, 1, frame_id, 0)) == codec.encode([1])[:5]


class TestIntegers:
    @pytest.mark.parametrize(
        ("value", "stored"),
        [(0, b"0"), (5, b"5"), (-12, b"-12"), (2**63, b"9223372036854775808")],
        ids=["zero", "positive", "negative", "beyond 64 bits"],
    )
    @pytest.mark.parametrize("serializer", ["json", "msgpack", "pickle"])
    def test_ints_are_decimal_text(
        self, serializer: str, value: int, stored: bytes
    ) -> None:
        codec = make_codec(serializer=serializer, compression="zstd")

        assert stored == codec.encode(value)
        assert value == codec.decode(stored)

    def test_incr_keeps_an_int(self) -> None:
        codec = make_codec(serializer="json")

        stored = codec.encode(5)
        incremented = str(int(stored) + 1).encode()  # what INCR does

        assert 6 == codec.decode(incremented)

    def test_bools_are_not_ints(self) -> None:
        codec = make_codec(serializer="json")

        stored = codec.encode(True)

        assert stored.startswith(_frame.MAGIC)
        assert codec.decode(stored) is True

    def test_ints_too_long_for_decimal_text_are_framed(self) -> None:
        codec = make_codec(serializer="json")

        stored = codec.encode(10**5000)

        assert stored.startswith(_frame.MAGIC)
        assert 10**5000 == codec.decode(stored)


class TestRawValues:
    @pytest.mark.parametrize(
        ("stored", "expected"),
        [
            (b"6", 6),
            (b"-6", -6),
            (b"0", 0),
            (b"12345678901234567890123", 12345678901234567890123),
            (b"007", "007"),
            (b"-0", "-0"),
            (b"+5", "+5"),
            (b" 5", " 5"),
            (b"5_000", "5_000"),
            (b"1.5", "1.5"),
            (b"", ""),
            (b"caf\xc3\xa9", "café"),
            (b"\xfe\xff", b"\xfe\xff"),
            (b"9" * 4301, "9" * 4301),
        ],
        ids=[
            "int",
            "negative int",
            "zero",
            "beyond 64 bits",
            "leading zero",
            "negative zero",
            "plus sign",
            "space",
            "underscore",
            "float text",
            "empty",
            "utf8",
            "binary",
            "too many digits",
        ],
    )
    def test_values_without_a_frame_read_raw(
        self, stored: bytes, expected: Any
    ) -> None:
        codec = make_codec(serializer="json")

        actual = codec.decode(stored)

        assert type(expected) is type(actual)
        assert expected == actual

    def test_a_missing_key_is_none(self) -> None:
        assert make_codec(serializer="json").decode(None) is None


class TestDecodeInput:
    @pytest.mark.parametrize(
        "wrap", [bytes, bytearray, memoryview], ids=["bytes", "bytearray", "memoryview"]
    )
    @pytest.mark.parametrize(
        "value",
        ["héllo", (1, "a"), {"a": [1]}, 42, COMPRESSIBLE],
        ids=["text", "typed json", "plain json", "int", "compressed"],
    )
    def test_bytes_like_data_reads_as_bytes_do(
        self, value: Any, wrap: Callable[[bytes], Any]
    ) -> None:
        codec = make_codec(serializer="json", compression="zstd")

        assert value == codec.decode(wrap(codec.encode(value)))

    @pytest.mark.parametrize(
        "wrap", [bytearray, memoryview], ids=["bytearray", "memoryview"]
    )
    def test_raw_binary_reads_back_as_bytes(self, wrap: Callable[[bytes], Any]) -> None:
        actual = make_codec(serializer="pickle").decode(wrap(b"\xfe\xff"))

        assert b"\xfe\xff" == actual
        assert bytes is type(actual)

    @pytest.mark.parametrize(
        "data", ["\xffK\x01\x02\x00\x00x", 5, [b"x"]], ids=["str", "int", "list"]
    )
    def test_data_that_is_not_bytes_is_a_type_error(self, data: Any) -> None:
        codec = make_codec(serializer="json", on_decode_error="miss")

        with pytest.raises(TypeError, match="takes the bytes the server returned"):
            codec.decode(data)


class TestPassthrough:
    def test_values_pass_unchanged(self) -> None:
        codec = make_codec()
        value = {"not": "encoded"}

        assert codec.passthrough
        assert codec.encode(value) is value
        assert codec.decode(b"\xffK\x01\x02\x00\x00x") == b"\xffK\x01\x02\x00\x00x"
        assert codec.decode(None) is None

    def test_serializer_sessions_are_not_passthrough(self) -> None:
        assert not make_codec(serializer="json").passthrough


class TestCompression:
    def test_small_values_are_not_compressed(self) -> None:
        codec = make_codec(
            serializer="json", compression="zstd", compression_threshold=100
        )

        assert 0 == codec.encode("a" * 99)[4]
        assert COMPRESSORS["zstd"].id == codec.encode("a" * 100)[4]

    def test_incompressible_values_are_stored_plain(self) -> None:
        codec = make_codec(
            serializer="json", compression="zstd", compression_threshold=0
        )
        noise = os.urandom(4096)

        assert _frame_of(_frame.BYTES, noise) == codec.encode(noise)

    def test_a_compressed_frame_declares_its_size(self) -> None:
        codec = make_codec(serializer="json", compression="zlib")

        data = codec.encode(COMPRESSIBLE)

        assert _frame.header(_frame.TEXT, COMPRESSORS["zlib"].id, 0) == data[:6]
        assert len(COMPRESSIBLE) == int.from_bytes(data[6:14], "big")
        assert COMPRESSIBLE.encode() == bytes(cramjam.zlib.decompress(data[14:]))

    def test_any_session_reads_any_compressor(self) -> None:
        writers = [
            make_codec(serializer="json", compression=name) for name in COMPRESSORS
        ]
        reader = make_codec(serializer="msgpack")

        for writer in writers:
            assert COMPRESSIBLE == reader.decode(writer.encode(COMPRESSIBLE))


def _compressed_frame(name: str, payload: bytes, declared: int) -> bytes:
    packed = bytes(getattr(cramjam, name).compress(payload))
    return _frame_of(
        _frame.BYTES,
        declared.to_bytes(8, "big") + packed,
        compressor=COMPRESSORS[name].id,
    )


class TestBoundedDecompression:
    @pytest.mark.parametrize("name", COMPRESSORS)
    def test_a_declared_size_over_the_limit_is_refused(self, name: str) -> None:
        codec = make_codec(serializer="json", max_decompressed_size=1000)
        data = _compressed_frame(name, b"\0" * 1001, declared=1001)

        with pytest.raises(
            DecodeError, match=r"1001 bytes, over max_decompressed_size \(1000"
        ):
            codec.decode(data, "bomb")

    @pytest.mark.parametrize("name", COMPRESSORS)
    def test_a_stream_larger_than_declared_is_refused(self, name: str) -> None:
        codec = make_codec(serializer="json")
        data = _compressed_frame(name, b"\0" * 100_000, declared=1000)

        with pytest.raises(DecodeError, match=r"key 'bomb'.*inflates past"):
            codec.decode(data, "bomb")

    @pytest.mark.parametrize("name", COMPRESSORS)
    def test_a_stream_smaller_than_declared_is_refused(self, name: str) -> None:
        codec = make_codec(serializer="json")
        data = _compressed_frame(name, b"\0" * 1000, declared=1001)

        with pytest.raises(DecodeError, match="key 'short'"):
            codec.decode(data, "short")

    def test_a_bomb_never_inflates_past_the_limit(self) -> None:
        # In a child process, so that its peak memory measures this alone.
        result = subprocess.run(
            [sys.executable, "-c", _BOMB_SCRIPT],
            capture_output=True,
            check=True,
            text=True,
            timeout=60,
        )

        growth = json.loads(result.stdout)

        assert set(COMPRESSORS) == set(growth)
        for name, mebibytes in growth.items():
            assert mebibytes < 16, f"{name} grew the process by {mebibytes} MiB"


# 32 MiB of zeros per compressor, framed twice: once declaring its true size
# (over the 2 MiB limit) and once declaring 1 MiB. Prints, per compressor, how
# much the peak memory grew while both were refused.
_BOMB_SCRIPT = textwrap.dedent(
    """
    import json, resource, cramjam
    from kvdb.codecs import _frame, build_codec
    from kvdb.codecs._compressors import COMPRESSORS
    from kvdb.errors import DecodeError
    from kvdb.settings.models import SessionSettings

    size = 32 * 1024 * 1024
    chunk = bytes(1024 * 1024)
    bombs = {}
    for name, spec in COMPRESSORS.items():
        compressor = getattr(cramjam, name).Compressor()
        for _ in range(size // len(chunk)):
            compressor.compress(chunk)
        packed = bytes(compressor.finish())
        head = _frame.header(_frame.BYTES, spec.id, 0)
        bombs[name] = [
            head + declared.to_bytes(8, "big") + packed
            for declared in (size, 1024 * 1024)
        ]

    codec = build_codec(
        SessionSettings(serializer="json", max_decompressed_size=2 * 1024 * 1024)
    )
    growth = {}
    for name, frames in bombs.items():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for data in frames:
            try:
                codec.decode(data)
            except DecodeError:
                pass
            else:
                raise SystemExit(name + " decoded a bomb")
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        growth[name] = (after - before) / 1024
    print(json.dumps(growth))
    """
)


class TestMalformedFrames:
    @pytest.mark.parametrize(
        ("data", "reason"),
        [
            (b"\xffK\x01", "truncated to 3 bytes"),
            (b"\xffK\x02\x02\x00\x00x", "version 2"),
            (b"\xffK\x01\x09\x00\x00x", "unknown serializer id 9"),
            (b"\xffK\x01\x02\x63\x00x", "unknown compressor id 99"),
            (b"\xffK\x01\x02\x00\x80x", "unknown flags 0x80"),
            (b"\xffK\x01\x02\x00\x00\xff", "UnicodeDecodeError"),
            (b"\xffK\x01\x03\x00\x00[1,", "JSONDecodeError"),
            (b"\xffK\x01\x04\x00\x00\xc1", "the msgpack body does not decode"),
            (b'\xffK\x01\x03\x00\x02{"~u":"nope"}', "ValueError"),
            (b'\xffK\x01\x03\x00\x02{"~b":"!!!!"}', "Only base64 data is allowed"),
            (b'\xffK\x01\x03\x00\x02{"~b":"aGk=aGk="}', "Excess data after padding"),
            (b'\xffK\x01\x03\x00\x02{"~b":"aGk"}', "Incorrect padding"),
            (b'\xffK\x01\x03\x00\x02{"~ip":["address","1.2.3"]}', "ValueError"),
            (b'\xffK\x01\x03\x00\x02{"~ip":["city","1.2.3.4"]}', "KeyError"),
            (b"\xffK\x01\x02\x01\x00\x00", "size field is truncated"),
            (b"\xffK\x01\x05\x00\x01short", "signature is truncated"),
        ],
        ids=[
            "truncated header",
            "newer version",
            "unknown serializer",
            "unknown compressor",
            "unknown flags",
            "bad utf8",
            "bad json",
            "bad msgpack",
            "bad tag payload",
            "base64 outside the alphabet",
            "base64 after its padding",
            "base64 without its padding",
            "bad ip address",
            "unknown ip kind",
            "truncated size",
            "truncated signature",
        ],
    )
    def test_a_broken_frame_names_the_key_and_the_reason(
        self, data: bytes, reason: str
    ) -> None:
        codec = make_codec(serializer="pickle")

        with pytest.raises(DecodeError) as caught:
            codec.decode(data, "user:1")

        assert "key 'user:1'" in str(caught.value)
        assert reason in str(caught.value)

    def test_the_cause_is_chained(self) -> None:
        codec = make_codec(serializer="json")

        with pytest.raises(DecodeError) as caught:
            codec.decode(b"\xffK\x01\x03\x00\x00[", b"k")

        assert "key b'k'" in str(caught.value)
        assert caught.value.__cause__ is not None

    def test_the_decode_error_policy_is_exposed_not_applied(self) -> None:
        codec = make_codec(serializer="json", on_decode_error="miss")

        assert "miss" == codec.on_decode_error
        with pytest.raises(DecodeError):
            codec.decode(b"\xffK\x01\x03\x00\x00[")


class TestMaxValueSize:
    @pytest.mark.parametrize(
        "value", [b"x" * 100, "x" * 100, ["x" * 100]], ids=["bytes", "str", "list"]
    )
    def test_a_value_over_the_limit_is_refused(self, value: Any) -> None:
        codec = make_codec(serializer="json", max_value_size=50)

        with pytest.raises(
            ValueTooLargeError, match=r"key 'big' is 1[01]\d bytes.*\(50 bytes\)"
        ):
            codec.encode(value, "big")

    def test_the_limit_counts_the_stored_bytes(self) -> None:
        codec = make_codec(serializer="json", compression="zstd", max_value_size=200)

        assert len(codec.encode(COMPRESSIBLE)) <= 200

    def test_a_value_at_the_limit_is_stored(self) -> None:
        codec = make_codec(serializer="json", max_value_size=16)

        assert 16 == len(codec.encode("x" * 10))

    @pytest.mark.parametrize(
        "value",
        [b"x" * 51, bytearray(51), memoryview(b"x" * 51), "x" * 51, "é" * 26],
        ids=["bytes", "bytearray", "memoryview", "str", "multibyte str"],
    )
    def test_passthrough_sessions_check_sizes_too(self, value: Any) -> None:
        codec = make_codec(max_value_size=50)

        with pytest.raises(ValueTooLargeError, match="key 'big'"):
            codec.encode(value, "big")

    def test_passthrough_sessions_store_values_at_the_limit(self) -> None:
        codec = make_codec(max_value_size=50)

        assert "é" * 25 == codec.encode("é" * 25)


class TestEncodeErrors:
    def test_an_unsupported_type_names_the_key_and_the_type(self) -> None:
        codec = make_codec(serializer="json")

        with pytest.raises(
            EncodeError, match=r"key 'k'.*builtins\.object.*pickle"
        ) as caught:
            codec.encode(object(), "k")

        assert isinstance(caught.value.__cause__, TypeError)

    def test_subclasses_of_builtins_are_refused(self) -> None:
        class Name(str):
            pass

        with pytest.raises(EncodeError, match="Name"):
            make_codec(serializer="msgpack").encode([Name("x")])

    @pytest.mark.parametrize("serializer", ["json", "msgpack"])
    def test_lone_surrogates_are_refused_by_text_formats(self, serializer: str) -> None:
        with pytest.raises(EncodeError, match="key 'k'"):
            make_codec(serializer=serializer).encode("\ud800", "k")

    def test_pickle_stores_lone_surrogates(self) -> None:
        codec = make_codec(serializer="pickle")

        assert "\ud800" == codec.decode(codec.encode("\ud800"))
