"""The reads of one component's data: items with their children, pages, batches, job rows."""

from datetime import UTC, datetime

import orjson

from unified_api_server.core.data.query import BATCH_ORDER, encode_cursor, keyset_after
from unified_api_server.core.errors import ApiError

BOOKKEEPING = ("created_at", "updated_at")


def to_json_value(value):
    """Convert a DuckDB value to its JSON form (times as ISO 8601 with offset)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.isoformat()
    return value


def rows_to_dicts(cursor, rows=None, times_as_text=True):
    """Return the cursor's rows as dicts keyed by column name (times as ISO 8601 text).

    ``times_as_text=False`` leaves times as DuckDB gives them, for rows that go straight to a
    JSON answer: orjson writes the same ISO 8601 text in C, at a seventh of ``isoformat``'s cost.
    """
    described = cursor.description  # built anew (types and all) on every access: read it once
    names = [d[0] for d in described]
    rows = cursor.fetchall() if rows is None else rows
    # Only time columns need converting: a page's other values pass through untouched.
    times = times_as_text and [
        i for i, d in enumerate(described) if str(d[1]).startswith("TIMESTAMP")
    ]
    if not times:
        return [dict(zip(names, row)) for row in rows]
    found = []
    for row in rows:
        values = list(row)
        for index in times:
            if values[index] is not None:
                values[index] = to_json_value(values[index])
        found.append(dict(zip(names, values)))
    return found


class Reads:
    """Reads one component's main collection, its children and its batches."""

    def __init__(self, component):
        self.c = component
        self.id = component.id_column
        names = [self.id, *(c.name for c in component.columns), *BOOKKEEPING]
        self.select_list = ", ".join(f"t.{name}" for name in names)
        self._json_columns = [c.name for c in component.columns if c.kind == "json"]
        self._groups = {}
        for column in component.columns:
            if column.group:
                self._groups.setdefault(column.group, []).append(column.name)

    def shape(self, row):
        """Turn a flat main-table row into its client shape (grouped fields nested)."""
        for name in self._json_columns:
            if isinstance(row.get(name), str):
                row[name] = orjson.loads(row[name])
        for group, names in self._groups.items():
            row[group] = {n: row.pop(n) for n in names}
        return row

    def _items(self, cursor, sql, params=(), times_as_text=True):
        rows = rows_to_dicts(cursor.execute(sql, list(params)), times_as_text=times_as_text)
        return [self.shape(r) for r in rows]

    def list(self, cursor, query, limit, after=None):
        """Return one page of items in the query's order, and the cursor of the next page."""
        extra = [query.keyset(self.c, after)] if after else []
        where, params = query.where(self.c, and_also=extra)
        items = self._items(
            cursor,
            f"SELECT {self.select_list} FROM {self.c.table} t {where} "
            f"{query.order_by(self.c)} LIMIT ?",
            params + [limit + 1],
            times_as_text=False,  # a page goes straight to its JSON answer
        )
        next_cursor = None
        if len(items) > limit:
            items = items[:limit]
            next_cursor = query.cursor_after(self.c, self._flat(items[-1]))
        return items, next_cursor

    def _flat(self, item):
        """Return a shaped item's fields flat again (grouped columns at the top level)."""
        flat = dict(item)
        for group in self._groups:
            flat.update(flat.pop(group) or {})
        return flat

    def count(self, cursor, query, cap):
        """Return ``(total, exact)``: the matching items, counted up to ``cap``.

        A table no larger than ``cap`` is counted outright (DuckDB's fastest path); a larger
        one stops counting past ``cap``, so the work stays bounded however large it grows.
        """
        where, params = query.where(self.c)
        (size,) = cursor.execute(
            "SELECT estimated_size FROM duckdb_tables() WHERE table_name = ?", [self.c.table]
        ).fetchone()
        source = f"{self.c.table} t {where}"
        if size > cap:
            source, params = f"(SELECT 1 FROM {source} LIMIT ?)", [*params, cap + 1]
        (found,) = cursor.execute(f"SELECT count(*) FROM {source}", params).fetchone()
        return min(found, cap), found <= cap

    def get(self, cursor, item_id, *, children=True):
        """Return one item with its children, or None."""
        found = self._items(
            cursor,
            f"SELECT {self.select_list} FROM {self.c.table} t WHERE t.{self.id} = ?",
            [item_id],
        )
        if not found:
            return None
        item = found[0]
        if children:
            for child in self.c.children:
                item[child.key] = self._children(cursor, child, item_id)
            if self.c.detail_extras is not None:
                item.update(self.c.detail_extras(cursor, item_id))
        return item

    def require(self, cursor, item_id):
        """Return one item or raise 404."""
        item = self.get(cursor, item_id)
        if item is None:
            raise ApiError(404, f"{self.c.entity} {item_id!r} not found")
        return item

    def _children(self, cursor, child, item_id):
        names = ", ".join(child.names)
        rows = rows_to_dicts(
            cursor.execute(
                f"SELECT {names} FROM {child.table} WHERE {self.id} = ? ORDER BY id", [item_id]
            )
        )
        if child.shape == "tags":
            return {r["name"]: r["value"] for r in rows}
        if child.shape == "named":
            return {r.pop("name"): r for r in rows}
        return rows

    # -- batches -------------------------------------------------------------------------------
    def _batch_select(self):
        counts = ", ".join(
            f"count(r.{self.id}) FILTER (WHERE r.status = '{s}') AS {self.c.count_name(s)}"
            for s in ("completed", "failed", "running")
        )
        return (
            f"SELECT b.batch_id, b.name, b.description, b.metadata, b.created_at, "
            f"count(r.{self.id}) AS {self.c.count_name()}, {counts}, "
            f"min(r.started_at) AS started_at, max(r.completed_at) AS completed_at "
            f"FROM {self.c.batch_table} b LEFT JOIN {self.c.table} r USING (batch_id) "
        )

    @staticmethod
    def _shape_batch(row):
        if isinstance(row.get("metadata"), str):
            row["metadata"] = orjson.loads(row["metadata"])
        return row

    def list_batches(self, cursor, limit, after=None):
        """Return one page of batches with member counts, newest first."""
        where, params = "", []
        if after:
            sql, params = keyset_after(after, "batches", BATCH_ORDER)
            where = f"WHERE {sql}"
        rows = rows_to_dicts(
            cursor.execute(
                self._batch_select() + f"{where} GROUP BY ALL "
                "ORDER BY b.created_at DESC, b.batch_id DESC LIMIT ?",
                params + [limit + 1],
            )
        )
        batches = [self._shape_batch(r) for r in rows]
        next_cursor = None
        if len(batches) > limit:
            batches = batches[:limit]
            last = batches[-1]
            next_cursor = encode_cursor("batches", [last["created_at"], last["batch_id"]])
        return batches, next_cursor

    def get_batch(self, cursor, batch_id):
        """Return one batch with its counts, or None."""
        rows = rows_to_dicts(
            cursor.execute(self._batch_select() + "WHERE b.batch_id = ? GROUP BY ALL", [batch_id])
        )
        return self._shape_batch(rows[0]) if rows else None

    def require_batch(self, cursor, batch_id):
        """Return one batch with its counts, or raise 404."""
        batch = self.get_batch(cursor, batch_id)
        if batch is None:
            raise ApiError(404, f"batch {batch_id!r} not found")
        return batch

    def batch_members(self, cursor, batch_id):
        """Return a batch's member rows, oldest first, or None when there is no such batch."""
        if self.get_batch(cursor, batch_id) is None:
            return None
        return self._items(
            cursor,
            f"SELECT {self.select_list} FROM {self.c.table} t WHERE t.batch_id = ? "
            f"ORDER BY t.created_at, t.{self.id}",
            [batch_id],
        )

    def ids_tagged(self, cursor, tag, statuses):
        """Return the ids of items tagged ``tag`` (name, value) with one of ``statuses``."""
        tags = self.c.child_by_key["tags"].table
        rows = cursor.execute(
            f"SELECT t.{self.id} FROM {self.c.table} t JOIN {tags} g USING ({self.id}) "
            f"WHERE g.name = ? AND g.value = ? AND t.status IN ({', '.join('?' * len(statuses))})",
            [*tag, *statuses],
        ).fetchall()
        return [row[0] for row in rows]

    def tag_values(self, cursor, name, ids):
        """Return ``{id: value}`` of tag ``name`` of the items ``ids`` (those that have it)."""
        if not ids:
            return {}
        tags = self.c.child_by_key["tags"].table
        return dict(
            cursor.execute(
                f"SELECT {self.id}, value FROM {tags} WHERE name = ? AND {self.id} IN "
                "(SELECT unnest(?::VARCHAR[]))",
                [name, list(ids)],
            ).fetchall()
        )
