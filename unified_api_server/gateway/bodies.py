"""Request bodies at the gateway: read in full, against deadlines and the size limit, then sent.

A component spends one of its threads on a request for as long as the body takes to arrive, so
the gateway never hands it a body that is still arriving: it reads the whole body first (a
greenlet per slow client costs little), in memory up to :data:`IN_MEMORY` bytes and in a
temporary file above that, then forwards it with its length at full speed.

* A body of at most :data:`IN_MEMORY` bytes must arrive within ``timeout`` seconds in all.
* A larger one (a bulk upload) may take as long as it needs while every chunk of
  :data:`CHUNK` bytes arrives within ``timeout`` seconds.
* A body over the limit is refused with 413 as soon as its ``Content-Length`` says so, or as
  soon as a chunked one passes the limit; nothing of it reaches the component.
"""

import tempfile

import gevent

CHUNK = 64 * 1024
IN_MEMORY = 1024 * 1024  # bytes kept in memory; larger bodies spill to a temporary file


class BodyError(Exception):
    """A body that cannot be forwarded: 400 (malformed), 408 (too slow) or 413 (too large)."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def _declared_length(environ):
    """Return the body's length, None for a chunked body, or raise for a bad Content-Length."""
    declared = environ.get("CONTENT_LENGTH")
    if declared:
        if not declared.isdigit():
            raise BodyError(400, f"Content-Length must be a whole number, got {declared!r}")
        return int(declared)
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    return 0


def read_body(environ, limit, timeout):
    """Return ``(body, length)``: the whole body as a file positioned at 0, or ``(None, 0)``.

    Raises :class:`BodyError` for a body over ``limit`` bytes, one slower than ``timeout``
    allows, one that ends early or one gunicorn cannot parse (a broken chunked encoding).
    """
    expected = _declared_length(environ)
    if expected == 0:
        return None, 0
    if expected is not None and expected > limit:
        raise BodyError(413, f"request body too large: {expected} bytes (limit {limit} bytes)")
    spool = tempfile.SpooledTemporaryFile(IN_MEMORY)  # noqa: SIM115 (the caller closes it)
    try:
        received = _receive(environ["wsgi.input"], spool, expected, limit, timeout)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool, received


def _receive(stream, spool, expected, limit, timeout):
    """Receive the body into ``spool`` within the deadlines; return its size."""
    too_slow = BodyError(408, f"the request body did not arrive within {timeout:g} s")
    whole = expected is not None and expected <= IN_MEMORY
    try:
        with gevent.Timeout(timeout if whole else None, too_slow):
            received = _copy(stream, spool, expected, limit, timeout, too_slow)
    except OSError:  # the client went away, or broke the chunked encoding
        raise BodyError(400, "the request body could not be read") from None
    if expected is not None and received < expected:
        raise BodyError(400, f"the request body ended after {received} of {expected} bytes")
    return received


def _copy(stream, spool, expected, limit, timeout, too_slow):
    """Copy the body into ``spool`` chunk by chunk, each within ``timeout``; return its size."""
    received = 0
    while expected is None or received < expected:
        want = CHUNK if expected is None else min(CHUNK, expected - received)
        with gevent.Timeout(timeout, too_slow):
            chunk = stream.read(want)
        if not chunk:
            break
        received += len(chunk)
        if received > limit:
            raise BodyError(413, f"request body too large: over {limit} bytes")
        spool.write(chunk)
    return received
