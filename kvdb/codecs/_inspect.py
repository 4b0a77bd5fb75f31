"""Reading a frame's header without decoding its body.

`inspect_frame(data)` says what a stored value is made of: which serializer
wrote it, which compressor packed it, the frame version and flags, and its
sizes before and after compression. It reads only the header and the size
field (see `kvdb.codecs._frame` for the layout), so it works on any frame,
including those this session may not decode (a pickle frame, a frame signed
with another key) and those whose body is corrupt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from kvdb.codecs import _frame
from kvdb.codecs._compressors import COMPRESSORS
from kvdb.codecs._serializers import (
    BytesSerializer,
    JsonSerializer,
    MsgpackSerializer,
    PickleSerializer,
    TextSerializer,
)
from kvdb.errors import DecodeError

__all__ = ["FrameInfo", "inspect_frame"]

_SERIALIZER_NAMES: Final = {
    cls.id: cls.name
    for cls in (
        BytesSerializer,
        TextSerializer,
        JsonSerializer,
        MsgpackSerializer,
        PickleSerializer,
    )
}
_COMPRESSOR_NAMES: Final = {spec.id: spec.name for spec in COMPRESSORS.values()}


@dataclass(frozen=True)
class FrameInfo:
    """What the header of a stored value says about it.

    An id that this kvdb does not know (a newer kvdb may have written it)
    shows as `"unknown id N"` in `serializer` or `compressor`.
    """

    version: int
    serializer: str
    """`bytes`, `text`, `json`, `msgpack` or `pickle`."""
    compressor: str | None
    """The compression algorithm, or `None` for an uncompressed body."""
    signed: bool
    """The frame carries an HMAC signature (pickle with a `signing_key`)."""
    typed: bool
    """The body holds tagged values (models, dates, ...) that decoding revives."""
    stored_size: int
    """The whole value as stored, in bytes."""
    body_size: int
    """The body as stored: after the header, signature and size field."""
    serialized_size: int
    """The body once decompressed: what the serializer wrote."""

    @property
    def compression_ratio(self) -> float:
        """`serialized_size / body_size`: 1.0 for an uncompressed body."""
        if self.compressor is None or not self.body_size:
            return 1.0
        return self.serialized_size / self.body_size


def inspect_frame(data: bytes, key: str | bytes | None = None) -> FrameInfo | None:
    """The header of the stored value `data`, or `None` if it has no frame.

    A value without a frame was written by another client, or is an integer
    (kvdb stores those as plain decimal text). `key` names the value in
    errors. Raises `DecodeError` for a frame too short for its own header,
    signature or size field, or of a version this kvdb does not read.
    """
    if not data.startswith(_frame.MAGIC):
        return None
    if len(data) < _frame.HEADER_SIZE:
        raise _malformed(key, f"the frame is truncated to {len(data)} bytes")

    version, serializer, compressor, flags = data[2:6]
    if version != _frame.VERSION:
        # The layout after the version byte belongs to that version.
        raise _malformed(
            key,
            f"frame version {version} is not one this kvdb reads "
            f"({_frame.VERSION}); upgrade kvdb",
        )

    overhead = _frame.HEADER_SIZE
    if flags & _frame.SIGNED:
        overhead += _frame.SIGNATURE_SIZE
    compressed = compressor != _frame.NO_COMPRESSION
    if compressed:
        overhead += _frame.SIZE_FIELD_SIZE
    if len(data) < overhead:
        raise _malformed(
            key, f"the frame is truncated to {len(data)} bytes, inside its header"
        )

    body_size = len(data) - overhead
    serialized_size = body_size
    if compressed:
        start = overhead - _frame.SIZE_FIELD_SIZE
        serialized_size = int.from_bytes(data[start:overhead], "big")

    return FrameInfo(
        version=version,
        serializer=_name(_SERIALIZER_NAMES, serializer),
        compressor=_name(_COMPRESSOR_NAMES, compressor) if compressed else None,
        signed=bool(flags & _frame.SIGNED),
        typed=bool(flags & _frame.TYPED),
        stored_size=len(data),
        body_size=body_size,
        serialized_size=serialized_size,
    )


def _name(names: dict[int, str], id_: int) -> str:
    return names.get(id_, f"unknown id {id_}")


def _malformed(key: str | bytes | None, reason: str) -> DecodeError:
    where = "a value" if key is None else f"key {key!r}"
    return DecodeError(f"the value of {where} has a malformed kvdb frame: {reason}")
