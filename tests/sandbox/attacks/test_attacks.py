"""The attack suite (issues 8 and 13): every attack is blocked by the mechanism the
catalog names (``stopped_by``, its ``match`` in the host's account) and classified, the host
stays alive and the other plugins — inline and sandboxed — keep answering; a contained
attack may answer, but what it reports (and leaves behind) shows it reached nobody."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sandbox.helpers import requires
from support import manifest, write_plugin

from pliers_lab import Engine, PluginState
from pliers_lab.sandbox import ProcessRuntime, SandboxPolicy

from .catalog import (
    ARENA_TARGETS,
    ATTACKS,
    CONTAINED,
    HOOK,
    RES,
    RUN,
    SEC,
    STOPPED_BY,
    TMO,
    VAL,
    Attack,
    plugin_source,
)

pytestmark = requires("rlimits", "netns", "landlock", "capabilities", "seccomp", "cgroup")

PWNED = Path("/tmp/pliers-pwned")
BYSTANDER = """
from pliers_lab import hook

@hook("submission.afterSave")
def answer(ctx):
    return {"bystander": ctx.data["n"]}
"""


@dataclass(frozen=True)
class Mechanism:
    """What the error of an attack stopped by one mechanism looks like.

    ``opens``: how the message begins; ``says``: what else it must say; ``violation``: a
    security violation (counted in ``metadata["violations"]``, quarantines the plugin);
    ``refusals``: the host recorded the refused request (``metadata["refusals"]``), and
    the attack's ``match`` must be one of them, not only in the plugin's part of the text.
    """

    type: str
    opens: str
    says: str = ""
    violation: bool = False
    refusals: bool = False


#: How the host's account of an escape-class call ends (``notify.Watch._fatal``).
FATAL = "forbidden, the worker was killed"

MECHANISMS = {
    "host-kill": Mechanism(
        SEC,
        "refused by the sandbox (seen by the host): ",
        f"{FATAL}. The call then failed: the worker died mid-call (SIGKILL)",
        violation=True,
        refusals=True,
    ),
    "host-refusal": Mechanism(
        SEC, "refused by the sandbox (seen by the host): ", violation=True, refusals=True
    ),
    "host-api": Mechanism(SEC, "", " (refused by the host API: ", violation=True, refusals=True),
    "protocol": Mechanism(SEC, "protocol violation: ", "; the worker was killed", violation=True),
    "log-flood": Mechanism(RES, "output flood: over ", "; the worker was killed"),
    "cpu-limit": Mechanism(RES, "CPU limit: used over ", "in one call; the worker was killed"),
    "timeout": Mechanism(TMO, "no answer within ", "the worker was killed (threads included)"),
    "oom": Mechanism(RES, "memory limit: the worker used over ", "the kernel's OOM killer"),
    "pids": Mechanism(RES, "process/thread limit reached: "),
    "rlimit-fsize": Mechanism(RES, "disk limit reached: ", "[Errno 27] File too large"),
    "encode": Mechanism(VAL, "the answer cannot cross to the host: "),
    "crash": Mechanism(RUN, "the worker ", " mid-call "),
}


def expected_match(attack: Attack, folder: Path, parent: int | None = None) -> re.Pattern[str]:
    """``attack.match`` as a pattern, its placeholders bound to this arena (``PARENT``:
    this process, the host, unless ``parent`` names another target)."""
    pattern = re.escape(attack.match)
    for name, value in (
        ("PARENT", re.escape(str(parent or os.getpid()))),
        ("FOLDER", re.escape(str(folder))),
        ("PLUGINS", re.escape(str(folder.parent))),
        ("DATA", re.escape(str(folder.parent.parent / "data" / folder.name))),
        ("N", r"\d+"),
        ("ADDR", r"0x[0-9a-f]+"),
    ):
        pattern = pattern.replace(re.escape("{" + name + "}"), value)
    return re.compile(pattern)


class Arena:
    """One engine shared by the attacks, with an inline and a sandboxed bystander."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runtime = ProcessRuntime(SandboxPolicy(data_root=root / "data"))
        self.engine = Engine(default_isolation="process")
        self.engine.register_runtime(self.runtime)
        self.engine.add_plugin(
            manifest("inline-bystander", {HOOK: {"handler": "answer"}}),
            {"answer": lambda ctx: {"inline-bystander": ctx.data["n"]}},
        )
        self.engine.load(write_plugin(root / "plugins", "boxed-bystander", BYSTANDER, {HOOK: {}}))
        self.bystander_code = root / "plugins" / "boxed-bystander" / "plugin.py"
        # The first worker starts the warm template; the attackers are forked by it.
        template = self.runtime.template
        assert template is not None and template.wait_up(), self.runtime.template_off
        self.template_pid = template.pid

    def unchanged(self, folder: Path, plugin_file: str) -> None:
        """Nothing outside was written; no plugin's code or folder was changed."""
        assert not PWNED.exists()
        assert (folder / "plugin.py").read_text() == plugin_file
        assert os.stat(folder).st_mode & 0o777 != 0o777
        assert self.bystander_code.read_text() == BYSTANDER

    def load(self, attack: Attack, targets: dict[str, str] = ARENA_TARGETS) -> Path:
        code = plugin_source(attack, targets)
        folder = write_plugin(
            self.root / "plugins", attack.name, code, {HOOK: dict(attack.hook)}, **attack.manifest
        )
        self.engine.load(folder)
        return folder


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arena]:
    PWNED.unlink(missing_ok=True)
    arena = Arena(tmp_path_factory.mktemp("arena"))
    yield arena
    arena.engine.close()
    arena.runtime.close()


def bystanders_answer(engine: Engine, n: int) -> dict[str, Any]:
    result = engine.fire(HOOK, {"n": n})
    by = {o.plugin_id: o for o in result.outcomes}
    assert by["inline-bystander"].value == {"inline-bystander": n}
    assert by["boxed-bystander"].value == {"bystander": n}, by["boxed-bystander"].error
    return by


def test_the_suite_is_big_enough() -> None:
    assert len(ATTACKS) >= 100 and len(CONTAINED) >= 15
    names = [a.name for a in ATTACKS + CONTAINED]
    assert len(set(names)) == len(names)
    assert all(a.expect for a in ATTACKS) and not any(a.expect for a in CONTAINED)
    assert set(MECHANISMS) == set(STOPPED_BY)
    for a in ATTACKS:
        assert a.stopped_by in MECHANISMS, f"{a.name}: stopped by {a.stopped_by!r}?"
        assert a.expect == {MECHANISMS[a.stopped_by].type}, a.name
        assert len(a.match) >= 10, f"{a.name}: match {a.match!r} does not single it out"
    assert not any(a.stopped_by or a.match for a in CONTAINED)


#: The attacks on the host process, aimed instead at the worker's own parent: the warm
#: template that forked it (unconfined, it forks every worker of the engine).
AT_TEMPLATE = [
    dataclasses.replace(a, name=f"{a.name}-at-template")
    for a in ATTACKS
    if "PARENT" in a.body or "PARENT" in a.match
]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name)
def test_attack_is_blocked_and_classified(arena: Arena, attack: Attack) -> None:
    attack_blocked(arena, attack)


@pytest.mark.parametrize("attack", AT_TEMPLATE, ids=lambda a: a.name)
def test_attack_on_the_template_is_blocked_and_classified(arena: Arena, attack: Attack) -> None:
    targets = {**ARENA_TARGETS, "PARENT": "__import__('os').getppid()"}
    attack_blocked(arena, attack, targets, arena.template_pid)


def attack_blocked(
    arena: Arena, attack: Attack, targets: dict[str, str] = ARENA_TARGETS, parent: int = 0
) -> None:
    engine = arena.engine
    folder = arena.load(attack, targets)
    plugin_file = (folder / "plugin.py").read_text()
    worker = engine.worker(attack.name).worker
    assert worker.template is not None and worker.template.pid == arena.template_pid
    by = bystanders_answer(engine, 1)
    outcome = by[attack.name]
    assert outcome.status in ("error", "timeout"), (
        f"{attack.name} was not stopped: {outcome.value!r}"
    )
    error = outcome.error
    assert_stopped_by(attack, error, folder, parent)
    assert error.plugin_id == attack.name and error.hook == HOOK
    if error.type.value == SEC:
        assert error.metadata.get("violations", 0) >= 1, error.metadata
        assert error.metadata.get("sandbox_action") == "quarantine", error.metadata
        assert engine.quarantined(attack.name), "a security violation quarantines the plugin"
        assert engine.plugin(attack.name).state is PluginState.STOPPED
    else:
        assert "violations" not in error.metadata, error.metadata
        assert not engine.quarantined(attack.name), f"{error.type.value} is no violation"
    bystanders_answer(engine, 2)  # and again, after the attacker's worker is gone
    arena.unchanged(folder, plugin_file)
    engine.unload(attack.name)
    assert _alive(arena.template_pid), "the template outlived the attack"


def assert_stopped_by(attack: Attack, error: Any, folder: Path, parent: int = 0) -> None:
    """The error shows the mechanism ``attack.stopped_by`` and the attack's ``match``."""
    how = MECHANISMS[attack.stopped_by]
    seen = f"{attack.name} ({attack.stopped_by}): {error} {error.metadata}"
    assert error.type.value == how.type, seen
    assert error.message.startswith(how.opens) and how.says in error.message, seen
    match = expected_match(attack, folder, parent)
    assert match.search(error.message), f"{match.pattern!r} not in: {seen}"
    refusals = error.metadata.get("refusals")
    if how.refusals:
        assert refusals and any(match.search(r) for r in refusals), seen
        if attack.stopped_by == "host-refusal":  # the host's account opens the message
            assert error.message.startswith(how.opens + refusals[0]), seen
        if attack.stopped_by == "host-kill":  # the call it was killed at, the last one
            assert refusals[-1].endswith(FATAL) and match.search(refusals[-1]), seen
        else:
            assert not any(r.endswith(FATAL) for r in refusals), seen
    else:
        assert refusals is None, seen
    if attack.check is not None:
        attack.check(error)


@pytest.mark.parametrize("attack", CONTAINED, ids=lambda a: a.name)
def test_contained_attack_reaches_nobody(arena: Arena, attack: Attack) -> None:
    """It may answer; what it reports (a spy: on its next call, after the bystanders ran)
    and what it leaves once unloaded show that it reached neither the host nor a plugin."""
    engine = arena.engine
    folder = arena.load(attack)
    plugin_file = (folder / "plugin.py").read_text()
    out = bystanders_answer(engine, 20)[attack.name]
    if attack.mode == "spy" and out.status == "ok":
        out = bystanders_answer(engine, 21)[attack.name]  # the bystanders ran meanwhile
    pid = arena.runtime.usage(attack.name).get("pid")
    engine.unload(attack.name)
    if pid:  # an ``exit`` attack acts while its worker ends: wait for the end
        deadline = time.monotonic() + arena.runtime.policy.stop_grace_s + 3
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.02)
        assert not _alive(pid), "the worker outlived its unload"
    bystanders_answer(engine, 22)
    arena.unchanged(folder, plugin_file)
    data_dir = arena.root / "data" / attack.name
    try:
        if attack.held_after is not None:
            assert attack.held_after(data_dir), f"{attack.name} left {data_dir} over its quota"
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    if out.status != "ok":
        return  # refused: it got nothing
    assert attack.held is None or attack.held(out.value), (
        f"{attack.name} escaped: {json.dumps(out.value, default=repr)[:2000]}"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_introspection_finds_nothing_of_the_host(arena: Arena) -> None:
    os.environ["PLIERS_TEST_SECRET"] = "hunter2"
    hunt = Attack(
        "introspection",
        """
import gc, sys, os
found = []
def walk(cls, seen):
    for sub in cls.__subclasses__():
        if sub not in seen:
            seen.add(sub)
            walk(sub, seen)
seen = set()
walk(object, seen)
names = {c.__module__ + "." + c.__name__ for c in seen}
found += sorted(n for n in names if n.startswith(("pliers_lab.engine",
                "pliers_lab.plugin", "sqlite3.Connection", "pliers_lab.host")))
for obj in gc.get_objects():
    name = type(obj).__module__ + "." + type(obj).__qualname__
    if name.startswith(("pliers_lab.engine", "pliers_lab.plugin.")):
        found.append(name)
frame = sys._getframe()
while frame is not None:
    if "pliers_lab/engine" in frame.f_code.co_filename:
        found.append(frame.f_code.co_filename)
    frame = frame.f_back
found += [k for k, v in os.environ.items() if "hunter2" in v]
return {"found": found}
""",
        frozenset(),
    )
    arena.load(hunt)
    out = bystanders_answer(arena.engine, 3)["introspection"]
    del os.environ["PLIERS_TEST_SECRET"]
    arena.engine.unload("introspection")
    assert out.status == "error" or out.value["found"] == []


def test_poisoned_modules_reach_nobody_else(arena: Arena) -> None:
    poison = Attack(
        "poisoner",
        """
import sys, json
sys.modules["json"] = None
sys.modules["pliers_lab"] = None
json.dumps = json.loads = lambda *a, **k: "poisoned"
return "poisoned"
""",
        frozenset(),
    )
    arena.load(poison)
    by = bystanders_answer(arena.engine, 4)
    assert by["poisoner"].value == "poisoned"
    assert json.dumps({"a": 1}) == '{"a": 1}'
    bystanders_answer(arena.engine, 5)
    arena.engine.unload("poisoner")


def test_stdout_flood_is_capped(arena: Arena) -> None:
    flood = Attack(
        "printer",
        "import sys\nfor _ in range(100_000):\n    print('x' * 100)\nsys.stderr.write('y' * 10**7)\nreturn 'done'",  # noqa: E501 - plugin source
        frozenset(),
    )
    arena.load(flood)
    by = bystanders_answer(arena.engine, 6)
    assert by["printer"].value == "done"
    text = "".join(e.message for e in arena.engine.logs.for_plugin("printer"))
    assert len(text) < 2 * (65_536 + 200) and "output truncated" in text
    arena.engine.unload("printer")


def test_ignoring_sigterm_does_not_delay_unload(arena: Arena) -> None:
    stubborn = Attack(
        "stubborn",
        """
import signal, threading, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
def linger():
    while True:
        time.sleep(0.01)
threading.Thread(target=linger).start()
return "ignoring SIGTERM"
""",
        frozenset(),
    )
    arena.load(stubborn)
    bystanders_answer(arena.engine, 7)
    pid = arena.runtime.usage("stubborn")["pid"]
    t0 = time.monotonic()
    arena.engine.unload("stubborn")
    assert time.monotonic() - t0 < arena.runtime.policy.stop_grace_s + 2
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_timeout_kills_threads_with_the_worker(arena: Arena) -> None:
    attack = next(a for a in ATTACKS if a.name == "thread-outlives-timeout")
    arena.load(attack)
    pid = arena.runtime.usage(attack.name)["pid"]
    by = bystanders_answer(arena.engine, 8)
    assert by[attack.name].error.type.value == "timeout_error"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    # a timeout is not a violation: the next call gets a fresh worker
    assert bystanders_answer(arena.engine, 9)[attack.name].error.type.value == "timeout_error"
    assert arena.runtime.usage(attack.name)["restarts"] >= 1
    arena.engine.unload(attack.name)
