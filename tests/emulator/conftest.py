"""The emulator tier: the real `payments` command deploying to a moto server with the real terraform.

Its fixtures (`cli`, `alpha`) live in tests/local_target.py, shared with tests/resilience so a session
does one `up`; `Cli` is re-exported here for the tier's modules.
"""

from __future__ import annotations

from tests.local_target import Cli

__all__ = ["Cli"]
