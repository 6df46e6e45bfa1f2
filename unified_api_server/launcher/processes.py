"""The launcher's processes: the rendered run files, the supervisord child and its programs.

:class:`Suite` renders ``DATA_DIR/run/`` (supervisord and, with nginx, its configuration), starts
supervisord in the foreground as a child in its own session, asks it over XML-RPC what its
programs are doing, and stops them all, killing any process group that is left behind.
"""

import ctypes
import errno
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import xmlrpc.client

from unified_api_server.launcher.render import (
    render_nginx,
    render_supervisord,
    service_commands,
)

log = logging.getLogger(__name__)

_SOCKET_PATH_MAX = 100  # AF_UNIX paths are limited to 107 bytes on Linux


class LaunchError(RuntimeError):
    """The suite could not be started; the message says which service and why."""


def _set_parent_death_signal():
    """Make the child get SIGTERM if the launcher dies without cleaning up (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def port_problem(host, port):
    """Return why ``host:port`` cannot be listened on, or None."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "is already in use"
            return exc.strerror or str(exc)
    return None


def tail(path, lines=20):
    """Return the last ``lines`` lines of the file at ``path`` ("" when it does not exist)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class Suite:
    """The processes of one launch: rendered files, the supervisord child and its programs."""

    def __init__(self, plan):
        self.plan = plan
        self.run_dir = plan["run_dir"]
        self.conf_path = os.path.join(self.run_dir, "supervisord.conf")
        self.nginx_dir = os.path.join(self.run_dir, "nginx")
        self.socket_dir = None
        self.socket_path = os.path.join(self.run_dir, "supervisor.sock")
        self.process = None
        self.commands = {}

    # ---- files ---------------------------------------------------------------------------------
    def prepare(self):
        """Create the folders and render every configuration file (all private to this user)."""
        os.makedirs(self.run_dir, mode=0o700, exist_ok=True)
        if len(self.socket_path) > _SOCKET_PATH_MAX:
            self.socket_dir = tempfile.mkdtemp(prefix="uas-")
            self.socket_path = os.path.join(self.socket_dir, "supervisor.sock")
        # A fresh internal credential each run: the gateway and nginx add it to what they
        # forward, and the components refuse anything without it.
        token = secrets.token_urlsafe(32)
        nginx_paths = self._prepare_nginx(token) if self.plan["nginx"]["enabled"] else None
        self.commands = service_commands(self.plan, sys.executable, nginx_paths)
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        python_path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        text = render_supervisord(
            self.commands,
            run_dir=self.run_dir,
            log_dir=self.run_dir,
            directory=os.getcwd(),
            conf_path=self.conf_path,
            note="Rendered by unified-api-server for this run; edit the launcher's config instead.",
            env=self._environment(python_path, token),
            socket_path=self.socket_path,
        )
        with open(self.conf_path, "w", encoding="utf-8") as handle:
            handle.write(text)

    def _environment(self, python_path, token):
        """Return the programs' environment: secrets go here, never on a command line (ps)."""
        env = {"PYTHONPATH": python_path, "UAS_INTERNAL_TOKEN": token}
        if self.plan.get("keys_url"):
            env["GATEWAY_KEYS_URL"] = self.plan["keys_url"]
        return {name: value.replace("%", "%%") for name, value in env.items()}

    def _prepare_nginx(self, token):
        """Write nginx's configuration and its copy of the credential; return its paths."""
        os.makedirs(self.nginx_dir, mode=0o700, exist_ok=True)
        token_file = os.path.join(self.nginx_dir, "internal_token.conf")
        with open(token_file, "w", encoding="utf-8") as handle:
            handle.write(f'default "{token}";\n')
        nginx_conf = os.path.join(self.nginx_dir, "nginx.conf")
        text = render_nginx(
            self.plan, note="Rendered by unified-api-server for this run.", token_include=token_file
        )
        with open(nginx_conf, "w", encoding="utf-8") as handle:
            handle.write(text)
        self._check_nginx(nginx_conf)
        return self.nginx_dir, nginx_conf

    def _check_nginx(self, conf):
        """Run ``nginx -t`` on the rendered file, so a bad config fails before anything starts."""
        command = [
            "nginx", "-t", "-q", "-p", self.nginx_dir + "/", "-c", conf,
            "-e", os.path.join(self.nginx_dir, "error.log"),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise LaunchError(f"nginx rejected {conf}:\n{result.stderr.strip()}")

    # ---- supervisord ---------------------------------------------------------------------------
    def start(self):
        """Start supervisord in the foreground as a child in its own session."""
        with open(os.path.join(self.run_dir, "supervisord.out"), "ab") as supervisord_log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "supervisor.supervisord", "-n", "-c", self.conf_path],
                stdin=subprocess.DEVNULL,
                stdout=supervisord_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the launcher only; it stops in order
                preexec_fn=_set_parent_death_signal,
            )
        log.info("supervisord started (pid %s) with %s", self.process.pid, self.conf_path)

    def rpc(self):
        """Return an XML-RPC proxy to supervisord over its unix socket."""
        from supervisor.xmlrpc import SupervisorTransport

        transport = SupervisorTransport(None, None, f"unix://{self.socket_path}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def program_states(self):
        """Return ``{program: info}`` from supervisord, or {} while it is not answering."""
        try:
            return {info["name"]: info for info in self.rpc().supervisor.getAllProcessInfo()}
        except (OSError, xmlrpc.client.Error):
            return {}

    def alive(self):
        """Tell whether supervisord is still running."""
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout=30.0):
        """Stop supervisord and every program; kill what is left after ``timeout`` seconds."""
        if self.process is None:
            return
        pids = [info.get("pid") for info in self.program_states().values() if info.get("pid")]
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("supervisord did not stop in %.0f s; killing what is left", timeout)
                self.process.kill()
                self.process.wait()
        for pid in pids:  # each program is its own process group under supervisord
            try:
                os.killpg(pid, signal.SIGKILL)
                log.warning("killed leftover process group %s", pid)
            except (ProcessLookupError, PermissionError):
                pass
        if self.socket_dir:
            shutil.rmtree(self.socket_dir, ignore_errors=True)
        log.info("all services stopped")

    def log_path(self, name):
        """Return the log file of a program."""
        return os.path.join(self.run_dir, f"{name}.log")
