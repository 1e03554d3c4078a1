"""The registry service's own routes: the ``PluginMarketplace`` read surface, records,
bundles, publishing, ratings and keys (listed in ``pliers_lab.market.service``)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse
from starlette.routing import BaseRoute, Route

from ...manifest.fields import is_plugin_name
from ...versions import VersionError, parse_version
from .._record_json import WIRE_FORMAT, plugin_to_wire
from ..query import MarketplaceQuery
from ._app import RegistryService, ServiceError, guarded

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["API", "core_routes"]

API = "/v1"
MAX_QUERY_TEXT = 500
MAX_NOTES = 20
MAX_NOTE = 2000
MAX_PAGE = 500
MAX_INSTALLED = 1000
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_BUNDLE_TYPES = ("application/zip", "application/octet-stream", "application/x-zip-compressed")


def plugin_name(request: Request) -> str:
    """The ``{name}`` of the path, refused (400) unless it is a plugin name: a path
    never reaches the disk from here (bundles are found through the registry's records)."""
    name = str(request.path_params["name"])
    if not is_plugin_name(name):
        raise ServiceError(
            400, "VALIDATION_FAILED",
            f"{name[:80]!r} is not a plugin name (lowercase letters, digits and hyphens)",
            {"path": "name"},
        )  # fmt: skip
    return name


def _version(request: Request) -> str:
    text = str(request.path_params["version"])
    try:
        if len(text) > 256:
            raise VersionError(text)
        parse_version(text)
    except VersionError:
        raise ServiceError(
            400, "VALIDATION_FAILED", f"{text[:80]!r} is not a version such as 1.2.3",
            {"path": "version"},
        ) from None  # fmt: skip
    return text


def _integer(params: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    text = params.get(key)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 12 or not low <= int(text) <= high:
        raise ServiceError(
            400, "VALIDATION_FAILED", f"{key} must be an integer from {low} to {high}",
            {"path": f"query.{key}"},
        )  # fmt: skip
    return int(text)


def _only(params: Mapping[str, str], *known: str) -> None:
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ServiceError(
            400, "VALIDATION_FAILED",
            f"unknown query parameter(s): {', '.join(u[:40] for u in unknown[:5])}"
            f" (this route takes: {', '.join(known) or 'none'})",
        )  # fmt: skip


def core_routes(service: RegistryService) -> list[BaseRoute]:
    """The routes of the module docstring, over ``service``."""
    registry = service.registry

    async def info(request: Request) -> Any:
        """What this registry is and how to publish to it."""
        from .._signed_requests import SCHEME

        total = await run_in_threadpool(lambda: registry.search(MarketplaceQuery(limit=1)).total)
        return {
            "service": "pliers registry",
            "format": WIRE_FORMAT,
            "api": API,
            "plugins": total,
            "publishing": {
                "authentication": SCHEME,
                "requireSignature": registry.require_signature,
                "minScore": registry.min_score,
                "maxUpload": service.max_upload,
            },
        }

    async def search(request: Request) -> Any:
        """``GET /v1/search``: every ``MarketplaceQuery`` field as query parameters."""
        params = dict(request.query_params)
        text = params.get("q") or params.get("query") or ""
        if len(text) > MAX_QUERY_TEXT:
            raise ServiceError(
                400, "VALIDATION_FAILED", f"q: at most {MAX_QUERY_TEXT} characters",
                {"path": "query.q"},
            )  # fmt: skip
        try:
            query = MarketplaceQuery.from_params(params)
        except (TypeError, ValueError) as exc:
            raise ServiceError(
                400, "VALIDATION_FAILED", f"search: {exc}", {"path": "query"}
            ) from None
        result = await run_in_threadpool(registry.search, query)
        return result.to_dict()

    async def categories(request: Request) -> Any:
        _only(request.query_params)
        return {"categories": await run_in_threadpool(service.reader().get_categories)}

    def listing_route(method: str, default: int) -> Any:
        async def listings(request: Request) -> Any:
            _only(request.query_params, "limit")
            limit = _integer(request.query_params, "limit", default, 1, 100)
            found = await run_in_threadpool(getattr(service.reader(), method), limit)
            return {"plugins": [item.to_dict() for item in found]}

        listings.__name__ = method
        return listings

    async def updates(request: Request) -> Any:
        """``POST /v1/updates {"installed": {name: version}, "pliersVersion"?}``."""
        body = await service.json_body(request)
        installed = body.get("installed") if isinstance(body, dict) else None
        if not isinstance(installed, dict) or len(installed) > MAX_INSTALLED:
            raise ServiceError(
                400, "VALIDATION_FAILED",
                f"the body is {{\"installed\": {{name: version}}}} (at most {MAX_INSTALLED})",
                {"path": "body.installed"},
            )  # fmt: skip
        wrong = [
            k
            for k, v in installed.items()
            if not (isinstance(v, str) and is_plugin_name(k) and _is_version(v))
        ]
        if wrong:
            raise ServiceError(
                400, "VALIDATION_FAILED",
                f"installed.{wrong[0][:80]}: a plugin name mapped to its version (1.2.3)",
                {"path": f"body.installed.{wrong[0][:80]}"},
            )  # fmt: skip
        pliers = body.get("pliersVersion")
        if pliers is not None and not (isinstance(pliers, str) and _is_version(pliers)):
            raise ServiceError(
                400, "VALIDATION_FAILED", "pliersVersion must be a version such as 3.1.0",
                {"path": "body.pliersVersion"},
            )  # fmt: skip
        found = await run_in_threadpool(service.reader(pliers).get_updates, installed)
        return {"updates": found}

    async def records(request: Request) -> Any:
        """``GET /v1/records?offset=&limit=``: plugins with every live version, by name."""
        _only(request.query_params, "offset", "limit")
        offset = _integer(request.query_params, "offset", 0, 0, 10**9)
        limit = _integer(request.query_params, "limit", 100, 1, MAX_PAGE)
        total, page = await run_in_threadpool(_records_page, registry, offset, limit)
        return {
            "format": WIRE_FORMAT,
            "plugins": [plugin_to_wire(p) for p in page],
            "total": total,
            "offset": offset,
            "limit": limit,
        }

    async def details(request: Request) -> Any:
        name = plugin_name(request)
        _only(request.query_params)
        return await run_in_threadpool(service.reader().get_plugin, name)

    async def record(request: Request) -> Any:
        name = plugin_name(request)
        _only(request.query_params)
        found = await run_in_threadpool(registry.plugin, name)
        return {"format": WIRE_FORMAT, "plugin": plugin_to_wire(found)}

    async def versions(request: Request) -> Any:
        name = plugin_name(request)
        _only(request.query_params)
        return {"versions": await run_in_threadpool(service.reader().get_versions, name)}

    async def bundle(request: Request) -> Any:
        """The bundle as published; counted as a download unless ``?count=false``."""
        name, version = plugin_name(request), _version(request)
        _only(request.query_params, "count")
        count = request.query_params.get("count", "true")
        if count not in ("true", "false"):
            raise ServiceError(400, "VALIDATION_FAILED", "count must be true or false")
        found = await run_in_threadpool(registry.version, name, version)
        if not found.bundle.is_file():
            raise ServiceError(
                404, "PLUGIN_NOT_FOUND", f"the bundle of {found.key} is missing from the registry"
            )
        if count == "true":
            await run_in_threadpool(registry.download, name, version)
        return FileResponse(
            found.bundle,
            media_type="application/zip",
            filename=f"{name}-{version}.zip",
            headers={"X-Pliers-Checksum": found.checksum},
        )

    async def publish(request: Request) -> Any:
        """``POST /v1/plugins?changes=...``: the bundle (zip) as the body, the request
        signed by a registered publisher (see ``_signed_requests``)."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in _BUNDLE_TYPES:
            raise ServiceError(
                415, "UNSUPPORTED_MEDIA_TYPE",
                "send the bundle as the body with Content-Type: application/zip "
                f"(got {kind or 'none'!r})",
            )  # fmt: skip
        _only(request.query_params, "changes")
        notes = request.query_params.getlist("changes")
        if len(notes) > MAX_NOTES or any(len(n) > MAX_NOTE for n in notes):
            raise ServiceError(
                400, "VALIDATION_FAILED",
                f"changes: at most {MAX_NOTES} lines of {MAX_NOTE} characters",
            )  # fmt: skip
        signed = await run_in_threadpool(service.signed_by, request)
        path, digest = await service.upload(request)
        try:
            user = await run_in_threadpool(service.user_of, request, signed, digest)
            result = await run_in_threadpool(
                lambda: registry.publish(path, user=user, changes=notes)
            )
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
        return 201, result.to_dict()

    async def rate(request: Request) -> Any:
        """``POST /v1/plugins/{name}/ratings {"stars": 0-5}``, signed by a registered user."""
        name = plugin_name(request)
        _only(request.query_params)
        user = await service.require_user(request)
        body = await service.json_body(request)
        stars = body.get("stars") if isinstance(body, dict) else None
        if not isinstance(stars, int) or isinstance(stars, bool) or not 0 <= stars <= 5:
            raise ServiceError(
                400, "VALIDATION_FAILED", "the body is {\"stars\": an integer from 0 to 5}",
                {"path": "body.stars"},
            )  # fmt: skip
        average = await run_in_threadpool(lambda: registry.rate(name, stars, user=user))
        found = await run_in_threadpool(registry.plugin, name)
        return {"pluginId": name, "rating": average, "ratingCount": found.rating_count}

    async def key(request: Request) -> Any:
        """``GET /v1/keys/{keyId}``: whose key this is (public knowledge: signatures say it)."""
        key_id = str(request.path_params["key_id"])
        if not _KEY_ID.fullmatch(key_id):
            raise ServiceError(400, "VALIDATION_FAILED", "a key id is 16 hexadecimal digits")
        owner = await run_in_threadpool(registry.key_owner, key_id)
        if owner is None:
            raise ServiceError(
                404, "KEY_NOT_FOUND", f"key {key_id} is not registered with this registry"
            )
        return {"keyId": key_id, "user": owner}

    plugin = API + "/plugins/{name}"
    return [
        Route(API, guarded(info), methods=["GET"]),
        Route(API + "/search", guarded(search), methods=["GET"]),
        Route(API + "/categories", guarded(categories), methods=["GET"]),
        Route(API + "/featured", guarded(listing_route("get_featured", 6)), methods=["GET"]),
        Route(API + "/popular", guarded(listing_route("get_popular", 10)), methods=["GET"]),
        Route(API + "/updates", guarded(updates), methods=["POST"]),
        Route(API + "/records", guarded(records), methods=["GET"]),
        Route(API + "/plugins", guarded(publish), methods=["POST"]),
        Route(plugin, guarded(details), methods=["GET"]),
        Route(plugin + "/record", guarded(record), methods=["GET"]),
        Route(plugin + "/versions", guarded(versions), methods=["GET"]),
        Route(plugin + "/versions/{version}/bundle", guarded(bundle), methods=["GET"]),
        Route(plugin + "/ratings", guarded(rate), methods=["POST"]),
        Route(API + "/keys/{key_id}", guarded(key), methods=["GET"]),
    ]


def _records_page(registry: Any, offset: int, limit: int) -> tuple[int, list[Any]]:
    """How many plugins have a live version, and the records of ``limit`` of them from
    ``offset`` by name (read one by one: a page of a large registry, not all of it)."""
    from ...storage.sqlite import transaction
    from .._search_index import refresh
    from ..refusals import NotFoundError

    refresh(registry)
    with transaction(registry.db) as db:
        total = db.execute("SELECT COUNT(*) FROM search_listings").fetchone()[0]
        names = [
            r[0]
            for r in db.execute(
                "SELECT name FROM search_listings ORDER BY name LIMIT ? OFFSET ?", (limit, offset)
            )
        ]
    page = []
    for name in names:
        try:
            page.append(registry.plugin(name))
        except NotFoundError:  # withdrawn since: the next page still lines up by name
            continue
    return int(total), page


def _is_version(text: str) -> bool:
    try:
        parse_version(text)
    except VersionError:
        return False
    return len(text) <= 256
