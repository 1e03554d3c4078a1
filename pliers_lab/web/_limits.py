"""Sliding-window rate limits: per endpoint and client, and the management API's buckets.

A ``SlidingWindow`` keeps, per key, the times of the last ``limit`` accepted requests (a
sliding log capped at ``limit`` entries, so memory is bounded by the limit, not by the
traffic). A request is accepted when fewer than ``limit`` accepted requests fall within
the last ``window`` seconds. Every reply of a limited route carries
``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (epoch
seconds at which the next slot frees); a refusal is a 429 with ``Retry-After`` too.

Keys are ``(bucket, client)``: the client is the caller's IP address (the server does
not trust ``X-Forwarded-For``). The number of keys per window is bounded (least recently
seen dropped), so a scan from many addresses cannot grow memory without end. Windows
are used from the server's event loop thread only.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Hashable, Mapping
from typing import NamedTuple

__all__ = ["MANAGEMENT_LIMITS", "Decision", "RateLimiter", "SlidingWindow", "limit_headers"]

#: The management API's limits per client (related-facts §7): requests per 60 s.
MANAGEMENT_LIMITS: Mapping[str, tuple[int, float]] = {
    "general": (100, 60.0),
    "install": (10, 60.0),
    "upload": (5, 60.0),
    "search": (50, 60.0),
}


class Decision(NamedTuple):
    """The answer for one request."""

    allowed: bool
    limit: int
    remaining: int
    reset: float
    """Epoch seconds at which the oldest counted request leaves the window."""
    retry_after: float
    """Seconds to wait before a retry can succeed (0 when allowed)."""


class SlidingWindow:
    """At most ``limit`` requests per ``window`` seconds, per key."""

    __slots__ = ("_logs", "limit", "max_keys", "window")

    def __init__(self, limit: int, window: float, *, max_keys: int = 10_000) -> None:
        if limit < 1 or window <= 0:
            raise ValueError(f"a rate limit needs limit >= 1 and window > 0 (got {limit}/{window})")
        self.limit = limit
        self.window = float(window)
        self.max_keys = max_keys
        self._logs: OrderedDict[Hashable, deque[float]] = OrderedDict()

    def hit(self, key: Hashable, now: float) -> Decision:
        """Count a request of ``key`` at ``now`` (epoch seconds) if the window allows it."""
        logs = self._logs
        log = logs.get(key)
        if log is None:
            log = logs[key] = deque()
            if len(logs) > self.max_keys:
                logs.popitem(last=False)
        else:
            logs.move_to_end(key)
        cutoff = now - self.window
        while log and log[0] <= cutoff:
            log.popleft()
        if len(log) >= self.limit:
            reset = log[0] + self.window
            return Decision(False, self.limit, 0, reset, reset - now)
        log.append(now)
        return Decision(True, self.limit, self.limit - len(log), log[0] + self.window, 0.0)

    def __len__(self) -> int:
        return len(self._logs)


class RateLimiter:
    """Named windows, created on first use; a name with new numbers gets a new window."""

    def __init__(self, *, max_keys: int = 10_000) -> None:
        self.max_keys = max_keys
        self._windows: dict[tuple[str, int, float], SlidingWindow] = {}

    def window(self, name: str, limit: int, window: float) -> SlidingWindow:
        key = (name, limit, float(window))
        found = self._windows.get(key)
        if found is None:
            found = self._windows[key] = SlidingWindow(limit, window, max_keys=self.max_keys)
        return found

    def hit(self, name: str, limit: int, window: float, client: Hashable, now: float) -> Decision:
        return self.window(name, limit, window).hit(client, now)


def limit_headers(decision: Decision) -> list[tuple[str, str]]:
    """The ``X-RateLimit-*`` headers (and ``Retry-After`` on a refusal)."""
    headers = [
        ("x-ratelimit-limit", str(decision.limit)),
        ("x-ratelimit-remaining", str(decision.remaining)),
        ("x-ratelimit-reset", str(math.ceil(decision.reset))),
    ]
    if not decision.allowed:
        headers.append(("retry-after", str(max(1, math.ceil(decision.retry_after)))))
    return headers
