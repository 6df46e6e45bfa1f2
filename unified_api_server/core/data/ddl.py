"""The standard tables of a job-like component, included by its migrations instead of copied.

A migration line ``-- @include job_tables table=... id=... batches=... [steps=...] [metrics=a,b]
[tags=...] [hardware=list|one]`` expands to the batch table, the main table with the columns of
``component.common_columns``, and the named child tables (keyed rows from sequences). The text
below is part of every migration that includes it: never edit it, add ``job_tables_v2`` instead
(the recorded checksums would refuse an edit). ``-- @include alert_tables`` adds the alert
tables (the same rule: a change is a new template).
"""

import re
from string import Template

_INCLUDE = re.compile(r"^-- @include (\w+)((?: [a-z_]+=[A-Za-z0-9_,]+)*)\s*$", re.MULTILINE)

_BATCHES = Template("""CREATE TABLE $batches (
    batch_id     VARCHAR PRIMARY KEY,
    name         VARCHAR,
    description  VARCHAR,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    metadata     JSON
);
""")

_MAIN = Template("""CREATE TABLE $table (
    $id  VARCHAR PRIMARY KEY,
    model_name    VARCHAR NOT NULL,
    hardware      $hardware_type NOT NULL DEFAULT $hardware_default,
    status        VARCHAR NOT NULL DEFAULT 'completed',
    progress      DOUBLE,
    current_step  VARCHAR,
    started_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at  TIMESTAMPTZ,
    duration      DOUBLE,
    error         VARCHAR,
    batch_id      VARCHAR,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    content_hash  VARCHAR
);
""")

_CHILD_COLUMNS = {
    "steps": """    name          VARCHAR NOT NULL,
    status        VARCHAR NOT NULL,
    started_at    TIMESTAMPTZ,
    completed_at  TIMESTAMPTZ,
    duration      DOUBLE,
    message       VARCHAR""",
    "metrics": """    name          VARCHAR NOT NULL,
    value         DOUBLE NOT NULL,
    unit          VARCHAR,
    recorded_at   TIMESTAMPTZ NOT NULL DEFAULT now()""",
    "tags": """    name          VARCHAR NOT NULL,
    value         VARCHAR""",
}

_CHILD = Template("""CREATE SEQUENCE ${child}_id_seq;
CREATE TABLE $child (
    id  BIGINT PRIMARY KEY DEFAULT nextval('${child}_id_seq'),
    $id  VARCHAR NOT NULL,
$columns
);
CREATE INDEX ${child}_by_parent ON $child ($id);
""")

_HARDWARE = {"list": ("VARCHAR[]", "[]"), "one": ("VARCHAR", "'cpu'")}


class IncludeError(ValueError):
    """A migration's ``@include`` line names an unknown template or parameter."""


def job_tables(table, id, batches, steps="", metrics="", tags="", hardware="list"):
    """Return the DDL of the standard tables of one job-like component."""
    if hardware not in _HARDWARE:
        raise IncludeError(f"hardware must be one of {', '.join(_HARDWARE)}, got {hardware!r}")
    hardware_type, hardware_default = _HARDWARE[hardware]
    parts = [
        _BATCHES.substitute(batches=batches),
        _MAIN.substitute(
            table=table, id=id, hardware_type=hardware_type, hardware_default=hardware_default
        ),
    ]
    for kind, names in (("steps", steps), ("metrics", metrics), ("tags", tags)):
        for child in filter(None, names.split(",")):
            parts.append(_CHILD.substitute(child=child, id=id, columns=_CHILD_COLUMNS[kind]))
    return "\n".join(parts)


_ALERTS = """-- Alerts (core/data/alerts.py): what a write raised, its state, and its history.
CREATE TABLE alerts (
    alert_id         VARCHAR PRIMARY KEY,
    kind             VARCHAR NOT NULL,   -- regression, test_failure, job_failure_rate
    series_key       VARCHAR NOT NULL,   -- kind and selector: one open alert per series
    model_name       VARCHAR,
    hardware         VARCHAR,
    batch_size       BIGINT,
    precision        VARCHAR,
    test_type        VARCHAR,
    metric           VARCHAR,
    test_name        VARCHAR,
    item_id          VARCHAR,            -- the run (task) whose write raised it
    message          VARCHAR NOT NULL,
    details          JSON,
    state            VARCHAR NOT NULL,   -- active, acknowledged, suppressed, resolved
    suppressed       BOOLEAN NOT NULL DEFAULT false,  -- raised while suppressed: never pushed
    raised_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    acknowledged_at  TIMESTAMPTZ,
    acknowledged_by  VARCHAR,
    resolved_at      TIMESTAMPTZ,
    resolved_by      VARCHAR,            -- a key name, or "auto" when its series recovered
    resolved_item_id VARCHAR
);
CREATE INDEX alerts_by_series ON alerts (series_key, state);
CREATE INDEX alerts_by_raised ON alerts (raised_at);

-- Every change of an alert, in commit order: published on the change feed after the commit.
CREATE SEQUENCE alert_events_seq;
CREATE TABLE alert_events (
    seq       BIGINT PRIMARY KEY DEFAULT nextval('alert_events_seq'),
    alert_id  VARCHAR NOT NULL,
    action       VARCHAR NOT NULL,       -- raised, acknowledged, resolved, suppressed
    recorded_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Silence a series or a selector until a time (a NULL part matches anything).
CREATE TABLE alert_suppressions (
    suppression_id  VARCHAR PRIMARY KEY,
    kind            VARCHAR,
    model_name      VARCHAR,
    hardware        VARCHAR,
    batch_size      BIGINT,
    precision       VARCHAR,
    test_type       VARCHAR,
    metric          VARCHAR,
    test_name       VARCHAR,
    until           TIMESTAMPTZ NOT NULL,
    reason          VARCHAR,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by      VARCHAR
);

-- Each webhook delivery attempt (the URL's origin only: its path or query is often its secret).
CREATE SEQUENCE alert_deliveries_seq;
CREATE TABLE alert_deliveries (
    delivery_id  BIGINT PRIMARY KEY DEFAULT nextval('alert_deliveries_seq'),
    alert_id     VARCHAR NOT NULL,
    action       VARCHAR NOT NULL,
    webhook      INTEGER NOT NULL,       -- position in the alert_webhooks setting
    url          VARCHAR NOT NULL,
    attempt      INTEGER NOT NULL,
    status_code  INTEGER,
    error        VARCHAR,
    attempted_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX alert_deliveries_by_alert ON alert_deliveries (alert_id);
"""


def alert_tables():
    """Return the DDL of the alert tables every component's database has."""
    return _ALERTS


TEMPLATES = {"job_tables": job_tables, "alert_tables": alert_tables}


def expand_includes(sql):
    """Replace every ``-- @include`` line of a migration by the template's DDL."""

    def render(match):
        name, params = match.group(1), dict(p.split("=", 1) for p in match.group(2).split())
        if name not in TEMPLATES:
            raise IncludeError(f"unknown migration template {name!r}")
        try:
            return TEMPLATES[name](**params)
        except TypeError as exc:
            raise IncludeError(f"@include {name}: {exc}") from None

    return _INCLUDE.sub(render, sql)


# DuckLake (storage = ducklake) has no constraints, sequences, indexes or list defaults: the
# same migrations apply there with these taken out. Ids stay unique through the write path
# (core/data/lake.py: every write holds the catalog's write lock; child rows get their ids
# from it) and an item's hardware list defaults to [] in the write path too.
_LAKE_DROPPED = (
    re.compile(r"^\s*CREATE\s+SEQUENCE\b[^;]*;[ \t]*\n?", re.IGNORECASE | re.MULTILINE),
    re.compile(r"^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\b[^;]*;[ \t]*\n?", re.IGNORECASE | re.MULTILINE),
    re.compile(r"^\s*DROP\s+INDEX\b[^;]*;[ \t]*\n?", re.IGNORECASE | re.MULTILINE),
    re.compile(r"\s+PRIMARY\s+KEY\b", re.IGNORECASE),
    re.compile(r"\s+UNIQUE\b(?!\s*\()", re.IGNORECASE),
    re.compile(r"\s+DEFAULT\s+nextval\('[^']*'\)", re.IGNORECASE),
    re.compile(r"\s+DEFAULT\s+\[\s*\]", re.IGNORECASE),
)


def for_ducklake(sql):
    """Return a migration's SQL as DuckLake takes it: no keys, sequences, indexes (made or
    dropped) or list defaults (its recorded checksum stays that of the file's SQL)."""
    for pattern in _LAKE_DROPPED:
        sql = pattern.sub("", sql)
    return sql
