"""The Test Suite's alert rule: a test newly failing in a finished run of its configuration.

One alert per test per configuration (model, hardware as a set, test type). A finished run
raises one for each test it fails that the configuration's previous finished run did not
(:func:`.analysis.newly_failing`), and resolves the open one of each test it passes.
"""

from unified_api_server.components.test import analysis
from unified_api_server.core.data.alert_queries import open_values
from unified_api_server.core.data.alerts import Finding

MAX_CONFIGURATIONS = 100  # configurations judged per write: a bulk load's latest runs of each
_LATEST = f"""
    SELECT arg_max(t.run_id, (t.started_at, t.run_id)), t.model_name,
        array_to_string(list_sort(t.hardware), ','), t.test_type
    FROM {analysis.RUNS} t WHERE t.run_id IN ({{ids}}) AND {analysis.FINISHED}
    GROUP BY t.model_name, list_sort(t.hardware), t.test_type LIMIT {MAX_CONFIGURATIONS}"""
_OUTCOMES = f"""
    SELECT name FROM {analysis.STEPS} WHERE run_id = ?
    GROUP BY name HAVING arg_max(status, id) IN {{statuses}}"""
_FAILED = _OUTCOMES.format(statuses=analysis.FAILURES) + " LIMIT 1"
_PASSED = _OUTCOMES.format(statuses="('passed')")


def test_failures(cursor, written):
    """Return the findings of a write: newly failing tests, and tests passing again."""
    if written.key not in (None, "steps"):
        return []
    if written.columns is not None and "status" not in written.columns:
        return []
    found = []
    rows = cursor.execute(_LATEST.format(ids=written.ids_sql), list(written.params)).fetchall()
    for run_id, model_name, hardware, test_type in rows:
        configuration = {"model_name": model_name, "hardware": hardware, "test_type": test_type}
        # Most runs fail nothing and mend nothing: two small queries, no comparison.
        if cursor.execute(_FAILED, [run_id]).fetchone():
            found += _newly_failing(cursor, run_id, configuration)
        failing = open_values(cursor, "test_failure", configuration, "test_name")
        if failing:
            passed = {name for (name,) in cursor.execute(_PASSED, [run_id]).fetchall()}
            for name in passed.intersection(failing):
                series = {**configuration, "test_name": name}
                found.append(Finding("test_failure", series, run_id, False))
    return found


def _newly_failing(cursor, run_id, configuration):
    found = []
    for test in analysis.newly_failing(cursor, run_id) or ():
        message = (
            f"test {test['name']} of {configuration['model_name']} "
            f"({configuration['hardware'] or 'no hardware'}, {configuration['test_type']}) newly "
            f"{test['contender']} in run {run_id} (it was {test['baseline'] or 'absent'} in run "
            f"{test['baseline_run_id']})"
        )
        series = {**configuration, "test_name": test["name"]}
        found.append(Finding("test_failure", series, run_id, True, message, test))
    return found
