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
    {"~ip": ["address" | "network" | "interface", "10.0.0.1"]}
                                            ipaddress types, IPv4 and IPv6
    {"~e": [class name, value]}             Enum member
    {"~o": [class name, {field: value}]}    pydantic model or dataclass

A user's dict with one key that happens to be a tag name is stored as `~m`,
so it never reads back as a tag. Types are matched exactly (`type(v) is
dict`), except for Enums, models and dataclasses, which are matched by kind:
a subclass of a builtin type would otherwise come back as its base.

A field of a pydantic model may also hold a value of a type without a tag (an
`HttpUrl`, a `deque`, a `NamedTuple`...): it is stored in the JSON form that
pydantic gives it, which validation turns back into the field's type on read.
A dataclass field may not, since a dataclass is rebuilt without validation.

Sets and frozensets are written in a canonical order, members sorted by their
serialized bytes, so that equal sets encode to equal bytes in any process.
Class names are resolved on the way back by `kvdb.codecs._classes`, which
decides which classes may be rebuilt.
"""

from __future__ import annotations

import binascii
import collections
import dataclasses
import datetime as dt
import decimal
import enum
import functools
import inspect
import ipaddress
import math
import pathlib
import uuid
import zoneinfo
from collections.abc import Callable, Iterable
from typing import Any, Final

from pydantic import (
    BaseModel,
    RootModel,
    Secret,
    SecretBytes,
    SecretStr,
    ValidationError,
)
from pydantic_core import PydanticSerializationError

from kvdb.codecs._classes import ClassResolver, name_of

__all__ = [
    "JSON_DIALECT",
    "MSGPACK_DIALECT",
    "Dialect",
    "TypedTree",
    "UnknownTypeError",
]

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_UINT64_MAX: Final = 2**64 - 1


@dataclasses.dataclass(frozen=True)
class Dialect:
    """The typed trees of one format: what it carries natively, untagged."""

    name: str
    bytes_native: bool
    nonfinite_native: bool
    int_min: int
    int_max: int


JSON_DIALECT: Final = Dialect("json", False, False, _INT64_MIN, _INT64_MAX)
MSGPACK_DIALECT: Final = Dialect("msgpack", True, True, _INT64_MIN, _UINT64_MAX)

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

_IP_KINDS: Final[dict[type, str]] = {
    ipaddress.IPv4Address: "address",
    ipaddress.IPv6Address: "address",
    ipaddress.IPv4Network: "network",
    ipaddress.IPv6Network: "network",
    ipaddress.IPv4Interface: "interface",
    ipaddress.IPv6Interface: "interface",
}
# Each parser tells IPv4 from IPv6 by the text, as the classes write it.
_IP_PARSERS: Final[dict[str, Callable[[str], Any]]] = {
    "address": ipaddress.ip_address,
    "network": ipaddress.ip_network,
    "interface": ipaddress.ip_interface,
}

_SECRETS: Final = (SecretStr, SecretBytes, Secret)

TAGS: Final = frozenset(
    {"~t", "~s", "~fs", "~m", "~b", "~i", "~f", "~dt", "~d", "~tm", "~td"}
    | {"~dec", "~u", "~p", "~ip", "~e", "~o"}
)


class UnknownTypeError(TypeError):
    """A value of type `cls`, which dialect `dialect` has no tag for."""

    def __init__(self, cls: type, dialect: str) -> None:
        super().__init__(
            f"a value of type {_dotted_name(cls)} cannot be stored by the {dialect} "
            f"serializer, which stores builtin scalars and containers, "
            f"datetimes, Decimal, UUID, paths, IP addresses, Enums, pydantic "
            f"models and dataclasses (and in a model's field, what pydantic "
            f"validates from JSON); use one of those or the pickle serializer"
        )
        self.cls = cls


class TypedTree:
    """Turns values into tagged trees of one format, and trees back into values.

    `sort_key` serializes a tree to bytes with the format's library; it orders
    set members canonically. `resolver` decides which classes may be rebuilt.
    """

    def __init__(
        self,
        dialect: Dialect,
        sort_key: Callable[[Any], bytes],
        resolver: ClassResolver,
    ) -> None:
        self.dialect = dialect
        self._sort_key = sort_key
        self._resolver = resolver
        self._bytes_native = dialect.bytes_native
        self._nonfinite_native = dialect.nonfinite_native
        self._int_min = dialect.int_min
        self._int_max = dialect.int_max

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
            **dict.fromkeys(_IP_KINDS, _ip_to_tree),
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
            "~ip": _ip_from_tree,
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

        Raises `TypeError` for a value of a type that cannot round-trip
        (`UnknownTypeError` for a type without a tag).
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
        """The encoder of an Enum, model or dataclass type, cached.

        A type that cannot be stored gets an encoder that refuses it, so that
        it is looked into once.
        """
        encoder: Callable[[Any], Any]
        if issubclass(cls, enum.Enum):
            encoder = self._enum_to_tree
        elif issubclass(cls, BaseModel):
            encoder = self._model_to_tree
        elif dataclasses.is_dataclass(cls):
            names = tuple(f.name for f in dataclasses.fields(cls) if f.init)
            lost = _init_only_parameters(cls, names)
            if lost:
                encoder = _refusal(
                    TypeError,
                    f"dataclass {_dotted_name(cls)} cannot be stored by the "
                    f"{self.dialect.name} serializer: its __init__ takes "
                    f"{', '.join(lost)}, which no field keeps (an InitVar), "
                    f"so the value could not be rebuilt on read; make "
                    f"{lost[0]} a field, or use the pickle serializer",
                )
            else:
                encoder = functools.partial(self._dataclass_to_tree, names=names)
        else:
            encoder = _refusal(UnknownTypeError, cls, self.dialect.name)

        self._encoders[cls] = encoder

        return encoder

    def _enum_to_tree(self, value: enum.Enum) -> Any:
        return {"~e": [name_of(type(value)), self.to_tree(value.value)]}

    def _model_to_tree(self, value: BaseModel) -> Any:
        """The tree of pydantic model `value`, validated again when it is read.

        A field value without a tag is stored in pydantic's JSON form of it,
        if validating that form gives the value back (see `_stand_ins`).

        Caveat: a model made with `model_construct` from values that do not
        validate is stored, but reading it raises `DecodeError`.
        """
        to_tree = self.to_tree
        try:
            fields = {
                name: item if type(item) is str else to_tree(item)
                for name, item in value.__dict__.items()
            }
        except UnknownTypeError:
            fields = self._fields_with_stand_ins(value)
        extra = value.__pydantic_extra__
        if extra:
            fields.update((name, to_tree(item)) for name, item in extra.items())

        return {"~o": [name_of(type(value)), fields]}

    def _fields_with_stand_ins(self, value: BaseModel) -> dict[str, Any]:
        """The trees of the fields of `value`, with stand-ins where needed."""
        fields: dict[str, Any] = {}
        untagged = []
        for name, item in value.__dict__.items():
            try:
                fields[name] = self.to_tree(item)
            except UnknownTypeError:
                untagged.append(name)
                fields[name] = None  # holds the field's place in the order

        for name, stand_in in self._stand_ins(value, untagged).items():
            fields[name] = self.to_tree(stand_in)

        return fields

    def _stand_ins(self, value: BaseModel, names: list[str]) -> dict[str, Any]:
        """What to store for fields `names` of `value`, checked to read back.

        That is the JSON form the model's serializer gives each field, which
        validation turns back into the field's type. It is refused when it
        validates to another value or type: in a field typed `Any`, a union or
        a base class, a `deque` would read back as a list. A secret is stored
        as its value when it is the whole field; in a container, its JSON
        form is a mask, and the field is refused.
        """
        cls = type(value)
        stand_ins = {}
        for name in names:
            item = value.__dict__[name]
            if isinstance(item, _SECRETS):
                # Stored as its value, in the clear, as pickle stores it: its
                # JSON form is a mask, which would read back as "**********"
                # without a word. A secret type keeps a value out of reprs and
                # logs, and kvdb puts no stored value in either.
                stand_ins[name] = item.get_secret_value()
            else:
                stand_ins[name] = self._canonical(item, _json_form(value, name))

        fields = {**value.__dict__, **(value.__pydantic_extra__ or {}), **stand_ins}
        try:
            rebuilt = self._rebuilder(cls)(fields)
        except ValidationError as exc:
            # Not chained, as on read: the ValidationError quotes the values.
            raise TypeError(
                f"{_dotted_name(cls)} does not validate from the JSON form of its "
                f"field {', '.join(map(repr, names))}: {_problems(exc)}; give "
                f"the field a type pydantic validates from JSON, or use the "
                f"pickle serializer"
            ) from None

        for name in names:
            item = value.__dict__[name]
            if not _same(item, rebuilt.__dict__[name]):
                raise TypeError(
                    f"field {name!r} of {_dotted_name(cls)} holds a "
                    f"{_dotted_name(type(item))}, which the {self.dialect.name} "
                    f"serializer stores in its JSON form, but that form "
                    f"validates back to another value; give the field a type "
                    f"that rebuilds it (not Any, a union or a base class), or "
                    f"use the pickle serializer"
                )

        return stand_ins

    def _canonical(self, value: Any, form: Any) -> Any:
        """`form`, pydantic's JSON form of `value`, with its sets in order.

        pydantic writes a set as a list in iteration order, which depends on
        the hash seed; sorted as the members of a `~s` tag are, equal sets
        give equal bytes. `value` is walked beside `form`, through what
        pydantic writes as lists and dicts; where they differ in shape (a
        serializer of the field's own), `form` is left as it is.
        """
        if (
            type(form) is list
            and isinstance(value, (list, tuple, collections.deque, set, frozenset))
            and len(form) == len(value)
        ):
            members = list(map(self._canonical, value, form))
            if isinstance(value, (set, frozenset)):
                members.sort(key=lambda member: self._sort_key(self.to_tree(member)))
            return members
        if type(form) is dict:
            if isinstance(value, dict) and len(form) == len(value):
                items = map(self._canonical, value.values(), form.values())
                return dict(zip(form, items, strict=True))
            fields = _fields_of(value)
            if fields is not None:
                return {
                    key: self._canonical(fields[key], item) if key in fields else item
                    for key, item in form.items()
                }

        return form

    def _dataclass_to_tree(self, value: Any, names: tuple[str, ...]) -> Any:
        to_tree = self.to_tree
        fields = {}
        for name in names:
            item = getattr(value, name)
            try:
                fields[name] = to_tree(item)
            except UnknownTypeError as exc:
                cls = type(value)
                raise TypeError(
                    f"field {name!r} of dataclass {_dotted_name(cls)} holds a value "
                    f"of type {_dotted_name(exc.cls)}, which the {self.dialect.name} "
                    f"serializer has no tag for. A pydantic model's field may "
                    f"hold one, in the JSON form that validation turns back "
                    f"into it; a dataclass is rebuilt without validation, so "
                    f"it would read back as another type. Make "
                    f"{cls.__qualname__} a pydantic model, or use the pickle "
                    f"serializer"
                ) from exc

        return {"~o": [name_of(type(value)), fields]}

    # -- decoding -----------------------------------------------------------

    def from_tree(self, tree: Any) -> Any:
        """The value `tree` stands for, reusing the containers of `tree`.

        `tree` must be freshly parsed and owned by the caller: its lists and
        dicts are updated in place, which spares copying the untagged parts.
        Raises whatever a malformed tree provokes (`TypeError`, `ValueError`,
        `ResolveError`...; a model that does not validate is a `ValueError`
        that quotes no value); the codec turns any of them into a
        `DecodeError`.
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

        try:
            return self._rebuilder(cls)(self._revive_values(fields))
        except ValidationError as exc:
            # Not chained: the message of a ValidationError quotes the values,
            # and a secret is stored as its value.
            raise ValueError(f"{name} does not validate: {_problems(exc)}") from None

    def _rebuilder(self, cls: type) -> Callable[[dict[str, Any]], Any]:
        rebuild = self._rebuilders.get(cls)
        if rebuild is None:
            rebuild = self._rebuilders[cls] = _rebuilder(cls)

        return rebuild


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


def _init_only_parameters(cls: type, fields: tuple[str, ...]) -> list[str]:
    """The parameters of dataclass `cls` that are not fields: its InitVars."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):  # no signature to read: nothing to check
        return []

    return [
        parameter.name
        for parameter in parameters
        if parameter.name not in fields
        and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    ]


def _json_form(model: BaseModel, name: str) -> Any:
    """The JSON form that the serializer of `model` gives its field `name`."""
    root = isinstance(model, RootModel)
    try:
        dumped = model.model_dump(
            mode="json",
            include=None if root else {name},
            round_trip=True,
            warnings=False,
        )
    except PydanticSerializationError as exc:
        raise TypeError(
            f"field {name!r} of {_dotted_name(type(model))} has no JSON form: {exc}"
        ) from exc

    if root:  # a root model dumps its one field as itself
        return dumped
    if not isinstance(dumped, dict) or name not in dumped:
        raise TypeError(
            f"field {name!r} of {_dotted_name(type(model))} has no JSON form of its "
            f"own: the model's serializer leaves it out"
        )

    return dumped[name]


def _fields_of(value: Any) -> dict[str, Any] | None:
    """The fields of model or dataclass instance `value`, by name."""
    if isinstance(value, BaseModel):
        return {**value.__dict__, **(value.__pydantic_extra__ or {})}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: getattr(value, field.name)
            for field in dataclasses.fields(value)
        }
    return None


def _same(left: Any, right: Any) -> bool:
    """Whether `right` has the type and value of `left`, all the way down.

    `==` alone would take a dict for an OrderedDict, or a list of str for a
    list of `HttpUrl`.
    """
    if type(left) is not type(right):
        return False
    if isinstance(left, BaseModel):
        return _same(left.__dict__, right.__dict__) and _same(
            left.__pydantic_extra__, right.__pydantic_extra__
        )
    if dataclasses.is_dataclass(left):
        return all(
            _same(getattr(left, field.name), getattr(right, field.name))
            for field in dataclasses.fields(left)
        )
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(
            _same(item, right[key]) for key, item in left.items()
        )
    if isinstance(left, (list, tuple, collections.deque)):
        return len(left) == len(right) and all(map(_same, left, right))
    if isinstance(left, (set, frozenset)):
        return {(type(m), m) for m in left} == {(type(m), m) for m in right}

    return bool(left == right)


def _problems(exc: ValidationError) -> str:
    """What `exc` found wrong, without the input values its message quotes."""
    return "; ".join(
        f"{'.'.join(map(str, error['loc'])) or 'value'}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False)
    )


def _refusal(error: Callable[..., TypeError], *args: Any) -> Callable[[Any], Any]:
    """An encoder that refuses any value with a new `error(*args)`."""

    def refuse(value: Any) -> Any:
        raise error(*args)

    return refuse


def _dotted_name(cls: type) -> str:
    """`module.Qualname` of `cls`, as messages name a class."""
    return f"{cls.__module__}.{cls.__qualname__}"


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


def _ip_to_tree(value: Any) -> Any:
    return {"~ip": [_IP_KINDS[type(value)], str(value)]}


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
    # Strict: the lenient decoder skips characters outside the alphabet, so
    # a corrupt payload would read back as other bytes instead of failing.
    return binascii.a2b_base64(payload, strict_mode=True)


def _int_from_tree(payload: str) -> int:
    return int(payload, 16)


def _uuid_from_tree(payload: str) -> uuid.UUID:
    return uuid.UUID(hex=payload)


def _path_from_tree(payload: list[Any]) -> pathlib.PurePath:
    kind, path = _list(payload)
    return _PATH_CLASSES[kind](path)


def _ip_from_tree(payload: list[Any]) -> Any:
    kind, text = _list(payload)
    return _IP_PARSERS[kind](text)
