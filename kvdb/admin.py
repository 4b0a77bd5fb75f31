"""What an operator does with a session's server and stored values.

The `kvdb` command line is a thin layer over these functions, so a program
can do whatever it does:

- `ping(session)`: the server's software and version, and round-trip times.
- `inspect_key(session, key)`: a key's type and TTL and, for a string value,
  its frame (serializer, compressor, format version), its sizes and what it
  decodes to.
- `migrate(source, target, pattern)`: re-encode the values of matching keys
  in place with the codec of another session, keeping each key's TTL.

Keys are given and reported as the session sees them, without its key
prefix.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from kvdb.codecs import FrameInfo, inspect_frame
from kvdb.errors import ConfigError, DecodeError, EncodeError
from kvdb.session import KVDBSession

__all__ = [
    "KeyInfo",
    "MigrationReport",
    "PingResult",
    "inspect_key",
    "migrate",
    "ping",
]

# Replaces a value only if it is still the one that was read, keeping the
# key's TTL: a value written by someone else since the read is left alone.
# PTTL and PEXPIRE rather than SET ... KEEPTTL, which servers older than
# Redis 6.0 lack; inside a script the two are atomic all the same.
_REPLACE_SCRIPT: Final = """
if redis.call('TYPE', KEYS[1])['ok'] ~= 'string'
    or redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local ttl = redis.call('PTTL', KEYS[1])
redis.call('SET', KEYS[1], ARGV[2])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
"""

_PROBLEMS_KEPT: Final = 20


# -- ping ------------------------------------------------------------------


@dataclass(frozen=True)
class PingResult:
    """What `ping()` measured."""

    server: str
    """The server as `host:port` (or socket, or nodes)."""
    software: str
    """`redis`, `valkey`, `dragonfly`, ..., as the server reports itself."""
    version: str
    round_trips: tuple[float, ...]
    """The seconds each PING took, on an open connection."""

    @property
    def best(self) -> float:
        """The shortest round trip, in seconds."""
        return min(self.round_trips)


def ping(session: KVDBSession, count: int = 3) -> PingResult:
    """PING the session's server `count` times on an open connection.

    The first PING, which opens the connection, is not counted. Raises
    `ServerConnectionError` naming the server when it cannot be reached.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")

    session.ping()
    software, version = _software(session.info("server"))

    round_trips = []
    for _ in range(count):
        start = time.perf_counter()
        session.ping()
        round_trips.append(time.perf_counter() - start)

    return PingResult(
        server=session.settings.connection.server_label(),
        software=software,
        version=version,
        round_trips=tuple(round_trips),
    )


def _software(info: Mapping[str, Any]) -> tuple[str, str]:
    """The server's software and version, from INFO's server section."""
    # Valkey and Dragonfly report a redis_version too, for the clients that
    # test it; their own version is under their own name.
    for name in ("dragonfly", "valkey", "keydb"):
        if f"{name}_version" in info:
            return name, str(info[f"{name}_version"])
    name = str(info.get("server_name", "redis"))
    return name, str(info.get(f"{name}_version", info.get("redis_version", "?")))


# -- inspect ---------------------------------------------------------------


@dataclass(frozen=True)
class KeyInfo:
    """What `inspect_key()` found at one key."""

    key: str | bytes
    type: str
    """The Redis type: `string`, `hash`, `list`, `set`, `zset`, `stream`..."""
    ttl: float | None
    """Seconds until the key expires, or `None` if it does not."""
    size: int | None = None
    """The stored size of a string value, in bytes."""
    frame: FrameInfo | None = None
    """The kvdb frame of a string value; `None` for a value without one."""
    value_type: str | None = None
    """The type the value decodes to through the session's codec."""
    decode_error: str | None = None
    """Why the value does not decode through the session's codec."""


def inspect_key(session: KVDBSession, key: str | bytes) -> KeyInfo | None:
    """The type, TTL and stored form of `key`, or `None` if there is no such key.

    A string value is decoded through the session's codec to tell what it
    holds; a value that does not decode is reported in `decode_error`, not
    raised. Values of other types are not read.
    """
    with session.pipeline(transaction=True) as pipe:
        pipe.type(key)
        pipe.pttl(key)
        pipe.getrange(key, 0, -1)
        kind, pttl, raw = pipe.execute(raise_on_error=False)

    kind = _text(kind)
    if kind == "none":
        return None
    ttl = pttl / 1000 if pttl >= 0 else None
    if kind != "string":
        return KeyInfo(key=key, type=kind, ttl=ttl)

    data = _raw_bytes(raw)
    frame = value_type = error = None
    try:
        frame = inspect_frame(data, key)
        value_type = _type_name(session.codec.decode(data, key))
    except DecodeError as exc:
        error = str(exc)

    return KeyInfo(
        key=key,
        type=kind,
        ttl=ttl,
        size=len(data),
        frame=frame,
        value_type=value_type,
        decode_error=error,
    )


def _type_name(value: Any) -> str:
    cls = type(value)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


# -- migrate ---------------------------------------------------------------


@dataclass
class MigrationReport:
    """The counts of a migration, updated after every batch.

    Every key that SCAN returned is counted once under `scanned` and once
    under one of the other counts. SCAN may return a key twice; the second
    time it counts as `unchanged`.
    """

    pattern: str
    dry_run: bool
    scanned: int = 0
    migrated: int = 0
    """Values re-encoded (with `dry_run`: values that would be)."""
    unchanged: int = 0
    """Values already stored as the target codec writes them."""
    skipped: int = 0
    """Keys that are not strings: hashes, lists, sets... are left alone."""
    undecodable: int = 0
    """Values that the source session cannot decode, left as they are."""
    unencodable: int = 0
    """Values that the target codec cannot encode, left as they are."""
    changed_meanwhile: int = 0
    """Keys written or deleted by someone else during the migration."""
    problems: list[str] = field(default_factory=list)
    """The messages of the first undecodable and unencodable values."""

    @property
    def failed(self) -> int:
        """The values that could not be migrated: undecodable or unencodable."""
        return self.undecodable + self.unencodable


def migrate(
    source: KVDBSession,
    target: KVDBSession,
    pattern: str = "*",
    *,
    batch_size: int = 500,
    dry_run: bool = False,
    progress: Callable[[MigrationReport], None] | None = None,
) -> MigrationReport:
    """Re-encode, in place, the values of `source` whose keys match `pattern`.

    Each value is read and decoded through `source` and written back at the
    same key, encoded by the codec of `target`, with the TTL it had. Both
    sessions must use the same database and key prefix; `target` lends only
    its codec. Keys are found with SCAN (`pattern` as the source session sees
    keys, without its prefix) and handled `batch_size` at a time, one
    pipeline to read a batch and one to write it. `progress` is called with
    the report after every batch.

    Nothing is ever lost: a value that does not decode, or that the target
    codec cannot encode, is counted and left as it is; a value is replaced
    only if it is still the one that was read (a Lua script compares and
    sets), so a write by another client during the migration wins. Only
    string values are migrated; keys of other types are counted as skipped.
    With `dry_run`, nothing is written and `migrated` counts the values that
    would be.

    Raises `ConfigError` when the sessions do not fit together.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    _check_migration(source, target)

    report = MigrationReport(pattern=pattern, dry_run=dry_run)
    keys = source.scan_iter(match=pattern, count=batch_size)
    for batch in _batches(keys, batch_size):
        _migrate_batch(source, target, batch, report)
        if progress is not None:
            progress(report)

    return report


def _check_migration(source: KVDBSession, target: KVDBSession) -> None:
    for session in (source, target):
        if session.codec.passthrough:
            raise ConfigError(
                f"session {session.name!r} has no serializer, so kvdb neither "
                "decodes nor encodes its values; migrate between sessions that "
                "set `serializer`"
            )

    where = [_database(session) for session in (source, target)]
    if where[0] != where[1]:
        raise ConfigError(
            f"migrate rewrites values in place, so both sessions must use the "
            f"same database: session {source.name!r} uses "
            f"{source.settings.connection.safe_url()} and session "
            f"{target.name!r} uses {target.settings.connection.safe_url()}"
        )

    prefixes = [session.settings.key_prefix or "" for session in (source, target)]
    if prefixes[0] != prefixes[1]:
        raise ConfigError(
            f"migrate rewrites values in place and renames no key, so both "
            f"sessions must have the same key_prefix: session {source.name!r} "
            f"has {prefixes[0]!r} and session {target.name!r} has "
            f"{prefixes[1]!r}; declare a target session with key_prefix = "
            f"{prefixes[0]!r}"
        )


def _database(session: KVDBSession) -> tuple[str, int]:
    connection = session.settings.connection
    return connection.server_label(), connection.db


class _Read(NamedTuple):
    """One key of a batch, as read: its type and its raw value."""

    key: Any
    kind: str
    raw: Any

    @property
    def changed(self) -> bool:
        """Whether someone deleted the key, or gave it another type, meanwhile."""
        # GETRANGE fails on a string only if it is no longer one.
        failed = isinstance(self.raw, Exception)
        return self.kind == "none" or (self.kind == "string" and failed)


_Write = tuple[Any, bytes, bytes]
"""A key, the value read there and the value to write instead."""


def _migrate_batch(
    source: KVDBSession,
    target: KVDBSession,
    keys: list[Any],
    report: MigrationReport,
) -> None:
    writes: list[_Write] = []
    for read in _read_batch(source, keys):
        report.scanned += 1
        write = _planned_write(source, target, read, report)
        if write is not None:
            writes.append(write)

    if report.dry_run:
        report.migrated += len(writes)
    elif writes:
        _write_batch(source, writes, report)


def _read_batch(source: KVDBSession, keys: list[Any]) -> list[_Read]:
    # TYPE and the value of each key, raw: GETRANGE is not decoded.
    with source.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.type(key)
            pipe.getrange(key, 0, -1)
        replies = pipe.execute(raise_on_error=False)

    kinds, raws = replies[0::2], replies[1::2]
    return [
        _Read(key, _text(kind), raw)
        for key, kind, raw in zip(keys, kinds, raws, strict=True)
    ]


def _planned_write(
    source: KVDBSession, target: KVDBSession, read: _Read, report: MigrationReport
) -> _Write | None:
    """What to write to migrate `read`, if anything; counted in `report`."""
    if read.changed:
        report.changed_meanwhile += 1
        return None
    if read.kind != "string":
        report.skipped += 1
        return None

    old = _raw_bytes(read.raw)
    try:
        new = target.codec.encode(source.codec.decode(old, read.key), read.key)
    except DecodeError as exc:
        report.undecodable += 1
        _note(report, str(exc))
        return None
    except EncodeError as exc:
        report.unencodable += 1
        _note(report, str(exc))
        return None

    if new == old:
        report.unchanged += 1
        return None
    return read.key, old, new


def _write_batch(
    source: KVDBSession,
    writes: list[_Write],
    report: MigrationReport,
) -> None:
    with source.pipeline(transaction=False) as pipe:
        for key, old, new in writes:
            pipe.eval(_REPLACE_SCRIPT, 1, key, old, new)
        replaced = sum(bool(done) for done in pipe.execute())

    report.migrated += replaced
    report.changed_meanwhile += len(writes) - replaced


def _note(report: MigrationReport, problem: str) -> None:
    if len(report.problems) < _PROBLEMS_KEPT:
        report.problems.append(problem)


def _batches(keys: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(keys)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


# -- replies ---------------------------------------------------------------


def _text(reply: Any) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def _raw_bytes(reply: Any) -> bytes:
    # A session with `decode_responses` returns UTF-8 values as str.
    return reply.encode() if isinstance(reply, str) else bytes(reply)
