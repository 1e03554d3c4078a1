"""Helpers for the host tests (imported as ``host.helpers``, like ``sandbox.helpers``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pliers_lab import Plugin

EXTENSIONS = Path(__file__).resolve().parents[2] / "extensions"

SIMPLE_FORM: dict[str, Any] = {
    "id": "simple",
    "name": "Simple",
    "fields": [
        {"name": "name", "type": "text", "required": True, "validation": {"min": 2, "max": 20}},
        {"name": "email", "type": "email", "required": True},
        {"name": "age", "type": "number", "validation": {"min": 0, "max": 150}},
    ],
}

PluginFactory = Callable[..., Plugin]


def fresh(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A new function object per hook, so @hook marks never pile up on a shared one."""
    if asyncio.iscoroutinefunction(fn):

        async def call_async(ctx: Any) -> Any:
            return await fn(ctx)

        return call_async

    def call(ctx: Any) -> Any:
        return fn(ctx)

    return call


def recorder(
    add_plugin: PluginFactory, hooks: list[str], name: str = "recorder"
) -> list[tuple[str, Any]]:
    """A plugin on ``hooks`` that records (hook, ctx.data) and answers None."""
    seen: list[tuple[str, Any]] = []

    def make(hook_name: str) -> Callable[[Any], None]:
        def handler(ctx: Any) -> None:
            seen.append((hook_name, ctx.data))

        return handler

    add_plugin(name, {h: make(h) for h in hooks})
    return seen


def operation_counts(host: Any) -> dict[str, int]:
    """Rows per table, but ``admin_notifications``: what a host operation may leave
    behind. A failure's notice to the administrator is written after the rollback, on
    purpose (it must outlive the operation it is about), so it is compared apart."""
    counts: dict[str, int] = host.counts()
    counts.pop("admin_notifications")
    return counts
