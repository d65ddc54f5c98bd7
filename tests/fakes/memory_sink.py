"""An in-memory transaction-log sink (the S3 sink's fake) for unit tests of the logic."""

from __future__ import annotations

from payment_processor.txlog import SinkUnavailable


class MemorySink:
    """An in-memory sink; ``available = False`` makes it fail like an S3 outage."""

    def __init__(self) -> None:
        self.objects: dict[str, str] = {}
        self.available = True
        self.puts = 0

    def put(self, key: str, body: str) -> bool:
        """Store the object unless present."""
        if not self.available:
            raise SinkUnavailable("memory sink switched off")
        self.puts += 1
        if key in self.objects:
            return False
        self.objects[key] = body
        return True
