"""The pages that change things: alerts (acknowledge, resolve, suppress) and jobs (start, watch).

Each form posts to ``/ui/...`` (CSRF-checked by the session layer) and needs the write scope of
the component concerned; the gateway then calls the component on the signed-in key's behalf, so
the alert records who acknowledged it, exactly as through the API.
"""

from datetime import UTC, datetime, timedelta

from flask import redirect, request, url_for

from unified_api_server.core.data.alert_queries import KINDS, STATES
from unified_api_server.gateway import sessions
from unified_api_server.gateway.ui import gather, jobforms
from unified_api_server.gateway.ui.site import bp, component_or_404, not_found, refuse, render

ACTIONS = ("acknowledge", "resolve", "suppress")
SELECTOR = ("kind", "model_name", "hardware", "batch_size", "precision", "test_type", "metric")
DONE = {"acknowledge": "acknowledged", "resolve": "resolved", "suppress": "suppressed"}


@bp.get("/alerts")
@sessions.require("read")
def alerts():
    """List alerts (open ones unless a state is chosen), with the forms the identity may use."""
    return _alerts_page()


def _alerts_page(problem=None, status=200):
    """Render the alerts page, saying ``problem`` if an action failed."""
    identity = sessions.current()
    shown, hidden = gather.readable(identity)
    state = request.args.get("state") or "active,acknowledged,suppressed"
    kind = request.args.get("kind") or None
    if not set(state.split(",")) <= set(STATES) or (kind and kind not in KINDS):
        state, kind = "active,acknowledged,suppressed", None
        problem, status = f"Unknown state or kind; the states are {', '.join(STATES)}.", 400
    model_name = request.args.get("model_name") or None
    calls = gather.alerts_calls(shown, state=state, kind=kind, model_name=model_name, limit=200)
    outcomes = gather.fetch(calls)
    failed = {c.name: gather.problem(outcomes[f"{c.name}.alerts"]) for c in shown}
    notice = None
    if request.args.get("done") in DONE.values():
        notice = f"Alert {request.args.get('alert', '')} {request.args['done']}."
    return render(
        "alerts.html.j2",
        status,
        hidden=hidden,
        title="Alerts",
        alerts=gather.merged_alerts(outcomes, shown),
        failed={k: v for k, v in failed.items() if v},
        writable=gather.writable(identity),
        states=STATES,
        kinds=KINDS,
        chosen={"state": state, "kind": kind or "", "model_name": model_name or ""},
        notice=notice,
        problem=problem,
    )


@bp.post("/alerts/<component>/<alert_id>/<action>")
@sessions.require("read")
def alert_action(component, alert_id, action):
    """Acknowledge, resolve or suppress one alert, then go back to the alerts page."""
    c = component_or_404(component)
    if c is None or action not in ACTIONS:
        return not_found(f"There is no alert action '{component}/{action}'.")
    identity = sessions.current()
    if not identity.allows(c.name, "write"):
        return refuse(f"{c.name}:write", f"To {action} a {c.title} alert")
    if action == "suppress":
        outcome = _suppress(c.name, alert_id, request.form, identity.name)
    else:
        path = gather.db(c.name, f"alert/{gather.part(alert_id)}/{action}")
        outcome = gather.fetch({"a": (c.name, path, "POST", None)}, identity.name)["a"]
    if not outcome.ok:
        status = outcome.status_code if outcome.status_code in (400, 404, 409) else 502
        return _alerts_page(
            problem=f"Could not {action} alert {alert_id}: {outcome.error}", status=status
        )
    done = url_for("ui.alerts", done=DONE[action], alert=alert_id, fresh=c.name)
    return redirect(done, 303)


def _suppress(component, alert_id, form, key_name):
    """Suppress the alert's series for the chosen hours; return the call's outcome."""
    found = gather.fetch(
        {"a": (component, gather.db(component, f"alert/{gather.part(alert_id)}"))}
    )["a"]
    if not found.ok:
        return found
    try:
        hours = min(max(int(form.get("hours", "24")), 1), 24 * 90)
    except ValueError:
        hours = 24
    until = (datetime.now(UTC) + timedelta(hours=hours)).isoformat()
    alert = found.body
    selector = {k: alert.get(k) for k in SELECTOR if alert.get(k) is not None}
    if alert.get("test_name"):
        selector["test_name"] = alert["test_name"]
    payload = {**selector, "until": until, "reason": form.get("reason") or f"from alert {alert_id}"}
    calls = {"s": (component, gather.db(component, "suppressions"), "POST", payload)}
    return gather.fetch(calls, key_name)["s"]


@bp.get("/jobs")
@sessions.require("read")
def jobs():
    """Offer a form per component that runs jobs, and list the jobs running now."""
    return _jobs_page()


def _jobs_page(problem=None, status=200, form=None):
    """Render the jobs page, saying ``problem`` and keeping ``form``'s values if a start failed."""
    identity = sessions.current()
    shown, hidden = gather.readable(identity)
    running = [c for c in shown if c.jobs is not None]
    calls = {
        c.name: (c.name, gather.db(c.name, c.entities, status__in="initializing,running", limit=10))
        for c in running
    }
    outcomes = gather.fetch(calls)
    active = {c.name: gather.body_of(outcomes[c.name], c.entities) for c in running}
    return render(
        "jobs.html.j2",
        status,
        hidden=hidden,
        title="Jobs",
        forms=jobforms.FORMS,
        writable=gather.writable(identity),
        active=active,
        problem=problem,
        form=form or {},
    )


@bp.post("/jobs/<component>")
@sessions.require("read")
def start_job(component):
    """Start a job of ``component`` from the form, then watch it on its own page."""
    spec = jobforms.FORMS.get(component)
    if spec is None:
        return not_found(f"'{component}' runs no jobs.")
    identity = sessions.current()
    if not identity.allows(component, "write"):
        return refuse(f"{component}:write", f"Starting a {component} job")
    payload, problem = jobforms.payload(component, request.form)
    if problem:
        return _jobs_page(problem=problem, status=400, form=request.form)
    path = f"/api/{component}{spec['path']}"
    outcome = gather.fetch({"j": (component, path, "POST", payload)}, identity.name)["j"]
    if not outcome.ok:
        return _jobs_page(
            problem=f"The job was not started: {outcome.error}", status=400, form=request.form
        )
    job_id = outcome.body.get("run_id") or outcome.body.get("task_id")
    return redirect(url_for("ui.job", component=component, job_id=job_id), 303)


@bp.get("/jobs/<component>/<job_id>")
@sessions.require("read")
def job(component, job_id):
    """Show one job's status; the page follows it live over the job's WebSocket."""
    if component not in jobforms.FORMS:
        return not_found(f"'{component}' runs no jobs.")
    if not sessions.current().allows(component, "read"):
        return refuse(f"{component}:read", "Watching this job")
    status_path = f"/api/{component}/status/{gather.part(job_id)}"
    outcome = gather.fetch({"s": (component, status_path)})["s"]
    if outcome.status_code == 404:
        return not_found(f"There is no {component} job {job_id}.")
    return render(
        "job.html.j2",
        title=f"Job {job_id}",
        component=component,
        job_id=job_id,
        job_status=outcome.body if outcome.ok else None,
        problem=gather.problem(outcome),
    )
