"""The tables a bulk upload can fill: the same names export takes (``table=``).

An exported table file goes back unchanged into the table of the same name: the main table
(``<entities>``, the default), ``batches``, or a child table (``steps``, ``metrics``, ``tags``,
...). Each is described here as a :class:`BulkTable`: the columns a row may give, including those
the server sets when they are absent (``created_at``, ``updated_at``, ``recorded_at``) and the
main table's ``content_hash``, which an idempotent create or import compares, so a copied item
stays the same item there.
"""

from dataclasses import dataclass

from unified_api_server.core.component import Column
from unified_api_server.core.errors import ApiError

_SERVER_SET = (Column("created_at", kind="ts"), Column("updated_at", kind="ts"))
# SHA-256 in hex; checked in full by the load (bulk_sql), which names the row.
_CONTENT_HASH = Column("content_hash", max_length=64)
_BATCH_COLUMNS = (
    Column("name", max_length=256),
    Column("description", max_length=4096),
    Column("metadata", kind="json"),
    Column("created_at", kind="ts"),
)
# Child columns the server fills, by child shape (core/data/ddl.py's child tables).
_CHILD_SERVER_SET = {"named": (Column("recorded_at", kind="ts"),)}


@dataclass(frozen=True)
class BulkTable:
    """One table a bulk upload fills: its rows' columns and how they relate to other tables.

    ``id_column`` is the id every row may give (main table, batches: a new row's own id, made
    by the server when absent) or must give (a child: the item the row belongs to).
    """

    name: str  # as export and bulk's ``table=`` name it: "runs", "batches", "steps"
    kind: str  # "items", "batches" or "child"
    table: str  # the SQL table
    id_column: str
    columns: tuple  # every column a row may give, other than id_column
    component: object
    child: object = None  # the component's Child, for a child table

    @property
    def column_by_name(self):
        """Return the accepted columns keyed by name."""
        return {c.name: c for c in self.columns}

    @property
    def groups(self):
        """Return the nested groups of the main table (``results``), by group name."""
        found = {}
        for column in self.columns:
            if column.group:
                found.setdefault(column.group, []).append(column)
        return found

    @property
    def row_defaults(self):
        """Return the child's callable filling what a row left out, or None."""
        return self.child.row_defaults if self.child is not None else None


def bulk_table(component, name=None):
    """Return the :class:`BulkTable` named ``name`` (default the main table), or raise 400."""
    if name in (None, "", component.entities):
        return BulkTable(
            component.entities,
            "items",
            component.table,
            component.id_column,
            (*component.columns, *_SERVER_SET, _CONTENT_HASH),
            component,
        )
    if name == "batches":
        return BulkTable(
            name, "batches", component.batch_table, "batch_id", _BATCH_COLUMNS, component
        )
    child = component.child_by_key.get(name)
    if child is None:
        choices = [component.entities, "batches", *component.child_by_key]
        raise ApiError(400, f"table: must be one of {', '.join(choices)}", {"table": name})
    columns = (*child.columns, *_CHILD_SERVER_SET.get(child.shape, ()))
    return BulkTable(name, "child", child.table, component.id_column, columns, component, child)
