"""Shared fixtures: a fresh engine per test, closed afterwards."""

import pytest

from pliers_lab import Engine


@pytest.fixture
def engine():
    eng = Engine()
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def ordinary_user():
    """An unprivileged user's home with the repository installed (tests/unprivileged.py);
    built once per run, removed afterwards."""
    import shutil

    from unprivileged import make_ordinary_user

    user = make_ordinary_user()
    yield user
    shutil.rmtree(user.home.parent, ignore_errors=True)
