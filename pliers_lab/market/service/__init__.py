"""The registry service: a plugin registry served over HTTP, so a team shares one and
engines install from it by URL (issue 19 §1).

>>> from pliers_lab.market.service import registry_app            # doctest: +SKIP
>>> app = registry_app("/srv/registry")    # a Starlette app: mount it, or
>>> # pliers registry serve --root /srv/registry --host 0.0.0.0 --port 8080

Clients: ``PluginMarketplace("http://host:8080", store, engine=engine)`` (a
``RemoteRegistry``), or any HTTP client. Replies are JSON; a refusal is ``{"error":
{code, message, details, timestamp}}`` with a 4xx status (hostile input never gets a
500). Endpoints (``{name}`` is a plugin name, ``{version}`` a version such as 1.2.0):

=======  ==========================================  ===========================================
GET      ``/v1``                                     what the registry is; how to publish
GET      ``/v1/search``                              ``q``, ``category``, ``tags``, ``license``
                                                     (comma-separated), ``compatibility``,
                                                     ``verified``, ``sort``, ``order``, ``limit``,
                                                     ``offset``: listings, facets, pagination
GET      ``/v1/categories``                          the ten categories with counts
GET      ``/v1/featured?limit=``                     featured listings, best rated first
GET      ``/v1/popular?limit=``                      the most downloaded listings
POST     ``/v1/updates``                             ``{"installed": {name: version},
                                                     "pliersVersion"?}``: newer versions, with
                                                     release notes and permissions added
GET      ``/v1/plugins/{name}``                      plugin details (``get_plugin``'s shape)
GET      ``/v1/plugins/{name}/versions``             versions with dates, notes, downloads, tags
GET      ``/v1/plugins/{name}/record``               every live version's full record
                                                     (what ``RemoteRegistry`` reads)
GET      ``/v1/records?offset=&limit=``              every plugin's record, by name, in pages
GET      ``/v1/plugins/{name}/versions/{version}/    the bundle as published (counted as a
         bundle``                                    download unless ``?count=false``)
POST     ``/v1/plugins?changes=...``                 publish: the bundle as the body
                                                     (``application/zip``), signed request
POST     ``/v1/plugins/{name}/ratings``              ``{"stars": 0-5}``, signed request
GET      ``/v1/keys/{keyId}``                        the user a registered key belongs to
=======  ==========================================  ===========================================

Publishing and rating need a request signed with an Ed25519 key registered to the user
(``Pliers-Ed25519``, see ``pliers_lab.market._signed_requests``); a publish is also
refused unless the bundle is signed by a key registered to that same user. No key, an
unknown key, a bad signature: 401; another user's key, an unsigned or foreign-signed
bundle, a user who may not publish that plugin: 403.

More routes are served from the same registry by adding a route set to ``ROUTE_SETS`` (or
passing ``route_sets=`` / ``extra_routes=`` to ``registry_app``); a route set is a
function of the ``RegistryService`` (``service.registry``, ``service.json_body``,
``service.require_user``, ``service.authenticate``) returning Starlette routes, each
handler wrapped in ``guarded`` for the error envelope.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._app import (
    MAX_JSON,
    ROUTE_SETS,
    RegistryService,
    RouteSet,
    ServiceError,
    error_reply,
    guarded,
    registry_app,
    route_table,
)
from ._endpoints import API, core_routes

if TYPE_CHECKING:
    import os

    from ...web import Server
    from .._registry import Registry

__all__ = [
    "API",
    "MAX_JSON",
    "ROUTE_SETS",
    "RegistryService",
    "RouteSet",
    "ServiceError",
    "core_routes",
    "error_reply",
    "guarded",
    "registry_app",
    "route_table",
    "serve_registry",
]


def serve_registry(
    registry: Registry | str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    log_level: str = "warning",
    **options: Any,
) -> Server:
    """Serve ``registry`` with uvicorn in a background thread; returns the started
    server (``server.url``; ``server.stop()``, or use it as a context manager).
    ``port=0`` picks a free port. ``options`` go to ``registry_app``."""
    from ...web import Server

    return Server(registry_app(registry, **options), host, port, log_level=log_level).start()
