"""Advisories as a file, for a registry exported to a folder (an air-gapped site, Binder):
``write_advisories(registry, path)`` writes every advisory to one JSON file and
``FileAdvisories(path)`` reads it back as an advisory source (``AdvisoryWatch(market,
source=FileAdvisories(...))``). Reports are not exported: they are the maintainers'
until confirmed.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..storage.sqlite import now
from ._advisories import Advisory, AdvisoryError

if TYPE_CHECKING:
    from ._registry import Registry

__all__ = ["ADVISORIES_FILE", "FileAdvisories", "write_advisories"]

#: The file's name in an exported registry folder.
ADVISORIES_FILE = "advisories.json"
FORMAT = 1
MAX_FILE = 64 << 20


def write_advisories(registry: Registry | Any, path: str | os.PathLike[str]) -> Path:
    """Every advisory of ``registry`` (withdrawn ones marked) to ``path`` (a file, or a
    folder that gets ``advisories.json``), written whole or not at all. ``registry`` is
    a ``Registry``, or any registry ``advisory_source`` knows (a service: a mirror of it
    carries its advisories too)."""
    from ._verification import advisory_source

    target = Path(path)
    if target.is_dir():
        target = target / ADVISORIES_FILE
    source = advisory_source(registry)
    data = {
        "format": FORMAT,
        "exportedAt": now(),
        "advisories": [a.to_dict() for a in source.advisories()],
    }
    fd, tmp = tempfile.mkstemp(prefix=".advisories-", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, indent=1, sort_keys=True)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


class FileAdvisories:
    """The advisories of an exported file (``write_advisories``), read on each call so a
    newer export is seen without a restart."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        path = Path(path)
        self.path = path / ADVISORIES_FILE if path.is_dir() else path

    def __repr__(self) -> str:
        return f"FileAdvisories({str(self.path)!r})"

    def advisories(self, plugin_id: str | None = None) -> list[Advisory]:
        """Advisories (of ``plugin_id``) in the file; none when there is no file."""
        if not self.path.is_file():
            return []
        if self.path.stat().st_size > MAX_FILE:
            raise AdvisoryError(f"{self.path}: over {MAX_FILE} bytes: not an advisories file")
        try:
            data: Any = json.loads(self.path.read_text())
            found = [Advisory.from_dict(a) for a in data["advisories"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise AdvisoryError(
                f"{self.path}: not an advisories file ({type(exc).__name__}: {exc})"
            ) from None
        return [a for a in found if plugin_id is None or a.plugin_id == plugin_id]
