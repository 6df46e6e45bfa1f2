"""Query-string parsing shared by lists, stats, search and export: filters, limits, times.

Arguments become a :class:`~unified_api_server.core.data.query.Query`; a bad one is a 400
that names it. The data layer turns the Query into SQL.
"""

from datetime import UTC, datetime

from unified_api_server.core.data.query import Condition, Query
from unified_api_server.core.errors import ApiError
from unified_api_server.core.schemas import in_utc

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
TIME_FILTERS = ("since", "until")


def parse_time(value, name):
    """Parse an ISO 8601 time; a value without an offset is taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError, TypeError):
        raise ApiError(400, f"{name}: not an ISO 8601 time: {value!r}") from None
    try:
        return in_utc(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
    except ValueError as exc:
        raise ApiError(400, f"{name}: {exc}, got {value!r}") from None


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


def parse_bool(value, name, default=False):
    """Parse a true/false argument, or raise a 400 naming it."""
    text = str(value if value is not None else default).lower()
    if text not in ("true", "false", "1", "0", "yes", "no"):
        raise ApiError(400, f"{name}: must be true or false, got {value!r}")
    return text in ("true", "1", "yes")


def filter_names(component):
    """Return every query parameter that filters ``component``'s items."""
    names = [c.name for c in component.columns if c.filter]
    if "tags" in component.child_by_key:
        names.append("tag")
    return [*names, *TIME_FILTERS]


def parse_query(component, args, *, allowed=()):
    """Return the :class:`Query` of filter ``args``; an unknown argument is a 400 naming it."""
    known = set(filter_names(component)) | set(allowed)
    unknown = sorted(set(args) - known)
    if unknown:
        raise ApiError(
            400, f"unknown query parameter(s): {', '.join(unknown)}", {"allowed": sorted(known)}
        )
    conditions = []
    for column in component.columns:
        values = [v for v in args.getlist(column.name) if v != ""] if column.filter else []
        if values:
            conditions.append(_column_condition(column, values))
    for tag in args.getlist("tag") if "tags" in component.child_by_key else ():
        name, sep, value = tag.partition(":")
        conditions.append(Condition("", "tag", (name, value if sep else None)))
    if args.get("since"):
        conditions.append(Condition("started_at", "gte", parse_time(args["since"], "since")))
    if args.get("until"):
        conditions.append(Condition("started_at", "lt", parse_time(args["until"], "until")))
    return Query(tuple(conditions))


def _column_condition(column, values):
    if column.kind == "str_list":
        return Condition(column.name, "has_any", tuple(values))
    if column.kind == "int":
        return Condition(column.name, "in", tuple(parse_int(v, column.name) for v in values))
    if column.choices:
        bad = [v for v in values if v not in column.choices]
        if bad:
            raise ApiError(400, f"{column.name}: must be one of {', '.join(column.choices)}")
    return Condition(column.name, "in", tuple(values))
