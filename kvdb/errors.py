"""The exceptions kvdb raises.

Every error kvdb raises is a `KVDBError`. Errors from redis-py and from the
codec libraries are translated at one boundary and chained (`raise ... from
exc`), so the original is always one `__cause__` away.

```
KVDBError
├── ConfigError (also ValueError)       a setting, a file or a URL is wrong
│   └── MissingDependencyError           an optional library is not installed
├── CodecError
│   ├── EncodeError (also ValueError)    a value cannot be encoded
│   │   └── ValueTooLargeError           a value is over `max_value_size`
│   └── DecodeError                      a stored value cannot be decoded
├── SessionClosedError                   the session or client was closed
├── ServerError                          talking to the server went wrong
│   ├── ServerConnectionError            the server cannot be reached
│   │   └── ServerTimeoutError           the server did not answer in time
│   ├── AuthenticationError              the server refused the credentials
│   ├── CommandError                     the server rejected a command
│   └── TopologyError                    a cluster or sentinel topology fault
└── EmbeddedServerError                  the embedded redis-server failed
```

Messages name what was wrong (the key, the setting, the file, the server as
`host:port`) and never contain a password or signing key.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "CodecError",
    "CommandError",
    "ConfigError",
    "DecodeError",
    "EmbeddedServerError",
    "EncodeError",
    "KVDBError",
    "MissingDependencyError",
    "ServerConnectionError",
    "ServerError",
    "ServerTimeoutError",
    "SessionClosedError",
    "TopologyError",
    "ValueTooLargeError",
]


class KVDBError(Exception):
    """The base of every error kvdb raises."""


class ConfigError(KVDBError, ValueError):
    """A setting, a settings file or a URL is invalid.

    The message names the file, the dotted key (`sessions.cache.compression`),
    the bad value and what is allowed.
    """


class MissingDependencyError(ConfigError):
    """A setting asks for an optional library that is not installed.

    The message names the extra that installs it (`pip install kvdb[dill]`).
    """


class CodecError(KVDBError):
    """A value could not go through a session's codec."""


class EncodeError(CodecError, ValueError):
    """A value cannot be encoded by the session's codec."""


class ValueTooLargeError(EncodeError):
    """An encoded value is larger than the session's `max_value_size`.

    It is refused before anything is sent to the server.
    """


class DecodeError(CodecError):
    """A stored value has a kvdb frame but cannot be decoded.

    The message names the key (when known) and the reason: a truncated or
    corrupted frame, an unknown codec, a type that may not be reconstructed,
    a pickle frame read by a session that does not allow pickle.
    """


class SessionClosedError(KVDBError):
    """A session or the client was used after it was closed.

    kvdb never reopens a closed session behind your back; get a new one with
    `KVDBClient.get_session()`.
    """


class ServerError(KVDBError):
    """Talking to the server failed.

    Subclasses name the session and the server (`host:port`) in the message.
    """


class ServerConnectionError(ServerError):
    """The server could not be reached, or the connection broke."""


class ServerTimeoutError(ServerConnectionError):
    """The server did not answer within the configured timeout."""


class AuthenticationError(ServerError):
    """The server refused the session's username or password."""


class CommandError(ServerError):
    """The server answered a command with an error reply."""


class TopologyError(ServerError):
    """A Redis Cluster or Sentinel topology fault that could not be retried."""


class EmbeddedServerError(KVDBError):
    """The embedded redis-server could not be found or started."""
