"""Job logging: readable text on a terminal, one JSON object per line on clusters."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

__all__ = ["configure_logging", "JsonFormatter"]

_TEXT_FORMAT = "%(asctime)s %(levelname)-5s %(name)s: %(message)s"
_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as a JSON line: ts, level, logger, message and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS})
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def configure_logging(level: str, fmt: str, platform: str) -> None:
    """Route the ``etl`` loggers to stderr as text (local) or JSON lines (clusters).

    ``fmt`` is ``text``, ``json`` or ``auto`` (json unless ``platform`` is local).
    """
    use_json = fmt == "json" or (fmt == "auto" and platform != "local")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if use_json else logging.Formatter(_TEXT_FORMAT, datefmt="%H:%M:%S")
    )
    root = logging.getLogger("etl")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # py4j logs every JVM call at INFO when a root handler exists; keep it quiet.
    logging.getLogger("py4j").setLevel(logging.WARNING)
