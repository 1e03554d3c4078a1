"""What happens after a handler failed for good: the plugin's recovery policy and the
circuit breaker, each decision kept as a ``RecoveryRecord``.

Only the plugin's own failures get here as failures: a host overload (``HostOverload``,
``error.counted`` False) is recorded and nothing else (issue 14 §1). The breaker keeps
the plugin ACTIVE: while it is open its handlers sit behind a gate that skips each call
with the reason (``_circuits``), and it always half-opens again.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..context import HookContext
from ..errors import PliersError, PluginError, must_propagate, raised_text
from ..lifecycle import PluginState as S
from ..recovery import RecoveryStrategy
from ._activation import Activation
from ._aio import LoopThread
from ._circuits import Circuits
from ._dispatch import HookImpl
from ._journal import Journal
from ._plugin_table import PluginTable
from ._sandbox_control import SandboxControl

__all__ = ["Recoverer"]


class Recoverer:
    """Recovery policy (retry, fallback, disable, restart, ignore) and circuit breaker."""

    def __init__(
        self,
        plugins: PluginTable,
        journal: Journal,
        activation: Activation,
        circuits: Circuits,
        sandbox: SandboxControl,
        loop: LoopThread,
    ) -> None:
        self._plugins = plugins
        self._journal = journal
        self._activation = activation
        self._circuits = circuits
        self._sandbox = sandbox
        self._loop = loop

    def on_hook_failure(
        self, impl: HookImpl, error: PluginError, ctx: HookContext
    ) -> tuple[bool, Any]:
        """Record a handler's failure and apply its plugin's recovery policy; whether a
        value answers for the failed handler (a fallback's), and that value."""
        plugin = self._plugins.get(impl.plugin_id)
        self._journal.record_error(plugin, error)
        if plugin is None or not error.counted:  # the host's overload: recorded, no more
            return False, None
        action = self._sandbox.act_on(plugin, error)
        if action is not None:  # a sandbox violation: quarantine/disable, not the policy
            error.recovery = action
            detail = f"sandbox: {action} after {error.type.value}"
            self._journal.recovered(plugin, error, action, detail)
            return False, None
        policy = plugin.policy
        has_value, value = False, None
        strategy = policy.strategy
        detail = ""
        try:
            if strategy is RecoveryStrategy.FALLBACK:
                has_value, value, detail = self._fallback(impl, ctx, policy.fallback_plugin)
            elif strategy is RecoveryStrategy.DISABLE and plugin.state is S.ACTIVE:
                reason = f"disabled by recovery policy after {error.type.value}"
                self._activation.disable(plugin, reason)
                detail = "plugin disabled"
            elif strategy is RecoveryStrategy.RESTART and plugin.state is S.ACTIVE:
                self._activation.restart(plugin, f"restart after {error.type.value}")
                detail = f"plugin restarted ({plugin.stats.restarts} restarts)"
            elif strategy is RecoveryStrategy.RETRY:
                detail = f"gave up after {impl.retries} retries"
            else:
                detail = "error ignored; other plugins continue"
        except PliersError as exc:
            detail = f"recovery failed: {exc}"
        error.recovery = strategy.value
        self._journal.recovered(plugin, error, strategy.value, detail)
        streak = plugin.stats.consecutive_failures
        if streak >= policy.breaker_threshold and plugin.state is S.ACTIVE:
            reason = f"{streak} consecutive failures, the last a {error.type.value}"
            self._circuits.trip(plugin, reason, error)
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
                value = self._loop.settle(value)
        except BaseException as exc:  # sys.exit() in a plugin must not end the caller
            if must_propagate(exc):
                raise
            return False, None, f"fallback {fallback_id!r} failed too: it {raised_text(exc)}"
        finally:
            ctx.plugin_id = failed_id
        return True, value, f"answered by fallback plugin {fallback_id!r}"
