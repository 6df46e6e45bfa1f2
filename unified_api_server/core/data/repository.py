"""The data-access layer of one component: every SQL statement the generic views need."""

import hashlib
import uuid
from datetime import UTC, datetime

import orjson

from unified_api_server.core.component import FINISHED_STATUSES
from unified_api_server.core.errors import ApiError
from unified_api_server.core.web.query import decode_cursor, encode_cursor

BOOKKEEPING = ("created_at", "updated_at")


def to_json_value(value):
    """Convert a DuckDB value to its JSON form (times as ISO 8601 with offset)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.isoformat()
    return value


def rows_to_dicts(cursor, rows=None):
    """Return the cursor's rows as dicts keyed by column name."""
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall() if rows is None else rows
    return [{n: to_json_value(v) for n, v in zip(names, row)} for row in rows]


class Repository:
    """Reads and writes one component's main collection, its children and its batches."""

    def __init__(self, component, database, changes=None):
        self.c = component
        self.db = database
        self.changes = changes  # a ChangeFeed told of every committed write, or None
        self.id = component.id_column
        self.select_list = ", ".join(
            [f"t.{self.id}"]
            + [f"t.{c.name}" for c in component.columns]
            + [f"t.{b}" for b in BOOKKEEPING]
        )
        self._json_columns = [c.name for c in component.columns if c.kind == "json"]
        self._groups = {}
        for column in component.columns:
            if column.group:
                self._groups.setdefault(column.group, []).append(column.name)

    # -- shaping ---------------------------------------------------------------------------
    def shape(self, row):
        """Turn a flat main-table row into its client shape (grouped fields nested)."""
        for name in self._json_columns:
            if isinstance(row.get(name), str):
                row[name] = orjson.loads(row[name])
        for group, names in self._groups.items():
            row[group] = {n: row.pop(n) for n in names}
        return row

    def _query(self, cursor, sql, params=()):
        return [self.shape(r) for r in rows_to_dicts(cursor.execute(sql, list(params)))]

    # -- reads -----------------------------------------------------------------------------
    def list(self, cursor, filters, limit, after=None):
        """Return one page of items, newest first, and the cursor of the next page."""
        clauses, params = list(filters.clauses), list(filters.params)
        if after:
            started, last_id = decode_cursor(after)
            clauses.append(
                f"(t.started_at < ?::TIMESTAMPTZ OR "
                f"(t.started_at = ?::TIMESTAMPTZ AND t.{self.id} < ?))"
            )
            params += [started, started, last_id]
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        items = self._query(
            cursor,
            f"SELECT {self.select_list} FROM {self.c.table} t {where} "
            f"ORDER BY t.started_at DESC, t.{self.id} DESC LIMIT ?",
            params + [limit + 1],
        )
        next_cursor = None
        if len(items) > limit:
            items = items[:limit]
            next_cursor = encode_cursor(items[-1]["started_at"], items[-1][self.id])
        return items, next_cursor

    def get(self, cursor, item_id, *, children=True):
        """Return one item with its children, or None."""
        found = self._query(
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

    # -- writes ----------------------------------------------------------------------------
    def create(self, data):
        """Store one item with its children; return ``(item, created)``.

        With a client-supplied id the call is idempotent: the same body again returns the stored
        item (``created`` False); a different body for that id is a 409.
        """
        children = {child.key: data.pop(child.key, []) for child in self.c.children}
        digest = hashlib.sha256(
            orjson.dumps([data, children], option=orjson.OPT_SORT_KEYS, default=str)
        ).hexdigest()
        item_id = data.pop(self.id, None) or str(uuid.uuid4())

        def work(cur):
            row = cur.execute(
                f"SELECT content_hash FROM {self.c.table} WHERE {self.id} = ?", [item_id]
            ).fetchone()
            if row is not None:
                if row[0] != digest:
                    raise ApiError(409, f"{self.c.entity} {item_id!r} exists with other content")
                return False
            self._check_batch(cur, data.get("batch_id"))
            values = {k: v for k, v in data.items() if v is not None}
            if "duration" not in values and values.get("completed_at") and values.get("started_at"):
                values["duration"] = (values["completed_at"] - values["started_at"]).total_seconds()
            names = [self.id, "content_hash", *values]
            cur.execute(
                f"INSERT INTO {self.c.table} ({', '.join(names)}) "
                f"VALUES ({', '.join(['?'] * len(names))})",
                [item_id, digest, *[self._param(k, v) for k, v in values.items()]],
            )
            for key, rows in children.items():
                self._insert_children(cur, self.c.child_by_key[key], item_id, rows)
            return True

        created = self.db.run_write(work)
        if created:
            self._publish(
                "created",
                id=item_id,
                model_name=data.get("model_name"),
                status=data.get("status"),
                batch_id=data.get("batch_id"),
            )
        return item_id, created

    def _publish(self, action, **fields):
        if self.changes is not None:
            self.changes.publish(action, **fields)

    def _param(self, name, value):
        column = self.c.column_by_name.get(name)
        if column is not None and column.kind == "json" and value is not None:
            return orjson.dumps(value).decode()
        return value

    def _check_batch(self, cur, batch_id):
        if (
            batch_id is not None
            and cur.execute(
                f"SELECT 1 FROM {self.c.batch_table} WHERE batch_id = ?", [batch_id]
            ).fetchone()
            is None
        ):
            raise ApiError(409, f"batch {batch_id!r} does not exist; create it first")

    def _insert_children(self, cur, child, item_id, rows):
        if not rows:
            return
        if child.shape == "tags":
            cur.execute(
                f"DELETE FROM {child.table} WHERE {self.id} = ? AND name IN "
                f"({', '.join(['?'] * len(rows))})",
                [item_id, *[r["name"] for r in rows]],
            )
        names = child.names
        # One multi-row INSERT per call: executemany is 10x slower in DuckDB.
        placeholders = ", ".join(["(" + ", ".join(["?"] * (len(names) + 1)) + ")"] * len(rows))
        params = []
        for row in rows:
            params.append(item_id)
            params.extend(self._child_param(child, n, row.get(n)) for n in names)
        cur.execute(
            f"INSERT INTO {child.table} ({self.id}, {', '.join(names)}) VALUES {placeholders}",
            params,
        )

    @staticmethod
    def _child_param(child, name, value):
        column = next(c for c in child.columns if c.name == name)
        return (
            orjson.dumps(value).decode() if column.kind == "json" and value is not None else value
        )

    def patch(self, item_id, changes):
        """Apply ``changes`` to one item; a finished item's status cannot change (409)."""

        def work(cur):
            row = cur.execute(
                f"SELECT status, started_at, model_name, batch_id FROM {self.c.table} "
                f"WHERE {self.id} = ?",
                [item_id],
            ).fetchone()
            if row is None:
                raise ApiError(404, f"{self.c.entity} {item_id!r} not found")
            status, started_at, model_name, batch_id = row
            new_status = changes.get("status")
            if new_status and new_status != status and status in FINISHED_STATUSES:
                raise ApiError(409, f"{self.c.entity} {item_id!r} is already {status}")
            values = dict(changes)
            if new_status in FINISHED_STATUSES and status not in FINISHED_STATUSES:
                values.setdefault("completed_at", datetime.now(UTC))
                if new_status == "completed":
                    values.setdefault("progress", 1.0)
            if values.get("completed_at") and "duration" not in values and started_at:
                values["duration"] = max(0.0, (values["completed_at"] - started_at).total_seconds())
            assignments = ", ".join(f"{k} = ?" for k in values)
            cur.execute(
                f"UPDATE {self.c.table} SET {assignments}, updated_at = now() WHERE {self.id} = ?",
                [*[self._param(k, v) for k, v in values.items()], item_id],
            )
            return values, model_name, batch_id, values.get("status") or status

        values, model_name, batch_id, status = self.db.run_write(work)
        self._publish(
            "updated",
            id=item_id,
            model_name=model_name,
            batch_id=batch_id,
            status=status,
            changes=values,
        )

    def add_children(self, item_id, key, rows):
        """Append rows to one child table of an existing item."""

        def work(cur):
            if (
                cur.execute(
                    f"SELECT 1 FROM {self.c.table} WHERE {self.id} = ?", [item_id]
                ).fetchone()
                is None
            ):
                raise ApiError(404, f"{self.c.entity} {item_id!r} not found")
            self._insert_children(cur, self.c.child_by_key[key], item_id, rows)
            return cur.execute(
                f"UPDATE {self.c.table} SET updated_at = now() WHERE {self.id} = ? "
                "RETURNING model_name, batch_id, status",
                [item_id],
            ).fetchone()

        model_name, batch_id, status = self.db.run_write(work)
        self._publish(
            "updated",
            id=item_id,
            model_name=model_name,
            batch_id=batch_id,
            status=status,
            child=key,
            rows=rows,
        )

    def _delete_items(self, cur, where, params):
        for child in self.c.children:
            cur.execute(
                f"DELETE FROM {child.table} WHERE {self.id} IN "
                f"(SELECT {self.id} FROM {self.c.table} WHERE {where})",
                params,
            )
        return cur.execute(f"DELETE FROM {self.c.table} WHERE {where}", params).fetchone()[0]

    def delete(self, item_id):
        """Delete one item and its children; raise 404 when it does not exist."""

        def work(cur):
            row = cur.execute(
                f"SELECT model_name, batch_id, status FROM {self.c.table} WHERE {self.id} = ?",
                [item_id],
            ).fetchone()
            if row is None or not self._delete_items(cur, f"{self.id} = ?", [item_id]):
                raise ApiError(404, f"{self.c.entity} {item_id!r} not found")
            return row

        model_name, batch_id, status = self.db.run_write(work)
        self._publish(
            "deleted", id=item_id, model_name=model_name, batch_id=batch_id, status=status
        )

    # -- batches ---------------------------------------------------------------------------
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
            created, last_id = decode_cursor(after)
            where = (
                "WHERE (b.created_at < ?::TIMESTAMPTZ OR "
                "(b.created_at = ?::TIMESTAMPTZ AND b.batch_id < ?))"
            )
            params = [created, created, last_id]
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
            next_cursor = encode_cursor(batches[-1]["created_at"], batches[-1]["batch_id"])
        return batches, next_cursor

    def get_batch(self, cursor, batch_id):
        """Return one batch with its counts, or raise 404."""
        rows = rows_to_dicts(
            cursor.execute(self._batch_select() + "WHERE b.batch_id = ? GROUP BY ALL", [batch_id])
        )
        if not rows:
            raise ApiError(404, f"batch {batch_id!r} not found")
        return self._shape_batch(rows[0])

    def create_batch(self, data):
        """Store a batch; return ``(batch_id, created)`` (an existing id is a 409)."""
        batch_id = data.get("batch_id") or str(uuid.uuid4())

        def work(cur):
            if cur.execute(
                f"SELECT 1 FROM {self.c.batch_table} WHERE batch_id = ?", [batch_id]
            ).fetchone():
                raise ApiError(409, f"batch {batch_id!r} already exists")
            metadata = data.get("metadata")
            cur.execute(
                f"INSERT INTO {self.c.batch_table} (batch_id, name, description, metadata) "
                "VALUES (?, ?, ?, ?)",
                [
                    batch_id,
                    data.get("name"),
                    data.get("description"),
                    None if metadata is None else orjson.dumps(metadata).decode(),
                ],
            )

        self.db.run_write(work)
        self._publish("created", entity="batch", id=batch_id, batch_id=batch_id)
        return batch_id

    def delete_batch(self, batch_id, delete_members):
        """Delete a batch; its members are deleted too, or detached and kept (the default)."""

        def work(cur):
            if delete_members:
                affected = self._delete_items(cur, "batch_id = ?", [batch_id])
            else:
                affected = cur.execute(
                    f"UPDATE {self.c.table} SET batch_id = NULL, updated_at = now() "
                    "WHERE batch_id = ?",
                    [batch_id],
                ).fetchone()[0]
            if not cur.execute(
                f"DELETE FROM {self.c.batch_table} WHERE batch_id = ?", [batch_id]
            ).fetchone()[0]:
                raise ApiError(404, f"batch {batch_id!r} not found")
            return affected

        affected = self.db.run_write(work)
        self._publish(
            "deleted",
            entity="batch",
            id=batch_id,
            batch_id=batch_id,
            members_deleted=affected if delete_members else 0,
        )
        return affected
