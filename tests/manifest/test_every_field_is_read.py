"""No manifest field is accepted and ignored (issue 18 §3).

The test walks the manifest schema — every field of every model reachable from
``Manifest``, by its JSON path, and every permission verb — and holds it against
``CONSUMERS``, a table of the code that honours each field:

- the table must list exactly the fields the models define, so a field added without a
  consumer (or removed, leaving a stale row) fails here;
- each row names modules and the attribute each reads (``module:attr``: an attribute
  access ``x.attr`` or ``getattr(x, "attr")``; ``module:'text'``: the string, for code
  that reads fields by name), and the module's syntax tree must really contain it;
- every field has a consumer outside ``pliers_lab/manifest`` (validating a field is not
  honouring it).

A field with nothing to do in a Python engine is refused instead (``types``: see
``test_models.test_types_is_refused_with_the_reason``).
"""

from __future__ import annotations

import ast
import functools
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from pliers_lab.manifest import Manifest, Permissions
from pliers_lab.manifest._permissions import VERBS

ROOT = Path(__file__).resolve().parents[2]

#: Field path → the code that honours it. ``*`` stands for any key of a map, ``[]`` for
#: every item of a list.
CONSUMERS: dict[str, tuple[str, ...]] = {
    "name": ("pliers_lab/plugin.py:name", "pliers_lab/engine/_installer.py:name"),
    "version": ("pliers_lab/plugin.py:version", "pliers_lab/dependencies/_model.py:version"),
    "description": (
        "pliers_lab/market/_registry.py:description",
        "pliers_lab/pdk/_docs.py:description",
    ),
    "author": ("pliers_lab/market/_registry.py:author",),
    "license": ("pliers_lab/market/_registry.py:license",),
    "main": ("pliers_lab/engine/loader.py:main", "pliers_lab/sandbox/_runtime.py:main"),
    "engines": ("pliers_lab/engine/loader.py:engines",),
    "engines.pliers": ("pliers_lab/engine/loader.py:pliers",),
    "engines.python": ("pliers_lab/engine/loader.py:python",),
    "keywords": ("pliers_lab/web/_views.py:keywords", "pliers_lab/market/_registry.py:keywords"),
    "categories": (
        "pliers_lab/web/_views.py:categories",
        "pliers_lab/market/_registry.py:categories",
    ),
    "permissions": (
        "pliers_lab/host/_api.py:permissions",
        "pliers_lab/sandbox/policy.py:permissions",
    ),
    "permissions.database": ("pliers_lab/host/_api.py:'database'",),
    "permissions.database.read": (
        "pliers_lab/host/_api.py:'read'",
        "pliers_lab/sandbox/hostapi.py:'read'",
    ),
    "permissions.database.write": (
        "pliers_lab/host/_api.py:'write'",
        "pliers_lab/sandbox/hostapi.py:'write'",
    ),
    "permissions.database.execute": (
        "pliers_lab/host/_api.py:'execute'",
        "pliers_lab/sandbox/hostapi.py:'execute'",
    ),
    "permissions.network": (
        "pliers_lab/sandbox/policy.py:network",
        "pliers_lab/web/_routing.py:'network'",
    ),
    "permissions.network.outbound": (
        "pliers_lab/sandbox/policy.py:'outbound'",
        "pliers_lab/sandbox/hostapi.py:'outbound'",
    ),
    # issue 18 §3: refused at load without it (models.py), checked again before serving
    "permissions.network.inbound": (
        "pliers_lab/manifest/models.py:'inbound'",
        "pliers_lab/web/_routing.py:'inbound'",
    ),
    "permissions.filesystem": ("pliers_lab/sandbox/policy.py:filesystem",),
    # sandbox/hostapi.py: the verb of a ctx.api.files call comes from vfs.DataFiles.OPERATIONS
    "permissions.filesystem.read": (
        "pliers_lab/sandbox/policy.py:'read'",
        "pliers_lab/sandbox/hostapi.py:'filesystem'",
    ),
    "permissions.filesystem.write": (
        "pliers_lab/sandbox/policy.py:'write'",
        "pliers_lab/sandbox/hostapi.py:'filesystem'",
    ),
    "permissions.events": ("pliers_lab/host/_api.py:'events'", "pliers_lab/host/_host.py:'events'"),
    "permissions.events.subscribe": (
        "pliers_lab/host/_api.py:'subscribe'",
        "pliers_lab/host/_host.py:'subscribe'",
    ),
    "permissions.events.publish": (
        "pliers_lab/host/_api.py:'publish'",
        "pliers_lab/sandbox/hostapi.py:'publish'",
    ),
    "permissions.api": ("pliers_lab/web/_routing.py:'api'", "pliers_lab/sandbox/hostapi.py:'api'"),
    "permissions.api.register": ("pliers_lab/web/_routing.py:'register'",),
    "permissions.api.call": ("pliers_lab/sandbox/hostapi.py:'call'",),
    "customHooks": ("pliers_lab/engine/_installer.py:custom_hooks",),
    "customHooks.*.mode": ("pliers_lab/engine/_installer.py:mode",),
    "customHooks.*.description": ("pliers_lab/engine/_installer.py:description",),
    "hooks": ("pliers_lab/engine/loader.py:hooks", "pliers_lab/engine/_activation.py:hooks"),
    "hooks.*.priority": ("pliers_lab/engine/_activation.py:priority",),
    # issue 18 §3: an async def under "async": false is refused at load
    "hooks.*.async": ("pliers_lab/engine/loader.py:is_async",),
    "hooks.*.timeout": ("pliers_lab/engine/_activation.py:timeout",),
    "hooks.*.retries": ("pliers_lab/engine/_activation.py:retries",),
    "hooks.*.handler": ("pliers_lab/engine/loader.py:handler",),
    "dependencies": (
        "pliers_lab/manifest/models.py:dependencies",
        "pliers_lab/dependencies/_model.py:all_dependencies",
    ),
    "peerDependencies": (
        "pliers_lab/manifest/models.py:peer_dependencies",
        "pliers_lab/dependencies/_model.py:all_dependencies",
    ),
    "optionalDependencies": (
        "pliers_lab/manifest/models.py:optional_dependencies",
        "pliers_lab/dependencies/_model.py:all_dependencies",
    ),
    "configuration": (
        "pliers_lab/engine/_installer.py:configuration",
        "pliers_lab/config/hotreload.py:configuration",
    ),
    "configuration.schema": ("pliers_lab/config/__init__.py:schema_file",),
    "configuration.default": ("pliers_lab/config/__init__.py:default_file",),
    "configuration.environments": ("pliers_lab/config/__init__.py:environments",),
    "configuration.strict": ("pliers_lab/config/__init__.py:strict",),
    "configuration.additionalProperties": ("pliers_lab/config/__init__.py:additional_properties",),
    # issue 18 §3: a config-file edit is applied live only with it
    "configuration.hotReload": ("pliers_lab/config/hotreload.py:hot_reload",),
    "api": ("pliers_lab/engine/loader.py:api", "pliers_lab/web/_routing.py:api"),
    "api.endpoints": (
        "pliers_lab/engine/loader.py:endpoints",
        "pliers_lab/web/_routing.py:endpoints",
    ),
    "api.endpoints[].path": ("pliers_lab/web/_routing.py:path",),
    "api.endpoints[].method": ("pliers_lab/web/_routing.py:method",),
    "api.endpoints[].handler": (
        "pliers_lab/web/_routing.py:handler",
        "pliers_lab/engine/loader.py:handler",
    ),
    "api.endpoints[].middleware": (
        "pliers_lab/web/_routing.py:middleware",
        "pliers_lab/engine/loader.py:middleware",
    ),
    "api.endpoints[].validation": ("pliers_lab/web/_routing.py:validation",),
    "api.endpoints[].validation.body": ("pliers_lab/web/_request_validation.py:'body'",),
    "api.endpoints[].validation.query": ("pliers_lab/web/_request_validation.py:'query'",),
    "api.endpoints[].validation.params": ("pliers_lab/web/_request_validation.py:'params'",),
    "api.endpoints[].rateLimit": (
        "pliers_lab/web/_routing.py:rate_limit",
        "pliers_lab/web/_endpoint_pipeline.py:rate_limit",
    ),
    "api.endpoints[].rateLimit.requests": ("pliers_lab/web/_endpoint_pipeline.py:requests",),
    "api.endpoints[].rateLimit.window": ("pliers_lab/web/_endpoint_pipeline.py:window",),
    "api.endpoints[].auth": (
        "pliers_lab/web/_routing.py:auth",
        "pliers_lab/web/_endpoint_pipeline.py:auth",
    ),
    "api.endpoints[].auth.required": ("pliers_lab/web/_auth.py:required",),
    "api.endpoints[].auth.roles": ("pliers_lab/web/_auth.py:roles",),
    "api.endpoints[].auth.permissions": ("pliers_lab/web/_auth.py:permissions",),
    "requirements": (
        "pliers_lab/engine/loader.py:requirements",
        "pliers_lab/dependencies/_model.py:requirements",
    ),
    "isolation": ("pliers_lab/engine/_installer.py:isolation",),
    "recovery": ("pliers_lab/plugin.py:recovery",),
    "recovery.strategy": (
        "pliers_lab/recovery.py:strategy",
        "pliers_lab/engine/_recoverer.py:strategy",
    ),
    "recovery.maxRetries": (
        "pliers_lab/recovery.py:max_retries",
        "pliers_lab/engine/_dispatch.py:attempts",
    ),
    "recovery.backoffStrategy": (
        "pliers_lab/recovery.py:backoff_strategy",
        "pliers_lab/engine/_dispatch.py:delay",
    ),
    "recovery.backoffMs": (
        "pliers_lab/recovery.py:backoff_ms",
        "pliers_lab/engine/_dispatch.py:delay",
    ),
    "recovery.fallbackPlugin": (
        "pliers_lab/recovery.py:fallback_plugin",
        "pliers_lab/engine/_recoverer.py:fallback_plugin",
    ),
    # issue 18 §3: each recovery decision is a plugin.admin.notified event (or not)
    "recovery.notifyAdmin": (
        "pliers_lab/recovery.py:notify_admin",
        "pliers_lab/engine/_journal.py:notify_admin",
    ),
    "recovery.circuitBreaker": ("pliers_lab/recovery.py:'circuit_breaker'",),
    "recovery.circuitBreaker.threshold": (
        "pliers_lab/recovery.py:threshold",
        "pliers_lab/engine/_recoverer.py:breaker_threshold",
    ),
    "recovery.circuitBreaker.resetAfterMs": (
        "pliers_lab/recovery.py:reset_after_ms",
        "pliers_lab/plugin.py:breaker_reset_ms",
    ),
    "limits": (
        "pliers_lab/sandbox/_plugin_limits.py:limits",
        "pliers_lab/engine/_installer.py:limits",
    ),
    "limits.memory": ("pliers_lab/sandbox/_plugin_limits.py:'memory'",),
    "limits.cpu": ("pliers_lab/sandbox/_plugin_limits.py:'cpu'",),
    "limits.disk": ("pliers_lab/sandbox/_plugin_limits.py:'disk'",),
    "limits.network": ("pliers_lab/sandbox/_plugin_limits.py:'network'",),
    "limits.networkPerCall": ("pliers_lab/sandbox/_plugin_limits.py:'networkPerCall'",),
    "limits.executionTime": ("pliers_lab/sandbox/_plugin_limits.py:'executionTime'",),
    "limits.blockedModules": (
        "pliers_lab/sandbox/_plugin_limits.py:blocked_modules",
        "pliers_lab/market/_blocked.py:blocked_modules",
    ),
}

#: The fields issue 18 §3 found ignored, and the tests that show each one honoured
#: through a real engine (``(file, function)``; each must exist).
BEHAVIOUR: dict[str, tuple[tuple[str, str], ...]] = {
    "hooks.*.async": (
        (
            "tests/engine/test_loader.py",
            "test_an_async_def_under_async_false_is_refused_at_load_naming_the_field",
        ),
        ("tests/engine/test_loader.py", "test_async_true_takes_an_async_def_and_a_plain_function"),
    ),
    "configuration.hotReload": (
        (
            "tests/config/test_hotreload.py",
            "test_without_hot_reload_a_config_edit_is_held_and_said_so",
        ),
        (
            "tests/config/test_hotreload.py",
            "test_a_config_file_change_reloads_only_the_configuration",
        ),
    ),
    "permissions.network.inbound": (
        (
            "tests/web/test_routing.py",
            "test_endpoints_need_network_inbound_at_load_and_when_served",
        ),
        (
            "tests/manifest/test_models.py",
            "test_endpoints_without_network_inbound_are_refused_naming_both",
        ),
    ),
    "recovery.notifyAdmin": (
        (
            "tests/engine/test_journal.py",
            "test_each_recovery_decision_is_sent_to_the_admin_by_default",
        ),
        (
            "tests/engine/test_journal.py",
            "test_notify_admin_false_sends_nothing_and_the_record_says_so",
        ),
        (
            "tests/host/test_admin.py",
            "test_a_failure_that_aborts_the_operation_is_still_told_to_the_admin",
        ),
    ),
}


# -- the walk ---------------------------------------------------------------------------------


def _models_in(annotation: Any) -> Iterator[tuple[type[BaseModel], str]]:
    """Models inside a field's type, each with how its path continues (``.``, ``.*.``, ``[].``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, "."
        return
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        yield from _models_in(args[0])
    elif origin in (typing.Union, types.UnionType):
        for arg in args:
            yield from _models_in(arg)
    elif origin is dict:
        yield from ((m, ".*.") for m, _ in _models_in(args[1]))
    elif origin is tuple:
        yield from ((m, "[].") for m, _ in _models_in(args[0]))


def schema_paths(model: type[BaseModel] = Manifest, prefix: str = "") -> Iterator[str]:
    """Every field reachable from ``model`` by its JSON path, and every permission verb."""
    for name, info in model.model_fields.items():
        path = prefix + (info.alias or name)
        yield path
        if model is Permissions:
            yield from (f"{path}.{verb}" for verb in VERBS[name])
        for inner, joint in _models_in(info.annotation):
            yield from schema_paths(inner, path + joint)


# -- what a module reads ------------------------------------------------------------------------


@functools.cache
def _read_names(module: str) -> tuple[frozenset[str], frozenset[str]]:
    """``(attributes read, strings)`` of a module: ``x.attr`` and ``getattr(x, "attr")``;
    every string constant."""
    tree = ast.parse((ROOT / module).read_text(), module)
    attributes: set[str] = set()
    strings: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            attributes.add(node.attr)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            attributes.add(node.args[1].value)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            strings.add(node.value)
    return frozenset(attributes), frozenset(strings)


def reads(entry: str) -> bool:
    """Whether ``module:attr`` / ``module:'text'`` holds: the module reads it."""
    module, _, name = entry.partition(":")
    attributes, strings = _read_names(module)
    if name.startswith("'") and name.endswith("'"):
        return name[1:-1] in strings
    return name in attributes


# -- the checks -------------------------------------------------------------------------------


def test_the_walk_reaches_every_model_and_the_fields_of_this_issue() -> None:
    paths = list(schema_paths())
    assert len(paths) == len(set(paths))
    for path in (
        "engines.python",
        "hooks.*.async",
        "configuration.hotReload",
        "permissions.network.inbound",
        "api.endpoints[].validation.body",
        "api.endpoints[].rateLimit.window",
        "api.endpoints[].auth.roles",
        "recovery.notifyAdmin",
        "recovery.circuitBreaker.resetAfterMs",
    ):
        assert path in paths
    assert "types" not in paths  # refused instead: nothing would read it


def test_the_table_lists_exactly_the_fields_the_models_define() -> None:
    defined = set(schema_paths())
    unread = sorted(defined - set(CONSUMERS))
    assert not unread, (
        f"manifest fields no code is listed as honouring: {unread}; implement each and add "
        "the module that reads it to CONSUMERS, or refuse the field with a clear error"
    )
    stale = sorted(set(CONSUMERS) - defined)
    assert not stale, f"CONSUMERS lists fields the manifest no longer has: {stale}"


@pytest.mark.parametrize("path", sorted(CONSUMERS))
def test_each_listed_module_really_reads_the_field(path: str) -> None:
    entries = CONSUMERS[path]
    assert entries, f"{path}: no consumer listed"
    missing = [entry for entry in entries if not reads(entry)]
    assert not missing, f"{path}: these modules do not read what the table says: {missing}"
    outside = [e for e in entries if not e.startswith("pliers_lab/manifest/")]
    assert outside, f"{path}: only the manifest package reads it (validating is not honouring)"
    parts = path.split(".")
    if parts[0] == "permissions" and len(parts) == 3:  # a verb: its category is read too
        category = parts[1]
        for entry in entries:
            module = entry.partition(":")[0]
            attributes, strings = _read_names(module)
            assert category in strings or category in attributes, (
                f"{path}: {module} mentions {parts[2]!r} but never the {category!r} category"
            )


def test_the_check_can_fail() -> None:
    """A reference that is not there is reported (the table cannot pass by itself)."""
    assert reads("pliers_lab/config/hotreload.py:hot_reload")
    assert not reads("pliers_lab/config/hotreload.py:notify_admin")
    assert not reads("pliers_lab/config/hotreload.py:'inbound'")
    assert reads("pliers_lab/recovery.py:'circuit_breaker'")  # getattr(x, "...") or a string
    with pytest.raises(FileNotFoundError):
        reads("pliers_lab/no_such_module.py:anything")


@pytest.mark.parametrize("path", sorted(BEHAVIOUR))
def test_the_fields_of_issue_18_have_behaviour_tests_that_exist(path: str) -> None:
    assert path in CONSUMERS
    for file, function in BEHAVIOUR[path]:
        tree = ast.parse((ROOT / file).read_text(), file)
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert function in defined, f"{path}: {file}::{function} does not exist"
