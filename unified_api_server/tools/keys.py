"""``unified-api-server keys ...``: create, list, change, revoke and delete API keys.

A key holds scopes (``read``, ``write``, ``admin``, or one component's: ``test:read``,
``benchmark:write``) and roles (``unified-api-server roles list``); it may do the union.

The store is ``DATA_DIR/keys.sqlite3``, the file the gateway reads: ``--data-dir`` means what it
means for ``run`` (``--keys-db`` names the file itself, as the gateway's setting does), or the
PostgreSQL database gateways on several hosts share (``--keys-url postgresql://...``).
``create`` prints only the new key on stdout, so ``KEY=$(unified-api-server keys create ...)``
works; everything else a command says goes to stderr.
"""

import json
import sqlite3
from datetime import datetime, timedelta

import click

from unified_api_server.core.settings import DATA_DIR, ConfigError, SettingsGroup
from unified_api_server.gateway.keys import KeyStore, KeyStoreError, store_location, utcnow
from unified_api_server.gateway.settings import KEYS_DB, KEYS_URL, check_key_store

# The gateway's own settings for its store (GATEWAY_DATA_DIR, GATEWAY_KEYS_DB, GATEWAY_KEYS_URL).
STORE = SettingsGroup((DATA_DIR, KEYS_DB, KEYS_URL), env_prefix="GATEWAY_")


_store_options = STORE.options(config=False)


def _open(flags):
    try:
        settings = check_key_store(STORE.load(flags=flags))
        return KeyStore(store_location(settings))
    except (ConfigError, RuntimeError) as exc:  # a bad URL; psycopg missing
        raise click.ClickException(str(exc)) from None


def _run(action):
    """Run ``action``; turn a store error into ``error: ...`` on stderr and exit status 1."""
    try:
        action()
    except KeyStoreError as exc:
        raise click.ClickException(str(exc)) from None
    except (OSError, sqlite3.Error, *_driver_errors()) as exc:
        raise click.ClickException(f"cannot use the key store: {exc}") from None


def _driver_errors():
    """Return PostgreSQL's errors when its client is installed (a postgresql:// store)."""
    try:
        import psycopg
    except ImportError:
        return ()
    return (psycopg.Error,)


def expiry_from(days=None, iso=None):
    """Return the expiry time from ``--expires-in DAYS`` or ``--expires ISO`` (or None)."""
    if days is not None:
        if days <= 0:
            raise KeyStoreError("--expires-in must be a positive number of days")
        return utcnow() + timedelta(days=days)
    if iso:
        try:
            moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
        except ValueError:
            raise KeyStoreError(f"--expires: not an ISO 8601 time: {iso!r}") from None
        if moment.tzinfo is None:
            raise KeyStoreError("--expires needs a UTC offset, e.g. 2030-01-01T00:00:00+00:00")
        if moment <= utcnow():
            raise KeyStoreError("--expires must be in the future")
        return moment
    return None


_rate_options = (
    click.option(
        "--rate",
        type=float,
        metavar="PER_SECOND",
        help="requests per second this key may make on average (0: no limit; default: the "
        "gateway's default_rate)",
    ),
    click.option(
        "--burst",
        type=int,
        metavar="REQUESTS",
        help="requests it may make at once (default: the gateway's default_burst)",
    ),
)


def rate_options(command):
    """Add ``--rate`` and ``--burst`` to ``command``."""
    for option in reversed(_rate_options):
        command = option(command)
    return command


@click.group("keys")
def keys():
    """Create, list, revoke and delete API keys."""


_SCOPES_HELP = (
    "comma-separated scopes: read, write, admin, or COMPONENT:read|write|admin "
    "(e.g. test:read,benchmark:write)"
)


@keys.command("create")
@click.option("--name", required=True, help="unique name of the key")
@click.option("--scopes", help=_SCOPES_HELP + " [default: read, unless --role is given]")
@click.option(
    "--role", "roles", multiple=True, help="a role the key holds (repeat, or comma-separated)"
)
@click.option("--expires-in", type=float, metavar="DAYS", help="expire after DAYS days")
@click.option("--expires", metavar="ISO", help="expire at this ISO 8601 time (with offset)")
@rate_options
@_store_options
def create(name, scopes, roles, expires_in, expires, rate, burst, **flags):
    """Create a key; print only the key (it is not shown again)."""

    def action():
        if expires_in is not None and expires:
            raise KeyStoreError("give --expires-in or --expires, not both")
        expiry = expiry_from(expires_in, expires)
        given = ",".join(roles)
        chosen = scopes if scopes is not None else ("" if given else "read")
        token = _open(flags).create(name, chosen, expiry, rate=rate, burst=burst, roles=given)
        click.echo(token)
        click.echo(f"created key {name!r}; store it now, it is not shown again", err=True)

    _run(action)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@_store_options
def list_keys(as_json, **flags):
    """List keys (never their secrets)."""

    def action():
        records = _open(flags).list()
        if as_json:
            click.echo(json.dumps([record.as_dict() for record in records], indent=2))
        else:
            _print_table(records)

    _run(action)


@keys.command("revoke")
@click.argument("name")
@_store_options
def revoke(name, **flags):
    """Revoke a key (every gateway refuses it within 5 s)."""
    _run(lambda: (_open(flags).revoke(name), click.echo(f"revoked key {name!r}", err=True)))


@keys.command("set-rate")
@click.argument("name")
@rate_options
@_store_options
def set_rate(name, rate, burst, **flags):
    """Change a key's rate limit (omitted: back to the gateway's default); in force within 5 s."""

    def action():
        _open(flags).set_rate(name, rate, burst)
        shown = f"{'default' if rate is None else rate}/s, burst {burst or 'default'}"
        click.echo(f"key {name!r}: {shown}", err=True)

    _run(action)


@keys.command("set")
@click.argument("name")
@click.option("--scopes", help=_SCOPES_HELP + "; replaces the key's own scopes ('' for none)")
@click.option("--roles", help="comma-separated roles; replaces the key's roles ('' for none)")
@_store_options
def set_access(name, scopes, roles, **flags):
    """Change a key's scopes and/or roles; every gateway applies them within 5 s."""

    def action():
        if scopes is None and roles is None:
            raise KeyStoreError("give --scopes and/or --roles")
        record = _open(flags).set_access(name, scopes, roles)
        click.echo(
            f"key {name!r}: scopes {','.join(record.scopes) or '-'}; roles "
            f"{','.join(record.roles) or '-'}; may do {','.join(record.effective)}",
            err=True,
        )

    _run(action)


@keys.command("delete")
@click.argument("name")
@_store_options
def delete(name, **flags):
    """Delete a key record for good (frees its name)."""
    _run(lambda: (_open(flags).delete(name), click.echo(f"deleted key {name!r}", err=True)))


def _print_table(records):
    now = utcnow()
    header = ("NAME", "SCOPES", "ROLES", "STATE", "RATE", "CREATED", "EXPIRES", "LAST USED", "HINT")

    def short(value):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"

    rows = [header]
    for r in records:
        state = r.problem(now) or "active"
        times = (short(r.created_at), short(r.expires_at), short(r.last_used_at))
        rate = "default" if r.rate is None else ("none" if r.rate == 0 else f"{r.rate:g}/s")
        rate += "" if r.burst is None else f" x{r.burst}"
        scopes, roles = ",".join(r.scopes) or "-", ",".join(r.roles) or "-"
        rows.append((r.name, scopes, roles, state, rate, *times, r.hint))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
