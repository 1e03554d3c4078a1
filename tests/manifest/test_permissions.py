"""Permissions: the manifest's verb lists and the spec's resource maps, one shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pliers_lab.manifest import ManifestError, Permissions, parse_manifest

Make = Callable[..., dict[str, Any]]


def test_both_forms_normalize_to_the_same_permissions() -> None:
    verbs = Permissions.model_validate(
        {"database": ["read", "write"], "network": ["inbound"], "events": ["publish"]}
    )
    resources = Permissions.model_validate(
        {
            "database": {"read": ["*"], "write": True, "execute": []},
            "network": {"inbound": True, "outbound": False},
            "events": {"publish": ["*"]},
        }
    )
    assert verbs == resources
    assert verbs.database == {"read": ("*",), "write": ("*",)}
    assert verbs.network == {"inbound": ("*",)}


def test_verbs_come_out_in_canonical_order_without_duplicates() -> None:
    p = Permissions.model_validate({"database": ["execute", "read", "read"]})
    assert list(p.database) == ["read", "execute"]


def test_resource_form_keeps_patterns() -> None:
    p = Permissions.model_validate(
        {
            "database": {"read": ["submissions", "forms"], "write": ["plugin_*"]},
            "network": {"outbound": ["api.example.com:443", "*.crm.io:443"], "inbound": True},
            "filesystem": {"read": ["data/*.csv"]},
        }
    )
    assert p.allows("database", "read", "submissions")
    assert not p.allows("database", "read", "users")
    assert p.allows("database", "write", "plugin_cache")
    assert not p.allows("database", "write", "submissions")
    assert not p.allows("database", "execute", "anything")
    assert p.allows("network", "outbound", "eu.crm.io:443")
    assert not p.allows("network", "outbound", "eu.crm.io:80")
    assert p.allows("network", "inbound")
    assert p.allows("filesystem", "read", "data/x.csv")
    assert not p.allows("filesystem", "write", "data/x.csv")
    assert not p.allows("events", "subscribe", "form.created")


def test_bare_verb_allows_every_resource() -> None:
    p = Permissions.model_validate({"database": ["read"], "api": ["register"]})
    assert p.allows("database", "read", "submissions")
    assert p.allows("api", "register", "/plugins/x/y")
    assert not p.allows("api", "call", "/plugins/x/y")


def test_allows_rejects_unknown_category_or_verb() -> None:
    p = Permissions()
    with pytest.raises(ValueError, match=r"no permission database\.delete"):
        p.allows("database", "delete", "x")
    with pytest.raises(ValueError, match=r"no permission disk\.read"):
        p.allows("disk", "read", "x")


def test_as_rows() -> None:
    p = Permissions.model_validate(
        {"network": {"outbound": ["a.io", "b.io"]}, "database": ["read"]}
    )
    assert p.as_rows() == [
        ("database", "read", "*"),
        ("network", "outbound", "a.io"),
        ("network", "outbound", "b.io"),
    ]


def test_spec_example_permissions_load(minimal: Make) -> None:
    perms = {
        "database": ["read"],
        "network": ["outbound"],
        "filesystem": ["read"],
        "events": ["subscribe", "publish"],
    }
    m = parse_manifest(minimal(permissions=perms))
    assert len(m.permissions.as_rows()) == 5


CASES: list[tuple[dict[str, Any], list[str]]] = [
    (
        {"database": ["read", "delete"]},
        ['permissions.database[1]: must be one of: read, write, execute (got "delete")'],
    ),
    (
        {"database": {"raed": ["x"]}},
        [
            'permissions.database.raed: must be one of: read, write, execute (got "raed") '
            '(hint: did you mean "read"?)'
        ],
    ),
    (
        {"network": {"outbound": "api.example.com"}},
        [
            "permissions.network.outbound: expected a list of resource patterns or true/false, "
            'got "api.example.com"'
        ],
    ),
    (
        {"filesystem": {"read": ["ok", "", 3]}},
        [
            "permissions.filesystem.read[1]: expected a resource pattern (a non-empty string), "
            'got ""',
            "permissions.filesystem.read[2]: expected a resource pattern (a non-empty string), "
            "got 3",
        ],
    ),
    (
        {"events": "publish"},
        [
            "permissions.events: expected a list of verbs or an object mapping verbs to "
            'resources, got "publish"'
        ],
    ),
    (
        {"databse": ["read"]},
        ['permissions.databse: unknown field (hint: did you mean "database"?)'],
    ),
    (
        {"api": {"endpoints": ["/x"], "methods": ["GET"]}},
        [
            'permissions.api.endpoints: must be one of: register, call (got "endpoints")',
            'permissions.api.methods: must be one of: register, call (got "methods")',
        ],
    ),
]


@pytest.mark.parametrize("perms, expected", CASES, ids=[str(c)[:40] for c, _ in CASES])
def test_invalid_permissions(minimal: Make, perms: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(minimal(permissions=perms))
    assert [str(p).removeprefix("manifest.json: ") for p in info.value.problems] == expected
