"""A job's child process: started in its own process group, read line by line, killed for real.

Parent side: :class:`ChildProcess` starts ``argv`` with a pipe whose write end the child finds in
``$UAS_JOB_FD``; each line the child writes there is one JSON message. ``messages()`` yields them
as they come and stops at the deadline or when asked to (cancel), after which :meth:`kill` ends
the whole process group (the child and anything it started) with SIGTERM, then SIGKILL.

Child side: :func:`report` writes one message; :func:`watch_parent` ends the child's process group
if the component process dies, so no work outlives the job that owned it.
"""

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time

FD_VARIABLE = "UAS_JOB_FD"
PARENT_VARIABLE = "UAS_JOB_PARENT"
KILL_GRACE = 3.0  # seconds between SIGTERM and SIGKILL
# The folder holding the project package: children run ``python -m unified_api_server...`` from it.
PROJECT_ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)


class ChildProcess:
    """One child process in its own session (process group id == pid)."""

    def __init__(self, argv, *, cwd=None, env=None, log_path=None):
        read_fd, write_fd = os.pipe()
        # held for the child's whole life and closed in close()
        self._log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        self.log_path = log_path
        environment = {
            **os.environ,
            **(env or {}),
            FD_VARIABLE: str(write_fd),
            PARENT_VARIABLE: str(os.getpid()),
            "PYTHONUNBUFFERED": "1",
        }
        # Every child imports the project, wherever it runs and however the project is installed.
        environment["PYTHONPATH"] = os.pathsep.join(
            filter(None, [PROJECT_ROOT, environment.get("PYTHONPATH")])
        )
        try:
            self.process = subprocess.Popen(
                argv,
                cwd=cwd,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        finally:
            os.close(write_fd)
        self.pid = self.process.pid
        self._read_fd = read_fd
        self._buffer = b""
        self.outcome = None

    def messages(self, *, deadline, stop, poll=0.2):
        """Yield each JSON message until the pipe closes, the deadline passes or ``stop()``.

        Afterwards ``self.outcome`` says which: ``"eof"``, ``"timeout"`` or ``"stopped"``.
        """
        while True:
            if stop():
                self.outcome = "stopped"
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.outcome = "timeout"
                return
            ready, _, _ = select.select([self._read_fd], [], [], min(poll, remaining))
            if not ready:
                continue
            chunk = os.read(self._read_fd, 65536)
            if not chunk:
                self.outcome = "eof"
                return
            self._buffer += chunk
            *lines, self._buffer = self._buffer.split(b"\n")
            for line in lines:
                if line.strip():
                    try:
                        yield json.loads(line)
                    except ValueError:
                        continue

    def wait(self, timeout=10.0):
        """Wait for the child to exit; return its exit code (killing it if it will not)."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.process.wait(5)

    def kill(self):
        """End the child's whole process group: SIGTERM, then SIGKILL after a grace period."""
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(KILL_GRACE)
        except subprocess.TimeoutExpired:
            pass
        self._signal(signal.SIGKILL)  # also whatever the child started and left behind
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def _signal(self, signum):
        try:
            os.killpg(self.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def output_tail(self, limit=4000):
        """Return the end of the child's combined output (for error messages)."""
        if not self.log_path:
            return ""
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - limit))
                return handle.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def close(self):
        """Release the pipe and the log file."""
        for closer in (lambda: os.close(self._read_fd), getattr(self._log, "close", None)):
            try:
                if closer:
                    closer()
            except OSError:
                pass


# -- child side -----------------------------------------------------------------------------------
_report_lock = threading.Lock()
_report_stream = None


def report(kind, **fields):
    """Send one message to the parent (a no-op when not started by a job)."""
    global _report_stream
    with _report_lock:
        if _report_stream is None:
            fd = os.environ.get(FD_VARIABLE)
            if not fd:
                return
            _report_stream = os.fdopen(int(fd), "w", buffering=1, encoding="utf-8")
        _report_stream.write(json.dumps({"type": kind, **fields}, default=str) + "\n")
        _report_stream.flush()


def watch_parent(interval=1.0):
    """End this process group when the component that started it is gone (a daemon thread)."""
    parent = os.environ.get(PARENT_VARIABLE)
    if not parent:
        return

    def watch():
        while True:
            time.sleep(interval)
            if os.getppid() != int(parent):
                os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, name="uas-parent-watch", daemon=True).start()


def fail(message, code=2):
    """Report a failure the parent shows as the job's error, and exit."""
    report("error", message=message)
    sys.exit(code)
