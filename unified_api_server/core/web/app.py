"""App factory and command line shared by every component service."""

import argparse
import atexit
import importlib
import importlib.util
import logging
import sys
from types import SimpleNamespace

from flask import Flask, jsonify

from unified_api_server.core.config import ConfigError, Setting, load_settings, redacted
from unified_api_server.core.data.changes import ChangeFeed
from unified_api_server.core.data.database import (
    Database,
    DatabaseLockedError,
    load_migrations,
    open_connection,
)
from unified_api_server.core.data.repository import Repository
from unified_api_server.core.errors import register_error_handlers
from unified_api_server.core.jobs import manager as jobs
from unified_api_server.core.logs import configure_logging
from unified_api_server.core.web import sockets
from unified_api_server.core.web.http import OrjsonProvider
from unified_api_server.core.web.views import close_cursor, create_blueprint

log = logging.getLogger(__name__)


def jobs_module(component):
    """Return the component's job module (``services.<name>_api.jobs``), or None."""
    name = f"{component.migrations_package}.jobs"
    try:
        found = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        return None
    return importlib.import_module(name) if found else None


def component_settings(component):
    """Return the settings every component service accepts (with its jobs' and sockets')."""
    module = jobs_module(component)
    extra = (jobs.SETTINGS + tuple(getattr(module, "SETTINGS", ()))) if module else ()
    return _base_settings(component) + sockets.SETTINGS + extra


def _base_settings(component):
    return (
        Setting(
            "host",
            str,
            "127.0.0.1",
            "address to listen on (loopback: only the gateway should reach a component)",
        ),
        Setting("port", int, component.default_port, "port to listen on", minimum=1, maximum=65535),
        Setting("db_path", str, f"data/{component.name}.duckdb", "DuckDB database file"),
        Setting(
            "log_level", str, "INFO", "log level", choices=("DEBUG", "INFO", "WARNING", "ERROR")
        ),
        # Each open WebSocket holds a thread under gthread: room for sockets and requests.
        Setting("threads", int, 32, "request threads of the single worker", minimum=1, maximum=256),
        Setting("timeout", int, 120, "seconds before a stuck worker is restarted", minimum=5),
        Setting("max_body_mb", int, 512, "largest request body accepted (MiB)", minimum=1),
        Setting("duckdb_threads", int, 2, "DuckDB threads", minimum=1, maximum=64),
        Setting("duckdb_memory_limit", str, "2GB", "DuckDB memory limit"),
    )


def create_app(component, config=None):
    """Build the Flask app of ``component``; ``config`` overrides settings (tests)."""
    settings = {s.name: s.default for s in component_settings(component)}
    settings.update(config or {})
    app = Flask(component.name)
    app.json = OrjsonProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = settings["max_body_mb"] * 1024 * 1024
    database = Database(
        settings["db_path"],
        load_migrations(component.migrations_package),
        threads=settings["duckdb_threads"],
        memory_limit=settings["duckdb_memory_limit"],
    )
    database.connection  # open now: a locked or broken file fails the worker at boot
    changes = ChangeFeed(component)
    repository = Repository(component, database, changes)
    app.extensions["component"] = SimpleNamespace(
        component=component,
        database=database,
        repository=repository,
        changes=changes,
        settings=settings,
        jobs=None,
    )
    register_error_handlers(app)
    app.teardown_appcontext(close_cursor)
    app.register_blueprint(create_blueprint(component))
    sockets.register_sockets(app, component)
    module = jobs_module(component)
    if module is not None:
        manager = jobs.JobManager(component, database, repository, settings)
        manager.recover()
        atexit.register(manager.shutdown)
        app.extensions["component"].jobs = manager
        app.register_blueprint(module.create_blueprint(component, manager, settings))

    @app.get("/health")
    def health():
        """Report that the service is up and its database answers."""
        cur = database.cursor()
        try:
            cur.execute("SELECT 1").fetchone()
        finally:
            cur.close()
        return jsonify(
            {
                "status": "ok",
                "service": component.name,
                "title": component.title,
                "database": database.path,
                "change_subscribers": changes.subscriber_count,
            }
        )

    return app


def parse_args(component, argv):
    """Parse the component command line; flags not given stay None (they override nothing)."""
    parser = argparse.ArgumentParser(
        prog=f"python -m services.{component.name}_api",
        description=f"Run the {component.title} under gunicorn.",
    )
    parser.add_argument("--config", help="JSON file of settings")
    for setting in component_settings(component):
        parser.add_argument(
            f"--{setting.name.replace('_', '-')}",
            dest=setting.name,
            default=None,
            help=f"{setting.help} (default {setting.default})",
        )
    return parser.parse_args(argv)


def main(component, argv=None):
    """Run ``component`` under gunicorn with one gthread worker (one process per DuckDB file)."""
    from unified_api_server.core.server import serve

    args = parse_args(component, argv)
    overrides = {k: v for k, v in vars(args).items() if k != "config"}
    try:
        settings = load_settings(
            component_settings(component),
            env_prefix=component.env_prefix,
            config_file=args.config,
            overrides=overrides,
        )
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings["log_level"])
    log.info("%s settings: %s", component.title, redacted(component_settings(component), settings))
    try:  # fail here, with a clear message, rather than in a worker that gunicorn restarts
        open_connection(settings["db_path"], threads=1).close()
    except DatabaseLockedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        print(f"error: cannot open database {settings['db_path']}: {exc}", file=sys.stderr)
        return 1
    serve(
        lambda: create_app(component, settings),
        host=settings["host"],
        port=settings["port"],
        worker_class="gthread",
        workers=1,
        threads=settings["threads"],
        timeout=settings["timeout"],
        log_level=settings["log_level"],
        name=f"uas-{component.name}-api",
    )
    return 0
