"""The `microflat` command: the demo runs; user errors are one line and a non-zero exit."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "microflat"


def run(*args):
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True)


def test_demo_runs_both_runtimes_and_they_agree():
    result = run("demo")
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith(("conv2d", "depthwise", "fully_connected"))]
    assert len(rows) == 3
    assert all(" yes " in row for row in rows)


def test_unknown_command_is_one_line_and_exit_2():
    result = run("frobnicate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "invalid choice: 'frobnicate'" in result.stderr
