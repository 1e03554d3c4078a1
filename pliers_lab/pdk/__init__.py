"""The Plugin Development Kit (spec: Development and Testing): the ``pliers`` command line,
plugin templates, checks, generated docs, and a pytest plugin with a test harness.

What it offers is looked up on first use, so importing the package costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._doctor import doctor
    from ._harness import Harness
    from ._testing import PluginTestResult, run_plugin_tests
    from .cli import main

__all__ = ["Harness", "PluginTestResult", "doctor", "main", "run_plugin_tests"]

_WHERE = {
    "Harness": "_harness",
    "PluginTestResult": "_testing",
    "doctor": "_doctor",
    "main": "cli",
    "run_plugin_tests": "_testing",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'pliers_lab.pdk' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)
