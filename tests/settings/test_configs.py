"""The example settings files in configs/ load, in every profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvdb.settings import load_settings

CONFIGS = sorted((Path(__file__).parents[2] / "configs").glob("*.toml"))


def test_there_are_examples() -> None:
    assert {"kvdb.toml", "cluster.toml", "sentinel.toml"} <= {
        path.name for path in CONFIGS
    }


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_every_profile_of_every_example_resolves(path: Path) -> None:
    settings = load_settings(path, environ={})

    for profile in (None, *settings.profiles):
        load_settings(path, profile=profile, environ={}).check()


def test_the_main_example_covers_dev_staging_and_prod() -> None:
    path = next(path for path in CONFIGS if path.name == "kvdb.toml")

    def kind(profile: str) -> tuple[str, bool]:
        settings = load_settings(path, profile=profile, environ={})
        connection = settings.explain("cache", read_secret_files=False)
        resolved = settings.resolve(
            "cache", {"password": "x", "sentinel_password": "y"}
        )
        return resolved.connection.kind, bool(connection["ssl"].value)

    assert ("dev", "staging", "prod") == load_settings(path, environ={}).profiles
    assert ("embedded", False) == kind("dev")
    assert ("sentinel", True) == kind("staging")
    assert ("cluster", True) == kind("prod")
