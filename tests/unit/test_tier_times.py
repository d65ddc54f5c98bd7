"""The per-tier clock of the test run (tests/tier_times.py) names tiers by their folder."""

from __future__ import annotations

import pytest

from tests.tier_times import TierTimes


@pytest.mark.parametrize(
    ("nodeid", "tier"),
    [
        ("tests/unit/test_x.py::test_y", "unit"),
        ("tests/emulator/sub/test_x.py::test_y[a/b]", "emulator"),
        ("tests/test_top.py::test_y", "test_top.py"),
    ],
)
def test_a_test_belongs_to_the_folder_under_tests_it_lives_in(nodeid: str, tier: str) -> None:
    assert TierTimes.tier_of(nodeid) == tier
