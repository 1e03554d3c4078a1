"""The core stands alone: no module outside lab, debug, web, market, pdk and replay imports
them — not at the top, not inside a function, not for type checking. The only doors are
the distribution's own entry points, all on the package's face and each named here:
``%load_ext pliers_lab`` (IPython looks for the hook on the package itself) and
``python -m pliers_lab`` (the command line, ``pliers_lab.main``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pliers_lab import Engine, EngineError
from pliers_lab._moved import MOVED
from pliers_lab.engine import attachments

PACKAGE = Path(__file__).resolve().parents[1] / "pliers_lab"
OUTER = ("lab", "debug", "web", "market", "pdk", "replay")
#: (file, function or None for the module body) → the outer package it may enter.
DOORS = {
    ("__init__.py", "load_ipython_extension"): "lab",
    ("__init__.py", "unload_ipython_extension"): "lab",
    ("__init__.py", "main"): "pdk",
}


def _module(path: Path) -> list[str]:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imports(path: Path) -> list[tuple[int, str | None, str]]:
    """(line, enclosing function or None, imported module) of every import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    here = _module(path)
    package = here if path.name == "__init__.py" else here[:-1]
    found: list[tuple[int, str | None, str]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = (
                child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else None
            )
            if isinstance(child, ast.Import):
                found.extend((child.lineno, function, alias.name) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package[: len(package) - child.level + 1]
                    name = ".".join([*base, *([child.module] if child.module else [])])
                else:
                    name = child.module or ""
                found.extend((child.lineno, function, f"{name}.{a.name}") for a in child.names)
            visit(child, inner or function)

    visit(tree, None)
    return found


def _outer(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "pliers_lab" and parts[1] in OUTER else None


def test_the_core_never_imports_the_outer_packages() -> None:
    core = [p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in OUTER]
    assert len(core) > 80  # the walk sees the core
    crossings = []
    for path in core:
        for line, function, name in _imports(path):
            outer = _outer(name)
            door = DOORS.get((str(path.relative_to(PACKAGE)), function))
            if outer is not None and door != outer:
                crossings.append(f"{path.relative_to(PACKAGE)}:{line} imports {name}")
    assert crossings == []


def test_the_walk_finds_an_import_hidden_in_a_function() -> None:
    probe = PACKAGE / "engine" / "_core.py"
    names = {name for _line, function, name in _imports(probe) if function == "debugger"}
    assert "pliers_lab.engine.attachments.factory" in names  # function-level imports are seen


def test_the_debugger_attaches_through_the_cores_interface() -> None:
    with Engine() as engine:
        debugger = engine.debugger
        assert type(debugger).__module__ == "pliers_lab.debug._debugger"  # the entry point
        assert isinstance(debugger.traces, dict)


def test_a_host_may_attach_its_own_tool_and_a_missing_one_is_named() -> None:
    class Quiet:
        def __init__(self, engine: Engine) -> None:
            self.engine = engine
            self.traces: dict[str, object] = {}

    attachments.attach("debugger", Quiet)
    try:
        with Engine() as engine:
            assert isinstance(engine.debugger, Quiet) and engine.debugger.engine is engine
    finally:
        attachments._attached.pop("debugger")
    with pytest.raises(EngineError, match="no 'profiler2' tool is installed for the engine"):
        attachments.factory("profiler2")


def test_the_package_root_holds_the_vocabulary_only() -> None:
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(modules) <= 12, modules
    assert {"errors.py", "catalog.py", "lifecycle.py", "context.py", "plugin.py"} <= set(modules)


@pytest.mark.parametrize("old", sorted(MOVED))
def test_a_moved_module_still_imports_from_its_old_name_with_a_warning(old: str) -> None:
    import importlib
    import sys

    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {MOVED[old]}; import it from"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(MOVED[old])


def test_no_two_modules_share_a_name() -> None:
    """A name says what a module holds: ``errors``, ``events``, ``records`` once each."""
    seen: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name != "__init__.py" and "templates" not in path.parts:
            seen.setdefault(path.name, []).append(str(path.relative_to(PACKAGE)))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}


def test_an_old_name_leaves_the_moved_module_as_it_was() -> None:
    import importlib
    import sys
    import warnings

    new = importlib.import_module("pliers_lab.engine._dispatch")
    spec, package = new.__spec__, new.__package__
    sys.modules.pop("pliers_lab.dispatch", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        importlib.import_module("pliers_lab.dispatch")
    assert new.__spec__ is spec and new.__package__ == package == spec.parent


def test_every_package_lists_what_it_offers() -> None:
    import importlib

    for init in sorted(PACKAGE.rglob("__init__.py")):
        if "templates" in init.parts:
            continue
        name = ".".join(init.relative_to(PACKAGE.parent).parent.parts)
        package = importlib.import_module(name)
        offered = getattr(package, "__all__", None)
        assert offered, f"{name} has no __all__"
        for attr in offered:
            assert getattr(package, attr, None) is not None, f"{name}.{attr} is listed, not there"


def test_the_largest_import_cycle_is_small() -> None:
    """Files that import each other in a loop (any import: top-level, in a function, for
    type checking) — Tarjan's strongly connected components over the package's files."""
    files = {".".join(_module(p)): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for _line, _function, imported in _imports(path):
            parts = imported.split(".")
            while parts and ".".join(parts) not in files:
                parts.pop()
            if parts and ".".join(parts) != name:
                graph[name].add(".".join(parts))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    largest: list[str] = []

    def visit(node: str) -> None:  # recursive Tarjan: the package is a few hundred files
        nonlocal largest
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            largest = max(largest, component, key=len)

    for node in graph:
        if node not in index:
            visit(node)
    assert len(largest) <= 9, sorted(largest)


@pytest.mark.parametrize(
    ("old", "name"),
    [
        ("pliers_lab.engine.loading", "LoadingOps"),
        ("pliers_lab.engine.states", "StatesOps"),
        ("pliers_lab.engine.recovering", "RecoveryOps"),
        ("pliers_lab.engine.sandboxing", "SandboxOps"),
        ("pliers_lab.engine.base", "EngineBase"),
    ],
)
def test_the_engines_old_mixins_answer_engine_with_a_warning(old: str, name: str) -> None:
    import importlib
    import sys
    import warnings

    sys.modules.pop(old, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=f"{name} is retired: .* use pliers_lab.Engine"):
        assert getattr(module, name) is Engine
    with pytest.raises(AttributeError, match="has no attribute 'Mixin'"):
        module.Mixin  # noqa: B018


def test_the_engines_public_surface_is_written_in_one_place() -> None:
    """Every public method and property of ``Engine`` is defined on the facade itself,
    not inherited: one file to read."""
    from pliers_lab.engine import _core

    assert Engine.__mro__ == (Engine, object)
    public = {n: v for n, v in vars(Engine).items() if not n.startswith("_")}
    assert {"load", "fire", "activate", "configure", "quarantine", "metrics"} <= set(public)
    for name, value in public.items():
        function = value.fget if isinstance(value, property) else value
        assert function.__module__ == _core.__name__, name


def test_the_engines_collaborators_never_import_the_facade() -> None:
    """The facade builds its parts (the private modules of ``engine/``); a part that
    reached back for it would be a mixin again (``docs/architecture.md``, "The engine: a
    facade over collaborators"). ``attachments`` names ``Engine``: it is the interface
    outer tools implement, not a part."""
    engine = PACKAGE / "engine"
    back = [
        (path.name, line)
        for path in sorted(engine.glob("*.py"))
        if path.name.startswith("_") and path.name not in ("_core.py", "__init__.py")
        for line, _function, name in _imports(path)
        if name.startswith(("pliers_lab.engine._core", "pliers_lab.engine.Engine"))
    ]
    assert back == []
