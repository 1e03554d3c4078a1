"""``HookRegistry``: handlers per hook and plugin; a plugin's come out without touching
the others', and a swap keeps everyone else's order."""

from __future__ import annotations

from pliers_lab.engine._dispatch import HookImpl
from pliers_lab.engine._hook_table import HookRegistry


def impl(plugin_id: str, hook: str = "form.validate", priority: int = 100) -> HookImpl:
    return HookImpl(plugin_id, hook, lambda ctx: plugin_id, priority=priority)


def ids(registry: HookRegistry, hook: str = "form.validate") -> list[str]:
    return [i.plugin_id for i in registry.handlers(hook)]


def test_removing_a_plugin_takes_out_its_handlers_of_every_hook_only():
    registry = HookRegistry()
    registry.add([impl("a"), impl("a", "form.render")])
    registry.add([impl("b"), impl("b", "form.render")])
    assert ids(registry) == ["a", "b"] and ids(registry, "form.render") == ["a", "b"]
    registry.remove("a")
    assert ids(registry) == ["b"] and ids(registry, "form.render") == ["b"]
    registry.remove("a")  # nothing left of it: a no-op
    assert ids(registry) == ["b"]


def test_a_table_is_rebuilt_only_when_its_hook_changed():
    registry = HookRegistry()
    registry.add([impl("a"), impl("b", "form.render")])
    render = registry.table("form.render")
    registry.remove("a")
    assert registry.table("form.render") is render  # untouched hook: same snapshot
    assert ids(registry) == []


def test_priority_orders_the_table_and_a_swap_keeps_the_rest_in_place():
    registry = HookRegistry()
    registry.add([impl("low", priority=10)])
    registry.add([impl("high", priority=200)])
    registry.add([impl("mid", priority=100)])
    assert ids(registry) == ["high", "mid", "low"]
    assert registry.replace("mid", [impl("mid", priority=300)], lambda: True)
    assert ids(registry) == ["mid", "high", "low"]
    assert not registry.replace("mid", [impl("mid", priority=1)], lambda: False)
    assert ids(registry) == ["mid", "high", "low"]
