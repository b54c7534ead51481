"""How hookwire's processes log: plain text, or one JSON object per line.

``HOOKWIRE_LOG_FORMAT=json`` makes every line of ``serve`` and ``worker``
(uvicorn's included, and the start-up banner) a JSON object with ``ts``,
``level``, ``logger`` and ``message``, plus ``event_id``, ``delivery_id``,
``webhook_id`` and ``tenant_id`` when the log call carries them
(``extra=log_ids(...)``). Log calls never pass a token, key, header value or
payload; the formatter adds nothing but the record's own fields, and drops the
query string of an access line.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

LogFormat = Literal["text", "json"]
ID_FIELDS = ("event_id", "delivery_id", "webhook_id", "tenant_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(message)s"
_ACCESS_ARGS = 5  # uvicorn's access line: client, method, path, HTTP version, status

_json = False


class _Delivery(Protocol):
    @property
    def tenant_id(self) -> str: ...
    @property
    def webhook_id(self) -> str: ...
    @property
    def event_id(self) -> str: ...


def log_ids(item: _Delivery) -> dict[str, str]:
    """The ids of a delivery (a ClaimedDelivery or an AttemptResult) for ``extra=``."""
    delivery_id = getattr(item, "delivery_id", None) or getattr(item, "id", "")
    return {
        "event_id": item.event_id,
        "delivery_id": str(delivery_id),
        "webhook_id": item.webhook_id,
        "tenant_id": item.tenant_id,
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, the ids, and the error."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _message(record),
        }
        for name in ID_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _message(record: logging.LogRecord) -> str:
    args = record.args
    if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == _ACCESS_ARGS:
        # The path without its query string, which may carry what a caller put there.
        client, method, path, version, status = args
        return f'{client} - "{method} {str(path).split("?", 1)[0]} HTTP/{version}" {status}'
    return record.getMessage()


def configure_logging(log_format: LogFormat, level: int = logging.WARNING) -> None:
    """Set up the root logger for a ``serve`` or ``worker`` process."""
    global _json
    _json = log_format == "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if _json else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if _json:
        # The banner and other notices of the process are records too.
        logging.getLogger("hookwire").setLevel(logging.INFO)


def uvicorn_log_config(log_format: LogFormat) -> dict[str, Any] | None:
    """uvicorn's ``log_config``: its loggers through the root's handler in JSON mode."""
    if log_format != "json":
        return None  # uvicorn's own
    loggers = ("uvicorn", "uvicorn.error", "uvicorn.access")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {name: {"handlers": [], "propagate": True} for name in loggers},
    }


def say(text: str) -> None:
    """A line about the process (it started, where it listens): printed, or logged as JSON."""
    if _json:
        logging.getLogger("hookwire").info(text)
    else:
        print(text, flush=True)
