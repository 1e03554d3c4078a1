"""``WebState``: the parts of one web app, kept on ``app.state.pliers``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine import Engine
    from ._auth import Authenticator, TokenIssuer
    from ._devmode import DevMode
    from ._endpoint_pipeline import Dispatcher
    from ._limits import RateLimiter
    from ._routing import Router
    from ._settings import WebSettings

__all__ = ["WebState"]


@dataclass
class WebState:
    """What the routes of one app share. ``tokens`` mints development tokens
    (``state.tokens.issue("ann", roles=["admin"])``) when the built-in issuer is on."""

    engine: Engine
    host: Any
    settings: WebSettings
    router: Router
    limiter: RateLimiter
    auth: Authenticator
    tokens: TokenIssuer | None
    dispatcher: Dispatcher
    marketplace: Any = None
    """A ``pliers_lab.market.PluginMarketplace`` serving installs, updates and search."""
    advisories: Any = None
    """A ``pliers_lab.market.AdvisoryWatch`` (its policy: warn or disable); ``GET
    /v3/advisories`` makes a warning one over ``marketplace`` when none is set."""
    dev_modes: dict[str, DevMode] = field(default_factory=dict)
    """Plugins in dev mode (``POST /v3/plugins/{id}/dev-mode``)."""
    dev_owns_reloader: bool = False
    """Whether dev mode started the engine's hot reloader (and so may stop it)."""
    event_streams: int = 0
    """``/v3/events`` websockets open now (on the server's loop: no lock needed)."""
