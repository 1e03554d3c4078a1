"""Host fixtures: a real engine (plugins inline), a real host on in-memory SQLite, and a
factory for inline plugins built from plain functions."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from host.helpers import EXTENSIONS, SIMPLE_FORM, PluginFactory, fresh
from support import manifest

from pliers_lab import Engine, Plugin, hook
from pliers_lab.host import Host
from pliers_lab.host.sample_forms import SAMPLE_FORMS


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = Engine(default_isolation="inline")
    yield eng
    eng.close()


@pytest.fixture
def host(engine: Engine) -> Iterator[Host]:
    h = Host.in_memory(engine)
    yield h
    h.close()


@pytest.fixture
def simple(host: Host) -> dict[str, Any]:
    """The ``simple`` form, created."""
    return host.create_form(copy.deepcopy(SIMPLE_FORM)).value


@pytest.fixture
def sample(host: Host) -> Callable[[str], dict[str, Any]]:
    """Create one of the sample forms by id."""

    def create(form_id: str) -> dict[str, Any]:
        return host.create_form(copy.deepcopy(SAMPLE_FORMS[form_id])).value

    return create


@pytest.fixture
def extensions_engine() -> Iterator[Engine]:
    """An engine with every example plugin of ``extensions/`` loaded inline."""
    eng = Engine(default_isolation="inline")
    eng.load_all(EXTENSIONS)
    yield eng
    eng.close()


@pytest.fixture
def add_plugin(engine: Engine) -> PluginFactory:
    """``add_plugin(name, {hook: fn}, permissions=..., priority=..., on_activate=...)``."""

    def add(
        name: str,
        handlers: dict[str, Callable[..., Any]],
        *,
        permissions: dict[str, Any] | None = None,
        priority: int = 100,
        **lifecycle: Callable[..., Any],
    ) -> Plugin:
        hooks = {h: {"priority": priority} for h in handlers}
        code: dict[str, Any] = {
            f"handler_{i}": hook(h)(fresh(fn)) for i, (h, fn) in enumerate(handlers.items())
        }
        code.update(lifecycle)
        extra: dict[str, Any] = {
            "recovery": {"strategy": "ignore", "circuitBreaker": {"threshold": 1_000_000}}
        }
        if permissions is not None:
            extra["permissions"] = permissions
        return engine.add_plugin(manifest(name, hooks, **extra), code)

    return add
