"""The emulator tier: the real `payments` command deploying to a moto server with the real terraform.

Its fixtures (`cli`, `alpha`) live in tests/local_target.py, shared with tests/resilience so a session
does one `up`; `Cli` is re-exported here for the tier's modules.
"""

from __future__ import annotations

import pytest

from tests.local_target import Cli

__all__ = ["Cli"]

#: The module that deploys alpha first and reads that first deploy's output (progress, the admin setup), then
#: counts alpha's merchants before other modules add theirs.
FIRST = "tests/emulator/test_local_target.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run FIRST's tests before the tier's other modules whatever their file names sort as (a module named
    test_connectors_… once deployed alpha before it through the shared `alpha` fixture)."""
    first = [item for item in items if item.nodeid.startswith(FIRST)]
    if not first:
        return
    chosen = {id(item) for item in first}
    rest = [item for item in items if id(item) not in chosen]
    at = next((k for k, item in enumerate(rest) if item.nodeid.startswith("tests/emulator/")), len(rest))
    items[:] = rest[:at] + first + rest[at:]
