"""The codec factory: a session's codec from its validated settings.

`build_codec` checks the codec settings as a whole (each field alone was
checked by `SessionSettings`), picks the serializer, library and compressor
from the registries of what is installed, and assembles a `Codec`. Every
problem is a `ConfigError` that names the setting; an optional library that is
not installed is a `MissingDependencyError` that names the extra to install.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from kvdb.codecs import _frame
from kvdb.codecs._classes import MODULE_NAME, ClassResolver
from kvdb.codecs._codec import Codec
from kvdb.codecs._compressors import COMPRESSORS, Compressor
from kvdb.codecs._frame import Signer
from kvdb.codecs._serializers import (
    EXTRAS,
    JSON_LIBRARIES,
    PICKLE_LIBRARIES,
    BytesSerializer,
    JsonSerializer,
    MsgpackSerializer,
    PickleSerializer,
    Serializer,
    TextSerializer,
)
from kvdb.errors import ConfigError, MissingDependencyError
from kvdb.settings.models import SessionSettings

__all__ = ["build_codec"]

_SERIALIZERS: Final = ("auto", "json", "msgpack", "pickle")
_JSON_LIBRARY_NAMES: Final = ("orjson", "ujson", "simdjson", "json")
_PICKLE_LIBRARY_NAMES: Final = ("cloudpickle", "dill", "pickle")
_COMPRESSION_NAMES: Final = ("zstd", "lz4", "gzip", "zlib", "brotli", "snappy")
_DEFAULT_COMPRESSION: Final = "zstd"
_MIN_SIGNING_KEY_BYTES: Final = 16

_Library = TypeVar("_Library")


def build_codec(settings: SessionSettings) -> Codec:
    """The codec that the codec settings of a session describe.

    Raises `ConfigError` for settings that do not go together (a compression
    or `signing_key` without the serializer it needs, an unknown
    `serializer_kwargs` key, a level the compressor does not have...), and
    `MissingDependencyError` for a library that is not installed.
    """
    name = "json" if settings.serializer == "auto" else settings.serializer
    compression = _compression_name(settings)
    if name is None:
        _check_passthrough(settings, compression)
        return Codec(
            serializer=None,
            max_value_size=settings.max_value_size,
            max_decompressed_size=settings.max_decompressed_size,
            readers={},
            on_decode_error=settings.on_decode_error,
        )

    resolver = ClassResolver(_trusted_modules(settings.trusted_modules))
    serializer = _serializer(name, settings.serializer_kwargs, resolver)
    compressor = None
    if compression is not None:
        compressor = _compressor(compression, settings.compression_level)

    return Codec(
        serializer=serializer,
        compressor=compressor,
        compression_threshold=settings.compression_threshold,
        max_value_size=settings.max_value_size,
        max_decompressed_size=settings.max_decompressed_size,
        readers=_readers(serializer, resolver),
        signer=_signer(settings, name),
        on_decode_error=settings.on_decode_error,
    )


def _compression_name(settings: SessionSettings) -> str | None:
    """The compression in effect: `compression_enabled` has the last word."""
    if settings.compression_enabled is False:
        return None
    if settings.compression_enabled and settings.compression is None:
        return _DEFAULT_COMPRESSION
    return settings.compression


def _check_passthrough(settings: SessionSettings, compression: str | None) -> None:
    """Refuse codec settings that only make sense with a serializer."""
    if compression is not None:
        what = (
            f"compression is {compression!r}"
            if settings.compression
            else "compression_enabled is true"
        )
        raise ConfigError(
            f"compression needs a serializer: {what} but serializer is not "
            f"set; set serializer (json, msgpack or pickle), or remove the "
            f"compression"
        )
    if settings.serializer_kwargs:
        raise ConfigError(
            "serializer_kwargs is set but serializer is not; set serializer, "
            "or remove serializer_kwargs"
        )
    if settings.signing_key is not None:
        raise ConfigError(
            "signing_key signs pickle frames, but serializer is not set; set "
            "serializer = 'pickle', or remove signing_key"
        )


def _serializer(
    name: str, kwargs: dict[str, Any], resolver: ClassResolver
) -> Serializer:
    if name == "json":
        _check_options(name, kwargs, "jsonlib")
        jsonlib = kwargs.get("jsonlib", "orjson")
        json_library = _library("jsonlib", jsonlib, _JSON_LIBRARY_NAMES, JSON_LIBRARIES)
        return JsonSerializer(json_library(), resolver)

    if name == "msgpack":
        _check_options(name, kwargs)
        return MsgpackSerializer(resolver)

    if name == "pickle":
        _check_options(name, kwargs, "picklelib")
        picklelib = kwargs.get("picklelib", next(iter(PICKLE_LIBRARIES)))
        pickle_library = _library(
            "picklelib", picklelib, _PICKLE_LIBRARY_NAMES, PICKLE_LIBRARIES
        )
        return PickleSerializer(pickle_library())

    raise ConfigError(
        f"serializer: unknown serializer {name!r}; choose one of "
        f"{', '.join(_SERIALIZERS)}, or leave it unset to store values as "
        f"redis-py does"
    )


def _check_options(serializer: str, kwargs: dict[str, Any], *known: str) -> None:
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        takes = f"takes only {', '.join(known)}" if known else "takes no options"
        raise ConfigError(
            f"serializer_kwargs: unknown option {unknown[0]!r} for the "
            f"{serializer} serializer, which {takes}"
        )


def _library(
    option: str,
    choice: Any,
    known: tuple[str, ...],
    installed: Mapping[str, Callable[[], _Library]],
) -> Callable[[], _Library]:
    """The loader of library `choice` for `option` (jsonlib or picklelib)."""
    if choice not in known:
        raise ConfigError(
            f"serializer_kwargs: {option} {choice!r} is not a library kvdb "
            f"knows; choose one of {', '.join(known)}"
        )
    if choice not in installed:
        raise MissingDependencyError(
            f"serializer_kwargs: {option} {choice!r} is not installed; "
            f"install it with pip install 'kvdb[{EXTRAS[choice]}]'"
        )
    return installed[choice]


def _compressor(name: str, level: int | None) -> Compressor:
    spec = COMPRESSORS.get(name)
    if spec is None:
        if name in _COMPRESSION_NAMES:
            raise MissingDependencyError(
                f"compression: the installed cramjam has no {name!r}; upgrade "
                f"it with pip install -U cramjam"
            )
        raise ConfigError(
            f"compression: unknown compression {name!r}; choose one of "
            f"{', '.join(_COMPRESSION_NAMES)}"
        )

    try:
        return spec.compressor(level)
    except ValueError as exc:
        raise ConfigError(f"compression_level: {exc}") from exc


def _trusted_modules(modules: list[str]) -> list[str]:
    for module in modules:
        if not MODULE_NAME.fullmatch(module):
            raise ConfigError(
                f"trusted_modules: {module!r} is not a module name; write "
                f"dotted names such as 'myapp.models'"
            )
    return modules


def _readers(serializer: Serializer, resolver: ClassResolver) -> dict[int, Serializer]:
    """The serializer that reads each kind of frame, by frame id.

    Any session reads text, bytes, json and msgpack frames, whatever its own
    serializer; only a pickle session reads pickle frames.
    """
    readers: dict[int, Serializer] = {
        _frame.BYTES: BytesSerializer(),
        _frame.TEXT: TextSerializer(),
        _frame.JSON: JsonSerializer(JSON_LIBRARIES["orjson"](), resolver),
        _frame.MSGPACK: MsgpackSerializer(resolver),
    }
    readers[serializer.id] = serializer

    return readers


def _signer(settings: SessionSettings, serializer: str) -> Signer | None:
    if settings.signing_key is None:
        return None
    if serializer != "pickle":
        raise ConfigError(
            f"signing_key signs pickle frames, but serializer is "
            f"{serializer!r}; set serializer = 'pickle', or remove signing_key"
        )

    key = settings.signing_key.get_secret_value().encode()
    if len(key) < _MIN_SIGNING_KEY_BYTES:
        raise ConfigError(
            f"signing_key is shorter than {_MIN_SIGNING_KEY_BYTES} bytes; use "
            f"a random key, e.g. from python -c 'import secrets; "
            f"print(secrets.token_hex(32))'"
        )

    return Signer(key)
