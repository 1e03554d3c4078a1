"""Result records: the permission diff and the REST shapes; the errors' REST codes."""

from __future__ import annotations

import json

import pytest

from pliers_lab.manifest import Permissions
from pliers_lab.market import (
    AlreadyExistsError,
    BundleError,
    DependencyConflictError,
    InstallResult,
    MarketError,
    NotFoundError,
    PermissionsNotAcceptedError,
    RegistryAccessError,
    SignatureError,
    StartupError,
    UninstallResult,
    UnsafePluginError,
    UpdateResult,
    diff_permissions,
)


def perms(**data) -> Permissions:
    return Permissions.model_validate(data)


def test_the_diff_compares_rows_and_wildcards_cover_narrower_grants() -> None:
    old = perms(database={"read": ["*"]}, events=["subscribe"])
    new = perms(
        database={"read": ["submissions"], "write": ["plugin_*"]},
        network={"outbound": ["a.test:443"]},
    )
    diff = diff_permissions(old, new)
    assert diff.added == (("database", "write", "plugin_*"), ("network", "outbound", "a.test:443"))
    assert diff.removed == (("database", "read", "*"), ("events", "subscribe", "*"))
    assert diff.to_dict()["added"][1] == {
        "category": "network",
        "verb": "outbound",
        "resource": "a.test:443",
    }
    assert diff.text(diff.added) == "database.write[plugin_*], network.outbound[a.test:443]"
    assert not diff_permissions(new, new)
    assert diff_permissions(None, old).added == (
        ("database", "read", "*"),
        ("events", "subscribe", "*"),
    )


def test_results_serialise_to_the_rest_shapes() -> None:
    install = InstallResult(
        True, "x", "1.0.0", "now", ({"name": "y", "version": "2.0.0", "installed": True},)
    )
    assert set(install.to_dict()) >= {
        "success",
        "pluginId",
        "version",
        "installedAt",
        "dependencies",
        "conflicts",
        "warnings",
        "error",
    }
    update = UpdateResult(True, "x", "1.0.0", "1.1.0")
    assert update.to_dict()["permissions"] == {"added": [], "removed": []}
    assert UninstallResult(True, "x", "1.0.0", affected_plugins=("y",)).to_dict()[
        "affectedPlugins"
    ] == ["y"]
    for result in (install, update):
        json.dumps(result.to_dict())


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (NotFoundError("m"), "PLUGIN_NOT_FOUND", 404),
        (AlreadyExistsError("m"), "PLUGIN_ALREADY_EXISTS", 409),
        (BundleError("b.zip", "m", entry="e"), "INVALID_PLUGIN_PACKAGE", 400),
        (SignatureError("m"), "INVALID_PLUGIN_PACKAGE", 400),
        (UnsafePluginError("m"), "INVALID_PLUGIN_PACKAGE", 400),
        (DependencyConflictError("m"), "DEPENDENCY_CONFLICT", 409),
        (PermissionsNotAcceptedError("m"), "PERMISSION_DENIED", 403),
        (RegistryAccessError("m"), "PERMISSION_DENIED", 403),
        (StartupError("m"), "PLUGIN_STARTUP_FAILED", 500),
    ],
)
def test_errors_carry_their_rest_code(error: MarketError, code: str, status: int) -> None:
    assert (error.code, error.status) == (code, status)
    assert error.to_dict()["code"] == code


def test_a_bundle_error_names_the_bundle_and_entry() -> None:
    error = BundleError("dist/x.zip", "absolute path (zip-slip)", entry="/etc/passwd")
    assert str(error) == "dist/x.zip: entry '/etc/passwd': absolute path (zip-slip)"
    assert error.to_dict()["details"] == {"bundle": "dist/x.zip", "entry": "/etc/passwd"}
