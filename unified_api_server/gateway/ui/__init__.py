"""The dashboard: server-rendered pages under ``/ui/``, served by the gateway.

Pages are Jinja2 templates (``templates/ui/``) lightly enhanced by the scripts in ``static/``;
plotly.js comes from the installed ``plotly`` package, so no page loads anything from elsewhere.
"""

import os

import plotly
from flask import Blueprint, send_from_directory

bp = Blueprint(
    "ui",
    __name__,
    url_prefix="/ui",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
PLOTLY_DIR = os.path.join(os.path.dirname(plotly.__file__), "package_data")


@bp.get("/static/plotly.min.js")
def plotly_js():
    """Serve the plotly.js bundled with the installed ``plotly`` package."""
    return send_from_directory(PLOTLY_DIR, "plotly.min.js", max_age=86400)
