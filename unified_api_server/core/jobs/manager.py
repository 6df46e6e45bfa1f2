"""Jobs: real work in child processes, run by a bounded pool, every change stored as it happens.

A job is one row of the component's main table (status, progress, current step, error, results)
plus its steps and metrics; a group is a batch of such rows run one after another. ``submit``
stores the rows at once (``initializing``); a pool thread then runs each job
(:class:`~unified_api_server.core.jobs.run.JobRun`). Cancel and timeout kill the child's whole
process group; the job ends ``cancelled`` or ``timeout``. Jobs left active by a component that
stopped are marked failed when it starts again.
"""

import logging
import os
import queue
import threading
import time
from datetime import UTC, datetime

from unified_api_server.core.component import ACTIVE_STATUSES
from unified_api_server.core.errors import ApiError
from unified_api_server.core.jobs.run import JobRun
from unified_api_server.core.jobs.status import EXECUTOR_TAG, group_status, item_status
from unified_api_server.core.metrics import job_finished
from unified_api_server.core.settings import Setting

log = logging.getLogger(__name__)

OWNER_TAG = "executor_owner"  # which process runs a job, where several share the tables
RESTARTED = "component restarted while the job was running"
STOPPED = "component stopped while the job was running"

SETTINGS = (
    Setting("job_workers", int, 2, "jobs run at the same time", minimum=1, maximum=32),
    Setting("job_queue", int, 100, "jobs waiting for a worker before submits get 503", minimum=1),
    Setting("jobs_dir", str, "", "folder of job logs (default: jobs/ beside the database)"),
)


def data_folder(settings, setting, default_name):
    """Return ``settings[setting]``, or ``default_name`` beside the database file when empty."""
    if settings.get(setting):
        return os.path.abspath(settings[setting])
    return os.path.join(os.path.dirname(os.path.abspath(settings["db_path"])), default_name)


def _busy():
    return ApiError(503, "too many jobs are waiting; try again later", headers={"Retry-After": "5"})


class JobManager:
    """Runs one component's jobs on ``workers`` threads; one per process, made by the app."""

    def __init__(self, component, database, reads, writes, settings):
        self.c = component
        self.db = database
        self.reads = reads
        self.writes = writes
        self.jobs_dir = os.path.join(data_folder(settings, "jobs_dir", "jobs"), component.name)
        self.runner = JobRun(component, writes, self.jobs_dir)
        self._queue = queue.Queue(maxsize=settings["job_queue"])
        self._jobs = {}  # item id or group id -> list of JobSpec
        self._lock = threading.Lock()
        self._closed = False
        self._workers = settings["job_workers"]  # threads start with the first job

    # -- submitting -----------------------------------------------------------------------------
    def submit(self, specs, group_id=None, group=None):
        """Store the rows of ``specs`` (as a batch when ``group_id``) and queue them; return ids."""
        if self._queue.full():
            raise _busy()
        with self._lock:
            while self._workers:
                self._workers -= 1
                threading.Thread(
                    target=self._work, name=f"{self.c.name}-job-{self._workers}", daemon=True
                ).start()
        now = datetime.now(UTC)
        rows = []
        owner = [] if self.db.owner is None else [{"name": OWNER_TAG, "value": self.db.owner}]
        for spec in specs:
            row = {
                **spec.row,
                self.c.id_column: spec.item_id,
                "status": "initializing",
                "progress": 0.0,
                "current_step": "queued",
                "started_at": now,
                "tags": [
                    *spec.row.get("tags", ()),
                    dict(zip(("name", "value"), EXECUTOR_TAG)),
                    *owner,
                ],
            }
            if group_id:
                row["batch_id"] = group_id
            rows.append(row)
        batch = {"batch_id": group_id, **(group or {})} if group_id else None
        self.writes.create_many(rows, batch=batch, path="job")  # the group and its jobs, at once
        with self._lock:
            if len(self._jobs) > 1000:  # forget finished jobs: their rows say everything
                self._jobs = {
                    k: v for k, v in self._jobs.items() if any(spec.state != "done" for spec in v)
                }
            for spec in specs:
                self._jobs[spec.item_id] = [spec]
            if group_id:
                self._jobs[group_id] = list(specs)
        try:
            self._queue.put_nowait(list(specs))
        except queue.Full:  # filled up since the check above: the rows exist, so end them
            for spec in specs:
                spec.state = "done"
                self._finish(spec, "failed", "too many jobs were waiting")
            raise _busy() from None
        return [spec.item_id for spec in specs]

    def cancel(self, job_id):
        """Cancel a job or a group: stop what runs, mark what waits; return the ids affected."""
        with self._lock:
            specs = list(self._jobs.get(job_id, ()))
        if not specs:
            return []
        affected = []
        for spec in specs:
            with self._lock:
                if spec.state == "done":
                    continue
                queued = spec.state == "queued"
                spec.state = "done" if queued else spec.state
                spec.cancelled.set()
            if queued:
                self._finish(spec, "cancelled", "cancelled before it started")
            affected.append(spec.item_id)
        return affected

    # -- running --------------------------------------------------------------------------------
    def _work(self):
        while True:
            specs = self._queue.get()
            for spec in specs:
                with self._lock:
                    if spec.state != "queued":
                        continue
                    spec.state = "running"
                    spec.started = time.monotonic()
                try:
                    self._finish(spec, *self.runner.run(spec))
                except Exception:
                    log.exception("job %s failed unexpectedly", spec.item_id)
                    self._finish(spec, "failed", "internal error while running the job")
                finally:
                    with self._lock:
                        spec.state = "done"

    def _finish(self, spec, status, error=None, changes=None):
        with self._lock:
            if spec.ended:
                return
            spec.ended = True
        job_finished(self.c.name, status, spec.started)
        self._record_end(spec, status, error, changes)

    def _record_end(self, spec, status, error=None, changes=None):
        final = {**self.runner.columns(changes), "status": status, "current_step": status}
        if error:
            final["error"] = str(error)[:65536]
        try:
            self.writes.patch(spec.item_id, final)
        except ApiError as exc:
            log.warning("job %s: its end (%s) not recorded: %s", spec.item_id, status, exc.message)

    # -- start and stop -------------------------------------------------------------------------
    def recover(self, reason=RESTARTED):
        """Mark failed every job of this component left initializing or running; return ids."""
        cursor = self.db.cursor()
        try:
            stale = self.reads.ids_tagged(cursor, EXECUTOR_TAG, ACTIVE_STATUSES)
            owners = self.reads.tag_values(cursor, OWNER_TAG, stale)
        finally:
            cursor.close()
        # Replicas on one DuckLake: another live process's jobs are its own, not left over.
        stale = [item_id for item_id in stale if self.db.orphaned(owners.get(item_id))]
        for item_id in stale:
            try:
                self.writes.patch(
                    item_id, {"status": "failed", "error": reason, "current_step": "failed"}
                )
            except ApiError:
                pass
        if stale:
            log.warning("marked %d unfinished job(s) failed: %s", len(stale), reason)
        return stale

    def shutdown(self, reason=STOPPED):
        """Kill every running child and mark unfinished jobs failed (at process exit)."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            specs = {id(s): s for group in self._jobs.values() for s in group}.values()
            pending = [s for s in specs if not s.ended]
            for spec in pending:  # claimed here: a job thread must not race this last write
                spec.state, spec.ended = "done", True
        for spec in pending:
            if spec.child is not None:
                spec.child.kill()
            self._record_end(spec, "failed", reason)

    # -- reading --------------------------------------------------------------------------------
    def counts(self):
        """Return how many of this process's jobs are ``queued`` and ``running`` now."""
        with self._lock:
            specs = {id(s): s for group in self._jobs.values() for s in group}.values()
            states = [spec.state for spec in specs if not spec.ended]
        return {state: states.count(state) for state in ("queued", "running")}

    def status(self, cursor, job_id):
        """Return the status JSON of a job or a group, or None when the id is unknown."""
        item = self.reads.get(cursor, job_id, children=False)
        if item is not None:
            return item_status(self.c, item)
        members = self.reads.batch_members(cursor, job_id)
        if members is None:
            return None
        batch = self.reads.get_batch(cursor, job_id)
        return group_status(self.c, job_id, batch.get("created_at"), members)

    def require_status(self, cursor, job_id):
        """Return the status JSON of a job or a group, or raise 404."""
        body = self.status(cursor, job_id)
        if body is None:
            raise ApiError(404, f"no {self.c.entity} or batch {job_id!r}")
        return body
