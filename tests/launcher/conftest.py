"""Helpers for launcher tests that start real processes."""

import os
import socket
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_ports(count):
    """Return ``count`` distinct free TCP ports on 127.0.0.1."""
    sockets, ports = [], []
    for _ in range(count):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        sockets.append(probe)
        ports.append(probe.getsockname()[1])
    for probe in sockets:
        probe.close()
    return ports


def processes_mentioning(text):
    """Return ``{pid: cmdline}`` of live processes whose command line contains ``text``."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
            with open(f"/proc/{entry}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != b"Z":
            found[int(entry)] = cmdline
    return found


def wait_gone(text, timeout=10.0):
    """Wait until no process mentions ``text``; return what is left."""
    deadline = time.monotonic() + timeout
    left = processes_mentioning(text)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = processes_mentioning(text)
    return left


def launcher_command(*args):
    """Return the argv running the launcher with ``args``."""
    return [sys.executable, "-m", "gateway.cli", *args]


@pytest.fixture
def run_launcher(tmp_path):
    """Run the launcher to completion with args; return (returncode, stdout, stderr)."""

    def run(*args, timeout=90):
        result = subprocess.run(
            launcher_command(*args), cwd=tmp_path, capture_output=True, text=True,
            timeout=timeout, check=False,
        )
        return result.returncode, result.stdout, result.stderr

    return run
