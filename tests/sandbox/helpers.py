"""Helpers for the sandbox tests (importable as ``sandbox.helpers``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pliers_lab.sandbox import detect_layers

MakePlugin = Callable[..., Path]


def requires(*layers: str) -> pytest.MarkDecorator:
    """Skip where a layer is detected missing on this host, saying which."""
    status = detect_layers()
    missing = [f"{name} ({status[name][1]})" for name in layers if not status[name][0]]
    return pytest.mark.skipif(bool(missing), reason="layer missing here: " + ", ".join(missing))
