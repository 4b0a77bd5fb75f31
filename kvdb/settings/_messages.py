"""How settings errors are worded.

Every problem with a setting ends up as one line that says where the value
came from (a file and its dotted key, an environment variable, a keyword of
`get_session()`), the value itself, masked when it is a secret, and what would
be allowed instead. Several problems become one `ConfigError` with one line each.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic_core import ErrorDetails

from kvdb.errors import ConfigError

__all__ = [
    "MASK",
    "SECRET_SETTINGS",
    "SettingError",
    "config_error",
    "did_you_mean",
    "mask_url",
    "problems_from_validation",
    "raise_problems",
    "shown",
]

MASK = "***"
"""What a secret looks like wherever kvdb shows it."""

SECRET_SETTINGS = frozenset({"password", "sentinel_password", "signing_key"})
"""The settings whose values are never shown."""

_LONGEST_SHOWN = 120


class SettingError(ConfigError):
    """A `ConfigError` about one setting.

    It keeps the setting's name, its value as shown and the problem apart, so
    that the settings loader can restate it with the place the value came from.
    """

    def __init__(self, setting: str, value_shown: str, problem: str) -> None:
        super().__init__(f"{setting} = {value_shown}: {problem}")
        self.setting = setting
        self.value_shown = value_shown
        self.problem = problem


def did_you_mean(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str:
    """Return `"; did you mean 'x'?"` for the choice closest to `word`, or ``""``.

    `cutoff` is difflib's: how alike (0 to 1) a choice must be to be offered.
    """
    close = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=cutoff)
    return f"; did you mean {close[0]!r}?" if close else ""


def mask_url(url: str) -> str:
    """Return `url` with its password replaced by `***`; user, host and db stay.

    It works on URLs too broken to parse: everything between the first `:` of
    the user part and the last `@` is masked, so an unencoded `@` or `/` in a
    password cannot make part of it show. The values of query options that
    are not kvdb's (`?password=...`, which other clients accept) are masked
    too, since nothing says what they hold.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url

    user_part, at, server = rest.rpartition("@")
    user, colon, _ = user_part.partition(":")
    if not at:
        server = rest
    elif colon:
        user_part = f"{user}:{MASK}"
    server, question, query = server.partition("?")
    if question:
        query = _mask_query(query)
    return f"{scheme}://{user_part}{at}{server}{question}{query}"


def _mask_query(query: str) -> str:
    # Imported here: the URL grammar imports this module.
    from kvdb.settings.urls import URL_OPTIONS

    parts = []
    for part in query.split("&"):
        name, equals, _ = part.partition("=")
        known = name in URL_OPTIONS or name == "db"
        parts.append(part if known or not equals else f"{name}={MASK}")
    return "&".join(parts)


def shown(setting: str, value: Any) -> str:
    """Show `value` of `setting` in a message: secrets masked, URLs without password."""
    if setting in SECRET_SETTINGS or isinstance(value, SecretStr):
        return MASK
    if setting == "url" and isinstance(value, str):
        return repr(mask_url(value))

    text = repr(str(value) if hasattr(value, "__fspath__") else value)
    if len(text) > _LONGEST_SHOWN:
        return text[: _LONGEST_SHOWN - 3] + "..."
    return text


def problems_from_validation(
    exc: ValidationError, locate: Callable[[str], str], fields: Iterable[str]
) -> list[str]:
    """Turn a pydantic `ValidationError` into one line per problem.

    `locate(setting)` names where the setting came from; `fields` are the valid
    setting names, offered as "did you mean" for an unknown one.
    """
    names = list(fields)
    return [_problem(error, locate, names) for error in exc.errors(include_url=False)]


def raise_problems(problems: list[str]) -> None:
    """Raise one `ConfigError` that lists every problem, if there is any."""
    if problems:
        raise config_error(problems)


def config_error(problems: list[str]) -> ConfigError:
    """One `ConfigError` for one or more problems, one line each."""
    if len(problems) == 1:
        return ConfigError(problems[0])
    lines = "\n".join(f"  {problem}" for problem in problems)
    return ConfigError(f"{len(problems)} problems in the kvdb settings:\n{lines}")


def _problem(
    error: ErrorDetails, locate: Callable[[str], str], names: list[str]
) -> str:
    loc = error["loc"]
    cause = error.get("ctx", {}).get("error")

    # A model-wide check names its setting in the `SettingError` it raised.
    if not loc and isinstance(cause, SettingError):
        return f"{locate(cause.setting)} = {cause.value_shown}: {cause.problem}"

    setting = str(loc[0])
    where = locate(setting) + "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc[1:]
    )
    if error["type"] == "extra_forbidden":
        return f"{where} is not a setting{did_you_mean(setting, names)}"
    if isinstance(cause, SettingError):
        return f"{where} = {cause.value_shown}: {cause.problem}"

    value = shown(setting, error["input"])
    problem = error["msg"].replace("Input should be", "must be", 1)
    hint = ""
    if error["type"] == "literal_error" and isinstance(error["input"], str):
        hint = did_you_mean(error["input"], _expected(error))
    return f"{where} = {value}: {problem}{hint}"


def _expected(error: ErrorDetails) -> list[str]:
    """The allowed values of a `literal_error`, as pydantic lists them."""
    expected = str(error.get("ctx", {}).get("expected", ""))
    return [part.strip(" '") for part in expected.replace(" or ", ",").split(",")]
