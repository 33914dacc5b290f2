"""``/v1/admin``: what an admin key may do over HTTP, the same as ``vigil keys`` does on the
host: list keys by fingerprint, revoke (and un-revoke) a key, one-time key or session, mint
one-time login keys. Nothing here takes a body: every input is a query parameter."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Security
from fastapi.responses import JSONResponse

from vigil.access import Permission, fingerprint
from vigil.web.access import AUTH_ERRORS, Principal, allow, gate_of
from vigil.web.tokens import OneTimeKeys, keys_file

# The app that includes it sets ``app.state.session_ttl_s`` (how long a revoked session id is
# remembered: the dashboard's session lifetime) and ``app.state.service.settings``.
router = APIRouter(prefix="/v1/admin", tags=["admin"])
Admin = Annotated[Principal, Security(allow(Permission.ADMIN))]
IDENT = r"^[0-9a-f]{24}$"
LoginRole = Literal["viewer", "poi"]  # vigil.access.LOGIN_ROLES (a test keeps them equal)


def key_listing(request: Request) -> dict[str, Any]:
    gate = gate_of(request)
    revoked = gate.revoked.entries()
    settings = request.app.state.service.settings
    once = OneTimeKeys(keys_file(settings)).listing()
    return {
        "keys": [
            {"fingerprint": fp, "role": role, "revoked": fp in revoked}
            for fp, role in gate.keys.listing()
        ],
        "login_keys": [{**k.__dict__, "revoked": k.key_id in revoked} for k in once],
        "revocations": revoked,
    }


@router.get("/keys", responses=AUTH_ERRORS)
async def list_keys(request: Request, _who: Admin) -> JSONResponse:
    """Configured keys (fingerprints only), one-time login keys and the revocation list."""
    return JSONResponse(key_listing(request))


@router.post("/revocations", responses=AUTH_ERRORS)
async def revoke(
    request: Request,
    who: Admin,
    ident: Annotated[str, Query(alias="id", pattern=IDENT, description="fingerprint or id")],
    kind: Annotated[Literal["key", "session"], Query()] = "key",
    reason: Annotated[str, Query(max_length=200)] = "",
) -> JSONResponse:
    """Refuse a key (its fingerprint), a one-time key (its id) or one session (its id, from
    the login log line): its sessions end, its requests get 401, in every process on the host
    within ``access.revocation_check_s``."""
    ttl = request.app.state.session_ttl_s if kind == "session" else None
    new = gate_of(request).revoked.revoke(ident, kind, reason or f"by admin {who.key_id}", ttl)
    return JSONResponse({"revoked": ident, "kind": kind, "new": new})


@router.delete(
    "/revocations/{ident}",
    responses={**AUTH_ERRORS, 404: {"description": "not on the revocation list"}},
)
async def unrevoke(
    request: Request, _who: Admin, ident: Annotated[str, Path(pattern=IDENT)]
) -> JSONResponse:
    """Take an id off the revocation list (a key still has to be configured to work)."""
    if not gate_of(request).revoked.unrevoke(ident):
        return JSONResponse({"error": "not_found", "detail": "not revoked"}, 404)
    return JSONResponse({"unrevoked": ident})


@router.post("/login-keys", status_code=201, responses=AUTH_ERRORS)
async def mint_login_key(
    request: Request,
    _who: Admin,
    role: Annotated[LoginRole, Query()] = "viewer",
    hours: Annotated[float, Query(gt=0, le=24 * 30)] = 1.0,
) -> JSONResponse:
    """A one-time dashboard login key for ``role``; shown once, only its digest is kept."""
    from vigil.web.tokens import OneTimeKeys, keys_file

    settings = request.app.state.service.settings
    key = OneTimeKeys(keys_file(settings)).mint(role, ttl_s=hours * 3600)
    body = {"key": key, "key_id": fingerprint(key), "role": role, "hours": hours}
    return JSONResponse(body, status_code=201)
