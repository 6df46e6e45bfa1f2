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


def nginx_check(text, folder):
    """Write nginx.conf ``text`` into ``folder`` and return ``nginx -t``'s CompletedProcess."""
    conf = folder / "nginx.conf"
    conf.write_text(text)
    return subprocess.run(
        ["nginx", "-t", "-p", f"{folder}/", "-c", str(conf), "-e", str(folder / "error.log")],
        capture_output=True,
        text=True,
        check=False,
    )
