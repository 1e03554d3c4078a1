"""Plugin configuration: merge rules, environments, strictness, validation, reloads."""

import json

import pytest
from support import manifest, write_plugin

from pliers_lab import Engine, PluginError, PluginErrorType, hook
from pliers_lab.config import describe_changes

SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "endpoint": {"type": "string", "format": "uri", "default": "https://crm.example.com"},
        "retries": {"type": "integer", "minimum": 0, "maximum": 5, "default": 2},
        "mapping": {
            "type": "object",
            "properties": {
                "email": {"type": "string", "default": "Email"},
                "name": {"type": "string", "default": "FullName"},
            },
        },
        "tags": {"type": "array", "items": {"type": "string"}, "default": ["pliers"]},
    },
}
CODE = (
    "from pliers_lab import hook\n"
    "@hook('integration.sync')\ndef sync(ctx):\n    return ctx.config\n"
)


def crm(tmp_path, schema=SCHEMA, **configuration):
    files = {
        "schema.json": schema,
        "default.json": {"retries": 3, "mapping": {"name": "Name"}},
        "prod.json": {"endpoint": "https://crm.prod.example.com", "tags": ["prod"]},
    }
    config = {
        "schema": "schema.json",
        "default": "default.json",
        "environments": {"production": "prod.json"},
        **configuration,
    }
    return write_plugin(
        tmp_path, "crm", CODE, {"integration.sync": {}}, configuration=config, files=files
    )


def test_merge_order_schema_defaults_default_file_environment_then_user(tmp_path):
    folder = crm(tmp_path)
    with Engine(environment="production") as engine:
        plugin = engine.load(folder, config={"mapping": {"email": "Mail"}})
        assert plugin.config == {
            "endpoint": "https://crm.prod.example.com",  # overlay beats schema default
            "retries": 3,  # default file beats schema default
            "mapping": {"email": "Mail", "name": "Name"},  # objects merge key by key
            "tags": ["prod"],  # lists replace
        }
    with Engine(environment="development") as engine:
        assert engine.load(folder).config["endpoint"] == "https://crm.example.com"


def test_every_violation_is_listed_with_its_path_and_the_old_config_stays(tmp_path):
    with Engine() as engine:
        engine.load(crm(tmp_path))
        before = dict(engine.plugin("crm").config)
        with pytest.raises(PluginError) as info:
            engine.configure(
                "crm", {"retries": 9, "mapping": {"email": 5}, "tags": ["a", 1], "extra": 1}
            )
        message = str(info.value)
        assert info.value.type is PluginErrorType.CONFIG_ERROR
        for line in (
            "retries: 9 is greater than the maximum of 5",
            "mapping.email: 5 is not of type 'string'",
            "tags[1]: 1 is not of type 'string'",
            "Additional properties are not allowed ('extra'",
        ):
            assert line in message
        assert engine.plugin("crm").config == before
        assert engine.errors.for_plugin("crm")[-1] is info.value


def test_additional_properties_and_non_strict_options(tmp_path):
    with Engine() as engine:
        engine.load(crm(tmp_path / "a", additionalProperties=True))
        assert engine.configure("crm", {"extra": True})["extra"] is True
    with Engine() as engine:
        engine.load(crm(tmp_path / "b", strict=False))
        config = engine.configure("crm", {"retries": 99})
        assert config["retries"] == 99
        warnings = [e.message for e in engine.logs.for_plugin("crm", "warning")]
        assert any("retries: 99 is greater than the maximum of 5" in w for w in warnings)


def test_draft_2020_12_schemas_are_understood(tmp_path):
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"codes": {"type": "array", "prefixItems": [{"type": "integer"}]}},
    }
    with Engine() as engine:
        engine.load(crm(tmp_path, schema=schema, additionalProperties=True))
        with pytest.raises(PluginError, match=r"codes\[0\]: 'x' is not of type 'integer'"):
            engine.configure("crm", {"codes": ["x"]})


def test_an_invalid_schema_is_a_config_error_at_load(tmp_path):
    with Engine() as engine, pytest.raises(PluginError) as info:
        engine.load(
            crm(tmp_path, schema={"type": "object", "properties": {"n": {"type": "numbr"}}})
        )
    assert info.value.type is PluginErrorType.CONFIG_ERROR
    assert "schema.json: invalid JSON Schema at properties.n.type" in str(info.value)


def test_merge_mode_dry_run_and_change_descriptions(tmp_path):
    seen = []
    with Engine() as engine:
        engine.load(crm(tmp_path))
        engine.plugin("crm").lifecycle_handlers["on_config_change"] = lambda p, c: seen.append(
            c["retries"]
        )
        engine.configure("crm", {"retries": 4})
        engine.configure("crm", {"tags": ["x"]}, merge=True)
        assert engine.plugin("crm").config["retries"] == 4 and seen == [4, 4]
        assert engine.plugin("crm").config_changes == ["tags: ['pliers'] -> ['x']"]
        assert engine.validate_config("crm", {"retries": -1}) == [
            "retries: -1 is less than the minimum of 0"
        ]
        assert engine.plugin("crm").config["retries"] == 4


def test_describe_changes_reads_like_the_rest_api():
    assert describe_changes({"a": {"b": 1}, "c": 1}, {"a": {"b": 2}, "d": 3}) == [
        "a.b: 1 -> 2",
        "Removed c",
        "Added d = 3",
    ]


def test_reload_config_reads_the_files_again_and_a_broken_file_changes_nothing(tmp_path):
    folder = crm(tmp_path)
    with Engine() as engine:
        engine.load(folder, config={"tags": ["mine"]})
        (folder / "default.json").write_text(json.dumps({"retries": 5}))
        config = engine.reload_config("crm")
        assert config["retries"] == 5 and config["tags"] == ["mine"]
        (folder / "default.json").write_text('{"retries": ')
        with pytest.raises(PluginError, match=r"default\.json: line 1"):
            engine.reload_config("crm")
        assert engine.plugin("crm").config["retries"] == 5


def test_environment_must_be_known():
    with pytest.raises(
        ValueError, match="environment must be one of development, staging, production"
    ):
        Engine(environment="prod")


def test_a_manifest_naming_a_missing_environment_file_is_refused(tmp_path):
    folder = write_plugin(
        tmp_path,
        "envy",
        CODE,
        {"integration.sync": {}},
        configuration={"environments": {"staging": "nope.json"}},
    )
    with (
        Engine() as engine,
        pytest.raises(
            PluginError, match=r"configuration.environments.staging: file 'nope.json' not found"
        ),
    ):
        engine.load(folder)


def test_inline_plugins_without_a_schema_take_any_config():
    with Engine() as engine:
        engine.add_plugin(
            manifest("free", {"integration.sync": {}}),
            {"s": hook("integration.sync")(lambda c: c.config)},
        )
        engine.configure("free", {"anything": [1, 2]})
        assert engine.fire("integration.sync").value == [{"anything": [1, 2]}]
