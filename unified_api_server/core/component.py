"""Declarative description of a component: its collection, child tables, stats, jobs, importers.

A component package builds one ``Component`` and the registry lists it; the shared core derives
from it the marshmallow schemas, the SQL of every list/detail/stats/search/export query, the
bulk-ingest Arrow schema, the HTTP routes, its settings, and its place in the gateway, the
launcher and the deployment files. A fourth component is a new ``Component``, not a copy.
"""

from dataclasses import dataclass, field

STATUSES = ("initializing", "running", "completed", "failed", "cancelled", "timeout")
ACTIVE_STATUSES = ("initializing", "running")
FINISHED_STATUSES = ("completed", "failed", "cancelled", "timeout")

# Column kinds and their DuckDB types (the migrations must agree; ``check_schema`` verifies it).
SQL_TYPES = {
    "str": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "ts": "TIMESTAMP WITH TIME ZONE",
    "str_list": "VARCHAR[]",
    "json": "JSON",
}


@dataclass(frozen=True)
class Column:
    """One client-visible column of a table."""

    name: str
    kind: str = "str"
    required: bool = False
    filter: bool = False  # exposed as an equality (list: contains) filter on lists and stats
    search: bool = False  # matched by free-text search
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    patch: bool = False  # may be changed by PATCH
    group: str | None = None  # nested under this key in bodies, e.g. "results"
    max_length: int | None = 512
    nullable: bool = True  # False: the table refuses NULL (PATCH may not set it)


@dataclass(frozen=True)
class Child:
    """A child table of the main collection (steps, metrics, tags, ...)."""

    key: str  # body/route name: "steps", "metrics", "tags"
    table: str
    columns: tuple
    shape: str = "list"  # "list" (ordered rows), "named" ({name: {...}}), "tags" ({name: value})
    row_defaults: object = None  # callable(row) -> row, filling what a validated row left out

    @property
    def names(self):
        """Return the client-visible column names."""
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class Component:
    """Everything that differs between one component and another, as data."""

    name: str  # "test": URLs are /api/test/db/...
    title: str
    entity: str  # "run": /run/{run_id}
    entities: str  # "runs": /runs
    columns: tuple  # main-table columns other than the id and bookkeeping columns
    children: tuple
    # Named by convention from name and entities when left empty: "test_runs",
    # "test_batch_runs", "delete_runs", "unified_api_server.components.test", "TEST_API_".
    table: str = ""
    batch_table: str = ""
    batch_delete_param: str = ""
    migrations_package: str = ""
    hardware_is_list: bool = True
    # (alias, SQL expression) added to model/hardware stats rows; a tuple of aliases takes the
    # items of a list-valued expression, e.g. (("p50", "p99"), "quantile_cont(x, [0.5, 0.99])")
    extra_aggregates: tuple = ()
    # (route, (key, ...)): GET /<route> returns the shared statistics grouped by those columns
    group_stats: tuple = ()
    # (database route, list key): the list the gateway's model view adds as "<name>_summary"
    # (the benchmark's per-device figures: ("hardware/stats", "hardware")).
    model_summary: tuple = ()
    # The component's own analyses under /api/<name>/db (a :class:`DbRoutes` each).
    db_routes: tuple = ()
    # callable(cursor, written) -> [core.data.alerts.Finding]: the component's own alert rules
    # (a regression, a newly failing test), run inside every write's transaction.
    alert_rules: tuple = ()
    # (database route, list key, view key): more lists the gateway's model view adds, each
    # asked with ``model_name`` (the benchmark's latest verdicts: ("verdicts", "verdicts",
    # "latest_verdicts")).
    model_sections: tuple = ()
    # callable(cursor, written): run inside every write transaction with what it stored (a
    # ``core.data.written.Written``), so rows a component derives (verdicts) never lag the item.
    after_write: object = None
    # (column, SQL template over ``{column}``s): main-table columns the write path fills from
    # an item's other columns as it inserts it (core/data/derived.py), never given or patched.
    derived_columns: tuple = ()
    # ``CREATE INDEX IF NOT EXISTS ...;`` statements the database builds when it opens, after
    # the migrations and each in a transaction of its own (core/data/database.py): an index a
    # migration cannot build over rows it updated (the Benchmark's series_key).
    indexes: tuple = ()
    # Tables of rows the component derives from an item (keyed by its id column, like a
    # child's): deleted with the item, in its transaction (the benchmark's verdicts).
    derived_tables: tuple = ()
    # callable(cursor, item_id) -> {key: value}: sections an item's detail adds (``analysis``).
    detail_extras: object = None
    # More filters of the query grammar (a :class:`QueryFilter` each): ``name=true|false``.
    extra_filters: tuple = ()
    # What the component runs (a core.jobs.executor.Jobs subclass), the report formats it imports,
    # and its part of the demo data set (a Demo).
    jobs: object = None
    importers: tuple = ()
    demo: object = None
    default_port: int = 8000
    env_prefix: str = ""
    child_by_key: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        conventions = {
            "table": f"{self.name}_{self.entities}",
            "batch_table": f"{self.name}_batch_{self.entities}",
            "batch_delete_param": f"delete_{self.entities}",
            "migrations_package": f"unified_api_server.components.{self.name}",
            "env_prefix": f"{self.name.upper()}_API_",
        }
        for attribute, value in conventions.items():
            if not getattr(self, attribute):
                object.__setattr__(self, attribute, value)
        object.__setattr__(self, "child_by_key", {c.key: c for c in self.children})

    @property
    def service(self):
        """Return the launcher's name of the component's process, e.g. ``test_api``."""
        return f"{self.name}_api"

    @property
    def id_column(self):
        """Return the primary-key column name, e.g. ``run_id``."""
        return f"{self.entity}_id"

    @property
    def column_by_name(self):
        """Return the main-table columns keyed by name."""
        return {c.name: c for c in self.columns}

    def count_name(self, status=None):
        """Return a stats field name such as ``total_runs`` or ``completed_tasks``."""
        return f"{status or 'total'}_{self.entities}"


@dataclass(frozen=True)
class DbRoutes:
    """Routes a component adds to its database blueprint, and how the spec documents them.

    ``register(bp, component)`` adds the routes; each endpoint is named ``<name>_<kind>``, and
    ``operations`` pairs a ``kind`` with its OpenAPI function ``(component, method, rule) ->
    [(rule, operation), ...]`` (as in ``core.web.openapi_ops``).
    """

    register: object
    operations: tuple = ()


@dataclass(frozen=True)
class QueryFilter:
    """A true/false filter a component adds to its lists: ``name=true`` keeps the items for which
    ``sql`` (a condition on the main table, alias ``t``, without parameters) holds, ``false``
    the others."""

    name: str
    sql: str
    description: str


@dataclass(frozen=True)
class Importer:
    """A report format a component imports at ``POST /api/<name>/db/import/<format>``.

    ``parse(raw_bytes, args)`` returns the create bodies of the items the report holds; every
    one is validated before any is stored, and all are stored in one transaction. ``single``
    answers with the one item (a JUnit report is one run) instead of a list.
    """

    format: str
    parse: object
    params: tuple = ()
    required: tuple = ()
    single: bool = False
    description: str = ""
    items_key: str = "items"  # where a many-item report's validation errors are reported


@dataclass(frozen=True)
class Demo:
    """A component's part of the demo data set: items in a full set, and how one is filled.

    ``fill(item)`` gets a demo item (its random source, model, start time and status, see
    ``unified_api_server.tools.demo_data.DemoItem``) and returns ``(columns, children)``: the
    component's own columns (and any common ones it changes) and its child rows by key.
    """

    size: int = 1000
    fill: object = None


def common_columns(*, hardware_kind="str_list"):
    """Return the columns every job-like collection has (model, hardware, status, timing...)."""
    return (
        Column(
            "model_name", required=True, filter=True, search=True, max_length=256, nullable=False
        ),
        Column("hardware", kind=hardware_kind, filter=True, search=True, nullable=False),
        Column("status", choices=STATUSES, filter=True, search=True, patch=True, nullable=False),
        Column("progress", kind="float", minimum=0.0, maximum=1.0, patch=True),
        Column("current_step", patch=True),
        Column("started_at", kind="ts", nullable=False),
        Column("completed_at", kind="ts", patch=True),
        Column("duration", kind="float", minimum=0.0, patch=True),
        Column("error", patch=True, max_length=65536),
        Column("batch_id", filter=True, max_length=128),
    )


def step_child(table):
    """Return the standard ordered steps child table."""
    return Child(
        "steps",
        table,
        (
            Column("name", required=True),
            Column(
                "status",
                required=True,
                choices=("passed", "failed", "skipped", "error", "running", "completed", "pending"),
            ),
            Column("started_at", kind="ts", nullable=False),
            Column("completed_at", kind="ts"),
            Column("duration", kind="float", minimum=0.0),
            Column("message", max_length=65536),
        ),
    )


def metric_child(table, *, extra=(), key="metrics", row_defaults=None):
    """Return a named metrics child table ({name: {value, unit, ...extra}})."""
    return Child(
        key,
        table,
        (
            Column("name", required=True),
            Column("value", kind="float", required=True),
            Column("unit", max_length=64),
        )
        + tuple(extra),
        shape="named",
        row_defaults=row_defaults,
    )


def tag_child(table):
    """Return the standard tags child table ({name: value})."""
    return Child("tags", table, (Column("name", required=True), Column("value")), shape="tags")
