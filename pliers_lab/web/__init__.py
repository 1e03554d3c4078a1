"""Plugin endpoints served over HTTP, and the plugin-management REST API.

``from pliers_lab.web import serve, create_app``. Needs the ``web`` extra (starlette,
uvicorn); ``pliers_lab`` itself never imports this package. The routing, validation,
limits and auth modules need no web framework and can be used alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._auth import Identity, TokenIssuer
from ._error_envelope import CODES, ApiError
from ._messages import PluginRequest
from ._routing import Match, Route, RouteConflict, Router, RouteTable, compile_path
from ._settings import WebSettings

if TYPE_CHECKING:
    from ._server import Server, create_app, serve

__all__ = [
    "CODES",
    "ApiError",
    "Identity",
    "Match",
    "PluginRequest",
    "Route",
    "RouteConflict",
    "RouteTable",
    "Router",
    "Server",
    "TokenIssuer",
    "WebSettings",
    "compile_path",
    "create_app",
    "serve",
]

_SERVER = ("Server", "create_app", "serve")


def __getattr__(name: str) -> Any:
    if name in _SERVER:
        try:
            from . import _server as server
        except ImportError as exc:  # starlette or uvicorn missing
            raise ImportError(
                f"pliers_lab.web.{name} needs the web extra: pip install 'pliers-lab[web]' ({exc})"
            ) from exc
        return getattr(server, name)
    raise AttributeError(f"module 'pliers_lab.web' has no attribute {name!r}")
