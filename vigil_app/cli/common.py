"""What every command shares: the console, the settings, and failing with a clear message."""

from __future__ import annotations

from typing import NoReturn

import typer

from vigil_app.console import console as console
from vigil_app.console import err_console
from vigil_app.settings import VigilSettings


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
