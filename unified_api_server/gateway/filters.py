"""The query grammar's filters on a cross-component view, checked before any component is called.

A term must belong to some component's grammar, or it is a 400 naming it. A component whose
grammar lacks one of the terms (``precision`` on the Test Suite) holds no matching data: it is
not called, its part of the answer is empty, and its status block says which terms skipped it.
A component the caller may not read is left out the same way, its status block saying
``forbidden: the 'test:read' scope is needed``.
"""

from dataclasses import dataclass

from unified_api_server.core.errors import ApiError
from unified_api_server.core.web.args import (
    OPERATORS,
    filter_names,
    known_term,
    parameters,
    parse_query,
    refuse_unknown,
)
from unified_api_server.gateway.fanout import Outcome
from unified_api_server.gateway.identity import hidden_components
from unified_api_server.registry import COMPONENTS


@dataclass
class ViewFilters:
    """The filters each component applies (name -> ``[(term, value), ...]``), and the skipped."""

    applied: dict
    skipped: dict  # name -> the terms it does not have
    hidden: dict = None  # name -> why the caller may not see it

    def skipped_outcomes(self):
        """Return an empty, successful outcome per skipped component, saying why it was skipped."""
        outcomes = hidden_outcomes(self.hidden or {})
        for name, terms in self.skipped.items():
            outcomes[name] = Outcome(
                True, None, 0.0, None, skipped=f"no field for {', '.join(terms)}"
            )
        return outcomes


def hidden_outcomes(hidden):
    """Return an empty outcome per component the caller may not read, saying so."""
    return {name: Outcome(True, None, 0.0, None, skipped=why) for name, why in hidden.items()}


def split_filters(args, *, options=(), fixed=()):
    """Check the filter terms in ``args`` (besides ``options``) and split them per component.

    ``fixed`` terms are set by the view itself (the model view's ``model_name``): a 400 here.
    """
    terms = [name for name in args if name not in options]
    for name in terms:
        if name.partition("__")[0] in fixed:
            raise ApiError(400, f"{name}: set by the path of this view, not the query string")
    refuse_unknown(
        [n for n in terms if not any(known_term(c, n) for c in COMPONENTS)],
        [*sorted({n for c in COMPONENTS for n in filter_names(c)}), *options],
        operators=list(OPERATORS),
    )
    applied, skipped, hidden = {}, {}, hidden_components()
    for c in COMPONENTS:
        if c.name in hidden:
            continue
        missing = [n for n in terms if not known_term(c, n)]
        if missing:
            skipped[c.name] = missing
            continue
        pairs = [(k, v) for k, v in args.items(multi=True) if k in terms]
        parse_query(c, args.__class__(pairs))  # a malformed value is a 400 before any call
        applied[c.name] = pairs
    return ViewFilters(applied, skipped, hidden)


def view_parameters(*, fixed=()):
    """Return ``(component, OpenAPI parameter)`` for the views' filters: each term once."""
    found = {}
    for component in COMPONENTS:
        for parameter in parameters(component, "stats"):
            if parameter["name"].partition("__")[0] not in fixed:
                found.setdefault(parameter["name"], (component, parameter))
    return list(found.values())
