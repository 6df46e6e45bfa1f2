"""``unified-api-server keys ...``: create, list, revoke and delete API keys.

``create`` prints only the new key on stdout, so ``KEY=$(unified-api-server keys create ...)`` works;
everything else a command says goes to stderr.
"""

import argparse
import json
import os
import sqlite3
import sys

from unified_api_server.gateway.keys import KeyStore, KeyStoreError, expiry_from, utcnow

DEFAULT_KEYS_DB = os.path.join("data", "keys.sqlite3")


def _parser():
    parser = argparse.ArgumentParser(
        prog="unified-api-server keys", description=__doc__.split("\n")[0]
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--keys-db",
        default=os.environ.get("GATEWAY_KEYS_DB", DEFAULT_KEYS_DB),
        help="key store file (default: $GATEWAY_KEYS_DB or %(default)s)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser(
        "create", parents=[common], help="create a key; prints only the key"
    )
    create.add_argument("--name", required=True, help="unique name of the key")
    create.add_argument("--scopes", default="read", help="comma-separated: read, write, admin")
    expiry = create.add_mutually_exclusive_group()
    expiry.add_argument("--expires-in", type=float, metavar="DAYS", help="expire after DAYS days")
    expiry.add_argument(
        "--expires", metavar="ISO", help="expire at this ISO 8601 time (with offset)"
    )

    listing = commands.add_parser("list", parents=[common], help="list keys (never their secrets)")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")

    revoke = commands.add_parser(
        "revoke", parents=[common], help="revoke a key (effective in < 5 s)"
    )
    revoke.add_argument("name")
    delete = commands.add_parser("delete", parents=[common], help="delete a key record for good")
    delete.add_argument("name")
    return parser


def _print_table(records):
    now = utcnow()
    header = ("NAME", "SCOPES", "STATE", "CREATED", "EXPIRES", "LAST USED", "HINT")
    rows = [header]
    for record in records:
        short = lambda value: value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"  # noqa: E731
        rows.append(
            (
                record.name,
                ",".join(record.scopes),
                record.problem(now) or "active",
                short(record.created_at),
                short(record.expires_at),
                short(record.last_used_at),
                record.hint,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def main(argv=None):
    """Run a keys command with ``argv`` (without the word ``keys``); return the exit status."""
    args = _parser().parse_args(argv)
    store = KeyStore(args.keys_db)
    try:
        if args.command == "create":
            expires = expiry_from(args.expires_in, args.expires)
            token = store.create(args.name, args.scopes, expires)
            print(token)
            print(
                f"created key {args.name!r}; store it now, it is not shown again", file=sys.stderr
            )
        elif args.command == "list":
            records = store.list()
            if args.json:
                print(json.dumps([record.as_dict() for record in records], indent=2))
            else:
                _print_table(records)
        elif args.command == "revoke":
            store.revoke(args.name)
            print(f"revoked key {args.name!r}", file=sys.stderr)
        elif args.command == "delete":
            store.delete(args.name)
            print(f"deleted key {args.name!r}", file=sys.stderr)
    except KeyStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, sqlite3.Error) as exc:
        print(f"error: cannot use key store {args.keys_db}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
