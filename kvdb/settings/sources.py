"""Where a session's settings come from, and which source wins.

`load_settings()` reads the settings file and the environment once, validates
every table and variable, and returns a `LoadedSettings` snapshot. Its
`resolve(name)` builds one session's `SessionSettings`, deciding each setting
on its own, from the most specific source to the least:

1. the keyword arguments of `KVDBClient.get_session(name, ...)`
2. `KVDB_SESSIONS__<NAME>__<SETTING>` environment variables
3. `[profiles.<profile>.sessions.<name>]` of the settings file
4. `[sessions.<name>]`
5. `KVDB_<SETTING>` environment variables
6. `[profiles.<profile>.defaults]`
7. `[defaults]`
8. the built-in defaults

`REDIS_URL` gives the url when none of 1-7 does. What a URL says (host, port,
database, user, password, TLS, its query options) can be overridden by a
separate setting only from the same or a more specific source than the URL's:
`KVDB_URL=redis://h:6379/7` above `[defaults] db_id = 2` means database 7.
A setting the URL leaves out is filled in from any source.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError

from kvdb._log import logger
from kvdb._types import NOT_GIVEN
from kvdb.errors import ConfigError, MissingDependencyError
from kvdb.settings._env import EnvironmentSettings, read_environment
from kvdb.settings._file import (
    ProfileTables,
    SettingsFile,
    find_settings_file,
    read_settings_file,
)
from kvdb.settings._layer import EMPTY_LAYER, Layer, ResolvedValue, validate_layer
from kvdb.settings._layer import session_key as to_session_key
from kvdb.settings._messages import (
    SettingError,
    config_error,
    did_you_mean,
    problems_from_validation,
    raise_problems,
)
from kvdb.settings.models import DEFAULT_URL, SECRET_FILES, SessionSettings
from kvdb.settings.urls import URL_OPTIONS, ParsedURL, parse_url

__all__ = ["LoadedSettings", "ResolvedValue", "load_settings"]

DEFAULT_SOURCE = "default"
OVERRIDES_SOURCE = "get_session()"

# The rank of REDIS_URL among the 7 layers (0-6) and the built-in defaults.
_REDIS_URL_RANK = 7
_DEFAULT_RANK = 8

# Settings a URL can give, and the `ConnectionSettings` attribute of each.
_FROM_URL = {
    "host": "host",
    "port": "port",
    "db_id": "db",
    "username": "username",
    "password": "password",
    "ssl": "ssl",
    "service_name": "service_name",
    **{name: name for name in URL_OPTIONS},
}


# How alike (difflib's ratio) an undeclared session name must be to a declared
# one to be taken for its misspelling: "cahce" for "cache" is, "jobs" is not.
_TYPO_CUTOFF = 0.75


class _Choice(NamedTuple):
    """The value a setting takes, its layer's rank, and where it is written."""

    rank: int
    value: ResolvedValue
    location: str


@dataclass(frozen=True)
class _Resolution:
    settings: SessionSettings
    choices: dict[str, _Choice]
    parsed: ParsedURL


def load_settings(
    config: str | Path | None = None,
    *,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    config_source: str = "the config argument",
    profile_source: str = "the profile argument",
) -> LoadedSettings:
    """Read the settings file and the environment into a `LoadedSettings`.

    `config` names the settings file (else `KVDB_CONFIG`, else `kvdb.toml` or
    the `[tool.kvdb]` table of `pyproject.toml` in `cwd`); `profile` picks a
    profile (else `KVDB_PROFILE`). `environ` defaults to `os.environ`, `cwd`
    to the working directory. Errors say that `config` and `profile` come
    from `config_source` and `profile_source` (the command line's `--config`
    and `--profile`).

    Raises one `ConfigError` that lists every wrong value, unknown key and
    misplaced table of the file (in every profile) and of the environment.
    """
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd

    env, problems = read_environment(environ)
    path = find_settings_file(config, env.config, cwd, config_source=config_source)
    settings_file = None
    if path is not None:
        settings_file, file_problems = read_settings_file(path)
        problems += file_problems
    raise_problems(problems)

    given_by = profile_source
    if not profile and env.profile:
        given_by, profile = env.profile
    profiles = tuple(settings_file.profiles) if settings_file else ()
    if profile is not None and profile not in profiles:
        raise ConfigError(_missing_profile(profile, given_by, path, profiles, cwd))

    logger.debug("kvdb settings: file %s, profile %s", path, profile)
    return LoadedSettings(
        path=path, profile=profile, profiles=profiles, _file=settings_file, _env=env
    )


@dataclass(frozen=True)
class LoadedSettings:
    """An immutable snapshot of the settings file and the environment.

    Load it with `load_settings()`. Every value in it is validated; `resolve`
    puts a session's settings together (see the module docstring).
    """

    path: Path | None
    """The settings file, or `None` when there is none."""
    profile: str | None
    """The selected profile."""
    profiles: tuple[str, ...]
    """Every profile of the file."""
    _file: SettingsFile | None = field(repr=False)
    _env: EnvironmentSettings = field(repr=False)

    def session_names(self) -> list[str]:
        """The sessions declared in the file (or profile) or the environment.

        `default` comes first and always; the others follow as declared.
        """
        names = {"default": "default"}
        tables = self._profile_tables()
        for name in (
            *(self._file.sessions if self._file else ()),
            *tables.sessions,
            *self._env.sessions,
        ):
            names.setdefault(to_session_key(name), name)
        return list(names.values())

    def resolve(
        self,
        name: str = "default",
        overrides: Mapping[str, Any] | None = None,
        *,
        overrides_source: str = OVERRIDES_SOURCE,
    ) -> SessionSettings:
        """Put together the settings of session `name`.

        `overrides` are the keyword arguments of `get_session()`, the most
        specific source; they are validated like every other source, and
        values that are `NOT_GIVEN` are left out. A name declared nowhere
        gets the defaults, unless it is a near miss of a declared name and
        has no `overrides`: that is a misspelling, and an error rather than a
        connection to the default server. Session names are matched ignoring
        case and `-`/`_`.

        Password files are read now. Raises `ConfigError`.
        """
        return self._resolve(name, overrides, overrides_source).settings

    def explain(
        self,
        name: str = "default",
        overrides: Mapping[str, Any] | None = None,
        *,
        overrides_source: str = OVERRIDES_SOURCE,
        read_secret_files: bool = True,
    ) -> dict[str, ResolvedValue]:
        """Every setting of session `name`, with the source it came from.

        Connection settings show what the connection uses: a database that
        only the URL gives shows that number, with the URL's source. A secret
        read from a file has the file setting's source; with
        `read_secret_files=False` the file is not read and the secret is `None`.
        """
        resolution = self._resolve(
            name, overrides, overrides_source, read_secret_files=read_secret_files
        )
        return _explain(resolution)

    def check(self) -> None:
        """Resolve every session as `resolve()` does, without reading secret files.

        Raises one `ConfigError` listing the sessions that fail.
        """
        problems = []
        for name in self.session_names():
            try:
                self._resolve(name, None, OVERRIDES_SOURCE, read_secret_files=False)
            except ConfigError as exc:
                problems.append(str(exc))
        raise_problems(problems)

    # -- resolution ---------------------------------------------------------

    def _resolve(
        self,
        name: str,
        overrides: Mapping[str, Any] | None,
        overrides_source: str,
        *,
        read_secret_files: bool = True,
    ) -> _Resolution:
        given = {
            key: value
            for key, value in (overrides or {}).items()
            if value is not NOT_GIVEN
        }
        name = self._declared(name, bool(given))
        layers = self._layers(name, given, overrides_source)
        choices = _choose(layers, self._env)

        url = choices.get("url")
        try:
            parsed = parse_url(url.value.value if url else DEFAULT_URL)
            _drop_overridden_by_url(choices, parsed)
            settings = SessionSettings.model_validate(
                {setting: choice.value.value for setting, choice in choices.items()},
                context={"read_secret_files": read_secret_files},
            )
            settings.connection  # noqa: B018 - computed now, to fail now
        except ValidationError as exc:
            problems = problems_from_validation(
                exc, _locator(choices), SessionSettings.model_fields
            )
            raise config_error([f"session {name!r}: {p}" for p in problems]) from exc
        except SettingError as exc:
            where = _locator(choices)(exc.setting)
            message = f"session {name!r}: {where} = {exc.value_shown}: {exc.problem}"
            raise ConfigError(message) from exc

        _check_codec(name, settings, choices)
        return _Resolution(settings, choices, parsed)

    def _declared(self, name: str, has_overrides: bool) -> str:
        """The declared spelling of `name`, refusing likely misspellings.

        An undeclared name gets the defaults, as a 12-factor app that sets
        only `KVDB_URL` expects; but one that is a near miss of a declared
        name, with no settings of its own, is far more likely a typo that
        would quietly connect elsewhere, and is an error.
        """
        declared = {to_session_key(known): known for known in self.session_names()}
        found = declared.get(to_session_key(name))
        if found is not None or has_overrides:
            return found or name

        others = [known for known in declared.values() if known != "default"]
        suggestion = did_you_mean(name, others, cutoff=_TYPO_CUTOFF)
        if not suggestion:
            return name

        raise self._undeclared(
            repr(name),
            suggestion,
            f"declare it as [sessions.{name}] or KVDB_SESSIONS__"
            f"{to_session_key(name).upper()}__<SETTING>, or pass its settings "
            "to get_session()",
        )

    def require_declared(self, name: str, given_by: str, remedy: str) -> None:
        """Refuse session `name` unless the settings declare it.

        `default` is always declared. Unlike `resolve()`, which gives an
        undeclared name the defaults, this refuses any name declared nowhere:
        the command line's `--session` is a typo when it is not declared.
        `given_by` names the option in the message, `remedy` ends it.
        """
        declared = self.session_names()
        if to_session_key(name) not in map(to_session_key, declared):
            suggestion = did_you_mean(name, declared)
            raise self._undeclared(f"{name!r} ({given_by})", suggestion, remedy)

    def _undeclared(self, name: str, suggestion: str, remedy: str) -> ConfigError:
        """The error for session `name`, as shown, which nothing declares."""
        declared = ", ".join(self.session_names())
        where = f"{self.path} or the environment" if self.path else "the environment"
        return ConfigError(
            f"no session {name} is declared in {where}{suggestion} "
            f"(declared: {declared}); {remedy}"
        )

    def _layers(
        self, name: str, overrides: Mapping[str, Any], overrides_source: str
    ) -> list[Layer]:
        """The 7 layers of session `name`, most specific first."""
        overrides_layer, problems = validate_layer(
            overrides,
            source=lambda _: overrides_source,
            locate=lambda setting: f"{overrides_source} {setting}",
        )
        raise_problems([f"session {name!r}: {problem}" for problem in problems])

        key = to_session_key(name)
        tables = self._profile_tables()
        sessions = self._file.sessions if self._file else {}
        return [
            overrides_layer,
            _find(self._env.sessions, key),
            _find(tables.sessions, key),
            _find(sessions, key),
            self._env.defaults,
            tables.defaults,
            self._file.defaults if self._file else EMPTY_LAYER,
        ]

    def _profile_tables(self) -> ProfileTables:
        if self._file is None or self.profile is None:
            return ProfileTables()
        return self._file.profiles[self.profile]


def _check_codec(
    name: str, settings: SessionSettings, choices: dict[str, _Choice]
) -> None:
    """Build the session's codec once, to fail now where a setting is written.

    A codec setting that does not go with the others (a compression without a
    serializer, a level the compressor lacks) would otherwise fail on the
    session's first use, without saying which file or variable set it.
    """
    # Imported here: the codec factory imports the settings models.
    from kvdb.codecs import build_codec

    try:
        build_codec(settings)
    except ConfigError as exc:
        # The factory's messages start with the setting they are about.
        setting = re.match(r"\w+", str(exc))
        where = ""
        if setting:
            # A secret read from a file is placed where the file is named.
            choice = choices.get(setting.group()) or choices.get(
                f"{setting.group()}_file"
            )
            where = f" ({choice.location})" if choice else ""
        kind = (
            MissingDependencyError
            if isinstance(exc, MissingDependencyError)
            else ConfigError
        )
        raise kind(f"session {name!r}{where}: {exc}") from exc


def _find(layers: Mapping[str, Layer], key: str) -> Layer:
    for name, layer in layers.items():
        if to_session_key(name) == key:
            return layer
    return EMPTY_LAYER


def _choose(layers: list[Layer], env: EnvironmentSettings) -> dict[str, _Choice]:
    """Pick each setting from the most specific layer that sets it."""
    choices: dict[str, _Choice] = {}
    for rank, layer in enumerate(layers):
        for setting, value in layer.values.items():
            choices.setdefault(setting, _Choice(rank, value, layer.locations[setting]))

    # A secret and its file are one setting: the more specific source wins.
    for file_setting, secret in SECRET_FILES.items():
        if file_setting in choices and secret in choices:
            loser = max(file_setting, secret, key=lambda name: choices[name].rank)
            del choices[loser]

    if "url" not in choices and env.redis_url is not None:
        source = env.redis_url.source
        choices["url"] = _Choice(_REDIS_URL_RANK, env.redis_url, source)
    return choices


def _drop_overridden_by_url(choices: dict[str, _Choice], parsed: ParsedURL) -> None:
    """Drop settings that a less specific source gives than the URL's."""
    url = choices.get("url")
    url_rank = url.rank if url else _DEFAULT_RANK
    decided = set(parsed.specified)
    if "password" in decided:
        decided.update(SECRET_FILES)
    for setting in decided & choices.keys():
        if choices[setting].rank > url_rank:
            del choices[setting]


def _locator(choices: dict[str, _Choice]) -> Callable[[str], str]:
    def locate(setting: str) -> str:
        choice = choices.get(setting)
        return choice.location if choice else f"{setting} (built-in default)"

    return locate


def _explain(resolution: _Resolution) -> dict[str, ResolvedValue]:
    settings, choices, parsed = (
        resolution.settings,
        resolution.choices,
        resolution.parsed,
    )
    connection = settings.connection
    url = choices.get("url")
    url_source = url.value.source if url else DEFAULT_SOURCE

    explained = {}
    for setting in SessionSettings.model_fields:
        value = getattr(settings, setting)
        if setting in choices:
            explained[setting] = choices[setting].value
        elif setting in _FROM_URL:
            value = getattr(connection, _FROM_URL[setting])
            source = url_source if _url_gives(parsed, setting) else DEFAULT_SOURCE
            explained[setting] = ResolvedValue(value, source)
        else:
            explained[setting] = ResolvedValue(value, DEFAULT_SOURCE)

    # A secret read from a file comes from where the file was named.
    for file_setting, secret in SECRET_FILES.items():
        if file_setting in choices:
            source = choices[file_setting].value.source
            explained[secret] = ResolvedValue(getattr(settings, secret), source)
    if parsed.kind == "cluster" and "cluster" not in choices:
        explained["cluster"] = ResolvedValue(True, url_source)
    return explained


def _url_gives(parsed: ParsedURL, setting: str) -> bool:
    if setting == "ssl":
        return True
    if setting in URL_OPTIONS:
        return setting in parsed.options
    attribute = _FROM_URL[setting]
    return getattr(parsed, attribute) is not None


def _missing_profile(
    profile: str,
    given_by: str | None,
    path: Path | None,
    profiles: tuple[str, ...],
    cwd: Path,
) -> str:
    start = f"profile {profile!r} (from {given_by})"
    if path is None:
        return (
            f"{start} is selected, but there is no settings file: no kvdb.toml "
            f"or [tool.kvdb] in pyproject.toml in {cwd}, and no KVDB_CONFIG"
        )
    existing = ", ".join(profiles) if profiles else "none"
    return (
        f"{start} is not in {path}{did_you_mean(profile, profiles)} "
        f"(profiles there: {existing})"
    )
