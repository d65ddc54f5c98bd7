"""The one JSON encoding of API answers: compact, key order as built. A replayed answer is these bytes,
stored as text (migration 0003), so a retry gets exactly what the first request got."""

from __future__ import annotations

import json
from typing import Any


def compact_json(value: Any) -> str:
    """``value`` as the API sends it: no spaces, keys in the order the resource lists them."""
    return json.dumps(value, separators=(",", ":"))
