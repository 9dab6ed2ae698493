"""Every shell command the docs show for the CLI runs as written, in a directory outside the repository,
and `resilience-telemetry --help` reads as plain text."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from telemetry.testing import require_service

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
BIN = Path(sys.executable).parent
_BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)
_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_CLI = ("resilience-telemetry ", "python -m telemetry ")
# reST or Markdown markup that has no business in terminal output.
_MARKUP = re.compile(r"``|:(?:func|class|mod|data|meth):`|\.\. \w+::")


def cli_blocks() -> list[list[str]]:
    """Shell blocks (and inline commands) of the docs that call the CLI, comments dropped, one command a line."""
    blocks = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for _lang, body in _BLOCK.findall(text):
            lines = [line.split("  #", 1)[0].strip() for line in body.splitlines()]
            lines = [line for line in lines if line and not line.startswith("#")]
            if any(line.startswith(_CLI) for line in lines):
                blocks.append(lines)
        blocks += [[span] for span in _SPAN.findall(_BLOCK.sub("", text)) if span.startswith(_CLI)]
    return blocks


def ops_config() -> str:
    """The README's `ops.yml` example, the file its commands read."""
    for lang, body in _BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8")):
        if lang == "yaml" and body.startswith("# ops.yml"):
            return body
    pytest.fail("README.md has no ops.yml example")


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``command`` through the shell, with this environment's ``python`` and ``resilience-telemetry`` first."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PYTHONPATH", None)  # the installed package, as a user has it; never the checkout
    return subprocess.run(
        ["bash", "-c", f"set -euo pipefail; {command}"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_docs_show_cli_commands() -> None:
    """There are CLI commands to run (the test below is not vacuous), including `--root`."""
    commands = [line for block in cli_blocks() for line in block]
    assert any("--root" in line for line in commands), commands
    assert len(commands) >= 4, commands


def test_every_cli_command_in_the_docs_runs(tmp_path: Path) -> None:
    """Each block runs in a fresh directory holding the README's ops.yml: every command exits 0, and the
    files land where the docs say (./alerts/ or ./dashboards/, or under --root)."""
    for tool in ("promtool", "amtool"):
        require_service(shutil.which(tool) is not None, f"{tool} (scripts/install-tools.sh)")
    for number, block in enumerate(cli_blocks()):
        where = tmp_path / f"block-{number}"
        where.mkdir()
        (where / "ops.yml").write_text(ops_config(), encoding="utf-8")
        for command in block:
            result = run(command.replace("python -m", f"{sys.executable} -m", 1), where)
            assert result.returncode == 0, f"{command!r}: {result.stdout}{result.stderr}"
        if any(command.startswith(_CLI) and " generate" in command and "--check" not in command for command in block):
            written = sorted(p.relative_to(where).as_posix() for p in where.rglob("*") if p.is_file())
            expected = "dashboards/overview.json" if "--only dashboards" in block[0] else "alerts/alertmanager.yml"
            assert expected in written, written
            if any("--root deploy" in command for command in block):
                assert f"deploy/{expected}" in written, written


def test_root_decides_where_files_land(tmp_path: Path) -> None:
    """`generate --root deploy` writes below deploy/ and nothing into the current directory."""
    result = run("resilience-telemetry generate --only alerts --root deploy", tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deploy"]
    assert (tmp_path / "deploy" / "alerts" / "alertmanager.yml").is_file()
    assert (tmp_path / "deploy" / "alerts" / "runbooks.md").is_file()


@pytest.mark.parametrize("args", ["--help", "generate --help"])
def test_help_is_plain_text(args: str, tmp_path: Path) -> None:
    """The help reads as plain text: no reST markup, it names the generators' outputs and documents --root."""
    result = run(f"resilience-telemetry {args}", tmp_path)
    assert result.returncode == 0, result.stderr
    assert _MARKUP.search(result.stdout) is None, result.stdout
    assert result.stdout.startswith("usage: resilience-telemetry")
    if args == "generate --help":
        assert "--root ROOT" in result.stdout
        assert "current directory" in result.stdout
