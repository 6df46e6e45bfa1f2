"""``unified-api-server [run]``: start the suite under supervisord and wait until it is healthy.

The launcher renders a supervisord configuration (and an nginx one with ``--nginx PORT``) into
``DATA_DIR/run/`` and runs supervisord in the foreground as its child. It reports the suite
ready only when every service answers its health check; when one does not, it names it, shows
the tail of its log, stops everything and exits non-zero. Ctrl-C or SIGTERM stops every process
it started.
"""

import logging
import os
import shutil
import signal
import sys
import time

import click

from unified_api_server.core.logs import configure_logging
from unified_api_server.core.web.guard import is_loopback
from unified_api_server.launcher.config import (
    LAUNCHER,
    balanced_components,
    client_host,
    plan_from,
    programs,
    redacted_summary,
    service_url,
    with_shorthands,
)
from unified_api_server.launcher.follow import LogFollower, attach_outputs, suite_sources
from unified_api_server.launcher.health import wait_healthy
from unified_api_server.launcher.processes import LaunchError, Suite, port_problem, tail
from unified_api_server.registry import COMPONENTS

log = logging.getLogger(__name__)

LOG_FILE = "unified_api_server.log"


def _print_ready(plan, suite, key):
    lines = ["", "Unified API Server is ready:"]
    for program, service, port in programs(plan):
        lines.append(f"  {program:<16} http://{client_host(plan[service]['host'])}:{port}")
    entry = "nginx" if plan["nginx"]["enabled"] else "gateway"
    example_key = key or "YOUR_KEY"
    lines.append(
        f'Try: curl -H "X-API-Key: {example_key}" {service_url(plan[entry])}/api/db/overview'
    )
    lines.append(
        f"Logs: {suite.run_dir}/<service>.log; control: supervisorctl -c {suite.conf_path} status"
    )
    lines.append("Press Ctrl-C to stop.")
    # One write, whole lines: the services' lines go to the same console from another thread.
    print("\n".join(lines) + "\n", end="", flush=True)


def _first_key(plan):
    """Create the first admin key when the key store is empty; return it (or None)."""
    from unified_api_server.gateway.keys import ensure_admin_key

    store = plan.get("keys_url") or plan["keys_db"]
    key = ensure_admin_key(store)
    if key:
        where = "PostgreSQL (keys_url)" if plan.get("keys_url") else plan["keys_db"]
        # The URL may hold a password: name the variable, never print it.
        where_flag = "--keys-url URL" if plan.get("keys_url") else f"--data-dir {plan['data_dir']}"
        log.info("created the first API key 'admin' (scope admin) in %s", where)
        print(
            "\nCreated the first API key (name 'admin', scope admin). It is shown only this once;"
            f" keep it:\n\n    {key}\n\nMore keys: unified-api-server keys create --name NAME "
            f"--scopes read {where_flag}\n",
            flush=True,
        )
    return key


def _warn_exposed(plan):
    """Say loudly when a component listens beyond this machine (the original config did)."""
    for component in COMPONENTS:
        service = plan[component.service]
        if service["enabled"] and not is_loopback(service["host"]):
            message = (
                f"WARNING: {component.service} listens on {service['host']}: it is reachable "
                "from the network. It refuses every request without the internal credential, "
                "which only the gateway and nginx hold, but keep it on 127.0.0.1 unless a "
                "gateway on another host needs it."
            )
            log.warning("%s", message)
            print(message, file=sys.stderr, flush=True)


def _preflight(plan):
    """Fail early, naming the service, when a port is taken or nginx is missing."""
    balancers = [(f"nginx for {c.service}", c.service, plan[c.service]["port"])
                 for c in balanced_components(plan)]  # fmt: skip
    for program, name, port in programs(plan) + balancers:
        host = plan[name]["host"]
        problem = port_problem(host, port)
        if problem:
            raise LaunchError(f"{program}: port {port} on {host} {problem}")
    if plan["nginx"]["enabled"] and shutil.which("nginx") is None:
        raise LaunchError("--nginx needs nginx; install it (scripts/install-system-deps)")


def launch(plan):
    """Start the suite of ``plan``, wait until healthy, run until a signal; return the status."""
    os.makedirs(plan["data_dir"], mode=0o700, exist_ok=True)
    os.chmod(plan["data_dir"], 0o700)  # a folder made before this version may be world-readable
    log_file = os.path.join(plan["data_dir"], LOG_FILE)
    file_handler = configure_logging(plan["log_level"], log_file, plan["log_format"])
    log.info("configuration: %s", redacted_summary(plan))
    stop = {"signal": None}

    def request_stop(signum, _frame):
        stop["signal"] = signum

    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, request_stop) for sig in signals}
    suite = Suite(plan)
    follower = None
    status = 0
    try:
        _warn_exposed(plan)
        _preflight(plan)
        suite.prepare()
        # Every service's lines on the console and in the launcher's log, as they come.
        attach_outputs(file_handler)
        follower = LogFollower(suite_sources(suite))
        follower.start()
        key = _first_key(plan) if plan["gateway"]["enabled"] else None
        suite.start()
        wait_healthy(suite, plan["start_timeout"], lambda: stop["signal"] is not None)
        _print_ready(plan, suite, key)
        _run_until_stopped(suite, stop)
    except LaunchError as exc:
        if stop["signal"] is None:
            log.error("%s", exc)
            status = 1
    except Exception:  # anything unexpected must still stop the children
        log.exception("launcher failed")
        status = 1
    finally:
        suite.stop()
        if follower is not None:
            follower.stop()  # after the stop: the services' last lines are passed on too
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status


def _run_until_stopped(suite, stop):
    while stop["signal"] is None:
        if not suite.alive():
            output = tail(os.path.join(suite.run_dir, "supervisord.out"))
            raise LaunchError(f"supervisord exited unexpectedly:\n{output}")
        time.sleep(0.2)
    log.info("received %s; stopping", signal.Signals(stop["signal"]).name)


@click.command("run")
@LAUNCHER.options
@click.option("--host", "host", help="address of the gateway and nginx (both --*-host flags)")
@click.option("--nginx", "nginx", type=int, metavar="PORT", help="also run nginx in front on PORT")
def run_command(config_file, host, nginx, **flags):
    """Start the whole suite under supervisord and wait until every service is healthy."""
    flags = with_shorthands(flags, host, nginx)
    # Until the data folder is known:
    configure_logging(flags.get("log_level") or "INFO", fmt=flags.get("log_format") or "text")
    plan = LAUNCHER.load_or_exit(config_file, flags, check=plan_from)
    raise click.exceptions.Exit(launch(plan))
