"""Policy records and grants compiled from manifests."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import manifest

from pliers_lab import PluginError, PluginErrorType
from pliers_lab.manifest import parse_manifest
from pliers_lab.sandbox import Limits, SandboxPolicy
from pliers_lab.sandbox.policy import compile_grants, parse_host_pattern, worker_sys_path


def test_defaults_are_the_specs() -> None:
    limits = Limits()
    assert (limits.memory_mb, limits.cpu_ms, limits.disk_mb) == (128, 1000, 100)
    assert limits.execution_time_ms == 30_000
    # Not the spec's 10 queued calls: callers wait up to their timeout now (issue 14), and
    # ``concurrency`` only bounds how many may wait; one worker per plugin.
    assert (limits.workers, limits.concurrency) == (1, 64)


def test_workers_are_the_hosts_choice_per_plugin() -> None:
    policy = SandboxPolicy(limits=Limits(workers=2), plugin_workers={"hot": 4, "odd": 0})
    assert [policy.workers_for(p) for p in ("any", "hot", "odd")] == [2, 4, 1]
    with pytest.raises(ValueError, match="workers must be at least 1"):
        Limits(workers=0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("api.example.com", ("api.example.com", None)),
        ("API.example.com:443", ("api.example.com", 443)),
        ("*.example.org:*", ("*.example.org", None)),
        ("*", ("*", None)),
        ("10.0.0.1:8080", ("10.0.0.1", 8080)),
        ("[::1]:443", ("::1", 443)),
    ],
)
def test_host_patterns(text: str, expected: tuple[str, int | None]) -> None:
    assert parse_host_pattern(text) == expected


@pytest.mark.parametrize(
    "text",
    ["https://x.com", "x.com/path", "x.com:0", "x.com:99999", "exa mple.com", "::1", "", "a..b"],
)
def test_malformed_host_patterns(text: str) -> None:
    with pytest.raises(ValueError):
        parse_host_pattern(text)


def test_bad_grants_are_listed_together(tmp_path: Path) -> None:
    m = parse_manifest(
        manifest(
            "grants",
            permissions={
                "filesystem": {"read": ["/does/not/exist", "/etc/*"], "write": ["/"]},
                "network": {"outbound": ["https://api.x.com", "ok.example.com:443"]},
            },
        )
    )
    with pytest.raises(PluginError) as info:
        compile_grants(m, SandboxPolicy(data_root=tmp_path))
    err = info.value
    assert err.type is PluginErrorType.LOAD_ERROR
    assert len(err.metadata["problems"]) == 4
    text = str(err)
    assert "/does/not/exist' does not exist" in text and "not patterns" in text
    assert "https://api.x.com" in text and "'/' cannot be granted" in text


def test_grants_compile(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    m = parse_manifest(
        manifest(
            "grants",
            permissions={
                "filesystem": {"read": [str(shared), "exports/*"], "write": ["exports/*"]},
                "network": {"outbound": ["api.example.com:443"]},
            },
        )
    )
    g = compile_grants(m, SandboxPolicy(data_root=tmp_path / "data"))
    assert g.data_dir == tmp_path / "data" / "grants" and g.data_access == "write"
    assert g.read_paths == (str(shared),) and g.write_paths == ()
    assert g.outbound == (("api.example.com", 443),)
    none = compile_grants(parse_manifest(manifest("quiet")), SandboxPolicy(data_root=tmp_path))
    assert none.data_dir is None and none.data_access == "none"


def test_worker_import_path_leaves_the_project_out() -> None:
    project = str(Path(__file__).resolve().parents[2])
    assert all(
        not p.startswith(project + "/pliers_lab") and p != project for p in worker_sys_path()
    )
