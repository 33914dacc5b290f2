"""Structured logs: one JSON object per line in production, readable lines on a terminal; every
line passes a filter that masks the process's secrets (``vigil.redact``)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from pythonjsonlogger.json import JsonFormatter
from rich.logging import RichHandler

from vigil.redact import SecretFilter, secret_values
from vigil.settings import CoreSettings


def setup_logging(settings: CoreSettings, component: str) -> None:
    handler: logging.Handler
    if settings.log_format == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
                static_fields={"component": component},
            )
        )
    else:
        handler = RichHandler(console=None, show_path=False, rich_tracebacks=True)
    handler.addFilter(SecretFilter(secret_values(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)


def register_secrets(values: Iterable[str]) -> None:
    """Secrets learnt after start (webhook URLs and keys of a rules file) are masked too."""
    for handler in logging.getLogger().handlers:
        for found in handler.filters:
            if isinstance(found, SecretFilter):
                found.secrets = sorted(
                    set(found.secrets) | {v for v in values if len(v) >= 4},
                    key=len,
                    reverse=True,
                )
