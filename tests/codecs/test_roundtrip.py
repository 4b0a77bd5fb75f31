"""Every serializer and compressor gives back the same type and an equal value."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import ipaddress
import pathlib
import uuid
import zoneinfo
from typing import Any

import pytest
from hypothesis import given

from kvdb.codecs._compressors import COMPRESSORS
from tests.codecs.support import (
    COMPRESSIONS,
    FAST,
    SERIALIZERS,
    SLOW,
    Aliased,
    Box,
    Color,
    Level,
    Open,
    Pair,
    Permission,
    Point,
    Shape,
    Tags,
    User,
    assert_same,
    make_codec,
    values,
)

# Long and repetitive: with it a value is always worth compressing.
PADDING = "kvdb " * 400


def _round_trip(serializer: str, compression: str | None, value: Any) -> None:
    codec = make_codec(**SERIALIZERS[serializer], compression=compression)

    assert_same(value, codec.decode(codec.encode(value, "k"), "k"))

    padded = (value, PADDING)
    data = codec.encode(padded, "k")
    expected_id = COMPRESSORS[compression].id if compression else 0
    assert expected_id == data[4]
    assert_same(padded, codec.decode(data, "k"))


@pytest.mark.parametrize("compression", COMPRESSIONS, ids=str)
@pytest.mark.parametrize("serializer", SERIALIZERS)
@FAST
@given(value=values())
def test_round_trip(serializer: str, compression: str | None, value: Any) -> None:
    _round_trip(serializer, compression, value)


@pytest.mark.slow
@pytest.mark.parametrize("compression", COMPRESSIONS, ids=str)
@pytest.mark.parametrize("serializer", SERIALIZERS)
@SLOW
@given(value=values())
def test_round_trip_many(serializer: str, compression: str | None, value: Any) -> None:
    _round_trip(serializer, compression, value)


PARIS = zoneinfo.ZoneInfo("Europe/Paris")

EXAMPLES: dict[str, Any] = {
    "str": "héllo",
    "empty str": "",
    "str of digits": "42",
    "bytes": b"\x00\xff",
    "bytes that are UTF-8": b"abc",
    "int": 42,
    "negative int": -7,
    "int beyond 64 bits": 2**100,
    "int beyond decimal text": 10**5000,
    "nested int beyond 64 bits": [-(2**64)],
    "float": 0.1,
    "negative zero": -0.0,
    "infinity": [float("inf"), float("-inf")],
    "bool": True,
    "None": None,
    "list": [1, "a", None],
    "tuple": (1, (2, 3)),
    "empty tuple": (),
    "dict": {"a": {"b": [1]}},
    "dict with int keys": {1: "a", 2: "b"},
    "dict with a tag's name as its key": {"~t": [1, 2]},
    "dict that looks like an object tag": {"~o": ["os:system", {}]},
    "set": {1, 2, 3},
    "frozenset": frozenset({"a", frozenset({"b"})}),
    "naive datetime": dt.datetime(2024, 5, 1, 12, 30, 15, 123456),
    "utc datetime": dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
    "offset datetime": dt.datetime(
        2024, 5, 1, tzinfo=dt.timezone(dt.timedelta(hours=-3))
    ),
    "zoned datetime": dt.datetime(2024, 10, 27, 2, 30, tzinfo=PARIS, fold=1),
    "date": dt.date(2024, 5, 1),
    "time": dt.time(23, 59, 59, 999999),
    "aware time": dt.time(8, tzinfo=dt.UTC),
    "timedelta": dt.timedelta(days=-1, seconds=5, microseconds=7),
    "Decimal": decimal.Decimal("1.50"),
    "Decimal NaN": decimal.Decimal("NaN"),
    "UUID": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "Path": pathlib.Path("/tmp/a b"),
    "PurePosixPath": pathlib.PurePosixPath("a/b"),
    "PureWindowsPath": pathlib.PureWindowsPath(r"C:\\a\\b"),
    "IPv4Address": ipaddress.IPv4Address("192.0.2.1"),
    "IPv6Address with a scope": ipaddress.IPv6Address("fe80::1%eth0"),
    "IPv4-mapped IPv6Address": ipaddress.IPv6Address("::ffff:192.0.2.1"),
    "IPv4Network": ipaddress.IPv4Network("10.0.0.0/8"),
    "IPv6Network": ipaddress.IPv6Network("2001:db8::/32"),
    "IPv4Interface": ipaddress.IPv4Interface("192.0.2.1/24"),
    "IPv6Interface": ipaddress.IPv6Interface("2001:db8::1/64"),
    "IP addresses in a set": {
        ipaddress.ip_address("192.0.2.1"),
        ipaddress.ip_address("2001:db8::1"),
    },
    "Enum": Color.GREEN,
    "IntEnum": Level.HIGH,
    "Flag": Permission.READ | Permission.WRITE,
    "Enum with a tuple value": Shape.POINT,
    "model": User(id=1, name="ada", created=dt.datetime(2024, 5, 1, tzinfo=PARIS)),
    "model in a model": Box(content=Box(content={"k": (1, 2)})),
    "root model": Tags(["a", "b"]),
    "model with an alias": Aliased(userName="ada"),
    "model with extra fields": Open(known=1, extra=(2, 3)),
    "dataclass": Pair(Point(1, 2), [Color.RED]),
    "models in containers": {
        "users": [User(id=2, name="b", created=dt.datetime(2000, 1, 1))]
    },
}


@pytest.mark.parametrize("serializer", SERIALIZERS)
@pytest.mark.parametrize("value", EXAMPLES.values(), ids=EXAMPLES.keys())
def test_example_round_trips(value: Any, serializer: str) -> None:
    codec = make_codec(**SERIALIZERS[serializer])

    assert_same(value, codec.decode(codec.encode(value, "k"), "k"))


def test_a_model_comes_back_validated() -> None:
    codec = make_codec(serializer="json")

    user = codec.decode(
        codec.encode(User(id=1, name="a", created=dt.datetime(2024, 1, 1)))
    )

    assert isinstance(user, User)
    assert user.model_fields_set == {"id", "name", "created", "tags", "color"}


@dataclasses.dataclass
class _Computed:
    base: int
    double: int = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.double = self.base * 2


@pytest.mark.parametrize("serializer", ["json", "msgpack"])
def test_dataclass_fields_outside_init_are_recomputed(serializer: str) -> None:
    codec = make_codec(serializer=serializer)

    value = codec.decode(codec.encode(_Computed(3)))

    assert _Computed(3) == value
