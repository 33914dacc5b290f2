"""``vigil dashboard``: one-time login keys for the web dashboard (served by ``vigil api`` under
/dashboard/), and stopping the dashboard ``make demo`` left running in the background."""

from __future__ import annotations

from typing import Annotated

import typer

from vigil_app.cli.common import console, settings_of

app = typer.Typer(
    help="The web dashboard served by `vigil api` (/dashboard/).", no_args_is_help=True
)


@app.command("login-key")
def login_key(
    ctx: typer.Context,
    poi: Annotated[bool, typer.Option("--poi/--viewer", help="Role of the key.")] = False,
    hours: Annotated[float, typer.Option(min=0.01, help="Valid for this long.")] = 1.0,
) -> None:
    """Mint a key that logs in once (the dashboard and this command share the data directory);
    the same as `vigil keys mint`."""
    from dashboards.web.auth import POI, VIEWER
    from vigil.web.tokens import OneTimeKeys, keys_file

    settings = settings_of(ctx)
    key = OneTimeKeys(keys_file(settings)).mint(POI if poi else VIEWER, ttl_s=hours * 3600)
    console.print(key, soft_wrap=True)


@app.command()
def stop(ctx: typer.Context) -> None:
    """Stop the dashboard `make demo` started in the background."""
    from vigil_app.demo.dashboard import stop_demo_dashboard

    stopped = stop_demo_dashboard(settings_of(ctx))
    console.print("dashboard stopped" if stopped else "no demo dashboard was running")


@app.command()
def status(ctx: typer.Context) -> None:
    """Whether the demo's background dashboard runs, and its log file."""
    from vigil_app.demo.dashboard import server

    proc = server(settings_of(ctx))
    pid = proc.pid()
    console.print(f"running (pid {pid})" if pid else "not running")
    console.print(f"log: {proc.log_file}")
