"""A bulk upload read a piece at a time, so memory stays bounded whatever its size.

NDJSON is read and checked :data:`PIECE` bytes (whole lines) at a time, and each piece is staged
in DuckDB before the next is read (``core/data/bulk_sql.py``); a JSON array must be parsed whole,
so it may be at most :data:`MAX_ARRAY` bytes (larger uploads: NDJSON).
"""

from unified_api_server.core.data.bulk_sql import row_error
from unified_api_server.core.errors import ApiError
from unified_api_server.core.web.bulk import table_from_body

PIECE = 16 * 1024 * 1024
MAX_ARRAY = 64 * 1024 * 1024


def read_pieces(stream, length=None):
    """Yield the body in pieces of whole NDJSON lines (about :data:`PIECE` bytes), or whole
    when it is a JSON array (at most :data:`MAX_ARRAY` bytes). A body shorter than its
    ``length`` (the client went away) is an error, never a shorter upload."""
    carry = stream.read(PIECE)
    received = len(carry)
    if carry.lstrip()[:1] == b"[":
        body = carry + stream.read(MAX_ARRAY + 1 - len(carry))
        if len(body) > MAX_ARRAY:
            raise ApiError(
                413,
                f"a JSON array body may be at most {MAX_ARRAY // 2**20} MiB: send larger "
                "uploads as NDJSON (one row a line), which is read piece by piece",
            )
        _check_complete(len(body), length)
        yield body
        return
    while block := stream.read(PIECE):
        received += len(block)
        data = carry + block
        cut = data.rfind(b"\n") + 1  # 0: no line ends yet; keep reading
        if not cut and len(data) > PIECE:
            raise ApiError(413, f"an NDJSON line may be at most {PIECE // 2**20} MiB")
        if data[:cut].strip():
            yield data[:cut]
        carry = data[cut:]
    _check_complete(received, length)
    if carry.strip():
        yield carry


def _check_complete(received, length):
    if length is not None and received < length:
        raise ApiError(
            400, f"the body ended after {received} of {length} bytes; nothing was stored"
        )


def tables_from_stream(target, stream, length=None):
    """Yield the validated Arrow table of each piece of a bulk body for ``target`` (a
    ``BulkTable``); rows count across pieces."""
    offset = 0
    for piece in read_pieces(stream, length):
        try:
            table = table_from_body(target, piece, offset + 1)
        except ApiError as exc:
            row = (exc.details or {}).get("row") if isinstance(exc.details, dict) else None
            if not offset or row is None:
                raise
            raise row_error(offset + row - 1, exc.details["reason"], exc.status) from None
        offset += table.num_rows
        yield table
    if offset == 0:
        raise ApiError(400, "empty body: send a JSON array or NDJSON rows")
