"""The JSON Schema of the settings file, generated from the models.

Editors that read JSON Schema for TOML (Taplo, Even Better TOML in VS Code)
use it to complete settings and flag typos: closed choices such as
`serializer` and `compression` are enums. The committed copy lives in
`schemas/kvdb.schema.json`; `kvdb config schema` prints a fresh one.

TOML has no null, so where a setting may be unset the schema allows the
string `"none"` instead, as the settings loader does.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from kvdb.settings.models import SessionSettings

__all__ = ["settings_file_schema"]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class _Profile(BaseModel):
    """A profile: settings that apply when it is selected (`KVDB_PROFILE`)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    defaults: SessionSettings = Field(default_factory=SessionSettings)
    """Settings of every session in this profile."""

    sessions: dict[str, SessionSettings] = Field(default_factory=dict)
    """Settings of one session in this profile, by session name."""


class _SettingsFile(BaseModel):
    """The kvdb settings file (`kvdb.toml`, or `[tool.kvdb]` in pyproject.toml)."""

    model_config = ConfigDict(
        extra="forbid", use_attribute_docstrings=True, title="kvdb settings"
    )

    defaults: SessionSettings = Field(default_factory=SessionSettings)
    """Settings of every session."""

    sessions: dict[str, SessionSettings] = Field(default_factory=dict)
    """Settings of one session, by session name."""

    profiles: dict[str, _Profile] = Field(default_factory=dict)
    """Named sets of settings that override the rest when selected."""


class _TomlSchema(GenerateJsonSchema):
    """Writes null as the string "none" and leaves out generated titles."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        inner = self.generate_inner(schema["schema"])
        if inner.get("type") == "string" and "enum" not in inner:
            return inner
        if "enum" in inner and inner.get("type") == "string":
            return {**inner, "enum": [*inner["enum"], "none"]}
        return {"anyOf": [inner, {"const": "none", "description": "unset"}]}

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        generated = super().default_schema(schema)
        if generated.get("default", ...) is None:
            del generated["default"]
        return generated

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def settings_file_schema() -> dict[str, Any]:
    """The JSON Schema of the settings file, as a dict ready for `json.dumps`."""
    schema = _SettingsFile.model_json_schema(schema_generator=_TomlSchema)
    # The model's docstring speaks to Python users; the file's readers need less.
    schema["$defs"]["SessionSettings"]["description"] = (
        "The settings of a session. Connection settings set beside `url` "
        "override what the URL says."
    )
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}
