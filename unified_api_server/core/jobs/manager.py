"""Jobs: real work in child processes, run by a bounded pool, every change stored as it happens.

A job is one row of the component's main table (status, progress, current step, error, results)
plus its steps and metrics; a group is a batch of such rows run one after another. ``submit``
stores the rows at once (``initializing``); a pool thread then marks a job ``running``, starts its
child process (:mod:`unified_api_server.core.jobs.child`) and turns each message of the child into a repository
write, so the database API and the change feed see every step whether or not anyone watches.
Cancel and timeout kill the child's whole process group; the job ends ``cancelled`` or ``timeout``.
Jobs left active by a component that stopped are marked failed when it starts again.

Child messages, one JSON object per line: ``progress`` {progress, current_step}, ``step`` {name,
status, ...}, ``metrics`` {key?, metrics}, ``update`` {changes}, ``error``, ``result`` {changes?}.
"""

import logging
import os
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from marshmallow import ValidationError

from unified_api_server.core.config import Setting
from unified_api_server.core.errors import ApiError
from unified_api_server.core.jobs import status as jobstore
from unified_api_server.core.jobs.child import ChildProcess
from unified_api_server.core.web.schemas import ChildRows, flatten_groups

log = logging.getLogger(__name__)

RESTARTED = "component restarted while the job was running"
STOPPED = "component stopped while the job was running"
_OWN_COLUMNS = ("status", "batch_id", "started_at", "model_name")  # set by the framework only

SETTINGS = (
    Setting("job_workers", int, 2, "jobs run at the same time", minimum=1, maximum=32),
    Setting("job_queue", int, 100, "jobs waiting for a worker before submits get 503", minimum=1),
    Setting("jobs_dir", str, "", "folder of job logs (default: jobs/ beside the database)"),
)


@dataclass
class JobSpec:
    """One job: the row to store, the child process to run and how long it may take."""

    row: dict
    argv: list
    timeout: float
    env: dict = field(default_factory=dict)
    cwd: str | None = None
    item_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: str = "queued"  # queued -> running -> done
    cancelled: threading.Event = field(default_factory=threading.Event)
    child: ChildProcess | None = None
    ended: bool = False  # its final status is written (by its thread, a cancel or shutdown)


class JobManager:
    """Runs one component's jobs on ``workers`` threads; one per process, made by the app."""

    def __init__(self, component, database, repository, settings):
        self.c = component
        self.db = database
        self.repository = repository
        self.jobs_dir = os.path.join(
            jobstore.data_folder(settings, "jobs_dir", "jobs"), component.name
        )
        self._queue = queue.Queue(maxsize=settings["job_queue"])
        self._jobs = {}  # item id or group id -> list of JobSpec
        self._lock = threading.Lock()
        self._child_rows = {child.key: ChildRows(child) for child in component.children}
        self._closed = False
        self._workers = settings["job_workers"]  # threads start with the first job

    # -- submitting -----------------------------------------------------------------------------
    def submit(self, specs, group_id=None, group=None):
        """Store the rows of ``specs`` (as a batch when ``group_id``) and queue them; return ids."""
        if self._queue.full():
            raise ApiError(
                503, "too many jobs are waiting; try again later", headers={"Retry-After": "5"}
            )
        with self._lock:
            while self._workers:
                self._workers -= 1
                threading.Thread(
                    target=self._work, name=f"{self.c.name}-job-{self._workers}", daemon=True
                ).start()
        now = datetime.now(UTC)
        if group_id:
            self.repository.create_batch({"batch_id": group_id, **(group or {})})
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
                    dict(zip(("name", "value"), jobstore.EXECUTOR_TAG)),
                ],
            }
            if group_id:
                row["batch_id"] = group_id
            self.repository.create(row)
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
            raise ApiError(
                503, "too many jobs are waiting; try again later", headers={"Retry-After": "5"}
            ) from None
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
                try:
                    self._run(spec)
                except Exception:
                    log.exception("job %s failed unexpectedly", spec.item_id)
                    self._finish(spec, "failed", "internal error while running the job")
                finally:
                    with self._lock:
                        spec.state = "done"

    def _run(self, spec):
        self._write(
            spec,
            self.repository.patch,
            spec.item_id,
            {"status": "running", "current_step": "starting"},
        )
        os.makedirs(self.jobs_dir, exist_ok=True)
        log_path = os.path.join(self.jobs_dir, f"{spec.item_id}.log")
        started = time.monotonic()
        child = spec.child = ChildProcess(spec.argv, cwd=spec.cwd, env=spec.env, log_path=log_path)
        log.info("job %s started pid %s: %s", spec.item_id, child.pid, " ".join(spec.argv[:6]))
        error, result = None, None
        try:
            for message in child.messages(
                deadline=started + spec.timeout, stop=spec.cancelled.is_set
            ):
                kind = message.get("type")
                if kind == "error":
                    error = str(message.get("message"))[:65536]
                elif kind == "result":
                    result = message
                else:
                    self._apply(spec, kind, message)
            if child.outcome == "eof":
                code = child.wait()
            else:
                child.kill()
                code = None
        finally:
            child.kill()  # whatever the child left running in its group goes too
            child.close()
        if child.outcome == "stopped":
            self._finish(spec, "cancelled", "cancelled by request")
        elif child.outcome == "timeout":
            self._finish(
                spec,
                "timeout",
                f"timed out after {spec.timeout:g} s; the job's processes were killed",
            )
        elif code == 0 and error is None:
            result = result or {}
            self._finish(
                spec,
                result.get("status") or "completed",
                result.get("error"),
                result.get("changes"),
            )
        else:
            reason = error or f"exited with code {code}: {child.output_tail(2000)}"
            self._finish(spec, "failed", reason, (result or {}).get("changes"))
        log.info(
            "job %s ended (%s) after %.1f s",
            spec.item_id,
            child.outcome,
            time.monotonic() - started,
        )

    def _apply(self, spec, kind, message):
        """Store one child message: progress, a step, metrics or column updates."""
        if kind == "progress":
            changes = {k: message[k] for k in ("progress", "current_step") if k in message}
            if "progress" in changes:
                changes["progress"] = min(1.0, max(0.0, float(changes["progress"])))
            self._write(spec, self.repository.patch, spec.item_id, changes)
        elif kind == "step":
            self._add(spec, "steps", [{k: v for k, v in message.items() if k != "type"}])
        elif kind == "metrics":
            self._add(spec, message.get("key", "metrics"), message.get("metrics") or {})
        elif kind == "update":
            self._write(spec, self.repository.patch, spec.item_id, self._columns(message))

    def _columns(self, message):
        """Return the column changes of a child message (groups flattened, unknown names dropped)."""
        changes = flatten_groups(self.c, dict(message.get("changes") or {}))
        return {
            name: value
            for name, value in changes.items()
            if name in self.c.column_by_name and name not in _OWN_COLUMNS
        }

    def _add(self, spec, key, rows):
        field_ = self._child_rows.get(key)
        if field_ is None or not rows:
            return
        try:
            self._write(
                spec, self.repository.add_children, spec.item_id, key, field_.deserialize(rows)
            )
        except ValidationError as exc:
            log.warning("job %s: ignored invalid %s: %s", spec.item_id, key, exc.messages)

    def _write(self, spec, method, *args):
        try:
            method(*args)
        except ApiError as exc:
            if exc.status in (404, 409):  # the row was deleted or finished through the API
                log.warning("job %s: %s; stopping it", spec.item_id, exc.message)
                spec.cancelled.set()
                return
            raise

    def _finish(self, spec, status, error=None, changes=None):
        with self._lock:
            if spec.ended:
                return
            spec.ended = True
        self._record_end(spec, status, error, changes)

    def _record_end(self, spec, status, error=None, changes=None):
        final = {
            **self._columns({"changes": changes or {}}),
            "status": status,
            "current_step": status,
        }
        if error:
            final["error"] = str(error)[:65536]
        try:
            self.repository.patch(spec.item_id, final)
        except ApiError as exc:
            log.warning("job %s: its end (%s) not recorded: %s", spec.item_id, status, exc.message)

    # -- start and stop -------------------------------------------------------------------------
    def recover(self, reason=RESTARTED):
        """Mark failed every job of this component left initializing or running; return ids."""
        stale = jobstore.active_job_ids(self.db, self.c)
        for item_id in stale:
            try:
                self.repository.patch(
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
    def status(self, cursor, job_id):
        """Return the status JSON of a job or a group, or None when the id is unknown."""
        item = self.repository.get(cursor, job_id, children=False)
        if item is not None:
            return jobstore.item_status(self.c, item)
        members = jobstore.group_members(self.repository, cursor, job_id)
        if members is None:
            return None
        batch = self.repository.get_batch(cursor, job_id)
        return jobstore.group_status(self.c, job_id, batch.get("created_at"), members)

    def require_status(self, cursor, job_id):
        """Return the status JSON of a job or a group, or raise 404."""
        body = self.status(cursor, job_id)
        if body is None:
            raise ApiError(404, f"no {self.c.entity} or batch {job_id!r}")
        return body
