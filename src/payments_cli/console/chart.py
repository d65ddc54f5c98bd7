"""Charts drawn on the server as SVG: stacked bars of payments by outcome per time bucket.

No script runs in the console's pages (its Content-Security-Policy allows none), so a chart is markup: one
``<rect>`` per outcome and bucket, coloured by a class of the console's stylesheet, with a ``<title>`` that a
pointer or a screen reader gets the numbers from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The outcomes stacked, bottom first (payment_processor.store.overview.CHARTED).
SERIES = ("succeeded", "declined", "failed")
WIDTH, HEIGHT, GAP = 720, 160, 2


@dataclass(frozen=True)
class Bar:
    """One outcome's part of one bucket's bar."""

    x: float
    y: float
    width: float
    height: float
    series: str
    title: str


def bars(buckets: list[dict[str, Any]]) -> list[Bar]:
    """The rectangles of a stacked bar chart of ``buckets`` (each with a ``start`` and a count per outcome),
    scaled so the tallest bucket fills the height."""
    if not buckets:
        return []
    tallest = max(sum(int(b.get(s, 0)) for s in SERIES) for b in buckets) or 1
    step = WIDTH / len(buckets)
    drawn = []
    for i, bucket in enumerate(buckets):
        base = float(HEIGHT)
        for series in SERIES:
            count = int(bucket.get(series, 0))
            if count == 0:
                continue
            height = HEIGHT * count / tallest
            base -= height
            title = f"{bucket['start']}: {count} {series}"
            drawn.append(
                Bar(round(i * step, 2), round(base, 2), round(max(step - GAP, 1), 2), round(height, 2), series, title)
            )
    return drawn
