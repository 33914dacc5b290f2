"""The settings sections of who may do what: keys by role (``access``) and the dashboard's
sessions, limits and privacy policy (``dashboard``). Split from ``vigil.sections`` (same rules:
frozen, unknown keys are errors); import them from ``vigil.settings``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from vigil.sections import _Section

# what .env.example and tutorials ship, and what people type when told to "set a secret"
PLACEHOLDERS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "password",
        "passw0rd",
        "default",
        "example",
        "test",
        "todo",
        "vigil",
        "replace-me",
        "replaceme",
        "xxx",
        "none",
        "null",
    }
)
PLACEHOLDER_PREFIXES = ("replace-with", "change-me", "changeme", "your-", "<", "${")


def is_placeholder(value: str) -> bool:
    low = value.strip().lower()
    return low in PLACEHOLDERS or low.startswith(PLACEHOLDER_PREFIXES)


def weak_secret(value: str) -> str:
    """Why ``value`` cannot sign sessions ("" when it can)."""
    if is_placeholder(value):
        return "is a placeholder (from .env.example or similar)"
    if len(value.encode()) < 32:
        return f"is {len(value.encode())} bytes; 32 or more are needed"
    if len(set(value)) < 8:
        return "has fewer than 8 distinct characters"
    return ""


class AccessSettings(_Section):
    """Keys and their roles, one model for the upload API and the dashboard (X-API-Key or a
    dashboard session made from a key). Roles: ``ingest`` uploads frames; ``viewer`` sees the
    dashboard with faces blurred; ``poi`` also sees faces and POI identities and edits the
    watch-list (/v1/poi, /dashboard/poi); ``admin`` mints one-time keys and revokes keys and
    sessions; ``metrics`` only scrapes /metrics. A key has exactly one role."""

    ingest_keys: tuple[SecretStr, ...] = Field(
        (), description="Upload keys (POST /v1/frames); no dashboard access."
    )
    viewer_keys: tuple[SecretStr, ...] = Field(
        (), description="Dashboard keys; faces blurred, POI identities hidden."
    )
    poi_keys: tuple[SecretStr, ...] = Field(
        (), description="Watch-list keys: /v1/poi, /dashboard/poi, unblurred faces."
    )
    admin_keys: tuple[SecretStr, ...] = Field(
        (), description="Admin keys: /v1/admin (mint one-time keys, revoke keys and sessions)."
    )
    metrics_keys: tuple[SecretStr, ...] = Field(
        (), description="Scrape-only keys for /metrics when protect_metrics is on."
    )
    trusted_uploaders: tuple[str, ...] = Field(
        (),
        description="Fingerprints (`vigil keys list`) of ingest keys allowed to set the "
        "reserved upload tags `faces` and `vigil.*`; every other upload with them is a 403.",
    )
    protect_docs: bool = Field(
        True, description="/docs and /openapi.json need a key of any role (X-API-Key)."
    )
    protect_metrics: bool = Field(
        False,
        description="Off: `vigil api` serves /metrics unauthenticated on metrics_port (the "
        "metrics carry no personal data; keep the port off the public network). On: /metrics "
        "is served on the API's own port and needs an admin or metrics key (X-API-Key or "
        "Authorization: Bearer), and metrics_port is not opened.",
    )
    revocation_check_s: float = Field(
        2.0,
        gt=0,
        le=60,
        description="A revocation written by another process takes effect within this long.",
    )

    def keys_by_role(self) -> dict[str, tuple[SecretStr, ...]]:
        return {
            "ingest": self.ingest_keys,
            "viewer": self.viewer_keys,
            "poi": self.poi_keys,
            "admin": self.admin_keys,
            "metrics": self.metrics_keys,
        }

    @field_validator("trusted_uploaders")
    @classmethod
    def _fingerprints(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if len(value) != 24 or any(c not in "0123456789abcdef" for c in value):
                raise ValueError(f"{value[:40]!r} is not a key fingerprint (24 hex digits)")
        return values

    @model_validator(mode="after")
    def _one_role_per_key(self) -> AccessSettings:
        seen: dict[str, str] = {}
        for role, keys in self.keys_by_role().items():
            for key in keys:
                raw = key.get_secret_value()
                if not raw.strip():
                    raise ValueError(f"{role}_keys holds an empty key")
                if is_placeholder(raw):
                    raise ValueError(
                        f"{role}_keys holds a placeholder key (from .env.example or similar); "
                        "make one with `python -c 'import secrets; "
                        "print(secrets.token_urlsafe(32))'`"
                    )
                if raw in seen and seen[raw] != role:
                    raise ValueError(
                        f"one key is in both {seen[raw]}_keys and {role}_keys: a key has one role"
                    )
                seen[raw] = role
        return self


class DashboardSettings(_Section):
    """The web dashboard served by ``vigil api`` under ``/dashboard/`` (dashboards/web)."""

    _retired: ClassVar[dict[str, str]] = {
        "poi_keys": "moved: POI keys are access.poi_keys (VIGIL_ACCESS__POI_KEYS)",
    }

    enabled: bool = True
    session_secret: SecretStr | None = Field(
        None,
        description="Signs session cookies (32 bytes or more, not a placeholder); None or "
        "empty: random per process (a restart logs everyone out).",
    )
    session_ttl_s: float = Field(12 * 3600, gt=0)
    cookie_secure: bool = Field(False, description="Mark the cookie Secure (serve over HTTPS).")
    tail_messages: int = Field(
        300, ge=1, description="Messages per partition read back at start (frames, alerts)."
    )
    max_alerts: int = Field(500, ge=1, description="Alerts kept in memory for the feed.")
    max_frames: int = Field(400, ge=1, description="Frames kept in memory for snapshots.")
    stale_after_s: float = Field(30.0, gt=0, description="A camera without frames this long.")
    unchecked_frames: Literal["blur", "detect", "withhold"] = Field(
        "blur",
        description=(
            "What a viewer (not the POI role) gets for a frame whose faces were not looked for "
            "(no detections yet, or the face cascade did not run for it): 'blur' it whole, "
            "'detect' faces now with models.face_detector and blur them (blurred whole when "
            "the model is not prepared or fails), 'withhold' it (403)."
        ),
    )
    frame_url_ttl_s: float = Field(
        300.0,
        gt=0,
        le=86_400,
        description="Frame images are served only through signed URLs valid this long.",
    )
    login_per_minute: float = Field(
        10.0, gt=0, description="Login attempts per client address and minute (sustained)."
    )
    login_burst: int = Field(10, ge=1, description="Login attempts per client address at once.")
    login_max_bytes: int = Field(
        4096, ge=256, description="A login body over this is refused (413) before parsing."
    )

    @field_validator("session_secret")
    @classmethod
    def _strong_secret(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is None or not secret.get_secret_value():
            return secret
        problem = weak_secret(secret.get_secret_value())
        if problem:
            raise ValueError(
                f"session_secret {problem}; make one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'` (or leave it "
                "empty: random per process)"
            )
        return secret
