"""Logs as JSON lines, each with the request id of the request that wrote it, and with
every known secret scrubbed before it is written."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from collections.abc import Iterable

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

# Shapes of secrets that may arrive from outside: our API tokens, GitHub tokens, and
# credentials carried in query strings (workspace links, OAuth callbacks).
_PATTERNS = [
    (re.compile(r"dvx_[A-Za-z0-9_\-]{8,}"), "[redacted]"),
    (re.compile(r"gh[opsu]_[A-Za-z0-9]{8,}"), "[redacted]"),
    (re.compile(r"(?i)\b(token|code|state|secret|password|key)=[^&\s\"']+"), r"\1=[redacted]"),
    (re.compile(r"(?i)\b(bearer\s+)\S+"), r"\1[redacted]"),
    (re.compile(r"\b(devex_(?:ws_[a-f0-9]{16}|auth|session))=[^;\s'\"]+"), r"\1=[redacted]"),
]


class Scrubber(logging.Filter):
    """Replaces secrets in a record's message; the configured ones verbatim."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = self.scrub(record.getMessage())
        record.msg, record.args = message, None
        if record.exc_info:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                    + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if rid := request_id.get():
            entry["request_id"] = rid
        for key in ("method", "path", "status", "duration_ms"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry)


def configure(level: str, secrets: Iterable[str | None] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(Scrubber(secrets))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # Client libraries log whole URLs and headers at INFO/DEBUG; ours say what matters.
    for noisy in ("hypercorn.access", "botocore", "aiobotocore", "urllib3", "httpx", "httpx2",
                  "httpcore", "httpcore2", "websockets", "kubernetes_asyncio", "aiohttp"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))
