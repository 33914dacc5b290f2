"""The HTTP upload API (``vigil api``): images in, FrameEvents on ``vigil.frames`` out."""
