"""The settings file: finding it, reading its TOML, and checking its shape.

The file is the one named by `load_settings(config=...)` or `KVDB_CONFIG`;
failing that, `kvdb.toml` in the working directory, then the `[tool.kvdb]`
table of `pyproject.toml` there. Its tables are:

```toml
[defaults]                        # every session
[sessions.<name>]                 # one session
[profiles.<profile>.defaults]     # every session, in that profile
[profiles.<profile>.sessions.<name>]
```

Every table is validated when the file is read, profiles not selected too,
so that a typo in `[profiles.prod]` shows up on a developer's machine.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kvdb.errors import ConfigError
from kvdb.settings._layer import EMPTY_LAYER, Layer, session_key, validate_layer
from kvdb.settings._messages import did_you_mean
from kvdb.settings.models import SessionSettings

__all__ = ["ProfileTables", "SettingsFile", "find_settings_file", "read_settings_file"]

SETTINGS_FILE_NAME = "kvdb.toml"
PYPROJECT_NAME = "pyproject.toml"
_PYPROJECT_TABLE = ("tool", "kvdb")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class ProfileTables:
    """The `defaults` and `sessions` of one profile."""

    defaults: Layer = EMPTY_LAYER
    sessions: Mapping[str, Layer] = field(default_factory=dict)


@dataclass(frozen=True)
class SettingsFile:
    """A settings file, read and validated table by table."""

    path: Path
    defaults: Layer
    sessions: Mapping[str, Layer]
    profiles: Mapping[str, ProfileTables]


def find_settings_file(
    config: str | Path | None,
    env_config: tuple[str, str] | None,
    cwd: Path,
    *,
    config_source: str,
) -> Path | None:
    """Find the settings file; `env_config` is `KVDB_CONFIG` as (name, value).

    `config_source` says where `config` comes from, for the error of a file
    that does not exist.

    A file named explicitly must exist; `kvdb.toml` and `pyproject.toml` are
    used when they are there. A `pyproject.toml` counts only with a
    `[tool.kvdb]` table.
    """
    if config is not None:
        return _named_file(cwd / config, config_source)
    if env_config is not None:
        return _named_file(cwd / env_config[1], env_config[0])

    if (cwd / SETTINGS_FILE_NAME).is_file():
        return cwd / SETTINGS_FILE_NAME
    pyproject = cwd / PYPROJECT_NAME
    if pyproject.is_file() and _table(_load_toml(pyproject), _PYPROJECT_TABLE):
        return pyproject
    return None


def read_settings_file(path: Path) -> tuple[SettingsFile, list[str]]:
    """Read and validate the file at `path`; return it and its problems.

    Raises `ConfigError` at once for a file that cannot be read or parsed.
    """
    prefix: tuple[str, ...] = ()
    root = _load_toml(path)
    if path.name == PYPROJECT_NAME:
        prefix = _PYPROJECT_TABLE
        root = _table(root, prefix) or {}

    reader = _Reader(path, prefix)
    settings_file = reader.read(root)
    return settings_file, reader.problems


def _named_file(path: Path, given_by: str) -> Path:
    if not path.is_file():
        raise ConfigError(f"settings file {path} (from {given_by}) does not exist")
    return path


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    return data


def _table(data: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any] | None:
    for key in keys:
        value = data.get(key)
        if not isinstance(value, dict):
            return None
        data = value
    return dict(data)


def _dotted(keys: tuple[str, ...]) -> str:
    return ".".join(
        key if _BARE_KEY.fullmatch(key) else json.dumps(key) for key in keys
    )


class _Reader:
    """Walks the tables of one file, collecting every problem it finds."""

    def __init__(self, path: Path, prefix: tuple[str, ...]) -> None:
        self.path = path
        self.prefix = prefix
        self.problems: list[str] = []
        # session_key -> the first spelling seen, to catch `a-b` beside `a_b`.
        self._spellings: dict[str, str] = {}

    def read(self, root: dict[str, Any]) -> SettingsFile:
        known = ("defaults", "sessions", "profiles")
        for key in [key for key in root if key not in known]:
            self._unknown(key, (), known)

        profiles = {
            name: self._profile(name, table)
            for name, table in self._tables(root, ("profiles",)).items()
        }
        return SettingsFile(
            path=self.path,
            defaults=self._layer(root.get("defaults", {}), ("defaults",)),
            sessions=self._sessions(root, ()),
            profiles=profiles,
        )

    def _profile(self, name: str, table: dict[str, Any]) -> ProfileTables:
        keys = ("profiles", name)
        known = ("defaults", "sessions")
        for key in [key for key in table if key not in known]:
            self._unknown(key, keys, known)

        return ProfileTables(
            defaults=self._layer(table.get("defaults", {}), (*keys, "defaults")),
            sessions=self._sessions(table, keys),
        )

    def _sessions(
        self, parent: dict[str, Any], keys: tuple[str, ...]
    ) -> dict[str, Layer]:
        sessions = self._tables(parent, (*keys, "sessions"))
        for name in sessions:
            first = self._spellings.setdefault(session_key(name), name)
            if first != name:
                self.problems.append(
                    f"{self.path}: sessions {first!r} and {name!r} are one session "
                    f"to environment variables (KVDB_SESSIONS__"
                    f"{session_key(name).upper()}__...); rename one"
                )
        return {
            name: self._layer(table, (*keys, "sessions", name))
            for name, table in sessions.items()
        }

    def _tables(
        self, parent: dict[str, Any], keys: tuple[str, ...]
    ) -> dict[str, dict[str, Any]]:
        """The sub-tables of `parent[keys[-1]]`, which must all be tables."""
        value = parent.get(keys[-1], {})
        if not isinstance(value, dict):
            self._not_a_table(keys)
            return {}

        tables = {}
        for name, table in value.items():
            if isinstance(table, dict):
                tables[name] = table
            else:
                self._not_a_table((*keys, name))
        return tables

    def _layer(self, table: Any, keys: tuple[str, ...]) -> Layer:
        if not isinstance(table, dict):
            self._not_a_table(keys)
            return EMPTY_LAYER

        dotted = _dotted((*self.prefix, *keys))
        layer, problems = validate_layer(
            table,
            source=lambda _: f"{self.path.name} [{dotted}]",
            locate=lambda setting: f"{self.path}: {dotted}.{setting}",
        )
        self.problems.extend(problems)
        return layer

    def _unknown(self, key: str, keys: tuple[str, ...], known: tuple[str, ...]) -> None:
        where = f"{self.path}: {_dotted((*self.prefix, *keys, key))}"
        hint = did_you_mean(key, known)
        if not hint and key in SessionSettings.model_fields:
            table_name = _dotted((*self.prefix, *keys, "defaults"))
            hint = f"; settings go in [{table_name}] or a sessions table"
        self.problems.append(
            f"{where} is not allowed here (allowed: {', '.join(known)}){hint}"
        )

    def _not_a_table(self, keys: tuple[str, ...]) -> None:
        dotted = _dotted((*self.prefix, *keys))
        self.problems.append(f"{self.path}: {dotted} must be a table, like [{dotted}]")
