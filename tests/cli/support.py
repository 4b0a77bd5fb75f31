"""Running `kvdb` as a user would: the installed console script, in a subprocess.

`kvdb(cwd, *args)` runs `.venv/bin/kvdb` (found next to the interpreter that
runs the tests) with an environment cleaned of `KVDB_*` and `REDIS_URL`, so
that only the test's own settings count. `write_settings()` writes the
`kvdb.toml` most tests use: a few sessions with different codecs on one
database of a real server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

KVDB = Path(sys.executable).with_name("kvdb")

SETTINGS = """
    [defaults]
    url = "{url}"
    serializer = "json"

    [sessions.cache]
    key_prefix = "cache:"
    compression = "zstd"
    compression_threshold = 16

    [sessions.cache-msgpack]
    key_prefix = "cache:"
    serializer = "msgpack"

    [sessions.pickled]
    serializer = "pickle"

    [sessions.raw]
    serializer = "none"
"""


def kvdb(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `kvdb *args` in `cwd`, with no KVDB_* variables but those of `env`."""
    environ = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith("KVDB_") and name.upper() != "REDIS_URL"
    }
    environ.update(env or {}, COLUMNS="200")
    return subprocess.run(
        [str(KVDB), *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write_settings(directory: Path, url: str, extra: str = "") -> Path:
    """`directory/kvdb.toml` with the sessions of `SETTINGS` on `url`."""
    path = directory / "kvdb.toml"
    text = textwrap.dedent(SETTINGS).format(url=url) + textwrap.dedent(extra)
    path.write_text(text, encoding="utf-8")
    return path


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    """The output of a run that must succeed quietly."""
    assert (0, "") == (result.returncode, result.stderr), result.stderr
    return result.stdout


def json_output(result: subprocess.CompletedProcess[str]) -> Any:
    """The JSON printed by a run that must succeed quietly."""
    return json.loads(succeeded(result))


def one_error_line(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The message of a run that must fail with one `error: ...` line."""
    assert code == result.returncode, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert 1 == len(lines), result.stderr
    assert lines[0].startswith("error: ")
    return lines[0].removeprefix("error: ")


def table_rows(output: str) -> dict[str, str]:
    """The rows of a two-column table without borders, first column as keys."""
    rows = {}
    for line in output.splitlines():
        name, _, value = line.strip().partition("  ")
        rows[name] = value.strip()
    return rows


def bordered_rows(output: str) -> list[list[str]]:
    """The cells of every row of rich's bordered tables in `output`."""
    return [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in output.splitlines()
        if line.startswith("│")
    ]
