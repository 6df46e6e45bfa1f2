"""The query grammar every list, statistics, search and export shares, parsed and described.

Terms: ``field=v`` (repeat for any of several), ``field__gt|gte|lt|lte|ne=v``,
``field__in=a,b``, ``field__isnull=true``, ``tag=name[:value]``, ``since=`` / ``until=`` (on
the start time), and per view ``sort=-duration,model_name``, ``fields=a,b``, ``total=true``,
``limit`` and ``cursor``. Arguments become a
:class:`~unified_api_server.core.data.query.Query`; anything unknown or malformed is a 400
that names it. :func:`parameters` describes the same grammar for the OpenAPI spec.
"""

from datetime import UTC, datetime

from unified_api_server.core.data.query import (
    COMPARISONS,
    NEWEST_FIRST,
    SCALAR_KINDS,
    Condition,
    Query,
    fields_of,
)
from unified_api_server.core.errors import ApiError
from unified_api_server.core.schemas import in_utc

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
TOTAL_CAP = 1_000_000  # total=true counts exactly up to here (total_is_exact false beyond)
TIME_FILTERS = ("since", "until")
# Text whose values may hold a comma; in any other text filter a comma means a mistaken "any of".
FREE_TEXT = ("model_name",)
OPERATORS = (*COMPARISONS, "ne", "in", "isnull")
# The options each kind of view takes besides the filters.
VIEW_OPTIONS = {
    "list": ("sort", "fields", "total", "limit", "cursor"),
    "stats": (),
    "search": ("query", "sort", "fields", "limit"),
    "export": ("format", "table", "sort", "fields"),
}


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


def refuse_unknown(unknown, allowed, **details):
    """Raise the 400 naming the ``unknown`` query parameters, if any, and what is ``allowed``."""
    if unknown:
        raise ApiError(
            400,
            f"unknown query parameter(s): {', '.join(sorted(unknown))}",
            {"allowed": list(allowed), **details},
        )


def only(args, allowed):
    """Refuse every query parameter of ``args`` not ``allowed`` (a 400 naming them)."""
    refuse_unknown(set(args) - set(allowed), allowed)


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


def filterable(component):
    """Return the fields a query may filter on: declared filters, numbers, times, the id."""
    return {
        name: column
        for name, column in fields_of(component).items()
        if column.filter
        or column.kind in ("int", "float", "bool", "ts")
        or name == component.id_column
    }


def sortable(component):
    """Return the fields a query may sort by (every scalar field)."""
    return [name for name, column in fields_of(component).items() if column.kind in SCALAR_KINDS]


def filter_names(component):
    """Return every plain query parameter that filters ``component``'s items."""
    names = list(filterable(component))
    if "tags" in component.child_by_key:
        names.append("tag")
    return [*names, *TIME_FILTERS, *(f.name for f in component.extra_filters)]


def known_term(component, name):
    """Return whether ``name`` is a filter term of ``component`` (``field`` or ``field__op``)."""
    column, _, op = name.partition("__")
    if not op:
        return name in filter_names(component)
    return column in filterable(component) and op in OPERATORS


def parse_query(component, args, view="stats", *, allowed=()):
    """Return the :class:`Query` of ``args`` for a ``view``; anything unknown is a 400."""
    options = (*VIEW_OPTIONS[view], *allowed)
    refuse_unknown(
        [n for n in args if n not in options and not known_term(component, n)],
        [*filter_names(component), *options],
        operators=list(OPERATORS),
    )
    conditions = []
    for name in args:
        if name in options:
            continue
        values = args.getlist(name)
        if "" in values:
            raise ApiError(400, f"{name}: give a value (an empty one filters nothing)")
        conditions.append(_condition(component, name, values))
    sort = parse_sort(component, args.get("sort")) if "sort" in options else NEWEST_FIRST
    return Query(tuple(conditions), sort)


def _condition(component, name, values):
    if name == "tag":
        return Condition("", "tag", _tags(values))
    if name in (f.name for f in component.extra_filters):
        return Condition(name, "extra", _single(name, values, lambda v: parse_bool(v, name)))
    if name in TIME_FILTERS:
        op = "gte" if name == "since" else "lt"
        return Condition("started_at", op, _single(name, values, lambda v: parse_time(v, name)))
    field_name, _, op = name.partition("__")
    column = filterable(component)[field_name]
    if op == "isnull":
        return Condition(field_name, "isnull", _single(name, values, lambda v: parse_bool(v, name)))
    if op in COMPARISONS and column.kind in ("str_list", "bool"):
        raise ApiError(400, f"{name}: {field_name} cannot be compared, only matched")
    if op == "in":
        split = [part for value in values for part in value.split(",")]
        if "" in split:
            raise ApiError(400, f"{name}: an empty value in the list {','.join(values)!r}")
        return Condition(field_name, "in", tuple(_value(column, name, v) for v in split))
    if op:
        return Condition(field_name, op, _single(name, values, lambda v: _value(column, name, v)))
    if (
        column.kind in ("str", "str_list")
        and name not in FREE_TEXT
        and any("," in v for v in values)
    ):
        raise ApiError(400, f"{name}: one value per parameter; any of several is {name}__in=a,b")
    parsed = tuple(_value(column, name, v) for v in values)
    return (
        Condition(field_name, "eq", parsed[0])
        if len(parsed) == 1
        else Condition(field_name, "in", parsed)
    )


def _tags(values):
    if len(values) > 1:
        raise ApiError(400, "tag: give one tag=name[:value] (several must all hold: not yet)")
    name, sep, value = values[0].partition(":")
    return name, value if sep else None


def _single(name, values, parse):
    if len(values) > 1:
        raise ApiError(400, f"{name}: give it once, got {len(values)} values")
    return parse(values[0])


def _value(column, name, text):
    """Parse one filter value as the column's kind, or raise a 400 naming the parameter."""
    if column.kind == "int":
        return parse_int(text, name)
    if column.kind == "float":
        try:
            number = float(text)
        except ValueError:
            raise ApiError(400, f"{name}: must be a number, got {text!r}") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ApiError(400, f"{name}: must be a finite number, got {text!r}")
        return number
    if column.kind == "bool":
        return parse_bool(text, name)
    if column.kind == "ts":
        return parse_time(text, name)
    if column.choices and text not in column.choices:
        raise ApiError(400, f"{name}: must be one of {', '.join(column.choices)}, got {text!r}")
    return text


def parse_sort(component, value):
    """Parse ``sort=-duration,model_name`` into ``(name, descending)`` pairs."""
    if value is None or value == "":
        return NEWEST_FIRST
    keys, seen = [], set()
    allowed = sortable(component)
    for part in value.split(","):
        desc, name = part.startswith("-"), part.removeprefix("-").strip()
        if name not in allowed:
            raise ApiError(400, f"sort: cannot sort by {name!r}", {"sortable": allowed})
        if name in seen:
            raise ApiError(400, f"sort: {name!r} given twice")
        seen.add(name)
        keys.append((name, desc))
    return tuple(keys)


def output_fields(component):
    """Return the top-level fields of an item in a list (a group such as ``results`` is one)."""
    names = [component.id_column]
    for column in component.columns:
        name = column.group or column.name
        if name not in names:
            names.append(name)
    return [*names, "created_at", "updated_at"]


def parse_fields(component, value, allowed=None):
    """Parse ``fields=a,b`` into the fields to keep (None: all); ``allowed`` by default the
    item's top-level fields."""
    if value is None or value == "":
        return None
    allowed = allowed or output_fields(component)
    chosen = [name.strip() for name in value.split(",")]
    unknown = [name for name in chosen if name not in allowed]
    if unknown:
        raise ApiError(400, f"fields: unknown field(s) {', '.join(unknown)}", {"fields": allowed})
    return list(dict.fromkeys(chosen))


def select_fields(items, chosen):
    """Return ``items`` with only the ``chosen`` fields (all when None)."""
    if chosen is None:
        return items
    return [{name: item.get(name) for name in chosen} for item in items]


_SCHEMAS = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "ts": {"type": "string", "format": "date-time"},
    "str_list": {"type": "string"},
}
_OPTIONS = {
    "sort": ({"type": "string"}, "comma-separated fields, '-' for descending; default -started_at"),
    "fields": ({"type": "string"}, "comma-separated item fields to return"),
    "total": ({"type": "boolean"}, "add total (exact up to total_cap) and total_is_exact"),
    "limit": ({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "page size"),
    "cursor": ({"type": "string"}, "next_cursor of the previous page"),
    "query": ({"type": "string", "minLength": 1, "maxLength": 256}, "the search text"),
}


def query_parameter(name, schema, description, required=False):
    """Return one OpenAPI query parameter."""
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": schema,
        "description": description,
    }


def parameters(component, view):
    """Return the OpenAPI query parameters of a ``view`` of ``component``: the same grammar."""
    found = []
    for name, column in filterable(component).items():
        schema = dict(_SCHEMAS[column.kind])
        if column.choices:
            schema["enum"] = list(column.choices)
        holds = "holds" if column.kind == "str_list" else "equals"
        found.append(
            query_parameter(name, schema, f"{name} {holds} this (repeat for any of several)")
        )
        operators = ("ne", "in", "isnull")
        if column.kind not in ("str_list", "bool"):
            operators = (*COMPARISONS, *operators)
        for op in operators:
            op_schema = (
                {"type": "boolean"}
                if op == "isnull"
                else ({"type": "string"} if op == "in" else schema)
            )
            found.append(
                query_parameter(f"{name}__{op}", op_schema, f"{name} {op} (see the grammar)")
            )
    if "tags" in component.child_by_key:
        found.append(query_parameter("tag", {"type": "string"}, "tagged name or name:value"))
    for name in TIME_FILTERS:
        bound = "at or after" if name == "since" else "before"
        found.append(query_parameter(name, _SCHEMAS["ts"], f"started {bound} this time"))
    for extra in component.extra_filters:
        found.append(query_parameter(extra.name, _SCHEMAS["bool"], extra.description))
    for name in VIEW_OPTIONS[view]:
        if name in _OPTIONS:
            schema, description = _OPTIONS[name]
            found.append(query_parameter(name, schema, description))
    return found
