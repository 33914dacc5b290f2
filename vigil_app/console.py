"""The terminal every command and the demo print to (rich)."""

from __future__ import annotations

from rich.console import Console

console = Console()
err_console = Console(stderr=True)
