"""Model fields without a tag, and the models and dataclasses that cannot be stored.

A json or msgpack session stores a model's field value that has no tag (an
`HttpUrl`, a `deque`...) in pydantic's JSON form, and validation rebuilds it on
read. These tests pin down when that is allowed, and the refusals otherwise.
"""

from __future__ import annotations

import collections
import dataclasses
import ipaddress
from typing import Annotated, Any, NamedTuple

import msgpack
import orjson
import pytest
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    PlainSerializer,
    RootModel,
    Secret,
    SecretBytes,
    SecretStr,
)

from kvdb.codecs import _frame, _typed
from kvdb.errors import DecodeError, EncodeError
from tests.codecs.support import assert_same, make_codec

TEXT_FORMATS = ["json", "msgpack"]


class Coordinates(NamedTuple):
    lat: float
    lon: float


class Thing:
    """A class pydantic knows nothing of, but through a model's annotations."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __eq__(self, other: object) -> bool:
        return type(other) is Thing and other.size == self.size


class Link(BaseModel):
    url: HttpUrl


class Links(BaseModel):
    urls: list[HttpUrl]
    by_name: dict[str, HttpUrl]


class Bookmarks(BaseModel):
    urls: set[HttpUrl]
    by_tag: dict[str, frozenset[HttpUrl]]


class Host(BaseModel):
    address: ipaddress.IPv4Address
    network: ipaddress.IPv6Network


class Credentials(BaseModel):
    password: SecretStr
    key: SecretBytes
    pin: Secret[int]


class History(BaseModel):
    recent: collections.deque[int]


class Place(BaseModel):
    where: Coordinates


class Recent(RootModel[collections.deque[str]]):
    pass


class Described(BaseModel):
    """A type pydantic has no JSON form for, given one by its annotations."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    thing: Annotated[
        Thing,
        PlainSerializer(lambda thing: thing.size),
        BeforeValidator(lambda size: size if isinstance(size, Thing) else Thing(size)),
    ]


class Opaque(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    thing: Thing


class Loose(BaseModel):
    anything: Any


class Keyring(BaseModel):
    passwords: list[SecretStr]


class Strong(BaseModel):
    password: SecretStr = Field(min_length=8)


@dataclasses.dataclass
class Queue:
    items: collections.deque[int]


@dataclasses.dataclass
class Scaled:
    base: int
    factor: dataclasses.InitVar[int]
    value: int = dataclasses.field(init=False)

    def __post_init__(self, factor: int) -> None:
        self.value = self.base * factor


STORED: dict[str, Any] = {
    "HttpUrl": Link(url=HttpUrl("https://example.com/a?b=1")),
    "HttpUrls in containers": Links(
        urls=[HttpUrl("https://a.example/")],
        by_name={"b": HttpUrl("https://b.example/")},
    ),
    "HttpUrls in sets": Bookmarks(
        urls={HttpUrl("https://a.example/"), HttpUrl("https://b.example/")},
        by_tag={"c": frozenset({HttpUrl("https://c.example/")})},
    ),
    "ip addresses": Host(address="192.0.2.1", network="2001:db8::/32"),
    "secrets": Credentials(
        password=SecretStr("hunter2"), key=SecretBytes(b"\xff\x00"), pin=Secret(1234)
    ),
    "deque": History(recent=collections.deque([3, 1, 2])),
    "NamedTuple": Place(where=Coordinates(48.85, 2.35)),
    "root model of a deque": Recent(collections.deque(["a", "b"])),
    "a serializer of the field's own": Described(thing=Thing(3)),
}


@pytest.mark.parametrize("serializer", TEXT_FORMATS)
@pytest.mark.parametrize("value", STORED.values(), ids=STORED.keys())
def test_a_field_without_a_tag_round_trips(serializer: str, value: Any) -> None:
    codec = make_codec(serializer=serializer)

    assert_same(value, codec.decode(codec.encode(value, "k"), "k"))


@pytest.mark.parametrize("serializer", TEXT_FORMATS)
def test_sets_of_values_without_a_tag_are_stored_in_order(serializer: str) -> None:
    codec = make_codec(serializer=serializer)
    # Of one length, so that their serialized bytes sort as the text does.
    urls = {f"https://{n}.example/" for n in range(10, 30)}
    value = Bookmarks(urls=urls, by_tag={"t": frozenset(urls)})

    body = codec.encode(value)[_frame.HEADER_SIZE :]

    tree = orjson.loads(body) if serializer == "json" else msgpack.unpackb(body)
    _, fields = tree["~o"]
    assert sorted(urls) == fields["urls"] == fields["by_tag"]["t"]


@pytest.mark.parametrize("serializer", TEXT_FORMATS)
def test_a_secret_is_stored_as_its_value(serializer: str) -> None:
    codec = make_codec(serializer=serializer)
    value = STORED["secrets"]

    stored = codec.decode(codec.encode(value))

    assert "hunter2" == stored.password.get_secret_value()
    assert b"\xff\x00" == stored.key.get_secret_value()
    assert 1234 == stored.pin.get_secret_value()


REFUSED: dict[str, tuple[Any, str]] = {
    "deque in a field typed Any": (
        Loose(anything=collections.deque([1])),
        "validates back to another value",
    ),
    "OrderedDict in a field typed Any": (
        Loose(anything=collections.OrderedDict(a=1)),
        "validates back to another value",
    ),
    "HttpUrl in a field typed Any": (
        Loose(anything=HttpUrl("https://example.com/")),
        "validates back to another value",
    ),
    "secrets in a list": (
        Keyring(passwords=[SecretStr("hunter2")]),
        "validates back to another value",
    ),
    "a type without a JSON form": (Opaque(thing=Thing(1)), "has no JSON form"),
    "a dataclass field without a tag": (
        Queue(collections.deque([1])),
        "a dataclass is rebuilt without validation",
    ),
    "a dataclass with an InitVar": (Scaled(2, 3), "takes factor, which no field"),
}


@pytest.mark.parametrize("serializer", TEXT_FORMATS)
@pytest.mark.parametrize(("value", "reason"), REFUSED.values(), ids=REFUSED.keys())
def test_a_value_that_would_read_back_otherwise_is_refused(
    serializer: str, value: Any, reason: str
) -> None:
    codec = make_codec(serializer=serializer)

    with pytest.raises(EncodeError, match="key 'k'") as caught:
        codec.encode(value, "k")

    assert reason in str(caught.value)


def test_a_dataclass_is_looked_into_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def counted(cls: type, fields: tuple[str, ...]) -> list[str]:
        calls.append(cls)
        return ["factor"]

    monkeypatch.setattr(_typed, "_init_only_parameters", counted)
    codec = make_codec(serializer="json")

    for _ in range(3):
        with pytest.raises(EncodeError, match="InitVar"):
            codec.encode(Scaled(2, 3))

    assert [Scaled] == calls


@pytest.mark.parametrize("serializer", TEXT_FORMATS)
def test_a_secret_that_does_not_validate_is_not_quoted_when_written(
    serializer: str,
) -> None:
    codec = make_codec(serializer=serializer)
    value = Strong.model_construct(password=SecretStr("hunter2"))

    with pytest.raises(EncodeError, match="password") as caught:
        codec.encode(value)

    assert "hunter2" not in str(caught.value)


def test_a_secret_that_does_not_validate_is_not_quoted_when_read() -> None:
    tree = {"~o": ["tests.codecs.test_models:Strong", {"password": "hunter2"}]}
    data = _frame.header(_frame.JSON, 0, _frame.TYPED) + orjson.dumps(tree)

    with pytest.raises(DecodeError, match="password") as caught:
        make_codec(serializer="json").decode(data)

    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("serializer", TEXT_FORMATS)
def test_a_constructed_model_that_does_not_validate_fails_on_read(
    serializer: str,
) -> None:
    codec = make_codec(serializer=serializer)
    url: Any = "not a url"  # model_construct does not check it
    value = Link.model_construct(url=url)

    data = codec.encode(value, "k")

    with pytest.raises(DecodeError, match="url: Input should be a valid URL"):
        codec.decode(data, "k")
