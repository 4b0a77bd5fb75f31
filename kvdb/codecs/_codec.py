"""The codec of a session: serializer, then compressor, then frame.

`Codec.encode` turns a value into the bytes stored on the server and
`Codec.decode` turns them back, running the chain in reverse after reading the
frame header (see `kvdb.codecs._frame` for the layout). Integers skip the chain
and are stored as decimal text, so that `INCR` works on them; bytes without a
frame, written by another client, read back raw.

A codec is built once per session by `kvdb.codecs.build_codec`, and is
immutable and safe to share between threads. This module is the one place
where errors of the serializer and compression libraries are translated into
`EncodeError` and `DecodeError`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, Final

from kvdb.codecs import _frame
from kvdb.codecs._compressors import COMPRESSORS, Compressor
from kvdb.codecs._frame import FrameError, Signer
from kvdb.codecs._serializers import Serializer
from kvdb.errors import DecodeError, EncodeError, ValueTooLargeError
from kvdb.settings.models import OnDecodeError

__all__ = ["Codec"]

# Python refuses by default to convert ints of more digits to and from text,
# to bound the (quadratic) cost of the conversion. Larger ints go through the
# serializer, and raw values of more digits read as text.
_MAX_INT_DIGITS: Final = 4300
_INT_MAX: Final = 10**_MAX_INT_DIGITS - 1
_INT_MIN: Final = -_INT_MAX

_TEXT_HEADER: Final = _frame.header(_frame.TEXT, _frame.NO_COMPRESSION, 0)
_BYTES_HEADER: Final = _frame.header(_frame.BYTES, _frame.NO_COMPRESSION, 0)

# Any session reads a frame compressed with any algorithm it has, at any level.
_DECOMPRESSORS: Final[dict[int, Compressor]] = {
    spec.id: spec.compressor() for spec in COMPRESSORS.values()
}


class Codec:
    """Encodes values for the server and decodes what it returns.

    Build one with `kvdb.codecs.build_codec(settings)`.

    `passthrough` is true for a session without a serializer: values then go
    to and from redis-py unchanged (only their size is checked). Otherwise
    `encode` returns bytes, and `decode` accepts bytes (or a bytearray or
    memoryview of them) or `None` (a missing key, returned as `None`).

    `decode` raises `DecodeError` for a framed value that does not decode;
    `on_decode_error` is the session's policy for such values (`"raise"`,
    `"miss"` or `"delete"`), applied by the session, not by the codec.
    """

    __slots__ = (
        "_compressor",
        "_max_decompressed_size",
        "_max_value_size",
        "_plain_readers",
        "_readers",
        "_serializer",
        "_signer",
        "_threshold",
        "on_decode_error",
        "passthrough",
    )

    def __init__(
        self,
        *,
        serializer: Serializer | None,
        compressor: Compressor | None = None,
        compression_threshold: int = 0,
        max_value_size: int,
        max_decompressed_size: int,
        readers: Mapping[int, Serializer],
        signer: Signer | None = None,
        on_decode_error: OnDecodeError = "raise",
    ) -> None:
        self.passthrough: Final = serializer is None
        self.on_decode_error: Final = on_decode_error
        self._serializer = serializer
        self._compressor = compressor
        # Without a compressor no body reaches the threshold, which keeps
        # the str and bytes fast paths in `encode` taken.
        self._threshold = compression_threshold if compressor else sys.maxsize
        self._max_value_size = max_value_size
        self._max_decompressed_size = max_decompressed_size
        self._readers = dict(readers)
        # The frames most reads meet: unsigned, uncompressed and untagged (a
        # str, or a JSON-like document). Their 6 header bytes, matched whole,
        # say all the general path would check. Pickle is left to that path,
        # whose rules depend on the signing key.
        self._plain_readers = {
            _frame.header(id_, _frame.NO_COMPRESSION, 0): reader
            for id_, reader in self._readers.items()
            if id_ != _frame.PICKLE
        }
        self._signer = signer

    def __repr__(self) -> str:
        return (
            f"Codec(serializer={self._serializer!r}, "
            f"compressor={self._compressor!r}, "
            f"signed={self._signer is not None})"
        )

    # -- encoding -----------------------------------------------------------

    def encode(self, value: Any, key: str | bytes | None = None) -> Any:
        """`value` as the bytes to store at `key` (`key` names it in errors).

        Raises `EncodeError` for a value the serializer cannot store, and
        `ValueTooLargeError` for one over the session's `max_value_size`.
        """
        if self._serializer is None:
            self._check_passthrough_size(value, key)
            return value

        cls = type(value)
        if cls is str:
            try:
                body = value.encode()
            except UnicodeEncodeError:
                pass  # lone surrogates: left to the serializer (pickle has them)
            else:
                if len(body) < self._threshold:
                    return self._checked(_TEXT_HEADER + body, key)
                return self._framed(_frame.TEXT, body, 0, key)
        elif cls is int and _INT_MIN <= value <= _INT_MAX:
            try:
                text = b"%d" % value
            except ValueError:
                pass  # sys.set_int_max_str_digits() lowered the limit
            else:
                return self._checked(text, key)
        elif cls is bytes:
            if len(value) < self._threshold:
                return self._checked(_BYTES_HEADER + value, key)
            return self._framed(_frame.BYTES, value, 0, key)

        serializer = self._serializer
        try:
            body, typed = serializer.dumps(value)
        except Exception as exc:
            raise EncodeError(
                f"cannot encode the value for {_where(key)} with the "
                f"{serializer.name} serializer: {_reason(exc)}"
            ) from exc

        return self._framed(serializer.id, body, _frame.TYPED if typed else 0, key)

    def _framed(self, serializer: int, body: bytes, flags: int, key: Any) -> bytes:
        """`body` compressed if that pays, behind its header and signature."""
        compressor = self._compressor
        compressor_id = _frame.NO_COMPRESSION
        if compressor is not None and len(body) >= self._threshold:
            try:
                packed = compressor.compress(body)
            except Exception as exc:
                raise EncodeError(
                    f"cannot compress the value for {_where(key)} with "
                    f"{compressor.name}: {_reason(exc)}"
                ) from exc
            if len(packed) + _frame.SIZE_FIELD_SIZE < len(body):
                body = len(body).to_bytes(_frame.SIZE_FIELD_SIZE, "big") + packed
                compressor_id = compressor.id

        if self._signer is not None and serializer == _frame.PICKLE:
            head = _frame.header(serializer, compressor_id, flags | _frame.SIGNED)
            data = head + self._signer.signature(head, body) + body
        else:
            data = _frame.header(serializer, compressor_id, flags) + body

        return self._checked(data, key)

    def _checked(self, data: bytes, key: Any) -> bytes:
        if len(data) > self._max_value_size:
            raise _too_large(len(data), self._max_value_size, key)
        return data

    def _check_passthrough_size(self, value: Any, key: Any) -> None:
        limit = self._max_value_size
        if isinstance(value, (bytes, bytearray)):
            size = len(value)
        elif isinstance(value, memoryview):
            size = value.nbytes
        elif isinstance(value, str):
            # UTF-8 takes 1 to 4 bytes a character: encode only when the
            # character count cannot decide.
            size = len(value)
            if size <= limit < size * 4:
                size = len(value.encode(errors="surrogatepass"))
        else:
            return

        if size > limit:
            raise _too_large(size, limit, key)

    # -- decoding -----------------------------------------------------------

    def decode(
        self,
        data: bytes | bytearray | memoryview | None,
        key: str | bytes | None = None,
    ) -> Any:
        """The value stored as `data` at `key` (`key` names it in errors).

        `None` (a missing key) gives `None`. `data` is what the server
        returned, `bytes`; a `bytearray` or `memoryview` of them reads alike.
        Bytes without a kvdb frame give an `int` if they are a canonical
        decimal integer, else `str` if they are UTF-8, else the bytes. Raises
        `DecodeError` when `data` has a frame that does not decode or that
        this session may not read, and `TypeError` when `data` is not bytes.
        """
        if data is None or self._serializer is None:
            return data

        if type(data) is not bytes:
            data = _as_bytes(data)
        if not data.startswith(_frame.MAGIC):
            return _read_raw(data)

        try:
            reader = self._plain_readers.get(data[: _frame.HEADER_SIZE])
            if reader is not None:
                return _loads(reader, data[_frame.HEADER_SIZE :], False)
            return self._read_frame(data)
        except Exception as exc:
            raise DecodeError(
                f"the value of {_where(key)} has a kvdb frame but does not "
                f"decode: {_reason(exc)}"
            ) from exc

    def _read_frame(self, data: bytes) -> Any:
        if len(data) < _frame.HEADER_SIZE:
            raise FrameError(f"the frame is truncated to {len(data)} bytes")

        version, serializer, compressor, flags = data[2:6]
        if version != _frame.VERSION:
            raise FrameError(
                f"frame version {version} is not one this kvdb reads "
                f"({_frame.VERSION}); upgrade kvdb"
            )
        if flags & ~_frame.KNOWN_FLAGS:
            raise FrameError(f"the frame has unknown flags {flags:#04x}")

        reader = self._readers.get(serializer)
        if reader is None:
            raise FrameError(_refusal(serializer))

        rest = self._verified(data, serializer, flags)
        body: bytes | bytearray = rest
        if compressor != _frame.NO_COMPRESSION:
            body = self._decompressed(rest, compressor)

        return _loads(reader, body, bool(flags & _frame.TYPED))

    def _verified(self, data: bytes, serializer: int, flags: int) -> bytes:
        """What follows the header (and signature), checked if it must be."""
        if not flags & _frame.SIGNED:
            if self._signer is not None and serializer == _frame.PICKLE:
                raise FrameError(
                    "the pickle frame is not signed, and this session's "
                    "signing_key requires a signature"
                )
            return data[_frame.HEADER_SIZE :]

        start = _frame.HEADER_SIZE + _frame.SIGNATURE_SIZE
        if len(data) < start:
            raise FrameError("the frame's signature is truncated")

        rest = data[start:]
        # A session without a key takes signed frames on trust, as it takes
        # unsigned ones; that is what lets a deployment drop its key.
        if self._signer is not None and not self._signer.verify(
            data[: _frame.HEADER_SIZE], data[_frame.HEADER_SIZE : start], rest
        ):
            raise FrameError(
                "the frame's signature does not match this session's "
                "signing_key: it was written with another key, or altered"
            )

        return rest

    def _decompressed(self, rest: bytes, compressor_id: int) -> bytearray:
        decompressor = _DECOMPRESSORS.get(compressor_id)
        if decompressor is None:
            raise FrameError(
                f"unknown compressor id {compressor_id}; a newer kvdb, or a "
                f"cramjam with more algorithms, may have written it"
            )
        if len(rest) < _frame.SIZE_FIELD_SIZE:
            raise FrameError("the frame's size field is truncated")

        size = int.from_bytes(rest[: _frame.SIZE_FIELD_SIZE], "big")
        if size > self._max_decompressed_size:
            raise FrameError(
                f"the value would decompress to {size} bytes, over "
                f"max_decompressed_size ({self._max_decompressed_size} bytes)"
            )

        return decompressor.decompress(rest[_frame.SIZE_FIELD_SIZE :], size)


def _loads(reader: Serializer, body: bytes | bytearray, typed: bool) -> Any:
    """The value in `body`, a failure named after the serializer that read it."""
    try:
        return reader.loads(body, typed)
    except FrameError:
        raise
    except Exception as exc:
        raise FrameError(
            f"the {reader.name} body does not decode ({_reason(exc)})"
        ) from exc


def _as_bytes(data: object) -> bytes:
    """`data` as bytes, if it is bytes-like.

    Anything else is a `TypeError`, not a `DecodeError`: it is a caller's
    mistake, which the session's "miss" or "delete" policy must not hide or
    act on.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(
        f"Codec.decode() takes the bytes the server returned, not {type(data).__name__}"
    )


def _read_raw(data: bytes) -> Any:
    """A value without a frame: an int, else text, else the bytes."""
    digits = data[1:] if data[:1] == b"-" else data
    if (
        digits.isdigit()
        and (digits[0] != 0x30 or data == b"0")  # no leading 0, no "-0"
        and len(digits) <= _MAX_INT_DIGITS
    ):
        try:
            return int(data)
        except ValueError:
            pass  # sys.set_int_max_str_digits() lowered the limit

    try:
        return data.decode()
    except UnicodeDecodeError:
        return data


def _refusal(serializer: int) -> str:
    if serializer == _frame.PICKLE:
        return (
            "it is a pickle frame, and only a session whose serializer is "
            "pickle reads pickle, since unpickling can run any code"
        )
    return f"unknown serializer id {serializer}; a newer kvdb may have written it"


def _where(key: str | bytes | None) -> str:
    return "a value" if key is None else f"key {key!r}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FrameError):
        return str(exc)
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _too_large(size: int, limit: int, key: Any) -> ValueTooLargeError:
    return ValueTooLargeError(
        f"the value for {_where(key)} is {size} bytes encoded, over "
        f"max_value_size ({limit} bytes); store it in parts, or raise "
        f"max_value_size"
    )
