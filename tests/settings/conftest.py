"""Fixtures of the settings tests: an isolated environment and settings files.

`env` removes every `KVDB_*` variable and `REDIS_URL` from `os.environ` and
moves into an empty directory, so that neither the machine's environment nor
the repository's files reach a test; `env["KVDB_URL"] = ...` sets a variable
for the test only. `write_file` writes a settings file in that directory.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from kvdb.settings import LoadedSettings, load_settings


class Env:
    """Sets environment variables for one test, through `monkeypatch`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, cwd: Path) -> None:
        self._monkeypatch = monkeypatch
        self.cwd = cwd

    def __setitem__(self, name: str, value: str) -> None:
        self._monkeypatch.setenv(name, value)

    def load(
        self, config: str | Path | None = None, *, profile: str | None = None
    ) -> LoadedSettings:
        """`load_settings()` as an application calls it: `os.environ`, cwd."""
        return load_settings(config, profile=profile)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Env:
    for name in list(os.environ):
        if name.upper().startswith("KVDB_") or name.upper() == "REDIS_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return Env(monkeypatch, tmp_path)


WriteFile = Callable[..., Path]


@pytest.fixture
def write_file(env: Env) -> WriteFile:
    def write(text: str, name: str = "kvdb.toml") -> Path:
        path = env.cwd / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write
