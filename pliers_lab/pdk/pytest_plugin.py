"""pytest fixtures for plugin authors, registered through the ``pytest11`` entry point.

``pliers_engine`` is a fresh engine; ``pliers_harness`` wraps one with the testing verbs
(``load_plugin``, ``fire``, ``expect_hook``, ``mock_external_service``, ...). Both are
closed after each test, so no state leaks between tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("pliers")
    group.addoption(
        "--pliers-isolation",
        default="inline",
        choices=("inline", "process"),
        help="where plugins under test run (default: inline, debuggable; process: sandboxed)",
    )


@pytest.fixture
def pliers_engine(request: Any) -> Iterator[Any]:
    from ..engine import Engine
    from ._harness import HARNESS_RESULTS

    engine = Engine(
        default_isolation=request.config.getoption("--pliers-isolation"),
        max_results=HARNESS_RESULTS,
    )
    yield engine
    engine.close()


@pytest.fixture
def pliers_harness(pliers_engine: Any) -> Iterator[Any]:
    from pliers_lab.pdk._harness import Harness

    harness = Harness(pliers_engine)
    yield harness
    harness.cleanup()
