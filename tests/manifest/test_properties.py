"""Properties: whatever the input, a Manifest or a ManifestError, never anything else."""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pliers_lab.manifest import Manifest, ManifestError, load_manifest, parse_manifest

Make = Callable[..., dict[str, Any]]

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into ``node`` (dict keys and list indices)."""
    found = []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, child in items:
        found.append((*prefix, key))
        found += paths(child, (*prefix, key))
    return found


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with a few keys dropped, replaced by random JSON, or added."""
    data = copy.deepcopy(base)
    all_paths = paths(base)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(all_paths))
        parent: Any = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            action = draw(st.sampled_from(["drop", "replace", "add"]))
            if action == "drop" and isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif action == "add" and isinstance(parent, dict):
                parent[draw(st.text(max_size=12))] = draw(json_values)
            else:
                parent[path[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this path
    return data


def parses_or_reports(data: object) -> None:
    try:
        result = parse_manifest(data)
    except ManifestError as err:
        assert err.problems, "a ManifestError lists at least one problem"
        assert all(line.strip() for line in str(err).splitlines())
        for problem in err.problems:
            assert "Input should" not in problem.message
    else:
        assert isinstance(result, Manifest)


@given(json_values)
def test_arbitrary_json_parses_or_reports(data: object) -> None:
    parses_or_reports(data)


@given(st.data())
def test_arbitrary_values_for_known_keys(full: Make, data: st.DataObject) -> None:
    keys = st.sampled_from([*full(), "peerDependency"])
    parses_or_reports(data.draw(st.dictionaries(keys, json_values, max_size=8)))


@settings(max_examples=300)
@given(st.data())
def test_mutated_manifests_parse_or_report(full: Make, data: st.DataObject) -> None:
    parses_or_reports(data.draw(mutated(full())))


@given(st.data())
def test_valid_results_round_trip(full: Make, data: st.DataObject) -> None:
    try:
        manifest = parse_manifest(data.draw(mutated(full())))
    except ManifestError:
        return
    assert parse_manifest(manifest.model_dump(mode="json", by_alias=True)) == manifest


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400) | json_values.map(lambda v: repr(v).encode()))
def test_arbitrary_bytes_load_or_report(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "manifest.json").write_bytes(raw)
        try:
            result = load_manifest(folder)
        except ManifestError as err:
            assert err.problems and err.file.endswith("manifest.json")
        else:
            assert isinstance(result, Manifest)
