"""Stream every service's log to the console and the launcher's log, its name before each line.

supervisord writes each program's output to ``run/<program>.log`` (rotated there); nginx writes
``run/nginx/access.log`` and ``error.log``. :class:`LogFollower` reads the lines those files gain
while the launcher runs and writes each as ``gateway       | <line>``, as ``docker compose up``
does: on the console (stdout) and into ``unified_api_server.log``. Reading the files, rather
than supervisord's pipes, keeps every service's own file whole and lets the launcher follow
without holding up a service: a slow console never blocks a request.
"""

import logging
import os
import re
import sys
import threading

# A key in a followed line's query string (nginx's error log quotes whole request lines).
_API_KEY = re.compile(r"([?&]api_key=)[^&\s\"]*", re.IGNORECASE)

log = logging.getLogger(__name__)
# The services' lines: written verbatim (they carry their own format), never to stderr again.
lines_log = logging.getLogger("unified_api_server.services")

_READ_MAX = 1024 * 1024  # per file and poll: a burst is spread over polls, memory stays flat


class _Source:
    """One followed file: where reading stopped, and a line begun but not yet ended."""

    def __init__(self, name, path):
        self.name = name
        self.path = path
        self.handle = None
        self.inode = None
        self.pending = b""
        self.skip_to = None  # the size the file had when following began (older lines are old)

    def mark_start(self):
        """Remember the file's current end: only what it gains from now on is streamed."""
        try:
            self.skip_to = os.stat(self.path).st_size
        except OSError:
            self.skip_to = 0

    def read_lines(self):
        """Return the complete lines the file gained since the last call (rotation followed)."""
        if self.handle is None and not self._open():
            return []
        data = self.handle.read(_READ_MAX)
        if not data and self._replaced():
            data = self.handle.read(_READ_MAX)  # the new file, from its start
        lines = (self.pending + data).split(b"\n")
        self.pending = lines.pop()
        return [line.decode("utf-8", "replace").rstrip("\r") for line in lines]

    def _open(self):
        try:
            self.handle = open(self.path, "rb")  # noqa: SIM115 - held open across polls
        except OSError:
            return False
        self.inode = os.fstat(self.handle.fileno()).st_ino
        if self.skip_to:
            self.handle.seek(min(self.skip_to, os.fstat(self.handle.fileno()).st_size))
        self.skip_to = 0
        return True

    def _replaced(self):
        """Switch to a new file at the path (rotated away, or truncated); tell if it did."""
        try:
            stat = os.stat(self.path)
        except OSError:
            return False
        if stat.st_ino == self.inode and stat.st_size >= self.handle.tell():
            return False
        self.close()
        return self._open()

    def close(self):
        """Close the file."""
        if self.handle is not None:
            self.handle.close()
            self.handle = None


class LogFollower:
    """A thread writing the lines of ``sources`` (``[(name, path)]``) with the name before each."""

    def __init__(self, sources, interval=0.2):
        self.sources = [_Source(name, path) for name, path in sources]
        self.width = max((len(name) for name, _ in sources), default=0)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        """Start following from each file's current end."""
        for source in self.sources:
            source.mark_start()
        self._thread = threading.Thread(target=self._run, name="log-follower", daemon=True)
        self._thread.start()

    def stop(self):
        """Stop following, after passing on the last lines written."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        self.poll()
        for source in self.sources:
            source.close()

    def _run(self):
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:  # following must never stop the launcher
                log.exception("could not follow the services' logs")
            self._stop.wait(self.interval)

    def poll(self):
        """Pass on every line the files gained; return how many."""
        count = 0
        for source in self.sources:
            prefix = f"{source.name:<{self.width}} | "
            for line in source.read_lines():
                line = _API_KEY.sub(r"\1REDACTED", line)  # nginx's error lines quote URIs
                lines_log.info("%s%s", prefix, line, extra={"verbatim": True})
                count += 1
        return count


def attach_outputs(file_handler, stream=None):
    """Send the services' lines to ``stream`` (stdout) and the launcher's log file, verbatim."""
    for handler in list(lines_log.handlers):
        lines_log.removeHandler(handler)
    console = logging.StreamHandler(stream or sys.stdout)
    console.setFormatter(logging.Formatter("%(message)s"))
    lines_log.addHandler(console)
    if file_handler is not None:
        lines_log.addHandler(file_handler)  # its formatter passes verbatim records unchanged
    lines_log.setLevel(logging.INFO)
    lines_log.propagate = False


def suite_sources(suite):
    """Return ``[(name, path)]``: each program's log, and nginx's own two files."""
    sources = [(name, suite.log_path(name)) for name in suite.commands]
    if "nginx" in suite.commands:
        for kind in ("access", "error"):
            sources.append(("nginx", os.path.join(suite.nginx_dir, f"{kind}.log")))
    return sources
