"""The default engine the magics and widgets act on, reachable from code.

One engine per Python process (one per kernel). Code can swap it for its own engine
(``set_default_engine``) so that ``%pliers`` commands and widgets show that engine.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = [
    "configure_defaults",
    "default_engine",
    "extensions_folder",
    "reset_default_engine",
    "set_default_engine",
]

#: Environment variable naming the folder ``%pliers load NAME`` looks NAME up in.
EXTENSIONS_ENV = "PLIERS_EXTENSIONS"

_engine: Engine | None = None
_lock = threading.Lock()
#: Engine options the magics' settings control (``%config PliersMagics.isolation``).
_options: dict[str, str] = {"isolation": "inline"}


def default_engine() -> Engine:
    """The process's default engine, created empty on first use."""
    global _engine
    with _lock:
        if _engine is None:
            from ..engine import Engine

            _engine = Engine(default_isolation=_options["isolation"])
        return _engine


def configure_defaults(*, isolation: str | None = None) -> None:
    """Set options of the default engine, now and for the next one created."""
    if isolation is not None:
        _options["isolation"] = isolation
        with _lock:
            if _engine is not None:
                _engine.default_isolation = isolation


def set_default_engine(engine: Engine) -> Engine:
    """Make ``engine`` the one magics and widgets act on; returns it.

    The previous default engine is left running: whoever created ``engine`` may still
    hold the old one.
    """
    global _engine
    with _lock:
        _engine = engine
    return engine


def reset_default_engine() -> None:
    """Close the default engine (unloading its plugins); the next use creates a new one."""
    global _engine
    with _lock:
        engine, _engine = _engine, None
    if engine is not None:
        engine.close()


def extensions_folder(configured: str | os.PathLike[str] | None = None) -> Path | None:
    """Where plugin folders are looked up by name.

    In order: ``configured`` (``%config PliersMagics.extensions``), ``$PLIERS_EXTENSIONS``,
    an ``extensions/`` folder in the working directory or its parent (a notebook in
    ``notebooks/`` runs with that folder as its working directory), then the one next to
    the source tree this package was imported from.
    """
    candidates: list[Path] = []
    if configured:
        return Path(configured).expanduser()
    env = os.environ.get(EXTENSIONS_ENV)
    if env:
        return Path(env).expanduser()
    cwd = Path.cwd()
    candidates += [cwd / "extensions", cwd.parent / "extensions"]
    candidates.append(Path(__file__).resolve().parents[2] / "extensions")
    for folder in candidates:
        if folder.is_dir() and any(folder.glob("*/manifest.json")):
            return folder
    return None
