"""The status JSON of a job or a group of jobs, as the original job API answered it.

A job's row is the component's ordinary main-table row (the database API serves it); what marks it
as a job of this component is the tag ``executor=job``. A group of jobs (a generator batch, a
benchmark run over several models) is an ordinary batch whose members are such rows.
"""

from datetime import UTC, datetime

from unified_api_server.core.component import ACTIVE_STATUSES, FINISHED_STATUSES

EXECUTOR_TAG = ("executor", "job")


def _seconds_since(started_at, until=None):
    if not started_at:
        return None
    start = datetime.fromisoformat(started_at)
    end = datetime.fromisoformat(until) if until else datetime.now(UTC)
    return round(max(0.0, (end - start).total_seconds()), 3)


def remaining(elapsed, progress, status):
    """Return ``elapsed / progress * (1 - progress)`` while running, 0 when finished, else None."""
    if status in FINISHED_STATUSES:
        return 0.0
    if elapsed is None or not progress or progress <= 0 or progress >= 1:
        return None
    return round(elapsed / progress * (1 - progress), 3)


def item_status(component, item):
    """Return the status JSON of one job row (the original's fields, plus what the row knows)."""
    progress = item.get("progress") or (1.0 if item["status"] == "completed" else 0.0)
    elapsed = _seconds_since(item.get("started_at"), item.get("completed_at"))
    body = {
        component.id_column: item[component.id_column],
        "status": item["status"],
        "progress": progress,
        "current_step": item.get("current_step"),
        "started_at": item.get("started_at"),
        "completed_at": item.get("completed_at"),
        "elapsed_time": elapsed,
        "estimated_remaining_time": remaining(elapsed, progress, item["status"]),
        "model_name": item.get("model_name"),
        "hardware": item.get("hardware"),
        "batch_id": item.get("batch_id"),
    }
    if item.get("error"):
        body["error"] = item["error"]
    if "results" in item:
        body["results"] = item["results"]
    return body


def group_state(statuses):
    """Return the status of a group from its members' statuses."""
    if any(s in ACTIVE_STATUSES for s in statuses):
        return "initializing" if all(s == "initializing" for s in statuses) else "running"
    for final in ("cancelled", "timeout"):
        if final in statuses:
            return final
    return "completed" if "completed" in statuses else "failed"


def group_status(component, batch_id, batch_started, members):
    """Return the status JSON of a group of jobs (``completed_models`` of ``total_models``)."""
    statuses = [m["status"] for m in members]
    status = group_state(statuses) if members else "failed"
    finished = [m for m in members if m["status"] in FINISHED_STATUSES]
    total = len(members)
    done = sum(
        1.0 if m["status"] in FINISHED_STATUSES else (m.get("progress") or 0.0) for m in members
    )
    progress = done / total if total else 0.0
    ends = [m.get("completed_at") for m in members]
    # A batch with no members (made through the database API) has no end and no progress.
    ended = max(ends) if ends and status in FINISHED_STATUSES and all(ends) else None
    elapsed = _seconds_since(batch_started, ended)
    running = [m for m in members if m["status"] == "running"]
    errors = [f"{m.get('model_name')}: {m['error']}" for m in members if m.get("error")]
    body = {
        component.id_column: batch_id,
        "batch_id": batch_id,
        "status": status,
        "progress": round(progress, 4),
        "current_step": running[0].get("current_step") if running else None,
        "started_at": batch_started,
        "completed_at": ended,
        "elapsed_time": elapsed,
        "estimated_remaining_time": remaining(elapsed, progress, status),
        "completed_models": len(finished),
        "total_models": total,
        "failed_models": sum(1 for m in members if m["status"] == "failed"),
        f"{component.entity}_ids": [m[component.id_column] for m in members],
    }
    if errors:
        body["error"] = "; ".join(errors)[:4000]
    return body
