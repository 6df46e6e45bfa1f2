"""Request bodies at the gateway: read in full, against deadlines and the size limit, then sent.

A component spends one of its threads on a request for as long as the body takes to arrive, so
the gateway never hands it a body that is still arriving: it reads the whole body first (a
greenlet per slow client costs little), in memory up to :data:`IN_MEMORY` bytes and in a
temporary file above that, then forwards it with its length at full speed.

* A body of at most :data:`IN_MEMORY` bytes must arrive within ``timeout`` seconds in all.
* A larger one (a bulk upload) may take as long as it needs while every chunk of
  :data:`CHUNK` bytes arrives within ``timeout`` seconds.
* A body over the limit is refused with 413 as soon as its ``Content-Length`` says so, or as
  soon as a chunked one passes the limit; nothing of it reaches the component, and the rest of
  it is not read (:func:`stop_reading`).
* A worker holds at most ``budget`` bytes of bodies at once (memory and temporary files
  together); past that the answer is 503 with ``Retry-After``, so many large uploads at once
  cannot fill the disk.
"""

import socket
import tempfile

import gevent
from gunicorn.http.errors import ParseException

CHUNK = 64 * 1024
IN_MEMORY = 1024 * 1024  # bytes kept in memory; larger bodies spill to a temporary file


RETRY_AFTER = 5  # seconds, when the worker holds too many bodies


class BodyError(Exception):
    """A body that cannot be forwarded: 400 malformed, 408 too slow, 413 too large, 503 busy."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def headers(self):
        """Return the answer's extra headers."""
        return (("Retry-After", str(RETRY_AFTER)),) if self.status == 503 else ()


class HeldBody(tempfile.SpooledTemporaryFile):
    """A received body; closing it gives its bytes back to the worker's budget."""

    held = 0  # bytes of bodies this worker holds now (gevent: one thread, no lock needed)

    def __init__(self):
        super().__init__(IN_MEMORY)
        self.size = 0

    def take(self, chunk, budget):
        """Append ``chunk``, or raise 503 when the worker's bodies would pass ``budget``."""
        if HeldBody.held + len(chunk) > budget:
            raise BodyError(503, "the gateway is holding too many request bodies; try again")
        HeldBody.held += len(chunk)
        self.size += len(chunk)
        self.write(chunk)

    def close(self):
        """Close the file and give its bytes back."""
        HeldBody.held -= self.size
        self.size = 0
        super().close()


def stop_reading(environ):
    """Close the client connection's reading side: the rest of a refused body is never read,
    and gunicorn ends the connection after the answer."""
    sock = environ.get("gunicorn.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass


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


def read_body(environ, limit, timeout, budget):
    """Return ``(body, length)``: the whole body as a :class:`HeldBody` at 0, or ``(None, 0)``.

    Raises :class:`BodyError` for a body over ``limit`` bytes, one slower than ``timeout``
    allows, one that ends early, one gunicorn cannot parse (a broken chunked encoding), or one
    that would take the worker's bodies past ``budget`` bytes.
    """
    expected = _declared_length(environ)
    if expected == 0:
        return None, 0
    if expected is not None and expected > limit:
        raise BodyError(413, f"request body too large: {expected} bytes (limit {limit} bytes)")
    body = HeldBody()
    try:
        _receive(environ["wsgi.input"], body, expected, (limit, timeout, budget))
    except BaseException:
        body.close()
        raise
    body.seek(0)
    return body, body.size


def _receive(stream, body, expected, bounds):
    """Receive the body within the deadlines."""
    timeout = bounds[1]
    too_slow = BodyError(408, f"the request body did not arrive within {timeout:g} s")
    whole = expected is not None and expected <= IN_MEMORY
    try:
        with gevent.Timeout(timeout if whole else None, too_slow):
            _copy(stream, body, expected, bounds, too_slow)
    except (OSError, ParseException):  # the client went away, or broke the chunked encoding
        raise BodyError(400, "the request body could not be read") from None
    if expected is not None and body.size < expected:
        raise BodyError(400, f"the request body ended after {body.size} of {expected} bytes")


def _copy(stream, body, expected, bounds, too_slow):
    """Copy the body chunk by chunk, each within the timeout, checking the limits."""
    limit, timeout, budget = bounds
    while expected is None or body.size < expected:
        want = CHUNK if expected is None else min(CHUNK, expected - body.size)
        with gevent.Timeout(timeout, too_slow):
            chunk = stream.read(want)
        if not chunk:
            break
        if body.size + len(chunk) > limit:
            raise BodyError(413, f"request body too large: over {limit} bytes")
        body.take(chunk, budget)
