"""What every command shares: the console, the settings, and failing with a clear message."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

from vigil_app.settings import VigilSettings

console = Console()
err_console = Console(stderr=True)


def settings_of(ctx: typer.Context) -> VigilSettings:
    root = ctx.find_root()
    if not isinstance(root.obj, VigilSettings):
        raise RuntimeError("settings were not built at start-up")
    return root.obj


def fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.0f} MiB"
