"""`SessionSettings` on its own: text forms, secrets, the cached connection."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from kvdb.settings import SessionSettings
from kvdb.settings.urls import URL_OPTIONS


@pytest.mark.parametrize(
    ("setting", "text", "value"),
    [
        ("serializer", "none", None),
        ("compression", "None", None),
        ("socket_timeout", " none ", None),
        ("port", "none", None),
        ("ssl", "none", None),
        ("client_name", "none", "none"),
        ("password", "none", "none"),
        ("password_file", "none", None),
        ("embedded_persistence", "none", "none"),
        ("protocol", "3", 3),
        ("socket_keepalive", "false", False),
    ],
    ids=[
        "serializer",
        "compression",
        "timeout",
        "port",
        "ssl",
        "strings-keep-none",
        "secrets-keep-none",
        "paths",
        "choice-named-none",
        "protocol-text",
        "bool-text",
    ],
)
def test_text_forms(setting: str, text: str, value: object) -> None:
    result = getattr(SessionSettings.model_validate({setting: text}), setting)

    assert value == (result.get_secret_value() if setting == "password" else result)


def test_none_text_does_not_unset_a_setting_that_cannot_be_unset() -> None:
    with pytest.raises(ValidationError):
        SessionSettings.model_validate({"retry_attempts": "none"})


def test_repr_masks_the_url_password() -> None:
    settings = SessionSettings(url="redis://u:hunter2@h/0", password="hunter3")

    assert "hunter" not in repr(settings)
    assert "url='redis://u:***@h/0'" in repr(settings)


def test_password_and_password_file_together_fail() -> None:
    with pytest.raises(
        ValidationError, match="set password or password_file, not both"
    ):
        SessionSettings(password="x", password_file=Path("/x"))


def test_password_file_is_read_on_validation(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret\n")

    settings = SessionSettings(password_file=tmp_path / "pw")

    assert settings.password is not None
    assert "s3cret" == settings.password.get_secret_value()


def test_password_file_is_not_read_when_the_context_says_so() -> None:
    settings = SessionSettings.model_validate(
        {"password_file": "/does/not/exist"}, context={"read_secret_files": False}
    )

    assert None is settings.password


def test_the_connection_is_computed_once() -> None:
    settings = SessionSettings(url="redis://h/1")

    assert settings.connection is settings.connection


def test_a_copy_computes_its_own_connection() -> None:
    settings = SessionSettings(url="redis://h/1")
    assert 1 == settings.connection.db

    copied = settings.model_copy(update={"db_id": 5})

    assert (5, 1) == (copied.connection.db, settings.connection.db)


def test_url_options_are_session_settings() -> None:
    assert URL_OPTIONS <= SessionSettings.model_fields.keys()


def test_settings_are_equal_only_when_they_connect_alike() -> None:
    url = "redis://h/0?socket_timeout=2"
    unset = SessionSettings(url=url)
    explicit = SessionSettings(url=url, socket_timeout=5.0)

    assert SessionSettings(url=url) == unset
    assert unset != explicit
    assert (2.0, 5.0) == (
        unset.connection.socket_timeout,
        explicit.connection.socket_timeout,
    )


def test_a_dump_of_the_settings_masks_the_url_password() -> None:
    settings = SessionSettings(url="redis://app:hunter2@cache.internal:6379/2")

    dumped = settings.model_dump()

    assert "redis://app:***@cache.internal:6379/2" == dumped["url"]
    assert "hunter2" not in settings.model_dump_json()
    password = settings.connection.password
    assert password is not None
    assert "hunter2" == password.get_secret_value()
