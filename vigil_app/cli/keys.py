"""``vigil keys``: the admin's work on the host, on the files every ``vigil api`` on it reads
(the data directory): list keys by fingerprint, revoke a key, a one-time key or a session (its
sessions end within ``access.revocation_check_s``), mint one-time login keys. The same as the
``/v1/admin`` routes, without an admin key: access to the data directory is the credential."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from vigil.revocations import Revocations, revocations_file
from vigil_app.cli.common import console, fail, settings_of
from vigil_app.settings import VigilSettings

app = typer.Typer(
    help="API and dashboard keys: fingerprints, revocation, one-time login keys.",
    no_args_is_help=True,
)


def _when(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _revocations(settings: VigilSettings) -> Revocations:
    return Revocations(revocations_file(settings.data_dir), settings.access.revocation_check_s)


@app.command("list")
def list_keys(ctx: typer.Context) -> None:
    """Configured keys (fingerprints, never the keys), one-time login keys, revocations."""
    from vigil.access import KeyRing
    from vigil.web.tokens import OneTimeKeys, keys_file

    settings = settings_of(ctx)
    revoked = _revocations(settings).entries()
    table = Table("fingerprint / id", "role", "kind", "state")
    for fp, role in KeyRing(settings.access).listing():
        trusted = " (trusted uploader)" if fp in settings.access.trusted_uploaders else ""
        table.add_row(fp, role, "key" + trusted, "revoked" if fp in revoked else "active")
    for once in OneTimeKeys(keys_file(settings)).listing():
        state = "revoked" if once.key_id in revoked else "used" if once.used_ms else "unused"
        until = _when(once.expires_ms)
        table.add_row(once.key_id, once.role, "one-time", f"{state}, until {until}")
    for ident, entry in sorted(revoked.items()):
        if entry.get("kind") == "session":
            table.add_row(ident, "-", "session", f"revoked: {entry.get('reason', '')}")
    console.print(table)


@app.command()
def revoke(
    ctx: typer.Context,
    fingerprint: Annotated[
        str | None, typer.Option(help="A key's fingerprint or a one-time key's id.")
    ] = None,
    session: Annotated[
        str | None,
        typer.Option(help="A session cookie's value: revokes the key that made the session."),
    ] = None,
    session_id: Annotated[
        str | None, typer.Option(help="One session's id (from the login log line) only.")
    ] = None,
    reason: Annotated[str, typer.Option(help="Kept in the list.")] = "vigil keys revoke",
) -> None:
    """Refuse a key or session from now on; every `vigil api` on this host sees it within
    access.revocation_check_s, and the key's sessions end with it."""
    settings = settings_of(ctx)
    given = [v for v in (fingerprint, session, session_id) if v]
    if len(given) != 1:
        fail("give exactly one of --fingerprint, --session, --session-id")
    revocations = _revocations(settings)
    if session_id:
        _check_id(session_id)
        revocations.revoke(session_id, "session", reason, ttl_s=settings.dashboard.session_ttl_s)
        console.print(f"session {session_id} revoked")
        return
    if session:
        fingerprint = _key_of_session(settings, session)
    if fingerprint is None:
        raise RuntimeError("unreachable: one option was given")
    _check_id(fingerprint)
    new = revocations.revoke(fingerprint, "key", reason)
    console.print(f"key {fingerprint} revoked" + ("" if new else " (it already was)"))


@app.command()
def unrevoke(
    ctx: typer.Context,
    ident: Annotated[str, typer.Argument(help="Fingerprint or id to take off the list.")],
) -> None:
    """Take a key, one-time key or session off the revocation list."""
    if not _revocations(settings_of(ctx)).unrevoke(ident):
        fail(f"{ident} is not revoked", code=1)
    console.print(f"{ident} is no longer revoked")


@app.command()
def mint(
    ctx: typer.Context,
    role: Annotated[str, typer.Option(help="viewer or poi.")] = "viewer",
    hours: Annotated[float, typer.Option(min=0.01, help="Valid for this long.")] = 1.0,
) -> None:
    """A one-time dashboard login key (printed once; only its digest is kept)."""
    from vigil.access import LOGIN_ROLES
    from vigil.web.tokens import OneTimeKeys, keys_file

    if role not in LOGIN_ROLES:
        fail(f"--role is one of {sorted(str(r) for r in LOGIN_ROLES)}")
    key = OneTimeKeys(keys_file(settings_of(ctx))).mint(role, ttl_s=hours * 3600)
    console.print(key, soft_wrap=True)


@app.command("fingerprint")
def show_fingerprint() -> None:
    """The fingerprint of the key read from standard input (for access.trusted_uploaders)."""
    from vigil.access import fingerprint

    key = sys.stdin.readline().strip()
    if not key:
        fail("give the key on standard input")
    console.print(fingerprint(key))


def _check_id(ident: str) -> None:
    if len(ident) != 24 or any(c not in "0123456789abcdef" for c in ident):
        fail(f"{ident[:40]!r} is not a fingerprint or id (24 hex digits; see `vigil keys list`)")


def _key_of_session(settings: VigilSettings, cookie: str) -> str:
    from itsdangerous import BadSignature, URLSafeTimedSerializer

    from dashboards.web.auth import SALT

    secret = settings.dashboard.session_secret
    if secret is None or not secret.get_secret_value():
        fail("dashboard.session_secret is unset (random per process): sessions cannot be read")
    try:  # any age: an expired session's key may still deserve revoking
        data = URLSafeTimedSerializer(secret.get_secret_value(), salt=SALT).loads(cookie.strip())
    except BadSignature:
        fail("not a session cookie of this dashboard (wrong secret or tampered)")
    if not isinstance(data, dict) or not data.get("k"):
        fail("not a session cookie of this dashboard")
    return str(data["k"])
