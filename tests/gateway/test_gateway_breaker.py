"""The circuit breaker's states, on a clock the test moves (the gateway's use: test_faults)."""

import pytest

from unified_api_server.gateway.breaker import CLOSED, OPEN, Breaker


class Clock:
    """A clock that moves only when told."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_it_opens_after_the_threshold_and_closes_on_a_healthy_probe():
    clock = Clock()
    breaker = Breaker(failures=3, cooldown=2.0, clock=clock)
    for _ in range(2):
        breaker.failed()
    assert breaker.check(lambda: pytest.fail("no probe while closed")) is None
    breaker.failed()
    assert breaker.state == OPEN and "3 failed calls" in breaker.check(lambda: True)
    clock.now += 2.5
    assert breaker.check(lambda: True) is None and breaker.state == CLOSED


def test_a_failed_probe_opens_it_for_another_cooldown():
    clock = Clock()
    breaker = Breaker(failures=1, cooldown=2.0, clock=clock)
    breaker.failed()
    clock.now += 2.5
    assert breaker.check(lambda: False) is not None and breaker.state == OPEN
    assert breaker.retry_in() == pytest.approx(2.0)


def test_a_probe_killed_midway_leaves_it_open_not_stuck():
    """A view's budget may kill the probing greenlet: the breaker must not stay 'probing'."""
    clock = Clock()
    breaker = Breaker(failures=1, cooldown=2.0, clock=clock)
    breaker.failed()
    clock.now += 2.5

    def killed():
        raise KeyboardInterrupt  # any BaseException, as GreenletExit is

    with pytest.raises(KeyboardInterrupt):
        breaker.check(killed)
    assert breaker.state == OPEN
    clock.now += 2.5
    assert breaker.check(lambda: True) is None
