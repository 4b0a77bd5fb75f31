"""What every Redis command does with keys and values, in one table.

A session runs every command through `prepare` just before redis-py sends it
and through `PreparedCommand.finish` just after redis-py's response callback
has parsed the reply. Both work on the wire form of the command, the
`(name, *arguments)` that redis-py's methods build, so `set` with its options,
`hset` with a mapping, `scan_iter`, pipelines and the lock's Lua scripts all
pass through this one place.

`prepare` does three things, each only when the session asks for it:

- **Key prefix.** Every key argument gets the session's `key_prefix`, at the
  positions Redis itself reports (`COMMAND` gives the first key, the last key
  and the step; see `_KEY_RANGES_REDIS_7_0`), and by small parsers for commands whose
  keys move: the `numkeys` of `EVAL`, `EVALSHA`, `FCALL`, `ZUNION`, `LMPOP`
  and friends, the `STREAMS` of `XREAD`, the `BY`/`GET`/`STORE` of `SORT`,
  the `STORE` of `GEORADIUS`, the `KEYS` of `MIGRATE`. Patterns get the prefix
  too, with its glob characters escaped: `KEYS`, the `MATCH` of `SCAN` (a
  `SCAN` without one gets `MATCH <prefix>*`), `PSUBSCRIBE` and `PUBSUB
  CHANNELS`. So do pub/sub channels. Keys and channels that come back
  (`SCAN`, `KEYS`, `RANDOMKEY`, the popped key of `BLPOP`, `BZPOPMIN`,
  `LMPOP`, `ZMPOP`, the streams of `XREAD`, `PUBSUB CHANNELS`) come back
  without it. `RANDOMKEY` picks from the whole database and may return a key
  of another namespace, which then comes back as stored.
- **Values.** The value arguments of the commands in `VALUE_COMMANDS` go
  through the session's codec, and the values in their replies come back
  decoded: strings, hash values, list elements, set and sorted-set members,
  stream field values and published messages. A codec that passes values
  through untouched skips this step entirely.
- **Default TTL.** With a `default_ttl`, `SET` without `EX`, `PX`, `EXAT`,
  `PXAT` or `KEEPTTL` gets `PX`; `SETNX` becomes `SET ... NX PX` (its reply
  is still a bool) and `GETSET` becomes `SET ... GET PX`. Other writes
  (`MSET`, `HSET`, `LPUSH`, ...) are left as they are: they either cannot
  carry an expiry or would need a second command.

Everything else passes through untouched. In particular `APPEND`,
`GETRANGE`, `SETRANGE`, `INCR`, `INCRBYFLOAT`, `HINCRBY`, `BITFIELD`, the
`GEO*`, `PF*` and array (`AR*`) commands and script arguments (`ARGV`) work on
the raw bytes, so use them on raw values only (the codecs store integers as
their digits, so `INCR` works on a stored `int`). Hash field names, `SORT`
patterns, lex ranges (`ZRANGEBYLEX`) and `MATCH` patterns of `HSCAN`, `SSCAN`
and `ZSCAN` are not encoded; lex ranges and those patterns therefore compare
encoded members.

With a codec that is not a passthrough, the names in replies (keys, hash
fields, stream ids and field names, channels) come back as `str`; scores,
counts and ranks as redis-py parses them. With a
passthrough codec they stay `bytes` unless the session has `decode_responses`;
`decode_responses` turns every `bytes` of a reply that the codec did not
decode into `str` (bytes that are not UTF-8 stay bytes). Replies that redis-py
returns as sets stay sets of decoded values, unless a decoded member cannot
be hashed (a dict, a list), in which case they come back as a list.

A value that does not decode follows the codec's `on_decode_error`: "raise"
raises `DecodeError`; "miss" reads it as `None` and logs a warning naming the
key; "delete" does the same and, for a whole string value (`GET`, `GETEX`,
`MGET`), lists the key in `PreparedCommand.bad_keys` for the caller to delete.

Reply shapes differ between RESP2 and RESP3 (tuples or lists, flat or nested
pairs, lists or dicts of streams); the decoders here read the shape they are
given and keep it. Commands this table does not know (module commands such as
`JSON.SET`, commands newer than redis-py 8.1) pass through; with a key prefix
their keys would not be namespaced, so the first use of each logs a warning.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kvdb._log import logger
from kvdb.errors import DecodeError

if TYPE_CHECKING:
    from kvdb.codecs import Codec

__all__ = [
    "VALUE_COMMANDS",
    "CommandContext",
    "PreparedCommand",
    "channel_name",
    "finish_message",
    "prepare",
]

# The option redis-py passes with DUMP and friends to get raw bytes back.
_NEVER_DECODE = "NEVER_DECODE"

_GLOB_CHARACTERS = frozenset("*?[]\\")


@dataclass(frozen=True)
class CommandContext:
    """How one session treats commands: its codec, key prefix and options.

    Built once per session. `codec=None` leaves values untouched, like a
    passthrough codec. A passthrough codec is not called at all, so it does
    not check `max_value_size` either.
    """

    codec: Codec | None
    key_prefix: str | None = None
    decode_responses: bool = False
    """Return `str` for the `bytes` of replies that the codec did not decode."""
    default_ttl: float | None = None
    """Seconds of expiry for `SET`, `SETNX` and `GETSET` that give none."""
    session_name: str | None = None
    """Names the session in log lines."""
    server: str | None = None
    """The server as messages name it: `host:port`, or `cluster` and its nodes."""

    trivial: bool = field(init=False, repr=False, compare=False)
    """Nothing to do for any command: clients skip `prepare` altogether."""
    passthrough: bool = field(init=False, repr=False, compare=False)
    """Values are neither encoded nor decoded."""
    names_as_text: bool = field(init=False, repr=False, compare=False)
    """Keys, fields and channels of replies come back as `str`."""
    prefix_bytes: bytes = field(init=False, repr=False, compare=False)
    pattern_prefix: str = field(init=False, repr=False, compare=False)
    """The prefix with its glob characters escaped, to start a pattern with."""

    def __post_init__(self) -> None:
        prefix = self.key_prefix or ""
        passthrough = self.codec is None or self.codec.passthrough
        trivial = (
            passthrough
            and not prefix
            and not self.decode_responses
            and self.default_ttl is None
        )

        # The dataclass is frozen; derived fields are set the way it sets them.
        object.__setattr__(self, "trivial", trivial)
        object.__setattr__(self, "passthrough", passthrough)
        object.__setattr__(
            self, "names_as_text", not passthrough or self.decode_responses
        )
        object.__setattr__(self, "prefix_bytes", prefix.encode())
        object.__setattr__(self, "pattern_prefix", _escape_glob(prefix))

    def for_locks(self) -> CommandContext:
        """The same key prefix, with values and replies left raw, and no TTL.

        A lock's token is compared byte for byte by a Lua script, and a lock
        taken without a timeout must not expire.
        """
        return CommandContext(
            codec=None,
            key_prefix=self.key_prefix,
            session_name=self.session_name,
            server=self.server,
        )


def _escape_glob(text: str) -> str:
    return "".join("\\" + char if char in _GLOB_CHARACTERS else char for char in text)


# -- the prepared command ---------------------------------------------------


class PreparedCommand:
    """A command ready for redis-py, and how to finish its reply.

    `args` and `options` are what to pass to redis-py's `execute_command`.
    After `finish`, `bad_keys` lists the keys (as sent, with the prefix) whose
    value did not decode under `on_decode_error="delete"`; deleting them is
    the caller's job.
    """

    __slots__ = (
        "_ctx",
        "_offset",
        "_original",
        "_reply",
        "_text_reply",
        "args",
        "bad_keys",
        "options",
    )

    def __init__(
        self,
        ctx: CommandContext,
        args: tuple[Any, ...],
        options: dict[str, Any],
        offset: int = 0,
    ) -> None:
        self._ctx = ctx
        self._original = args
        self._offset = offset
        self._reply: _Reply | None = None
        self._text_reply = False
        self.args: list[Any] = list(args)
        self.options = options
        self.bad_keys: list[bytes] = []

    def finish(self, reply: Any) -> Any:
        """The reply as the session returns it: decoded, keys unprefixed."""
        if self._reply is not None:
            reply = self._reply(self, reply)
        if self._text_reply:
            reply = _deep_text(reply)

        return reply

    # -- for the rules below ----------------------------------------------

    @property
    def key(self) -> Any:
        """The first argument as the caller gave it: the key, for messages."""
        return self._original[1] if len(self._original) > 1 else None

    def has_word(self, word: str, start: int = 2) -> bool:
        """Whether an argument from `start` on is the option `word`."""
        return any(_word(arg) == word for arg in self.args[start:])

    def prefix_at(self, index: int) -> None:
        self.args[index] = _prefixed(self._ctx, self.args[index])

    def prefix_pattern_at(self, index: int) -> None:
        pattern = self.args[index]
        prefix = self._ctx.pattern_prefix
        if isinstance(pattern, str):
            self.args[index] = prefix + pattern
        elif isinstance(pattern, (bytes, bytearray, memoryview)):
            self.args[index] = prefix.encode() + bytes(pattern)

    def encode_at(self, index: int, key: Any) -> None:
        codec = self._ctx.codec
        assert codec is not None  # prepare() encodes only with a codec
        self.args[index] = codec.encode(self.args[index], key=key)

    def value(self, data: Any, key: Any, whole: bool = False) -> Any:
        """A stored value of the reply, decoded; `key` names it in errors.

        `whole` marks the whole string value of `key`, which the "delete"
        policy deletes; a bad element of a hash or a list is only missed.
        """
        codec = self._ctx.codec
        if data is None or codec is None or codec.passthrough:
            return data

        try:
            return codec.decode(data, key=key)
        except DecodeError as exc:
            policy = codec.on_decode_error
            if policy == "raise":
                raise
            # The error names the key and says why.
            logger.warning(
                "session %s (%s): %s; read as a miss",
                self._ctx.session_name,
                self._ctx.server,
                exc,
            )
            if policy == "delete" and whole:
                self.bad_keys.append(_as_bytes(_prefixed(self._ctx, key)))
            return None

    def name(self, data: Any) -> Any:
        """A hash field, stream id or field name of the reply."""
        if isinstance(data, bytes) and self._ctx.names_as_text:
            return _text(data)
        return data

    def key_out(self, data: Any) -> Any:
        """A key or channel name of the reply, without the prefix."""
        prefix = self._ctx.prefix_bytes
        if isinstance(data, bytes) and prefix and data.startswith(prefix):
            data = data[len(prefix) :]
        return self.name(data)


_Hook = Callable[[PreparedCommand], None]
_Reply = Callable[[PreparedCommand, Any], Any]


@dataclass(frozen=True)
class _Rule:
    """What one command does with keys and values: a row of the table."""

    keys: _Hook | None = None
    """Prefixes the key, pattern and channel arguments."""
    encode: _Hook | None = None
    """Encodes the value arguments; not called without a codec."""
    ttl: _Hook | None = None
    """Applies the default TTL; called only when the session has one."""
    reply: _Reply | None = None
    """Decodes the values and unprefixes the names of the reply."""
    reply_names: bool = False
    """The reply holds keys or channels: `reply` runs with a prefix even
    without a codec."""
    reply_values: bool = True
    """The reply holds stored values, which `decode_responses` leaves alone
    when a codec has decoded them."""


def prepare(
    ctx: CommandContext, args: tuple[Any, ...], options: dict[str, Any]
) -> PreparedCommand:
    """Prefix the keys and encode the values of the command `args`.

    `args` is the wire form redis-py built (`("SET", key, value, "EX", 5)`),
    `options` the keyword arguments of its `execute_command`, which go to the
    response callback. Neither is modified.
    """
    rule, offset = _lookup(args)
    prepared = PreparedCommand(ctx, args, options, offset)
    if ctx.trivial:
        return prepared

    text_reply = ctx.decode_responses and _NEVER_DECODE not in options
    if rule is None:
        if ctx.key_prefix:
            _warn_unknown(args[0])
        prepared._text_reply = text_reply
        return prepared

    if ctx.key_prefix:
        if rule.keys is not None:
            rule.keys(prepared)
        if "keys" in options:
            # redis-py's client-side cache files replies under these keys.
            prepared.options = {
                **options,
                "keys": [_prefixed(ctx, key) for key in options["keys"]],
            }
    if rule.encode is not None and not ctx.passthrough:
        rule.encode(prepared)
    if rule.ttl is not None and ctx.default_ttl is not None:
        rule.ttl(prepared)

    needs_reply = not ctx.passthrough or (rule.reply_names and ctx.key_prefix)
    if prepared._reply is None and needs_reply:
        prepared._reply = rule.reply
    holds_decoded_values = rule.reply is not None and rule.reply_values
    prepared._text_reply = text_reply and (ctx.passthrough or not holds_decoded_values)

    return prepared


def _lookup(args: tuple[Any, ...]) -> tuple[_Rule | None, int]:
    """The rule of a command, and how many words its name adds to `args[0]`.

    redis-py sends subcommands either joined (`"MEMORY USAGE", key`) or apart
    (`"OBJECT", "ENCODING", key`); key positions count the words apart.
    """
    name = args[0]
    if not isinstance(name, str):
        name = name.decode("latin-1") if isinstance(name, bytes) else str(name)

    rule = _TABLE.get(name)
    if rule is None:
        name = name.upper()
        rule = _TABLE.get(name)
    if rule is _SUBCOMMANDS:
        sub = _word(args[1]) if len(args) > 1 else None
        return _TABLE.get(f"{name} {sub}", _NO_KEYS), 0
    if rule is not None:
        return rule, name.count(" ")

    # A subcommand without keys, sent joined to its command ("CONFIG GET").
    head, _, _ = name.partition(" ")
    rule = _TABLE.get(head)
    return (_NO_KEYS if rule is _SUBCOMMANDS else rule), 0


def finish_message(ctx: CommandContext, message: Any) -> Any:
    """A pub/sub message as redis-py read it, for a session's reader.

    Channels and patterns lose the prefix, and the data of `message`,
    `pmessage` and `smessage` is decoded (with the channel as its key in
    errors). Anything that is not a message, like a `pong`, is returned as is.
    """
    if ctx.trivial or not isinstance(message, list) or len(message) < 3:
        return message

    kind = _word(message[0])
    # A message is no command, but it needs the same unprefixing and decoding.
    p = PreparedCommand(ctx, (message[0],), {})
    if kind == "PMESSAGE" and len(message) == 4:
        channel = p.key_out(message[2])
        pattern = _pattern_out(ctx, message[1])
        return [message[0], pattern, channel, _message_data(p, message[3], channel)]
    if kind in ("MESSAGE", "SMESSAGE"):
        channel = p.key_out(message[1])
        return [message[0], channel, _message_data(p, message[2], channel)]
    if kind in ("PSUBSCRIBE", "PUNSUBSCRIBE"):
        return [message[0], _pattern_out(ctx, message[1]), *message[2:]]
    if kind in ("SUBSCRIBE", "UNSUBSCRIBE", "SSUBSCRIBE", "SUNSUBSCRIBE"):
        return [message[0], p.key_out(message[1]), *message[2:]]
    return message


def channel_name(ctx: CommandContext, name: Any) -> Any:
    """A channel or pattern name the way `finish_message` returns them.

    Pub/sub objects file their handlers under these names, so that a message
    finds the handler of its channel.
    """
    if isinstance(name, bytes) and ctx.names_as_text:
        return _text(name)
    return name


def _pattern_out(ctx: CommandContext, pattern: Any) -> Any:
    prefix = ctx.pattern_prefix.encode()
    if isinstance(pattern, bytes) and prefix and pattern.startswith(prefix):
        pattern = pattern[len(prefix) :]
    return channel_name(ctx, pattern)


def _message_data(p: PreparedCommand, data: Any, channel: Any) -> Any:
    if not p._ctx.passthrough:
        return p.value(data, channel)
    if isinstance(data, bytes) and p._ctx.decode_responses:
        return _text(data)
    return data


_warned: set[str] = set()


def _warn_unknown(name: Any) -> None:
    text = str(name)
    if text in _warned:
        return

    _warned.add(text)
    logger.warning(
        "kvdb does not know the keys of the command %s; with a key_prefix they "
        "are sent without it",
        text,
    )


# -- keys, patterns and text --------------------------------------------------


def _prefixed(ctx: CommandContext, key: Any) -> Any:
    prefix = ctx.key_prefix or ""
    if isinstance(key, str):
        return prefix + key
    if isinstance(key, bytes):
        return ctx.prefix_bytes + key
    if isinstance(key, (bytearray, memoryview)):
        return ctx.prefix_bytes + bytes(key)
    if isinstance(key, bool):
        # redis-py refuses booleans as keys; leave the key for it to say so.
        return key
    if isinstance(key, int):
        return prefix + str(key)
    if isinstance(key, float):
        # redis-py sends a float as its repr(); so must the prefixed key.
        return prefix + repr(key)
    return key


def _word(arg: Any) -> str | None:
    """An option token, upper-cased; None for arguments that cannot be one."""
    if isinstance(arg, str):
        return arg.upper()
    if isinstance(arg, bytes):
        return arg.decode("latin-1").upper()
    return None


def _text(data: bytes) -> str | bytes:
    try:
        return data.decode()
    except UnicodeDecodeError:
        return data


def _as_bytes(key: Any) -> bytes:
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode()
    return bytes(key)


def _deep_text(reply: Any) -> Any:
    if isinstance(reply, bytes):
        return _text(reply)
    if isinstance(reply, list):
        return [_deep_text(item) for item in reply]
    if isinstance(reply, tuple):
        return tuple(_deep_text(item) for item in reply)
    if isinstance(reply, dict):
        return {_deep_text(k): _deep_text(v) for k, v in reply.items()}
    if isinstance(reply, set):
        return {_deep_text(item) for item in reply}
    return reply


def _count_at(p: PreparedCommand, index: int) -> int:
    try:
        return int(p.args[index])
    except (IndexError, TypeError, ValueError):
        return 0  # malformed: the server will say so


# -- key rules ----------------------------------------------------------------


def _key_range(first: int, last: int, step: int) -> _Hook:
    """Keys from wire position `first` to `last` (from the end if < 0)."""
    if (first, last, step) == (1, 1, 1):
        return _first_key

    def keys(p: PreparedCommand) -> None:
        wire_length = len(p.args) + p._offset
        stop = wire_length + last if last < 0 else min(last, wire_length - 1)
        for wire_index in range(first, stop + 1, step):
            p.prefix_at(wire_index - p._offset)

    return keys


def _first_key(p: PreparedCommand) -> None:
    if len(p.args) > 1:
        p.prefix_at(1)


def _numkeys_at(at: int, *, dest: bool = False) -> _Hook:
    """`numkeys` at position `at`, and that many keys after it.

    With `dest`, position 1 holds a destination key too (`ZUNIONSTORE`).
    """

    def keys(p: PreparedCommand) -> None:
        if dest:
            p.prefix_at(1)
        stop = min(at + 1 + _count_at(p, at), len(p.args))
        for index in range(at + 1, stop):
            p.prefix_at(index)

    return keys


def _streams_after(start: int) -> _Hook:
    """`XREAD`, `XREADGROUP`: after `STREAMS`, half the arguments are keys."""

    def keys(p: PreparedCommand) -> None:
        for index in range(start, len(p.args)):
            if _word(p.args[index]) == "STREAMS":
                count = (len(p.args) - index - 1) // 2
                for key_index in range(index + 1, index + 1 + count):
                    p.prefix_at(key_index)
                return

    return keys


def _sort_keys(p: PreparedCommand) -> None:
    # SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC]
    # [ALPHA] [STORE destination]
    p.prefix_at(1)
    index = 2
    while index < len(p.args) - 1:
        word = _word(p.args[index])
        if word in ("BY", "STORE"):
            p.prefix_at(index + 1)
            index += 2
        elif word == "GET":
            # "GET #" gets the element itself, not a key.
            if _word(p.args[index + 1]) != "#":
                p.prefix_at(index + 1)
            index += 2
        elif word == "LIMIT":
            index += 3
        else:
            index += 1


def _georadius_keys(options_start: int) -> _Hook:
    """`GEORADIUS`: the key, and the keys after `STORE` and `STOREDIST`."""

    def keys(p: PreparedCommand) -> None:
        p.prefix_at(1)
        for index in range(options_start, len(p.args) - 1):
            if _word(p.args[index]) in ("STORE", "STOREDIST"):
                p.prefix_at(index + 1)

    return keys


def _migrate_keys(p: PreparedCommand) -> None:
    # MIGRATE host port key|"" db timeout [COPY] [REPLACE]
    # [AUTH password | AUTH2 username password] [KEYS key ...]
    if len(p.args) > 3 and p.args[3] not in ("", b""):
        p.prefix_at(3)

    index = 6
    while index < len(p.args):
        word = _word(p.args[index])
        if word == "KEYS":
            for key_index in range(index + 1, len(p.args)):
                p.prefix_at(key_index)
            return
        index += {"AUTH": 2, "AUTH2": 3}.get(word or "", 1)


def _msetex_keys(p: PreparedCommand) -> None:
    # MSETEX numkeys key value [key value ...] [options]
    stop = min(2 + 2 * _count_at(p, 1), len(p.args))
    for index in range(2, stop, 2):
        p.prefix_at(index)


def _all_arguments(p: PreparedCommand) -> None:
    for index in range(1, len(p.args)):
        p.prefix_at(index)


def _all_patterns(p: PreparedCommand) -> None:
    for index in range(1, len(p.args)):
        p.prefix_pattern_at(index)


def _pattern_or_all(position: int) -> _Hook:
    """A pattern at wire `position`, or one that matches the session's keys."""

    def keys(p: PreparedCommand) -> None:
        index = position - p._offset
        if index < len(p.args):
            p.prefix_pattern_at(index)
        else:
            p.args.append(p._ctx.pattern_prefix + "*")

    return keys


def _scan_match(p: PreparedCommand) -> None:
    for index in range(2, len(p.args) - 1):
        if _word(p.args[index]) == "MATCH":
            p.prefix_pattern_at(index + 1)
            return
    p.args += ["MATCH", p._ctx.pattern_prefix + "*"]


def _pubsub_channel_list(p: PreparedCommand) -> None:
    for index in range(2 - p._offset, len(p.args)):
        p.prefix_at(index)


# -- value encoders -------------------------------------------------------------


def _encode_at(*positions: int) -> _Hook:
    def encode(p: PreparedCommand) -> None:
        for index in positions:
            if index < len(p.args):
                p.encode_at(index, p.key)

    return encode


def _encode_from(start: int) -> _Hook:
    def encode(p: PreparedCommand) -> None:
        for index in range(start, len(p.args)):
            p.encode_at(index, p.key)

    return encode


def _encode_pairs_from(start: int) -> _Hook:
    """Field/value or score/member pairs from `start`: encode the second."""

    def encode(p: PreparedCommand) -> None:
        for index in range(start + 1, len(p.args), 2):
            p.encode_at(index, p.key)

    return encode


def _encode_compared(p: PreparedCommand, start: int) -> None:
    """`IFEQ value`, `IFNE value`: compared with the stored, encoded bytes."""
    for index in range(start, len(p.args) - 1):
        if _word(p.args[index]) in ("IFEQ", "IFNE"):
            p.encode_at(index + 1, p.key)
            return


def _encode_set(p: PreparedCommand) -> None:
    p.encode_at(2, p.key)
    _encode_compared(p, 3)


def _encode_delex(p: PreparedCommand) -> None:
    _encode_compared(p, 2)


def _encode_mset(p: PreparedCommand) -> None:
    for index in range(2, len(p.args), 2):
        p.encode_at(index, p._original[index - 1])


def _encode_msetex(p: PreparedCommand) -> None:
    stop = min(2 + 2 * _count_at(p, 1), len(p.args))
    for index in range(3, stop, 2):
        p.encode_at(index, p._original[index - 1])


def _encode_hsetex(p: PreparedCommand) -> None:
    # HSETEX key [FNX|FXX] [EX seconds|...|KEEPTTL] FIELDS numfields field value
    for index in range(2, len(p.args) - 1):
        if _word(p.args[index]) == "FIELDS":
            _encode_pairs_from(index + 2)(p)
            return


_ZADD_FLAGS = frozenset({"NX", "XX", "GT", "LT", "CH", "INCR"})


def _encode_zadd(p: PreparedCommand) -> None:
    # ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
    index = 2
    while index < len(p.args) and _word(p.args[index]) in _ZADD_FLAGS:
        index += 1
    _encode_pairs_from(index)(p)


# Arguments taken by the options of XADD that may come before its id.
_XADD_OPTION_ARGUMENTS = {
    "NOMKSTREAM": 0,
    "KEEPREF": 0,
    "DELREF": 0,
    "ACKED": 0,
    "IDMPAUTO": 1,
    "IDMP": 2,
    "LIMIT": 1,
}


def _encode_xadd(p: PreparedCommand) -> None:
    # XADD key [NOMKSTREAM] [KEEPREF|DELREF|ACKED] [IDMPAUTO pid | IDMP pid iid]
    # [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value ...
    index = 2
    while index < len(p.args):
        word = _word(p.args[index]) or ""
        if word in ("MAXLEN", "MINID"):
            index += 1
            if index < len(p.args) and _word(p.args[index]) in ("=", "~"):
                index += 1
            index += 1
        elif word in _XADD_OPTION_ARGUMENTS:
            index += 1 + _XADD_OPTION_ARGUMENTS[word]
        else:
            break  # the id

    _encode_pairs_from(index + 1)(p)


# -- default TTL ------------------------------------------------------------------

_EXPIRY_OPTIONS = frozenset({"EX", "PX", "EXAT", "PXAT", "KEEPTTL"})


def _ttl_milliseconds(p: PreparedCommand) -> int:
    seconds = p._ctx.default_ttl
    assert seconds is not None  # prepare() checked it
    return max(1, round(seconds * 1000))


def _ttl_set(p: PreparedCommand) -> None:
    if not any(_word(arg) in _EXPIRY_OPTIONS for arg in p.args[3:]):
        p.args += ["PX", _ttl_milliseconds(p)]


def _ttl_setnx(p: PreparedCommand) -> None:
    p.args = ["SET", *p.args[1:3], "NX", "PX", _ttl_milliseconds(p)]
    p._reply = _reply_bool


def _ttl_getset(p: PreparedCommand) -> None:
    p.args = ["SET", *p.args[1:3], "GET", "PX", _ttl_milliseconds(p)]

    # Without it, redis-py's callback of SET turns the old value into a bool.
    p.options = {**p.options, "get": True}


# -- reply decoders ------------------------------------------------------------------


def _reply_bool(p: PreparedCommand, reply: Any) -> Any:
    return bool(reply)


def _reply_value(p: PreparedCommand, reply: Any) -> Any:
    return p.value(reply, p.key)


def _reply_whole_value(p: PreparedCommand, reply: Any) -> Any:
    return p.value(reply, p.key, whole=True)


def _reply_set(p: PreparedCommand, reply: Any) -> Any:
    if p.options.get("get") or p.has_word("GET", 3):
        return p.value(reply, p.key)
    return reply


def _reply_mget(p: PreparedCommand, reply: Any) -> Any:
    pairs = zip(reply, p._original[1:], strict=False)
    return [p.value(data, key, whole=True) for data, key in pairs]


def _reply_elements(p: PreparedCommand, reply: Any) -> Any:
    """A list of values, or one (`LPOP key` and `LPOP key count`)."""
    if isinstance(reply, list):
        return [p.value(data, p.key) for data in reply]
    return p.value(reply, p.key)


def _reply_member_set(p: PreparedCommand, reply: Any) -> Any:
    members = [p.value(data, p.key) for data in reply]
    try:
        return set(members)
    except TypeError:
        return members  # unhashable decoded members: see the module docstring


def _reply_hash(p: PreparedCommand, reply: Any) -> Any:
    if not isinstance(reply, dict):
        return reply
    return {p.name(k): p.value(v, p.key) for k, v in reply.items()}


def _reply_names(p: PreparedCommand, reply: Any) -> Any:
    if isinstance(reply, list):
        return [p.name(item) for item in reply]
    return p.name(reply)


def _pairs(
    reply: Any, first: Callable[[Any], Any], second: Callable[[Any], Any]
) -> Any:
    """Pairs as `[(a, b), ...]`, `[[a, b], ...]` or flat `[a, b, a, b]`."""
    if not reply:
        return reply
    if isinstance(reply[0], (list, tuple)):
        return [
            type(pair)((first(pair[0]), second(pair[1]), *pair[2:])) for pair in reply
        ]

    flat = list(reply)
    flat[0::2] = [first(item) for item in flat[0::2]]
    flat[1::2] = [second(item) for item in flat[1::2]]
    return flat


def _keep(data: Any) -> Any:
    return data


def _reply_hrandfield(p: PreparedCommand, reply: Any) -> Any:
    if p.has_word("WITHVALUES", 3):
        return _pairs(reply, p.name, lambda data: p.value(data, p.key))
    return _reply_names(p, reply)


def _reply_scored(p: PreparedCommand, reply: Any) -> Any:
    """Members, or member/score pairs with `WITHSCORES`."""
    if not isinstance(reply, list):
        return p.value(reply, p.key)  # ZRANDMEMBER without a count
    if (reply and isinstance(reply[0], (list, tuple))) or p.has_word("WITHSCORES"):
        return _pairs(reply, lambda data: p.value(data, p.key), _keep)
    return [p.value(data, p.key) for data in reply]


def _reply_popped_pairs(p: PreparedCommand, reply: Any) -> Any:
    return _pairs(reply, lambda data: p.value(data, p.key), _keep)


def _reply_hscan(p: PreparedCommand, reply: Any) -> Any:
    cursor, found = reply
    if isinstance(found, dict):
        return cursor, _reply_hash(p, found)
    return cursor, _reply_names(p, found)  # NOVALUES


def _reply_sscan(p: PreparedCommand, reply: Any) -> Any:
    cursor, found = reply
    return cursor, [p.value(data, p.key) for data in found]


def _reply_zscan(p: PreparedCommand, reply: Any) -> Any:
    cursor, found = reply
    return cursor, _reply_popped_pairs(p, found)


def _reply_sort(p: PreparedCommand, reply: Any) -> Any:
    if not isinstance(reply, list):
        return reply  # the length of the STORE destination
    return [
        tuple(p.value(data, p.key) for data in item)
        if isinstance(item, tuple)
        else p.value(item, p.key)
        for item in reply
    ]


def _reply_popped(p: PreparedCommand, reply: Any) -> Any:
    """`BLPOP`: `(key, value)`; `BZPOPMIN`: `(key, member, score)`."""
    if not reply:
        return reply
    key = p.key_out(reply[0])
    return type(reply)((key, p.value(reply[1], key), *reply[2:]))


def _reply_popped_values(p: PreparedCommand, reply: Any) -> Any:
    """`LMPOP`: `[key, [value, ...]]`."""
    if not reply:
        return reply
    key = p.key_out(reply[0])
    return [key, [p.value(data, key) for data in reply[1]]]


def _reply_popped_members(p: PreparedCommand, reply: Any) -> Any:
    """`ZMPOP`: `[key, [[member, score], ...]]`."""
    if not reply:
        return reply
    key = p.key_out(reply[0])
    return [key, _pairs(reply[1], lambda data: p.value(data, key), _keep)]


def _stream_entry(p: PreparedCommand, entry: Any, key: Any) -> Any:
    """`(id, {field: value})`, and whatever redis-py put after them."""
    if not isinstance(entry, (list, tuple)) or len(entry) < 2:
        return entry

    entry_id, fields = entry[0], entry[1]
    if isinstance(fields, dict):
        fields = {p.name(k): p.value(v, key) for k, v in fields.items()}
    elif isinstance(fields, list):
        fields = _pairs(fields, p.name, lambda data: p.value(data, key))
    return type(entry)((p.name(entry_id), fields, *entry[2:]))


def _stream_entries(p: PreparedCommand, entries: Any, key: Any) -> Any:
    """The entries of one stream; RESP3 may wrap them in one more list."""
    if not isinstance(entries, list):
        return entries
    return [
        _stream_entry(p, item, key)
        if _is_stream_entry(item)
        else _stream_entries(p, item, key)
        for item in entries
    ]


def _is_stream_entry(item: Any) -> bool:
    if isinstance(item, tuple):
        return True
    return (
        isinstance(item, list) and bool(item) and not isinstance(item[0], (list, tuple))
    )


def _reply_stream(p: PreparedCommand, reply: Any) -> Any:
    return _stream_entries(p, reply, p.key)


def _reply_streams(p: PreparedCommand, reply: Any) -> Any:
    """`XREAD`: `[[stream, entries], ...]` or `{stream: entries}`."""
    if isinstance(reply, dict):
        return {
            p.key_out(stream): _stream_entries(p, entries, p.key_out(stream))
            for stream, entries in reply.items()
        }
    if isinstance(reply, list):
        return [
            [p.key_out(stream), _stream_entries(p, entries, p.key_out(stream))]
            for stream, entries in reply
        ]
    return reply


def _reply_xclaim(p: PreparedCommand, reply: Any) -> Any:
    if p.options.get("parse_justid") or p.has_word("JUSTID", 5):
        return _reply_names(p, reply)
    return _stream_entries(p, reply, p.key)


def _reply_xautoclaim(p: PreparedCommand, reply: Any) -> Any:
    """`[next id, claimed entries, deleted ids]`, or the ids with `JUSTID`."""
    if p.options.get("parse_justid") or p.has_word("JUSTID", 6):
        return _reply_names(p, reply)
    if not isinstance(reply, list) or len(reply) < 2:
        return reply

    claimed = _stream_entries(p, reply[1], p.key)
    return [p.name(reply[0]), claimed, *(_reply_names(p, x) for x in reply[2:])]


def _reply_scan(p: PreparedCommand, reply: Any) -> Any:
    cursor, keys = reply
    return cursor, [p.key_out(key) for key in keys]


def _reply_keys(p: PreparedCommand, reply: Any) -> Any:
    if isinstance(reply, list):
        return [p.key_out(key) for key in reply]
    return p.key_out(reply)


def _reply_numsub(p: PreparedCommand, reply: Any) -> Any:
    if isinstance(reply, dict):
        return {p.key_out(channel): count for channel, count in reply.items()}
    return _pairs(reply, p.key_out, _keep)


# -- the table ---------------------------------------------------------------------

# Key positions of every command of redis-server 7.0.15 that has keys, as its
# `COMMAND` reply gives them: (first key, last key, step), a negative last key
# counting from the end. Made by running `COMMAND` on that server once and
# grouping the commands and subcommands (`CONTAINER|SUB`, as `COMMAND` names
# them) whose first key is not 0. For commands with movable keys the range
# names the first key only; the rules further down find the others.
_KEY_RANGES_REDIS_7_0 = {
    (1, -2, 1): "BLPOP BRPOP BZPOPMAX BZPOPMIN",
    (1, -1, 1): """
        DEL EXISTS MGET PFCOUNT PFMERGE SDIFF SDIFFSTORE SINTER SINTERSTORE
        SSUBSCRIBE SUNION SUNIONSTORE SUNSUBSCRIBE TOUCH UNLINK WATCH
    """,
    (1, -1, 2): "MSET MSETNX",
    (1, 1, 1): """
        APPEND BITCOUNT BITFIELD BITFIELD_RO BITPOS DECR DECRBY DUMP EXPIRE
        EXPIREAT EXPIRETIME GEOADD GEODIST GEOHASH GEOPOS GEORADIUS
        GEORADIUSBYMEMBER GEORADIUSBYMEMBER_RO GEORADIUS_RO GEOSEARCH GET GETBIT
        GETDEL GETEX GETRANGE GETSET HDEL HEXISTS HGET HGETALL HINCRBY
        HINCRBYFLOAT HKEYS HLEN HMGET HMSET HRANDFIELD HSCAN HSET HSETNX HSTRLEN
        HVALS INCR INCRBY INCRBYFLOAT LINDEX LINSERT LLEN LPOP LPOS LPUSH LPUSHX
        LRANGE LREM LSET LTRIM MOVE PERSIST PEXPIRE PEXPIREAT PEXPIRETIME PFADD
        PSETEX PTTL RESTORE RESTORE-ASKING RPOP RPUSH RPUSHX SADD SCARD SET
        SETBIT SETEX SETNX SETRANGE SISMEMBER SMEMBERS SMISMEMBER SORT SORT_RO
        SPOP SPUBLISH SRANDMEMBER SREM SSCAN STRLEN SUBSTR TTL TYPE XACK XADD
        XAUTOCLAIM XCLAIM XDEL XLEN XPENDING XRANGE XREVRANGE XSETID XTRIM ZADD
        ZCARD ZCOUNT ZDIFFSTORE ZINCRBY ZINTERSTORE ZLEXCOUNT ZMSCORE ZPOPMAX
        ZPOPMIN ZRANDMEMBER ZRANGE ZRANGEBYLEX ZRANGEBYSCORE ZRANK ZREM
        ZREMRANGEBYLEX ZREMRANGEBYRANK ZREMRANGEBYSCORE ZREVRANGE ZREVRANGEBYLEX
        ZREVRANGEBYSCORE ZREVRANK ZSCAN ZSCORE ZUNIONSTORE
    """,
    (1, 2, 1): """
        BLMOVE BRPOPLPUSH COPY GEOSEARCHSTORE LCS LMOVE RENAME RENAMENX
        RPOPLPUSH SMOVE ZRANGESTORE
    """,
    (2, -1, 1): "BITOP",
    (2, 2, 1): """
        MEMORY|USAGE OBJECT|ENCODING OBJECT|FREQ OBJECT|IDLETIME OBJECT|REFCOUNT
        PFDEBUG XGROUP|CREATE XGROUP|CREATECONSUMER XGROUP|DELCONSUMER
        XGROUP|DESTROY XGROUP|SETID XINFO|CONSUMERS XINFO|GROUPS XINFO|STREAM
    """,
    (3, 3, 1): "MIGRATE",
}

# The commands of redis-server 7.0.15 without keys, from the same `COMMAND`
# reply (subcommands are known through their container).
_KEYLESS_REDIS_7_0 = """
    ACL ASKING AUTH BGREWRITEAOF BGSAVE CLIENT CLUSTER COMMAND CONFIG DBSIZE
    DEBUG DISCARD ECHO EXEC FAILOVER FLUSHALL FLUSHDB FUNCTION HELLO INFO
    LASTSAVE LATENCY LOLWUT MEMORY MODULE MONITOR MULTI OBJECT PFSELFTEST PING
    PSYNC PUBSUB QUIT READONLY READWRITE REPLCONF REPLICAOF RESET ROLE SAVE
    SCRIPT SELECT SHUTDOWN SLAVEOF SLOWLOG SWAPDB SYNC TIME UNWATCH WAIT XGROUP
    XINFO
"""

# Commands with keys that redis-py 8.1 sends and redis-server 7.0 does not
# know, read from redis-py's methods: hash field expiry and HGETDEL, HGETEX,
# HSETEX (Redis 8.0), DELEX, DIGEST, INCREX, the array (AR*) and newer stream
# and list commands. And two subcommands that `COMMAND` lists without keys
# but that take one.
_KEY_RANGES_NEWER = {
    (1, 1, 1): """
        ARCOUNT ARDEL ARDELRANGE ARGET ARGETRANGE ARGREP ARINFO ARINSERT
        ARLASTITEMS ARLEN ARMGET ARMSET ARNEXT AROP ARRING ARSCAN ARSEEK ARSET
        DELEX DIGEST HEXPIRE HEXPIREAT HEXPIRETIME HGETDEL HGETEX HPERSIST
        HPEXPIRE HPEXPIREAT HPEXPIRETIME HPTTL HSETEX HTTL INCREX XACKDEL
        XCFGSET XDELEX XNACK
    """,
    (1, 2, 1): "BLMOVEM LMOVEM",
    (2, 2, 1): "CLUSTER|KEYSLOT DEBUG|OBJECT",
}
_KEYLESS_NEWER = "HOTKEYS WAITAOF"

# Commands with subcommands that have keys: their rules are "NAME SUB".
_CONTAINERS = ("CLUSTER", "DEBUG", "MEMORY", "OBJECT", "PUBSUB", "XGROUP", "XINFO")

_SUBCOMMANDS = _Rule()
_NO_KEYS = _Rule()

_VALUE = _Rule(reply=_reply_value)
_VALUES = _Rule(reply=_reply_elements)
_MEMBERS = _Rule(reply=_reply_scored)
_MEMBER_SET = _Rule(reply=_reply_member_set)

# What kvdb does beyond the key ranges: movable keys, patterns, channels,
# values and replies. A rule without `keys` takes those of the ranges above.
_RULES: dict[str, _Rule] = {
    # -- strings
    "SET": _Rule(encode=_encode_set, ttl=_ttl_set, reply=_reply_set),
    "SETNX": _Rule(encode=_encode_at(2), ttl=_ttl_setnx),
    "SETEX": _Rule(encode=_encode_at(3)),
    "PSETEX": _Rule(encode=_encode_at(3)),
    "GETSET": _Rule(encode=_encode_at(2), ttl=_ttl_getset, reply=_reply_value),
    "GET": _Rule(reply=_reply_whole_value),
    "GETEX": _Rule(reply=_reply_whole_value),
    "GETDEL": _VALUE,
    "MGET": _Rule(reply=_reply_mget),
    "MSET": _Rule(encode=_encode_mset),
    "MSETNX": _Rule(encode=_encode_mset),
    "MSETEX": _Rule(keys=_msetex_keys, encode=_encode_msetex),
    "DELEX": _Rule(encode=_encode_delex),
    # -- hashes
    "HSET": _Rule(encode=_encode_pairs_from(2)),
    "HMSET": _Rule(encode=_encode_pairs_from(2)),
    "HSETNX": _Rule(encode=_encode_at(3)),
    "HSETEX": _Rule(encode=_encode_hsetex),
    "HGET": _VALUE,
    "HMGET": _VALUES,
    "HGETDEL": _VALUES,
    "HGETEX": _VALUES,
    "HVALS": _VALUES,
    "HGETALL": _Rule(reply=_reply_hash),
    "HKEYS": _Rule(reply=_reply_names, reply_values=False),
    "HRANDFIELD": _Rule(reply=_reply_hrandfield),
    "HSCAN": _Rule(reply=_reply_hscan),
    # -- lists
    "LPUSH": _Rule(encode=_encode_from(2)),
    "RPUSH": _Rule(encode=_encode_from(2)),
    "LPUSHX": _Rule(encode=_encode_from(2)),
    "RPUSHX": _Rule(encode=_encode_from(2)),
    "LSET": _Rule(encode=_encode_at(3)),
    "LREM": _Rule(encode=_encode_at(3)),
    "LINSERT": _Rule(encode=_encode_at(3, 4)),
    "LPOS": _Rule(encode=_encode_at(2)),
    "LPOP": _VALUES,
    "RPOP": _VALUES,
    "LRANGE": _VALUES,
    "LINDEX": _VALUE,
    "LMOVE": _VALUE,
    "BLMOVE": _VALUE,
    "RPOPLPUSH": _VALUE,
    "BRPOPLPUSH": _VALUE,
    "LMOVEM": _VALUES,
    "BLMOVEM": _VALUES,
    "BLPOP": _Rule(reply=_reply_popped, reply_names=True),
    "BRPOP": _Rule(reply=_reply_popped, reply_names=True),
    "LMPOP": _Rule(keys=_numkeys_at(1), reply=_reply_popped_values, reply_names=True),
    "BLMPOP": _Rule(keys=_numkeys_at(2), reply=_reply_popped_values, reply_names=True),
    "SORT": _Rule(keys=_sort_keys, reply=_reply_sort),
    "SORT_RO": _Rule(keys=_sort_keys, reply=_reply_sort),
    # -- sets
    "SADD": _Rule(encode=_encode_from(2)),
    "SREM": _Rule(encode=_encode_from(2)),
    "SISMEMBER": _Rule(encode=_encode_at(2)),
    "SMISMEMBER": _Rule(encode=_encode_from(2)),
    "SMOVE": _Rule(encode=_encode_at(3)),
    "SMEMBERS": _MEMBER_SET,
    "SINTER": _MEMBER_SET,
    "SUNION": _MEMBER_SET,
    "SDIFF": _MEMBER_SET,
    "SPOP": _VALUES,
    "SRANDMEMBER": _VALUES,
    "SSCAN": _Rule(reply=_reply_sscan),
    "SINTERCARD": _Rule(keys=_numkeys_at(1)),
    "SDIFFCARD": _Rule(keys=_numkeys_at(1)),
    "SUNIONCARD": _Rule(keys=_numkeys_at(1)),
    # -- sorted sets
    "ZADD": _Rule(encode=_encode_zadd),
    "ZINCRBY": _Rule(encode=_encode_at(3)),
    "ZSCORE": _Rule(encode=_encode_at(2)),
    "ZRANK": _Rule(encode=_encode_at(2)),
    "ZREVRANK": _Rule(encode=_encode_at(2)),
    "ZMSCORE": _Rule(encode=_encode_from(2)),
    "ZREM": _Rule(encode=_encode_from(2)),
    "ZRANGE": _MEMBERS,
    "ZRANGEBYSCORE": _MEMBERS,
    "ZREVRANGE": _MEMBERS,
    "ZREVRANGEBYSCORE": _MEMBERS,
    "ZRANGEBYLEX": _MEMBERS,
    "ZREVRANGEBYLEX": _MEMBERS,
    "ZRANDMEMBER": _MEMBERS,
    "ZUNION": _Rule(keys=_numkeys_at(1), reply=_reply_scored),
    "ZINTER": _Rule(keys=_numkeys_at(1), reply=_reply_scored),
    "ZDIFF": _Rule(keys=_numkeys_at(1), reply=_reply_scored),
    "ZPOPMIN": _Rule(reply=_reply_popped_pairs),
    "ZPOPMAX": _Rule(reply=_reply_popped_pairs),
    "ZSCAN": _Rule(reply=_reply_zscan),
    "BZPOPMIN": _Rule(reply=_reply_popped, reply_names=True),
    "BZPOPMAX": _Rule(reply=_reply_popped, reply_names=True),
    "ZMPOP": _Rule(keys=_numkeys_at(1), reply=_reply_popped_members, reply_names=True),
    "BZMPOP": _Rule(keys=_numkeys_at(2), reply=_reply_popped_members, reply_names=True),
    "ZINTERCARD": _Rule(keys=_numkeys_at(1)),
    "ZUNIONSTORE": _Rule(keys=_numkeys_at(2, dest=True)),
    "ZINTERSTORE": _Rule(keys=_numkeys_at(2, dest=True)),
    "ZDIFFSTORE": _Rule(keys=_numkeys_at(2, dest=True)),
    # -- streams
    "XADD": _Rule(encode=_encode_xadd, reply=_reply_names, reply_values=False),
    "XRANGE": _Rule(reply=_reply_stream),
    "XREVRANGE": _Rule(reply=_reply_stream),
    "XREAD": _Rule(keys=_streams_after(1), reply=_reply_streams, reply_names=True),
    "XREADGROUP": _Rule(keys=_streams_after(4), reply=_reply_streams, reply_names=True),
    "XCLAIM": _Rule(reply=_reply_xclaim),
    "XAUTOCLAIM": _Rule(reply=_reply_xautoclaim),
    # -- pub/sub: channels get the prefix, like keys
    "PUBLISH": _Rule(keys=_first_key, encode=_encode_at(2)),
    "SPUBLISH": _Rule(encode=_encode_at(2)),
    "SUBSCRIBE": _Rule(keys=_all_arguments),
    "UNSUBSCRIBE": _Rule(keys=_all_arguments),
    "PSUBSCRIBE": _Rule(keys=_all_patterns),
    "PUNSUBSCRIBE": _Rule(keys=_all_patterns),
    "PUBSUB CHANNELS": _Rule(
        keys=_pattern_or_all(2),
        reply=_reply_keys,
        reply_names=True,
        reply_values=False,
    ),
    "PUBSUB SHARDCHANNELS": _Rule(
        keys=_pattern_or_all(2),
        reply=_reply_keys,
        reply_names=True,
        reply_values=False,
    ),
    "PUBSUB NUMSUB": _Rule(
        keys=_pubsub_channel_list,
        reply=_reply_numsub,
        reply_names=True,
        reply_values=False,
    ),
    "PUBSUB SHARDNUMSUB": _Rule(
        keys=_pubsub_channel_list,
        reply=_reply_numsub,
        reply_names=True,
        reply_values=False,
    ),
    # -- keys
    "KEYS": _Rule(
        keys=_pattern_or_all(1),
        reply=_reply_keys,
        reply_names=True,
        reply_values=False,
    ),
    "SCAN": _Rule(
        keys=_scan_match, reply=_reply_scan, reply_names=True, reply_values=False
    ),
    "RANDOMKEY": _Rule(reply=_reply_keys, reply_names=True, reply_values=False),
    "MIGRATE": _Rule(keys=_migrate_keys),
    "GEORADIUS": _Rule(keys=_georadius_keys(6)),
    "GEORADIUSBYMEMBER": _Rule(keys=_georadius_keys(5)),
    # -- scripts and functions: KEYS get the prefix, ARGV is left as it is
    "EVAL": _Rule(keys=_numkeys_at(2)),
    "EVALSHA": _Rule(keys=_numkeys_at(2)),
    "EVAL_RO": _Rule(keys=_numkeys_at(2)),
    "EVALSHA_RO": _Rule(keys=_numkeys_at(2)),
    "FCALL": _Rule(keys=_numkeys_at(2)),
    "FCALL_RO": _Rule(keys=_numkeys_at(2)),
}


def _build_table() -> dict[str, _Rule]:
    table: dict[str, _Rule] = {}
    for names in (_KEYLESS_REDIS_7_0, _KEYLESS_NEWER):
        table.update(dict.fromkeys(names.split(), _NO_KEYS))
    for ranges in (_KEY_RANGES_REDIS_7_0, _KEY_RANGES_NEWER):
        for (first, last, step), names in ranges.items():
            rule = _Rule(keys=_key_range(first, last, step))
            for name in names.split():
                table[name.replace("|", " ")] = rule

    for name, rule in _RULES.items():
        if rule.keys is None and name in table:
            rule = dataclasses.replace(rule, keys=table[name].keys)
        table[name] = rule
    table.update(dict.fromkeys(_CONTAINERS, _SUBCOMMANDS))

    return table


_TABLE: Mapping[str, _Rule] = _build_table()

VALUE_COMMANDS: frozenset[str] = frozenset(
    name
    for name, rule in _RULES.items()
    if rule.encode is not None or (rule.reply is not None and rule.reply_values)
)
"""The commands whose values go through a session's codec."""
