"""Fixtures of the lab's tests: a real IPython shell with the extension loaded, the example
plugins, and no state leaking between tests (STYLE.md habit 14)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# jupyter_core warns (a DeprecationWarning, an error under our filterwarnings) unless the
# platformdirs layout is chosen explicitly.
os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")

ROOT = Path(__file__).resolve().parents[2]
EXTENSIONS = ROOT / "extensions"
NOTEBOOKS = ROOT / "notebooks"


@pytest.fixture(autouse=True)
def _fresh_default_engine() -> Iterator[None]:
    """Every test starts and ends without a default engine."""
    from pliers_lab.lab import _default as default_module
    from pliers_lab.lab.hostlink import forget_default_host

    default_module.reset_default_engine()
    options = dict(default_module._options)
    yield
    forget_default_host()
    default_module.reset_default_engine()
    default_module._options.update(options)


@pytest.fixture
def examples() -> Any:
    """The default engine with every example plugin loaded."""
    from pliers_lab.lab import default_engine

    engine = default_engine()
    engine.load_all(EXTENSIONS)
    return engine


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A real IPython shell with ``%load_ext pliers_lab`` done; errors propagate."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    monkeypatch.setenv("PLIERS_EXTENSIONS", str(EXTENSIONS))
    InteractiveShell.clear_instance()
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    ip = InteractiveShell.instance(config=config)
    ip.run_line_magic("load_ext", "pliers_lab")
    yield ip
    ip.run_line_magic("unload_ext", "pliers_lab")
    InteractiveShell.clear_instance()
