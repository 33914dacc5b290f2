"""The dataset store: the frames ``vigil sample`` chose, copied out of ``vigil.frames`` before
retention removes them (faces blurred unless allowed), each with a record of why; and their
export for CVAT and Label Studio."""
