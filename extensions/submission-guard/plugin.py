"""submission-guard: refuses spam submissions and the deletion of locked forms.

Both hooks are ``veto`` hooks: a handler returns ``None`` to allow and ``Veto(reason)``
to refuse, and the first refusal stops the operation.

``submission.beforeSave`` refuses, in this order, a submission that

1. filled the honeypot field (hidden from people, so only bots fill it);
2. gives an e-mail address at a blocked domain (or a subdomain of one);
3. is one too many for its session: more than ``maxPerSessionPerMinute`` submissions in
   the last 60 seconds (a sliding window, kept in memory per session id; refused
   attempts are not counted, so a throttled person can retry a minute later).

``form.beforeDelete`` refuses to delete a form whose ``metadata.locked`` is true.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from typing import Any

from pliers_lab import HookContext, Plugin, Veto, hook

WINDOW_SECONDS = 60.0
_EMAIL = re.compile(r"^[^@\s]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)$")


_sessions: dict[str, deque[float]] = {}  # session id -> times of accepted submissions
_lock = threading.Lock()


def on_activate(plugin: Plugin) -> None:
    with _lock:
        _sessions.clear()


def on_unload(plugin: Plugin) -> None:
    with _lock:
        _sessions.clear()


def _blocked_domain(answers: dict[str, Any], blocked: list[str]) -> tuple[str, str] | None:
    """(answer name, blocked domain) of the first address at a blocked domain."""
    lowered: list[tuple[str, str, str]] | None = None  # (as configured, lower, ".lower")
    for name, value in answers.items():
        if not isinstance(value, str) or "@" not in value:  # the pattern needs an "@"
            continue
        match = _EMAIL.match(value.strip())
        if match is None:
            continue
        domain = match.group(1).lower()
        if lowered is None:
            lowered = [(bad, bad.lower(), "." + bad.lower()) for bad in blocked]
        for bad, low, dotted in lowered:
            if domain == low or domain.endswith(dotted):
                return name, bad
    return None


def _over_limit(session: str, now: float, limit: int) -> bool:
    """Record a submission of ``session`` at ``now`` unless it is over ``limit``."""
    with _lock:
        times = _sessions.setdefault(session, deque())
        while times and times[0] <= now - WINDOW_SECONDS:
            times.popleft()
        if len(times) >= limit:
            return True
        times.append(now)
        if len(_sessions) > 10_000:  # forget sessions that went quiet
            for key in [k for k, t in _sessions.items() if t[-1] <= now - WINDOW_SECONDS]:
                del _sessions[key]
        return False


@hook("submission.beforeSave")
def guard_submission(ctx: HookContext) -> Veto | None:
    """Refuse honeypot hits, blocked e-mail domains and sessions over the rate limit."""
    config, submission = ctx.config, ctx.data["submission"]
    answers: dict[str, Any] = submission.get("data", {})
    honeypot = config["honeypotField"]
    if str(answers.get(honeypot) or "").strip():
        ctx.logger.warning("honeypot filled", submission=submission.get("id"))
        return Veto(f"honeypot field {honeypot!r} was filled")
    hit = _blocked_domain(answers, config["blockedDomains"])
    if hit is not None:
        name, domain = hit
        return Veto(f"e-mail domain {domain!r} is blocked (field {name!r})")
    session, limit = ctx.session_id, int(config["maxPerSessionPerMinute"])
    if session is not None and _over_limit(session, ctx.timestamp, limit):
        ctx.logger.warning("rate limit hit", session=session, limit=limit)
        return Veto(f"session {session!r} sent more than {limit} submissions in the last minute")
    return None


@hook("form.beforeDelete")
def guard_form_delete(ctx: HookContext) -> Veto | None:
    """Refuse to delete a locked form."""
    form = ctx.data["form"]
    if form.get("metadata", {}).get("locked") is True:
        return Veto(
            f"form {form.get('id')!r} ({form.get('name')}) is locked; unlock it before deleting it"
        )
    return None
