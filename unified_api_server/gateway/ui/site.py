"""The dashboard's blueprint and what every page shares: the signed-in identity and rendering.

A page is rendered whole, or with ``?fragment=1`` only its main content: the live-update script
fetches that and swaps the sections marked ``data-live`` in place, so an open page follows the
data with no reload.
"""

import os

import plotly
from flask import Blueprint, render_template, request, send_from_directory

from unified_api_server.gateway import sessions
from unified_api_server.registry import BY_NAME, COMPONENTS

bp = Blueprint(
    "ui",
    __name__,
    url_prefix="/ui",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
PLOTLY_DIR = os.path.join(os.path.dirname(plotly.__file__), "package_data")
TITLES = {c.name: c.title for c in COMPONENTS}


@bp.get("/static/plotly.min.js")
def plotly_js():
    """Serve the plotly.js bundled with the installed ``plotly`` package."""
    return send_from_directory(PLOTLY_DIR, "plotly.min.js", max_age=86400)


def render(template, status=200, hidden=(), **context):
    """Render a page (or only its content, for ``?fragment=1``) for the signed-in identity."""
    fragment = request.args.get("fragment") == "1"
    html = render_template(
        f"ui/{template}",
        identity=sessions.current(),
        csrf_token=sessions.csrf_token(),
        fragment=fragment,
        hidden=hidden,
        titles=TITLES,
        entity_of={c.name: c.entity for c in COMPONENTS},
        **context,
    )
    return html, status, {"Cache-Control": "no-store"}


def refuse(scope, what):
    """Answer 403 naming the missing ``scope`` for ``what`` the identity tried."""
    return render("error.html.j2", 403, title="Not allowed", message=f"{what} needs {scope}.")


def not_found(message):
    """Answer 404 with ``message`` as a page."""
    return render("error.html.j2", 404, title="Not found", message=message)


def component_or_404(name):
    """Return the registered component ``name``, or None (the caller answers 404)."""
    return BY_NAME.get(name)
