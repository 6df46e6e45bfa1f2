"""What a read selects, as data, and the SQL it becomes; keyset cursors for pages.

The web layer turns query strings into a :class:`Query` (and names bad arguments); only this
module turns a Query into SQL. Values are always parameters; names come from the component's
declaration, never from a client.
"""

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from unified_api_server.core.errors import ApiError


@dataclass(frozen=True)
class Condition:
    """One condition on the main table (alias ``t``).

    ``op`` is ``in`` (any of the values), ``has_any`` (a list column holding any of them),
    ``tag`` (value: ``(name, value or None)``), ``gte`` / ``lt`` (a time bound), or
    ``within_days`` (the last ``value`` days).
    """

    column: str
    op: str
    value: object


@dataclass(frozen=True)
class Query:
    """The conditions of a list, statistics, search or export, all of which must hold."""

    conditions: tuple = field(default_factory=tuple)

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
        return Query(self.conditions + tuple(conditions))


def _render(component, condition):
    column, op, value = condition.column, condition.op, condition.value
    if column != "started_at" and column not in component.column_by_name and op != "tag":
        raise ValueError(f"{component.name} has no column {column!r}")
    if op == "in":
        return f"t.{column} IN ({', '.join('?' * len(value))})", list(value)
    if op == "has_any":
        return f"list_has_any(t.{column}, ?::VARCHAR[])", [list(value)]
    if op == "gte":
        return f"t.{column} >= ?", [value]
    if op == "lt":
        return f"t.{column} < ?", [value]
    if op == "within_days":
        return f"t.{column} >= now() - to_days(?::INTEGER)", [value]
    if op == "tag":
        tags = component.child_by_key["tags"]
        name, tag_value = value
        sql = (
            f"EXISTS (SELECT 1 FROM {tags.table} g WHERE g.{component.id_column} = "
            f"t.{component.id_column} AND g.name = ?"
        )
        if tag_value is None:
            return sql + ")", [name]
        return sql + " AND g.value = ?)", [name, tag_value]
    raise ValueError(f"unknown condition {op!r}")


def encode_cursor(*values):
    """Return an opaque cursor for the keyset position ``values``."""
    return base64.urlsafe_b64encode(orjson.dumps(list(values))).decode("ascii").rstrip("=")


def decode_cursor(token):
    """Decode a ``(time, id)`` keyset cursor made by ``encode_cursor``, or raise a 400."""
    try:
        values = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(values, list) or len(values) != 2:
            raise ValueError
        if not all(isinstance(v, str) for v in values):
            raise ValueError
        position = datetime.fromisoformat(values[0])
        if position.tzinfo is None:
            raise ValueError
        return position, values[1]
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        raise ApiError(400, "cursor: not a cursor this service issued") from None


def keyset_after(token, time_column, id_column):
    """Return the SQL and parameters selecting rows after the cursor ``token`` (newest first)."""
    moment, last_id = decode_cursor(token)
    sql = (
        f"({time_column} < ?::TIMESTAMPTZ OR ({time_column} = ?::TIMESTAMPTZ AND {id_column} < ?))"
    )
    return sql, [moment, moment, last_id]
