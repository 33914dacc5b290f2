"""Motion-gated detection: a frame of a live camera without motion is not run through the
models; its DetectionEvent carries the camera's last detected frame's detections forward
(``carried_from`` = that frame's id), so dwell and zone rules still see a standing person.

A frame is detected (run through the models) when any of these holds, else it is carried:

- gating is off (``worker.motion.enabled``, the camera's override), or its source kind is not
  gated (uploads, replays, synthetic and unknown frames are never gated);
- its camera runs the face cascade (``worker.face_cameras`` or the tag ``faces=1``): a carried
  event could not say its faces were looked for, so face frames are always detected (the
  dashboard's fail-closed privacy rule stays exact), and no frame carries from one that was;
- the camera has no detected frame yet (after a start, a revoke, a loss or an abort), or this
  frame's sequence is not past the last one seen (a re-run or a restarted source);
- ``max_skip_s`` or more of capture time since the last detected frame, or capture time went
  backwards;
- motion: the moved fraction of the grey copy against the background, or against the grey copy
  of the last detected frame (what left since then), is >= ``min_area``.

Per-camera state (background, last detected event) is keyed by camera id: a camera's frames
come in order from one partition, which one worker owns. It changes only once a batch's call
returned (a batch that raises is re-run in halves by ``run_isolating`` from the same state),
and :meth:`MotionGate.reset` drops it all on a revoke, a loss or an abort, so nothing carried
after a rewind comes from a rolled-back frame: each camera's next frame is detected.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gpu_workers.gpu.frames import DeviceFrame
from gpu_workers.settings import MotionSettings
from gpu_workers.worker.inference import Item, now_ms, wants_faces
from gpu_workers.worker.metrics import MOTION_FRAMES, STAGE_SECONDS
from gpu_workers.worker.motion import Background, Grey, MotionModel, grey_copy
from schemas.types import DetectionEvent

Infer = Callable[[Sequence[Item]], list[DetectionEvent]]


@dataclass(frozen=True)
class CameraState:
    background: Background
    last: DetectionEvent | None  # the last detected (not carried) event
    reference: Grey  # the grey copy of that frame
    sequence: int  # of the last frame seen


@dataclass(frozen=True)
class CameraPolicy:
    enabled: bool
    model: MotionModel
    max_skip_ms: float


class MotionGate:
    def __init__(self, settings: MotionSettings, face_cameras: Sequence[str] = ()) -> None:
        self.settings = settings
        self.face_cameras = tuple(face_cameras)
        self.cameras: dict[str, CameraState] = {}
        self._policies: dict[str, CameraPolicy] = {}
        self.inferred = 0
        self.carried = 0

    def policy(self, camera: str) -> CameraPolicy:
        found = self._policies.get(camera)
        if found is None:
            s = self.settings
            o = s.cameras.get(camera)
            found = CameraPolicy(
                # the section's switch is the master: off, no camera is gated
                enabled=s.enabled and (o is None or o.enabled is not False),
                model=MotionModel(
                    threshold=s.threshold if o is None or o.threshold is None else o.threshold,
                    min_area=s.min_area if o is None or o.min_area is None else o.min_area,
                    learning_rate=s.learning_rate,
                    masks=() if o is None else o.masks,
                ),
                max_skip_ms=1000.0
                * (s.max_skip_s if o is None or o.max_skip_s is None else o.max_skip_s),
            )
            self._policies[camera] = found
        return found

    def gated(self, item: Item) -> bool:
        ev = item.event
        return (
            ev["source_kind"] in self.settings.source_kinds
            and self.policy(ev["camera_id"]).enabled
            and not wants_faces(ev, self.face_cameras)
        )

    def reset(self) -> None:
        """Forget every camera: the next frame of each is detected."""
        self.cameras.clear()

    def run(self, items: Sequence[Item], infer: Infer) -> list[DetectionEvent]:
        """One event per item, in order: ``infer`` over the frames to detect, carried events
        for the others. The state is kept only if ``infer`` returns."""
        staged: dict[str, _Staged] = {}
        t0 = time.perf_counter()
        carry = [self._decide(item, staged) for item in items]
        STAGE_SECONDS.labels("motion").observe(time.perf_counter() - t0)
        detected = iter(infer([i for i, c in zip(items, carry, strict=True) if not c]))
        last = {cam: state.last for cam, state in self.cameras.items()}
        out: list[DetectionEvent] = []
        for item, carried in zip(items, carry, strict=True):
            cam = item.event["camera_id"]
            if not carried:
                ev = next(detected)
                if self.gated(item):  # only gated frames are carried from: never a face frame
                    last[cam] = ev
                out.append(ev)
                continue
            ref = last.get(cam)
            if ref is None:  # _decide carries only with a reference
                raise RuntimeError(f"camera {cam}: nothing to carry")
            out.append(carried_event(item, ref))
        for item, carried in zip(items, carry, strict=True):
            if self.gated(item):
                MOTION_FRAMES.labels(item.event["camera_id"], _OUTCOMES[carried]).inc()
                self.carried += carried
                self.inferred += not carried
        for cam, state in staged.items():
            self.cameras[cam] = CameraState(
                state.background, last.get(cam), state.reference, state.sequence
            )
        return out

    def _decide(self, item: Item, staged: dict[str, _Staged]) -> bool:
        """Whether ``item`` is carried; stages its camera's next background and reference."""
        if not self.gated(item):
            return False
        ev = item.event
        cam = ev["camera_id"]
        state = staged.get(cam) or self._staged(cam)
        if state is not None and ev["sequence"] <= state.sequence:
            state = None  # a re-run, or the source restarted its sequence: start again
        policy = self.policy(cam)
        decoded, width = item.decoded, self.settings.width
        # the torch path makes the small grey copy on the device: only it crosses the bus
        grey = (
            decoded.grey(width)
            if isinstance(decoded, DeviceFrame)
            else grey_copy(decoded.image, width)
        )
        measure, background = policy.model.measure(
            None if state is None else state.background, grey
        )
        carried = (
            state is not None
            and 0 <= ev["capture_ts_ms"] - state.ref_capture_ms < policy.max_skip_ms
            and not measure.moved
            and not policy.model.against(state.reference, grey).moved
        )
        if carried and state is not None:
            staged[cam] = _Staged(background, state.ref_capture_ms, state.reference, ev["sequence"])
        else:
            staged[cam] = _Staged(background, ev["capture_ts_ms"], grey, ev["sequence"])
        return carried

    def _staged(self, camera: str) -> _Staged | None:
        state = self.cameras.get(camera)
        if state is None or state.last is None:
            return None
        return _Staged(
            state.background, state.last["capture_ts_ms"], state.reference, state.sequence
        )


_OUTCOMES = {True: "carried", False: "inferred"}


@dataclass(frozen=True)
class _Staged:
    """A camera's state while its batch is decided: the reference is the capture time of the
    last detected frame, which may be in this batch (its event exists only after ``infer``)."""

    background: Background
    ref_capture_ms: int
    reference: Grey
    sequence: int


def carried_event(item: Item, ref: DetectionEvent) -> DetectionEvent:
    """``item``'s event with ``ref``'s detections (boxes as they were) and model, its own ids,
    times, size and image statistics; ``carried_from`` names the detected frame."""
    ev = item.event
    return {
        **ref,
        "frame_id": ev["frame_id"],
        "camera_id": ev["camera_id"],
        "sequence": ev["sequence"],
        "capture_ts_ms": ev["capture_ts_ms"],
        "inference_ts_ms": now_ms(),
        "frame_width": item.decoded.header.width,
        "frame_height": item.decoded.header.height,
        "detections": list(ref["detections"]),
        "image_stats": item.stats,
        "faces_searched": False,
        "carried_from": ref["frame_id"],
    }
