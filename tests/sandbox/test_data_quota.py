"""Issue 18 §2, storage: a plugin's data folder is kept to its size by the kernel — a file
system of its own (``layers.datafs``: an ext4 image the host mounts detached and each
worker clones onto the folder in its own mount namespace) — and the host records the hit.
Where the host cannot make one (an ordinary user), the engine says "measured only" and
why. Real engines, real workers, the real kernel."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox.helpers import MakePlugin

from pliers_lab import Engine, PluginError, PluginErrorType
from pliers_lab.sandbox import ProcessRuntime, SandboxPolicy
from pliers_lab.sandbox.layers import datafs

pytestmark = pytest.mark.slow

HOOK = "submission.afterSave"
KB = 1024
MB = 1 << 20
RW = {"filesystem": {"read": ["*"], "write": ["*"]}}
ROOT = os.geteuid() == 0

WRITER = """
import os
from pliers_lab import hook

@hook("submission.afterSave")
def write(ctx):
    if ctx.data.get("who", NAME) != NAME:  # every plugin gets the hook: one acts
        return "not me"
    do = ctx.data.get("do")
    if do == "statvfs":  # the folder as the worker sees it
        st = os.statvfs(".")
        return {"size": st.f_blocks * st.f_frsize, "dev": os.stat(".").st_dev,
                "parent_dev": os.stat("..").st_dev}
    if do == "read":
        return {n: open(n).read() for n in sorted(os.listdir(".")) if n.endswith(".txt")}
    if do == "note":
        with open(ctx.data["name"], "w") as f:
            f.write(ctx.data["text"])
        return "noted"
    written = 0
    try:
        for i in range(ctx.data["files"]):
            with open(f"part-{i}.bin", "wb") as f:
                f.write(b"x" * ctx.data["size"])
            written += ctx.data["size"]
    except OSError as exc:
        if ctx.data.get("swallow"):
            return {"written": written, "errno": exc.errno}
        raise
    return {"written": written, "errno": None}
"""


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[Engine, ProcessRuntime]]:
    runtime = ProcessRuntime(SandboxPolicy(data_root=tmp_path / "data", network_deny=()))
    with Engine(default_isolation="process") as engine:
        engine.register_runtime(runtime)
        yield engine, runtime
    runtime.close()


def _fire(engine: Engine, plugin: str, **data: Any) -> Any:
    return engine.fire(HOOK, {**data, "who": plugin}).outcome(plugin)


def _writer(name: str) -> str:
    return f"NAME = {name!r}\n{WRITER}"


@pytest.fixture
def kernel_quota() -> None:
    """As root the kernel quota is expected: a host missing a piece of it (e2fsprogs, loop
    devices, the new mount API) fails the test naming the piece, never skips it — the
    setup (``./run test``) installs e2fsprogs."""
    ok, why = datafs.detect()
    if not ok:
        pytest.fail(
            f"the data folder quota is not available as root on this host: {why}; "
            "./run test installs e2fsprogs (apt-get), and the host needs loop devices",
            pytrace=False,
        )


def needs_root(test: Any) -> Any:
    """Root only (an ordinary user: ``test_an_ordinary_user_...``), with ``kernel_quota``."""
    root_only = pytest.mark.skipif(
        not ROOT, reason="a data file system needs root (test_an_ordinary_user_... covers the rest)"
    )
    return root_only(pytest.mark.usefixtures("kernel_quota")(test))


@needs_root
def test_the_kernel_stops_a_plugin_at_its_disk_limit_and_the_host_records_it(
    engine: tuple[Engine, ProcessRuntime], make_plugin: MakePlugin
) -> None:
    eng, runtime = engine
    feed: list[dict[str, Any]] = []
    eng.activity.subscribe(feed.append)
    eng.load(make_plugin("small", _writer("small"), permissions=RW, limits={"disk": 1}))
    eng.load(make_plugin("roomy", _writer("roomy"), permissions=RW, limits={"disk": 4}))

    # Inside its worker the data folder is a file system of its own, of about its limit.
    inside = _fire(eng, "small", do="statvfs").value
    assert inside["dev"] != inside["parent_dev"]  # a mount: not the host's file system
    assert MB <= inside["size"] <= 1.2 * MB

    # 2 MB in eight files: the kernel refuses the writes at about 1 MB (ENOSPC).
    outcome = _fire(eng, "small", files=8, size=256 * KB)
    error = outcome.error
    assert error is not None and error.type is PluginErrorType.RESOURCE_ERROR
    assert "No space left on device" in error.message and "disk limit" in error.message
    hit = error.metadata["limit"]
    assert hit["plugin"] == "small" and hit["limit"] == "disk" and hit["unit"] == "bytes"
    assert hit["cap"] == MB and hit["action"] == "refused by the kernel (ENOSPC)"
    assert 0.75 * MB <= hit["value"] <= 1.1 * MB  # what the folder held, measured

    # What the plugin itself sees when it catches the error: ENOSPC at about 1 MB. The
    # host cannot see a caught refusal while the file system stays full: not counted again.
    caught = _fire(eng, "small", files=8, size=256 * KB, swallow=True).value
    assert caught["errno"] == errno.ENOSPC
    assert 0.75 * MB <= caught["written"] <= 1.1 * MB

    # The same record in the isolation report, the metrics and the activity feed.
    report = eng.isolation("small")
    assert report["limits_exceeded"] == {"disk:refused by the kernel (ENOSPC)": 1}
    quota = report["limits"]["dataQuota"]
    assert quota["enforcedBy"] == "kernel" and "ext4 image" in quota["fileSystem"]
    assert report["data_quota"] == "kernel"
    assert "the kernel" in report["limits"]["enforcedBy"]["dataFolderBytes"]
    assert eng.isolation_report().data_quota_line.startswith("data folder quota: kernel (")
    metrics = eng.metrics("small").limitsExceeded
    assert metrics["disk"]["count"] == 1
    assert metrics["disk"]["actions"] == {"refused by the kernel (ENOSPC)": 1}
    assert metrics["disk"]["last"]["plugin"] == "small" and metrics["disk"]["last"]["cap"] == MB
    events = [e for e in feed if e["type"] == "plugin.limit.exceeded"]
    assert [e["data"]["limit"] for e in events] == ["disk"], events
    assert events[0]["data"]["at"] == metrics["disk"]["last"]["at"]  # the same hit

    # The host is fine, and the other plugin's folder is its own: 3 MB fit in its 4 MB.
    roomy = _fire(eng, "roomy", files=3, size=MB)
    assert roomy.error is None and roomy.value == {"written": 3 * MB, "errno": None}
    assert eng.metrics("roomy").limitsExceeded == {}
    host_free = os.statvfs(runtime.policy.data_root).f_bavail * os.statvfs("/").f_frsize
    assert host_free > 100 * MB


@needs_root
def test_the_data_persists_across_worker_restarts_and_reloads_and_the_host_sees_it(
    engine: tuple[Engine, ProcessRuntime], make_plugin: MakePlugin
) -> None:
    eng, runtime = engine
    folder = make_plugin("keeper", _writer("keeper"), permissions=RW, limits={"disk": 2})
    eng.load(folder)
    assert _fire(eng, "keeper", do="note", name="a.txt", text="first").value == "noted"
    # The host reaches the same files through its descriptor, and writes there too.
    data = runtime.data_path("keeper")
    assert data is not None and (data / "a.txt").read_text() == "first"
    (data / "b.txt").write_text("from the host")
    image = runtime.policy.data_root / "keeper" / datafs.IMAGE
    assert image.is_file()
    assert not (runtime.policy.data_root / "keeper" / "a.txt").exists()  # in the image

    old_pid = runtime.process("keeper").usage()["pid"]
    runtime.process("keeper").recycle()  # a new worker, cloning the same file system
    seen = _fire(eng, "keeper", do="read").value
    assert seen == {"a.txt": "first", "b.txt": "from the host"}
    assert runtime.process("keeper").usage()["pid"] != old_pid

    eng.unload("keeper")  # the image is let go; loaded again, it is mounted again
    eng.load(folder)
    assert _fire(eng, "keeper", do="read").value == {"a.txt": "first", "b.txt": "from the host"}


def test_without_the_kernel_quota_the_engine_says_measured_only_and_why(
    tmp_path: Path, make_plugin: MakePlugin
) -> None:
    runtime = ProcessRuntime(
        SandboxPolicy(
            data_root=tmp_path / "data",
            network_deny=(),
            data_quota=False,
            disk_check_interval_s=0,
        )
    )
    with Engine(default_isolation="process") as eng:
        eng.register_runtime(runtime)
        eng.load(make_plugin("measured", _writer("measured"), permissions=RW, limits={"disk": 1}))
        inside = _fire(eng, "measured", do="statvfs").value
        assert inside["dev"] == inside["parent_dev"]  # the folder itself, no mount
        report = eng.isolation("measured")
        quota = report["limits"]["dataQuota"]
        assert quota == {
            "enforcedBy": "measured only",
            "reason": "SandboxPolicy.data_quota is False",
        }
        assert report["data_quota"] == "measured only (SandboxPolicy.data_quota is False)"
        assert report["limits"]["enforcedBy"]["dataFolderBytes"].startswith("measured only")
        host = str(eng.isolation_report())  # what `pliers doctor` and the lab show
        assert "data folder quota: measured only (SandboxPolicy.data_quota is False)" in host
        # measured after the call: the call past the limit fails, the folder is over it
        outcome = _fire(eng, "measured", files=2, size=768 * KB)
        assert outcome.error is not None and "disk limit" in outcome.error.message
        hit = outcome.error.metadata["limit"]
        assert hit["limit"] == "disk" and hit["value"] > MB and hit["cap"] == MB
        assert hit["action"] == "refused (the call failed after the data folder was measured)"
        assert not (runtime.policy.data_root / "measured" / datafs.IMAGE).exists()
    runtime.close()


SCRIPT = r"""
import json, sys, tempfile
from pathlib import Path
from pliers_lab import Engine

folder = Path(tempfile.mkdtemp()) / "small"
folder.mkdir()
(folder / "manifest.json").write_text(json.dumps({
    "name": "small", "version": "1.0.0", "description": "writes its data folder",
    "author": "Lab <lab@example.com>", "license": "MIT", "main": "plugin.py",
    "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
    "hooks": {"submission.afterSave": {}},
    "permissions": {"filesystem": {"read": ["*"], "write": ["*"]}},
    "limits": {"disk": 1},
}))
(folder / "plugin.py").write_text(sys.argv[1])
engine = Engine(default_isolation="process")
engine.load(folder)
inside = engine.fire("submission.afterSave", {"do": "statvfs"}).outcome("small").value
report = engine.isolation("small")
print(json.dumps({"inside": inside, "quota": report["limits"]["dataQuota"],
                  "data_quota": report["data_quota"],
                  "host": engine.isolation_report().data_quota_line}))
engine.close()
"""


@pytest.mark.parametrize("userns", [True, False], ids=["user-namespaces", "no-user-namespaces"])
def test_an_ordinary_user_gets_measured_only_with_the_reason(
    ordinary_user: Any, userns: bool
) -> None:
    done = ordinary_user.run(
        str(ordinary_user.python), "-c", SCRIPT, _writer("small"), userns=userns, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["quota"]["enforcedBy"] == "measured only"
    assert "not root: an ordinary user cannot mount a block file system" in seen["quota"]["reason"]
    assert seen["data_quota"].startswith("measured only (not root")
    assert seen["host"].startswith("data folder quota: measured only (not root: ")
    assert seen["inside"]["dev"] == seen["inside"]["parent_dev"]  # no file system of its own


@needs_root
def test_an_image_the_host_will_not_mount_is_refused_never_left_to_the_plugin(
    tmp_path: Path, make_plugin: MakePlugin
) -> None:
    folder = make_plugin("kept", _writer("kept"), permissions=RW, limits={"disk": 1})
    first = ProcessRuntime(SandboxPolicy(data_root=tmp_path / "data", network_deny=()))
    with Engine(default_isolation="process") as eng:
        eng.register_runtime(first)
        eng.load(folder)
        assert _fire(eng, "kept", do="note", name="a.txt", text="in the image").value == "noted"
        # A second engine on the same folder while the first holds it: refused (ext4
        # mounted twice at once would be corrupted), and the first one goes on.
        second = ProcessRuntime(SandboxPolicy(data_root=tmp_path / "data", network_deny=()))
        with Engine(default_isolation="process") as other:
            other.register_runtime(second)
            with pytest.raises(PluginError) as held:
                other.load(folder)
            assert held.value.type is PluginErrorType.LOAD_ERROR
            assert "another engine on this machine holds" in held.value.message
        second.close()
        assert _fire(eng, "kept", do="read").value == {"a.txt": "in the image"}
    first.close()
    # Without the kernel quota the plugin would see the image file in its folder, and
    # could write it: refused, naming the image and why it is not mounted.
    off = ProcessRuntime(
        SandboxPolicy(data_root=tmp_path / "data", network_deny=(), data_quota=False)
    )
    with Engine(default_isolation="process") as eng:
        eng.register_runtime(off)
        with pytest.raises(PluginError) as refused:
            eng.load(folder)
        assert refused.value.type is PluginErrorType.LOAD_ERROR
        assert datafs.IMAGE in refused.value.message
        assert "SandboxPolicy.data_quota is False" in refused.value.message
    off.close()


@needs_root
def test_a_smaller_limit_than_the_data_keeps_the_image_and_measures_the_folder(
    tmp_path: Path, make_plugin: MakePlugin
) -> None:
    runtime = ProcessRuntime(
        SandboxPolicy(data_root=tmp_path / "data", network_deny=(), disk_check_interval_s=0)
    )
    with Engine(default_isolation="process") as eng:
        eng.register_runtime(runtime)
        eng.load(make_plugin("shrunk", _writer("shrunk"), permissions=RW, limits={"disk": 3}))
        assert _fire(eng, "shrunk", files=2, size=MB).value == {"written": 2 * MB, "errno": None}
        eng.unload("shrunk")
        # 2 MB of data cannot fit a 1 MB file system: the image keeps its size (and the
        # data), says so, and the host measures the folder against the new limit.
        eng.load(make_plugin("shrunk", _writer("shrunk"), permissions=RW, limits={"disk": 1}))
        quota = eng.isolation("shrunk")["limits"]["dataQuota"]
        assert quota["enforcedBy"] == "kernel" and quota["sizedForBytes"] is None
        assert "could not resize" in quota["fileSystem"]
        outcome = _fire(eng, "shrunk", do="note", name="a.txt", text="x")
        assert outcome.error is not None and "disk limit" in outcome.error.message
        hit = outcome.error.metadata["limit"]
        assert hit["limit"] == "disk" and hit["cap"] == MB and hit["value"] > 2 * MB * 0.99
        assert hit["action"] == "refused (the call failed after the data folder was measured)"
    runtime.close()


@pytest.mark.skipif(not ROOT, reason="as an ordinary user the reason is 'not root' (above)")
def test_a_missing_e2fsprogs_tool_is_named_with_its_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shutil

    real = shutil.which

    def which(name: str, *args: Any, **kwargs: Any) -> str | None:
        return None if name == "mkfs.ext4" else real(name, *args, **kwargs)

    monkeypatch.setattr(shutil, "which", which)
    assert datafs._detect() == (False, "mkfs.ext4 not found (Debian package e2fsprogs)")
