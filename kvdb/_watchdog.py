"""The process that runs an embedded redis-server and stops it in time.

`kvdb.embedded` never makes redis-server a child of the application. It runs
this file as a script, on the standard library alone
(`python -I -S _watchdog.py SPEC`), and the script starts the server, reports
its pid on stdout, and stops it once nobody uses it any more. SPEC is a JSON
object (`Spec` below) that `kvdb.embedded` writes; this file knows nothing of
kvdb's file names or settings.

A private server (`shared` is null) is in use while this process's stdin is
open: the application holds the other end of that pipe, and the kernel closes
it when the application dies in any way, SIGKILL included. A byte on the pipe
is an explicit stop. Either way the server gets SIGTERM, and once it has exited
the paths in `remove` are deleted and the script exits, which closes its stdout:
that end-of-file tells the application the stop is complete. An application
that dies during start-up, before it has read the pid, is gone as well: the
pid, written to it, finds the pipe broken.

A shared server (`embedded:///dir`) is in use while some process holds a shared
`flock` on the `leases` file. Every `POLL` seconds the watchdog takes the
`start_lock` and tries an exclusive lock on `leases`; when it gets both, the
last user is gone, and it stops the server while it still holds the start lock,
so that no process can attach to a server that is going away. Through its whole
life it holds an exclusive lock on the `running` file, which the server inherits
as well: the lock is free only once neither of them runs.

On Linux the server also gets SIGTERM when the watchdog dies
(`PR_SET_PDEATHSIG`). That signal fires when the *thread* that forked the
server exits, which is why it is set here, in a single-threaded process, and
not in the application, whose threads come and go.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TypedDict

POLL = 0.2
"""Seconds between two checks of the server and of its users."""

_PR_SET_PDEATHSIG = 1


class SharedSpec(TypedDict):
    """The files of the shared-directory protocol (see `kvdb.embedded`)."""

    start_lock: str
    leases: str
    running: str
    state_file: str
    state: dict[str, Any]


class Spec(TypedDict):
    """What `kvdb.embedded` asks of the watchdog."""

    command: list[str]
    log: str
    remove: list[str]
    shared: SharedSpec | None


class _Stop:
    """Set by SIGTERM: stop the server and clean up, as if it were unused."""

    requested = False

    @classmethod
    def request(cls, signum: int, frame: FrameType | None) -> None:
        cls.requested = True


def main(argv: list[str]) -> int:
    spec: Spec = json.loads(argv[1])
    shared = spec["shared"]
    if os.fork() != 0:
        # The launcher exits at once: the watchdog becomes an orphan that init
        # reaps, and the application never has a child process to wait for.
        os._exit(0)

    signal.signal(signal.SIGTERM, _Stop.request)
    running = None
    if shared is not None:
        running = _try_lock(shared["running"], fcntl.LOCK_EX)
        if running is None:
            print(f"another server runs with {shared['running']}", file=sys.stderr)
            return 1

    server = _start(spec["command"], spec["log"], running)
    if server is None:
        return 1
    if shared is not None:
        _write_state(shared, server.pid)
    reported = _report(server.pid)

    if shared is not None:
        _close_stdout()
        _watch_leases(server, shared)
    elif reported:
        _watch_lifeline(server)

    if server.poll() is None:
        server.terminate()
        # No timeout: on SIGTERM redis-server writes its RDB or flushes its AOF,
        # and cutting that short would lose data.
        server.wait()
    for path in spec["remove"]:
        _remove(Path(path))
    return 0


def _start(
    command: list[str], log_path: str, running: int | None
) -> subprocess.Popen[bytes] | None:
    """Starts the server with its output in the log, or says why it cannot."""
    with open(log_path, "ab") as log:
        try:
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with(os.getpid()),
                pass_fds=() if running is None else (running,),
            )
        except OSError as exc:
            print(f"cannot run {command[0]}: {exc}", file=sys.stderr)
            return None


def _die_with(parent: int) -> Callable[[], None]:
    """The server's pre-exec hook: it gets SIGTERM when `parent` dies."""
    libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None

    def arm() -> None:
        if libc is not None:
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            # The watchdog died before the line above took effect.
            os._exit(1)

    return arm


def _report(pid: int) -> bool:
    """Tells the application the server's pid; False if it has died meanwhile.

    Then nobody reads the pipe, and nobody is left to use a private server.
    A shared server's users are counted by their leases, as ever.
    """
    try:
        print(pid, flush=True)
    except BrokenPipeError:
        # Or the interpreter would fail again, flushing stdout at exit.
        _close_stdout()
        return False
    return True


def _watch_lifeline(server: subprocess.Popen[bytes]) -> None:
    """Returns when the application closes the pipe or writes to it.

    A server that exits by itself is reaped, but its directory stays until the
    application lets go, so that the application can still read its log.
    """
    while not _Stop.requested:
        readable, _, _ = select.select([sys.stdin.fileno()], [], [], POLL)
        if readable:
            return
        server.poll()


def _watch_leases(server: subprocess.Popen[bytes], shared: SharedSpec) -> None:
    """Returns when the server has exited or when no process holds a lease.

    In the second case the start lock and the exclusive lease stay held until
    the watchdog exits, after the server has stopped.
    """
    while not _Stop.requested and server.poll() is None:
        time.sleep(POLL)
        start = _try_lock(shared["start_lock"], fcntl.LOCK_EX)
        if start is None:
            continue
        if _try_lock(shared["leases"], fcntl.LOCK_EX) is not None:
            return
        os.close(start)


def _try_lock(path: str, operation: int) -> int | None:
    """An open descriptor of `path` holding the lock, or None if it is taken."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _write_state(shared: SharedSpec, pid: int) -> None:
    """Writes where the server listens, atomically, for processes that attach."""
    path = Path(shared["state_file"])
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({**shared["state"], "pid": pid}))
    partial.replace(path)


def _close_stdout() -> None:
    """Lets the starting process stop reading: a shared server outlives it."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
