"""Face embeddings separate identities: the carphone man across frames is closer to himself
than to the astronaut, Grace Hopper or the cameraman."""

from __future__ import annotations

import numpy as np

from gpu_workers.models.cascade import FaceCascade
from gpu_workers.models.centerface import CenterFaceAdapter
from gpu_workers.models.embedder import EmbedderAdapter, align_face, template_for
from vigil.testing.media import frames, still

MARGIN = 0.15  # measured: worst same-person 0.71, best different-person 0.44


def test_same_person_closer_than_different_people(
    centerface: CenterFaceAdapter, faceres: EmbedderAdapter
) -> None:
    cascade = FaceCascade(centerface, faceres, min_face_px=20, min_sharpness=0)
    man = [cascade(f) for f in frames("carphone_pristine.mp4", [0, 20, 40, 60, 80, 100, 119])]
    others = [cascade(still(n)) for n in ("astronaut", "grace_hopper", "camera")]
    assert all(len(r.faces) == 1 for r in man + others)
    same = np.stack([r.faces[0].embedding for r in man])
    diff = np.stack([r.faces[0].embedding for r in others])
    pairs = same @ same.T
    worst_same = float(pairs[np.triu_indices(len(same), 1)].min())
    best_different = float((same @ diff.T).max())
    print(
        f"worst same-person similarity {worst_same:.3f}, "
        f"best different-person similarity {best_different:.3f}"
    )
    assert worst_same - best_different >= MARGIN


def test_embeddings_are_unit_length(faceres: EmbedderAdapter) -> None:
    crops = [np.full((224, 224, 3), v, np.uint8) for v in (30, 128)]
    vectors = faceres(crops)
    assert [v.shape for v in vectors] == [(1024,), (1024,)]
    assert np.allclose([np.linalg.norm(v) for v in vectors], 1.0, atol=1e-5)


def test_alignment_puts_landmarks_on_the_template() -> None:
    size = (224, 224)
    template = template_for(size, 1.0)
    image = np.zeros((300, 400, 3), np.uint8)
    # the template, rotated 20 degrees, halved and shifted: alignment must undo exactly that
    angle = np.deg2rad(20)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = (template @ rot.T) * 0.5 + np.array([150.0, 80.0])
    for x, y in src:
        image[round(y), round(x)] = 255
    aligned = align_face(image, [tuple(p) for p in src], size, 1.0)
    ys, xs = np.nonzero(aligned[..., 0])
    for tx, ty in template:  # every template point has a lit pixel within 3 px
        assert np.min(np.hypot(xs - tx, ys - ty)) < 3
