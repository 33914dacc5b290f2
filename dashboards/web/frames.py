"""The images a viewer is sent and the URLs to them: every image route checks a signed URL
(dashboards/web/signing.py), then renders the frame as the viewer's role may see it
(dashboards/web/privacy.py); the JSON the pages use carries those URLs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse, Response

from dashboards.web.auth import Viewer
from dashboards.web.live import LiveState
from dashboards.web.privacy import FaceFinder, Withheld, viewer_image
from dashboards.web.render import RenderError, decode
from dashboards.web.settings import DashboardProcessSettings
from dashboards.web.signing import FrameUrls, Kind
from vigil.blobs import BlobResolver
from vigil.faces import FaceModels

Found = tuple[dict[str, Any], dict[str, Any] | None] | None


class FrameViews:
    def __init__(
        self, settings: DashboardProcessSettings, live: LiveState, faces: FaceModels
    ) -> None:
        self.settings = settings
        self.live = live
        self.resolver = BlobResolver.from_settings(settings)
        self.urls = FrameUrls.from_settings(settings)
        self.faces = FaceFinder(faces)  # loads nothing until a frame needs it

    def alert(self, alert: dict[str, Any], who: Viewer) -> dict[str, Any]:
        """An alert as this viewer gets it: the snapshot's signed URL added, POI identities for
        the POI role only."""
        out = {**alert, "frame_url": self.urls.url("frame", str(alert["frame_id"]), who.role)}
        if who.poi or alert.get("poi_id") is None:
            return out
        return {**out, "poi_id": "(hidden)", "poi_similarity": None}

    def camera_rows(self, who: Viewer) -> list[dict[str, Any]]:
        """Camera rows with the signed URL of each camera's live frame (when one is in memory)."""
        rows = self.live.camera_rows()
        for row in rows:
            ok = row["has_frame"]
            row["frame_url"] = self.urls.url("camera", row["camera_id"], who.role) if ok else None
        return rows

    def refusal(
        self, kind: Kind, ident: str, who: Viewer, query: Mapping[str, str]
    ) -> Response | None:
        """403 unless the URL carries a valid signature for this frame (or camera) and role."""
        why = self.urls.refusal(kind, ident, who.role, query.get("exp", ""), query.get("sig", ""))
        if why is None:
            return None
        return JSONResponse({"error": "bad_frame_url", "detail": why}, 403)

    def jpeg(self, found: Found, who: Viewer) -> Response:
        """The frame as this viewer may see it; ``X-Vigil-Privacy`` says how it was treated."""
        if found is None:
            return JSONResponse({"error": "not_found", "detail": "no frame in memory"}, 404)
        event, det = found
        policy = self.settings.dashboard.unchecked_frames
        try:
            image = decode(event, self.resolver, self.settings.ingest.max_upload_pixels)
            shown = viewer_image(image, det, poi=who.poi, policy=policy, finder=self.faces)
        except RenderError as exc:
            return JSONResponse({"error": "undecodable", "detail": str(exc)}, 422)
        except Withheld as exc:
            return JSONResponse({"error": "faces_not_checked", "detail": str(exc)}, 403)
        headers = {"Cache-Control": "no-store", "X-Vigil-Privacy": shown.privacy}
        return Response(shown.jpeg, media_type="image/jpeg", headers=headers)
