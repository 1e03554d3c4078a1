"""The marketplace side of the management API, over a ``pliers_lab.market``
``PluginMarketplace`` given to ``create_app(marketplace=...)``.

Without one, these routes answer MARKETPLACE_UNAVAILABLE (503) and installs come from
local folders only. With one: ``POST /v3/plugins {pluginId, version, config}`` installs
from its registry into its store (signature, scan and dependencies checked there), ``PUT``
and ``DELETE /v3/plugins/{id}`` update and uninstall plugins the store manages, and
``/v3/marketplace/search`` and ``/v3/marketplace/plugins/{id}`` answer from the registry.
Uploaded bundles (multipart, ``uploads``) are validated (``POST /v3/plugins/validate``)
or published and installed (``POST /v3/plugins``).
The marketplace's refusals carry their REST code; ``views.engine_error`` passes it on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._error_envelope import ApiError, problems
from ._uploads import received_package

if TYPE_CHECKING:
    from starlette.requests import Request

    from ._state import WebState

__all__ = [
    "install",
    "install_upload",
    "listing",
    "manages",
    "plan",
    "rollback",
    "search",
    "unavailable",
    "uninstall",
    "update",
    "validate_upload",
]


def unavailable(what: str) -> ApiError:
    return ApiError(
        "MARKETPLACE_UNAVAILABLE",
        f"{what} needs a marketplace, and this server has none (create_app(marketplace=...)); "
        'install from a local folder with {"source": "path", "path": ...}',
    )


def _market(state: WebState, what: str) -> Any:
    if state.marketplace is None:
        raise unavailable(what)
    return state.marketplace


def manages(state: WebState, plugin_id: str) -> bool:
    """Whether the marketplace's store installed ``plugin_id`` (so it updates it)."""
    market = state.marketplace
    return market is not None and plugin_id in market.store.installed()


async def install(state: WebState, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    market = _market(state, "installing from the marketplace")
    plugin_id = body.get("pluginId")
    if not isinstance(plugin_id, str) or not plugin_id:
        raise ApiError("INVALID_REQUEST", "a marketplace install needs pluginId")
    wrong = [
        {"path": f"body.{name}", "message": message, "value": None}
        for name, ok, message in (
            ("pluginId", len(plugin_id) <= 256, "at most 256 characters"),
            ("version", _short_text(body.get("version")), "a version, tag or range (a string)"),
            (
                "config",
                body.get("config") is None or isinstance(body.get("config"), dict),
                "a JSON object",
            ),
        )
        if not ok
    ]
    if wrong:
        raise ApiError(
            "VALIDATION_FAILED",
            f"{wrong[0]['path']} must be {wrong[0]['message']}",
            problems(wrong),
        )
    result = await asyncio.to_thread(
        market.install,
        plugin_id,
        body.get("version"),
        engine=state.engine,
        config=body.get("config"),
    )
    return 201, dict(result.to_dict())


def _short_text(value: Any) -> bool:
    return value is None or (isinstance(value, str) and 0 < len(value) <= 256)


async def install_upload(
    state: WebState, request: Request, user: str
) -> tuple[int, dict[str, Any]]:
    """An uploaded bundle goes through the marketplace like any other: published to its
    registry as ``user`` (checksum, signature, scan), then installed from there, so that
    updates and rollbacks find it."""
    market = _market(state, "installing an uploaded package")
    limits = market.registry.limits
    depth = state.settings.max_json_depth
    async with received_package(request, limits.max_total_size, depth) as upload:
        path, config = upload
        published = await asyncio.to_thread(
            market.registry.publish, path, user=user, changes="uploaded to POST /v3/plugins"
        )
    result = await asyncio.to_thread(
        market.install,
        published.plugin_id,
        published.version,
        engine=state.engine,
        config=config,
    )
    return 201, dict(result.to_dict())


async def validate_upload(state: WebState, request: Request) -> dict[str, Any]:
    """``POST /v3/plugins/validate``: the marketplace's checks of an uploaded bundle,
    reported (package, manifest, signature, security, dependencies), nothing stored."""
    market = _market(state, "validating a package")
    if "multipart/" not in request.headers.get("content-type", ""):
        raise ApiError(
            "INVALID_PLUGIN_PACKAGE",
            'send the package as multipart/form-data with a file field "package"',
        )
    limits = market.registry.limits
    depth = state.settings.max_json_depth
    async with received_package(request, limits.max_total_size, depth) as upload:
        report = await asyncio.to_thread(market.validate, upload[0])
    return dict(report.to_dict())


async def update(state: WebState, plugin_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    market = _market(state, "updating from the marketplace")
    result = await asyncio.to_thread(
        market.update,
        plugin_id,
        body.get("version"),
        accept_permissions=bool(body.get("acceptPermissions", False)),
        engine=state.engine,
    )
    return dict(result.to_dict())


async def plan(state: WebState, plugin_id: str, version: str | None) -> dict[str, Any]:
    """``GET /v3/plugins/{id}/update-plan``: what an update would do, nothing changed —
    the permissions the new version adds (to accept with ``acceptPermissions``) and drops,
    its release notes, the dependencies it would install."""
    market = _market(state, "planning an update from the marketplace")
    return dict((await asyncio.to_thread(market.plan_update, plugin_id, version)).to_dict())


async def rollback(state: WebState, plugin_id: str) -> dict[str, Any]:
    """``POST /v3/plugins/{id}/rollback``: back to the version active before the last
    update (kept in the store)."""
    market = _market(state, "rolling back through the marketplace")
    result = await asyncio.to_thread(market.rollback, plugin_id, engine=state.engine)
    return dict(result.to_dict())


async def uninstall(
    state: WebState, plugin_id: str, *, remove_data: bool, force: bool
) -> dict[str, Any]:
    market = _market(state, "uninstalling through the marketplace")
    result = await asyncio.to_thread(
        market.uninstall,
        plugin_id,
        remove_data=remove_data,
        force=force,
        cascade=force,
        engine=state.engine,
    )
    return dict(result.to_dict())


def _query(params: Mapping[str, str]) -> dict[str, Any]:
    def listed(name: str) -> tuple[str, ...]:
        return tuple(t.strip() for t in params.get(name, "").split(",") if t.strip())

    out: dict[str, Any] = {
        "query": params.get("q"),
        "category": params.get("category"),
        "tags": listed("tags"),
        "license": listed("license"),
        "compatibility": params.get("compatibility"),
        "sort_by": params.get("sort", "relevance"),
        "sort_order": params.get("order"),
    }
    verified = params.get("verified")
    if verified is not None:
        if verified not in ("true", "false"):
            raise ValueError(f"verified must be true or false, got {verified!r}")
        out["verified"] = verified == "true"
    for name, default in (("limit", 20), ("offset", 0)):
        text = params.get(name)
        try:
            out[name] = int(text) if text is not None else default
        except ValueError:
            raise ValueError(f"{name} must be an integer, got {text!r}") from None
    return out


async def search(state: WebState, params: Mapping[str, str]) -> dict[str, Any]:
    market = _market(state, "marketplace search")
    from ..market import MarketplaceQuery

    try:
        query = MarketplaceQuery(**_query(params))
    except (TypeError, ValueError) as exc:
        raise ApiError(
            "VALIDATION_FAILED",
            f"marketplace search: {exc}",
            problems([{"path": "query", "message": str(exc), "value": None}]),
        ) from None
    result = await asyncio.to_thread(market.search, query)
    return dict(result.to_dict())


async def listing(state: WebState, plugin_id: str) -> dict[str, Any]:
    market = _market(state, "marketplace listings")
    return dict(await asyncio.to_thread(market.get_plugin, plugin_id))
