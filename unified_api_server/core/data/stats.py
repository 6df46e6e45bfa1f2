"""Statistics, performance reports and ranked search over a component's data (all of it)."""

from unified_api_server.core.component import ACTIVE_STATUSES, FINISHED_STATUSES
from unified_api_server.core.data.repository import rows_to_dicts

_FINISHED = ", ".join(f"'{s}'" for s in FINISHED_STATUSES)
_ACTIVE = ", ".join(f"'{s}'" for s in ACTIVE_STATUSES)


def aggregates(component):
    """Return the SELECT list of the shared statistics over rows aliased ``t``."""
    n = component.count_name
    parts = [f"count(*) AS {n()}"]
    parts += [f"count(*) FILTER (WHERE t.status = '{s}') AS {n(s)}" for s in FINISHED_STATUSES]
    parts += [
        f"count(*) FILTER (WHERE t.status IN ({_ACTIVE})) AS {n('running')}",
        "round(count(*) FILTER (WHERE t.status = 'completed') / "
        f"nullif(count(*) FILTER (WHERE t.status IN ({_FINISHED})), 0), 6) AS success_rate",
        "avg(t.duration) AS avg_duration",
        "min(t.duration) AS min_duration",
        "max(t.duration) AS max_duration",
        "quantile_cont(t.duration, [0.5, 0.95]) AS _duration_q",
        f"max(t.started_at) AS latest_{component.entity}",
    ]
    for index, (alias, expression) in enumerate(component.extra_aggregates):
        parts.append(f"{expression} AS {_list_alias(index) if isinstance(alias, tuple) else alias}")
    return ", ".join(parts)


def _list_alias(index):
    return f"_extra_{index}"


def _finish(component, rows):
    """Spread list-valued aggregates (quantile lists) over their named fields."""
    spread = [(("p50_duration", "p95_duration"), "_duration_q")]
    spread += [
        (alias, _list_alias(index))
        for index, (alias, _) in enumerate(component.extra_aggregates)
        if isinstance(alias, tuple)
    ]
    for row in rows:
        for names, source in spread:
            row.update(zip(names, row.pop(source) or [None] * len(names)))
    return rows


def _source(component, filters, *, per_device=False):
    """Return the FROM clause (aliased ``t``) with filters applied, unnested per device if asked."""
    if per_device and component.hardware_is_list:
        return (
            f"(SELECT t.* EXCLUDE (hardware), unnest(t.hardware) AS hardware "
            f"FROM {component.table} t {filters.where}) t"
        )
    return f"{component.table} t {filters.where}"


def grouped_stats(cursor, component, filters, key):
    """Return statistics grouped by ``key``, a column or a tuple of columns (hardware per device)."""
    keys = (key,) if isinstance(key, str) else tuple(key)
    source = _source(component, filters, per_device="hardware" in keys)
    columns = ", ".join(f"t.{k}" for k in keys)
    total = component.count_name()
    sql = (
        f"SELECT {columns}, {aggregates(component)} FROM {source} "
        f"GROUP BY {columns} ORDER BY {total} DESC, {columns}"
    )
    return _finish(component, rows_to_dicts(cursor.execute(sql, filters.params)))


def summary_stats(cursor, component, filters):
    """Return the shared statistics over every row matching ``filters``."""
    sql = f"SELECT {aggregates(component)} FROM {_source(component, filters)}"
    return _finish(component, rows_to_dicts(cursor.execute(sql, filters.params)))[0]


def daily_stats(cursor, component, filters):
    """Return per-day counts and mean duration, oldest first."""
    n = component.count_name
    sql = (
        f"SELECT strftime(date_trunc('day', t.started_at), '%Y-%m-%d') AS day, "
        f"count(*) AS {n()}, count(*) FILTER (WHERE t.status = 'completed') AS {n('completed')}, "
        f"count(*) FILTER (WHERE t.status = 'failed') AS {n('failed')}, "
        f"avg(t.duration) AS avg_duration FROM {component.table} t {filters.where} "
        "GROUP BY ALL ORDER BY day"
    )
    return rows_to_dicts(cursor.execute(sql, filters.params))


def metric_stats(cursor, component, filters):
    """Return count/mean/min/max per named metric over the matching items."""
    child = component.child_by_key.get("metrics")
    if child is None:
        return []
    sql = (
        f"SELECT m.name, m.unit, count(*) AS count, avg(m.value) AS mean, min(m.value) AS min, "
        f"max(m.value) AS max FROM {child.table} m JOIN {component.table} t "
        f"USING ({component.id_column}) {filters.where} GROUP BY ALL ORDER BY m.name, m.unit"
    )
    return rows_to_dicts(cursor.execute(sql, filters.params))


def _score(component, child_tags):
    """Return the SQL rank of a row against the lowered query, written ``$q`` in the SQL."""
    cases = []
    for column in component.columns:
        if not column.search:
            continue
        exact = 100 if column.name == "model_name" else 90
        partial = 20 if column.name == "model_name" else 10
        if column.kind == "str_list":
            cases.append(
                f"CASE WHEN list_contains(list_transform(t.{column.name}, lambda x: lower(x)), "
                f"$q) THEN {exact} WHEN contains(lower(array_to_string(t.{column.name}, "
                f"' ')), $q) THEN {partial} ELSE 0 END"
            )
        else:
            cases.append(
                f"CASE WHEN lower(t.{column.name}) = $q THEN {exact} "
                f"WHEN contains(lower(t.{column.name}), $q) THEN {partial} ELSE 0 END"
            )
    if child_tags is not None:
        cases.append(
            f"coalesce((SELECT max(CASE WHEN lower(g.name) = $q OR lower(g.value) = $q THEN 90 "
            f"WHEN contains(lower(g.name), $q) OR contains(lower(g.value), $q) THEN 10 ELSE 0 END) "
            f"FROM {child_tags.table} g WHERE g.{component.id_column} = t.{component.id_column}), 0)"
        )
    return f"greatest({', '.join(cases)})"


def search(cursor, repository, query, limit, filters):
    """Return items matching ``query``, exact matches ranked above partial ones."""
    component = repository.c
    score = _score(component, component.child_by_key.get("tags"))
    # Every CASE compares with the same lowered query: one positional parameter per use.
    uses = score.count("$q")
    score = score.replace("$q", "?")
    where = f"{filters.where} {'AND' if filters.clauses else 'WHERE'} score > 0"
    sql = (
        f"SELECT * FROM (SELECT {repository.select_list}, {score} AS score "
        f"FROM {component.table} t) t {where} "
        f"ORDER BY score DESC, t.started_at DESC, t.{component.id_column} LIMIT ?"
    )
    params = [query.lower()] * uses + list(filters.params) + [limit]
    rows = rows_to_dicts(cursor.execute(sql, params))
    return [repository.shape(r) for r in rows]
