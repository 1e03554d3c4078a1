"""Shared fixtures: a fresh engine per test, closed afterwards."""

import pytest

from pliers_lab import Engine


@pytest.fixture
def engine():
    eng = Engine()
    yield eng
    eng.close()
