"""One layer of settings: the values one source gives, each with its origin.

A layer is what one table of the settings file, one group of environment
variables or the keywords of one `get_session()` call say about a session.
Its values are validated as soon as the layer is read, so that a wrong value
is reported where it is written even when a more specific layer hides it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from kvdb.settings._messages import mask_url, problems_from_validation
from kvdb.settings.models import SessionSettings

__all__ = ["EMPTY_LAYER", "Layer", "ResolvedValue", "session_key", "validate_layer"]


@dataclass(frozen=True)
class ResolvedValue:
    """A setting's value and where it came from.

    `source` is an environment variable's name (`KVDB_SESSIONS__CACHE__DB_ID`),
    a file and table (`kvdb.toml [profiles.staging.sessions.cache]`),
    `get_session()`, `REDIS_URL` or `default`. Secrets are `SecretStr`; the
    repr also masks the password of a URL.
    """

    value: Any
    source: str

    def __repr__(self) -> str:
        value = mask_url(self.value) if isinstance(self.value, str) else self.value
        return f"ResolvedValue(value={value!r}, source={self.source!r})"


@dataclass(frozen=True)
class Layer:
    """The validated values of one source, and where each is written."""

    values: Mapping[str, ResolvedValue] = field(default_factory=dict)
    locations: Mapping[str, str] = field(default_factory=dict)
    """Setting -> its place for messages: `/app/kvdb.toml: sessions.cache.db_id`."""


EMPTY_LAYER = Layer()


def session_key(name: str) -> str:
    """The name environment variables know a session by: `My-Cache` -> `my_cache`."""
    return name.lower().replace("-", "_")


def validate_layer(
    raw: Mapping[str, Any],
    *,
    source: Callable[[str], str],
    locate: Callable[[str], str],
) -> tuple[Layer, list[str]]:
    """Validate the settings one source gives; return the layer and its problems.

    `source(setting)` labels each value, `locate(setting)` places it in
    messages. Secret files are not read here but when a session is resolved.
    """
    try:
        checked = SessionSettings.model_validate(
            raw, context={"read_secret_files": False}
        )
    except ValidationError as exc:
        return EMPTY_LAYER, problems_from_validation(
            exc, locate, SessionSettings.model_fields
        )

    values = {name: ResolvedValue(getattr(checked, name), source(name)) for name in raw}
    return Layer(values, {name: locate(name) for name in raw}), []
