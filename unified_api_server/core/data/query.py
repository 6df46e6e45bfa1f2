"""What a read selects, as data, and the SQL it becomes: conditions, sort order, keyset cursors.

The web layer turns query strings into a :class:`Query` (and names bad arguments); only this
module turns a Query into SQL. Values are always parameters; names come from the component's
declaration (:func:`fields_of`), never from a client.
"""

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from unified_api_server.core.component import SQL_TYPES, Column
from unified_api_server.core.errors import ApiError

NEWEST_FIRST = (("started_at", True),)
SCALAR_KINDS = ("str", "int", "float", "bool", "ts")
COMPARISONS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


_FIELDS = {}  # id(component) -> (component, its fields): hashing a Component costs ~20 µs


def fields_of(component):
    """Return the main table's queryable fields by name: the id, columns, bookkeeping times."""
    known = _FIELDS.get(id(component))
    if known is not None and known[0] is component:
        return known[1]
    found = {component.id_column: Column(component.id_column, nullable=False)}
    found.update((c.name, c) for c in component.columns if c.kind != "json")
    for name in ("created_at", "updated_at"):
        found[name] = Column(name, kind="ts", nullable=name != "created_at")
    _FIELDS[id(component)] = (component, found)
    return found


@dataclass(frozen=True)
class Condition:
    """One condition on the main table (alias ``t``).

    ``op`` is ``eq``, ``ne``, ``in``, ``gt``, ``gte``, ``lt``, ``lte`` (on a list column ``eq``
    and ``in`` mean "holds", ``ne`` "does not hold"), ``isnull`` (value: bool), ``tag``
    (value: ``(name, value or None)``), ``within_days`` (the last ``value`` days) or ``extra``
    (the component's own :class:`~unified_api_server.core.component.QueryFilter` ``column``
    holds, or with value False does not).
    """

    column: str
    op: str
    value: object


@dataclass(frozen=True)
class Query:
    """The conditions all of which must hold, and the order (``(name, descending)`` pairs)."""

    conditions: tuple = field(default_factory=tuple)
    sort: tuple = NEWEST_FIRST

    def where(self, component, *, and_also=()):
        """Return ``(where_sql, params)`` for ``component``; ``and_also`` adds raw SQL parts."""
        clauses, params = [], []
        for condition in self.conditions:
            sql, values = _render(component, condition)
            clauses.append(sql)
            params.extend(values)
        for sql, values in and_also:
            clauses.append(sql)
            params.extend(values)
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", params

    def plus(self, *conditions):
        """Return this query with more conditions."""
        return Query(self.conditions + tuple(conditions), self.sort)

    def keys(self, component):
        """Return the sort keys and the id, the last tie-breaker, in the first key's direction."""
        return (*self.sort, (component.id_column, self.sort[0][1]))

    def order_by(self, component):
        """Return the ORDER BY clause (nulls last whatever the direction)."""
        parts = [
            f"t.{name} {'DESC' if desc else 'ASC'} NULLS LAST"
            for name, desc in self.keys(component)
        ]
        return "ORDER BY " + ", ".join(parts)

    def signature(self):
        """Return the sort as written in a query string, e.g. ``-duration,model_name``."""
        return ",".join(f"{'-' if desc else ''}{name}" for name, desc in self.sort)

    def cursor_after(self, component, item):
        """Return the opaque cursor of the page that follows ``item`` (a row of the answer)."""
        values = [item.get(name) for name, _ in self.keys(component)]
        return encode_cursor(self.signature(), values)

    def keyset(self, component, token):
        """Return ``(sql, params)`` selecting the rows after the cursor ``token``."""
        found = fields_of(component)
        keys = [(f"t.{name}", found[name], desc) for name, desc in self.keys(component)]
        return keyset_after(token, self.signature(), keys)


# Batches page newest first by creation; their cursors name this order.
BATCH_ORDER = (
    ("b.created_at", Column("created_at", kind="ts", nullable=False), True),
    ("b.batch_id", Column("batch_id", nullable=False), True),
)


def keyset_after(token, signature, keys):
    """Return ``(sql, params)`` selecting rows after ``token`` in the order of ``keys``.

    ``keys`` are ``(sql expression, Column, descending)``; nulls sort last. The rows after
    are those greater on the first key, or equal on it and greater on the next, and so on.
    """
    values = decode_cursor(token, signature, [column for _, column, _ in keys])
    alternatives, params, equal, equal_params = [], [], [], []
    for (expression, column, desc), value in zip(keys, values):
        mark = _placeholder(column)
        if value is not None:  # nothing comes after a null: nulls sort last
            after = f"{expression} {'<' if desc else '>'} {mark}"
            if column.nullable:
                after = f"({after} OR {expression} IS NULL)"
            alternatives.append(" AND ".join([*equal, after]))
            params.extend([*equal_params, value])
            equal.append(f"{expression} = {mark}")
            equal_params.append(value)
        else:
            equal.append(f"{expression} IS NULL")
    return "(" + " OR ".join(f"({a})" for a in alternatives) + ")", params


def iso_text(expression):
    """Return SQL writing a TIMESTAMPTZ ``expression`` as ISO 8601 text in UTC, exactly as
    Python's ``isoformat`` and orjson write a UTC time (no fraction when it is zero)."""
    utc = f"make_timestamp(epoch_us({expression}))"
    return f"replace(strftime({utc}, '%Y-%m-%dT%H:%M:%S.%f+00:00'), '.000000+', '+')"


def _placeholder(column):
    return f"?::{SQL_TYPES[column.kind]}" if column.kind == "ts" else "?"


def _render(component, condition):
    column, op, value = condition.column, condition.op, condition.value
    if op == "tag":
        return _render_tag(component, value)
    if op == "extra":  # a component's own true/false filter
        sql = next(f.sql for f in component.extra_filters if f.name == column)
        return (sql if value else f"NOT ({sql})"), []
    found = fields_of(component).get(column)
    if found is None:
        raise ValueError(f"{component.name} has no column {column!r}")
    name, mark = f"t.{column}", _placeholder(found)
    if found.kind == "str_list":
        return _render_list(name, op, value)
    if op == "eq":
        return f"{name} = {mark}", [value]
    if op == "ne":
        return f"{name} IS DISTINCT FROM {mark}", [value]
    if op == "in":
        return f"{name} IN ({', '.join([mark] * len(value))})", list(value)
    if op in COMPARISONS:
        return f"{name} {COMPARISONS[op]} {mark}", [value]
    if op == "isnull":
        return f"{name} IS {'' if value else 'NOT '}NULL", []
    if op == "within_days":
        return f"{name} >= now() - to_days(?::INTEGER)", [value]
    raise ValueError(f"unknown condition {op!r}")


def _render_list(name, op, value):
    if op == "eq":
        return f"list_contains({name}, ?)", [value]
    if op == "in":
        return f"list_has_any({name}, ?::VARCHAR[])", [list(value)]
    if op == "ne":
        return f"NOT coalesce(list_contains({name}, ?), false)", [value]
    if op == "isnull":
        return f"{'' if value else 'NOT '}coalesce(len({name}) = 0, true)", []
    raise ValueError(f"condition {op!r} does not apply to a list")


def _render_tag(component, value):
    tags = component.child_by_key["tags"]
    name, tag_value = value
    sql = (
        f"EXISTS (SELECT 1 FROM {tags.table} g WHERE g.{component.id_column} = "
        f"t.{component.id_column} AND g.name = ?"
    )
    if tag_value is None:
        return sql + ")", [name]
    return sql + " AND g.value = ?)", [name, tag_value]


def encode_cursor(*values):
    """Return an opaque cursor for the keyset position ``values``."""
    return base64.urlsafe_b64encode(orjson.dumps(list(values))).decode("ascii").rstrip("=")


def _bad_cursor(reason="not a cursor this service issued"):
    return ApiError(400, f"cursor: {reason}")


def decode_cursor(token, signature, columns):
    """Decode a cursor made for ``signature`` into one typed value per column, or raise a 400."""
    try:
        issued_for, values = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise _bad_cursor() from None
    if issued_for != signature:
        raise _bad_cursor(f"issued for sort={issued_for!r}, not sort={signature!r}")
    if not isinstance(values, list) or len(values) != len(columns):
        raise _bad_cursor()
    return [_cursor_value(column, value) for column, value in zip(columns, values)]


def _cursor_value(column, value):
    if value is None and column.nullable:
        return None
    expected = {"str": str, "bool": bool, "ts": str, "int": int, "float": (int, float)}
    if (type(value) is bool and column.kind != "bool") or not isinstance(
        value, expected[column.kind]
    ):
        raise _bad_cursor()
    if column.kind != "ts":
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _bad_cursor() from None
    if moment.tzinfo is None:
        raise _bad_cursor()
    return moment
