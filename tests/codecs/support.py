"""What the codec tests share: codec variants, strategies, a deep comparison.

`SERIALIZERS` and `COMPRESSIONS` list every installed serializer variant
(json per `jsonlib`, msgpack, pickle per `picklelib`) and compressor;
`make_codec` builds a codec from settings keywords.

The strategies draw every type the codecs promise to round-trip. The classes
they build live here, at module level, so that json and msgpack sessions may
rebuild them (their module is imported). `assert_same` compares two values by
type as well as by value, and treats NaN as equal to NaN, which `==` does not.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import functools
import ipaddress
import math
import pathlib
import pickle
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, RootModel

from kvdb.codecs import Codec, build_codec
from kvdb.codecs._compressors import COMPRESSORS
from kvdb.codecs._serializers import JSON_LIBRARIES, PICKLE_LIBRARIES
from kvdb.codecs._typed import TAGS
from kvdb.settings.models import SessionSettings

SERIALIZERS: dict[str, dict[str, Any]] = {
    **{
        f"json-{lib}": {"serializer": "json", "serializer_kwargs": {"jsonlib": lib}}
        for lib in JSON_LIBRARIES
    },
    "msgpack": {"serializer": "msgpack"},
    **{
        f"pickle-{lib}": {
            "serializer": "pickle",
            "serializer_kwargs": {"picklelib": lib},
        }
        for lib in PICKLE_LIBRARIES
    },
}
"""Settings of every installed serializer variant, by test id."""

COMPRESSIONS: list[str | None] = [None, *COMPRESSORS]

FAST = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
"""Hypothesis settings of the default run: few examples, many tests."""

SLOW = settings(FAST, max_examples=1000)
"""Hypothesis settings of the `slow` runs."""


def make_codec(**settings: Any) -> Codec:
    """The codec of a session with these settings."""
    return build_codec(SessionSettings(**settings))


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Permission(enum.Flag):
    READ = 1
    WRITE = 2


class Shape(enum.Enum):
    """An Enum whose values are themselves tagged (a tuple, a date)."""

    POINT = (0, 0)
    EPOCH = dt.date(1970, 1, 1)


class Box(BaseModel):
    """A pydantic model that holds anything, so models nest in anything."""

    content: Any


class User(BaseModel):
    id: int
    name: str
    created: dt.datetime
    tags: list[str] = []
    color: Color = Color.RED


class Tags(RootModel[list[str]]):
    pass


class Aliased(BaseModel):
    """Stored under its field names, read back whatever the aliases."""

    user_name: str = Field(alias="userName")


class Open(BaseModel, extra="allow"):
    """Extra fields round-trip too."""

    known: int


@dataclasses.dataclass
class Pair:
    left: Any
    right: Any


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int


def _enum_members() -> st.SearchStrategy[enum.Enum]:
    return st.sampled_from(
        [
            *Color,
            *Level,
            *Shape,
            Permission.READ,
            Permission.READ | Permission.WRITE,
        ]
    )


def _paths() -> st.SearchStrategy[pathlib.PurePath]:
    parts = st.text(
        st.characters(codec="utf-8", exclude_characters="/\\\x00"), max_size=8
    )
    text = st.lists(parts, min_size=1, max_size=3).map("/".join)
    return st.one_of(
        text.map(pathlib.Path),
        text.map(pathlib.PurePosixPath),
        text.map(pathlib.PureWindowsPath).filter(_pickles_as_itself),
    )


def _pickles_as_itself(path: pathlib.PurePath) -> bool:
    # Python 3.11's own pickle turns PureWindowsPath("/A:") into "A:": a bug
    # of pathlib's reduction (the parts lose their root), not of kvdb's codec.
    return bool(pickle.loads(pickle.dumps(path)) == path)


def _ip_values() -> st.SearchStrategy[Any]:
    """IPv4 and IPv6 addresses, interfaces and networks."""
    interfaces = st.builds(
        lambda address, bits: ipaddress.ip_interface(
            f"{address}/{bits % (address.max_prefixlen + 1)}"
        ),
        st.ip_addresses(),
        st.integers(0, 128),
    )
    return st.one_of(st.ip_addresses(), interfaces, interfaces.map(lambda i: i.network))


def _users() -> st.SearchStrategy[User]:
    return st.builds(
        User,
        id=st.integers(-(2**63), 2**63 - 1),
        name=st.text(),
        created=st.datetimes(timezones=st.none() | st.timezones()),
        tags=st.lists(st.text(), max_size=3),
        color=st.sampled_from(Color),
    )


def hashable_scalars(*, nan: bool = False) -> st.SearchStrategy[Any]:
    """Scalars that may be set members and dict keys."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(-(2**200), 2**200),
        st.floats(allow_nan=nan),
        st.text(),
        st.binary(),
        st.datetimes(timezones=st.none() | st.timezones()),
        st.dates(),
        st.times(timezones=st.none() | st.timezones()),
        st.timedeltas(),
        st.decimals(allow_nan=nan),
        st.uuids(),
        _paths(),
        _ip_values(),
        _enum_members(),
        st.builds(Point, st.integers(), st.integers()),
    )


@functools.cache
def _hashables() -> st.SearchStrategy[Any]:
    return st.recursive(hashable_scalars(), _hashable_containers, max_leaves=6)


def _hashable_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.tuples(children, children) | st.frozensets(children, max_size=3)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    str_keys = st.text(max_size=6) | st.sampled_from(sorted(TAGS))
    return st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(str_keys, children, max_size=4),
        # One key that is a tag name: must not read back as a tag.
        st.builds(
            lambda key, value: {key: value}, st.sampled_from(sorted(TAGS)), children
        ),
        st.dictionaries(_hashables(), children, max_size=3),
        st.sets(_hashables(), max_size=4),
        st.frozensets(_hashables(), max_size=4),
        st.builds(Box, content=children),
        st.builds(Pair, children, children),
    )


@functools.cache
def values() -> st.SearchStrategy[Any]:
    """Nested values of every type the codecs round-trip."""
    scalars = hashable_scalars(nan=True) | _users()
    return st.recursive(scalars, _containers, max_leaves=12)


def assert_same(expected: Any, actual: Any, path: str = "value") -> None:
    """Assert `actual` is `expected`'s type and value, recursively."""
    assert type(expected) is type(actual), f"{path}: {type(actual)!r}"

    if isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(actual), path
    elif isinstance(expected, decimal.Decimal) and expected.is_nan():
        assert str(expected) == str(actual), path
    elif isinstance(expected, (list, tuple)):
        assert len(expected) == len(actual), path
        for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
            assert_same(left, right, f"{path}[{index}]")
    elif isinstance(expected, dict):
        assert_same(list(expected), list(actual), f"{path} keys")
        for key in expected:
            assert_same(expected[key], actual[key], f"{path}[{key!r}]")
    elif isinstance(expected, BaseModel):
        assert_same(expected.__dict__, actual.__dict__, path)
    elif dataclasses.is_dataclass(expected):
        assert_same(vars(expected), vars(actual), path)
    elif isinstance(expected, (dt.datetime, dt.time)):
        assert expected == actual, path
        assert expected.utcoffset() == actual.utcoffset(), path
        assert expected.tzinfo == actual.tzinfo, path
        assert expected.fold == actual.fold, path
    else:
        assert expected == actual, path
