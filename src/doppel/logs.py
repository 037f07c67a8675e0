"""The process's logging: plain text for people, or one JSON object per line for machines.

A JSON line carries `time`, `level`, `logger` and `message`, then whatever the call passed
in `extra` (`sandbox_id`, `agent_id`, `service`...), then `exception` when there is one.
uvicorn's own loggers (its access log included) go through the same handler.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]
# Everything a LogRecord holds of its own: the rest of its attributes came from `extra`.
# uvicorn adds `color_message`, the message with terminal colours: noise in a JSON line.
_RECORD_FIELDS = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "color_message",
}
# uvicorn's access log passes its fields as arguments; a JSON line names them.
_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            line.update(zip(_ACCESS_FIELDS, record.args, strict=False))
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(log_format: LogFormat = "text", level: str = "INFO") -> None:
    """Send every logger's records (uvicorn's too) to stderr in `log_format`."""
    text = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    formatter: dict[str, Any] = {"()": JsonFormatter} if log_format == "json" else {"format": text}
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"doppel": formatter},
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "formatter": "doppel",
                    "stream": "ext://sys.stderr",
                }
            },
            "root": {"handlers": ["stderr"], "level": level},
            # uvicorn's loggers keep no handlers of their own: theirs would bypass ours.
            "loggers": {
                name: {"handlers": [], "propagate": True}
                for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
            },
        }
    )
    logging.captureWarnings(True)  # a warning is a log line too, in the same format
