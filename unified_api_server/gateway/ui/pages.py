"""The overview (health, counts, recent activity, open alerts) and the cross-component search."""

from flask import redirect, request, url_for

from unified_api_server.gateway import sessions
from unified_api_server.gateway.ui import gather
from unified_api_server.gateway.ui.site import bp, render

RECENT = 8
SEARCH_LIMIT = 50


@bp.get("")
def root():
    """Send ``/ui`` to the overview."""
    return redirect(url_for("ui.overview"))


@bp.get("/")
@sessions.require("read")
def overview():
    """Show each readable component's health, counts, recent items and the open alerts."""
    shown, hidden = gather.readable(sessions.current())
    calls = gather.alerts_calls(shown, state="active,acknowledged", limit=20)
    for c in shown:
        calls[f"{c.name}.health"] = (c.name, "/health")
        calls[f"{c.name}.stats"] = (c.name, gather.db(c.name, "models/stats"))
        calls[f"{c.name}.recent"] = (c.name, gather.db(c.name, c.entities, limit=RECENT))
    outcomes = gather.fetch(calls)
    cards = [_card(c, outcomes) for c in shown]
    alerts = gather.merged_alerts(outcomes, shown)
    return render("overview.html.j2", hidden=hidden, cards=cards, alerts=alerts)


def _card(c, outcomes):
    """Return one component's part of the overview."""
    health, stats = outcomes[f"{c.name}.health"], outcomes[f"{c.name}.stats"]
    recent = outcomes[f"{c.name}.recent"]
    summary = stats.body.get("summary") if stats.ok and isinstance(stats.body, dict) else None
    return {
        "name": c.name,
        "entity": c.entity,
        "entities": c.entities,
        "up": health.ok,
        "latency_ms": round(health.latency_ms, 1),
        "error": gather.problem(health) or gather.problem(stats),
        "summary": summary or {},
        "models": len(gather.body_of(stats, "models")),
        "recent": gather.body_of(recent, c.entities),
        "recent_error": gather.problem(recent),
    }


@bp.get("/search")
@sessions.require("read")
def search():
    """Search every readable component for ``query`` and list what each found."""
    query = (request.args.get("query") or "").strip()
    shown, hidden = gather.readable(sessions.current())
    results, error = [], None
    if len(query) > 256:
        error, query = "A search is at most 256 characters.", query[:256]
    elif query:
        payload = {"query": query, "limit": SEARCH_LIMIT}
        calls = {c.name: (c.name, gather.db(c.name, "search"), "POST", payload) for c in shown}
        outcomes = gather.fetch(calls)
        for c in shown:
            found = gather.body_of(outcomes[c.name], "results")
            problem = gather.problem(outcomes[c.name])
            results.append({"name": c.name, "entity": c.entity, "items": found, "error": problem})
    return render(
        "search.html.j2", hidden=hidden, query=query, results=results, error=error, title="Search"
    )
