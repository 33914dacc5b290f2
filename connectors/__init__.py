"""The edges of the flow: sources that put frames on ``vigil.frames`` (cameras, video files,
RTSP streams, the upload API) and sinks that take events off the topics (ClickHouse, alert
destinations). See DESIGN.md; each connector talks to the others only through topics."""
