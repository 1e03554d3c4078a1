"""Helpers for the sandbox tests (importable as ``sandbox.helpers``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pliers_lab.sandbox import detect_layers

MakePlugin = Callable[..., Path]

#: Layers this machine is expected to have (``all`` or a comma list), set by CI: there, a
#: test that needs a missing layer fails, saying which, instead of skipping.
EXPECTED_ENV = "PLIERS_EXPECT_LAYERS"


def expected_layers() -> set[str]:
    value = os.environ.get(EXPECTED_ENV, "")
    if value.strip() == "all":
        return set(detect_layers())
    return {name.strip() for name in value.split(",") if name.strip()}


def missing(*layers: str) -> list[str]:
    """The layers of ``layers`` this host lacks, each with the probe's reason."""
    status = detect_layers()
    return [f"{name} ({status[name][1]})" for name in layers if not status[name][0]]


def requires(*layers: str) -> pytest.MarkDecorator:
    """Skip where a layer is missing on this host, saying which — or fail, where the
    machine is expected to have it (``PLIERS_EXPECT_LAYERS``)."""
    absent = missing(*layers)
    expected = expected_layers()
    if any(entry.split(" ", 1)[0] in expected for entry in absent):
        return pytest.mark.layers_expected(absent)
    return pytest.mark.skipif(bool(absent), reason="layer missing here: " + ", ".join(absent))
