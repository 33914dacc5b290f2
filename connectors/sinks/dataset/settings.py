"""The settings of the dataset store (the copier of ``vigil sample``, ``vigil dataset``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from vigil.sections import Section
from vigil.settings import CoreSettings


class DatasetSettings(Section):
    """Where chosen frames are copied to, and what of them is kept."""

    name: str = Field(
        "default", pattern=r"^[A-Za-z0-9._-]+$", description="The dataset samples are copied into."
    )
    root: Path | None = Field(None, description="None: <data_dir>/datasets.")
    group_id: str = Field(
        "dataset-copier", pattern=r"^[A-Za-z0-9._-]+$", description="<topics.prefix>-<group_id>."
    )
    keep_faces: bool = Field(
        False,
        description="Copy frames with faces sharp. False (default): the faces are blurred, and "
        "a frame whose faces cannot be found is blurred whole (fail closed).",
    )
    clock_skew_s: float = Field(
        5.0, ge=0, description="A frame's record may be stamped this much before its capture."
    )
    max_ingest_delay_s: float = Field(
        60.0, gt=0, description="... and at most this much after it (as `vigil replay` assumes)."
    )
    jpeg_quality: int = Field(92, ge=50, le=100, description="Re-encoding of a blurred frame.")
    max_pixels: int = Field(40_000_000, ge=1, description="Larger frames are not decoded.")
    session_timeout_s: float = Field(10.0, ge=6)


class DatasetProcessSettings(CoreSettings):
    """The settings the dataset copier is built with."""

    dataset: DatasetSettings = DatasetSettings()
