"""The settings of ``dashboards.web``: the ``dashboard`` section, and the settings the
dashboard is built with."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator

from vigil.sections import Section
from vigil.sections_access import weak_secret
from vigil.settings import CoreSettings


class DashboardSettings(Section):
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
    accuracy_refresh_s: float = Field(
        60.0, gt=0, description="vigil_model_accuracy is read from ClickHouse at most this often."
    )
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


class DashboardProcessSettings(CoreSettings):
    """The settings the web dashboard is built with."""

    dashboard: DashboardSettings = DashboardSettings()
