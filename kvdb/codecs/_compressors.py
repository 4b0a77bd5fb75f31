"""Compressors over cramjam, with bounded decompression.

`COMPRESSORS` maps each compression name that the installed cramjam provides
to its `CompressorSpec`; a name cramjam lacks is simply absent. A spec fixes the
algorithm's frame id, its range of levels and a default level chosen for speed.
`CompressorSpec.compressor(level)` gives the `Compressor` a session uses.

Decompression never trusts the stream: the frame declares the decompressed
size, the declared size must be within the session's `max_decompressed_size`,
and the stream is inflated into a buffer of exactly that size, which the
decompressor cannot write past. A stream that inflates to more or to less
than it declared is an error, found without allocating beyond the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import cramjam

from kvdb.codecs._frame import FrameError

__all__ = ["COMPRESSORS", "Compressor", "CompressorSpec", "DecompressionError"]


class DecompressionError(FrameError):
    """A compressed body is corrupt, or inflates past its declared size."""


@dataclass(frozen=True)
class CompressorSpec:
    """What kvdb knows about one compression algorithm."""

    name: str
    id: int
    default_level: int | None
    """None for an algorithm without levels."""

    min_level: int = 0
    max_level: int = 0

    def compressor(self, level: int | None = None) -> Compressor:
        """The compressor at `level`, or at the default level when None.

        Raises `ValueError` for a level out of range, or for any level given
        to an algorithm without levels.
        """
        if level is None:
            level = self.default_level
        elif self.default_level is None:
            raise ValueError(f"{self.name} has no compression levels; unset it")
        elif not self.min_level <= level <= self.max_level:
            raise ValueError(
                f"{level} is not a {self.name} level; "
                f"choose from {self.min_level} to {self.max_level}"
            )

        return Compressor(self, getattr(cramjam, self.name), level)


class Compressor:
    """Compresses and decompresses bodies with one algorithm at one level."""

    __slots__ = ("_compress_kwargs", "_module", "id", "level", "name")

    def __init__(self, spec: CompressorSpec, module: ModuleType, level: int | None):
        self.name = spec.name
        self.id = spec.id
        self.level = level
        self._module = module
        self._compress_kwargs: dict[str, Any] = (
            {} if level is None else {"level": level}
        )

    def __repr__(self) -> str:
        return f"Compressor({self.name!r}, level={self.level!r})"

    def compress(self, body: bytes) -> bytes:
        """`body`, compressed."""
        return bytes(self._module.compress(body, **self._compress_kwargs))

    def decompress(self, packed: bytes | memoryview, size: int) -> bytearray:
        """`packed` inflated to exactly `size` bytes.

        The caller has checked `size` against its limit; the output buffer is
        allocated at `size` and the decompressor stops when it is full, so a
        stream that lies about its size costs no more than `size` bytes.
        """
        out = bytearray(size)
        try:
            written = self._module.decompress_into(packed, out)
        except cramjam.DecompressionError as exc:
            # cramjam says "failed to write whole buffer" both for a corrupt
            # stream and for one that inflates past the buffer; either way
            # the body is not what its frame declares.
            raise DecompressionError(
                f"the {self.name} body is corrupt or inflates past its "
                f"declared size of {size} bytes ({exc})"
            ) from exc

        if written != size:
            raise DecompressionError(
                f"the {self.name} body inflates to {written} bytes, "
                f"not the {size} bytes its frame declares"
            )

        return out


_SPECS = (
    CompressorSpec("zstd", 1, default_level=3, min_level=1, max_level=22),
    CompressorSpec("lz4", 2, default_level=1, min_level=0, max_level=16),
    CompressorSpec("gzip", 3, default_level=3, min_level=0, max_level=9),
    CompressorSpec("zlib", 4, default_level=3, min_level=0, max_level=9),
    CompressorSpec("brotli", 5, default_level=3, min_level=0, max_level=11),
    CompressorSpec("snappy", 6, default_level=None),
)

COMPRESSORS: dict[str, CompressorSpec] = {
    spec.name: spec for spec in _SPECS if hasattr(cramjam, spec.name)
}
"""The compression algorithms the installed cramjam provides, by name."""
