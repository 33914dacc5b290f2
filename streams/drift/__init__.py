"""The drift-statistics stream app: per-camera windows of detection and image statistics compared with a reference (PSI, KS, JS), alarms on vigil.drift."""
