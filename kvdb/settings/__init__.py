"""The settings system: how sessions are declared, layered and validated.

`load_settings()` reads the settings file and the `KVDB_*` environment
variables into a `LoadedSettings`; `LoadedSettings.resolve(name)` gives the
`SessionSettings` of one session, whose `connection` is the normalised
`ConnectionSettings` a pool is built from. `settings_file_schema()` is the
JSON Schema of the settings file.
"""

from __future__ import annotations

from kvdb.settings._layer import ResolvedValue
from kvdb.settings.connection import ConnectionSettings
from kvdb.settings.models import (
    DEFAULT_URL,
    CompressionName,
    OnDecodeError,
    SerializerName,
    SessionSettings,
)
from kvdb.settings.schema import settings_file_schema
from kvdb.settings.sources import LoadedSettings, load_settings
from kvdb.settings.urls import ConnectionKind, ParsedURL, mask_url, parse_url

__all__ = [
    "DEFAULT_URL",
    "CompressionName",
    "ConnectionKind",
    "ConnectionSettings",
    "LoadedSettings",
    "OnDecodeError",
    "ParsedURL",
    "ResolvedValue",
    "SerializerName",
    "SessionSettings",
    "load_settings",
    "mask_url",
    "parse_url",
    "settings_file_schema",
]
