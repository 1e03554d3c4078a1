"""The Plugin Development Kit (spec: Development and Testing): the ``pliers`` command line,
plugin templates, checks, generated docs, and a pytest plugin with a test harness.

What it offers is looked up on first use, so importing the package costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cli import main
    from .doctor import doctor
    from .harness import Harness
    from .testing import PluginTestResult, run_plugin_tests

__all__ = ["Harness", "PluginTestResult", "doctor", "main", "run_plugin_tests"]

_WHERE = {
    "Harness": "harness",
    "PluginTestResult": "testing",
    "doctor": "doctor",
    "main": "cli",
    "run_plugin_tests": "testing",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'pliers_lab.pdk' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)
