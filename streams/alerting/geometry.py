"""Plane geometry in normalised frame coordinates (x right, y down, both 0..1)."""

from __future__ import annotations

from collections.abc import Sequence

Point = tuple[float, float]
BoxT = tuple[float, float, float, float]  # x_min, y_min, x_max, y_max


def bottom_centre(box: BoxT) -> Point:
    """Where an object stands: the middle of its box's lower edge (its feet, not its head)."""
    return ((box[0] + box[2]) / 2.0, box[3])


def in_polygon(point: Point, polygon: Sequence[Point]) -> bool:
    """Even-odd ray casting; a point exactly on an edge may fall either way."""
    x, y = point
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < x_cross:
                inside = not inside
    return inside


def _side(a: Point, b: Point, p: Point) -> float:
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def segments_cross(p1: Point, p2: Point, a: Point, b: Point) -> bool:
    """True when the move p1 -> p2 passes through the segment a-b (touching counts once:
    the start point may lie on the line, the end point must be strictly across)."""
    d1, d2 = _side(a, b, p1), _side(a, b, p2)
    if d2 == 0 or ((d1 > 0) == (d2 > 0) and d1 != 0):
        return False
    d3, d4 = _side(p1, p2, a), _side(p1, p2, b)
    return (d3 >= 0) != (d4 >= 0) or d3 == 0 or d4 == 0


def iou(a: BoxT, b: BoxT) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    if inter <= 0:
        return 0.0
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    return inter / max(area_a + area_b - inter, 1e-12)
