"""The management API's advisories and trust scores (issue 19 §2), over the server's
marketplace.

- ``GET /v3/advisories``: the advisories affecting the plugins this engine runs, each
  with the fixing update on offer (``update``: the ``plan_update`` of the newest version
  no advisory affects; apply it with ``PUT /v3/plugins/{id} {"version": ...}``) and what
  the policy did. Asking checks the registry again, so under the ``"disable"`` policy an
  advisory learnt here disables the plugin (recorded as ``plugin.advisory``).
- ``GET /v3/plugins/{id}/advisories``: the same for one plugin, plus every advisory the
  registry holds for it.
- ``GET /v3/plugins/{id}/trust?version=``: the trust score with its signals, this
  engine's runtime record included.

The watch is ``state.advisories`` (an ``AdvisoryWatch``; set it to choose the policy:
``app.state.pliers.advisories = AdvisoryWatch(market, engine=engine, policy="disable")``);
without one, a ``"warn"`` watch over the marketplace is made on first use.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from starlette.routing import Route

from ._error_envelope import ApiError
from ._management import endpoint
from ._market import unavailable

if TYPE_CHECKING:
    from starlette.requests import Request

    from ..market import AdvisoryWatch
    from ._state import WebState

__all__ = ["advisory_routes"]


def _watch(state: WebState) -> AdvisoryWatch:
    if state.advisories is None:
        if state.marketplace is None:
            raise unavailable("listing advisories")
        from ..market import AdvisoryWatch

        state.advisories = AdvisoryWatch(state.marketplace, engine=state.engine)
    watch: AdvisoryWatch = state.advisories
    return watch


def _version(request: Request) -> str | None:
    text = request.query_params.get("version")
    if text is not None and not (0 < len(text) <= 256):
        raise ApiError(
            "VALIDATION_FAILED",
            "query.version must be a version of 1 to 256 characters",
            {"errors": [{"path": "query.version", "message": "1 to 256 characters"}]},
        )
    return text


@endpoint()
async def list_advisories(request: Request, state: WebState) -> Any:
    watch = _watch(state)
    found = await asyncio.to_thread(watch.check)
    return {"policy": watch.policy, "advisories": [f.to_dict() for f in found]}


@endpoint()
async def plugin_advisories(request: Request, state: WebState) -> Any:
    watch = _watch(state)
    plugin_id = request.path_params["id"]
    found = await asyncio.to_thread(watch.check)
    known = await asyncio.to_thread(watch.source.advisories, plugin_id)
    return {
        "pluginId": plugin_id,
        "policy": watch.policy,
        "affecting": [f.to_dict() for f in found if f.plugin_id == plugin_id],
        "advisories": [a.to_dict() for a in known if a.plugin_id == plugin_id],
    }


@endpoint()
async def plugin_trust(request: Request, state: WebState) -> Any:
    market = state.marketplace
    if market is None:
        raise unavailable("a trust score")
    from ..market import PluginVerification

    plugin_id, version = request.path_params["id"], _version(request)
    verification = PluginVerification(market.registry, store=market.store, engine=state.engine)
    score = await asyncio.to_thread(verification.get_trust_score, plugin_id, version)
    return score.to_dict()


def advisory_routes() -> list[Route]:
    """The routes above, for ``management_routes``."""
    return [
        Route("/v3/advisories", list_advisories, methods=["GET"]),
        Route("/v3/plugins/{id}/advisories", plugin_advisories, methods=["GET"]),
        Route("/v3/plugins/{id}/trust", plugin_trust, methods=["GET"]),
    ]
