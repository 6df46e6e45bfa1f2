"""``unified-api-server roles ...``: list, create, change and delete roles (named sets of scopes).

Roles live in the key store, beside the keys (``--data-dir`` / ``--keys-db`` as for ``keys``).
Four are built in and fixed: ``viewer`` (read), ``ci-uploader`` (read, test:write,
benchmark:write), ``operator`` (read, write) and ``admin`` (admin). Give a key a role with
``keys create --role R`` or ``keys set NAME --roles R1,R2``; a change reaches every gateway
within 5 s. A role a key still holds cannot be deleted.
"""

import json

import click

from unified_api_server.gateway.roles import RoleStore
from unified_api_server.tools.keys import _SCOPES_HELP, _open, _run, _store_options


def _roles(flags):
    return RoleStore(_open(flags))


@click.group("roles")
def roles():
    """List, create, change and delete roles (named sets of scopes)."""


@roles.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@_store_options
def list_roles(as_json, **flags):
    """List every role and its scopes."""

    def action():
        found = _roles(flags).list()
        if as_json:
            click.echo(json.dumps([role.as_dict() for role in found], indent=2))
            return
        rows = [("NAME", "SCOPES", "KIND", "DESCRIPTION")]
        for role in found:
            kind = "built-in" if role.built_in else "custom"
            rows.append((role.name, ",".join(role.scopes), kind, role.description))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths)]
            click.echo("  ".join([*cells, row[3]]).rstrip())

    _run(action)


@roles.command("create")
@click.argument("name")
@click.option("--scopes", required=True, help=_SCOPES_HELP)
@click.option("--description", default="", help="what the role is for")
@_store_options
def create(name, scopes, description, **flags):
    """Create a custom role."""

    def action():
        role = _roles(flags).create(name, scopes, description)
        click.echo(f"created role {role.name!r}: {','.join(role.scopes)}", err=True)

    _run(action)


@roles.command("set")
@click.argument("name")
@click.option("--scopes", help=_SCOPES_HELP + "; replaces the role's scopes")
@click.option("--description", help="replaces the role's description")
@_store_options
def set_role(name, scopes, description, **flags):
    """Change a custom role; every key holding it follows within 5 s."""

    def action():
        role = _roles(flags).set(name, scopes, description)
        click.echo(f"role {role.name!r}: {','.join(role.scopes)}", err=True)

    _run(action)


@roles.command("delete")
@click.argument("name")
@_store_options
def delete(name, **flags):
    """Delete a custom role no key holds."""
    _run(lambda: (_roles(flags).delete(name), click.echo(f"deleted role {name!r}", err=True)))
