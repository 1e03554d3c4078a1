"""Turning a manifest into running code: import the module, check engines and
requirements, bind handlers to the hooks the manifest declares.

Every failure here is a ``PluginError`` naming the plugin and the file; nothing a plugin
does while importing escapes as a bare exception.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import itertools
import platform
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PluginError, PluginErrorType
from ..plugin import LIFECYCLE_HANDLERS
from ._cache import CodeCache

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from ..manifest import Manifest

__all__ = [
    "API_VERSION",
    "ENTRY_POINT_GROUP",
    "bind_handlers",
    "check_environment",
    "import_plugin_code",
    "iter_entry_points",
]

#: The plugin API version this engine implements; manifests' ``engines.pliers`` must match.
API_VERSION = "3.0.0"
ENTRY_POINT_GROUP = "pliers_lab.plugins"

_generation = itertools.count(1)


def _load_error(
    manifest: Manifest, message: str, cause: BaseException | None = None
) -> PluginError:
    return PluginError(PluginErrorType.LOAD_ERROR, message, plugin_id=manifest.name, cause=cause)


def _python_version() -> str:
    info = sys.version_info
    version = f"{info.major}.{info.minor}.{info.micro}"
    if info.releaselevel != "final":
        version += f"-{info.releaselevel}.{info.serial}"
    return version


def check_environment(manifest: Manifest) -> None:
    """``engines.pliers``, ``engines.python`` and Python ``requirements`` against what runs.

    A mismatch is a DEPENDENCY_ERROR listing every unmet condition.
    """
    import importlib.metadata  # ~12 ms: only when a plugin is checked

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    from ..versions import satisfies

    problems: list[str] = []
    engines = manifest.engines
    if not satisfies(API_VERSION, engines.pliers, include_prerelease=True):
        problems.append(
            f"engines.pliers {engines.pliers!r} does not match this engine ({API_VERSION})"
        )
    if not satisfies(_python_version(), engines.python, include_prerelease=True):
        problems.append(
            f"engines.python {engines.python!r} does not match the running Python "
            f"({platform.python_version()})"
        )
    for text in manifest.requirements:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            installed = importlib.metadata.version(canonicalize_name(req.name))
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"requirement {text!r}: {req.name} is not installed")
            continue
        if req.specifier and not req.specifier.contains(installed, prereleases=True):
            problems.append(f"requirement {text!r}: installed {req.name} is {installed}")
    if problems:
        raise PluginError(
            PluginErrorType.DEPENDENCY_ERROR,
            "; ".join(problems),
            plugin_id=manifest.name,
            metadata={"problems": problems},
        )


def _module_name(manifest: Manifest) -> str:
    safe = manifest.name.replace("-", "_")
    return f"pliers_plugins.{safe}_g{next(_generation)}"


def _exec_file(manifest: Manifest, path: Path, real: Path, cache: CodeCache) -> types.ModuleType:
    """Run the file ``path`` (``real``: where it resolves, already checked)."""
    from ..manifest.plugin_files import CODE_LIMIT, Unreadable, read_file

    name = _module_name(manifest)
    try:
        source = read_file(real, CODE_LIMIT)
    except Unreadable as exc:
        raise _load_error(manifest, f"{path}: cannot read plugin code: {exc.reason}") from None
    try:
        code = cache.compile(str(path), source)
    except (SyntaxError, ValueError) as exc:
        where = f"{path} line {getattr(exc, 'lineno', '?')}"
        raise _load_error(manifest, f"{where}: {type(exc).__name__}: {exc}", exc) from None
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except BaseException as exc:
        sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise _load_error(
            manifest, f"importing {path.name} raised {type(exc).__name__}: {exc}", exc
        ) from None
    return module


def _exec_package(manifest: Manifest, folder: Path) -> types.ModuleType:
    name = _module_name(manifest)
    spec = importlib.util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    if spec is None or spec.loader is None:  # pragma: no cover - only for exotic paths
        raise _load_error(manifest, f"{folder}: cannot import this package")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise _load_error(
            manifest, f"importing {folder.name} raised {type(exc).__name__}: {exc}", exc
        ) from None
    return module


def import_plugin_code(manifest: Manifest, root: Path | None, cache: CodeCache) -> types.ModuleType:
    """Import the plugin's ``main``: a ``.py`` file, a package folder, or a dotted module."""
    main = manifest.main
    target = (root / main) if root else Path(main)
    if root is not None:
        from ..manifest.plugin_files import plugin_path, probe

        # Only what resolves inside the plugin's folder is read (symlinks out are refused).
        real = plugin_path(root, main, plugin_id=manifest.name, field="main")
        kind, why = probe(real)
        if why is not None:
            raise _load_error(manifest, f"main {main!r}: cannot look at {target}: {why}")
        if kind in ("file", "other"):  # other: a FIFO, a device… read_file says so
            return _exec_file(manifest, target, real, cache)
        if kind == "folder":
            init = Path(main, "__init__.py")
            real_init = plugin_path(root, init, plugin_id=manifest.name, field="main")
            if probe(real_init)[0] == "file":
                return _exec_package(manifest, target)
    if "/" not in main and not main.endswith(".py"):
        try:
            return importlib.import_module(main)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise _load_error(
                manifest, f"importing module {main!r} raised {type(exc).__name__}: {exc}", exc
            ) from None
    raise _load_error(manifest, f"main {main!r}: no such file or package in {root}")


def namespace_of(code: Any) -> dict[str, Any]:
    """The names a plugin's code offers: a module, a mapping or any object."""
    if isinstance(code, types.ModuleType):
        return dict(vars(code))
    if isinstance(code, Mapping):
        return dict(code)
    return {name: getattr(code, name) for name in dir(code) if not name.startswith("__")}


def _marked(namespace: Mapping[str, Any]) -> Iterator[tuple[str, str, Callable[..., Any]]]:
    for attr, value in namespace.items():
        for hook_name in getattr(value, "__pliers_hooks__", ()) if callable(value) else ():
            yield hook_name, attr, value


def _manifest_file(manifest: Manifest) -> str:
    root = manifest.root
    return str(root / "manifest.json") if root is not None else "the manifest"


def bind_handlers(
    manifest: Manifest, namespace: Mapping[str, Any], source: str
) -> tuple[dict[str, Callable[..., Any]], dict[str, Callable[..., Any]]]:
    """Hook handlers and lifecycle handlers; every mismatch with the manifest is listed.

    A hook whose manifest entry says ``"async": false`` must have a synchronous handler:
    an ``async def`` there is a problem naming ``hooks."<hook>".async`` (a sandboxed
    plugin's stand-ins are ``async def`` exactly when the worker's function is).
    """
    problems: list[str] = []
    marked: dict[str, list[tuple[str, Callable[..., Any]]]] = {}
    for hook_name, attr, fn in _marked(namespace):
        marked.setdefault(hook_name, []).append((attr, fn))
    handlers: dict[str, Callable[..., Any]] = {}
    for hook_name, config in manifest.hooks.items():
        if config.handler:
            named = namespace.get(config.handler)
            if not callable(named):
                problems.append(
                    f"hooks.{hook_name!r}.handler names {config.handler!r}, "
                    f"but {source} has no such function"
                )
                continue
            handlers[hook_name] = named
            continue
        candidates = marked.get(hook_name, [])
        if not candidates:
            problems.append(
                f"hook {hook_name!r} is declared in the manifest but {source} has no handler "
                f"for it (decorate a function with @hook({hook_name!r}) or set its 'handler')"
            )
        elif len(candidates) > 1:
            names = ", ".join(attr for attr, _ in candidates)
            problems.append(f"hook {hook_name!r} has several handlers in {source}: {names}")
        else:
            handlers[hook_name] = candidates[0][1]
    for hook_name, candidates in marked.items():
        if hook_name not in manifest.hooks:
            names = ", ".join(attr for attr, _ in candidates)
            problems.append(
                f"{source}: {names} handles {hook_name!r} (@hook) "
                "but the manifest does not declare that hook"
            )
    for hook_name, fn in handlers.items():
        try:
            inspect.signature(fn).bind(None)
        except TypeError:
            problems.append(
                f"handler {getattr(fn, '__name__', fn)!r} for {hook_name!r} must take exactly "
                "one argument (the HookContext)"
            )
        except ValueError:  # builtins without a signature: trust them
            pass
        if not manifest.hooks[hook_name].is_async and inspect.iscoroutinefunction(fn):
            problems.append(
                f'hooks."{hook_name}".async is false in {_manifest_file(manifest)}, but its '
                f"handler {getattr(fn, '__name__', fn)!r} in {source} is an async def "
                '(make it a plain function, or declare "async": true)'
            )
    if problems:
        raise PluginError(
            PluginErrorType.LOAD_ERROR,
            f"{len(problems)} handler problem{'s' if len(problems) > 1 else ''}:\n  "
            + "\n  ".join(problems),
            plugin_id=manifest.name,
            metadata={"problems": problems},
        )
    lifecycle = {
        name: namespace[name] for name in LIFECYCLE_HANDLERS if callable(namespace.get(name))
    }
    return handlers, lifecycle


def bind_named(
    manifest: Manifest, namespace: Mapping[str, Any], source: str
) -> dict[str, Callable[..., Any]]:
    """The functions ``api.endpoints`` name as ``handler`` and ``middleware``.

    Every name must be a callable of the plugin; the first missing one is a LOAD_ERROR
    naming the endpoint, so a typo fails at load, not at the first request.
    """
    named: dict[str, Callable[..., Any]] = {}
    problems = []
    for index, endpoint in enumerate(manifest.api.endpoints):
        for role, name in [("handler", endpoint.handler)] + [
            ("middleware", m) for m in endpoint.middleware
        ]:
            fn = namespace.get(name)
            if callable(fn):
                named[name] = fn
            else:
                problems.append(
                    f"api.endpoints[{index}] ({endpoint.method} {endpoint.path}): {role} {name!r} "
                    f"is not a function in {source}"
                )
    if problems:
        raise PluginError(
            PluginErrorType.LOAD_ERROR,
            "; ".join(problems),
            plugin_id=manifest.name,
            metadata={"problems": problems},
        )
    return named


def iter_entry_points(group: str = ENTRY_POINT_GROUP) -> Iterator[EntryPoint]:
    """Entry points installed distributions register for pliers_lab plugins."""
    import importlib.metadata

    yield from importlib.metadata.entry_points(group=group)
