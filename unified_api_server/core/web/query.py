"""Query-string parsing shared by lists, stats, search and export: filters, limits, cursors."""

import base64
import binascii
from datetime import UTC, datetime

import orjson

from unified_api_server.core.errors import ApiError

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
TIME_FILTERS = ("since", "until")


def parse_time(value, name):
    """Parse an ISO 8601 time; a value without an offset is taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise ApiError(400, f"{name}: not an ISO 8601 time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_int(value, name, *, minimum=None, maximum=None, default=None):
    """Parse an integer argument within bounds, or raise a 400 naming it."""
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"{name}: must be an integer, got {value!r}") from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ApiError(400, f"{name}: must be between {minimum} and {maximum}, got {number}")
    return number


def parse_limit(value, default=DEFAULT_LIMIT):
    """Parse ``limit`` (1..1000)."""
    return parse_int(value, "limit", minimum=1, maximum=MAX_LIMIT, default=default)


def encode_cursor(*values):
    """Return an opaque cursor for the keyset position ``values``."""
    return base64.urlsafe_b64encode(orjson.dumps(list(values))).decode("ascii").rstrip("=")


def decode_cursor(token):
    """Decode a ``(time, id)`` keyset cursor made by ``encode_cursor``, or raise a 400."""
    try:
        values = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if (
            not isinstance(values, list)
            or len(values) != 2
            or not all(isinstance(v, str) for v in values)
        ):
            raise ValueError
        position = datetime.fromisoformat(values[0])
        if position.tzinfo is None:
            raise ValueError
        return position, values[1]
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        raise ApiError(400, "cursor: not a cursor this service issued") from None


class Filters:
    """A WHERE clause over the main table (alias ``t``) with its parameters."""

    def __init__(self, component, args, *, allowed=()):
        """Build from query ``args``; unknown arguments are a 400 naming them."""
        self.clauses = []
        self.params = []
        columns = {c.name: c for c in component.columns if c.filter}
        known = set(columns) | {"tag", *TIME_FILTERS, *allowed}
        unknown = sorted(set(args) - known)
        if unknown:
            raise ApiError(
                400,
                f"unknown query parameter(s): {', '.join(unknown)}",
                {"allowed": sorted(known)},
            )
        for name, column in columns.items():
            values = [v for v in args.getlist(name) if v != ""]
            if not values:
                continue
            if column.kind == "str_list":
                self.add(f"list_has_any(t.{name}, ?::VARCHAR[])", values)
            elif column.kind == "int":
                numbers = [parse_int(v, name) for v in values]
                self.add(f"t.{name} IN ({', '.join('?' * len(numbers))})", *numbers)
            else:
                if column.choices:
                    bad = [v for v in values if v not in column.choices]
                    if bad:
                        raise ApiError(400, f"{name}: must be one of {', '.join(column.choices)}")
                self.add(f"t.{name} IN ({', '.join('?' * len(values))})", *values)
        tag_child = component.child_by_key.get("tags")
        for tag in args.getlist("tag") if tag_child else ():
            name, sep, value = tag.partition(":")
            sql = (
                f"EXISTS (SELECT 1 FROM {tag_child.table} g WHERE "
                f"g.{component.id_column} = t.{component.id_column} AND g.name = ?"
            )
            if sep:
                self.add(sql + " AND g.value = ?)", name, value)
            else:
                self.add(sql + ")", name)
        if args.get("since"):
            self.add("t.started_at >= ?", parse_time(args["since"], "since"))
        if args.get("until"):
            self.add("t.started_at < ?", parse_time(args["until"], "until"))

    def add(self, clause, *params):
        """Add one condition and its parameters."""
        self.clauses.append(clause)
        self.params.extend(params)

    @property
    def where(self):
        """Return ``WHERE ...`` or an empty string."""
        return ("WHERE " + " AND ".join(self.clauses)) if self.clauses else ""
