"""Manifest models: every field's valid and invalid forms, through ``parse_manifest``."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from pliers_lab.catalog import ResultMode
from pliers_lab.errors import PluginError, PluginErrorType
from pliers_lab.manifest import Category, Manifest, ManifestError, parse_manifest

Make = Callable[..., dict[str, Any]]


def problems(data: object, **kwargs: Any) -> list[str]:
    """The problem lines of ``data``, without the file prefix."""
    with pytest.raises(ManifestError) as info:
        parse_manifest(data, **kwargs)
    return [str(p).removeprefix("manifest.json: ") for p in info.value.problems]


def put(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Set ``value`` at a slash-separated path (list indices as numbers)."""
    *parents, last = path.split("/")
    node: Any = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


# -- valid manifests ---------------------------------------------------------------------


def test_minimal_manifest_gets_the_spec_defaults(minimal: Make) -> None:
    m = parse_manifest(minimal())
    assert (m.name, m.version, m.main, m.main_kind) == (
        "advanced-validation",
        "1.0.0",
        "plugin.py",
        "file",
    )
    assert m.engines.pliers == "^3.0.0" and m.engines.python == ">=3.11"
    assert m.hooks == {} and m.custom_hooks == {} and m.dependencies == {}
    assert m.permissions.as_rows() == [] and m.api.endpoints == ()
    assert m.isolation is None and m.root is None
    r = m.recovery
    assert (r.strategy, r.max_retries, r.backoff_strategy, r.backoff_ms) == (
        "ignore",
        3,
        "exponential",
        100.0,
    )
    assert r.notify_admin is True and r.fallback_plugin is None
    # The breaker always half-opens again: 30 s unless the manifest says (issue 14).
    assert (r.circuit_breaker.threshold, r.circuit_breaker.reset_after_ms) == (5, 30000.0)


def test_full_manifest_reads_every_field(full: Make) -> None:
    m = parse_manifest(full())
    assert m.categories == (Category.FORM_PROCESSING, Category.VALIDATION)
    assert m.keywords == ("form", "validation")
    validate = m.hooks["form.validate"]
    assert (validate.priority, validate.is_async, validate.timeout, validate.retries) == (
        200,
        False,
        5000.0,
        0,
    )
    before = m.hooks["submission.beforeValidate"]
    assert (before.priority, before.is_async, before.retries, before.handler) == (
        150,
        True,
        2,
        "check",
    )
    assert m.hooks["validation.phone"].priority == 100
    assert m.custom_hooks["validation.phone"].mode is ResultMode.VALIDATE
    assert m.configuration.schema_file == "config-schema.json"
    assert m.configuration.default_file == "config-default.json"
    receive, listing = m.api.endpoints
    assert receive.params == ("webhookId",) and receive.method == "POST"
    assert receive.rate_limit is not None and receive.rate_limit.window == 60.0
    assert receive.validation is not None and receive.validation.body == {"type": "object"}
    assert listing.auth.required and listing.auth.roles == ("admin",)
    assert m.isolation == "process"
    assert m.recovery.fallback_plugin == "basic-validation"
    assert m.recovery.circuit_breaker.reset_after_ms == 60000.0


def test_convenience_accessors(full: Make) -> None:
    m = parse_manifest(full())
    assert m.id == "advanced-validation"
    assert m.key == "advanced-validation@1.0.0"
    assert m.declared_hooks() == ("form.validate", "submission.beforeValidate", "validation.phone")
    assert list(m.all_dependencies()) == [
        ("phone-lib", "^1.10.0", "runtime"),
        ("pliers-core", "^3.0.0", "peer"),
        ("card-validator", "^2.0.0", "optional"),
    ]


def test_snake_case_names_are_accepted_too(minimal: Make) -> None:
    m = parse_manifest(minimal(peer_dependencies={"pliers-core": "^3.0.0"}))
    assert m.peer_dependencies == {"pliers-core": "^3.0.0"}


def test_models_are_frozen(minimal: Make) -> None:
    m = parse_manifest(minimal())
    with pytest.raises(ValidationError):
        m.name = "other"


def test_dump_by_alias_round_trips(full: Make) -> None:
    m = parse_manifest(full())
    dumped = m.model_dump(mode="json", by_alias=True)
    assert dumped["hooks"]["form.validate"]["async"] is False
    assert "peerDependencies" in dumped and "circuitBreaker" in dumped["recovery"]
    assert parse_manifest(dumped) == m


@pytest.mark.parametrize(
    "main, kind",
    [
        ("plugin.py", "file"),
        ("src/plugin.py", "file"),
        ("./src/my_plugin", "package"),
        ("src/my_plugin/", "package"),
        ("my_plugin", "module"),
        ("acme_plugins.validation.core", "module"),
    ],
)
def test_main_forms(minimal: Make, main: str, kind: str) -> None:
    assert parse_manifest(minimal(main=main)).main_kind == kind


@pytest.mark.parametrize(
    "version", ["0.0.0", "1.2.3", "1.2.3-beta.1", "1.2.3+build.5", "10.20.30-rc.1+sha.5114f85"]
)
def test_valid_versions(minimal: Make, version: str) -> None:
    assert parse_manifest(minimal(version=version)).version == version


# -- invalid fields: one problem each, exact wording ----------------------------------------

CASES: list[tuple[str, Any, str]] = [
    (
        "name",
        "Bad_Name",
        'name: must contain only lowercase letters, digits and hyphens (got "Bad_Name")',
    ),
    ("name", "", "name: must not be empty"),
    ("name", "a" * 215, "name: must be at most 214 characters (got 215)"),
    (
        "name",
        "@pliers/utils",
        'name: must contain only lowercase letters, digits and hyphens (got "@pliers/utils") '
        "(hint: scoped names (@scope/name) are not supported)",
    ),
    ("name", 5, "name: expected a string, got 5"),
    ("version", "1.2", 'version: must be a full semantic version such as 1.2.3 (got "1.2")'),
    (
        "version",
        "1.2.3junk",
        'version: must be a full semantic version such as 1.2.3 (got "1.2.3junk")',
    ),
    ("version", 1, "version: expected a string, got 1"),
    ("description", "short", "description: must be at least 10 characters (got 5)"),
    ("description", "x" * 501, "description: must be at most 500 characters (got 501)"),
    ("author", "   ", "author: must not be empty"),
    ("license", None, "license: expected a string, got null"),
    (
        "main",
        "/srv/plugin.py",
        'main: must be relative to the plugin folder (got "/srv/plugin.py")',
    ),
    (
        "main",
        "../other/plugin.py",
        'main: must stay inside the plugin folder (got "../other/plugin.py")',
    ),
    (
        "main",
        "./dist/index.js",
        "main: must be a .py file, a package folder or a dotted module name "
        '(got "./dist/index.js") '
        '(hint: e.g. "plugin.py", "src/my_plugin" or "my_plugin.core")',
    ),
    (
        "engines/pliers",
        ">=abc",
        'engines.pliers: not a valid version range (got ">=abc"): '
        'cannot read comparator \'>=abc\' (hint: e.g. "^1.2.0" or ">=3.11")',
    ),
    ("engines/python", 3.11, "engines.python: expected a string, got 3.11"),
    ("engines", "^3.0.0", 'engines: expected an object, got "^3.0.0"'),
    ("keywords", "form", 'keywords: expected a list, got "form"'),
    ("keywords", [1], "keywords[0]: expected a string, got 1"),
    (
        "categories",
        ["forms"],
        "categories[0]: must be one of: form-processing, validation, workflow, integration, "
        "notification, analytics, security, ui-enhancement, data-transform, reporting "
        '(got "forms")',
    ),
    (
        "hooks/form.validate",
        {"priority": "high"},
        'hooks."form.validate".priority: expected an integer, got "high"',
    ),
    (
        "hooks/form.validate",
        {"priority": True},
        'hooks."form.validate".priority: expected an integer, got true',
    ),
    (
        "hooks/form.validate",
        {"priority": 1.5},
        'hooks."form.validate".priority: expected an integer, got 1.5',
    ),
    (
        "hooks/form.validate",
        {"priority": 0},
        'hooks."form.validate".priority: must be at least 1 (got 0)',
    ),
    (
        "hooks/form.validate",
        {"priority": 1001},
        'hooks."form.validate".priority: must be at most 1000 (got 1001)',
    ),
    (
        "hooks/form.validate",
        {"async": "yes"},
        'hooks."form.validate".async: expected true or false, got "yes"',
    ),
    (
        "hooks/form.validate",
        {"timeout": 0},
        'hooks."form.validate".timeout: must be greater than 0 (got 0)',
    ),
    (
        "hooks/form.validate",
        {"timeout": "30s"},
        'hooks."form.validate".timeout: expected a number, got "30s"',
    ),
    (
        "hooks/form.validate",
        {"timeout": float("nan")},
        'hooks."form.validate".timeout: must be a finite number (got NaN)',
    ),
    (
        "hooks/form.validate",
        {"retries": 6},
        'hooks."form.validate".retries: must be at most 5 (got 6)',
    ),
    (
        "hooks/form.validate",
        {"retries": -1},
        'hooks."form.validate".retries: must be at least 0 (got -1)',
    ),
    (
        "hooks/form.validate",
        {"handler": "check form"},
        'hooks."form.validate".handler: must be a Python function name (got "check form")',
    ),
    (
        "hooks/form.validate",
        {"prio": 5},
        'hooks."form.validate".prio: unknown field (hint: did you mean "priority"?)',
    ),
    ("hooks/form.validate", 100, 'hooks."form.validate": expected an object, got 100'),
    (
        "hooks/validate",
        {},
        "hooks.validate: not a hook name: use dot-separated words such as form.validate",
    ),
    (
        "hooks/form.validte",
        {},
        'hooks."form.validte": unknown hook: not a core hook, not in customHooks, not declared '
        'by a loaded plugin (hint: did you mean "form.validate"?)',
    ),
    (
        "customHooks/form.validate",
        {"mode": "collect"},
        'customHooks."form.validate": shadows a core hook of the same name',
    ),
    (
        "customHooks/crm",
        {"mode": "collect"},
        "customHooks.crm: not a hook name: use dot-separated words such as form.validate",
    ),
    ("customHooks/crm.sync", {}, 'customHooks."crm.sync".mode: missing required field'),
    (
        "customHooks/crm.sync",
        {"mode": "sum"},
        'customHooks."crm.sync".mode: must be one of: collect, validate, waterfall, veto, '
        'first (got "sum")',
    ),
    (
        "dependencies/Phone_Lib",
        "^1.0.0",
        "dependencies.Phone_Lib: must contain only lowercase letters, digits and hyphens "
        '(got "Phone_Lib")',
    ),
    (
        "dependencies/phone-lib",
        ">=abc",
        'dependencies."phone-lib": not a valid version range (got ">=abc"): '
        'cannot read comparator \'>=abc\' (hint: e.g. "^1.2.0" or ">=3.11")',
    ),
    ("peerDependencies/phone-lib", 1, 'peerDependencies."phone-lib": expected a string, got 1'),
    ("optionalDependencies", ["phone-lib"], "optionalDependencies: expected an object, got a list"),
    (
        "dependencies/advanced-validation",
        "^1.0.0",
        'dependencies."advanced-validation": a plugin cannot depend on itself',
    ),
    (
        "peerDependency",
        {},
        'peerDependency: unknown field (hint: did you mean "peerDependencies"?)',
    ),
    (
        "configuration/schema",
        "/etc/schema.json",
        'configuration.schema: must be relative to the plugin folder (got "/etc/schema.json")',
    ),
    (
        "configuration/default",
        "a/../../x.json",
        'configuration.default: must stay inside the plugin folder (got "a/../../x.json")',
    ),
    (
        "configuration/schemas",
        "x.json",
        'configuration.schemas: unknown field (hint: did you mean "schema"?)',
    ),
    ("requirements", "requests", 'requirements: expected a list, got "requests"'),
    ("isolation", "thread", 'isolation: must be one of: inline, process (got "thread")'),
    (
        "recovery/strategy",
        "fallback",
        'recovery.fallbackPlugin: required when strategy is "fallback"',
    ),
    (
        "recovery/strategy",
        "panic",
        "recovery.strategy: must be one of: restart, disable, fallback, "
        'retry, ignore (got "panic")',
    ),
    ("recovery/maxRetries", 11, "recovery.maxRetries: must be at most 10 (got 11)"),
    (
        "recovery/backoffStrategy",
        "fixed",
        'recovery.backoffStrategy: must be one of: linear, exponential (got "fixed")',
    ),
    ("recovery/backoffMs", -1, "recovery.backoffMs: must be at least 0 (got -1)"),
    (
        "recovery/fallbackPlugin",
        "Other",
        "recovery.fallbackPlugin: must contain only lowercase letters, digits and hyphens "
        '(got "Other")',
    ),
    ("recovery/notifyAdmin", "yes", 'recovery.notifyAdmin: expected true or false, got "yes"'),
    (
        "recovery/circuitBreaker/threshold",
        0,
        "recovery.circuitBreaker.threshold: must be at least 1 (got 0)",
    ),
    (
        "recovery/circuitBreaker/resetAfterMs",
        -5,
        "recovery.circuitBreaker.resetAfterMs: must be at least 0 (got -5)",
    ),
]


@pytest.mark.parametrize(
    "path, value, expected", CASES, ids=[f"{p}={v!r}"[:50] for p, v, _ in CASES]
)
def test_invalid_field_is_one_exact_problem(
    minimal: Make, path: str, value: Any, expected: str
) -> None:
    assert problems(put(minimal(), path, value)) == [expected]


@pytest.mark.parametrize(
    "field", ["name", "version", "description", "author", "license", "engines"]
)
def test_required_fields(minimal: Make, field: str) -> None:
    data = minimal()
    del data[field]
    assert problems(data) == [f"{field}: missing required field"]


def test_engines_node_is_pointed_at_python(minimal: Make) -> None:
    assert problems(minimal(engines={"pliers": "^3.0.0", "node": ">=18"})) == [
        "engines.python: missing required field",
        'engines.node: unknown field (hint: plugins are Python: use "python")',
    ]


def test_types_is_refused_with_the_reason(minimal: Make) -> None:
    """The JavaScript manifest's ``types`` (a .d.ts file) would be read by nothing here."""
    assert problems(minimal(types="plugin.pyi")) == [
        "types: unknown field (hint: the JavaScript manifest's TypeScript declarations have "
        "no Python counterpart and nothing would read them: type hints live in the plugin's "
        "code; remove it)"
    ]


def test_invalid_requirement_is_named(minimal: Make) -> None:
    [line] = problems(minimal(requirements=["requests>=2", "not a requirement!!"]))
    assert line.startswith('requirements[1]: invalid PEP 508 requirement "not a requirement!!": ')
    assert "\n" not in line


# -- endpoints ---------------------------------------------------------------------------

ENDPOINT = {"path": "/plugins/webhook/receive/:webhookId", "method": "POST", "handler": "receive"}

ENDPOINT_CASES: list[tuple[dict[str, Any], str]] = [
    (
        {"path": "/api/webhook"},
        'path: must look like /plugins/<slug>/<path> (got "/api/webhook") '
        "(hint: the slug uses lowercase letters, digits and hyphens; no query string)",
    ),
    (
        {"path": "/plugins/webhook"},
        'path: must look like /plugins/<slug>/<path> (got "/plugins/webhook") '
        "(hint: the slug uses lowercase letters, digits and hyphens; no query string)",
    ),
    ({"path": "/plugins/webhook/:1st"}, 'path: path parameter ":1st" needs a name like :webhookId'),
    (
        {"path": "/plugins/w/:id/x/:id"},
        'path: repeats a path parameter (got "/plugins/w/:id/x/:id")',
    ),
    ({"method": "post"}, 'method: must be one of: GET, POST, PUT, DELETE, PATCH (got "post")'),
    ({"handler": ""}, 'handler: must be a Python function name (got "")'),
    ({"middleware": ["auth", ""]}, "middleware[1]: must not be empty"),
    ({"validation": {"body": "object"}}, 'validation.body: expected an object, got "object"'),
    ({"validation": {"bdoy": {}}}, 'validation.bdoy: unknown field (hint: did you mean "body"?)'),
    ({"validation": {"headers": {}}}, "validation.headers: unknown field"),
    (
        {"rateLimit": {"requests": 0, "window": 60}},
        "rateLimit.requests: must be greater than 0 (got 0)",
    ),
    (
        {"rateLimit": {"requests": 10, "window": -1}},
        "rateLimit.window: must be greater than 0 (got -1)",
    ),
    ({"rateLimit": {"requests": 10}}, "rateLimit.window: missing required field"),
    ({"auth": {"roles": "admin"}}, 'auth.roles: expected a list, got "admin"'),
    ({"auth": {"required": 1}}, "auth.required: expected true or false, got 1"),
]


@pytest.mark.parametrize(
    "change, expected", ENDPOINT_CASES, ids=[str(c)[:40] for c, _ in ENDPOINT_CASES]
)
def test_invalid_endpoint(minimal: Make, change: dict[str, Any], expected: str) -> None:
    data = minimal(api={"endpoints": [dict(ENDPOINT), {**ENDPOINT, **change}]})
    assert problems(data) == [f"api.endpoints[1].{expected}"]


def test_duplicate_routes_are_a_problem(minimal: Make) -> None:
    other = {**ENDPOINT, "path": "/plugins/webhook/receive/:id", "handler": "again"}
    get = {**ENDPOINT, "method": "GET"}
    assert problems(minimal(api={"endpoints": [ENDPOINT, get, other]})) == [
        "api.endpoints[2].path: duplicate route POST /plugins/webhook/receive/:id "
        "(already endpoints[0])"
    ]


@pytest.mark.parametrize("inbound", [["inbound"], {"inbound": True}, {"inbound": ["/plugins/*"]}])
def test_endpoints_are_allowed_by_network_inbound(minimal: Make, inbound: Any) -> None:
    m = parse_manifest(minimal(api={"endpoints": [ENDPOINT]}, permissions={"network": inbound}))
    assert m.permissions.allows("network", "inbound", ENDPOINT["path"])


@pytest.mark.parametrize(
    ("permissions", "expected"),
    [
        ({}, 'allow (hint: add "network": {"inbound": true} to permissions'),
        ({"network": {"inbound": False}}, 'allow (hint: add "network": {"inbound": true}'),
        (
            {"network": {"inbound": ["/plugins/other/*"]}},
            "allow on this path (hint: add '/plugins/webhook/receive/:webhookId' or a pattern "
            "matching it to the list",
        ),
    ],
)
def test_endpoints_without_network_inbound_are_refused_naming_both(
    minimal: Make, permissions: dict[str, Any], expected: str
) -> None:
    get = {**ENDPOINT, "method": "GET"}
    [line] = problems(minimal(api={"endpoints": [ENDPOINT, get]}, permissions=permissions))
    assert line.startswith(
        "permissions.network.inbound: api.endpoints[0] (POST /plugins/webhook/receive/:webhookId) "
        f"receives inbound requests, which the manifest does not {expected}"
    )
    assert line.endswith(", or remove the endpoint)")


# -- hooks: core, custom, known from other plugins ------------------------------------------


def test_custom_hook_of_this_manifest_may_be_implemented(minimal: Make) -> None:
    m = parse_manifest(
        minimal(customHooks={"crm.sync": {"mode": "collect"}}, hooks={"crm.sync": {}})
    )
    assert m.declared_hooks() == ("crm.sync",)


def test_hook_declared_by_another_plugin_needs_known_hooks(minimal: Make) -> None:
    data = minimal(hooks={"crm.sync": {"priority": 10}})
    assert problems(data) == [
        'hooks."crm.sync": unknown hook: not a core hook, not in customHooks, '
        "not declared by a loaded plugin"
    ]
    assert parse_manifest(data, known_hooks=["crm.sync"]).hooks["crm.sync"].priority == 10


def test_near_miss_of_a_known_hook_suggests_it(minimal: Make) -> None:
    [line] = problems(minimal(hooks={"crm.synk": {}}), known_hooks={"crm.sync"})
    assert line.endswith('(hint: did you mean "crm.sync"?)')


def test_broken_custom_hooks_do_not_make_hooks_unknown(minimal: Make) -> None:
    data = minimal(customHooks={"crm.sync": {"mode": "sum"}}, hooks={"crm.sync": {}})
    assert problems(data) == [
        'customHooks."crm.sync".mode: must be one of: collect, validate, waterfall, veto, '
        'first (got "sum")'
    ]


def test_the_spec_example_hook_submission_process_is_not_core(minimal: Make) -> None:
    [line] = problems(minimal(hooks={"submission.process": {"priority": 50}}))
    assert line.startswith('hooks."submission.process": unknown hook')


# -- many problems at once; the error itself --------------------------------------------------


def test_every_problem_is_reported_at_once(minimal: Make) -> None:
    data = minimal(version="1.2", hooks={"form.validate": {"priority": "high"}}, peerDependency={})
    with pytest.raises(ManifestError) as info:
        parse_manifest(data)
    assert str(info.value) == (
        "manifest.json: 3 problems in plugin 'advanced-validation':\n"
        '  manifest.json: version: must be a full semantic version such as 1.2.3 (got "1.2")\n'
        '  manifest.json: hooks."form.validate".priority: expected an integer, got "high"\n'
        '  manifest.json: peerDependency: unknown field (hint: did you mean "peerDependencies"?)'
    )


def test_problems_in_nested_models_and_siblings_all_surface(full: Make) -> None:
    data = full()
    data["hooks"]["form.validate"]["priority"] = "high"
    data["hooks"]["form.validte"] = {}
    data["permissions"]["database"] = ["read", "delete"]
    data["api"]["endpoints"][0]["method"] = "FETCH"
    data["recovery"]["maxRetries"] = 99
    assert len(problems(data)) == 5


def test_the_error_is_a_load_error_with_no_validation_traceback(minimal: Make) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(minimal(description=3, hooks={"form.validate": {"priority": "x"}}))
    err = info.value
    assert isinstance(err, PluginError) and err.type is PluginErrorType.LOAD_ERROR
    assert err.plugin_id == "advanced-validation" and err.file == "manifest.json"
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)
    text = "".join(traceback.format_exception(err))
    assert "ValidationError" not in text and "Input should" not in text
    assert "/pydantic" not in text and "errors.pydantic.dev" not in text


def test_plugin_id_is_absent_when_the_name_is_unusable(minimal: Make) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(minimal(name="Not A Name", version="x"))
    assert info.value.plugin_id is None
    assert str(info.value).startswith("manifest.json: 2 problems:\n")


@pytest.mark.parametrize("data, got", [([], "a list"), ("x", '"x"'), (None, "null"), (3, "3")])
def test_not_an_object_is_one_problem(data: object, got: str) -> None:
    assert problems(data) == [f"<root>: expected a JSON object, got {got}"]


def test_source_names_the_file(minimal: Make) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(minimal(version="1"), source="ext/x/manifest.json")
    assert info.value.problems[0].file == "ext/x/manifest.json"
    assert str(info.value).startswith("ext/x/manifest.json: version: ")


def test_model_validate_is_usable_directly(minimal: Make) -> None:
    assert Manifest.model_validate(minimal()).name == "advanced-validation"
