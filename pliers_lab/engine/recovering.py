"""What happens after a handler failed for good: the plugin's recovery policy and the
circuit breaker, each decision kept as a ``RecoveryRecord``.

Only the plugin's own failures get here as failures: a host overload (``HostOverload``,
``error.counted`` False) is recorded and nothing else (issue 14 §1). The breaker keeps
the plugin ACTIVE: while it is open its handlers sit behind a gate that skips each call
with the reason (``pliers_lab.engine._breaker``), and it always half-opens again.
"""

from __future__ import annotations

import inspect
import time
from functools import partial
from typing import Any

from ..context import HookContext
from ..errors import PliersError, PluginError, must_propagate, raised_text
from ..plugin import Plugin
from ..recovery import RecoveryRecord, RecoveryStrategy
from ._breaker import BreakerState, gate, gate_async
from ._dispatch import HookImpl
from .base import EngineBase, S, _awaited


class RecoveryOps(EngineBase):
    """Recovery policy (retry, fallback, disable, restart, ignore) and circuit breaker."""

    def _on_hook_failure(
        self, impl: HookImpl, error: PluginError, ctx: HookContext
    ) -> tuple[bool, Any]:
        """Record a handler's failure and apply its plugin's recovery policy."""
        plugin = self._plugins.get(impl.plugin_id)
        self._record_error(plugin, error)
        if plugin is None or not error.counted:  # the host's overload: recorded, no more
            return False, None
        action = self._sandbox_action(plugin, error)  # type: ignore[attr-defined]
        if action is not None:  # a sandbox violation: quarantine/disable, not the policy
            error.recovery = action
            self._recovered(plugin, error, action, f"sandbox: {action} after {error.type.value}")
            return False, None
        policy = plugin.policy
        has_value, value = False, None
        strategy = policy.strategy
        detail = ""
        try:
            if strategy is RecoveryStrategy.FALLBACK:
                has_value, value, detail = self._fallback(impl, ctx, policy.fallback_plugin)
            elif strategy is RecoveryStrategy.DISABLE and plugin.state is S.ACTIVE:
                self.disable(plugin.id, f"disabled by recovery policy after {error.type.value}")
                detail = "plugin disabled"
            elif strategy is RecoveryStrategy.RESTART and plugin.state is S.ACTIVE:
                self.restart(plugin.id, f"restart after {error.type.value}")
                detail = f"plugin restarted ({plugin.stats.restarts} restarts)"
            elif strategy is RecoveryStrategy.RETRY:
                detail = f"gave up after {impl.retries} retries"
            else:
                detail = "error ignored; other plugins continue"
        except PliersError as exc:
            detail = f"recovery failed: {exc}"
        error.recovery = strategy.value
        self._recovered(plugin, error, strategy.value, detail)
        streak = plugin.stats.consecutive_failures
        if streak >= policy.breaker_threshold and plugin.state is S.ACTIVE:
            reason = f"{streak} consecutive failures, the last a {error.type.value}"
            if plugin.breaker.trip(reason):
                plugin.breaker.listener = partial(self._breaker_moved, plugin)
                self._breaker_moved(plugin, BreakerState.OPEN, reason, error)
        return has_value, value

    def _fallback(
        self, impl: HookImpl, ctx: HookContext, fallback_id: str | None
    ) -> tuple[bool, Any, str]:
        fallback = self._plugins.get(fallback_id or "")
        if fallback is None or fallback.state is not S.ACTIVE:
            return False, None, f"fallback plugin {fallback_id!r} is not active"
        handler = fallback.handlers.get(impl.hook)
        if handler is None:
            return False, None, f"fallback plugin {fallback_id!r} has no handler for {impl.hook!r}"
        failed_id, ctx.plugin_id = ctx.plugin_id, fallback.id
        try:
            value = handler(ctx)
            if inspect.isawaitable(value):
                if self._loop.in_loop_thread():
                    close = getattr(value, "close", None)
                    if close is not None:
                        close()
                    return (
                        False,
                        None,
                        (
                            f"fallback {fallback_id!r} is async and cannot answer from inside the "
                            "engine's loop; give it a synchronous handler"
                        ),
                    )
                value = self._loop.run(_awaited(value))
        except BaseException as exc:  # sys.exit() in a plugin must not end the caller
            if must_propagate(exc):
                raise
            return False, None, f"fallback {fallback_id!r} failed too: it {raised_text(exc)}"
        finally:
            ctx.plugin_id = failed_id
        return True, value, f"answered by fallback plugin {fallback_id!r}"

    def _breaker_moved(
        self,
        plugin: Plugin,
        state: BreakerState,
        detail: str,
        error: PluginError | None = None,
    ) -> None:
        """The breaker changed: gate or ungate the plugin's handlers, keep the record.

        Called with the failure that tripped it, or by the gate (half-open trial admitted,
        trial answered, trial failed) on the thread of that call."""
        reset_s = plugin.breaker.reset_s

        def serving() -> bool:  # checked under the registry's lock: a concurrent disable
            # or reload removes or replaces the handlers after it, never before
            return self._plugins.get(plugin.id) is plugin and plugin.state is S.ACTIVE

        if state is BreakerState.OPEN:
            self._registry.replace(plugin.id, self._gated(plugin, plugin.impls), serving)
        elif state is BreakerState.CLOSED:
            self._registry.replace(plugin.id, plugin.impls, serving)
        if state is BreakerState.OPEN:  # tripped by a failure, or a failed trial (gate)
            action = "circuit_open" if error is not None else "circuit_reopened"
            detail = f"{detail}; calls are skipped, a trial call in {reset_s:g} s"
        else:
            action = "circuit_half_open" if state is BreakerState.HALF_OPEN else "circuit_closed"
        plugin.logger.warning(f"{action.replace('_', ' ')}: {detail}")
        self._recovered(plugin, error, action, detail)

    def _close_breaker(self, plugin: Plugin, detail: str) -> None:
        plugin.breaker.reset()
        self._breaker_moved(plugin, BreakerState.CLOSED, detail)

    def _gated(self, plugin: Plugin, impls: list[HookImpl]) -> list[HookImpl]:
        """``impls`` behind the plugin's breaker when it is not closed (as they are
        otherwise): what the hook tables hold for it."""
        breaker = plugin.breaker
        if breaker.closed:
            return impls
        return [
            impl.with_fn(
                (gate_async if impl.is_async else gate)(impl.fn, breaker, plugin.id, impl.hook),
                gate_async(impl.afn, breaker, plugin.id, impl.hook) if impl.afn else None,
            )
            for impl in impls
        ]

    def _recovered(
        self, plugin: Plugin, error: PluginError | None, action: str, detail: str
    ) -> None:
        self.recoveries.append(
            RecoveryRecord(
                time.time(),
                plugin.id,
                error.id if error else None,
                error.hook if error else None,
                action,
                detail,
                plugin.policy.notify_admin,
            )
        )
