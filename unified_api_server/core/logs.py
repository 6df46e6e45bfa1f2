"""One log format for every process, text or one JSON object per line, to stderr (and a file)."""

import json
import logging
import logging.handlers
import sys
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Fields a record may carry as attributes (``extra=``): a JSON line keeps each as its own field.
FIELDS = (
    "method",
    "path",
    "route",
    "status",
    "ms",
    "bytes",
    "request_id",
    "key",
    "component",
    "aborted",
)
# The launcher's log rotates like supervisord's logs of each service.
FILE_MAX_BYTES = 20 * 1024 * 1024
FILE_BACKUPS = 3


class TextFormatter(logging.Formatter):
    """``time level logger: message``; a verbatim record (a service's line) passes unchanged."""

    def __init__(self):
        super().__init__(TEXT_FORMAT)

    def format(self, record):
        """Return the record as one line of text."""
        if getattr(record, "verbatim", False):
            return record.getMessage()
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message and the fields."""

    def format(self, record):
        """Return the record as one JSON object on one line."""
        if getattr(record, "verbatim", False):
            return record.getMessage()
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


FORMATTERS = {"text": TextFormatter, "json": JsonFormatter}


def configure_logging(level="INFO", log_file=None, fmt="text"):
    """Log to stderr (and ``log_file``) in format ``fmt``; return the file's handler or None.

    The file rotates (20 MB, 3 kept): the launcher writes every service's lines there too.
    """
    stream = logging.StreamHandler(sys.stderr)
    handlers = [stream]
    file_handler = None
    if log_file:
        file_handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=FILE_MAX_BYTES, backupCount=FILE_BACKUPS, encoding="utf-8"
        )
        handlers.append(file_handler)
    formatter = FORMATTERS[fmt]()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # No format here names a source file or line: skip finding them for every record (the
    # logging cookbook's optimisation; a fifth of a request line's cost).
    logging._srcfile = None
    return file_handler


def root_formatter():
    """Return the formatter the root logger writes with (the one :func:`configure_logging` set)."""
    handlers = logging.getLogger().handlers
    return handlers[0].formatter if handlers and handlers[0].formatter else TextFormatter()
