"""Run a Flask app factory under gunicorn, configured in code (each worker builds its app)."""

import atexit
import ctypes
import json
import logging
import os
import shutil
import signal
import sys
import tempfile

from gunicorn import glogging
from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication
from prometheus_client import multiprocess

from unified_api_server.core.errors import error_body
from unified_api_server.core.logs import root_formatter


def write_json_error(sock, status_int, reason, mesg):
    """Answer a request gunicorn could not parse in the API's JSON shape, not its HTML page.

    gunicorn calls this (``gunicorn.util.write_error``) for a bad request line, a URI or
    headers too long, an unsupported transfer coding, and the like, before any app sees them.
    """
    body = json.dumps(error_body(status_int, mesg or reason)).encode("utf-8")
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


PR_SET_PDEATHSIG = 1

# Every gunicorn of this project (components and gateway) answers those errors in JSON too.
gunicorn_util.write_error = write_json_error


def die_with_master(server, worker):
    """gunicorn ``post_fork``: make the worker die at once if its master is killed.

    A worker orphaned by a ``kill -9`` of its master would otherwise live on for seconds,
    holding its port and (for a component) the DuckDB file lock, so the master supervisord
    starts next could not serve. Linux only; elsewhere the worker notices on its own.
    """
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != server.pid:  # the master died before the line above ran
        os._exit(1)


def end_worker(server, worker):
    """gunicorn ``worker_exit``: end a worker that served, after its exit handlers, at once.

    DuckDB 1.5 (the lake extra's) aborts a forked process at exit ("terminate called without
    an active exception", SIGABRT) when the master imported it before the fork; its C++
    teardown, not the worker's, fails. So a worker that booted runs its own exit handlers
    (jobs marked failed, the database closed), flushes its logs and ends with status 0 there.
    A worker that never booted takes gunicorn's path: its status tells the master why.
    """
    if not getattr(worker, "booted", False) or "duckdb" not in sys.modules:
        return
    if int(sys.modules["duckdb"].__version__.split(".")[0]) >= 2:
        return
    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


class SharedFormatLogger(glogging.Logger):
    """gunicorn's own lines (boot, workers, errors) in the format every other line has."""

    def setup(self, cfg):
        """Set gunicorn's handlers up, then give them the process's formatter (text or JSON)."""
        super().setup(cfg)
        formatter = root_formatter()
        for handler in self.error_log.handlers + self.access_log.handlers:
            handler.setFormatter(formatter)


METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def metrics_folder(parent, name, port):
    """Make the empty folder of this service's metrics files and name it for the workers.

    ``parent`` empty: a new temporary folder; else ``parent/<name>-<port>``, emptied (the
    files of a previous run would be added to this one's). Set before the workers are forked,
    the variable reaches each of them (each one's values go to files of its own pid).
    """
    if parent:
        folder = os.path.join(os.path.abspath(parent), f"{name}-{port}")
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
    else:
        folder = tempfile.mkdtemp(prefix=f"{name}-metrics-")
    os.environ[METRICS_ENV] = folder
    return folder


def forget_worker(server, worker):
    """gunicorn ``child_exit``: drop a dead worker's live gauges (its open sockets, its jobs).

    Its counters and histograms stay: what it counted still happened.
    """
    if os.environ.get(METRICS_ENV):
        multiprocess.mark_process_dead(worker.pid)


class _FactoryApplication(BaseApplication):
    """A gunicorn application whose WSGI app is built by ``factory`` inside the worker."""

    def __init__(self, factory, options):
        self._factory = factory
        self._options = options
        super().__init__()

    def load_config(self):
        """Apply our options to gunicorn's configuration."""
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        """Build the app in the worker, so each worker opens its own resources."""
        return self._factory()


def serve(
    factory,
    *,
    host,
    port,
    worker_class="gthread",
    workers=1,
    threads=8,
    timeout=120,
    graceful_timeout=10,
    max_body_bytes=None,
    log_level="info",
    name=None,
    metrics_dir=None,
    **extra,
):
    """Serve the app built by ``factory`` with gunicorn until the master is stopped.

    ``metrics_dir`` (None: no metrics folder) is the parent of the service's metrics folder
    ("": a temporary one, removed when the master exits).
    """
    options = {
        "bind": f"{host}:{port}",
        "worker_class": worker_class,
        "workers": workers,
        "threads": threads,
        # DuckDB allows one process per file: build the app after fork, never in the master.
        "preload_app": False,
        "post_fork": die_with_master,
        "worker_exit": end_worker,
        # Every gunicorn shares one control socket in $HOME by default; a second one replaces it.
        "control_socket_disable": True,
        "timeout": timeout,
        # An idle kept-alive connection is closed after 5 s, not gunicorn's 2: a client that
        # reuses one just as the server closes it gets a reset (a POST is not retried), and a
        # 2 s pause was common on a busy host. nginx's upstreams close theirs after 1 s.
        "keepalive": 5,
        "graceful_timeout": graceful_timeout,
        "loglevel": log_level.lower(),
        "accesslog": None,
        "errorlog": "-",
        "logger_class": SharedFormatLogger,
        "proc_name": name,
    }
    if metrics_dir is not None:
        folder = metrics_folder(metrics_dir, name or "service", port)
        options["child_exit"] = forget_worker
        if not metrics_dir:
            options["on_exit"] = lambda _server: shutil.rmtree(folder, ignore_errors=True)
    options.update(extra)
    _FactoryApplication(factory, options).run()
