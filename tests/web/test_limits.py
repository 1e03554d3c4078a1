"""Sliding-window limits without a server: counting, sliding, headers, bounded keys."""

from __future__ import annotations

import pytest

from pliers_lab.web._limits import MANAGEMENT_LIMITS, RateLimiter, SlidingWindow, limit_headers


def test_window_allows_limit_then_refuses_until_the_oldest_leaves() -> None:
    window = SlidingWindow(3, 10.0)
    assert [window.hit("a", t).remaining for t in (100.0, 101.0, 102.0)] == [2, 1, 0]
    refused = window.hit("a", 105.0)
    assert not refused.allowed and refused.reset == 110.0 and refused.retry_after == 5.0
    assert window.hit("a", 110.0).allowed  # the request at 100 slid out
    assert not window.hit("a", 110.5).allowed
    assert window.hit("b", 105.0).allowed  # per client


def test_refusals_do_not_count() -> None:
    window = SlidingWindow(1, 1.0)
    assert window.hit("a", 0.0).allowed
    for t in (0.1, 0.2, 0.9):
        assert not window.hit("a", t).allowed
    assert window.hit("a", 1.0).allowed


def test_headers() -> None:
    window = SlidingWindow(2, 60.0)
    headers = dict(limit_headers(window.hit("c", 1000.2)))
    assert headers == {
        "x-ratelimit-limit": "2",
        "x-ratelimit-remaining": "1",
        "x-ratelimit-reset": "1061",
    }
    window.hit("c", 1000.3)
    headers = dict(limit_headers(window.hit("c", 1001.0)))
    assert headers["x-ratelimit-remaining"] == "0" and headers["retry-after"] == "60"


def test_keys_are_bounded() -> None:
    window = SlidingWindow(1, 60.0, max_keys=100)
    for i in range(1000):
        window.hit(f"client-{i}", 0.0)
    assert len(window) == 100
    assert window.hit("client-999", 1.0).allowed is False  # recent keys are kept


def test_limiter_gives_each_name_and_limit_its_window() -> None:
    limiter = RateLimiter()
    assert limiter.window("r", 2, 60) is limiter.window("r", 2, 60.0)
    assert limiter.window("r", 3, 60) is not limiter.window("r", 2, 60)
    assert MANAGEMENT_LIMITS == {
        "general": (100, 60.0),
        "install": (10, 60.0),
        "upload": (5, 60.0),
        "search": (50, 60.0),
    }


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        SlidingWindow(0, 1.0)
