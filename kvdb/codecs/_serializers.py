"""Serializers: each turns values into a frame body and back, one format each.

A serializer has a frame `id`, and two methods: `dumps(value)` gives the body
and whether it is TYPED (holds tags that `loads` must revive), and
`loads(body, typed)` gives the value back. The codec catches whatever a
library raises and reports it as an `EncodeError` or `DecodeError`.

- `BytesSerializer` and `TextSerializer` carry a top-level `bytes` or `str`
  unchanged, for every session whatever its serializer.
- `JsonSerializer` writes JSON through one of `JSON_LIBRARIES`, with the tags
  of `kvdb.codecs._typed` for the types JSON lacks.
- `MsgpackSerializer` writes MessagePack with the same tags.
- `PickleSerializer` writes pickles through one of `PICKLE_LIBRARIES`.

The library registries hold only what is importable; `EXTRAS` names the
package extra that installs each optional one.
"""

from __future__ import annotations

import abc
import functools
import importlib.util
import io
import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import msgpack
import orjson
from pydantic import BaseModel

from kvdb.codecs import _frame
from kvdb.codecs._classes import ClassResolver
from kvdb.codecs._typed import JSON_DIALECT, MSGPACK_DIALECT, TypedTree

__all__ = [
    "EXTRAS",
    "JSON_LIBRARIES",
    "PICKLE_LIBRARIES",
    "BytesSerializer",
    "JsonLibrary",
    "JsonSerializer",
    "MsgpackSerializer",
    "PickleLibrary",
    "PickleSerializer",
    "Serializer",
    "TextSerializer",
]

Body: TypeAlias = "bytes | bytearray"


class Serializer(abc.ABC):
    """The interface of a serializer."""

    id: int
    name: str

    @abc.abstractmethod
    def dumps(self, value: Any) -> tuple[bytes, bool]:
        """The body of `value`, and whether it is TYPED."""

    @abc.abstractmethod
    def loads(self, body: Body, typed: bool) -> Any:
        """The value of `body`."""


class BytesSerializer(Serializer):
    """A top-level `bytes` value, stored as it is."""

    id = _frame.BYTES
    name = "bytes"

    def dumps(self, value: bytes) -> tuple[bytes, bool]:
        return value, False

    def loads(self, body: Body, typed: bool) -> bytes:
        return bytes(body)


class TextSerializer(Serializer):
    """A top-level `str` value, stored as UTF-8."""

    id = _frame.TEXT
    name = "text"

    def dumps(self, value: str) -> tuple[bytes, bool]:
        return value.encode(), False

    def loads(self, body: Body, typed: bool) -> str:
        return body.decode()


# -- json -------------------------------------------------------------------


@dataclass(frozen=True)
class JsonLibrary:
    """One JSON library, adapted to compact UTF-8 output."""

    name: str
    dumps: Callable[[Any], bytes]
    loads: Callable[[Body], Any]


def _orjson() -> JsonLibrary:
    return JsonLibrary("orjson", orjson.dumps, orjson.loads)


def _ujson() -> JsonLibrary:
    import ujson

    def dumps(value: Any) -> bytes:
        text: str = ujson.dumps(
            value,
            ensure_ascii=False,
            escape_forward_slashes=False,
            allow_nan=False,
            reject_bytes=True,
        )
        return text.encode()

    return JsonLibrary("ujson", dumps, ujson.loads)


def _simdjson() -> JsonLibrary:
    # pysimdjson only parses; orjson, always installed, writes.
    import simdjson

    return JsonLibrary("simdjson", orjson.dumps, simdjson.loads)


def _stdlib_json() -> JsonLibrary:
    encoder = json.JSONEncoder(
        ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )

    def dumps(value: Any) -> bytes:
        return encoder.encode(value).encode()

    def loads(body: Body) -> Any:
        # Decode as UTF-8 ourselves: given bytes, json.loads guesses the
        # encoding and would accept UTF-16 or UTF-32 too.
        return json.loads(body.decode())

    return JsonLibrary("json", dumps, loads)


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


EXTRAS: Final = {
    "ujson": "ujson",
    "simdjson": "simdjson",
    "cloudpickle": "cloudpickle",
    "dill": "dill",
}
"""The package extra that installs each optional library: kvdb[<extra>]."""

JSON_LIBRARIES: dict[str, Callable[[], JsonLibrary]] = {
    name: loader
    for name, module, loader in (
        ("orjson", "orjson", _orjson),
        ("ujson", "ujson", _ujson),
        ("simdjson", "simdjson", _simdjson),
        ("json", "json", _stdlib_json),
    )
    if _importable(module)
}
"""The installed JSON libraries by `jsonlib` name, each a loader."""


class JsonSerializer(Serializer):
    """JSON, with tags for the types JSON lacks."""

    id = _frame.JSON
    name = "json"

    def __init__(self, library: JsonLibrary, resolver: ClassResolver) -> None:
        self.library = library
        self._dumps = library.dumps
        self._loads = library.loads
        self._tree = TypedTree(JSON_DIALECT, library.dumps, resolver)

    def __repr__(self) -> str:
        return f"JsonSerializer(jsonlib={self.library.name!r})"

    def dumps(self, value: Any) -> tuple[bytes, bool]:
        if self._tree.is_plain(value):
            return self._dumps(value), False
        return self._dumps(self._tree.to_tree(value)), True

    def loads(self, body: Body, typed: bool) -> Any:
        tree = self._loads(body)
        return self._tree.from_tree(tree) if typed else tree


# -- msgpack ----------------------------------------------------------------


class MsgpackSerializer(Serializer):
    """MessagePack, with tags for the types it lacks."""

    id = _frame.MSGPACK
    name = "msgpack"

    def __init__(self, resolver: ClassResolver) -> None:
        self._pack = functools.partial(msgpack.packb, use_bin_type=True)
        self._unpack = functools.partial(msgpack.unpackb, raw=False)
        self._tree = TypedTree(MSGPACK_DIALECT, self._pack, resolver)

    def __repr__(self) -> str:
        return "MsgpackSerializer()"

    def dumps(self, value: Any) -> tuple[bytes, bool]:
        if self._tree.is_plain(value):
            return self._pack(value), False
        return self._pack(self._tree.to_tree(value)), True

    def loads(self, body: Body, typed: bool) -> Any:
        tree = self._unpack(body)
        return self._tree.from_tree(tree) if typed else tree


# -- pickle -----------------------------------------------------------------

_PROTOCOL: Final = 5
"""Fixed, so that a newer Python does not change what equal values encode to."""

_FINDER_PROTOCOL: Final = 3
"""The last protocol without set opcodes: it pickles a set as a call of `set`."""

# Opcodes that only a set or a frozenset emits (protocol 4 and later). Their
# absence from a pickle proves it holds no set; their bytes also occur inside
# numbers and text, so their presence proves nothing.
_EMPTY_SET: Final = b"\x8f"
_FROZENSET: Final = b"\x91"

_SCALARS: Final = frozenset({str, bytes, int, float, bool, type(None)})


@dataclass(frozen=True)
class PickleLibrary:
    """One pickle library: its pickler and unpickler classes."""

    name: str
    pickler: type[Any]
    unpickler: type[Any]
    dumps: Callable[[Any], bytes]


def _stdlib_pickle() -> PickleLibrary:
    dumps = functools.partial(pickle.dumps, protocol=_PROTOCOL)
    return PickleLibrary("pickle", pickle.Pickler, pickle.Unpickler, dumps)


def _cloudpickle() -> PickleLibrary:
    import cloudpickle

    dumps = functools.partial(cloudpickle.dumps, protocol=_PROTOCOL)
    return PickleLibrary("cloudpickle", cloudpickle.Pickler, pickle.Unpickler, dumps)


def _dill() -> PickleLibrary:
    import dill

    dumps = functools.partial(dill.dumps, protocol=_PROTOCOL)
    return PickleLibrary("dill", dill.Pickler, dill.Unpickler, dumps)


PICKLE_LIBRARIES: dict[str, Callable[[], PickleLibrary]] = {
    name: loader
    for name, module, loader in (
        ("cloudpickle", "cloudpickle", _cloudpickle),
        ("dill", "dill", _dill),
        ("pickle", "pickle", _stdlib_pickle),
    )
    if _importable(module)
}
"""The installed pickle libraries by `picklelib` name, in order of preference."""


class PickleSerializer(Serializer):
    """Pickle, with sets and frozensets in a canonical order.

    Pickle writes a set in its iteration order, which depends on the hash
    seed of the process. When a pickle holds a set, it is written again with
    every set and frozenset replaced by a persistent id that lists its
    members sorted by their own pickles; `loads` turns those ids back into
    sets.

    A pickle without the bytes of the set opcodes holds no set. A pickle with
    them (they also occur in numbers and text) is told apart by pickling the
    value again at protocol 3 (see `_holds_set`): an object whose reduction
    gives a set at protocol 5 only (none does in the standard library) would
    keep that set in iteration order.
    """

    id = _frame.PICKLE
    name = "pickle"

    def __init__(self, library: PickleLibrary) -> None:
        self.library = library
        self._dumps = library.dumps
        serializer = self
        library_reducer = getattr(library.pickler, "reducer_override", None)

        # Subclasses, not instance attributes: since Python 3.13 the C
        # pickler's persistent_id and persistent_load cannot be assigned.
        class CanonicalPickler(library.pickler):  # type: ignore[misc, name-defined]
            def persistent_id(self, obj: Any) -> Any:
                return serializer._set_id(obj)

        class SetFinder(library.pickler):  # type: ignore[misc, name-defined]
            def reducer_override(self, obj: Any) -> Any:
                if obj is set or obj is frozenset or isinstance(obj, BaseModel):
                    raise _SetFound
                if library_reducer is None:
                    return NotImplemented
                return library_reducer(self, obj)

        class SetUnpickler(library.unpickler):  # type: ignore[misc, name-defined]
            def persistent_load(self, pid: Any) -> Any:
                return _load_set(pid)

        self._pickler: type[Any] = CanonicalPickler
        self._finder: type[Any] = SetFinder
        self._unpickler: type[Any] = SetUnpickler

    def __repr__(self) -> str:
        return f"PickleSerializer(picklelib={self.library.name!r})"

    def dumps(self, value: Any) -> tuple[bytes, bool]:
        body = self._dumps(value)
        if (_EMPTY_SET in body or _FROZENSET in body) and self._holds_set(value):
            body = self._canonical_dumps(value)

        return body, False

    def _holds_set(self, value: Any) -> bool:
        """Whether pickling `value` pickles a set or a frozenset.

        Protocol 3 has no set opcodes: it pickles a set as a call of the class
        `set`, and the class passes through `reducer_override`, which the
        pickler calls for any object but builtin scalars and containers. The
        pass stops at the first set, and writes nothing out. A pydantic model
        counts as a set without a look inside: its pickled state holds the
        set of its fields set.
        """
        if isinstance(value, BaseModel):
            return True
        try:
            self._finder(_DISCARD, protocol=_FINDER_PROTOCOL).dump(value)
        except _SetFound:
            return True
        except Exception:
            # The value pickles at protocol 5 only (a PickleBuffer...). The
            # canonical pass is right for any value, only slower.
            return True

        return False

    def _canonical_dumps(self, value: Any) -> bytes:
        out = io.BytesIO()
        self._pickler(out, protocol=_PROTOCOL).dump(value)

        return out.getvalue()

    def _set_id(self, obj: Any) -> tuple[str, list[Any]] | None:
        cls = type(obj)
        if cls is set or cls is frozenset:
            return cls.__name__, sorted(obj, key=self._member_key)
        return None

    def _member_key(self, member: Any) -> bytes:
        # Scalars, the usual members, pickle alike with any library: the
        # stdlib's C pickler orders them far faster than a fresh canonical one.
        if type(member) in _SCALARS:
            return pickle.dumps(member, protocol=_PROTOCOL)
        return self._canonical_dumps(member)

    def loads(self, body: Body, typed: bool) -> Any:
        return self._unpickler(io.BytesIO(body)).load()


class _SetFound(Exception):  # noqa: N818 - a signal that ends a pass, not an error
    """Raised by the set finder at the first set, to end its pass."""


class _Discard:
    """A file that drops what it is given: the set finder's output is not used."""

    def write(self, data: bytes) -> None:
        pass


_DISCARD: Final = _Discard()


def _load_set(pid: Any) -> set[Any] | frozenset[Any]:
    kind, members = pid
    if kind == "set":
        return set(members)
    if kind == "frozenset":
        return frozenset(members)
    raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")
