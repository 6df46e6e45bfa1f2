"""One run (or task), one batch, and the compare page: two runs or batches, or two devices."""

from flask import request

from unified_api_server.gateway import sessions
from unified_api_server.gateway.ui import gather
from unified_api_server.gateway.ui.site import bp, component_or_404, not_found, refuse, render

MEMBERS = 100
COMPARABLE = ("benchmark", "test")
TEST_CATEGORIES = ("newly_failing", "newly_passing", "still_failing", "appeared", "disappeared")


def _readable(component):
    """Return ``(component, refusal)``: the component, or the page answering instead."""
    c = component_or_404(component)
    if c is None:
        return None, not_found(f"There is no component named '{component}'.")
    if not sessions.current().allows(c.name, "read"):
        return None, refuse(f"{c.name}:read", f"Reading {c.title} data")
    return c, None


def _one(component, path, what):
    """Fetch one item; return ``(body, page)``: the page says why there is no body."""
    outcome = gather.fetch({"item": (component, path)})["item"]
    if outcome.ok:
        return outcome.body, None
    if outcome.status_code == 404:
        return None, not_found(f"{what} was not found.")
    return None, render("error.html.j2", 502, title="Unavailable", message=gather.problem(outcome))


@bp.get("/run/<component>/<item_id>")
@sessions.require("read")
def run(component, item_id):
    """Show one run or task: its figures, results, steps, metrics, tags and verdicts."""
    c, page = _readable(component)
    if page:
        return page
    item, page = _one(c.name, gather.item_path(c.name, item_id), f"{c.title} {c.entity} {item_id}")
    if page:
        return page
    return render(
        "run.html.j2",
        title=f"{c.entity.title()} {item_id}",
        component=c.name,
        entity=c.entity,
        item=item,
        item_id=item_id,
        live_filter={"id": item_id},
    )


@bp.get("/batch/<component>/<batch_id>")
@sessions.require("read")
def batch(component, batch_id):
    """Show one batch: its counts and its members, newest first."""
    c, page = _readable(component)
    if page:
        return page
    path = gather.db(c.name, f"batch/{gather.part(batch_id)}", limit=MEMBERS)
    item, page = _one(c.name, path, f"{c.title} batch {batch_id}")
    if page:
        return page
    return render(
        "batch.html.j2",
        title=f"Batch {item.get('name') or batch_id}",
        component=c.name,
        entity=c.entity,
        batch=item,
        members=item.get(c.entities) or [],
        live_filter={"id": batch_id},
    )


def _compare_query(args):
    """Return ``(component, query, problem)`` for the compare form's fields."""
    component = args.get("component") or "benchmark"
    if component not in COMPARABLE:
        return component, None, f"Only {' and '.join(COMPARABLE)} results can be compared."
    baseline, contender = args.get("baseline", "").strip(), args.get("contender", "").strip()
    if baseline and contender:
        return component, {"baseline": baseline, "contender": contender}, None
    model_name = args.get("model_name", "").strip()
    varied = args.get("varied") or "hardware"
    sides = [args.get("a", "").strip(), args.get("b", "").strip()]
    if (
        component == "benchmark"
        and model_name
        and all(sides)
        and varied in ("hardware", "precision")
    ):
        return component, {"model_name": model_name, varied: ",".join(sides)}, None
    if any((baseline, contender, model_name, *sides)):
        return component, None, "Give a baseline and a contender, or a model and two devices."
    return component, None, None


@bp.get("/compare")
@sessions.require("read")
def compare():
    """Compare two runs or batches, or one model on two devices or precisions, side by side."""
    component, query, problem = _compare_query(request.args)
    answer, status = None, 400 if problem else 200
    if query is not None:
        if not sessions.current().allows(component, "read"):
            return refuse(f"{component}:read", "Comparing these results")
        outcome = gather.fetch({"c": (component, gather.db(component, "compare", **query))})["c"]
        answer, problem = (outcome.body, None) if outcome.ok else (None, gather.problem(outcome))
        if not outcome.ok:
            status = outcome.status_code if outcome.status_code in (400, 404) else 502
    return render(
        "compare.html.j2",
        status,
        title="Compare",
        component=component,
        form=request.args,
        query=query,
        answer=answer,
        problem=problem,
        categories=TEST_CATEGORIES,
    )
