"""The database API's resources, one implementation for every component (Flask MethodViews).

Each view class serves one kind of URL of every component: :func:`register_resources` adds
them to a component's blueprint with the component's names (``/runs``, ``/task/<id>``, ...).
Views parse arguments, call the data layer (``reads`` / ``writes``) and shape the answer.
"""

import threading

from flask import current_app, g, jsonify, request
from flask.views import MethodView

from unified_api_server.core.data.bulk_tables import bulk_table
from unified_api_server.core.data.query import Condition
from unified_api_server.core.errors import ApiError
from unified_api_server.core.metrics import timed_cursor
from unified_api_server.core.schemas import (
    BatchSchema,
    ChildRows,
    create_schema,
    flatten_groups,
    patch_schema,
)
from unified_api_server.core.web import limits
from unified_api_server.core.web.args import (
    TOTAL_CAP,
    parse_bool,
    parse_fields,
    parse_limit,
    parse_query,
    select_fields,
)
from unified_api_server.core.web.bulk_pieces import tables_from_stream
from unified_api_server.core.web.http import json_body


def state():
    """Return this app's component state (component, database, reads, writes, settings, jobs)."""
    return current_app.extensions["component"]


_kept = threading.local()  # each request thread's read cursor: (connection, cursor)


def cursor():
    """Return the request's cursor for reads: its thread's, kept for the thread's next request.

    A new DuckDB cursor is a new client context, and the first statements on one cost more CPU
    (about 1 ms over a point read's seven statements on a 2-core machine). A request only reads
    on it (every write opens a session of its own), so one per thread serves each request of
    that thread in turn. It is watched like any: a request's time limit interrupts it only while
    that request lasts.
    """
    if "db_cursor" not in g:
        component = state()
        connection = component.database.connection
        kept = getattr(_kept, "cursor", None)
        if kept is None or kept[0] is not connection:  # first use, or another database
            kept = _kept.cursor = (connection, connection.cursor())
        limits.watch(kept[1])
        g.db_cursor = timed_cursor(kept[1], component.component.name)
    return g.db_cursor


def close_cursor(_exc=None):
    """End the request's use of its cursor (kept open for the thread's next request)."""
    g.pop("db_cursor", None)


def answer(body, status=200, location=None):
    """Return a JSON response with ``status`` and, for a created resource, its ``Location``."""
    response = jsonify(body)
    response.status_code = status
    if location:
        response.headers["Location"] = location
    return response


class ComponentView(MethodView):
    """A view bound to one component (built once per component, not per request)."""

    init_every_request = False
    heavy = False  # True: holds one of the component's few heavy-request slots while it runs

    def __init__(self, component):
        self.c = component
        self.base = f"/api/{component.name}/db"

    def dispatch_request(self, **kwargs):
        """Run the view; a heavy one inside a slot, held until its (streamed) answer ends."""
        if not self.heavy:
            return super().dispatch_request(**kwargs)
        release = state().slots.take(f"{request.method} {request.path}")
        try:
            response = current_app.make_response(super().dispatch_request(**kwargs))
        except BaseException:
            release()
            raise
        response.call_on_close(release)
        return response

    def item_url(self, item_id):
        """Return the URL of one item."""
        return f"{self.base}/{self.c.entity}/{item_id}"


def page(key, query):
    """Return one page of the items ``query`` selects, as ``{key: [...], count, ...}``.

    The request's ``limit``, ``cursor``, ``fields`` and ``total`` shape the page.
    """
    c = state().component
    limit = parse_limit(request.args.get("limit"))
    chosen = parse_fields(c, request.args.get("fields"))
    items, next_cursor = state().reads.list(cursor(), query, limit, request.args.get("cursor"))
    body = {key: select_fields(items, chosen), "count": len(items), "limit": limit}
    body["next_cursor"] = next_cursor
    if parse_bool(request.args.get("total"), "total"):
        body["total"], body["total_is_exact"] = state().reads.count(cursor(), query, TOTAL_CAP)
    return body


class Items(ComponentView):
    """``/<entities>``: list items, newest first, filtered and paged; create one."""

    def __init__(self, component):
        super().__init__(component)
        self.creator = create_schema(component)()

    def get(self):
        """List items in any order (newest first by default), filtered, one page at a time."""
        return jsonify(page(self.c.entities, parse_query(self.c, request.args, "list")))

    def post(self):
        """Create one item with nested children (idempotent with a client id)."""
        data = flatten_groups(self.c, self.creator.load(json_body()))
        item, created = state().writes.create(data)
        return answer(item, 201 if created else 200, self.item_url(item[self.c.id_column]))


class Bulk(ComponentView):
    """``/<entities>/bulk``: load many flat items from NDJSON or a JSON array, all or nothing."""

    heavy = True

    def post(self):
        """Load many flat rows of one table (``table=``, as export names it), all or nothing."""
        target = bulk_table(self.c, request.args.get("table"))
        tables = tables_from_stream(target, request.stream, request.content_length)
        return answer({"stored": state().writes.bulk(tables, target)}, 201)


class Item(ComponentView):
    """``/<entity>/<id>``: read, change or delete one item."""

    def __init__(self, component):
        super().__init__(component)
        self.patcher = patch_schema(component)()

    def get(self, item_id):
        """Return one item with its children."""
        return jsonify(state().reads.require(cursor(), item_id))

    def patch(self, item_id):
        """Change an item's status, progress, step, results or completion."""
        changes = flatten_groups(self.c, self.patcher.load(json_body()))
        return jsonify(state().writes.patch(item_id, changes))

    def delete(self, item_id):
        """Delete one item and its children."""
        state().writes.delete(item_id)
        return jsonify({"deleted": True, self.c.id_column: item_id})


class Children(ComponentView):
    """``/<entity>/<id>/<child>``: append steps, metrics or tags to an existing item."""

    def __init__(self, component):
        super().__init__(component)
        self.fields = {child.key: ChildRows(child) for child in component.children}

    def post(self, item_id, key):
        """Append steps, metrics or tags to an existing item."""
        child = self.c.child_by_key.get(key)
        if child is None:
            raise ApiError(
                404, f"no child collection {key!r}; one of {', '.join(self.c.child_by_key)}"
            )
        body = json_body(kind=(dict, list))
        if child.shape == "list" and isinstance(body, dict):
            body = [body]
        item = state().writes.add_children(item_id, key, self.fields[key].deserialize(body))
        return answer(item, 201)


class Batches(ComponentView):
    """``/batches``: list batches with member counts; create one."""

    def get(self):
        """List batches with member counts, newest first."""
        unknown = sorted(set(request.args) - {"limit", "cursor"})
        if unknown:
            raise ApiError(
                400,
                f"unknown query parameter(s): {', '.join(unknown)}",
                {"allowed": ["limit", "cursor"]},
            )
        limit = parse_limit(request.args.get("limit"))
        batches, next_cursor = state().reads.list_batches(
            cursor(), limit, request.args.get("cursor")
        )
        return jsonify(
            {"batches": batches, "count": len(batches), "limit": limit, "next_cursor": next_cursor}
        )

    def post(self):
        """Create a batch that items can then name in ``batch_id``."""
        batch = state().writes.create_batch(BatchSchema().load(json_body(required=False)))
        return answer(batch, 201, f"{self.base}/batch/{batch['batch_id']}")


class Batch(ComponentView):
    """``/batch/<id>``: one batch with its counts and first members; delete it."""

    def get(self, batch_id):
        """Return a batch, its counts and its first members."""
        batch = state().reads.require_batch(cursor(), batch_id)
        members = parse_query(self.c, request.args, "list")
        members = members.plus(Condition("batch_id", "eq", batch_id))
        batch.update(page(self.c.entities, members))
        return jsonify(batch)

    def delete(self, batch_id):
        """Delete a batch; members are detached unless ``delete_<entities>=true``."""
        param = self.c.batch_delete_param
        delete_members = parse_bool(request.args.get(param), param)
        affected = state().writes.delete_batch(batch_id, delete_members)
        key = f"{'deleted' if delete_members else 'detached'}_{self.c.entities}"
        return jsonify({"deleted": True, "batch_id": batch_id, key: affected})


def register_resources(bp, component):
    """Add the resource views of ``component`` to its database blueprint."""
    entity, entities, name = component.entity, component.entities, component.name
    routes = (
        (f"/{entities}", Items, "items"),
        (f"/{entities}/bulk", Bulk, "bulk"),
        (f"/{entity}/<item_id>", Item, "item"),
        (f"/{entity}/<item_id>/<key>", Children, "children"),
        ("/batches", Batches, "batches"),
        ("/batch/<batch_id>", Batch, "batch"),
    )
    for rule, view, endpoint in routes:
        bp.add_url_rule(rule, view_func=view.as_view(f"{name}_{endpoint}", component))
