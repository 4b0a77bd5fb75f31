"""kvdb: typed, configuration-first sessions over Redis and its kin.

Sessions are declared in a TOML settings file and `KVDB_*` environment
variables, and looked up by name:

```python
from kvdb import KVDBClient

cache = KVDBClient.get_session("cache")
cache.set("user:1", {"name": "Ada"})
await cache.aget("user:1")
```

Everything public is importable from here; the modules behind these names are
implementation detail unless their docstring says otherwise.
"""

from importlib import metadata as _metadata

from kvdb._types import NOT_GIVEN
from kvdb.client import Client, KVDBClient, SessionInfo
from kvdb.codecs import Codec, build_codec, register_type
from kvdb.errors import (
    AuthenticationError,
    CodecError,
    CommandError,
    ConfigError,
    DecodeError,
    EmbeddedServerError,
    EncodeError,
    KVDBError,
    MissingDependencyError,
    ServerConnectionError,
    ServerError,
    ServerTimeoutError,
    SessionClosedError,
    TopologyError,
    ValueTooLargeError,
)
from kvdb.pools import PoolInfo
from kvdb.session import KVDBSession
from kvdb.settings import (
    ConnectionSettings,
    LoadedSettings,
    SessionSettings,
    load_settings,
)

try:
    __version__ = _metadata.version("kvdb")
except _metadata.PackageNotFoundError:  # a checkout used without installing it
    __version__ = "0+unknown"

__all__ = [
    "NOT_GIVEN",
    "AuthenticationError",
    "Client",
    "Codec",
    "CodecError",
    "CommandError",
    "ConfigError",
    "ConnectionSettings",
    "DecodeError",
    "EmbeddedServerError",
    "EncodeError",
    "KVDBClient",
    "KVDBError",
    "KVDBSession",
    "LoadedSettings",
    "MissingDependencyError",
    "PoolInfo",
    "ServerConnectionError",
    "ServerError",
    "ServerTimeoutError",
    "SessionClosedError",
    "SessionInfo",
    "SessionSettings",
    "TopologyError",
    "ValueTooLargeError",
    "__version__",
    "build_codec",
    "load_settings",
    "register_type",
]
