"""A stored key as the gateway sees it: its scopes, roles and the scopes they add up to."""

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from unified_api_server.gateway import roles
from unified_api_server.gateway.roles import KeyStoreError, split_names


@dataclass(frozen=True)
class KeyRecord:
    """One stored key, without its secret."""

    name: str
    hint: str
    scopes: tuple
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    rate: float | None = None  # requests per second (None: the gateway's default; 0: no limit)
    burst: int | None = None  # requests at once (None: the gateway's default)
    roles: tuple = ()  # role names
    effective: tuple = ()  # what the key may do: its scopes and its roles' scopes
    key_id: str = ""  # the start of the key's hash: names this key, not a later one of its name

    def problem(self, now):
        """Return why this key cannot be used at ``now`` ("revoked", "expired"), or None."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return None

    def as_dict(self):
        """Return the record as JSON-ready data (no secret)."""
        iso = lambda value: value.isoformat() if value else None  # noqa: E731
        return {
            "name": self.name,
            "hint": self.hint,
            "scopes": list(self.scopes),
            "roles": list(self.roles),
            "effective_scopes": list(self.effective),
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at),
            "last_used_at": iso(self.last_used_at),
            "rate": self.rate,
            "burst": self.burst,
        }


def utcnow():
    """Return the current time, timezone-aware UTC."""
    return datetime.now(UTC)


def _parse_time(value):
    return datetime.fromisoformat(value) if value else None


def record_of(row, connection):
    """Return the :class:`KeyRecord` of a stored row (its roles' scopes read on ``connection``)."""
    name, hint, scopes, created, expires, revoked, used, rate, burst, role_names, key_id = row
    times = (_parse_time(t) for t in (created, expires, revoked, used))
    own, held = tuple(s for s in scopes.split(",") if s), split_names(role_names)
    granted = set(own) | roles.scopes_of(connection, held)
    effective = tuple(s for s in roles.ALL_SCOPES if s in granted)
    return KeyRecord(name, hint, own, *times, rate, burst, held, effective, key_id)


def check_rate(rate, burst):
    """Raise KeyStoreError unless ``rate`` (>= 0, or None) and ``burst`` (>= 1, or None) fit."""
    if rate is not None and not (rate >= 0 and math.isfinite(rate)):
        raise KeyStoreError("rate must be a number of requests per second >= 0 (0: no limit)")
    if burst is not None and burst < 1:
        raise KeyStoreError("burst must be a whole number of requests >= 1")
