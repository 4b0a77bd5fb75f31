"""Which classes a stored value may name, and how a name finds its class.

A json or msgpack frame stores an Enum member, a pydantic model or a dataclass
with the name of its class: the name given to `register_type`, or else
`module:qualname`. Reading such a value must never become a way to run or
import arbitrary code, so `ClassResolver.resolve` finds a class only if it is

- registered under that name with `register_type`, or
- in a module that this process has already imported, or
- in a module listed in the session's `trusted_modules` (or a submodule of
  one), the only case in which the module is imported on demand,

and only if the class is of the kind the tag asked for (an Enum, or a model
or dataclass). Names are looked up in module and class namespaces with
`vars()`, never `getattr`, so that no module `__getattr__` hook or descriptor
runs while a name is resolved.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import re
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any, Final, TypeVar, overload

from pydantic import BaseModel

from kvdb.codecs._frame import FrameError
from kvdb.errors import ConfigError

__all__ = [
    "MODULE_NAME",
    "ClassResolver",
    "ResolveError",
    "is_object_class",
    "name_of",
    "register_type",
]

_T = TypeVar("_T", bound=type)

MODULE_NAME: Final = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
"""A dotted module name, as a stored class name and `trusted_modules` hold."""

_lock = threading.Lock()
_registered_by_name: dict[str, type] = {}
_registered_by_class: dict[type, str] = {}

# Caches of what a name resolved to, and of the name a class is stored under.
# They are shared by every resolver: once a name resolves, its module is
# imported, so any resolver would now resolve it too. `register_type` clears
# them, since a registration can change both directions.
_objects_by_name: dict[str, type] = {}
_enums_by_name: dict[str, type] = {}
_names_by_class: dict[type, str] = {}


class ResolveError(FrameError):
    """A stored class name may not be, or cannot be, turned into a class."""


def is_object_class(cls: type) -> bool:
    """Whether `cls` is a pydantic model or a dataclass."""
    return issubclass(cls, BaseModel) or dataclasses.is_dataclass(cls)


@overload
def register_type(cls: _T, *, name: str | None = None) -> _T: ...


@overload
def register_type(*, name: str | None = None) -> Callable[[_T], _T]: ...


def register_type(
    cls: _T | None = None, *, name: str | None = None
) -> _T | Callable[[_T], _T]:
    """Let json and msgpack sessions store and rebuild `cls` under `name`.

    `cls` is a pydantic model, a dataclass or an Enum. Values are stored with
    `name` (by default `module:qualname`), and read back by that name whatever
    module the class lives in by then, so give an explicit name to a class
    that may be renamed or moved. Registering is also how a class defined
    inside a function becomes storable.

    Use it as a call, `register_type(User, name="user")`, or as a decorator,
    `@register_type` or `@register_type(name="user")`. Returns `cls`.

    Raises `TypeError` for a class of another kind, and `ConfigError` when
    `name` is taken by another class or `cls` is registered under another
    name.
    """
    if cls is None:
        return lambda cls: register_type(cls, name=name)

    if not isinstance(cls, type) or not (
        is_object_class(cls) or issubclass(cls, enum.Enum)
    ):
        raise TypeError(
            f"register_type() takes a pydantic model, a dataclass or an Enum "
            f"class, not {cls!r}"
        )

    name = _path_of(cls) if name is None else name
    with _lock:
        _check_free(cls, name)
        _registered_by_name[name] = cls
        _registered_by_class[cls] = name
        _objects_by_name.clear()
        _enums_by_name.clear()
        _names_by_class.clear()

    return cls


def _check_free(cls: type, name: str) -> None:
    """Refuse a registration that would make one name mean two classes."""
    holder = _registered_by_name.get(name)
    if holder is not None and holder is not cls and _path_of(holder) != _path_of(cls):
        # Same module and qualname is the same class defined again (a module
        # reloaded, a notebook cell run twice): it replaces the old one.
        raise ConfigError(
            f"register_type(): the name {name!r} is already registered for "
            f"{_path_of(holder)}; choose another name"
        )

    current = _registered_by_class.get(cls)
    if current is not None and current != name:
        raise ConfigError(
            f"register_type(): {_path_of(cls)} is already registered as "
            f"{current!r}; a class has one name"
        )


def _path_of(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def name_of(cls: type) -> str:
    """The name values of class `cls` are stored under.

    Raises `TypeError` when `cls` is not registered and its `module:qualname`
    would not find it again (a class defined in a function, a parametrized
    generic model): such a value could be written but never read.
    """
    name = _names_by_class.get(cls)
    if name is not None:
        return name

    name = _registered_by_class.get(cls)
    if name is None:
        name = _path_of(cls)
        module = sys.modules.get(cls.__module__)
        if module is None or _lookup(module, cls.__qualname__) is not cls:
            raise TypeError(
                f"{name} cannot be found again by its module and name; "
                f"register it with kvdb.register_type({cls.__qualname__}, "
                f"name=...)"
            )

    _names_by_class[cls] = name

    return name


def _lookup(namespace: object, qualname: str) -> object:
    """The object at dotted `qualname` inside `namespace`, or None."""
    found: object = namespace
    for part in qualname.split("."):
        try:
            found = vars(found).get(part)
        except TypeError:  # an object without a __dict__
            return None
        if found is None:
            return None

    return found


class ClassResolver:
    """Finds the class a stored name refers to, within the safety rules."""

    __slots__ = ("_trusted",)

    def __init__(self, trusted_modules: Iterable[str] = ()) -> None:
        self._trusted = tuple(trusted_modules)

    def object_class(self, name: str) -> type[Any]:
        """The pydantic model or dataclass stored as `name`."""
        cls = _objects_by_name.get(name)
        if cls is None:
            cls = self._resolve(name)
            if not is_object_class(cls):
                raise ResolveError(f"{name} is not a pydantic model or a dataclass")
            _objects_by_name[name] = cls

        return cls

    def enum_class(self, name: str) -> type[enum.Enum]:
        """The Enum stored as `name`."""
        cls = _enums_by_name.get(name)
        if cls is None:
            cls = self._resolve(name)
            if not issubclass(cls, enum.Enum):
                raise ResolveError(f"{name} is not an Enum")
            _enums_by_name[name] = cls

        return cls

    def _resolve(self, name: str) -> type:
        registered = _registered_by_name.get(name)
        if registered is not None:
            return registered

        module_name, colon, qualname = name.partition(":")
        if not colon or not MODULE_NAME.fullmatch(module_name):
            raise ResolveError(f"no class is registered as {name!r}")

        module: object = sys.modules.get(module_name)
        if module is None:
            module = self._import_trusted(module_name, name)

        found = _lookup(module, qualname)
        if not isinstance(found, type):
            raise ResolveError(f"{name} does not name a class")

        return found

    def _import_trusted(self, module_name: str, name: str) -> object:
        if not any(
            module_name == trusted or module_name.startswith(trusted + ".")
            for trusted in self._trusted
        ):
            raise ResolveError(
                f"{name} is in module {module_name!r}, which is not imported "
                f"and not in trusted_modules; import it first, register the "
                f"class with kvdb.register_type, or add the module to "
                f"trusted_modules"
            )

        try:
            return importlib.import_module(module_name)
        except ImportError as exc:
            raise ResolveError(
                f"{name}: trusted module {module_name!r} does not import ({exc})"
            ) from exc
