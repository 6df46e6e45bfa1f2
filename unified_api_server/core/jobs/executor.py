"""What a component tells the job framework: how a request becomes jobs, and what it adds.

A component's ``jobs`` field is a :class:`Jobs` subclass. The core owns everything jobs have in
common (``/status/<id>``, ``/cancel/<id>``, ``/results/<id>``, ``/hardware``, the 201 "submitted"
answer, the job socket); a component supplies its submissions (a route, a schema and a
:meth:`plan` turning a valid body into :class:`JobSpec`\\ s), its settings, and any routes only
it has.
"""

import threading
import uuid
from dataclasses import dataclass, field

from unified_api_server.core.jobs.child import ChildProcess


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
    started: float | None = None  # time.monotonic() when it began to run (None: never ran)


@dataclass
class Plan:
    """The jobs one request asks for, the fields its 201 answer adds, and its group, if any.

    ``group`` (a batch's name and metadata) makes the jobs one group run one after another;
    the answer's id is then the group's, under ``id_field`` (default: the component's id).
    """

    specs: list
    answer: dict = field(default_factory=dict)
    group: dict | None = None
    id_field: str | None = None


@dataclass(frozen=True)
class Submission:
    """A route that starts jobs: ``POST /api/<name><path>`` with a body loaded by ``schema``.

    ``plan`` names the :class:`Jobs` method that turns the loaded body into a :class:`Plan`.
    """

    path: str
    schema: type
    plan: str
    body_required: bool = True


class Jobs:
    """The jobs of one component; subclasses set the class attributes and write the plans.

    A component's ``jobs`` field names the subclass; each app builds its own instance, so two
    apps of one component in a process (tests, embedding) never share settings or state.
    """

    settings: tuple = ()  # the component's own job settings (core.settings.Setting)
    submissions: tuple = ()  # its Submission routes
    results_path: str = "results"  # /results/<id> (the generator's is /result/<id>)

    def __init__(self, component, settings, manager):
        self.component = component
        self.settings_values = settings
        self.manager = manager

    def describe(self, item):
        """Add what only this component knows to a ``/results`` answer (default: nothing)."""
        return item

    def register_routes(self, bp, reads):
        """Add the routes only this component has (default: none)."""
