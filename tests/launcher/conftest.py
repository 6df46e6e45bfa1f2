"""Helpers for launcher tests that start real processes."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def launcher_command(*args):
    """Return the argv running the launcher with ``args``."""
    return [sys.executable, "-m", "unified_api_server", *args]


@pytest.fixture
def run_launcher(tmp_path):
    """Run the launcher to completion with args; return (returncode, stdout, stderr)."""

    def run(*args, timeout=90):
        result = subprocess.run(
            launcher_command(*args),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return result.returncode, result.stdout, result.stderr

    return run
