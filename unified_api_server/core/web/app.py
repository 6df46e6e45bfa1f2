"""The app factory every component service shares, its settings, and how it is served."""

import atexit
import logging
import os
import signal
from types import SimpleNamespace

import click
import duckdb
from flask import Blueprint, Flask, current_app, jsonify

from unified_api_server.core import cache, metrics, webhooks
from unified_api_server.core.data import alert_rules, storage
from unified_api_server.core.data.changes import ChangeFeed
from unified_api_server.core.data.database import Database, DatabaseLockedError, load_migrations
from unified_api_server.core.data.lake_catalog import LakeError
from unified_api_server.core.data.reads import Reads
from unified_api_server.core.data.writes import Writes
from unified_api_server.core.errors import error_response, register_error_handlers
from unified_api_server.core.jobs import manager as jobs
from unified_api_server.core.logs import configure_logging
from unified_api_server.core.server import serve
from unified_api_server.core.settings import (
    BODY_TIMEOUT,
    DATA_DIR,
    INTERNAL_TOKEN,
    LOG_FORMAT,
    LOG_LEVEL,
    MAX_BODY_MB,
    METRICS_DIR,
    ConfigError,
    Setting,
    SettingsGroup,
    data_path,
)
from unified_api_server.core.web import limits, migrations, openapi, requestlog, slots, sockets
from unified_api_server.core.web.guard import (
    finish_body,
    loopback_only,
    read_deadline,
    require_internal_token,
)
from unified_api_server.core.web.http import OrjsonProvider
from unified_api_server.core.web.jobs import job_blueprint
from unified_api_server.core.web.reports import register_reports
from unified_api_server.core.web.resources import close_cursor, register_resources

log = logging.getLogger(__name__)


def component_settings(component):
    """Return the settings of ``component``'s process (its jobs' and sockets' included)."""
    base = (
        DATA_DIR,
        Setting(
            "host",
            str,
            "127.0.0.1",
            "address to listen on (loopback: only the gateway should reach a component)",
        ),
        Setting("port", int, component.default_port, "port to listen on", minimum=1, maximum=65535),
        Setting("db_path", str, data_path(f"{component.name}.duckdb"), "DuckDB database file"),
        *storage.settings(component),
        INTERNAL_TOKEN,
        LOG_LEVEL,
        LOG_FORMAT,
        METRICS_DIR,
        # Each open WebSocket holds a thread under gthread: room for sockets and requests.
        Setting("threads", int, 32, "request threads of the single worker", minimum=1, maximum=256),
        Setting("timeout", int, 120, "seconds before a stuck worker is restarted", minimum=5),
        MAX_BODY_MB,
        BODY_TIMEOUT,
        cache.CACHE_TTL,
        cache.CACHE_MAX_MB,
        Setting("duckdb_threads", int, 2, "DuckDB threads", minimum=1, maximum=64),
        Setting("duckdb_memory_limit", str, "2GB", "DuckDB memory limit"),
        Setting(
            "lock_wait",
            float,
            10.0,
            "seconds to wait for a database file another (dying) process still holds",
            minimum=0,
        ),
        Setting(
            "auto_migrate",
            bool,
            True,
            "apply pending schema migrations when the service starts; off: apply them with "
            "POST /api/<component>/db/migrations/apply or `unified-api-server migrate`",
        ),
        *limits.SETTINGS,
    )
    job_settings = (jobs.SETTINGS + tuple(component.jobs.settings)) if component.jobs else ()
    alert_settings = alert_rules.SETTINGS + webhooks.SETTINGS
    return SettingsGroup(
        base + sockets.SETTINGS + slots.SETTINGS + job_settings + alert_settings,
        env_prefix=component.env_prefix,
    )


def _out_of_memory(_exc):
    """DuckDB ran out of its memory limit for this request: 503, try again later."""
    return error_response(
        503,
        "the database is out of memory for this request now; try again later",
        headers={"Retry-After": "10"},
    )


def _database_lost(exc):
    """DuckDB invalidated the database (a fatal error): answer 503 and restart this worker.

    Every later request would fail the same way until the file is opened again, so the worker
    stops gracefully and gunicorn starts a fresh one, which reopens the file and replays its
    write-ahead log: nothing acknowledged is lost.
    """
    log.critical("the database must be reopened; restarting this worker: %s", exc)
    os.kill(os.getpid(), signal.SIGTERM)
    return error_response(
        503, "the database failed and is being reopened; try again", headers={"Retry-After": "5"}
    )


def open_database(component, settings):
    """Return the component's Database (opened on first use), its queries bounded per request."""
    return Database(
        settings["db_path"],
        load_migrations(component.migrations_package),
        threads=settings["duckdb_threads"],
        memory_limit=settings["duckdb_memory_limit"],
        lock_wait=settings["lock_wait"],
        auto_migrate=settings["auto_migrate"],
        watch=limits.watch,
        storage=storage.make_storage(settings),
        indexes=component.indexes,
    )


def create_app(component, config=None):
    """Build the Flask app of ``component``; ``config`` overrides settings (tests)."""
    settings = component_settings(component).load(flags=config or {}, environ={})
    app = Flask(component.name)
    app.json = OrjsonProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = settings["max_body_mb"] * 1024 * 1024
    database = open_database(component, settings)
    database.ping()  # open now: a locked or broken file fails the worker at boot
    changes = ChangeFeed(component)
    database.share_changes(changes)  # the other replicas' writes too, where there are any
    reads = Reads(component)
    alerts = alert_rules.component_alerts(component, database, changes, settings)
    alerts.prime()
    writes = Writes(component, database, reads, changes, alerts)
    state = SimpleNamespace(
        component=component,
        database=database,
        reads=reads,
        writes=writes,
        changes=changes,
        alerts=alerts,
        slots=slots.Slots(settings["heavy_requests"]),
        settings=settings,
        jobs=None,
    )
    app.extensions["component"] = state
    register_error_handlers(app)
    # First: its hook must run before a refusal (the internal token) skips the rest.
    requestlog.init_app(app, key_header=True)
    metrics.init_app(app, refresh=(lambda: _count_jobs(state),))
    app.register_error_handler(duckdb.OutOfMemoryException, _out_of_memory)
    app.register_error_handler(duckdb.FatalException, _database_lost)
    # A table a pending migration creates (auto_migrate off): 503 naming it, not a 500.
    app.register_error_handler(duckdb.CatalogException, migrations.missing_schema)
    limits.init_app(app)
    if settings["internal_token"]:
        app.before_request(require_internal_token(settings["internal_token"]))
    app.before_request(read_deadline(settings["body_timeout"]))
    app.after_request(finish_body)
    # One process per database, and its one write path moves the feed's generation on: an
    # in-process cache is exact here, and nothing cached outlives the process.
    cache.init_app(app, settings, lambda _: (changes.generation,), scopes=(component.name,))
    app.teardown_appcontext(close_cursor)
    database_api = Blueprint(
        f"{component.name}_db", __name__, url_prefix=f"/api/{component.name}/db"
    )
    register_resources(database_api, component)
    register_reports(database_api, component)
    app.register_blueprint(database_api)
    sockets.register_sockets(app, component)
    if component.jobs is not None:
        state.jobs = jobs.JobManager(component, database, reads, writes, settings)
        state.jobs.recover()
        atexit.register(state.jobs.shutdown)
        executor = component.jobs(component, settings, state.jobs)
        app.register_blueprint(job_blueprint(component, executor, state.jobs, reads))
    app.add_url_rule("/health", "health", _health)
    app.add_url_rule(f"/api/{component.name}/openapi.json", "openapi", openapi.serve_spec)
    return app


def _health():
    """Report that the service is up and its database answers."""
    state = current_app.extensions["component"]
    state.database.ping()
    return jsonify(
        {
            "status": "ok",
            "service": state.component.name,
            "title": state.component.title,
            # The file's name only: /health needs no credential, and paths are nobody's business.
            "database": os.path.basename(state.database.path),
            "change_subscribers": state.changes.subscriber_count,
        }
    )


def _count_jobs(state):
    """Set the jobs gauge from the job manager, just before a scrape reads it."""
    if state.jobs is not None:
        metrics.set_jobs(state.component.name, state.jobs.counts())


def serve_component(component, settings):
    """Run ``component`` under gunicorn with one gthread worker (one process per DuckDB file)."""
    component_settings(component).log(log, component.title, settings)
    loopback_only(settings, component.title)
    # A file still held (after lock_wait) or a catalog out of reach fails here, clearly, not in
    # a worker gunicorn restarts.
    storage.make_storage(settings).preflight()
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
        metrics_dir=settings["metrics_dir"],
    )


def component_command(component):
    """Return the click command running ``component`` by itself, a flag per setting."""
    group = component_settings(component)

    @click.command(component.name, help=f"Run the {component.title} by itself under gunicorn.")
    @group.options
    def command(config_file, **flags):
        settings = group.load_or_exit(config_file, flags)
        configure_logging(settings["log_level"], fmt=settings["log_format"])
        try:
            serve_component(component, settings)
        except (DatabaseLockedError, LakeError, ConfigError) as exc:
            raise click.ClickException(str(exc)) from None
        except (duckdb.Error, OSError) as exc:  # a file that is no database, a folder denied
            raise click.ClickException(
                f"cannot open database {settings['db_path']}: {exc}"
            ) from None

    return command
