"""The frame: the short header that starts every value a codec writes.

A frame makes a stored value self-describing, so that any session reads any
value whatever its own codec (within the safety rules of `kvdb.codecs`), and a
codec can change on a live database while old values still read.

Byte layout (all integers unsigned, big-endian)::

    offset  size  field
    0       2     magic         b"\\xffK"
    2       1     version       1
    3       1     serializer    1 bytes, 2 text, 3 json, 4 msgpack, 5 pickle
    4       1     compressor    0 none, 1 zstd, 2 lz4, 3 gzip, 4 zlib,
                                5 brotli, 6 snappy
    5       1     flags         bit 0 SIGNED, bit 1 TYPED; other bits are 0
    6       32    signature     only if SIGNED: HMAC-SHA256 of the 6 header
                                bytes followed by everything after the signature
    ...     8     size          only if compressed: the size of the body once
                                decompressed, which decompression may not exceed
    ...     rest  body          the serialized value, compressed or not

The magic starts with 0xFF, a byte that never begins UTF-8 text, so no text
written by another client is mistaken for a frame. Integers are the one value
written without a frame: plain decimal text (`b"42"`), so that `INCR` works on
them. TYPED says that the body holds tagged values (see `kvdb.codecs._typed`)
that decoding must revive; without it the body is plain JSON or MessagePack
and is returned as parsed.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

MAGIC: Final = b"\xffK"
VERSION: Final = 1
HEADER_SIZE: Final = 6
SIGNATURE_SIZE: Final = 32
SIZE_FIELD_SIZE: Final = 8

# Serializer ids. Text and bytes carry a top-level `str` or `bytes` as it is,
# whatever the session's serializer, which is both faster and readable by
# other clients once the header is skipped.
BYTES: Final = 1
TEXT: Final = 2
JSON: Final = 3
MSGPACK: Final = 4
PICKLE: Final = 5

NO_COMPRESSION: Final = 0

SIGNED: Final = 0b01
TYPED: Final = 0b10
KNOWN_FLAGS: Final = SIGNED | TYPED


class FrameError(Exception):
    """A frame is malformed, or this session may not read it.

    The codec reports it, with the key, as a `kvdb.errors.DecodeError`.
    """


def header(serializer: int, compressor: int, flags: int) -> bytes:
    """The 6 header bytes of a frame."""
    return MAGIC + bytes((VERSION, serializer, compressor, flags))


class Signer:
    """Signs frames with HMAC-SHA256 and checks their signature.

    The key is held as bytes and never shown: this class has no `repr` that
    would reveal it.
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "Signer(key=**********)"

    def signature(self, head: bytes, rest: bytes | memoryview) -> bytes:
        """The signature of a frame made of `head` and `rest`."""
        mac = hmac.new(self._key, head, hashlib.sha256)
        mac.update(rest)

        return mac.digest()

    def verify(self, head: bytes, signature: bytes, rest: bytes | memoryview) -> bool:
        """Whether `signature` is the signature of `head` and `rest`."""
        return hmac.compare_digest(signature, self.signature(head, rest))
