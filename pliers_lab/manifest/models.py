"""The manifest models: every field of the spec's "Plugin Manifest System", made Python.

JSON names are camelCase (aliases), Python attributes snake_case; either spelling is
accepted on input. The models are stricter than the platform's zod schema on purpose:

- unknown keys anywhere are problems (zod silently drops them, so a typo such as
  ``peerDependency`` would quietly do nothing), with a "did you mean" hint;
- ``version`` must be a full semantic version (zod only checks that it *starts* with
  ``N.N.N``, so ``1.2.3junk`` passes there);
- numbers are numbers and integers integers: ``"high"``, ``"100"`` and ``true`` are not a
  priority.

Every check reports through :mod:`.problems`, so one validation pass lists them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    Strict,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from ..catalog import ResultMode
from ..recovery import DEFAULT_BREAKER_RESET_MS, DEFAULT_BREAKER_THRESHOLD
from ._permissions import Permissions
from ._resource_limits import ResourceLimits
from .fields import (
    DEFAULT_MAIN,
    Flag,
    Identifier,
    MainText,
    NonBlank,
    Number,
    PluginName,
    RangeText,
    RelativePath,
    RequirementText,
    SharedModel,
    StrictModel,
    Text,
    VersionText,
    endpoint_path,
    hook_name_errors,
    main_kind,
)
from .problems import fail, located, merge

__all__ = [
    "Api",
    "Category",
    "CircuitBreaker",
    "Configuration",
    "CustomHook",
    "Endpoint",
    "EndpointAuth",
    "EndpointValidation",
    "Engines",
    "HookConfig",
    "Manifest",
    "Permissions",
    "RateLimit",
    "Recovery",
    "ResourceLimits",
]


class Category(StrEnum):
    """The marketplace's ten plugin categories."""

    FORM_PROCESSING = "form-processing"
    VALIDATION = "validation"
    WORKFLOW = "workflow"
    INTEGRATION = "integration"
    NOTIFICATION = "notification"
    ANALYTICS = "analytics"
    SECURITY = "security"
    UI_ENHANCEMENT = "ui-enhancement"
    DATA_TRANSFORM = "data-transform"
    REPORTING = "reporting"


class Engines(SharedModel):
    """Which Pliers and which Python the plugin runs on (npm ranges; syntax checked here)."""

    _key_hints: ClassVar[dict[str, str]] = {"node": 'plugins are Python: use "python"'}
    pliers: RangeText
    python: RangeText


class HookConfig(SharedModel):
    """How one hook implementation runs (spec: Hook System Architecture)."""

    priority: Annotated[int, Strict(), Field(ge=1, le=1000)] = 100
    """1..1000; a higher number runs earlier (see ``HookPriority``)."""
    is_async: Flag = Field(True, alias="async")
    """Whether the handler may be asynchronous (the spec's default is ``true``).

    ``true``: the handler may be an ``async def`` (awaited; one that never suspends runs
    as a plain call) or a plain function. ``false`` promises a synchronous handler, which
    the engine then calls without its event loop: binding an ``async def`` to such a hook
    is refused at load (``engine.loader.bind_handlers``), naming ``hooks.<name>.async``,
    the function and the file, inline and in a sandbox worker alike."""
    timeout: Annotated[Number, Field(gt=0)] = 30000.0
    """Wall-clock limit per call, in milliseconds."""
    retries: Annotated[int, Strict(), Field(ge=0, le=5)] = 0
    """Extra attempts after a failure."""
    handler: Identifier | None = None
    """Function name in the plugin's module; ``None`` lets the loader derive it."""


class CustomHook(StrictModel):
    """A hook this plugin adds, so that other plugins can implement it."""

    mode: ResultMode
    description: Text = ""


Environment = Literal["development", "staging", "production"]


class Configuration(StrictModel):
    """Where the plugin's JSON Schema and default configuration live, in its folder."""

    schema_file: RelativePath | None = Field(None, alias="schema")
    default_file: RelativePath | None = Field(None, alias="default")
    #: Per-environment overlay files (development, staging, production), merged over the
    #: defaults for the engine's environment.
    environments: dict[Environment, RelativePath] = Field(default_factory=dict)
    #: Strict validation: properties the schema does not declare are refused unless the
    #: schema itself allows them (the spec's ``validation.strict``, default true).
    strict: Flag = True
    #: Allow properties the schema does not declare even when strict (spec default false).
    additional_properties: Flag = Field(False, alias="additionalProperties")
    #: Configuration hot reload (the spec's ``hotReload``, default false). With it, a
    #: watching engine (``engine.watch()``) applies an edit of these files at once. Without
    #: it the edit is not applied: the watcher records a failed "config" reload and warns in
    #: the plugin's log, both naming ``configuration.hotReload``; the files are read again
    #: when the plugin itself is reloaded (a code or manifest edit, ``engine.reload``) or by
    #: ``engine.reload_config``.
    hot_reload: Flag = Field(False, alias="hotReload")


#: What a manifest without ``permissions`` / ``configuration`` gets: one shared instance
#: each (frozen, and nothing writes their dicts). Pydantic deep-copies a default it cannot
#: hash, which left three objects per plugin (model, ``__dict__``, fields set) for every
#: full collection of the garbage collector to visit while the plugin stays loaded.
NO_PERMISSIONS = Permissions()
DEFAULT_CONFIGURATION = Configuration.model_validate({})


class RateLimit(StrictModel):
    """At most ``requests`` per ``window`` seconds."""

    requests: Annotated[int, Strict(), Field(gt=0)]
    window: Annotated[Number, Field(gt=0)]


class EndpointAuth(StrictModel):
    """Who may call an endpoint."""

    required: Flag = False
    roles: tuple[Text, ...] = ()
    permissions: tuple[Text, ...] = ()


class EndpointValidation(StrictModel):
    """JSON Schemas for the request parts (checked by the web layer, not here)."""

    body: dict[str, Any] | None = None
    query: dict[str, Any] | None = None
    params: dict[str, Any] | None = None


class Endpoint(StrictModel):
    """An HTTP endpoint the plugin registers (spec: Plugin API Registration)."""

    path: Annotated[str, Strict(), AfterValidator(endpoint_path)]
    """``/plugins/<slug>/...``, with Express-style parameters such as ``:webhookId``."""
    method: Literal["GET", "POST", "PUT", "DELETE", "PATCH"]
    handler: Identifier
    middleware: tuple[NonBlank, ...] = ()
    validation: EndpointValidation | None = None
    rate_limit: RateLimit | None = None
    auth: EndpointAuth = EndpointAuth()

    @property
    def params(self) -> tuple[str, ...]:
        """Names of the path parameters, in order."""
        return tuple(seg[1:] for seg in self.path.split("/") if seg.startswith(":"))


class Api(StrictModel):
    """The plugin's HTTP endpoints; a (method, path) pair may appear only once."""

    endpoints: tuple[Endpoint, ...] = ()

    @model_validator(mode="after")
    def _unique_routes(self) -> Self:
        seen: dict[tuple[str, str], int] = {}
        errors = []
        for i, endpoint in enumerate(self.endpoints):
            route = (endpoint.method, re.sub(r":\w+", ":", endpoint.path))
            if route in seen:
                errors.append(
                    located(
                        ("endpoints", i, "path"),
                        (
                            f"duplicate route {endpoint.method} {endpoint.path} "
                            f"(already endpoints[{seen[route]}])"
                        ),
                        endpoint.path,
                    )
                )
            seen.setdefault(route, i)
        fail(errors)
        return self


class CircuitBreaker(StrictModel):
    """Skip a plugin after ``threshold`` failures of its own in a row; after
    ``resetAfterMs`` one trial call runs (half-open): success closes the breaker, failure
    opens it again. Host overloads never count (``pliers_lab.engine._breaker``)."""

    threshold: Annotated[int, Strict(), Field(ge=1)] = DEFAULT_BREAKER_THRESHOLD
    reset_after_ms: Annotated[Number, Field(ge=0)] = DEFAULT_BREAKER_RESET_MS
    """How long the breaker stays open, in milliseconds; it always half-opens again."""


class Recovery(StrictModel):
    """What the engine does when the plugin fails (spec: Recovery Strategies)."""

    strategy: Literal["restart", "disable", "fallback", "retry", "ignore"] = "ignore"
    max_retries: Annotated[int, Strict(), Field(ge=0, le=10)] = 3
    backoff_strategy: Literal["linear", "exponential"] = "exponential"
    backoff_ms: Annotated[Number, Field(ge=0)] = 100.0
    """Base delay between retries, in milliseconds."""
    fallback_plugin: PluginName | None = None
    notify_admin: Flag = True
    """Tell the administrator of every recovery decision (default ``true``): the engine
    emits ``plugin.admin.notified`` on its activity feed (the ``/v3/events`` websocket; the
    simulated host keeps each in its ``admin_notifications`` table). With ``false`` nothing
    is sent, and the decision's ``RecoveryRecord.notify_admin`` says so."""
    circuit_breaker: CircuitBreaker = CircuitBreaker()

    @model_validator(mode="after")
    def _fallback_named(self) -> Self:
        if self.strategy == "fallback" and self.fallback_plugin is None:
            fail([located(("fallbackPlugin",), 'required when strategy is "fallback"', None)])
        return self


Scope = Literal["runtime", "peer", "optional"]


class Manifest(StrictModel):
    """A validated ``manifest.json``: identity, code, hooks, permissions and policies.

    Validate with ``Manifest.model_validate(data, context={"known_hooks": names})`` where
    ``names`` are hooks other loaded plugins declare; ``load.parse_manifest`` does this and
    turns failures into a ``ManifestError``.
    """

    name: PluginName
    version: VersionText
    """A full semantic version, stricter than the zod schema (which accepts ``1.2.3junk``)."""
    description: Annotated[str, Strict(), Field(min_length=10, max_length=500)]
    author: NonBlank
    license: NonBlank
    main: MainText = DEFAULT_MAIN
    """The plugin's code: ``plugin.py``, ``src/my_plugin`` (package) or ``my_plugin.core``."""
    engines: Engines
    keywords: tuple[Text, ...] = ()
    categories: tuple[Category, ...] = ()
    permissions: Permissions = Field(default_factory=lambda: NO_PERMISSIONS)
    custom_hooks: dict[Text, CustomHook] = Field(default_factory=dict)
    hooks: dict[Text, HookConfig] = Field(default_factory=dict)
    dependencies: dict[PluginName, RangeText] = Field(default_factory=dict)
    peer_dependencies: dict[PluginName, RangeText] = Field(default_factory=dict)
    optional_dependencies: dict[PluginName, RangeText] = Field(default_factory=dict)
    configuration: Configuration = Field(default_factory=lambda: DEFAULT_CONFIGURATION)
    api: Api = Api()
    requirements: tuple[RequirementText, ...] = ()
    """PEP 508 requirements on Python packages, checked against what is installed."""
    isolation: Literal["inline", "process"] | None = None
    """``None`` lets the engine decide (third-party plugins default to ``process``)."""
    recovery: Recovery = Recovery()
    limits: ResourceLimits = ResourceLimits()
    """Resources the plugin asks for in its sandbox, each capped by the host's policy
    (``sandbox._plugin_limits``)."""

    _root: Path | None = PrivateAttr(default=None)
    _key_hints: ClassVar[dict[str, str]] = {
        "types": (
            "the JavaScript manifest's TypeScript declarations have no Python counterpart "
            "and nothing would read them: type hints live in the plugin's code; remove it"
        ),
    }

    @field_validator("custom_hooks", mode="wrap")
    @classmethod
    def _check_custom_hooks(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        return merge(handler, value, hook_name_errors(value, custom=True))

    @field_validator("hooks", mode="wrap")
    @classmethod
    def _check_hooks(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        custom = info.data.get("custom_hooks")  # absent when customHooks itself is broken
        context = info.context if isinstance(info.context, dict) else {}
        known = None if custom is None else [*custom, *context.get("known_hooks", ())]
        return merge(handler, value, hook_name_errors(value, known=known))

    @model_validator(mode="after")
    def _no_self_dependency(self) -> Self:
        fail(
            [
                located((key, self.name), "a plugin cannot depend on itself", self.name)
                for key, deps in self._dependency_maps()
                if self.name in deps
            ]
        )
        return self

    @model_validator(mode="after")
    def _inbound_for_endpoints(self) -> Self:
        """Endpoints receive inbound requests: ``permissions.network.inbound`` must allow
        each one's path (``true`` or a bare ``"inbound"`` allows all; a list of patterns,
        those paths). The web layer checks it again before serving (``web._routing``)."""
        for i, endpoint in enumerate(self.api.endpoints):
            if not self.permissions.allows("network", "inbound", endpoint.path):
                granted = self.permissions.network.get("inbound")
                fail(
                    [
                        located(
                            ("permissions", "network", "inbound"),
                            (
                                f"api.endpoints[{i}] ({endpoint.method} {endpoint.path}) "
                                "receives inbound requests, which the manifest does not "
                                + ("allow on this path" if granted else "allow")
                            ),
                            list(granted) if granted else None,
                            (
                                f"add {endpoint.path!r} or a pattern matching it to the list"
                                if granted
                                else 'add "network": {"inbound": true} to permissions'
                            )
                            + ", or remove the endpoint",
                        )
                    ]
                )
        return self

    @property
    def id(self) -> str:
        """The plugin's id: its name (versions of one plugin share it)."""
        return self.name

    @property
    def key(self) -> str:
        """``name@version``: identity of one installed version (DESIGN.md §5)."""
        return f"{self.name}@{self.version}"

    @property
    def root(self) -> Path | None:
        """The plugin folder, when the manifest was loaded from disk."""
        return self._root

    @property
    def main_kind(self) -> Literal["file", "package", "module"]:
        """Whether ``main`` is a ``.py`` file, a package folder or a module to import."""
        return main_kind(self.main)

    def declared_hooks(self) -> tuple[str, ...]:
        """Names of the hooks this plugin implements, in manifest order."""
        return tuple(self.hooks)

    def all_dependencies(self) -> Iterator[tuple[str, str, Scope]]:
        """Every plugin dependency as ``(name, range, scope)``, runtime first."""
        scopes: tuple[Scope, ...] = ("runtime", "peer", "optional")
        for scope, (_, deps) in zip(scopes, self._dependency_maps(), strict=True):
            for name, spec in deps.items():
                yield name, spec, scope

    def _dependency_maps(self) -> tuple[tuple[str, dict[str, str]], ...]:
        return (
            ("dependencies", self.dependencies),
            ("peerDependencies", self.peer_dependencies),
            ("optionalDependencies", self.optional_dependencies),
        )
