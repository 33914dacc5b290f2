"""The face cascade: persons or whole frame -> faces -> quality gate -> embeddings, and the
faces the gate turns away come back with the reason."""

from __future__ import annotations

from gpu_workers.models.cascade import FaceCascade
from gpu_workers.models.centerface import CenterFaceAdapter
from gpu_workers.models.embedder import EmbedderAdapter
from gpu_workers.models.ssd import SsdAdapter
from vigil.testing.media import still


def test_persons_then_faces_then_embeddings(
    ssd: SsdAdapter, centerface: CenterFaceAdapter, faceres: EmbedderAdapter
) -> None:
    image = still("astronaut")
    (people,) = ssd([image])
    persons = [d.box for d in people.detections if d.label == "person"]
    assert len(persons) == 1
    result = FaceCascade(centerface, faceres)(image, persons)
    assert len(result.faces) == 1
    assert result.rejected == ()
    face = result.faces[0]
    assert face.embedding.shape == (1024,)
    person = persons[0]
    assert person.x_min <= face.detection.box.x_min
    assert face.detection.box.x_max <= person.x_max
    assert result.detector.name == "centerface"
    assert result.embedder.name == "faceres"
    assert result.embedder.sha256 == faceres.identity.sha256
    # the same face from the whole frame
    whole = FaceCascade(centerface, faceres)(image)
    assert abs(float(whole.faces[0].embedding @ face.embedding) - 1.0) < 0.05


def test_quality_gate_returns_rejected_faces_with_reasons(
    centerface: CenterFaceAdapter, faceres: EmbedderAdapter
) -> None:
    image = still("grace_hopper")
    small = FaceCascade(centerface, faceres, min_face_px=10_000)(image)
    assert small.faces == ()
    assert len(small.rejected) == 1
    assert small.rejected[0].reason.startswith("too small")
    blurred = FaceCascade(centerface, faceres, min_sharpness=1e9)(image)
    assert blurred.faces == ()
    assert blurred.rejected[0].reason.startswith("too blurred")


def test_no_faces_no_embeddings(centerface: CenterFaceAdapter, faceres: EmbedderAdapter) -> None:
    result = FaceCascade(centerface, faceres)(still("chelsea"))
    assert result.faces == ()
    assert result.rejected == ()
