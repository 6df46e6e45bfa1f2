"""Statistics, performance reports and ranked search over a component's data (all of it)."""

from unified_api_server.core.component import ACTIVE_STATUSES, FINISHED_STATUSES
from unified_api_server.core.data.export import iso_text
from unified_api_server.core.data.reads import rows_to_dicts

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


def _shaped(component, sql):
    """Return ``sql`` with its answer shaped in SQL, so rows reach Python ready for JSON.

    List-valued aggregates (quantile lists) are spread over their named fields, after the
    others; the latest start is ISO 8601 text as ``to_json_value`` writes it (times are UTC in
    every session): building datetimes in Python costs more than the query for many groups.
    """
    spread = [(("p50_duration", "p95_duration"), "_duration_q")]
    spread += [
        (alias, _list_alias(index))
        for index, (alias, _) in enumerate(component.extra_aggregates)
        if isinstance(alias, tuple)
    ]
    lists = ", ".join(source for _, source in spread)
    fields = ", ".join(
        f"{source}[{position}] AS {name}"
        for names, source in spread
        for position, name in enumerate(names, 1)
    )
    latest = f"latest_{component.entity}"
    iso = iso_text(latest)
    return f"SELECT * EXCLUDE ({lists}) REPLACE ({iso} AS {latest}), {fields} FROM ({sql}) t"


def _source(component, where, *, per_device=False):
    """Return the FROM clause (aliased ``t``) with filters applied, unnested per device if asked."""
    if per_device and component.hardware_is_list:
        return (
            f"(SELECT t.* EXCLUDE (hardware), unnest(t.hardware) AS hardware "
            f"FROM {component.table} t {where}) t"
        )
    return f"{component.table} t {where}"


def _keys(key):
    return (key,) if isinstance(key, str) else tuple(key)


def stats_sql(component, query, key, *, summary=False):
    """Return ``(sql, params)`` of the statistics per ``key``; with ``summary``, one more row
    over every matching row comes first, marked ``_summary``, from the same statement."""
    keys = _keys(key)
    if summary and "hardware" in keys:
        raise ValueError("a summary counts items, not the devices hardware statistics count")
    where, params = query.where(component)
    source = _source(component, where, per_device="hardware" in keys)
    columns = ", ".join(f"t.{k}" for k in keys)
    order = f"{component.count_name()} DESC, {', '.join(keys)}"
    select = f"SELECT {columns}, {aggregates(component)}"
    if not summary:
        sql = f"{select} FROM {source} GROUP BY {columns}"
    else:
        # UNION ALL, not GROUPING SETS: its ungrouped aggregate adds in the order the summary
        # query always did (GROUPING SETS' averages differed in the last digit), and ran faster.
        empty = ", ".join(f"NULL AS {k}" for k in keys)
        sql = (
            f"{select}, false AS _summary FROM {source} GROUP BY {columns} UNION ALL "
            f"SELECT {empty}, {aggregates(component)}, true FROM {source}"
        )
        params, order = [*params, *params], f"_summary DESC, {order}"
    return f"{_shaped(component, sql)} ORDER BY {order}", params


def grouped_stats(cursor, component, query, key):
    """Return statistics grouped by ``key`` (a column or a tuple of them), hardware per device."""
    return rows_to_dicts(cursor.execute(*stats_sql(component, query, key)))


def stats_with_summary(cursor, component, query, key):
    """Return ``(groups, summary)``: the statistics per ``key`` and over every matching row."""
    rows = rows_to_dicts(cursor.execute(*stats_sql(component, query, key, summary=True)))
    summary = rows.pop(0)  # an ungrouped aggregate yields its row even over no rows
    for name in (*_keys(key), "_summary"):
        del summary[name]
    for row in rows:
        del row["_summary"]
    return rows, summary


def daily_stats(cursor, component, query):
    """Return per-day counts and mean duration, oldest first."""
    n = component.count_name
    where, params = query.where(component)
    sql = (
        f"SELECT strftime(date_trunc('day', t.started_at), '%Y-%m-%d') AS day, "
        f"count(*) AS {n()}, count(*) FILTER (WHERE t.status = 'completed') AS {n('completed')}, "
        f"count(*) FILTER (WHERE t.status = 'failed') AS {n('failed')}, "
        f"avg(t.duration) AS avg_duration FROM {component.table} t {where} "
        "GROUP BY ALL ORDER BY day"
    )
    return rows_to_dicts(cursor.execute(sql, params))


def metric_stats(cursor, component, query):
    """Return count/mean/min/max per named metric over the matching items."""
    child = component.child_by_key.get("metrics")
    if child is None:
        return []
    where, params = query.where(component)
    sql = (
        f"SELECT m.name, m.unit, count(*) AS count, avg(m.value) AS mean, min(m.value) AS min, "
        f"max(m.value) AS max FROM {child.table} m JOIN {component.table} t "
        f"USING ({component.id_column}) {where} GROUP BY ALL ORDER BY m.name, m.unit"
    )
    return rows_to_dicts(cursor.execute(sql, params))


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
            f"FROM {child_tags.table} g "
            f"WHERE g.{component.id_column} = t.{component.id_column}), 0)"
        )
    return f"greatest({', '.join(cases)})"


def search(cursor, reads, text, limit, query, ranked=True):
    """Return items matching the search ``text``: best matches first, or in the query's order."""
    component = reads.c
    score = _score(component, component.child_by_key.get("tags"))
    # Every CASE compares with the same lowered text: one positional parameter per use.
    uses = score.count("$q")
    score = score.replace("$q", "?")
    where, params = query.where(component, and_also=[("score > 0", [])])
    order = (
        f"ORDER BY score DESC, t.started_at DESC, t.{component.id_column}"
        if ranked
        else query.order_by(component)
    )
    sql = (
        f"SELECT * FROM (SELECT {reads.select_list}, {score} AS score "
        f"FROM {component.table} t) t {where} {order} LIMIT ?"
    )
    rows = rows_to_dicts(cursor.execute(sql, [text.lower()] * uses + params + [limit]))
    return [reads.shape(r) for r in rows]
