"""Plugin endpoint routing: Express paths compiled once, a three-way match, and a router
that follows the plugins' lifecycle.

``compile_path("/plugins/webhook/receive/:webhookId")`` gives a regex, the parameter
names and the route's *shape* (``/plugins/webhook/receive/:``): two routes with the same
method and shape are the same route. ``RouteTable.match`` answers like starlette's
``Match``: NONE (no route has this path → 404), PARTIAL (the path exists, not for this
method → 405 with ``Allow``), FULL. Static paths are one dict lookup; paths with
parameters are tried per slug, most specific first (a static segment beats a parameter
at the same position), so ``/plugins/x/items/new`` finds ``items/new`` before ``items/:id``.

``Router`` rebuilds its table lazily: the engine records every lifecycle transition, so
``engine.transitions.total`` is a generation number, read once per request. Only ACTIVE
plugins have routes; a disable, unload, reload or failure changes the generation and the
next request sees the new table. Routes of a plugin are compiled once per loaded version
and reused across rebuilds.
"""

from __future__ import annotations

import inspect
import re
import threading
from collections.abc import Callable, Iterable
from enum import Enum
from typing import TYPE_CHECKING, Any, final

from ..errors import EngineError, PluginError, PluginErrorType
from ..lifecycle import PluginState

if TYPE_CHECKING:
    from ..engine import Engine
    from ..manifest.models import Endpoint, EndpointAuth, RateLimit
    from ..plugin import Plugin
    from ._request_validation import RequestValidator

__all__ = ["Match", "Route", "RouteConflict", "RouteTable", "Router", "compile_path"]

_PARAM = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")


class Match(Enum):
    """How a request matched the table (starlette's three-way match)."""

    NONE = 0
    PARTIAL = 1
    FULL = 2


def compile_path(path: str) -> tuple[re.Pattern[str], tuple[str, ...], str]:
    """``(regex, parameter names, shape)`` of an Express-style path.

    A parameter matches one non-empty segment (``[^/]+``), as in Express; the shape
    replaces each parameter with ``:`` so that ``/a/:id`` and ``/a/:key`` compare equal.
    """
    regex, shape, names, last = "^", "", [], 0
    for found in _PARAM.finditer(path):
        literal = path[last : found.start()]
        regex += re.escape(literal) + f"(?P<{found.group(1)}>[^/]+)"
        shape += literal + ":"
        names.append(found.group(1))
        last = found.end()
    regex += re.escape(path[last:]) + "$"
    shape += path[last:]
    return re.compile(regex), tuple(names), shape


def _slug(path: str) -> str:
    """``webhook`` of ``/plugins/webhook/...`` (paths are checked by the manifest)."""
    return path.split("/", 3)[2] if path.count("/") >= 3 else ""


def _specificity(shape: str) -> tuple[int, ...]:
    return tuple(1 if seg == ":" else 0 for seg in shape.split("/"))


@final
class Route:
    """One served endpoint: its plugin, compiled path and everything bound at registration.

    Attributes:
        key: ``"POST /plugins/webhook/receive/:webhookId"``, unique in a table.
        chain: ``(name, function)`` pairs: the middleware in order, then the handler.
        all_sync: no function of the chain is ``async def`` (one thread hop runs them all).
        validator: the compiled request schemas, or ``None``.
    """

    __slots__ = (
        "all_sync",
        "auth",
        "chain",
        "endpoint",
        "key",
        "method",
        "params",
        "path",
        "plugin",
        "plugin_id",
        "rate_limit",
        "regex",
        "shape",
        "validator",
    )

    def __init__(
        self,
        plugin: Plugin,
        endpoint: Endpoint,
        chain: tuple[tuple[str, Callable[..., Any]], ...],
        validator: RequestValidator | None = None,
    ) -> None:
        self.plugin = plugin
        self.plugin_id = plugin.id
        self.endpoint = endpoint
        self.method: str = endpoint.method
        self.path: str = endpoint.path
        self.key = f"{self.method} {self.path}"
        self.regex, self.params, self.shape = compile_path(self.path)
        self.chain = chain
        self.all_sync = not any(inspect.iscoroutinefunction(fn) for _, fn in chain)
        self.validator = validator
        self.rate_limit: RateLimit | None = endpoint.rate_limit
        self.auth: EndpointAuth = endpoint.auth

    def __repr__(self) -> str:
        return f"<Route {self.key} plugin={self.plugin_id}>"


class RouteConflict(EngineError):
    """Two plugins register the same method and path shape."""

    def __init__(self, kept: Route, refused: Route) -> None:
        super().__init__(
            f"route {refused.key} of plugin {refused.plugin_id!r} conflicts with "
            f"{kept.key} of plugin {kept.plugin_id!r}; the route stays with "
            f"{kept.plugin_id!r} (change one plugin's path, or disable one of them)"
        )
        self.kept = kept
        self.refused = refused


Methods = dict[str, Route]


class RouteTable:
    """Routes by path: static ones in a dict, parameterised ones per slug, most specific
    first. ``add`` refuses a second route with the same method and shape."""

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self.static: dict[str, Methods] = {}
        self.dynamic: dict[str, list[tuple[re.Pattern[str], Methods]]] = {}
        self._shapes: dict[str, Methods] = {}
        self.routes: list[Route] = []
        for route in routes:
            self.add(route)

    def add(self, route: Route) -> None:
        """Register ``route``; ``RouteConflict`` names both plugins on a clash."""
        methods = self._shapes.get(route.shape)
        if methods is not None and route.method in methods:
            raise RouteConflict(methods[route.method], route)
        if methods is None:
            methods = self._shapes[route.shape] = {route.method: route}
            if route.params:
                group = self.dynamic.setdefault(_slug(route.path), [])
                group.append((route.regex, methods))
                group.sort(key=lambda item: _specificity(_shape_of(item[1])))
            else:
                self.static[route.path] = methods
        methods[route.method] = route
        self.routes.append(route)

    def match(self, method: str, path: str) -> tuple[Match, Any, Any]:
        """``(FULL, route, params)``, ``(PARTIAL, None, allowed methods)`` or ``(NONE, …)``."""
        if len(path) > 1 and path[-1] == "/":
            path = path[:-1]
        allowed: set[str] | None = None
        methods = self.static.get(path)
        if methods is not None:
            route = methods.get(method)
            if route is not None:
                return Match.FULL, route, {}
            allowed = set(methods)
        for regex, methods in self.dynamic.get(_slug(path), ()):
            found = regex.match(path)
            if found is None:
                continue
            route = methods.get(method)
            if route is not None:
                return Match.FULL, route, found.groupdict()
            allowed = allowed | set(methods) if allowed else set(methods)
        if allowed:
            return Match.PARTIAL, None, sorted(allowed)
        return Match.NONE, None, None

    def __len__(self) -> int:
        return len(self.routes)


def _shape_of(methods: Methods) -> str:
    return next(iter(methods.values())).shape


RouteBuilder = Callable[["Plugin"], list[Route]]


class Router:
    """The routes of every ACTIVE plugin of ``engine``, rebuilt when the engine's
    lifecycle generation moves (see the module docstring).

    Problems found while registering (a route clashing with another plugin's, a handler
    the runtime did not bind, an invalid request schema, a missing ``network.inbound`` or
    ``api.register`` permission) leave that route out and are recorded once as a
    ``PluginError`` in ``engine.errors``, attributed to the plugin whose route was refused.

    Args:
        engine: the engine whose plugins serve.
        require_permission: serve an endpoint only when the manifest grants
            ``permissions.api.register`` on its path (a bare ``"register"`` grants all).
            ``permissions.network.inbound`` is always required.
    """

    def __init__(self, engine: Engine, *, require_permission: bool = True) -> None:
        self.engine = engine
        self.require_permission = require_permission
        self._generation = -1
        self._table = RouteTable()
        self._compiled: dict[int, tuple[Plugin, list[Route]]] = {}
        self._reported: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self.problems: list[PluginError] = []

    @property
    def table(self) -> RouteTable:
        """The current table (rebuilt first if a plugin changed state)."""
        if self.engine.transitions.total != self._generation:
            self._rebuild()
        return self._table

    def match(self, method: str, path: str) -> tuple[Match, Any, Any]:
        if self.engine.transitions.total != self._generation:
            self._rebuild()
        return self._table.match(method, path)

    def routes(self, plugin_id: str | None = None) -> list[Route]:
        """The routes served now (of one plugin, when given)."""
        return [r for r in self.table.routes if plugin_id is None or r.plugin_id == plugin_id]

    def _rebuild(self) -> None:
        with self._lock:
            generation = self.engine.transitions.total  # read first: a later move rebuilds
            if generation == self._generation:
                return
            active = [p for p in self.engine.plugins if p.state is PluginState.ACTIVE]
            # The plugin that has served longest keeps a contested route.
            active.sort(key=lambda p: (p.activated_at or 0.0, p.id))
            table, compiled = RouteTable(), {}
            for plugin in active:
                key = id(plugin.prepared)
                cached = self._compiled.get(key)
                routes = cached[1] if cached and cached[0] is plugin else self._build(plugin)
                compiled[key] = (plugin, routes)
                for route in routes:
                    try:
                        table.add(route)
                    except RouteConflict as exc:
                        self._report(
                            route.plugin,
                            str(exc),
                            {"route": route.key, "conflictsWith": exc.kept.plugin_id},
                        )
            self._compiled = compiled
            self._table, self._generation = table, generation

    def _build(self, plugin: Plugin) -> list[Route]:
        named = plugin.prepared.named if plugin.prepared is not None else {}
        routes = []
        for endpoint in plugin.manifest.api.endpoints:
            where = f"endpoint {endpoint.method} {endpoint.path}"
            permissions = plugin.manifest.permissions
            # The manifest is refused at load without it; a record built around that
            # check (``model_construct``, a copy) must not serve either.
            if not permissions.allows("network", "inbound", endpoint.path):
                self._report(
                    plugin,
                    f"{where} is not served: the manifest does not grant permissions.network."
                    "inbound (receiving inbound requests) on this path",
                    {"route": f"{endpoint.method} {endpoint.path}"},
                    PluginErrorType.SECURITY_ERROR,
                )
                continue
            if self.require_permission and not permissions.allows("api", "register", endpoint.path):
                self._report(
                    plugin,
                    f"{where} is not served: the manifest does not grant permissions.api."
                    "register on this path",
                    {"route": f"{endpoint.method} {endpoint.path}"},
                    PluginErrorType.SECURITY_ERROR,
                )
                continue
            names = [*endpoint.middleware, endpoint.handler]
            missing = [n for n in names if not callable(named.get(n))]
            if missing:
                self._report(
                    plugin,
                    f"{where} is not served: the {plugin.isolation!r} runtime bound no function "
                    f"{', '.join(missing)} (a runtime must offer endpoint functions in "
                    "Prepared.named)",
                    {"route": f"{endpoint.method} {endpoint.path}", "missing": missing},
                )
                continue
            validator = None
            if endpoint.validation is not None:
                from ._request_validation import RequestValidator, SchemaProblem

                try:
                    validator = RequestValidator(endpoint.validation)
                except SchemaProblem as exc:
                    self._report(plugin, f"{where}: {exc}", {"route": where})
                    continue
            chain = tuple((n, named[n]) for n in names)
            routes.append(Route(plugin, endpoint, chain, validator))
        return routes

    def _report(
        self,
        plugin: Plugin,
        message: str,
        metadata: dict[str, Any],
        kind: PluginErrorType = PluginErrorType.VALIDATION_ERROR,
    ) -> None:
        once = (plugin.key + str(id(plugin)), message)
        if once in self._reported:
            return
        self._reported.add(once)
        error = PluginError(kind, message, plugin_id=plugin.id, metadata=metadata)
        self.problems.append(error)
        self.engine.errors.append(error)
        plugin.logger.error(message)
