"""What a test's pytest reports (setup, call, teardown) say about it, folded into one step.

The Test Suite's job runner and the pytest plugin both record tests this way, so a test reads
the same whichever stored it. Standard library only: the plugin loads it into every session.
"""

RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}  # the worst phase decides
MAX_MESSAGE = 4000  # the tail of a traceback that a step keeps


def phase_status(report):
    """Return what one phase's report says of its test: passed, failed, skipped or error."""
    if report.skipped:
        return "skipped"
    if report.failed:
        return "failed" if report.when == "call" else "error"
    return "passed"


def phase_message(report):
    """Return a skip's reason, or the tail of a failure's report (its last lines say why)."""
    longrepr = report.longrepr
    if longrepr is None:
        return None
    if isinstance(longrepr, tuple):  # a skip: (path, line, reason)
        return str(longrepr[2]).removeprefix("Skipped: ")
    return report.longreprtext[-MAX_MESSAGE:]


def fold(step, report):
    """Fold one phase's report into ``step``: its duration adds up, the worst status wins."""
    step["duration"] = step.get("duration", 0.0) + (report.duration or 0.0)
    status = phase_status(report)
    if step.get("status") is None or RANK[status] > RANK[step["status"]]:
        step["status"] = status
        step["message"] = phase_message(report)
    return step
