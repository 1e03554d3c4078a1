"""Fixtures for the sandbox tests: a process runtime with its data under tmp_path."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox.helpers import MakePlugin
from support import write_plugin

from pliers_lab import Engine
from pliers_lab.sandbox import ProcessRuntime, SandboxPolicy


@pytest.fixture
def policy(tmp_path: Path) -> SandboxPolicy:
    return SandboxPolicy(data_root=tmp_path / "data")


@pytest.fixture
def runtime(policy: SandboxPolicy) -> Iterator[ProcessRuntime]:
    rt = ProcessRuntime(policy)
    yield rt
    rt.close()


@pytest.fixture
def sandbox(runtime: ProcessRuntime) -> Iterator[Engine]:
    """An engine whose default isolation is the process sandbox."""
    engine = Engine(default_isolation="process")
    engine.register_runtime(runtime)
    yield engine
    engine.close()


@pytest.fixture
def make_plugin(tmp_path: Path) -> MakePlugin:
    """``make_plugin(name, code, hooks=None, **manifest_fields)`` → plugin folder."""

    def make(name: str, code: str, hooks: dict[str, Any] | None = None, **extra: Any) -> Path:
        hooks = hooks if hooks is not None else {"submission.afterSave": {}}
        return write_plugin(tmp_path / "plugins", name, textwrap.dedent(code), hooks, **extra)

    return make


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test needing a layer the machine is expected to have fails, naming it (helpers)."""
    marker = item.get_closest_marker("layers_expected")
    if marker is not None:
        pytest.fail(
            "kernel layer expected on this machine (PLIERS_EXPECT_LAYERS) but missing: "
            + ", ".join(marker.args[0]),
            pytrace=False,
        )
