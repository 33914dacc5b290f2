"""The machine a bench ran on, and how busy it was: every bench document carries it, since
the figures of a shared 2-core machine mean little without the load beside them."""

from __future__ import annotations

import os
import platform
from typing import Any


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }
