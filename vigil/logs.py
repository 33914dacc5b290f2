"""Structured logs: one JSON object per line in production, readable lines on a terminal."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter
from rich.logging import RichHandler

from vigil.settings import VigilSettings


def setup_logging(settings: VigilSettings, component: str) -> None:
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
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
