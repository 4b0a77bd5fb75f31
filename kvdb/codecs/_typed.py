"""Typed values: Python values as trees that JSON and MessagePack can carry.

JSON knows strings, numbers, booleans, null, arrays and string-keyed objects;
MessagePack adds bytes and non-finite floats. Every other value the codecs
promise to round-trip becomes a *tag*: an object with exactly one key, the tag
name, whose value is the payload::

    {"~t": [1, 2]}                          tuple
    {"~s": [...]}  {"~fs": [...]}           set, frozenset (canonical order)
    {"~m": [[key, value], ...]}             dict with a key that is not a str,
                                            or a dict that looks like a tag
    {"~b": "aGk="}                          bytes (JSON only), base64
    {"~i": "-1f"}                           int beyond 64 bits, hexadecimal
    {"~f": "nan"}                           nan, inf, -inf (JSON only)
    {"~dt": "2024-05-01T12:00:00+02:00"}    datetime; a list
                                            [iso, zone key, fold] for a
                                            zoneinfo zone or a fold of 1
    {"~d": "2024-05-01"}                    date
    {"~tm": "12:00:00"}                     time, like datetime
    {"~td": [days, seconds, microseconds]}  timedelta
    {"~dec": "1.50"}                        Decimal
    {"~u": "<32 hex digits>"}               UUID
    {"~p": ["path" | "posix" | "windows", "a/b"]}
                                            Path, PurePosixPath, PureWindowsPath
    {"~e": [class name, value]}             Enum member
    {"~o": [class name, {field: value}]}    pydantic model or dataclass

A user's dict with one key that happens to be a tag name is stored as `~m`,
so it never reads back as a tag. Types are matched exactly (`type(v) is
dict`), except for Enums, models and dataclasses, which are matched by kind:
a subclass of a builtin type would otherwise come back as its base.

Sets and frozensets are written in a canonical order, members sorted by their
serialized bytes, so that equal sets encode to equal bytes in any process.
Class names are resolved on the way back by `kvdb.codecs._classes`, which
decides which classes may be rebuilt.
"""

from __future__ import annotations

import binascii
import dataclasses
import datetime as dt
import decimal
import enum
import functools
import math
import pathlib
import uuid
import zoneinfo
from collections.abc import Callable, Iterable
from typing import Any, Final

from pydantic import BaseModel, RootModel

from kvdb.codecs._classes import ClassResolver, name_of

__all__ = ["JSON_PROFILE", "MSGPACK_PROFILE", "Profile", "TypedTree"]

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_UINT64_MAX: Final = 2**64 - 1


@dataclasses.dataclass(frozen=True)
class Profile:
    """What a format carries natively, and so needs no tag."""

    name: str
    bytes_native: bool
    nonfinite_native: bool
    int_min: int
    int_max: int


JSON_PROFILE: Final = Profile("json", False, False, _INT64_MIN, _INT64_MAX)
MSGPACK_PROFILE: Final = Profile("msgpack", True, True, _INT64_MIN, _UINT64_MAX)

_PATH_KINDS: Final[dict[type, str]] = {
    pathlib.PosixPath: "path",
    pathlib.WindowsPath: "path",
    pathlib.PurePosixPath: "posix",
    pathlib.PureWindowsPath: "windows",
}
_PATH_CLASSES: Final[dict[str, Callable[[str], pathlib.PurePath]]] = {
    "path": pathlib.Path,
    "posix": pathlib.PurePosixPath,
    "windows": pathlib.PureWindowsPath,
}

TAGS: Final = frozenset(
    {"~t", "~s", "~fs", "~m", "~b", "~i", "~f", "~dt", "~d", "~tm", "~td"}
    | {"~dec", "~u", "~p", "~e", "~o"}
)


class TypedTree:
    """Turns values into tagged trees of one format, and trees back into values.

    `sort_key` serializes a tree to bytes with the format's library; it orders
    set members canonically. `resolver` decides which classes may be rebuilt.
    """

    def __init__(
        self,
        profile: Profile,
        sort_key: Callable[[Any], bytes],
        resolver: ClassResolver,
    ) -> None:
        self.profile = profile
        self._sort_key = sort_key
        self._resolver = resolver
        self._bytes_native = profile.bytes_native
        self._nonfinite_native = profile.nonfinite_native
        self._int_min = profile.int_min
        self._int_max = profile.int_max

        # Exact type -> encoder. Enums, models and dataclasses are added on
        # first sight, so that every value costs one lookup here.
        self._encoders: dict[type, Callable[[Any], Any]] = {
            tuple: self._tuple_to_tree,
            set: self._set_to_tree,
            frozenset: self._frozenset_to_tree,
            bytes: self._bytes_to_tree,
            dt.datetime: _datetime_to_tree,
            dt.date: _date_to_tree,
            dt.time: _time_to_tree,
            dt.timedelta: _timedelta_to_tree,
            decimal.Decimal: _decimal_to_tree,
            uuid.UUID: _uuid_to_tree,
            **dict.fromkeys(_PATH_KINDS, _path_to_tree),
        }
        self._rebuilders: dict[type, Callable[[dict[str, Any]], Any]] = {}
        self._decoders: dict[str, Callable[[Any], Any]] = {
            "~t": self._tuple_from_tree,
            "~s": self._set_from_tree,
            "~fs": self._frozenset_from_tree,
            "~m": self._mapping_from_tree,
            "~b": _bytes_from_tree,
            "~i": _int_from_tree,
            "~f": float,
            "~dt": _datetime_from_tree,
            "~d": dt.date.fromisoformat,
            "~tm": _time_from_tree,
            "~td": _timedelta_from_tree,
            "~dec": decimal.Decimal,
            "~u": _uuid_from_tree,
            "~p": _path_from_tree,
            "~e": self._enum_from_tree,
            "~o": self._object_from_tree,
        }

    # -- encoding -----------------------------------------------------------

    def is_plain(self, value: Any) -> bool:
        """Whether `value` is its own tree: the format carries it untagged."""
        return self._all_plain((value,))

    def _all_plain(self, values: Iterable[Any]) -> bool:
        # Scalars are tested inline: a call for each leaf would cost more
        # than the whole test.
        int_min = self._int_min
        int_max = self._int_max
        for value in values:
            cls = type(value)
            if cls is str or cls is bool or value is None:
                continue
            if cls is int:
                if int_min <= value <= int_max:
                    continue
                return False
            if cls is float:
                if self._nonfinite_native or math.isfinite(value):
                    continue
                return False
            if cls is dict:
                if len(value) == 1 and next(iter(value)) in TAGS:
                    return False
                for key in value:
                    if type(key) is not str:
                        return False
                if self._all_plain(value.values()):
                    continue
                return False
            if cls is list:
                if self._all_plain(value):
                    continue
                return False
            if cls is not bytes or not self._bytes_native:
                return False

        return True

    def to_tree(self, value: Any) -> Any:
        """`value` as a tree the format carries, with tags where needed.

        Raises `TypeError` for a value of a type that cannot round-trip.
        """
        cls = type(value)
        if cls is str or cls is bool or value is None:
            return value
        if cls is int:
            if self._int_min <= value <= self._int_max:
                return value
            return {"~i": format(value, "x")}
        if cls is float:
            if self._nonfinite_native or math.isfinite(value):
                return value
            return {"~f": repr(value)}
        if cls is dict:
            return self._dict_to_tree(value)
        if cls is list:
            to_tree = self.to_tree
            return [item if type(item) is str else to_tree(item) for item in value]

        encoder = self._encoders.get(cls)
        if encoder is None:
            encoder = self._class_encoder(cls)

        return encoder(value)

    def _dict_to_tree(self, value: dict[Any, Any]) -> Any:
        to_tree = self.to_tree
        tree = {}
        for key, item in value.items():
            if type(key) is not str:
                return self._pairs_to_tree(value)
            tree[key] = item if type(item) is str else to_tree(item)

        if len(tree) == 1 and next(iter(tree)) in TAGS:
            return self._pairs_to_tree(value)

        return tree

    def _pairs_to_tree(self, value: dict[Any, Any]) -> Any:
        to_tree = self.to_tree
        return {"~m": [[to_tree(key), to_tree(item)] for key, item in value.items()]}

    def _tuple_to_tree(self, value: tuple[Any, ...]) -> Any:
        to_tree = self.to_tree
        return {"~t": [to_tree(item) for item in value]}

    def _members_to_tree(self, value: set[Any] | frozenset[Any]) -> list[Any]:
        # Sorting by serialized bytes gives one order for equal sets, in any
        # process, whatever the hash seed and insertion history.
        return sorted(map(self.to_tree, value), key=self._sort_key)

    def _set_to_tree(self, value: set[Any]) -> Any:
        return {"~s": self._members_to_tree(value)}

    def _frozenset_to_tree(self, value: frozenset[Any]) -> Any:
        return {"~fs": self._members_to_tree(value)}

    def _bytes_to_tree(self, value: bytes) -> Any:
        if self._bytes_native:
            return value
        return {"~b": binascii.b2a_base64(value, newline=False).decode("ascii")}

    def _class_encoder(self, cls: type) -> Callable[[Any], Any]:
        """The encoder of an Enum, model or dataclass type, cached."""
        encoder: Callable[[Any], Any]
        if issubclass(cls, enum.Enum):
            encoder = self._enum_to_tree
        elif issubclass(cls, BaseModel):
            encoder = self._model_to_tree
        elif dataclasses.is_dataclass(cls):
            names = tuple(f.name for f in dataclasses.fields(cls) if f.init)
            encoder = functools.partial(self._dataclass_to_tree, names=names)
        else:
            raise TypeError(
                f"a value of type {cls.__module__}.{cls.__qualname__} cannot "
                f"be stored by the {self.profile.name} serializer, which "
                f"stores builtin scalars and containers, datetimes, Decimal, "
                f"UUID, paths, Enums, pydantic models and dataclasses; use "
                f"one of those or the pickle serializer"
            )

        self._encoders[cls] = encoder

        return encoder

    def _enum_to_tree(self, value: enum.Enum) -> Any:
        return {"~e": [name_of(type(value)), self.to_tree(value.value)]}

    def _model_to_tree(self, value: BaseModel) -> Any:
        to_tree = self.to_tree
        fields = {
            name: item if type(item) is str else to_tree(item)
            for name, item in value.__dict__.items()
        }
        extra = value.__pydantic_extra__
        if extra:
            fields.update((name, to_tree(item)) for name, item in extra.items())

        return {"~o": [name_of(type(value)), fields]}

    def _dataclass_to_tree(self, value: Any, names: tuple[str, ...]) -> Any:
        to_tree = self.to_tree
        fields = {name: to_tree(getattr(value, name)) for name in names}

        return {"~o": [name_of(type(value)), fields]}

    # -- decoding -----------------------------------------------------------

    def from_tree(self, tree: Any) -> Any:
        """The value `tree` stands for, reusing the containers of `tree`.

        `tree` must be freshly parsed and owned by the caller: its lists and
        dicts are updated in place, which spares copying the untagged parts.
        Raises whatever a malformed tree provokes (`TypeError`, `ValueError`,
        `ResolveError`, a pydantic `ValidationError`...); the codec turns any
        of them into a `DecodeError`.
        """
        cls = type(tree)
        if cls is dict:
            if len(tree) == 1:
                ((key, payload),) = tree.items()
                decoder = self._decoders.get(key)
                if decoder is not None:
                    return decoder(payload)
            return self._revive_values(tree)
        if cls is list:
            for index, item in enumerate(tree):
                cls = type(item)
                if cls is dict or cls is list:
                    tree[index] = self.from_tree(item)
            return tree

        return tree

    def _revive_values(self, tree: dict[Any, Any]) -> dict[Any, Any]:
        for key, item in tree.items():
            cls = type(item)
            if cls is dict or cls is list:
                tree[key] = self.from_tree(item)
        return tree

    def _tuple_from_tree(self, payload: list[Any]) -> tuple[Any, ...]:
        return tuple(map(self.from_tree, _list(payload)))

    def _set_from_tree(self, payload: list[Any]) -> set[Any]:
        return set(map(self.from_tree, _list(payload)))

    def _frozenset_from_tree(self, payload: list[Any]) -> frozenset[Any]:
        return frozenset(map(self.from_tree, _list(payload)))

    def _mapping_from_tree(self, payload: list[Any]) -> dict[Any, Any]:
        from_tree = self.from_tree
        return {from_tree(key): from_tree(item) for key, item in _list(payload)}

    def _enum_from_tree(self, payload: list[Any]) -> enum.Enum:
        name, value = _list(payload)

        return self._resolver.enum_class(name)(self.from_tree(value))

    def _object_from_tree(self, payload: list[Any]) -> Any:
        name, fields = _list(payload)
        cls = self._resolver.object_class(name)
        if type(fields) is not dict:
            raise TypeError(f"the fields of {name} are not a mapping")

        rebuild = self._rebuilders.get(cls)
        if rebuild is None:
            rebuild = self._rebuilders[cls] = _rebuilder(cls)

        return rebuild(self._revive_values(fields))


def _rebuilder(cls: type) -> Callable[[dict[str, Any]], Any]:
    """How to build an instance of model or dataclass `cls` from its fields."""
    if issubclass(cls, RootModel):
        return functools.partial(_rebuild_root_model, cls)
    if issubclass(cls, BaseModel):
        # Fields are stored under their names, whatever their aliases.
        return functools.partial(cls.model_validate, by_alias=False, by_name=True)
    return functools.partial(_rebuild_dataclass, cls)


def _rebuild_root_model(cls: type[RootModel[Any]], fields: dict[str, Any]) -> Any:
    return cls.model_validate(fields.get("root"))


def _rebuild_dataclass(cls: type, fields: dict[str, Any]) -> Any:
    return cls(**fields)


def _list(payload: Any) -> list[Any]:
    if type(payload) is not list:
        raise TypeError(f"a tag payload is a list, not {type(payload).__name__}")
    return payload


# Scalars need no state, so their converters are plain functions.


def _zoned(value: dt.datetime | dt.time) -> str | list[Any]:
    """The payload of a datetime or time: ISO text, or a list if it must be.

    ISO text keeps a fixed UTC offset but not a zone's name nor `fold`; a
    `zoneinfo.ZoneInfo` zone is kept by its key. Other tzinfo classes come
    back as the fixed offset they had.
    """
    zone = value.tzinfo
    if type(zone) is zoneinfo.ZoneInfo and zone.key is not None:
        return [value.replace(tzinfo=None).isoformat(), zone.key, value.fold]
    if value.fold:
        return [value.isoformat(), None, value.fold]
    return value.isoformat()


def _datetime_to_tree(value: dt.datetime) -> Any:
    return {"~dt": _zoned(value)}


def _time_to_tree(value: dt.time) -> Any:
    return {"~tm": _zoned(value)}


def _date_to_tree(value: dt.date) -> Any:
    return {"~d": value.isoformat()}


def _timedelta_to_tree(value: dt.timedelta) -> Any:
    return {"~td": [value.days, value.seconds, value.microseconds]}


def _decimal_to_tree(value: decimal.Decimal) -> Any:
    return {"~dec": str(value)}


def _uuid_to_tree(value: uuid.UUID) -> Any:
    return {"~u": value.hex}


def _path_to_tree(value: pathlib.PurePath) -> Any:
    return {"~p": [_PATH_KINDS[type(value)], str(value)]}


def _unzoned(payload: str | list[Any], parse: Callable[[str], Any]) -> Any:
    if type(payload) is str:
        return parse(payload)

    iso, key, fold = _list(payload)
    value = parse(iso)
    if key is not None:
        value = value.replace(tzinfo=zoneinfo.ZoneInfo(key))

    return value.replace(fold=fold)


def _datetime_from_tree(payload: str | list[Any]) -> dt.datetime:
    value: dt.datetime = _unzoned(payload, dt.datetime.fromisoformat)
    return value


def _time_from_tree(payload: str | list[Any]) -> dt.time:
    value: dt.time = _unzoned(payload, dt.time.fromisoformat)
    return value


def _timedelta_from_tree(payload: list[Any]) -> dt.timedelta:
    days, seconds, microseconds = _list(payload)
    return dt.timedelta(days=days, seconds=seconds, microseconds=microseconds)


def _bytes_from_tree(payload: str) -> bytes:
    return binascii.a2b_base64(payload)


def _int_from_tree(payload: str) -> int:
    return int(payload, 16)


def _uuid_from_tree(payload: str) -> uuid.UUID:
    return uuid.UUID(hex=payload)


def _path_from_tree(payload: list[Any]) -> pathlib.PurePath:
    kind, path = _list(payload)
    return _PATH_CLASSES[kind](path)
