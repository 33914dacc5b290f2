"""The settings sections of who may do what: keys by role (``access``) and the dashboard's
sessions, limits and privacy policy (``dashboard``). Split from ``vigil.sections`` (same rules:
frozen, unknown keys are errors); import them from ``vigil.settings``."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator

from vigil.sections import Section

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


class AccessSettings(Section):
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
