"""The JSON Schema of the settings file, and its committed copy."""

from __future__ import annotations

import json
from pathlib import Path

from kvdb.settings import settings_file_schema

COMMITTED = Path(__file__).parents[2] / "schemas" / "kvdb.schema.json"


def test_the_committed_schema_is_what_the_models_generate() -> None:
    generated = json.dumps(settings_file_schema(), indent=2) + "\n"

    assert COMMITTED.read_text(encoding="utf-8") == generated, (
        "schemas/kvdb.schema.json is out of date; regenerate it with "
        "`kvdb config schema > schemas/kvdb.schema.json`"
    )


def test_dialect_and_title() -> None:
    schema = settings_file_schema()

    assert "https://json-schema.org/draft/2020-12/schema" == schema["$schema"]
    assert "kvdb settings" == schema["title"]


def test_the_file_shape() -> None:
    schema = settings_file_schema()
    profile = schema["$defs"]["_Profile"]

    assert {"defaults", "sessions", "profiles"} == schema["properties"].keys()
    assert False is schema["additionalProperties"]
    assert {"$ref": "#/$defs/SessionSettings"} == (
        schema["properties"]["sessions"]["additionalProperties"]
    )
    assert {"defaults", "sessions"} == profile["properties"].keys()


def test_closed_choices_are_enums_with_none_where_unset_is_allowed() -> None:
    properties = settings_file_schema()["$defs"]["SessionSettings"]["properties"]

    assert ["auto", "json", "msgpack", "pickle", "none"] == properties["serializer"][
        "enum"
    ]
    assert "zstd" in properties["compression"]["enum"]
    assert ["raise", "miss", "delete"] == properties["on_decode_error"]["enum"]
    assert [2, 3] == properties["protocol"]["enum"]


def test_defaults_and_descriptions() -> None:
    properties = settings_file_schema()["$defs"]["SessionSettings"]["properties"]

    assert "redis://localhost:6379/0" == properties["url"]["default"]
    assert 5.0 == properties["socket_timeout"]["default"]
    assert "default" not in properties["password"]
    assert all(spec.get("description") for spec in properties.values())
