"""What happens after a handler failed for good: the plugin's recovery policy and the
circuit breaker, each decision kept as a ``RecoveryRecord``."""

from __future__ import annotations

import inspect
import threading
import time
from typing import Any

from ..context import HookContext
from ..dispatch import HookImpl
from ..errors import PliersError, PluginError, must_propagate, raised_text
from ..plugin import Plugin
from ..recovery import RecoveryRecord, RecoveryStrategy
from .base import EngineBase, S, _awaited


class RecoveryOps(EngineBase):
    """Recovery policy (retry, fallback, disable, restart, ignore) and circuit breaker."""

    def _on_hook_failure(
        self, impl: HookImpl, error: PluginError, ctx: HookContext
    ) -> tuple[bool, Any]:
        """Record a handler's failure and apply its plugin's recovery policy."""
        plugin = self._plugins.get(impl.plugin_id)
        self._record_error(plugin, error)
        if plugin is None:
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
            self.disable(plugin.id, f"circuit breaker opened after {streak} consecutive failures")
            self._recovered(plugin, error, "circuit_open", f"{streak} consecutive failures")
            if policy.breaker_reset_ms is not None:
                timer = threading.Timer(
                    policy.breaker_reset_ms / 1000, self._half_open, [plugin.id]
                )
                timer.daemon = True
                timer.start()
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

    def _half_open(self, plugin_id: str) -> None:
        plugin = self._plugins.get(plugin_id)
        if plugin is not None and plugin.state is S.STOPPED:
            try:
                self.enable(plugin_id)
                self._recovered(
                    plugin, None, "circuit_half_open", "re-enabled after the reset delay"
                )
            except PliersError:
                pass

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
