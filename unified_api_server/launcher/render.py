"""Render the supervisord and nginx configurations, for the launcher and for ``deploy/``.

One renderer per file serves both uses: the launcher fills in its ports and run folder, and
``scripts/render-deploy-configs`` fills in the deployment defaults to write ``deploy/*.conf``
(a test checks the committed files match).
"""

import os
import re
import shlex
from importlib import resources

from unified_api_server.launcher.config import COMPONENTS, MODULES, URL_NAMES, client_host

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
# Where the deployed files put things (ops edit these in deploy/*.conf).
DEPLOY = {
    "python": "/opt/unified-api-server/venv/bin/python",
    "directory": "/opt/unified-api-server",
    "data_dir": "/var/lib/unified-api-server",
    "log_dir": "/var/log/unified-api-server",
    "run_dir": "/run/unified-api-server",
    "nginx_prefix": "/var/lib/unified-api-server/nginx",
    "nginx_conf": "/etc/unified-api-server/nginx.conf",
    "user": "unified",
    "nginx_user": "www-data",
    "listen": "80",
}
GENERATED_NOTE = (
    "Rendered from gateway/templates/nginx.conf.tmpl by scripts/render-deploy-configs;\n"
    "# the launcher (unified-api-server --nginx PORT) renders the same template with its own ports."
)


def fill(template, values):
    """Replace every ``{{name}}`` in ``template``; raise KeyError naming a missing value."""

    def substitute(match):
        name = match.group(1)
        if name not in values:
            raise KeyError(f"template value {name!r} is missing")
        return str(values[name])

    return _PLACEHOLDER.sub(substitute, template)


def nginx_template():
    """Return the nginx configuration template shipped with the package."""
    return (
        resources.files("unified_api_server.launcher")
        .joinpath("templates/nginx.conf.tmpl")
        .read_text("utf-8")
    )


def _address(service):
    return f"{client_host(service['host'])}:{service['port']}"


def render_nginx(plan, listen=None, user_directive=None, note=GENERATED_NOTE):
    """Render nginx.conf for ``plan``: its services as upstreams, listening per its nginx entry."""
    nginx = plan["nginx"]
    if listen is None:
        host = nginx["host"]
        bracketed = f"[{host.strip('[]')}]" if ":" in host else host
        listen = f"{bracketed}:{nginx['port']}"
    if user_directive is None:
        # Workers of a root master run as "nobody" by default, and nobody may not be able to enter a
        # private data folder; under the launcher they run as the user who started it.
        user_directive = "user root;" if os.geteuid() == 0 else "# user: the user running nginx"
    values = {
        "generated_note": note,
        "user_directive": user_directive,
        "listen": listen,
        "gateway_address": _address(plan["gateway"]),
    }
    for name in COMPONENTS:
        values[f"{URL_NAMES[name]}_address"] = _address(plan[name])
    return fill(nginx_template(), values)


def _quote(args):
    return " ".join(shlex.quote(str(arg)) for arg in args)


def service_commands(plan, python, nginx_paths=None):
    """Return ``{program: argv}`` for every enabled service of ``plan``."""
    commands = {}
    level = plan["log_level"]
    for name in COMPONENTS:
        service = plan[name]
        if not service["enabled"]:
            continue
        commands[name] = [
            python, "-m", service["module"],
            "--host", service["host"], "--port", str(service["port"]),
            "--db-path", service["db_path"], "--log-level", level,
            *service["extra_args"],
        ]  # fmt: skip
    gateway = plan["gateway"]
    if gateway["enabled"]:
        argv = [
            python, "-m", MODULES["gateway"],
            "--host", gateway["host"], "--port", str(gateway["port"]),
        ]  # fmt: skip
        for name in COMPONENTS:
            argv += [f"--{URL_NAMES[name]}-url", f"http://{_address(plan[name])}"]
        argv += ["--keys-db", plan["keys_db"], "--workers", str(gateway["workers"])]
        argv += ["--log-level", level, *gateway["extra_args"]]
        commands["gateway"] = argv
    if plan["nginx"]["enabled"] and nginx_paths:
        prefix, conf = nginx_paths
        commands["nginx"] = [
            "nginx", "-p", prefix.rstrip("/") + "/", "-c", conf,
            "-e", os.path.join(prefix, "error.log"), "-g", "daemon off;",
        ]  # fmt: skip
    return commands


_HEADER = """\
; Unified API Server under supervisord: one program per process.
; {note}
;
; Each component is a gunicorn master with ONE gthread worker: DuckDB lets only one process open a
; database file, so never raise its workers and never use --preload. The gateway runs gevent workers
; (any number: it keeps no state but the shared SQLite key store).
; autorestart brings a killed process back; stopasgroup/killasgroup stop a gunicorn master together
; with its workers, so a stop or a restart never leaves an orphan holding a port or a database lock.
; Check and control it with: supervisorctl -c {conf} status | restart NAME | stop NAME | shutdown

[supervisord]
nodaemon=true
logfile={log_dir}/supervisord.log
logfile_maxbytes=10MB
logfile_backups=3
pidfile={run_dir}/supervisord.pid
childlogdir={log_dir}
loglevel=info
{supervisord_extra}
[unix_http_server]
file={run_dir}/supervisor.sock
chmod=0700

[supervisorctl]
serverurl=unix://{run_dir}/supervisor.sock

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
"""

_COMMENTS = {
    "test_api": "Test Suite component (test runs, steps, metrics, batches).",
    "generator_api": "Generator component (generation tasks and their files).",
    "benchmark_api": "Benchmark component (benchmark runs and latency/throughput figures).",
    "gateway": "Gateway: cross-component views, key checks (nginx's auth_request), forwarding.",
    "nginx": "nginx in front (optional: drop this program if nginx runs under systemd).",
}
_PRIORITY = {
    "test_api": 100,
    "generator_api": 100,
    "benchmark_api": 100,
    "gateway": 200,
    "nginx": 300,
}


def render_supervisord(
    commands, run_dir, log_dir, directory, conf_path, note, program_user=None, silent=True, env=None
):
    """Render supervisord.conf running ``commands`` (``{program: argv}``).

    ``program_user`` runs the Python services as that user (nginx drops privileges itself);
    ``silent`` keeps supervisord's own log out of the console (the launcher reports instead).
    """
    extra = "silent=true\n" if silent else ""
    text = _HEADER.format(
        note=note, conf=conf_path, log_dir=log_dir, run_dir=run_dir, supervisord_extra=extra
    )
    environment = {"PYTHONUNBUFFERED": "1", **(env or {})}
    env_line = ",".join(f'{key}="{value}"' for key, value in environment.items())
    for name, argv in commands.items():
        # A literal % must be doubled: supervisord expands %(name)s in its values.
        command = _quote(argv).replace("%", "%%")
        user_line = f"user={program_user}\n" if program_user and name != "nginx" else ""
        text += f"""
; {_COMMENTS[name]}
[program:{name}]
command={command}
{user_line}directory={directory}
priority={_PRIORITY[name]}
autostart=true
autorestart=true
startsecs=2
startretries=3
stopsignal=TERM
stopwaitsecs=15
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={log_dir}/{name}.log
stdout_logfile_maxbytes=20MB
stdout_logfile_backups=3
environment={env_line}
"""
    return text


def deploy_plan():
    """Return the launch plan the deployment files are rendered from (all services, nginx on)."""
    from unified_api_server.launcher.config import resolve

    plan = resolve(
        {"data_dir": DEPLOY["data_dir"], "nginx": {"enabled": True, "port": 80}}, cwd="/"
    )
    plan["keys_db"] = os.path.join(DEPLOY["data_dir"], "keys.sqlite3")
    return plan


def render_deploy_files():
    """Return ``{"nginx.conf": text, "supervisord.conf": text}`` for ``deploy/``."""
    plan = deploy_plan()
    nginx = render_nginx(
        plan, listen=DEPLOY["listen"], user_directive=f"user {DEPLOY['nginx_user']};"
    )
    commands = service_commands(
        plan, DEPLOY["python"], nginx_paths=(DEPLOY["nginx_prefix"], DEPLOY["nginx_conf"])
    )
    supervisord = render_supervisord(
        commands,
        run_dir=DEPLOY["run_dir"],
        log_dir=DEPLOY["log_dir"],
        directory=DEPLOY["directory"],
        conf_path="/etc/unified-api-server/supervisord.conf",
        note=(
            "Rendered by scripts/render-deploy-configs (the launcher renders the same programs).\n"
            "; Install: copy to /etc/unified-api-server/supervisord.conf, create the user\n"
            "; 'unified' and the folders named below (owned by it), then run as root:\n"
            "; supervisord -c THIS_FILE. To add the programs to an existing supervisord instead,\n"
            "; copy only the [program:*] sections into its conf.d folder. Ports, paths and log\n"
            "; level are plain text: edit them here, and keep nginx.conf's upstream ports in step."
        ),
        program_user=DEPLOY["user"],
        silent=False,
    )
    return {"nginx.conf": nginx, "supervisord.conf": supervisord}
