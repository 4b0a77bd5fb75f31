"""Codecs: how a session turns values into stored bytes and back.

A session's codec is built from its settings by `build_codec`: a serializer
(json, msgpack or pickle), an optional compressor (zstd, lz4, gzip, zlib,
brotli, snappy), and a frame header that makes every stored value
self-describing, so that any session reads what any other wrote.

Reading is safe: decoding never imports a module nor unpickles, unless the
session was configured for it. A json or msgpack session rebuilds only
pydantic models, dataclasses and Enums that are registered with
`register_type`, or whose module is already imported or listed in the
session's `trusted_modules`. Only a pickle session reads pickle frames, and
with a `signing_key` only those signed with it.

`inspect_frame` reads a stored value's frame header (serializer, compressor,
version, sizes) without decoding it.
"""

from __future__ import annotations

from kvdb.codecs._classes import register_type
from kvdb.codecs._codec import Codec
from kvdb.codecs._factory import build_codec
from kvdb.codecs._inspect import FrameInfo, inspect_frame

__all__ = ["Codec", "FrameInfo", "build_codec", "inspect_frame", "register_type"]
