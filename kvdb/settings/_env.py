"""The environment variables kvdb reads.

```
KVDB_<SETTING>                      a default for every session: KVDB_URL
KVDB_SESSIONS__<NAME>__<SETTING>    one session: KVDB_SESSIONS__CACHE__DB_ID
KVDB_CONFIG                         the settings file
KVDB_PROFILE                        the profile
REDIS_URL                           the url, when no other source gives one
```

Names are case-insensitive, and a session's name is written with `-` as `_`
(`my-cache` is `KVDB_SESSIONS__MY_CACHE__...`). A secret can come from a file
named by the `_FILE` setting (`KVDB_PASSWORD_FILE`). Lists and tables are JSON
(`KVDB_TRUSTED_MODULES='["myapp.models"]'`). An empty variable counts as unset.

An unknown `KVDB_SESSIONS__...` setting is an error, and so is a `KVDB_` name
close to a setting (`KVDB_SERIALISER`); other `KVDB_` names are left alone for
other tools.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, get_origin

from kvdb._log import logger
from kvdb.settings._layer import EMPTY_LAYER, Layer, ResolvedValue, validate_layer
from kvdb.settings._layer import session_key as to_session_key
from kvdb.settings._messages import did_you_mean, shown
from kvdb.settings.models import SessionSettings

__all__ = ["EnvironmentSettings", "read_environment"]

PREFIX = "KVDB_"
SESSIONS_PREFIX = "KVDB_SESSIONS__"
_CONTROLS = ("config", "profile")
# How alike a KVDB_ name must be to a setting to count as its typo rather
# than another tool's variable: `serialiser` is, `test_server_binary` is not.
_TYPO_CUTOFF = 0.85
_SETTINGS = tuple(SessionSettings.model_fields)
_JSON_SETTINGS = frozenset(
    name
    for name, info in SessionSettings.model_fields.items()
    if get_origin(info.annotation) in (list, dict)
)


@dataclass(frozen=True)
class EnvironmentSettings:
    """What the environment says, validated; variables as (name, value)."""

    config: tuple[str, str] | None = None
    profile: tuple[str, str] | None = None
    defaults: Layer = EMPTY_LAYER
    sessions: Mapping[str, Layer] = field(default_factory=dict)
    """By session key (`my_cache`)."""
    redis_url: ResolvedValue | None = None


def read_environment(
    environ: Mapping[str, str],
) -> tuple[EnvironmentSettings, list[str]]:
    """Read the kvdb variables of `environ`; return them and their problems."""
    reader = _Reader()
    for name, value in sorted(environ.items()):
        if value:
            reader.add(name, value)
    return reader.result(), reader.problems


class _Reader:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.controls: dict[str, tuple[str, str]] = {}
        self.redis_url: ResolvedValue | None = None
        # Raw values and their variables, by session key ("" for the defaults).
        self.raw: dict[str, dict[str, Any]] = {}
        self.names: dict[str, dict[str, str]] = {}

    def add(self, name: str, value: str) -> None:
        upper = name.upper()
        if upper == "REDIS_URL":
            if self.redis_url is not None:
                self._twice(self.redis_url.source, name)
            self.redis_url = ResolvedValue(value, name)
        elif upper.startswith(SESSIONS_PREFIX):
            self._session_variable(name, value)
        elif upper.startswith(PREFIX) and "__" in upper:
            self.problems.append(
                f"{name}: a session's setting is written "
                f"{SESSIONS_PREFIX}<NAME>__<SETTING>"
            )
        elif upper.startswith(PREFIX):
            self._default_variable(name, value)

    def _session_variable(self, name: str, value: str) -> None:
        session, sep, setting = name[len(SESSIONS_PREFIX) :].rpartition("__")
        if not sep or not session or not setting:
            self.problems.append(
                f"{name}: expected {SESSIONS_PREFIX}<NAME>__<SETTING>, "
                f"like {SESSIONS_PREFIX}CACHE__DB_ID"
            )
        elif setting.lower() not in _SETTINGS:
            hint = did_you_mean(setting, _SETTINGS)
            self.problems.append(f"{name}: {setting.lower()!r} is not a setting{hint}")
        else:
            self._store(to_session_key(session), setting.lower(), name, value)

    def _default_variable(self, name: str, value: str) -> None:
        setting = name[len(PREFIX) :].lower()
        if setting in _CONTROLS:
            self._control(setting, name, value)
        elif setting in _SETTINGS:
            self._store("", setting, name, value)
        elif hint := did_you_mean(setting, (*_SETTINGS, *_CONTROLS), _TYPO_CUTOFF):
            self.problems.append(f"{name}: {setting!r} is not a setting{hint}")
        else:
            logger.debug("ignoring %s: no kvdb setting has that name", name)

    def _control(self, setting: str, name: str, value: str) -> None:
        if setting in self.controls:
            self._twice(self.controls[setting][0], name)
        self.controls[setting] = (name, value)

    def _store(self, session: str, setting: str, name: str, value: str) -> None:
        names = self.names.setdefault(session, {})
        if setting in names:
            self._twice(names[setting], name)
            return

        names[setting] = name
        if setting not in _JSON_SETTINGS:
            self.raw.setdefault(session, {})[setting] = value
            return
        try:
            self.raw.setdefault(session, {})[setting] = json.loads(value)
        except ValueError as exc:
            self.problems.append(
                f"{name} = {shown(setting, value)}: expected JSON "
                f'(like \'["a", "b"]\' or \'{{"key": 1}}\'): {exc}'
            )

    def _twice(self, first: str, second: str) -> None:
        self.problems.append(f"{first} and {second} set the same setting; keep one")

    def result(self) -> EnvironmentSettings:
        layers = {}
        for session, raw in self.raw.items():
            names = self.names[session]
            layer, problems = validate_layer(
                raw, source=names.__getitem__, locate=names.__getitem__
            )
            layers[session] = layer
            self.problems.extend(problems)

        return EnvironmentSettings(
            config=self.controls.get("config"),
            profile=self.controls.get("profile"),
            defaults=layers.pop("", EMPTY_LAYER),
            sessions=layers,
            redis_url=self.redis_url,
        )
