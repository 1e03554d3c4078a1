"""One attack's handler in a plain child process, with no sandbox at all (test_unconfined).

``python -I unconfined_child.py SPEC``. SPEC (JSON) gives the plugin's source and file,
the working directory, the result file, the markers file, a prep step, safety-net
rlimits and the mode. The child loads the worker's ``pliers_lab`` stand-in (guest.py), so
the plugin imports exactly as in a worker, and calls the handler: once, or for a spy
twice with a neighbour plugin's calls in between (one in this thread, one in another),
its answers kept as an engine keeps outcomes. It writes a summary of what happened, never
the answer itself (an attack may have read /etc/shadow), then ends with ``os._exit``, or
in ``exit`` mode with a normal interpreter exit so that atexit handlers and finalizers run.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import resource
import sys
import threading
import types
from typing import Any

HOOK = "submission.afterSave"
#: The neighbour's answer holds a token made at run time: ``bystander-<n * 7919>``. The
#: marker a spy must find is therefore nowhere in this process before the neighbour runs.
NEIGHBOUR = """
import json
from pliers_lab import hook

@hook("submission.afterSave")
def neighbour(ctx):
    token = "bystander-" + str(ctx.data["n"] * 7919)
    answer = {"bystander": token}
    with open(token + ".txt", "w") as f:
        f.write(json.dumps(answer))
    return answer
"""
MS_BIND, MS_REC, MS_PRIVATE, CLONE_NEWNS = 0x1000, 0x4000, 0x40000, 0x20000


class Ctx:
    """What a handler reads of its context."""

    def __init__(self, n: int) -> None:
        self.hook = HOOK
        self.data = {"n": n}
        self.state: dict[str, Any] = {}
        self.config: dict[str, Any] = {}
        self.plugin_id = "attack"
        self.api = None


def load(source: str, file: str, name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__file__ = file
    sys.modules[name] = module
    exec(compile(source, file, "exec"), module.__dict__)
    return module


def install_guest(path: str) -> None:
    spec = importlib.util.spec_from_file_location("pliers_guest", path)
    assert spec is not None and spec.loader is not None
    guest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(guest)
    guest.install_shim()


# ---------------------------------------------------------------------------- preps
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def private_mounts(spec: dict[str, Any]) -> None:
    """A mount namespace of this child's own, every mount private: nothing it mounts,
    bind-mounts or pivots reaches the machine's namespace. Checked, not assumed."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(_libc.mount(None, b"/", None, ctypes.c_ulong(MS_REC | MS_PRIVATE), None), "mount")
    if os.readlink("/proc/self/ns/mnt") == spec["host_mnt_ns"]:
        raise SystemExit("still in the machine's mount namespace: refusing to run the attack")


def pivot_root(spec: dict[str, Any]) -> None:
    """Private mounts, then the working directory made a mount point with ``old`` in it."""
    private_mounts(spec)
    here = os.getcwd().encode()
    _check(_libc.mount(here, here, None, ctypes.c_ulong(MS_BIND), None), "bind mount")
    os.chdir(os.getcwd())
    os.mkdir("old")


def lowered_soft(spec: dict[str, Any]) -> None:
    """Room to raise: a soft open-files limit below the hard one."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))


PREPS = {"private-mounts": private_mounts, "pivot-root": pivot_root, "lowered-soft": lowered_soft}


# ---------------------------------------------------------------------------- run
def call(fn: Any, n: int) -> tuple[str, Any]:
    try:
        return "returns", fn(Ctx(n))
    except BaseException as exc:  # SystemExit too: the handler's own doing
        return "raises", exc


def safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except BaseException:  # a 100k-deep list, a half-made socket...
        return ""


def main() -> None:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    out = open(spec["result"], "w")  # noqa: SIM115 - opened before a chroot or pivot_root
    markers_file = open(spec["markers"])  # noqa: SIM115 - read only after the calls
    mode, neighbour_file = spec["mode"], spec["neighbour_file"]
    for name, value in spec["nets"]:
        resource.setrlimit(getattr(resource, name), (value, value))
    install_guest(spec["guest"])
    os.chdir(spec["cwd"])
    try:
        if spec["prep"]:
            PREPS[spec["prep"]](spec)
        attack = load(spec["source"], spec["file"], "pliers_plugins.attack").attack
    except BaseException as exc:
        out.write(json.dumps({"ends": "prep-failed", "error": f"{type(exc).__name__}: {exc}"}))
        out.close()
        os._exit(3)
    del spec
    answers = []  # the neighbour's, kept as an engine keeps outcomes
    if mode == "spy":
        call(attack, 1)
        neighbour = load(NEIGHBOUR, neighbour_file, "pliers_plugins.neighbour").neighbour
        answers.append(neighbour(Ctx(1)))
        other = threading.Thread(target=lambda: answers.append(neighbour(Ctx(2))))
        other.start()
        other.join()
        ends, value = call(attack, 3)
    else:
        ends, value = call(attack, 1)
    markers = json.load(markers_file)
    text = (safe_repr(value) if ends == "returns" else str(value)) if markers else ""
    report = {
        "ends": ends,
        "type": type(value).__name__,
        "error": f"{type(value).__name__}: {value}"[:500] if ends == "raises" else "",
        "found": [m for m in markers if m in text],
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": threading.active_count(),
    }
    out.write(json.dumps(report))
    out.close()
    if mode == "exit":
        sys.exit(0)  # a normal end: atexit handlers and finalizers run
    os._exit(0)


if __name__ == "__main__":
    main()
