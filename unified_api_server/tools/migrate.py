"""``unified-api-server migrate``: apply pending schema migrations to the database files directly.

For when the services are stopped (DuckDB gives a file to one process): each component's file
is backed up, then its pending migrations are applied in one transaction, all or none, as
``POST /api/<component>/db/migrations/apply`` does on a running service.
"""

import os

import click

from unified_api_server.core.data.database import (
    Database,
    DatabaseLockedError,
    MigrationError,
    load_migrations,
)
from unified_api_server.core.data.migrate import label
from unified_api_server.core.settings import DATA_DIR
from unified_api_server.registry import BY_NAME, COMPONENTS


def database_path(component, data_dir, db_path=None):
    """Return the database file of ``component``: the given one, its setting's, or the default."""
    from unified_api_server.core.web.app import component_settings

    flags = {"data_dir": data_dir, "db_path": db_path}
    return component_settings(component).load(flags=flags)["db_path"]


def migrate_one(component, path, dry_run):
    """Show and apply (or, dry, only show) ``component``'s pending migrations; True when done."""
    name = component.name
    if not os.path.exists(path):
        click.echo(f"{name}: no database at {path} (a service creates it on its first start)")
        return True
    migrations = load_migrations(component.migrations_package)
    database = Database(path, migrations, auto_migrate=False, indexes=component.indexes)
    try:
        for entry in database.migration_status():
            click.echo(f"{name}: {label(entry['version'], entry['name'])}  {entry['status']}")
        pending, backup = database.apply_migrations(dry_run=dry_run)
    except DatabaseLockedError:
        click.echo(
            f"{name}: {path} is in use by a running service (DuckDB allows one process per "
            f"file): stop it first, or apply through it with an admin key: "
            f"POST /api/{name}/db/migrations/apply",
            err=True,
        )
        return False
    except MigrationError as exc:
        where = f" (the database was backed up to {exc.backup})" if exc.backup else ""
        click.echo(f"{name}: {exc}{where}", err=True)
        return False
    finally:
        database.close()
    _report(name, pending, backup, dry_run)
    return True


def _report(name, pending, backup, dry_run):
    if not pending:
        click.echo(f"{name}: up to date, nothing to apply")
        return
    stems = ", ".join(label(version, migration) for version, migration, _ in pending)
    if not dry_run:
        click.echo(f"{name}: applied {stems}; backup before: {backup}")
        return
    click.echo(f"{name}: would apply {stems} (dry run: nothing changed)")
    for version, migration, sql in pending:
        click.echo(f"-- {label(version, migration)}.sql\n{sql.rstrip()}\n")


@click.command("migrate")
@click.option("--dry-run", is_flag=True, help="Show what would be applied, with its SQL.")
@click.option(
    "--component",
    "names",
    multiple=True,
    type=click.Choice([c.name for c in COMPONENTS]),
    help="A component to migrate (repeatable; default every one).",
)
@click.option(
    "--data-dir",
    envvar=DATA_DIR.env,
    default=DATA_DIR.default,
    show_default=True,
    help="Folder of the databases, as the services use it.",
)
@click.option("--db-path", help="The database file, for a single --component.")
def migrate(dry_run, names, data_dir, db_path):
    """Apply pending schema migrations to stopped services' database files, after a backup."""
    chosen = [BY_NAME[name] for name in names] or list(COMPONENTS)
    if db_path and len(chosen) != 1:
        raise click.UsageError("--db-path names one file: give exactly one --component")
    done = [migrate_one(c, database_path(c, data_dir, db_path), dry_run) for c in chosen]
    if not all(done):
        raise click.exceptions.Exit(1)
