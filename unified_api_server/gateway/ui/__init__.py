"""The dashboard: server-rendered pages under ``/ui/``, served by the gateway.

Pages are Jinja2 templates (``templates/ui/``) lightly enhanced by the scripts in ``static/``;
plotly.js comes from the installed ``plotly`` package, so no page loads anything from elsewhere.
Each page module adds its routes to :data:`bp` (:mod:`.site`) when imported here.
"""

from unified_api_server.gateway.ui import actions, detail, model, pages  # noqa: F401
from unified_api_server.gateway.ui.site import bp

__all__ = ["bp"]
