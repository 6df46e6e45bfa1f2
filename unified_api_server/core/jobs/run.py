"""Run one job: start its child, store each message it sends, and record how it ended.

Child messages, one JSON object per line: ``progress`` {progress, current_step}, ``step`` {name,
status, ...}, ``metrics`` {key?, metrics}, ``update`` {changes}, ``error``, ``result`` {changes?}.
Each becomes a write through the component's one write path, so the database API and the
change feed see every step whether or not anyone watches.
"""

import logging
import os
import time

from marshmallow import ValidationError

from unified_api_server.core.errors import ApiError
from unified_api_server.core.jobs.child import ChildProcess
from unified_api_server.core.schemas import ChildRows, flatten_groups

log = logging.getLogger(__name__)

_OWN_COLUMNS = ("status", "batch_id", "started_at", "model_name")  # set by the framework only


class JobRun:
    """Turns one job's child messages into writes, and its end into the final status."""

    def __init__(self, component, writes, jobs_dir):
        self.c = component
        self.writes = writes
        self.jobs_dir = jobs_dir
        self._child_rows = {child.key: ChildRows(child) for child in component.children}

    def run(self, spec):
        """Run ``spec``'s child to its end; return ``(status, error, changes)`` to record."""
        self._write(spec, self.writes.patch, {"status": "running", "current_step": "starting"})
        os.makedirs(self.jobs_dir, exist_ok=True)
        log_path = os.path.join(self.jobs_dir, f"{spec.item_id}.log")
        started = time.monotonic()
        child = spec.child = ChildProcess(spec.argv, cwd=spec.cwd, env=spec.env, log_path=log_path)
        log.info("job %s started pid %s: %s", spec.item_id, child.pid, " ".join(spec.argv[:6]))
        error, result, code = None, {}, None
        try:
            messages = child.messages(deadline=started + spec.timeout, stop=spec.cancelled.is_set)
            for message in messages:
                kind = message.get("type")
                if kind == "error":
                    error = str(message.get("message"))[:65536]
                elif kind == "result":
                    result = message
                else:
                    self._apply(spec, kind, message)
            if child.outcome == "eof":
                code = child.wait()
        finally:
            child.kill()  # whatever the child left running in its group goes too
            child.close()
        log.info(
            "job %s ended (%s) after %.1f s",
            spec.item_id,
            child.outcome,
            time.monotonic() - started,
        )
        return self._outcome(spec, child, code, error, result)

    @staticmethod
    def _outcome(spec, child, code, error, result):
        if child.outcome == "stopped":
            return "cancelled", "cancelled by request", None
        if child.outcome == "timeout":
            reason = f"timed out after {spec.timeout:g} s; the job's processes were killed"
            return "timeout", reason, None
        if code == 0 and error is None:
            return result.get("status") or "completed", result.get("error"), result.get("changes")
        reason = error or f"exited with code {code}: {child.output_tail(2000)}"
        return "failed", reason, result.get("changes")

    def _apply(self, spec, kind, message):
        """Store one child message: progress, a step, metrics or column updates."""
        if kind == "progress":
            changes = {k: message[k] for k in ("progress", "current_step") if k in message}
            if "progress" in changes:
                changes["progress"] = min(1.0, max(0.0, float(changes["progress"])))
            self._write(spec, self.writes.patch, changes)
        elif kind == "step":
            self._add(spec, "steps", [{k: v for k, v in message.items() if k != "type"}])
        elif kind == "metrics":
            self._add(spec, message.get("key", "metrics"), message.get("metrics") or {})
        elif kind == "update":
            self._write(spec, self.writes.patch, self.columns(message.get("changes")))

    def columns(self, changes):
        """Return the column changes a child may make (groups flattened, unknown names dropped)."""
        changes = flatten_groups(self.c, dict(changes or {}))
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
            rows = field_.deserialize(rows)
        except ValidationError as exc:
            log.warning("job %s: ignored invalid %s: %s", spec.item_id, key, exc.messages)
            return
        self._write(spec, lambda item_id, r: self.writes.add_children(item_id, key, r), rows)

    @staticmethod
    def _write(spec, method, *args):
        if not args[0]:
            return
        try:
            method(spec.item_id, *args)
        except ApiError as exc:
            if exc.status in (404, 409):  # the row was deleted or finished through the API
                log.warning("job %s: %s; stopping it", spec.item_id, exc.message)
                spec.cancelled.set()
                return
            raise
