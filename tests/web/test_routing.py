"""Routing without a server: compiled paths, the three-way match, conflicts, lifecycle."""

from __future__ import annotations

from typing import Any

import pytest
from web.helpers import endpoint_manifest, ok

from pliers_lab import Engine, PluginErrorType
from pliers_lab.web._routing import Match, Route, RouteConflict, Router, RouteTable, compile_path


def test_compile_path_named_params_and_shape() -> None:
    regex, params, shape = compile_path("/plugins/webhook/receive/:webhookId")
    assert params == ("webhookId",)
    assert shape == "/plugins/webhook/receive/:"
    assert regex.match("/plugins/webhook/receive/abc-1").groupdict() == {"webhookId": "abc-1"}
    assert regex.match("/plugins/webhook/receive/") is None
    assert regex.match("/plugins/webhook/receive/a/b") is None


def test_compile_path_escapes_literals() -> None:
    regex, params, _ = compile_path("/plugins/x/a.b/:id")
    assert params == ("id",)
    assert regex.match("/plugins/x/a.b/1")
    assert regex.match("/plugins/x/aXb/1") is None


def routes_of(engine: Engine, name: str, endpoints: list[dict[str, Any]]) -> list[Route]:
    functions = {e["handler"]: (lambda request: ok()) for e in endpoints}
    plugin = engine.add_plugin(endpoint_manifest(name, endpoints), functions)
    named = plugin.prepared.named if plugin.prepared else {}
    return [
        Route(plugin, e, ((e.handler, named[e.handler]),)) for e in plugin.manifest.api.endpoints
    ]


def test_three_way_match(engine: Engine) -> None:
    routes = routes_of(
        engine,
        "shop",
        [
            {"path": "/plugins/shop/items", "method": "GET", "handler": "list"},
            {"path": "/plugins/shop/items", "method": "POST", "handler": "create"},
            {"path": "/plugins/shop/items/:id", "method": "GET", "handler": "get"},
            {"path": "/plugins/shop/items/new", "method": "GET", "handler": "new"},
        ],
    )
    table = RouteTable(routes)
    kind, route, params = table.match("GET", "/plugins/shop/items/42")
    assert (kind, route.endpoint.handler, params) == (Match.FULL, "get", {"id": "42"})
    kind, route, _ = table.match("GET", "/plugins/shop/items/new")
    assert (kind, route.endpoint.handler) == (Match.FULL, "new")  # static beats :id
    assert table.match("POST", "/plugins/shop/items/")[0] is Match.FULL  # trailing slash
    assert table.match("DELETE", "/plugins/shop/items") == (Match.PARTIAL, None, ["GET", "POST"])
    assert table.match("PUT", "/plugins/shop/items/9") == (Match.PARTIAL, None, ["GET"])
    assert table.match("GET", "/plugins/shop/nothing")[0] is Match.NONE
    assert table.match("GET", "/plugins/other/items")[0] is Match.NONE


def test_more_specific_parameterised_route_wins(engine: Engine) -> None:
    table = RouteTable(
        routes_of(
            engine,
            "m",
            [
                {"path": "/plugins/m/:a/list", "method": "GET", "handler": "generic"},
                {"path": "/plugins/m/items/:b", "method": "GET", "handler": "items"},
            ],
        )
    )
    assert table.match("GET", "/plugins/m/items/list")[1].endpoint.handler == "items"
    assert table.match("GET", "/plugins/m/users/list")[1].endpoint.handler == "generic"


def test_same_shape_from_two_plugins_is_a_conflict_naming_both(engine: Engine) -> None:
    first = routes_of(
        engine, "alpha", [{"path": "/plugins/shared/:id", "method": "GET", "handler": "a"}]
    )
    second = routes_of(
        engine, "beta", [{"path": "/plugins/shared/:key", "method": "GET", "handler": "b"}]
    )
    table = RouteTable(first)
    with pytest.raises(RouteConflict) as info:
        table.add(second[0])
    assert "'alpha'" in str(info.value) and "'beta'" in str(info.value)
    assert info.value.kept.plugin_id == "alpha"


def test_router_keeps_the_earlier_plugin_and_records_the_conflict(engine: Engine) -> None:
    routes_of(engine, "alpha", [{"path": "/plugins/shared/x", "method": "GET", "handler": "a"}])
    routes_of(
        engine,
        "beta",
        [
            {"path": "/plugins/shared/x", "method": "GET", "handler": "b"},
            {"path": "/plugins/shared/y", "method": "GET", "handler": "c"},
        ],
    )
    router = Router(engine)
    assert router.match("GET", "/plugins/shared/x")[1].plugin_id == "alpha"
    assert router.match("GET", "/plugins/shared/y")[1].plugin_id == "beta"
    conflicts = [e for e in engine.errors if e.plugin_id == "beta"]
    assert len(conflicts) == 1 and "alpha" in conflicts[0].message
    router.match("GET", "/plugins/shared/x")  # recorded once, not per request
    engine.disable("alpha")
    assert router.match("GET", "/plugins/shared/x")[1].plugin_id == "beta"
    assert len([e for e in engine.errors if e.plugin_id == "beta"]) == 1


def test_routes_follow_the_lifecycle(engine: Engine) -> None:
    routes_of(engine, "life", [{"path": "/plugins/life/ping", "method": "GET", "handler": "ping"}])
    router = Router(engine)
    assert router.match("GET", "/plugins/life/ping")[0] is Match.FULL
    engine.disable("life")
    assert router.match("GET", "/plugins/life/ping")[0] is Match.NONE
    engine.enable("life")
    assert router.match("GET", "/plugins/life/ping")[0] is Match.FULL
    engine.unload("life")
    assert router.match("GET", "/plugins/life/ping")[0] is Match.NONE


def test_routes_are_compiled_once_per_loaded_version(engine: Engine) -> None:
    routes_of(engine, "once", [{"path": "/plugins/once/:id", "method": "GET", "handler": "h"}])
    routes_of(engine, "other", [{"path": "/plugins/other/x", "method": "GET", "handler": "h"}])
    router = Router(engine)
    before = router.match("GET", "/plugins/once/1")[1]
    engine.disable("other")
    assert router.match("GET", "/plugins/once/1")[1] is before


def test_endpoint_needs_the_api_register_permission(engine: Engine) -> None:
    manifest = endpoint_manifest(
        "sneaky",
        [{"path": "/plugins/sneaky/x", "method": "GET", "handler": "h"}],
        permissions={"network": ["inbound"]},
    )
    engine.add_plugin(manifest, {"h": lambda request: ok()})
    router = Router(engine)
    assert router.match("GET", "/plugins/sneaky/x")[0] is Match.NONE
    (error,) = [e for e in engine.errors if e.plugin_id == "sneaky"]
    assert error.type is PluginErrorType.SECURITY_ERROR and "api.register" in error.message
    assert (
        Router(engine, require_permission=False).match("GET", "/plugins/sneaky/x")[0] is Match.FULL
    )


def test_endpoints_need_network_inbound_at_load_and_when_served(engine: Engine) -> None:
    from pliers_lab.manifest import ManifestError, Permissions

    route = {"path": "/plugins/closed/x", "method": "GET", "handler": "h"}
    with pytest.raises(ManifestError) as refused:
        engine.add_plugin(
            endpoint_manifest("closed", [route], permissions={"api": ["register"]}),
            {"h": lambda request: ok()},
        )
    assert refused.value.plugin_id == "closed"
    assert str(refused.value).startswith(
        "<inline manifest>: permissions.network.inbound: api.endpoints[0] "
        "(GET /plugins/closed/x) receives inbound requests"
    )
    # A manifest that got past that check some other way is not served either.
    plugin = engine.add_plugin(endpoint_manifest("closed", [route]), {"h": lambda request: ok()})
    assert Router(engine).match("GET", "/plugins/closed/x")[0] is Match.FULL
    plugin.manifest = plugin.manifest.model_copy(
        update={"permissions": Permissions.model_validate({"api": ["register"]})}
    )
    router = Router(engine, require_permission=False)  # relaxes api.register, not this
    assert router.match("GET", "/plugins/closed/x")[0] is Match.NONE
    (error,) = router.problems
    assert error.type is PluginErrorType.SECURITY_ERROR and error.plugin_id == "closed"
    assert "permissions.network.inbound" in error.message


def test_network_inbound_patterns_are_matched_per_path(engine: Engine) -> None:
    from pliers_lab.manifest import ManifestError

    routes = [
        {"path": "/plugins/half/open", "method": "GET", "handler": "h"},
        {"path": "/plugins/half/shut", "method": "GET", "handler": "h"},
    ]
    permissions = {"api": ["register"], "network": {"inbound": ["/plugins/half/open"]}}
    with pytest.raises(ManifestError, match=r"api.endpoints\[1\] \(GET /plugins/half/shut\)"):
        engine.add_plugin(
            endpoint_manifest("half", routes, permissions=permissions), {"h": lambda r: ok()}
        )


def test_register_permission_is_checked_per_path(engine: Engine) -> None:
    manifest = endpoint_manifest(
        "narrow",
        [
            {"path": "/plugins/narrow/ok", "method": "GET", "handler": "h"},
            {"path": "/plugins/elsewhere/no", "method": "GET", "handler": "h"},
        ],
        permissions={"api": {"register": ["/plugins/narrow/*"]}, "network": ["inbound"]},
    )
    engine.add_plugin(manifest, {"h": lambda request: ok()})
    assert [r.path for r in Router(engine).routes()] == ["/plugins/narrow/ok"]


def test_invalid_request_schema_leaves_the_route_out(engine: Engine) -> None:
    manifest = endpoint_manifest(
        "bad",
        [
            {
                "path": "/plugins/bad/x",
                "method": "POST",
                "handler": "h",
                "validation": {"body": {"type": "no-such-type"}},
            }
        ],
    )
    engine.add_plugin(manifest, {"h": lambda request: ok()})
    assert Router(engine).match("POST", "/plugins/bad/x")[0] is Match.NONE
    (error,) = [e for e in engine.errors if e.plugin_id == "bad"]
    assert "validation.body" in error.message
