"""Folders a request names, resolved inside the folders the operator allowed, or refused.

Anything in a request that names code on disk (``POST /v3/plugins {"source": "path"}``,
the folder ``PUT /v3/plugins/{id}`` takes a version from, dev mode's ``watchPaths``)
goes through ``inside``: the path is resolved with its symbolic links followed and must
lie in one of the roots (``WebSettings.plugin_roots``, and for ``watchPaths`` the
plugin's own folder): else a 403 PERMISSION_DENIED that names the roots. A path that
cannot be resolved at all (an empty string, a NUL byte, a name too long, a link loop)
is a 400 INVALID_REQUEST saying why. Never a 500.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._error_envelope import ApiError

__all__ = ["MAX_PATH_CHARS", "inside", "is_file", "resolved_roots"]

#: Longer path strings are refused before they reach the file system.
MAX_PATH_CHARS = 4096


def _bad(field: str, message: str, value: Any) -> ApiError:
    shown = value[:200] if isinstance(value, str) else None
    return ApiError(
        "INVALID_REQUEST",
        f"{field}: {message}",
        {"errors": [{"path": field, "message": message, "value": shown}]},
    )


def resolved_roots(roots: Sequence[Path | str]) -> list[Path]:
    """The roots as absolute paths with their links followed (unresolvable ones dropped)."""
    out = []
    for root in roots:
        try:
            out.append(Path(root).expanduser().resolve())
        except (OSError, RuntimeError, ValueError):
            continue
    return out


def inside(
    raw: Any,
    roots: Sequence[Path],
    field: str,
    *,
    base: Path | None = None,
    named: str = "the plugin roots",
) -> Path:
    """``raw`` (a path string; relative ones against ``base``) resolved, if it lies in
    one of ``roots`` (already resolved; ``named`` in the refusal); else a 403, or a 400
    when it is no path."""
    if not isinstance(raw, str) or not raw.strip():
        raise _bad(field, "must be a non-empty path string", raw)
    if "\x00" in raw:
        raise _bad(field, "a path may not contain a NUL character", raw)
    if len(raw) > MAX_PATH_CHARS:
        raise _bad(field, f"a path may have at most {MAX_PATH_CHARS} characters", raw)
    path = Path(raw)
    if not path.is_absolute() and base is not None:
        path = base / path
    try:
        found = path.resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # too long, a link loop…
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise _bad(field, f"cannot be resolved ({reason})", raw) from None
    if not any(found.is_relative_to(root) for root in roots):
        allowed = ", ".join(map(str, roots)) or "none (WebSettings.plugin_roots is empty)"
        raise ApiError(
            "PERMISSION_DENIED",
            f"{field}: {found} is outside {named} ({allowed})",
            {"field": field, "path": str(found), "roots": [str(r) for r in roots]},
        )
    return found


def is_file(path: Path) -> bool:
    """``path.is_file()`` that answers False instead of raising (a name too long…)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False
