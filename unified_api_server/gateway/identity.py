"""Who is asking: the key behind a request (itself or through a session) and what it may do.

The gateway's cross-component views answer only with the components their caller may read:
:func:`hidden_components` names the others, each with the scope it would need, and the views
leave them out (their status block says ``forbidden``), and a cached answer is kept apart for
each set of hidden components (``uas.cache_variant``).
"""

from dataclasses import dataclass

from flask import has_request_context, request

from unified_api_server.gateway.scopes import ANY_COMPONENT, key_has_scope
from unified_api_server.registry import NAMES


@dataclass(frozen=True)
class Identity:
    """A caller: the key's name, its roles, its effective scopes and how it came."""

    name: str
    roles: tuple
    scopes: tuple  # effective: the key's own scopes and its roles' scopes
    via: str  # "header" (an API key or Bearer token) or "cookie" (a browser session)

    @classmethod
    def of(cls, record, via):
        """Return the identity of a :class:`~.keys.KeyRecord` presented ``via``."""
        return cls(record.name, tuple(record.roles), tuple(record.effective), via)

    def allows(self, scope, level=None):
        """Tell whether the caller may act with ``scope``, or at ``level`` on component ``scope``.

        ``allows("benchmark:write")`` and ``allows("benchmark", "write")`` ask about one
        component; a bare level, ``allows("read")``, asks whether it may read anything (the
        global scope, or the level on at least one component), as a cross-component view needs.
        """
        needed = scope if level is None else f"{scope}:{level}"
        if ":" not in needed:
            needed = f"{ANY_COMPONENT}:{needed}"
        return key_has_scope(self.scopes, needed)

    def components(self, level="read"):
        """Return the registered components the caller may use at ``level``."""
        return tuple(name for name in NAMES if self.allows(name, level))


def request_identity():
    """Return the identity of the current gateway request, or None (a public route)."""
    if not has_request_context():
        return None
    environ = request.environ
    if "uas.identity" not in environ:
        decision = environ.get("gateway.decision")
        key = getattr(decision, "key", None)
        environ["uas.identity"] = Identity.of(key, decision.via) if key is not None else None
    return environ["uas.identity"]


def hidden_components(level="read"):
    """Return component -> why the current caller may not see it (``forbidden: ...``)."""
    identity = request_identity()
    if identity is None:
        return {}
    shown = identity.components(level)
    return {
        name: f"forbidden: the '{name}:{level}' scope is needed"
        for name in NAMES
        if name not in shown
    }


def mark_cache_variant():
    """``before_request``: key a cached answer by the components its caller may not read."""
    hidden = hidden_components()
    if hidden:
        request.environ["uas.cache_variant"] = "hidden:" + ",".join(sorted(hidden))
