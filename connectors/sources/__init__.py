"""Camera sources: video files, RTSP/HTTP streams and local devices into ``vigil.frames``."""
