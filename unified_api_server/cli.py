"""``unified-api-server``: run the suite, one component, the gateway; manage keys; load demo data.

``unified-api-server`` with no command (or with only flags) is ``unified-api-server run``, as
the original launcher was. Every process's flags come from its settings
(:mod:`unified_api_server.core.settings`), so a flag, a config-file key and an environment
variable always name the same thing.
"""

import click

from unified_api_server.core.logs import configure_logging
from unified_api_server.core.web.app import component_command
from unified_api_server.gateway.app import gateway_command
from unified_api_server.launcher.config import LAUNCHER, plan_from, with_shorthands
from unified_api_server.launcher.run import launch
from unified_api_server.registry import COMPONENTS
from unified_api_server.tools.demo_loader import demo_data
from unified_api_server.tools.keys import keys


class DefaultToRun(click.Group):
    """A group whose command defaults to ``run`` when the first argument names no command."""

    def parse_args(self, ctx, args):
        """Insert ``run`` before flags that belong to it (``unified-api-server --nginx 8088``)."""
        if not args or (args[0].startswith("-") and args[0] not in ("--help", "-h", "--version")):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultToRun, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="unified-api-server")
def main():
    """Unified API Server: test, generate and benchmark ML models behind one gateway."""


@main.command("run")
@LAUNCHER.options
@click.option("--host", "host", help="address of the gateway and nginx (both --*-host flags)")
@click.option("--nginx", "nginx", type=int, metavar="PORT", help="also run nginx in front on PORT")
def run(config_file, host, nginx, **flags):
    """Start the whole suite under supervisord and wait until every service is healthy."""
    flags = with_shorthands(flags, host, nginx)
    configure_logging(flags.get("log_level") or "INFO")  # until the data folder is known
    plan = LAUNCHER.load_or_exit(config_file, flags, check=plan_from)
    raise click.exceptions.Exit(launch(plan))


@main.group("component")
def component():
    """Run one component by itself (a flag per setting: --host, --port, --db-path, ...)."""


for registered in COMPONENTS:
    component.add_command(component_command(registered))
main.add_command(gateway_command)
main.add_command(keys)
main.add_command(demo_data)
