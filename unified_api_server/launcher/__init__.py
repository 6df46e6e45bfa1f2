"""``unified-api-server [run]``: start the suite under supervisord and wait until it is healthy.

The launcher renders a supervisord configuration (and an nginx one with ``--nginx PORT``) into
``DATA_DIR/run/`` and runs supervisord in the foreground as its child. It reports the suite
ready only when every service answers its health check; when one does not, it names it, shows
the tail of its log, stops everything and exits non-zero. Ctrl-C or SIGTERM stops every process it started.
"""

import argparse
import logging
import os
import shutil
import signal
import sys
import time

from unified_api_server.core.config import ConfigError
from unified_api_server.core.logs import configure_logging
from unified_api_server.launcher.config import SERVICES, load, redacted_summary, service_url
from unified_api_server.launcher.health import wait_healthy
from unified_api_server.launcher.processes import LaunchError, Suite, port_problem, tail

log = logging.getLogger(__name__)

LOG_FILE = "unified_api_server.log"


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
    lines.append(
        f"Logs: {suite.run_dir}/<service>.log; control: supervisorctl -c {suite.conf_path} status"
    )
    lines.append("Press Ctrl-C to stop.")
    print("\n".join(lines), flush=True)


def _first_key(plan):
    """Create the first admin key when the key store is empty; return it (or None)."""
    from unified_api_server.gateway.keys import ensure_admin_key

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

    previous = {
        sig: signal.signal(sig, request_stop)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    suite = Suite(plan)
    status = 0
    try:
        _preflight(plan)
        suite.prepare()
        key = _first_key(plan) if plan["gateway"]["enabled"] else None
        suite.start()
        wait_healthy(suite, options["start_timeout"], lambda: stop["signal"] is not None)
        _print_ready(plan, suite, key)
        while stop["signal"] is None:
            if not suite.alive():
                raise LaunchError(
                    "supervisord exited unexpectedly:\n"
                    + tail(os.path.join(suite.run_dir, "supervisord.out"))
                )
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
