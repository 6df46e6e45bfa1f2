"""Render the supervisord and nginx configurations, for the launcher and for ``deploy/``.

Both files are Jinja2 templates (``templates/*.j2``) that loop over the component registry. One
renderer per file serves both uses: the launcher fills in its ports and run folder, and
``scripts/render-deploy-configs`` fills in the deployment defaults to write ``deploy/*.conf``
(a test checks the committed files match).
"""

import os
import shlex

from jinja2 import Environment, PackageLoader, StrictUndefined

from unified_api_server.launcher.config import (
    LAUNCHER,
    balanced_components,
    client_host,
    plan_from,
)
from unified_api_server.registry import COMPONENTS

# Where the deployed files put things (ops edit these in deploy/*.conf).
DEPLOY = {
    "python": "/opt/unified-api-server/venv/bin/python",
    "directory": "/opt/unified-api-server",
    "data_dir": "/var/lib/unified-api-server",
    "log_dir": "/var/log/unified-api-server",
    "run_dir": "/run/unified-api-server",
    "nginx_prefix": "/var/cache/unified-api-server/nginx",  # outside the private data folder
    "nginx_conf": "/etc/unified-api-server/nginx.conf",
    "conf_path": "/etc/unified-api-server/supervisord.conf",
    # nginx's copy of the internal credential (a glob: nginx starts without it, and then the
    # components refuse every request until it is there)
    "token_include": "/etc/unified-api-server/internal-token*.conf",
    "user": "unified",
    "nginx_user": "www-data",
    "listen": "80",
}
GENERATED_NOTE = (
    "Rendered from unified_api_server/launcher/templates/nginx.conf.j2 by\n"
    "# scripts/render-deploy-configs; the launcher (unified-api-server --nginx PORT) renders the\n"
    "# same template with its own ports."
)
# The errors nginx itself may answer, each in the API's JSON shape: (status, code, message).
NGINX_ERRORS = (
    (400, "bad_request", "the request could not be read"),
    (401, "unauthorized", "a valid API key is required (X-API-Key header)"),
    (403, "forbidden", "this API key may not make this request"),
    (405, "method_not_allowed", "method $request_method is not allowed here"),
    (408, "request_timeout", "the request did not arrive in time"),
    (413, "payload_too_large", "request body too large"),
    (414, "uri_too_long", "the request URI is too long"),
    (494, "headers_too_large", "the request headers are too large"),
    (500, "internal_error", "internal server error (is the gateway running?)"),
    (501, "not_implemented", "not implemented (transfer encoding or method)"),
    (502, "bad_gateway", "the $unified_service service is unreachable"),
    (503, "service_unavailable", "the $unified_service service is unavailable"),
    (504, "gateway_timeout", "the $unified_service service did not answer in time"),
)
_TEMPLATES = Environment(
    loader=PackageLoader("unified_api_server.launcher", "templates"),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    autoescape=False,  # configuration files, not HTML
)


def _address(service, port=None):
    return f"{client_host(service['host'])}:{port or service['port']}"


def _servers(service):
    """Return the addresses of every process of ``service`` (what nginx balances over)."""
    return [_address(service, port) for _, port in service["instances"]]


def render_nginx(plan, listen=None, user_directive=None, note=GENERATED_NOTE, token_include=None):
    """Render nginx.conf for ``plan``: its services as upstreams, listening per its nginx entry."""
    nginx = plan["nginx"]
    if listen is None:
        host = nginx["host"]
        bracketed = f"[{host.strip('[]')}]" if ":" in host else host
        listen = f"{bracketed}:{nginx['port']}"
    if user_directive is None:
        # Workers of a root master run as "nobody" by default, and nobody may not be able to enter
        # a private data folder; under the launcher they run as the user who started it.
        user_directive = "user root;" if os.geteuid() == 0 else "# user: the user running nginx"
    return _TEMPLATES.get_template("nginx.conf.j2").render(
        note=note,
        user_directive=user_directive,
        listen=listen,
        gateway_servers=_servers(plan["gateway"]),
        names=[c.name for c in COMPONENTS],
        errors=NGINX_ERRORS,
        log_format=plan["log_format"],
        max_body_mb=plan["max_body_mb"],
        read_timeout=f"{plan['read_timeout']:g}",
        upload_timeout=f"{plan['upload_timeout']:g}",
        token_include=token_include or DEPLOY["token_include"],
        upstreams=[(c.name, _servers(plan[c.service])) for c in COMPONENTS],
        # Components with replicas: nginx listens on the component's own address and balances,
        # so the gateway reaches "the component" at the one URL it was given.
        balancers=[(c.name, _address(plan[c.service])) for c in balanced_components(plan)],
    )


def service_commands(plan, python, nginx_paths=None):
    """Return ``{program: argv}`` for every enabled service of ``plan``."""
    commands = {}
    logs = ["--log-level", plan["log_level"], "--log-format", plan["log_format"]]
    body = ["--max-body-mb", str(plan["max_body_mb"])]  # one limit everywhere
    run = [python, "-m", "unified_api_server"]
    for component in COMPONENTS:
        service = plan[component.service]
        if not service["enabled"]:
            continue
        for program, port in service["instances"]:
            commands[program] = [
                *run, "component", component.name,
                "--host", service["host"], "--port", str(port),
                "--db-path", service["db_path"], *logs, *body,
                *service["extra_args"],
            ]  # fmt: skip
    gateway = plan["gateway"]
    if gateway["enabled"]:
        argv = []
        for component in COMPONENTS:
            argv += [f"--{component.name}-url", f"http://{_address(plan[component.service])}"]
        argv += ["--keys-db", plan["keys_db"], "--workers", str(gateway["workers"])]
        argv += ["--read-timeout", f"{plan['read_timeout']:g}"]
        argv += ["--upload-timeout", f"{plan['upload_timeout']:g}"]
        for program, port in gateway["instances"]:
            address = ["--host", gateway["host"], "--port", str(port)]
            commands[program] = [*run, "gateway", *address, *argv, *logs, *body]
            commands[program] += gateway["extra_args"]
    if plan["nginx"]["enabled"] and nginx_paths:
        prefix, conf = nginx_paths
        commands["nginx"] = [
            "nginx", "-p", prefix.rstrip("/") + "/", "-c", conf,
            "-e", os.path.join(prefix, "error.log"), "-g", "daemon off;",
        ]  # fmt: skip
    return commands


def _program(name, argv, program_user):
    by_name = {c.service: c for c in COMPONENTS}
    service = name.split("-")[0]  # a replica's program is SERVICE-N
    if service in by_name:
        replica = f" (replica {name.split('-')[1]})" if "-" in name else ""
        comment = f"{by_name[service].title} component{replica}."
        priority = 100
    elif service == "gateway":
        comment = "Gateway: cross-component views, key checks (nginx's auth_request), forwarding."
        priority = 200
    else:
        comment = "nginx in front (optional: drop this program if nginx runs under systemd)."
        priority = 300
    return {
        "name": name,
        "comment": comment,
        # A literal % must be doubled: supervisord expands %(name)s in its values.
        "command": " ".join(shlex.quote(str(arg)) for arg in argv).replace("%", "%%"),
        "user": program_user if name != "nginx" else None,
        "priority": priority,
    }


def render_supervisord(commands, run_dir, log_dir, directory, conf_path, note, **options):
    """Render supervisord.conf running ``commands`` (``{program: argv}``).

    Options: ``program_user`` runs the Python services as that user (nginx drops privileges
    itself); ``silent`` (default true) keeps supervisord's own log out of the console (the
    launcher reports instead); ``env`` adds environment variables; ``socket_path`` moves the
    control socket (a unix socket path must stay short).
    """
    environment = {"PYTHONUNBUFFERED": "1", **options.get("env", {})}
    program_user = options.get("program_user")
    return _TEMPLATES.get_template("supervisord.conf.j2").render(
        note=note,
        conf_path=conf_path,
        log_dir=log_dir,
        run_dir=run_dir,
        socket_path=options.get("socket_path") or os.path.join(run_dir, "supervisor.sock"),
        silent=options.get("silent", True),
        directory=directory,
        environment=",".join(f'{key}="{value}"' for key, value in environment.items()),
        programs=[_program(name, argv, program_user) for name, argv in commands.items()],
    )


def deploy_plan():
    """Return the launch plan the deployment files are rendered from (all services, nginx on)."""
    values = LAUNCHER.load(
        flags={"data_dir": DEPLOY["data_dir"], "nginx_enabled": True, "nginx_port": 80},
        environ={},
    )
    return plan_from(values, cwd="/")


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
        conf_path=DEPLOY["conf_path"],
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
        # supervisord passes on its own UAS_INTERNAL_TOKEN (set it where supervisord starts)
        env={"UAS_INTERNAL_TOKEN": "%(ENV_UAS_INTERNAL_TOKEN)s"},
    )
    return {"nginx.conf": nginx, "supervisord.conf": supervisord}
