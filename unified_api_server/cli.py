"""``unified-api-server``: run the suite, a component, the gateway; manage keys, roles; load data.

``unified-api-server`` with no command (or with only flags) is ``unified-api-server run``, as
the original launcher was. Every process's flags come from its settings
(:mod:`unified_api_server.core.settings`), so a flag, a config-file key and an environment
variable always name the same thing. A command's module is imported only when it runs: the
gateway's gevent workers must patch the standard library before urllib3 is imported.
"""

import importlib
import os

import click

COMMANDS = {
    "run": "unified_api_server.launcher.run:run_command",
    "component": "unified_api_server.cli:component_group",
    "gateway": "unified_api_server.gateway.command:gateway_command",
    "keys": "unified_api_server.tools.keys:keys",
    "roles": "unified_api_server.tools.roles:roles",
    "demo-data": "unified_api_server.tools.demo_loader:demo_data",
    "upload": "unified_api_server.tools.transfer:upload",
    "export": "unified_api_server.tools.transfer:export",
    "migrate": "unified_api_server.tools.migrate:migrate",
}
HELP = {
    "run": "Start the whole suite under supervisord (the default command).",
    "component": "Run one component by itself.",
    "gateway": "Run the gateway by itself.",
    "keys": "Create, list, change, revoke and delete API keys.",
    "roles": "List, create, change and delete roles (named sets of scopes).",
    "demo-data": "Load a realistic, deterministic demo data set through the API.",
    "upload": "Upload a JUnit or pytest-benchmark report to a gateway.",
    "export": "Export a component's items from a gateway into a file.",
    "migrate": "Apply pending schema migrations to stopped services' databases.",
}


class Commands(click.Group):
    """The commands, imported when used; ``run`` when the first argument names no command."""

    def list_commands(self, ctx):
        """Return the command names."""
        return list(COMMANDS)

    def get_command(self, ctx, name):
        """Import and return the command ``name``, or None."""
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name].split(":")
        command = getattr(importlib.import_module(module), attribute)
        return command if isinstance(command, click.Command) else command()

    def format_commands(self, ctx, formatter):
        """List the commands without importing them."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, HELP[name]) for name in COMMANDS])

    def parse_args(self, ctx, args):
        """Insert ``run`` before flags that belong to it (``unified-api-server --nginx 8088``)."""
        if not args or (args[0].startswith("-") and args[0] not in ("--help", "-h", "--version")):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="unified-api-server")
def main():
    """Unified API Server: test, generate and benchmark ML models behind one gateway."""
    # Databases, keys, logs and run files are for this user alone (files 0600, folders 0700).
    os.umask(0o077)


def component_group():
    """Return the ``component`` group: one command per registered component."""
    from unified_api_server.core.web.app import component_command
    from unified_api_server.registry import COMPONENTS

    group = click.Group("component", help="Run one component by itself (a flag per setting).")
    for component in COMPONENTS:
        group.add_command(component_command(component))
    return group
