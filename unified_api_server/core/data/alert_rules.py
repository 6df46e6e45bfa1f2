"""The alert rule every component with jobs has: a model's failure rate over its last jobs.

A rule is ``rule(cursor, written) -> [Finding, ...]``, called inside a write's transaction
with what it stored (``core.data.written.Written``). A component adds its own rules
(``Component.alert_rules``: a regression, a newly failing test).
"""

from unified_api_server.core.data.alerts import Alerts, Finding
from unified_api_server.core.settings import Setting
from unified_api_server.core.webhooks import Webhooks

SETTINGS = (
    Setting(
        "alert_failure_rate",
        float,
        0.5,
        "alert when more than this share of a model's last finished jobs failed (0..1)",
        minimum=0,
        maximum=1,
    ),
    Setting(
        "alert_failure_window",
        int,
        20,
        "finished jobs of a model the failure rate is taken over",
        minimum=1,
        maximum=10000,
    ),
    Setting(
        "alert_failure_min_jobs",
        int,
        5,
        "fewest finished jobs of a model before its failure rate is judged",
        minimum=1,
    ),
)
FAILED = ("failed", "timeout")
# Cancelled jobs were stopped by someone: they neither fail nor succeed.
COUNTED = ("completed", *FAILED)


def job_failure_rate(component, window, threshold, min_jobs):
    """Return the rule: failed/total over a model's last ``window`` finished jobs > threshold.

    It looks only at the models a write stored or whose status it changed; a model with fewer
    than ``min_jobs`` finished jobs is not judged. The alert resolves when the rate drops to
    the threshold or below.
    """
    table, id_column = component.table, component.id_column
    counted = ", ".join(f"'{s}'" for s in COUNTED)
    failed = ", ".join(f"'{s}'" for s in FAILED)
    # arg_max(x, key, n): a model's latest n statuses without sorting all its jobs.
    sql = f"""
        WITH models AS (
            SELECT model_name, arg_max({id_column}, started_at) AS latest FROM {table}
            WHERE {id_column} IN ({{ids}}) GROUP BY model_name)
        SELECT m.model_name, m.latest, list_count(r.statuses),
            len(list_filter(r.statuses, lambda s: s IN ({failed})))
        FROM models m JOIN (
            SELECT t.model_name, arg_max(t.status, coalesce(t.completed_at, t.started_at), ?)
                AS statuses
            FROM {table} t SEMI JOIN models m ON t.model_name = m.model_name
            WHERE t.status IN ({counted}) GROUP BY t.model_name) r USING (model_name)"""

    def rule(cursor, written):
        if written.key is not None or (
            written.columns is not None and "status" not in written.columns
        ):
            return []
        rows = cursor.execute(sql.format(ids=written.ids_sql), [*written.params, window]).fetchall()
        return [_finding(row, window, threshold, min_jobs, component) for row in rows]

    return rule


def _finding(row, window, threshold, min_jobs, component):
    model_name, latest, total, failed = row
    rate = failed / total if total else 0.0
    firing = total >= min_jobs and rate > threshold
    message = (
        f"{component.name}: {failed} of the last {total} finished {component.entities} of "
        f"{model_name} failed ({rate:.0%}, threshold {threshold:.0%})"
    )
    details = {"failed": failed, "total": total, "rate": rate, "threshold": threshold}
    details["window"] = window
    return Finding("job_failure_rate", {"model_name": model_name}, latest, firing, message, details)


def component_alerts(component, database, changes, settings):
    """Return the component's :class:`Alerts`: its rules, the feed and the webhooks."""
    rules = ()
    if component.jobs is not None:
        rules = (
            job_failure_rate(
                component,
                settings["alert_failure_window"],
                settings["alert_failure_rate"],
                settings["alert_failure_min_jobs"],
            ),
        )
    alerts = Alerts(component, database, changes, rules=rules)
    alerts.webhooks = Webhooks(settings, alerts.log_delivery)
    return alerts
