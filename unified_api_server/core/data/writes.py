"""The one write path of a component: every write, in a transaction, then its change event.

Each method runs its SQL in one transaction (:meth:`Database.run_write`), reads back what it
returns inside that same transaction (so an answer never shows another writer's values), and
publishes the change event only after the commit, so subscribers never hear of a rolled-back
write. Bulk ingest is one event for the whole load.
"""

import hashlib
import uuid
from datetime import UTC, datetime

import orjson

from unified_api_server.core.component import FINISHED_STATUSES
from unified_api_server.core.data.bulk_sql import empty_lists, insert_staged, stage, summary
from unified_api_server.core.data.bulk_tables import bulk_table
from unified_api_server.core.data.child_rows import insert_children
from unified_api_server.core.data.derived import column_defaults, derived
from unified_api_server.core.data.written import Written, ids_written
from unified_api_server.core.errors import ApiError
from unified_api_server.core.metrics import rows_ingested


class Writes:
    """Creates, changes and deletes one component's items and batches."""

    def __init__(self, component, database, reads, changes=None, alerts=None):
        self.c = component
        self.db = database
        self.reads = reads
        self.changes = changes  # a ChangeFeed told of every committed write, or None
        self.alerts = alerts  # a core.data.alerts.Alerts judging every write, or None
        self.id = component.id_column
        # Lists a row may not leave NULL: [] when not given (DuckLake has no list defaults).
        self.empty_lists = empty_lists(component)
        self._columns = None  # the main table's columns, once every derived one exists

    def _publish(self, action, **fields):
        if self.changes is not None:
            self.changes.publish(action, **fields)

    def _after_write(self, cur, written):
        """Let the component derive its own rows, then the alert rules judge the write, inside
        the same transaction."""
        if self.c.after_write is not None and written is not None:
            self.c.after_write(cur, written)
        if self.alerts is not None and written is not None:
            self.alerts.evaluate(cur, written)  # after the component's rows: verdicts first

    def _flush_alerts(self):
        """Publish the alert changes a write just committed."""
        if self.alerts is not None:
            self.alerts.flush()

    def _publish_item(self, action, item, **extra):
        """Publish ``action`` on ``item`` with the fields subscribers filter on."""
        self._publish(
            action,
            id=item[self.id],
            model_name=item["model_name"],
            batch_id=item["batch_id"],
            status=item["status"],
            **extra,
        )

    # -- items ---------------------------------------------------------------------------------
    def create(self, data):
        """Store one item with its children; return ``(item, created)``.

        With a client-supplied id the call is idempotent: the same body again returns the stored
        item (``created`` False); a different body for that id is a 409.
        """
        return self.create_many([data], path="create")[0]

    def create_many(self, bodies, batch=None, path="import"):
        """Store several items in one transaction; return ``[(item, created)]`` in order.

        With ``batch`` (a batch body) the batch is created in the same transaction, first.
        ``path`` names the way in for the rows-ingested metric (create, import, job).
        """
        prepared = [self._prepare(dict(body)) for body in bodies]

        def work(cur):
            if batch is not None:
                self._insert_batch(cur, batch)
            stored = [self._insert(cur, *entry) for entry in prepared]
            self._after_write(cur, ids_written(i for i, created in stored if created))
            return [(self.reads.get(cur, i), created) for i, created in stored]

        results = self.db.run_write(work)
        if batch is not None:
            self._publish(
                "created", entity="batch", id=batch["batch_id"], batch_id=batch["batch_id"]
            )
        for item, created in results:
            if created:
                self._publish_item("created", item)
        self._flush_alerts()
        rows_ingested(self.c.name, path, sum(1 for _, created in results if created))
        return results

    def _prepare(self, data):
        children = {child.key: data.pop(child.key, []) for child in self.c.children}
        digest = hashlib.sha256(
            orjson.dumps([data, children], option=orjson.OPT_SORT_KEYS, default=str)
        ).hexdigest()
        item_id = data.pop(self.id, None) or str(uuid.uuid4())
        return item_id, digest, data, children

    def _insert(self, cur, item_id, digest, data, children):
        row = cur.execute(
            f"SELECT content_hash FROM {self.c.table} WHERE {self.id} = ?", [item_id]
        ).fetchone()
        if row is not None:
            if row[0] != digest:
                raise ApiError(409, f"{self.c.entity} {item_id!r} exists with other content")
            return item_id, False
        self._check_batch(cur, data.get("batch_id"))
        values = {k: v for k, v in data.items() if v is not None}
        for name in self.empty_lists:
            values.setdefault(name, [])
        if "duration" not in values and values.get("completed_at") and values.get("started_at"):
            values["duration"] = (values["completed_at"] - values["started_at"]).total_seconds()
        derived = self._derived(cur, values)
        names = [self.id, "content_hash", *values]
        row = f"VALUES ({', '.join(['?'] * len(names))})"
        if derived:  # computed from the row as given: SELECT ... FROM (VALUES ...) v
            given = ", ".join(names)
            row = f"SELECT *, {', '.join(sql for _, sql in derived)} FROM ({row}) v({given})"
            names += [name for name, _ in derived]
        cur.execute(
            f"INSERT INTO {self.c.table} ({', '.join(names)}) {row}",
            [item_id, digest, *[self._param(k, v) for k, v in values.items()]],
        )
        for key, rows in children.items():
            self._insert_children(cur, self.c.child_by_key[key], item_id, rows)
        return item_id, True

    def _derived(self, cur, values):
        """Return ``[(column, SQL)]`` of the derived columns, over the inserted row ``v``."""
        if not self.c.derived_columns:
            return []
        columns = self._columns
        if columns is None:  # read again until a pending migration has added them all
            columns = column_defaults(cur, self.c.table)
            if all(name in columns for name, _ in self.c.derived_columns):
                self._columns = columns
        return derived(self.c, {name: f"v.{name}" for name in values}, columns)

    def _param(self, name, value):
        column = self.c.column_by_name.get(name)
        if column is not None and column.kind == "json" and value is not None:
            return orjson.dumps(value).decode()
        return value

    def _check_batch(self, cur, batch_id):
        if batch_id is None:
            return
        found = cur.execute(
            f"SELECT 1 FROM {self.c.batch_table} WHERE batch_id = ?", [batch_id]
        ).fetchone()
        if found is None:
            raise ApiError(409, f"batch {batch_id!r} does not exist; create it first")

    def _insert_children(self, cur, child, item_id, rows):
        insert_children(self.db, cur, child, self.id, item_id, rows)

    def patch(self, item_id, changes):
        """Apply ``changes`` to one item and return it; a finished status cannot change (409)."""

        def work(cur):
            row = cur.execute(
                f"SELECT status, started_at, model_name, batch_id FROM {self.c.table} "
                f"WHERE {self.id} = ?",
                [item_id],
            ).fetchone()
            if row is None:
                raise ApiError(404, f"{self.c.entity} {item_id!r} not found")
            values = self._patch_values(item_id, row, changes)
            assignments = ", ".join(f"{k} = ?" for k in values)
            cur.execute(
                f"UPDATE {self.c.table} SET {assignments}, updated_at = now() WHERE {self.id} = ?",
                [*[self._param(k, v) for k, v in values.items()], item_id],
            )
            self._after_write(cur, ids_written([item_id], columns=tuple(values)))
            return values, self.reads.get(cur, item_id)

        values, item = self.db.run_write(work)
        self._publish_item("updated", item, changes=values)
        self._flush_alerts()
        return item

    def _patch_values(self, item_id, row, changes):
        status, started_at = row[0], row[1]
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
        return values

    def add_children(self, item_id, key, rows):
        """Append rows to one child table of an existing item; return the item."""

        def work(cur):
            # (a count, not RETURNING: DuckLake has no RETURNING on an UPDATE)
            touched = cur.execute(
                f"UPDATE {self.c.table} SET updated_at = now() WHERE {self.id} = ?", [item_id]
            ).fetchone()[0]
            if not touched:
                raise ApiError(404, f"{self.c.entity} {item_id!r} not found")
            self._insert_children(cur, self.c.child_by_key[key], item_id, rows)
            self._after_write(cur, ids_written([item_id], key=key))
            return self.reads.get(cur, item_id)

        item = self.db.run_write(work)
        self._publish_item("updated", item, child=key, rows=rows)
        self._flush_alerts()
        return item

    def _delete_items(self, cur, where, params):
        for table in (*(child.table for child in self.c.children), *self.c.derived_tables):
            cur.execute(
                f"DELETE FROM {table} WHERE {self.id} IN "
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

    def bulk(self, tables, target=None):
        """Insert the validated Arrow ``tables`` (one upload, in pieces), all or nothing.

        ``target`` is the ``BulkTable`` loaded (default the main table). The pieces are staged
        in the load's own session first, outside the write lock, so a long upload never holds
        other writers back; return the number of rows stored.
        """
        target = target or bulk_table(self.c)

        def work(cur):
            first = None
            if target.kind == "child":  # no sequence (DuckLake): ids from the storage
                first = self.db.new_ids(cur, target.table, "id", None)
            stored = insert_staged(target, cur, names, first)
            if target.kind != "batches":
                key = target.name if target.kind == "child" else None
                # Items are unique in an upload (checked): DISTINCT only for children, whose
                # hash table over a large load would hold every id at once.
                distinct = "DISTINCT " if key else ""
                ids = f"SELECT {distinct}{self.id} FROM incoming"
                self._after_write(cur, Written(ids, key=key))
            return stored, summary(target, cur) if self.changes is not None else None

        session = self.db.cursor()  # closing it drops the staged rows with it
        try:
            names, _ = stage(target, session, tables)
            stored, event = self.db.run_write(work, session)
        finally:
            session.close()
        if event is not None:
            self.changes.publish_bulk(event)
        self._flush_alerts()
        rows_ingested(self.c.name, "bulk", stored)
        return stored

    def change(self, work, action, entity):
        """Run ``work(cursor) -> (answer, event fields or None: nothing changed)`` as one write
        (a threshold, a mark); publish ``action`` on ``entity`` after the commit."""
        answer, event = self.db.run_write(work)
        if event is not None:
            self._publish(action, entity=entity, **event)
        return answer

    # -- batches -------------------------------------------------------------------------------
    def create_batch(self, data):
        """Store a batch and return it with its counts (an existing id is a 409)."""
        data = {**data, "batch_id": data.get("batch_id") or str(uuid.uuid4())}

        def work(cur):
            self._insert_batch(cur, data)
            return self.reads.get_batch(cur, data["batch_id"])

        batch = self.db.run_write(work)
        self._publish("created", entity="batch", id=batch["batch_id"], batch_id=batch["batch_id"])
        return batch

    def _insert_batch(self, cur, data):
        batch_id = data["batch_id"]
        exists = cur.execute(
            f"SELECT 1 FROM {self.c.batch_table} WHERE batch_id = ?", [batch_id]
        ).fetchone()
        if exists:
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
            deleted = cur.execute(
                f"DELETE FROM {self.c.batch_table} WHERE batch_id = ?", [batch_id]
            ).fetchone()[0]
            if not deleted:
                raise ApiError(404, f"batch {batch_id!r} not found")
            return affected

        affected = self.db.run_write(work)
        batch = {"entity": "batch", "id": batch_id, "batch_id": batch_id}
        self._publish("deleted", **batch, members_deleted=affected if delete_members else 0)
        return affected
