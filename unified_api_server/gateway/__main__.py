"""``python -m gateway``: serve the gateway with gunicorn's gevent workers."""

import argparse
import json
import logging
import sys

from unified_api_server.core.config import ConfigError, redacted
from unified_api_server.core.logs import configure_logging
from unified_api_server.core.server import serve
from unified_api_server.gateway.settings import SETTINGS, resolve

log = logging.getLogger("gateway")


def parse_args(argv=None):
    """Parse the command line; absent flags stay None so a config file's values survive."""
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__.strip("`"))
    parser.add_argument("--config", help="JSON file of settings (see gateway/settings.py)")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--test-url")
    parser.add_argument("--generator-url")
    parser.add_argument("--benchmark-url")
    parser.add_argument("--keys-db", help="API key store file (default data/keys.sqlite3)")
    parser.add_argument("--workers", type=int)
    parser.add_argument("--connect-timeout", type=float)
    parser.add_argument("--read-timeout", type=float)
    parser.add_argument("--view-budget", type=float, help="per-component budget of the views (s)")
    parser.add_argument("--log-level")
    return parser.parse_args(argv)


def main(argv=None):
    """Resolve the settings, log them once, and serve until stopped."""
    args = parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k != "config"}
    try:
        settings = resolve(config_file=args.config, overrides=overrides)
    except ConfigError as exc:
        print(f"gateway: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings["log_level"])
    log.info("gateway settings: %s", json.dumps(redacted(SETTINGS, settings), sort_keys=True))

    def factory():
        from unified_api_server.gateway.app import create_app

        return create_app(settings)

    serve(
        factory,
        host=settings["host"],
        port=settings["port"],
        worker_class="gevent",
        workers=settings["workers"],
        timeout=settings["worker_timeout"],
        log_level=settings["log_level"],
        name="unified-api-gateway",
        worker_connections=settings["worker_connections"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
