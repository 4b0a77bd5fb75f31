"""`KVDBClient`: the process-wide registry of settings, sessions and pools.

`KVDBClient` is the one `Client` of the process. It owns three things and
nothing else: the loaded settings (read lazily, on first use), the sessions by
name, and the pools by key. Every method is safe to call from many threads.

```python
from kvdb import KVDBClient

cache = KVDBClient.get_session("cache")   # declared in kvdb.toml or KVDB_*
cache.set("greeting", {"hello": "world"})
```

Tests reset it with `KVDBClient.reset()`; a program that needs a registry of
its own creates a `Client()`.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pydantic import SecretStr

from kvdb._log import logger
from kvdb._types import NOT_GIVEN, NotGiven
from kvdb.pools import PoolInfo, PoolRegistry
from kvdb.session import KVDBSession
from kvdb.settings import LoadedSettings, SessionSettings, load_settings
from kvdb.settings._layer import session_key

__all__ = ["Client", "KVDBClient", "SessionInfo"]


@dataclass(frozen=True)
class SessionInfo:
    """What `Client.sessions()` reports of one session."""

    name: str
    server: str
    pool_key: str
    serializer: str | None
    compression: str | None
    key_prefix: str | None


class Client:
    """A registry of sessions by name and pools by key, over loaded settings.

    Use the process-wide instance, `KVDBClient`, unless you need isolation.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._settings: LoadedSettings | None = None
        self._config: str | Path | None = None
        self._profile: str | None = None
        self._environ: Mapping[str, str] | None = None
        self._sessions: dict[str, KVDBSession] = {}
        # Sessions replaced in the registry still work while the program
        # holds them; close() closes them too.
        self._made: weakref.WeakSet[KVDBSession] = weakref.WeakSet()
        # The keyword arguments each session name was given so far, so that a
        # later call adds to them instead of starting again from the files.
        self._overrides: dict[str, dict[str, Any]] = {}
        # The settings each name was last resolved from: after a reload the
        # next get_session() of the name resolves it again.
        self._resolved_with: dict[str, LoadedSettings] = {}
        self._pools = PoolRegistry()

    def __repr__(self) -> str:
        names = sorted(session.name for session in self._sessions.values())
        return f"<Client sessions={names}>"

    # -- settings ------------------------------------------------------------

    @property
    def settings(self) -> LoadedSettings:
        """The loaded settings file and environment, read on first use."""
        with self._lock:
            if self._settings is None:
                self._settings = load_settings(
                    self._config, profile=self._profile, environ=self._environ
                )
            return self._settings

    def configure(
        self,
        config: str | Path | None = None,
        *,
        profile: str | None = None,
        environ: Mapping[str, str] | None = None,
        loaded: LoadedSettings | None = None,
    ) -> None:
        """Choose the settings file, the profile or the environment, and reload.

        Arguments left as `None` fall back to `KVDB_CONFIG`, `KVDB_PROFILE`
        and `os.environ`. `loaded`, settings that `load_settings()` has just
        read from these, is used instead of reading them again; `reload()`
        reads them anew. Sessions already made keep their settings; the next
        `get_session()` of each name resolves them again.
        """
        with self._lock:
            self._config, self._profile, self._environ = config, profile, environ
            self._settings = loaded
            self._settings = self.settings

    def reload(self) -> None:
        """Read the settings file and the environment again."""
        with self._lock:
            self._settings = None
            self._settings = self.settings

    # -- sessions ------------------------------------------------------------

    def get_session(
        self,
        name: str = "default",
        *,
        url: str | NotGiven | None = NOT_GIVEN,
        host: str | NotGiven | None = NOT_GIVEN,
        port: int | NotGiven | None = NOT_GIVEN,
        db_id: int | NotGiven | None = NOT_GIVEN,
        password: str | SecretStr | NotGiven | None = NOT_GIVEN,
        username: str | NotGiven | None = NOT_GIVEN,
        serializer: str | NotGiven | None = NOT_GIVEN,
        serializer_kwargs: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        compression: str | NotGiven | None = NOT_GIVEN,
        compression_level: int | NotGiven | None = NOT_GIVEN,
        compression_enabled: bool | NotGiven | None = NOT_GIVEN,
        **other_settings: Any,
    ) -> KVDBSession:
        """The session called `name`, made on first use.

        A name declared in the settings gets its declared settings, with the
        keyword arguments on top; any other `SessionSettings` field can be
        passed too. An argument not passed leaves its setting alone; passing
        `None` sets it to none.

        The same name with no new settings, or the same ones, returns the same
        session. New settings make a new session that replaces the old one in
        the registry (the old object keeps working with its own settings).
        """
        given = {
            "url": url,
            "host": host,
            "port": port,
            "db_id": db_id,
            "password": password,
            "username": username,
            "serializer": serializer,
            "serializer_kwargs": serializer_kwargs,
            "compression": compression,
            "compression_level": compression_level,
            "compression_enabled": compression_enabled,
        }
        overrides = {k: v for k, v in given.items() if v is not NOT_GIVEN}
        overrides.update(other_settings)

        # The settings know `my-cache` and `MY_CACHE` as one session (as
        # KVDB_SESSIONS__MY_CACHE__... names it); so does the registry.
        key = session_key(name)
        with self._lock:
            loaded = self.settings
            current = self._sessions.get(key)
            if (
                current is not None
                and not current.closed
                and not overrides
                and self._resolved_with.get(key) is loaded
            ):
                return current

            merged = {**self._overrides.get(key, {}), **overrides}
            settings = loaded.resolve(name, merged)
            self._overrides[key] = merged
            self._resolved_with[key] = loaded
            if (
                current is not None
                and not current.closed
                and settings == current.settings
            ):
                return current

            session = KVDBSession(name, settings, pools=self._pools)
            if current is not None:
                logger.info(
                    "session %r replaced; changed: %s",
                    name,
                    ", ".join(_changes(current.settings, settings)) or "nothing",
                )
            self._sessions[key] = session
            self._made.add(session)

        return session

    def sessions(self) -> list[SessionInfo]:
        """The sessions made so far, with the pool each one uses."""
        with self._lock:
            sessions = [s for s in self._sessions.values() if not s.closed]

        return [
            SessionInfo(
                name=session.name,
                server=session.settings.connection.server_label(),
                pool_key=session.pool_key,
                serializer=session.settings.serializer,
                compression=session.settings.compression,
                key_prefix=session.settings.key_prefix,
            )
            for session in sessions
        ]

    def pools(self) -> list[PoolInfo]:
        """The pools in use: their server, sessions and open connections."""
        return self._pools.describe()

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        """Close every session and pool. Later `get_session()` calls start anew."""
        sessions = self._forget_sessions()

        for session in sessions:
            session.close()
        self._pools.close()

    async def aclose(self) -> None:
        """Like `close()`, awaiting the running loop's connections."""
        sessions = self._forget_sessions()

        for session in sessions:
            await session.aclose()
        await self._pools.aclose()

    def _forget_sessions(self) -> list[KVDBSession]:
        """Empty the registry; return every session made, replaced ones too."""
        with self._lock:
            sessions = list(self._made)
            self._made.clear()
            self._sessions.clear()
            self._overrides.clear()
            self._resolved_with.clear()

        return sessions

    def reset(self) -> None:
        """Close everything and forget the settings: as new. Meant for tests."""
        self.close()
        with self._lock:
            self._settings = None
            self._config = self._profile = self._environ = None


def _changes(old: SessionSettings, new: SessionSettings) -> list[str]:
    """`field: old -> new` for each changed field, with secrets masked."""
    changes = []
    for field in SessionSettings.model_fields:
        before, after = getattr(old, field), getattr(new, field)
        if before == after:
            continue
        if isinstance(before, SecretStr) or isinstance(after, SecretStr):
            changes.append(f"{field} (secret)")
        elif field == "url":
            changes.append(
                f"url: {old.connection.safe_url()} -> {new.connection.safe_url()}"
            )
        else:
            changes.append(f"{field}: {before!r} -> {after!r}")
    return changes


KVDBClient: Final[Client] = Client()
"""The process-wide `Client`."""
