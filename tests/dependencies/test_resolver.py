"""Resolution strategies, conflicts, cycles and load order — on hand-built catalogs."""

import pytest

from pliers_lab.dependencies import (
    Catalog,
    DependencyError,
    PluginSpec,
    Requirement,
    ResolutionStrategy,
    resolve,
)


def spec(name, version, *deps, pliers="*", python="*"):
    reqs = []
    for dep in deps:
        dep_name, rng, *scope = dep.split(" ", 2)
        reqs.append(Requirement(dep_name, rng, scope[0] if scope else "runtime", name))
    return PluginSpec(name, version, tuple(reqs), pliers, python)


@pytest.fixture
def catalog():
    return Catalog(
        [
            spec("core", "1.4.0"),
            spec("core", "2.0.0"),
            spec("core", "2.3.1"),
            spec("forms", "1.0.0", "core ^2.0.0"),
            spec("crm", "1.0.0", "core ^1.2.0"),
            spec("crm", "2.0.0", "core >=2.1.0", "forms ^1.0.0 peer"),
        ]
    )


def test_strict_takes_the_highest_versions_and_orders_dependencies_first(catalog):
    r = resolve(catalog)
    assert {n: s.version for n, s in r.chosen.items()} == {
        "core": "2.3.1",
        "forms": "1.0.0",
        "crm": "2.0.0",
    }
    assert r.order == ["core", "forms", "crm"]
    assert r.ok and r.conflicts == []


def test_load_order_ties_are_broken_by_name():
    r = resolve(Catalog([spec("b", "1.0.0"), spec("a", "1.0.0"), spec("c", "1.0.0", "b *")]))
    assert r.order == ["a", "b", "c"]


def test_strict_fails_on_a_conflict_naming_both_plugins_and_ranges(catalog):
    with pytest.raises(DependencyError) as info:
        resolve(catalog, pins={"crm": "1.0.0"})
    (conflict,) = info.value.conflicts
    assert (conflict.plugin1, conflict.plugin2, conflict.dependency) == ("crm", "forms", "core")
    assert (conflict.version1, conflict.version2, conflict.severity) == (
        "^1.2.0",
        "^2.0.0",
        "error",
    )
    assert "no version of core satisfies both ^1.2.0 and ^2.0.0" in str(info.value)
    assert info.value.type.value == "dependency_error"


def test_latest_backtracks_to_an_older_version_that_fits():
    catalog = Catalog(
        [
            spec("core", "1.9.0"),
            spec("core", "2.0.0"),
            spec("legacy", "1.0.0", "core ~1.9.0"),
            spec("shiny", "2.0.0", "core ^2.0.0"),
            spec("shiny", "1.5.0", "core >=1.5.0"),
        ]
    )
    with pytest.raises(DependencyError):
        resolve(catalog)  # strict takes shiny 2.0.0, which cannot live with legacy
    r = resolve(catalog, strategy="latest")
    assert {n: s.version for n, s in r.chosen.items()} == {
        "core": "1.9.0",
        "legacy": "1.0.0",
        "shiny": "1.5.0",
    }


def test_latest_explains_an_impossible_set():
    catalog = Catalog(
        [
            spec("core", "1.0.0"),
            spec("core", "2.0.0"),
            spec("a", "1.0.0", "core ^1.0.0"),
            spec("b", "1.0.0", "core ^2.0.0"),
        ]
    )
    with pytest.raises(DependencyError) as info:
        resolve(catalog, strategy=ResolutionStrategy.LATEST)
    conflict = info.value.conflicts[0]
    assert conflict.dependency == "core" and {conflict.plugin1, conflict.plugin2} == {"a", "b"}
    assert "known: 2.0.0, 1.0.0" in conflict.resolution


def test_manual_reports_excludes_and_lets_the_user_pin(catalog):
    r = resolve(catalog, strategy="manual", pins={"crm": "1.0.0"})
    assert not r.ok and "crm" in r.excluded and r.order == ["core", "forms"]
    assert r.graph.nodes["crm"]["load_order"] is None and r.graph.nodes["crm"]["conflict"]
    pinned = resolve(catalog, strategy="manual", pins={"core": "1.4.0", "crm": "1.0.0"})
    assert "forms" in pinned.excluded and "crm" not in pinned.excluded


def test_a_missing_dependency_is_an_error_conflict_and_optional_ones_are_noted():
    catalog = Catalog([spec("app", "1.0.0", "auth ^1.0.0", "metrics ^2.0.0 optional")])
    r = resolve(catalog, strategy="manual")
    (conflict,) = r.conflicts
    assert (
        conflict.dependency == "auth" and conflict.plugin2 is None and conflict.severity == "error"
    )
    assert "auth is not available" in conflict.resolution
    assert [m.name for m in r.missing_optional] == ["metrics"]


def test_an_optional_dependency_at_a_wrong_version_is_a_warning():
    catalog = Catalog([spec("metrics", "1.0.0"), spec("app", "1.0.0", "metrics ^2.0.0 optional")])
    r = resolve(catalog, strategy="manual")
    (conflict,) = r.conflicts
    assert conflict.severity == "warning" and r.ok


def test_a_cycle_is_reported_with_its_path():
    catalog = Catalog(
        [spec("a", "1.0.0", "b *"), spec("b", "1.0.0", "c *"), spec("c", "1.0.0", "a *")]
    )
    with pytest.raises(DependencyError) as info:
        resolve(catalog, strategy="manual")
    cycle = info.value.cycle
    assert cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"} and len(cycle) == 4
    assert "dependency cycle: " in str(info.value)


def test_engine_ranges_exclude_versions_that_cannot_run_here():
    catalog = Catalog(
        [
            spec("p", "2.0.0", pliers="^4.0.0"),
            spec("p", "1.0.0", pliers="^3.0.0"),
        ]
    )
    assert resolve(catalog).chosen["p"].version == "1.0.0"
    assert resolve(catalog, strategy="latest").chosen["p"].version == "1.0.0"
    only_new = Catalog([spec("q", "2.0.0", python=">=9")])
    with pytest.raises(DependencyError) as info:
        resolve(only_new)
    assert info.value.conflicts[0].dependency == "engines.python"


def test_a_malformed_range_is_a_clear_dependency_error():
    with pytest.raises(DependencyError, match="malformed version range"):
        resolve(Catalog([spec("a", "1.0.0", "b >=x.y"), spec("b", "1.0.0")]))


def test_the_graph_carries_what_the_lab_draws(catalog):
    r = resolve(catalog, strategy="manual", pins={"crm": "1.0.0"})
    edge = r.graph.edges["core", "crm"]
    assert {k: v for k, v in edge.items() if k != "reason"} == {
        "scope": "runtime",
        "range": "^1.2.0",
        "satisfied": False,
        "conflict": True,
    }
    assert "crm needs core ^1.2.0" in edge["reason"]
    nodes, edges = r.frames()
    assert set(nodes["plugin"]) == {"core", "forms", "crm"}
    row = edges.set_index(["plugin", "dependency"]).loc[("crm", "core")]
    assert not row["satisfied"] and row["conflict"] and row["range"] == "^1.2.0"


def test_a_long_conflict_list_is_cut_in_the_message_but_kept_whole():
    specs = [spec("core", "1.0.0")] + [spec(f"p{i}", "1.0.0", "core ^2.0.0") for i in range(30)]
    with pytest.raises(DependencyError) as info:
        resolve(Catalog(specs))
    assert len(info.value.conflicts) == 30 and "and 10 more" in str(info.value)


def test_python_requirements_are_checked_against_installed_distributions():
    ok = PluginSpec(
        "ok", "1.0.0", python_requires=("pydantic>=2", "surely-absent; python_version < '3'")
    )
    missing = PluginSpec("missing", "1.0.0", python_requires=("surely-not-installed-dist>=1",))
    old = PluginSpec("old", "1.0.0", python_requires=("pydantic<1",))
    r = resolve(Catalog([ok, missing, old]), strategy="manual")
    by_plugin = {c.plugin1: c for c in r.conflicts}
    assert set(by_plugin) == {"missing", "old"}
    assert (
        by_plugin["missing"].version2 is None
        and "install surely-not-installed-dist>=1" in by_plugin["missing"].resolution
    )
    assert (
        by_plugin["old"].dependency == "requirement pydantic" and by_plugin["old"].version1 == "<1"
    )
    assert r.order == ["ok"]
