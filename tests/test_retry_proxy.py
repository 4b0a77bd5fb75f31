"""Retries over a connection that breaks after the server ran the command.

`DroppingProxy` stands between a session and a real server. It forwards the
first request of a chosen command, waits for the server's reply and, instead
of relaying it, closes the session's connection: the command ran once, and
the session cannot tell. kvdb must then fail a command that is not idempotent,
and retry one that is, through a new connection that the proxy leaves alone.
"""

from __future__ import annotations

import re
import select
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest
import redis

from kvdb import Client, KVDBSession, ServerConnectionError
from tests.servers import Server

# Every wait, of the proxy as of the session, ends within this many seconds.
TIMEOUT = 5.0

pytestmark = pytest.mark.timeout(60)


class DroppingProxy:
    """A TCP proxy on 127.0.0.1 that loses the reply to one command."""

    def __init__(self, server: Server, command: str) -> None:
        self._upstream = (server.host, server.port)
        # A request whose first bulk string is the command's name.
        name = re.escape(command.encode())
        self._request = re.compile(rb"\*\d+\r\n\$%d\r\n%s\r\n" % (len(command), name))
        self._armed = True
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self.dropped = 0

        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._start(self._accept)

    def url(self, db: str) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def close(self) -> None:
        self._stopped.set()
        for thread in self._threads:
            thread.join(TIMEOUT)
        self._listener.close()

    def _start(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            client.settimeout(TIMEOUT)
            self._start(self._relay, client)

    def _relay(self, client: socket.socket) -> None:
        with client, socket.create_connection(self._upstream, TIMEOUT) as server:
            try:
                self._pump(client, server)
            except OSError:
                # The session closed its end, or the proxy is stopping.
                return

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        dropping = False
        while not self._stopped.is_set():
            readable, _, _ = select.select([client, server], [], [], 0.1)
            for source in readable:
                data = source.recv(65536)
                if not data:
                    return

                if source is client:
                    dropping = dropping or self._take(data)
                    server.sendall(data)
                elif dropping:
                    # The server ran the command and answered: closing the
                    # session's connection now loses the answer.
                    self.dropped += 1
                    return
                else:
                    client.sendall(data)

    def _take(self, request: bytes) -> bool:
        with self._lock:
            taken = self._armed and self._request.search(request) is not None
            self._armed = self._armed and not taken
        return taken


@dataclass(frozen=True)
class Lost:
    """A session call whose first reply is lost, and what the server holds after.

    `command` is the name the proxy watches for, as redis-py sends it (`incr`
    sends INCRBY). `method`, `args` and `options` make the session call, after
    the server ran `setup`. Then `check`, run on the server, answers `expected`;
    a call that is retried answers `reply`.
    """

    command: str
    method: str
    args: tuple[Any, ...]
    check: tuple[Any, ...]
    expected: Any
    options: dict[str, Any] = field(default_factory=dict)
    setup: tuple[Any, ...] = ()
    reply: Any = None


@dataclass(frozen=True)
class Stage:
    """A session behind a proxy that will lose a reply, and a client of the server."""

    session: KVDBSession
    proxy: DroppingProxy
    raw: redis.Redis

    def on_server(self, args: tuple[Any, ...]) -> Any:
        # redis-py leaves `execute_command` unannotated; the cases know the reply.
        return self.raw.execute_command(*args)  # type: ignore[no-untyped-call]


class StageSetter(Protocol):
    """What the `stage` fixture returns."""

    def __call__(self, command: str, setup: tuple[Any, ...] = ()) -> Stage: ...


@pytest.fixture
def stage(
    client: Client, redis_server: Server, redis_url: str
) -> Iterator[StageSetter]:
    """A setter of a `Stage` on a fresh database, undone after the test.

    It takes the command whose reply the proxy loses, and a command that
    prepares the database.
    """
    stages: list[Stage] = []

    def set_up(command: str, setup: tuple[Any, ...] = ()) -> Stage:
        proxy = DroppingProxy(redis_server, command)
        session = client.get_session(
            "proxied",
            url=proxy.url(redis_url.rsplit("/", 1)[1]),
            socket_timeout=TIMEOUT,
            socket_connect_timeout=TIMEOUT,
            retry_attempts=3,
            retry_backoff_base=0,
            retry_backoff_cap=0,
        )
        raw = redis.Redis.from_url(redis_url, socket_timeout=TIMEOUT)
        staged = Stage(session, proxy, raw)
        stages.append(staged)

        if setup:
            staged.on_server(setup)
        return staged

    yield set_up
    for done in stages:
        done.proxy.close()
        done.raw.close()


NOT_RETRIED = [
    pytest.param(Lost("INCRBY", "incr", ("n",), ("GET", "n"), b"1"), id="incr"),
    pytest.param(
        Lost("LPUSH", "lpush", ("l", "x"), ("LRANGE", "l", 0, -1), [b"x"]),
        id="lpush",
    ),
    pytest.param(
        Lost(
            "LTRIM",
            "ltrim",
            ("l", 1, -1),
            ("LRANGE", "l", 0, -1),
            [b"b", b"c", b"d"],
            setup=("RPUSH", "l", "a", "b", "c", "d"),
        ),
        id="ltrim",
    ),
    pytest.param(
        Lost("SET", "set", ("k", "v"), ("GET", "k"), b"v", options={"nx": True}),
        id="set-nx",
    ),
]

RETRIED = [
    pytest.param(
        Lost(
            "GET",
            "get",
            ("k",),
            ("GET", "k"),
            b"v",
            setup=("SET", "k", "v"),
            reply=b"v",
        ),
        id="get",
    ),
    pytest.param(
        Lost("SET", "set", ("k", "v"), ("GET", "k"), b"v", reply=True), id="set"
    ),
]


class TestNotIdempotent:
    @pytest.mark.parametrize("lost", NOT_RETRIED)
    def test_fails_having_run_once(self, stage: StageSetter, lost: Lost) -> None:
        staged = stage(lost.command, lost.setup)
        call = getattr(staged.session, lost.method)

        with pytest.raises(ServerConnectionError, match="Connection closed"):
            call(*lost.args, **lost.options)

        assert 1 == staged.proxy.dropped
        assert lost.expected == staged.on_server(lost.check)

    @pytest.mark.parametrize("lost", NOT_RETRIED)
    async def test_fails_having_run_once_async(
        self, stage: StageSetter, lost: Lost
    ) -> None:
        staged = stage(lost.command, lost.setup)
        call = getattr(staged.session, "a" + lost.method)

        with pytest.raises(ServerConnectionError, match="Connection closed"):
            await call(*lost.args, **lost.options)

        assert 1 == staged.proxy.dropped
        assert lost.expected == staged.on_server(lost.check)

    def test_a_lock_taken_is_not_reported_free(self, stage: StageSetter) -> None:
        staged = stage("SET")
        lock = staged.session.lock("lock", timeout=30)

        # Taken, but the caller cannot know: an error, where a False would
        # leave the lock held by no one for 30 seconds.
        with pytest.raises(ServerConnectionError):
            lock.acquire(blocking=False)

        assert 1 == staged.proxy.dropped
        assert 1 == staged.on_server(("EXISTS", "lock"))


class TestIdempotent:
    @pytest.mark.parametrize("lost", RETRIED)
    def test_is_retried(self, stage: StageSetter, lost: Lost) -> None:
        staged = stage(lost.command, lost.setup)
        call = getattr(staged.session, lost.method)

        reply = call(*lost.args, **lost.options)

        assert 1 == staged.proxy.dropped
        assert lost.reply == reply
        assert lost.expected == staged.on_server(lost.check)

    @pytest.mark.parametrize("lost", RETRIED)
    async def test_is_retried_async(self, stage: StageSetter, lost: Lost) -> None:
        staged = stage(lost.command, lost.setup)
        call = getattr(staged.session, "a" + lost.method)

        reply = await call(*lost.args, **lost.options)

        assert 1 == staged.proxy.dropped
        assert lost.reply == reply
        assert lost.expected == staged.on_server(lost.check)
