"""The retry schedule: Standard Webhooks' delays, spread by jitter, Retry-After honoured up to the next step."""

from __future__ import annotations

import pytest

from payment_processor.webhooks.schedule import DISABLE_AFTER_S, MAX_ATTEMPTS, RETRY_DELAYS_S, retry_delay_s


def no_jitter(low: float, high: float) -> float:
    return 0.0


def test_the_delays_are_the_specifications_and_add_up_to_about_three_days() -> None:
    assert RETRY_DELAYS_S == (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
    assert MAX_ATTEMPTS == 10
    assert [retry_delay_s(n, uniform=no_jitter) for n in range(1, 10)] == list(RETRY_DELAYS_S)
    assert retry_delay_s(10, uniform=no_jitter) is None, "after the last retry the event is not tried again"
    assert 2.9 * 86400 < sum(RETRY_DELAYS_S) < DISABLE_AFTER_S + 86400


def test_jitter_spreads_each_delay_by_at_most_a_tenth_either_way() -> None:
    for n, base in enumerate(RETRY_DELAYS_S, start=1):
        low = retry_delay_s(n, uniform=lambda a, b: a)
        high = retry_delay_s(n, uniform=lambda a, b: b)
        assert low == pytest.approx(base * 0.9) and high == pytest.approx(base * 1.1)


def test_retry_after_is_honoured_when_longer_but_never_past_the_next_step() -> None:
    assert retry_delay_s(1, retry_after_s=60, uniform=no_jitter) == 60
    assert retry_delay_s(1, retry_after_s=10**7, uniform=no_jitter) == 300, "capped at the next step's delay"
    assert retry_delay_s(2, retry_after_s=1, uniform=no_jitter) == 300, "a shorter one does not pull it closer"
    assert retry_delay_s(9, retry_after_s=10**7, uniform=no_jitter) == 86400


def test_a_retry_needs_a_failure_first() -> None:
    with pytest.raises(ValueError, match="at least one failed attempt"):
        retry_delay_s(0)
