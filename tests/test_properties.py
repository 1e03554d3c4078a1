"""Property tests: whatever a plugin author hands the engine, only our own errors come back."""

import contextlib
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import manifest

from pliers_lab import Engine, PliersError, hook

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = [
    "name",
    "version",
    "engines",
    "hooks",
    "dependencies",
    "recovery",
    "customHooks",
    "configuration",
    "requirements",
    "isolation",
    "permissions",
    "main",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIELDS), json_values)
def test_add_plugin_with_any_field_value_raises_only_our_errors(field, value):
    data = manifest("prop", {"form.render": {}})
    data[field] = value
    with Engine() as engine, contextlib.suppress(PliersError):
        engine.add_plugin(data, {"render": hook("form.render")(lambda ctx: None)})


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=300))
def test_load_with_any_manifest_bytes_raises_only_our_errors(tmp_path_factory, raw):
    folder = tmp_path_factory.mktemp("plugin")
    (folder / "manifest.json").write_bytes(raw)
    (folder / "plugin.py").write_text("")
    with Engine() as engine, contextlib.suppress(PliersError):
        engine.load(folder)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=120))
def test_load_with_any_plugin_source_raises_only_our_errors(tmp_path_factory, source):
    folder = tmp_path_factory.mktemp("plugin")
    (folder / "manifest.json").write_text(json.dumps(manifest("src", {})))
    (folder / "plugin.py").write_text(source)
    with Engine() as engine, contextlib.suppress(PliersError):
        engine.load(folder)
