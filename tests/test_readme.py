"""The README's promises: its commands match CI, and its examples run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_readme_opens_with_the_two_commands() -> None:
    demo, tests = _blocks("console")[0].strip().splitlines()

    assert demo.endswith(".venv/bin/kvdb demo")
    assert tests.endswith(".venv/bin/python -m pytest")


def test_ci_runs_the_test_command_of_the_readme() -> None:
    command = _blocks("console")[0].strip().splitlines()[1].split(" && ")[-1]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()

    assert command in ci


@pytest.mark.parametrize(
    "marker",
    ["The same with `asyncio`"],
    ids=["async-quickstart"],
)
def test_example_runs_on_the_embedded_server(marker: str, tmp_path: Path) -> None:
    after = README[README.index(marker) :]
    example = re.search(r"```python\n(.*?)```", after, flags=re.DOTALL)
    assert example is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("KVDB_")}

    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", example.group(1)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )

    assert 0 == result.returncode, result.stderr
    assert "{'name': 'Ada'}\n" == result.stdout
