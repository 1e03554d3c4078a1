"""``Engine.fire``'s hot path keeps its contract: arguments, results and observations."""

from __future__ import annotations

from typing import Any

import pytest
from support import manifest

from pliers_lab import Engine, hook

HOOK = "test.echo"


def _echo_engine(handlers: int = 1, **options: Any) -> Engine:
    engine = Engine(**options)
    for i in range(handlers):

        @hook(HOOK)
        def echo(ctx: Any) -> Any:
            return ctx.data

        engine.add_plugin(
            manifest(
                f"echo-{i}", {HOOK: {"priority": 100 - i}}, customHooks={HOOK: {"mode": "collect"}}
            ),
            {"echo": echo},
        )
    return engine


def test_context_arguments_are_keyword_only() -> None:
    with _echo_engine() as engine:
        with pytest.raises(TypeError):
            engine.fire(HOOK, {}, "user-1")
        with pytest.raises(TypeError):
            engine.fire(HOOK, {}, None, "user-1")
        result = engine.fire(HOOK, {"x": 1}, user_id="user-1", trace_id="t-9")
        assert (result.user_id, result.session_id, result.trace_id) == ("user-1", None, "t-9")
        assert result.metadata.user_id == "user-1"
        plain = engine.fire(HOOK, {"x": 1})
        assert (plain.user_id, plain.event, plain.request_id) == (None, None, None)
