"""What one write stored, as the hooks run inside its transaction are told of it (a
component's ``after_write``, the alert rules)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Written:
    """What one write stored, as a component's ``after_write`` hook is told of it.

    ``ids_sql`` (with ``params``) selects the ids of the items written, one column; ``key`` is
    None for items (with their children) or the child table added to; ``columns`` names what a
    patch changed (None for new items).
    """

    ids_sql: str
    params: tuple = ()
    key: str | None = None
    columns: tuple | None = None


def ids_written(ids, **fields):
    """Return the :class:`Written` of a list of item ids (None for none)."""
    ids = list(ids)
    return Written("SELECT unnest(?::VARCHAR[])", (ids,), **fields) if ids else None
