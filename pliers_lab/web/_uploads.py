"""Package uploads of the management API: ``multipart/form-data`` with a ``package`` file.

``POST /v3/plugins`` (install) and ``POST /v3/plugins/validate`` take the plugin's
``.zip`` bundle in the file field ``package`` and, for an install, an optional ``config``
field holding a JSON object. The upload is copied to a temporary file with a size cap
(the bundle limits' total size) before anything opens it; the bundle reader then applies
its own limits (entries, ratios, paths) to what is inside. The whole request body is
capped while it is read (``management.body_limit``: 413 beyond it), and ``config`` is
parsed by ``bodies.parse_json``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._bodies import DEFAULT_MAX_DEPTH, parse_json
from ._error_envelope import ApiError

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["UPLOAD_FIELD", "received_package"]

UPLOAD_FIELD = "package"
_CHUNK = 1 << 16


@asynccontextmanager
async def received_package(
    request: Request, max_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH
) -> AsyncIterator[tuple[Path, dict[str, Any] | None]]:
    """``(path of the uploaded bundle, config or None)``; the file is removed after."""
    try:
        form = await request.form(max_files=1, max_fields=10)
    except ApiError:  # the body limit (413), while the form was read
        raise
    except Exception as exc:  # the parser's errors name the broken part
        raise ApiError(
            "INVALID_PLUGIN_PACKAGE", f"the multipart upload cannot be read: {exc}"
        ) from None
    try:
        upload = form.get(UPLOAD_FIELD)
        if upload is None or isinstance(upload, str):
            raise ApiError(
                "INVALID_PLUGIN_PACKAGE",
                f'a package upload needs a file field "{UPLOAD_FIELD}" holding the plugin\'s '
                f".zip (fields sent: {', '.join(form.keys()) or 'none'})",
            )
        config = _config(form.get("config"), max_depth)
        handle, name = tempfile.mkstemp(prefix="pliers-upload-", suffix=".zip")
        size = 0
        try:
            with os.fdopen(handle, "wb") as out:
                while chunk := await upload.read(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise ApiError(
                            "INVALID_PLUGIN_PACKAGE",
                            f"the uploaded package {upload.filename!r} is larger than "
                            f"{max_bytes} bytes",
                        )
                    out.write(chunk)
            yield Path(name), config
        finally:
            Path(name).unlink(missing_ok=True)
    finally:
        await form.close()


def _config(raw: Any, max_depth: int) -> dict[str, Any] | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise ApiError("INVALID_REQUEST", 'the "config" field must be JSON text, not a file')
    value = parse_json(raw, max_depth=max_depth, where='the "config" field')
    if not isinstance(value, dict):
        raise ApiError(
            "INVALID_REQUEST",
            f'the "config" field must be a JSON object, not {type(value).__name__}',
        )
    return value
