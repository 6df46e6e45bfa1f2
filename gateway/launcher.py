"""``unified-api-server [run]``: start the suite under supervisord and wait until it is healthy.

The launcher renders a supervisord configuration (and an nginx one with ``--nginx PORT``) into
``DATA_DIR/run/`` and runs supervisord in the foreground as its child. It reports the suite
ready only when every service answers its health check; when one does not, it names it, shows
the tail of its log, stops everything and exits non-zero. Ctrl-C or SIGTERM stops every process it started.
"""

import argparse
import ctypes
import errno
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xmlrpc.client

import requests

from gateway.launcher_config import COMPONENTS, SERVICES, URL_NAMES, load, redacted_summary
from gateway.launcher_config import service_url
from gateway.launcher_render import render_nginx, render_supervisord, service_commands
from services.core.config import ConfigError
from services.core.logs import configure_logging

log = logging.getLogger(__name__)

LOG_FILE = "unified_api_server.log"
_SOCKET_PATH_MAX = 100  # AF_UNIX paths are limited to 107 bytes on Linux


class LaunchError(RuntimeError):
    """The suite could not be started; the message says which service and why."""


def build_parser():
    """Return the launcher's argument parser (flags default to None: "not given")."""
    parser = argparse.ArgumentParser(
        prog="unified-api-server",
        description="Start the Unified API Server suite: three components, the gateway and "
        "optionally nginx, under supervisord.",
        epilog="Other commands: 'unified-api-server keys --help' (API keys), "
        "'unified-api-server demo-data --help' (load a demo data set).",
    )
    parser.add_argument("--config", metavar="FILE", help="JSON configuration file (see README)")
    parser.add_argument("--gateway-port", type=int, help="gateway port (default 8080)")
    parser.add_argument("--test-api-port", type=int, help="Test component port (default 8000)")
    parser.add_argument("--generator-api-port", type=int, help="Generator port (default 8001)")
    parser.add_argument("--benchmark-api-port", type=int, help="Benchmark port (default 8002)")
    parser.add_argument("--host", help="address of the gateway (and nginx) (default 127.0.0.1)")
    parser.add_argument("--data-dir", help="databases, keys, logs and run files (default ./data)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    parser.add_argument("--nginx", type=int, metavar="PORT", help="also run nginx in front on PORT")
    parser.add_argument("--workers", type=int, help="gateway worker processes (default 2)")
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for every health check (default %(default)s)",
    )
    return parser


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
        """Create the folders and render every configuration file."""
        os.makedirs(self.run_dir, exist_ok=True)
        if len(self.socket_path) > _SOCKET_PATH_MAX:
            self.socket_dir = tempfile.mkdtemp(prefix="uas-")
            self.socket_path = os.path.join(self.socket_dir, "supervisor.sock")
        nginx_paths = None
        if self.plan["nginx"]["enabled"]:
            os.makedirs(self.nginx_dir, exist_ok=True)
            nginx_conf = os.path.join(self.nginx_dir, "nginx.conf")
            with open(nginx_conf, "w", encoding="utf-8") as handle:
                handle.write(
                    render_nginx(self.plan, note="Rendered by unified-api-server for this run.")
                )
            nginx_paths = (self.nginx_dir, nginx_conf)
            self._check_nginx(nginx_conf)
        self.commands = service_commands(self.plan, sys.executable, nginx_paths)
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        python_path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        text = render_supervisord(
            self.commands,
            run_dir=self.run_dir,
            log_dir=self.run_dir,
            directory=os.getcwd(),
            conf_path=self.conf_path,
            note="Rendered by unified-api-server for this run; edit the launcher's config instead.",
            env={"PYTHONPATH": python_path.replace("%", "%%")},
        )
        if self.socket_dir:
            text = text.replace(os.path.join(self.run_dir, "supervisor.sock"), self.socket_path)
        with open(self.conf_path, "w", encoding="utf-8") as handle:
            handle.write(text)

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
        supervisord_log = open(os.path.join(self.run_dir, "supervisord.out"), "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "supervisor.supervisord", "-n", "-c", self.conf_path],
            stdin=subprocess.DEVNULL,
            stdout=supervisord_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the launcher only; it stops things in order
            preexec_fn=_set_parent_death_signal,
        )
        supervisord_log.close()
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

    # ---- health --------------------------------------------------------------------------------
    def health_urls(self):
        """Return ``{program: health URL}`` for every enabled service."""
        return {
            name: service_url(self.plan[name]) + "/health"
            for name in SERVICES
            if self.plan[name]["enabled"]
        }

    def _healthy(self, name, url, session):
        """Return (healthy, detail) for one service."""
        try:
            response = session.get(url, timeout=2)
        except requests.RequestException as exc:
            return False, f"no answer from {url} ({type(exc).__name__})"
        if response.status_code == 200:
            return True, "ok"
        if name in ("gateway", "nginx") and response.status_code == 503:
            # The gateway is up; it reports components down. Disabled components are down forever.
            down = _down_components(response)
            disabled = {URL_NAMES[c] for c in COMPONENTS if not self.plan[c]["enabled"]}
            if down is not None and down and down <= disabled:
                return True, "ok (disabled components down)"
        return False, f"{url} answered {response.status_code}"

    def wait_healthy(self, timeout, stop_requested):
        """Wait until every service is healthy; raise LaunchError naming the first that is not."""
        deadline = time.monotonic() + timeout
        urls = self.health_urls()
        pending = dict(urls)
        details = {}
        session = requests.Session()
        session.trust_env = False  # a proxy from the environment must not answer for localhost
        while pending:
            if stop_requested():
                raise LaunchError("interrupted while starting")
            if not self.alive():
                raise LaunchError(
                    "supervisord exited while starting:\n"
                    + tail(os.path.join(self.run_dir, "supervisord.out"))
                )
            states = self.program_states()
            for name in list(pending):
                info = states.get(name)
                if info and info["statename"] in ("FATAL", "EXITED", "STOPPED"):
                    raise LaunchError(self._failure(name, f"{info['statename']}: "
                                                          f"{info.get('description') or ''}"))
                healthy, details[name] = self._healthy(name, pending[name], session)
                if healthy:
                    log.info("%s is healthy (%s)", name, pending.pop(name))
            if not pending:
                break
            if time.monotonic() > deadline:
                name = next(iter(pending))
                raise LaunchError(self._failure(name, f"not healthy after {timeout:.0f} s: "
                                                      f"{details.get(name)}"))
            time.sleep(0.25)
        session.close()

    def _failure(self, name, reason):
        path = self.log_path(name)
        text = tail(path)
        message = f"{name} failed to start ({reason})"
        if text:
            message += f"\n--- last lines of {path} ---\n{text}\n---"
        return message

    def log_path(self, name):
        """Return the log file of a program."""
        return os.path.join(self.run_dir, f"{name}.log")


def _down_components(response):
    """Return the set of component names a gateway /health body reports as down, or None."""
    try:
        body = response.json()
    except ValueError:
        return None
    components = body.get("components") if isinstance(body, dict) else None
    if not isinstance(components, dict):
        return None
    down = set()
    for name, state in components.items():
        status = state.get("status") if isinstance(state, dict) else state
        ok = state.get("ok") if isinstance(state, dict) else None
        if ok is False or (ok is None and status not in ("ok", "up", 200, "healthy")):
            down.add(name)
    return down


def _print_ready(plan, suite, key):
    lines = ["", "Unified API Server is ready:"]
    for name in SERVICES:
        if plan[name]["enabled"]:
            lines.append(f"  {name:<14} {service_url(plan[name])}")
    entry = "nginx" if plan["nginx"]["enabled"] else "gateway"
    example_key = key or "YOUR_KEY"
    lines.append(
        f'Try: curl -H "X-API-Key: {example_key}" {service_url(plan[entry])}/api/db/overview'
    )
    lines.append(f"Logs: {suite.run_dir}/<service>.log; "
                 f"control: supervisorctl -c {suite.conf_path} status")
    lines.append("Press Ctrl-C to stop.")
    print("\n".join(lines), flush=True)


def _first_key(plan):
    """Create the first admin key when the key store is empty; return it (or None)."""
    from gateway.keys import ensure_admin_key

    key = ensure_admin_key(plan["keys_db"])
    if key:
        log.info("created the first API key 'admin' (scope admin) in %s", plan["keys_db"])
        print(
            "\nCreated the first API key (name 'admin', scope admin). It is shown only this once;"
            f" keep it:\n\n    {key}\n\nMore keys: unified-api-server keys create --name NAME "
            f"--scopes read --keys-db {plan['keys_db']}\n",
            flush=True,
        )
    return key


def _preflight(plan):
    """Fail early, naming the service, when a port is taken or nginx is missing."""
    for name in SERVICES:
        service = plan[name]
        if not service["enabled"]:
            continue
        problem = port_problem(service["host"], service["port"])
        if problem:
            raise LaunchError(f"{name}: port {service['port']} on {service['host']} {problem}")
    if plan["nginx"]["enabled"] and shutil.which("nginx") is None:
        raise LaunchError("--nginx needs nginx; install it (scripts/install-system-deps)")


def main(argv=None):
    """Run the launcher with ``argv``; return the exit status."""
    args = build_parser().parse_args(argv)
    options = vars(args)
    configure_logging(options.get("log_level") or "INFO")  # until the data dir is known
    try:
        plan = load(options)
    except ConfigError as exc:
        print(f"unified-api-server: configuration error: {exc}", file=sys.stderr)
        return 2
    os.makedirs(plan["data_dir"], exist_ok=True)
    configure_logging(plan["log_level"], os.path.join(plan["data_dir"], LOG_FILE))
    log.info("configuration: %s", redacted_summary(plan))

    stop = {"signal": None}

    def request_stop(signum, _frame):
        stop["signal"] = signum

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM,
                                                                  signal.SIGHUP)}
    suite = Suite(plan)
    status = 0
    try:
        _preflight(plan)
        suite.prepare()
        key = _first_key(plan) if plan["gateway"]["enabled"] else None
        suite.start()
        suite.wait_healthy(options["start_timeout"], lambda: stop["signal"] is not None)
        _print_ready(plan, suite, key)
        while stop["signal"] is None:
            if not suite.alive():
                raise LaunchError("supervisord exited unexpectedly:\n"
                                  + tail(os.path.join(suite.run_dir, "supervisord.out")))
            time.sleep(0.2)
        log.info("received %s; stopping", signal.Signals(stop["signal"]).name)
    except LaunchError as exc:
        if stop["signal"] is None:
            log.error("%s", exc)
            status = 1
    except Exception:  # anything unexpected must still stop the children
        log.exception("launcher failed")
        status = 1
    finally:
        suite.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stop["signal"] is not None and status == 0:
        return 0
    return status
