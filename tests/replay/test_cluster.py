"""Replaying on a real Dask cluster (issue 17, beyond one machine): a ``LocalCluster`` of
worker processes, reached through a ``Client`` and through the scheduler's address, counts
exactly what the serial run counts; an address nothing answers at is refused by name, in
seconds, never a hang."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import distributed  # the replay extra's: missing, this fails (never a skip)
import pytest
from replay.test_runner import EXTENSIONS, PID_VETO, TRUSTED, _plugin

from pliers_lab import TrustPolicy
from pliers_lab.replay import ReplayError, ReplayReport, replay, synthetic_log

pytestmark = pytest.mark.slow  # starts worker processes

T = TypeVar("T")

#: A replay of this small log takes a second or two; a hang is what the bound catches.
BOUND = 120.0
BLOCK = "16KiB"  # bad lines are named by their line in the block: the same blocks everywhere


def bounded(call: Callable[[], T], seconds: float = BOUND) -> T:
    """``call()``'s result, or the test fails (never hangs) when it takes over ``seconds``."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True, name="bounded-replay")
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"still running after {seconds:g} s: a hang")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # a free port: None means 8787, and two runs would collide
        silence_logs=40,  # only errors: a worker's start-up chatter is not the test's
    ) as local:
        yield local


@pytest.fixture(scope="module")
def client(cluster: Any) -> Iterator[Any]:
    with distributed.Client(cluster, set_as_default=False) as connected:
        yield connected


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test log with two bad lines in it: the samples must agree too."""
    path = synthetic_log(tmp_path_factory.mktemp("log") / "events.jsonl", 400)
    lines = path.read_text().splitlines()
    lines.insert(7, "{not json")
    lines.insert(500, '{"id": "x", "type": "submission.created"}')
    path.write_text("\n".join(lines) + "\n")
    return path


def assert_same_counts(report: ReplayReport, serial: ReplayReport) -> None:
    assert report.events == serial.events and report.partitions == serial.partitions
    assert report.calls == serial.calls  # every (plugin, hook, status) count
    assert report.vetoes == serial.vetoes  # every (plugin, reason) count
    assert report.by_type == serial.by_type
    assert report.bad_lines == serial.bad_lines and len(report.bad_lines) == 2
    assert report.errors == serial.errors
    assert report.durations.keys() == serial.durations.keys()  # the times themselves differ
    assert sum(report.calls.values()) == sum(serial.calls.values())


def test_a_cluster_counts_exactly_what_the_serial_run_counts(client: Any, log: Path) -> None:
    serial = replay(log, EXTENSIONS, scheduler="synchronous", blocksize=BLOCK, trust=TRUSTED)
    assert serial.partitions > 4 and serial.events > 1000 and sum(serial.vetoes.values()) > 0
    seen: list[tuple[int, int, int]] = []

    def progress(done: int, total: int, events: int) -> None:
        seen.append((done, total, events))

    via_client = bounded(
        lambda: replay(
            log, EXTENSIONS, scheduler=client, blocksize=BLOCK, trust=TRUSTED, progress=progress
        )
    )
    assert_same_counts(via_client, serial)
    assert via_client.scheduler == client.scheduler.address
    # a Client reports every partition as it finishes, not once at the end
    assert [s[:2] for s in seen] == [(n, serial.partitions) for n in range(serial.partitions + 1)]
    assert [s[2] for s in seen] == sorted(s[2] for s in seen) and seen[-1][2] == serial.events

    address = client.scheduler.address
    via_address = bounded(
        lambda: replay(log, EXTENSIONS, scheduler=address, blocksize=BLOCK, trust=TRUSTED)
    )
    assert_same_counts(via_address, serial)
    assert via_address.scheduler == address and address.startswith("tcp://")

    # the client the replay opened for the address is closed: the scheduler has only ours
    def clients() -> set[str]:
        names = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.clients))
        return set(names) - {"fire-and-forget"}  # the scheduler's own

    deadline = time.monotonic() + 10
    while clients() != {client.id} and time.monotonic() < deadline:
        time.sleep(0.1)
    assert clients() == {client.id}


def test_the_plugins_run_on_the_workers_and_untrusted_ones_in_their_sandbox(
    client: Any, log: Path, tmp_path: Path
) -> None:
    """Each veto names the pid of the process that refused: trusted, a cluster worker's;
    untrusted, a sandbox worker's (neither this process nor a cluster worker)."""
    plugins = _plugin(tmp_path / "plugins", "pid-veto", PID_VETO, {"submission.beforeSave": {}})
    workers = set(client.run(os.getpid).values())
    assert len(workers) == 2 and os.getpid() not in workers

    def pids(report: ReplayReport) -> set[int]:
        return {int(reason.split()[1]) for (_plugin, reason) in report.vetoes}

    trust = TrustPolicy(plugins={"pid-veto"})
    trusted = bounded(lambda: replay(log, plugins, scheduler=client, blocksize=BLOCK, trust=trust))
    assert pids(trusted) and pids(trusted) <= workers
    boxed = bounded(lambda: replay(log, plugins, scheduler=client, blocksize=BLOCK))
    assert pids(boxed) and not pids(boxed) & (workers | {os.getpid()})
    assert sum(boxed.vetoes.values()) == sum(trusted.vetoes.values()) > 0


VERSIONED_VETO = """
from pliers_lab import Veto, hook

@hook("submission.beforeSave")
def refuse(ctx):
    return Veto("VERSION")
"""


def test_a_second_replay_on_the_same_cluster_sees_the_plugins_as_they_are_now(
    client: Any, log: Path, tmp_path: Path
) -> None:
    """The cluster's workers outlive a replay: one after a plugin changed replays the
    changed plugin, not the engine the workers loaded for the first."""
    code = VERSIONED_VETO.replace("VERSION", "first")
    plugins = _plugin(tmp_path / "plugins", "versioned", code, {"submission.beforeSave": {}})
    trust = TrustPolicy(plugins={"versioned"})

    def reasons() -> set[str]:
        report = bounded(lambda: replay(log, plugins, scheduler=client, blocksize=BLOCK,
                                        trust=trust))  # fmt: skip
        return {reason for (_plugin, reason) in report.vetoes}

    assert reasons() == {"first"}
    (plugins / "versioned" / "plugin.py").write_text(VERSIONED_VETO.replace("VERSION", "second"))
    assert reasons() == {"second"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def refused_within(seconds: float, address: str, match: str) -> ReplayError:
    """The ReplayError a replay at ``address`` raises, in under ``seconds``."""
    log = Path(__file__)  # never read: the address is refused first
    started = time.monotonic()
    with pytest.raises(ReplayError, match=match) as caught:
        bounded(lambda: replay(log, EXTENSIONS, scheduler=address, connect_timeout=2), 30)
    assert time.monotonic() - started < seconds
    assert repr(address) in str(caught.value)
    return caught.value


def test_an_address_nothing_answers_at_is_refused_by_name_in_seconds() -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    refused_within(10, address, "no Dask scheduler answered within 2 s|cannot connect")


def test_a_port_that_accepts_but_never_speaks_dask_is_no_hang() -> None:
    # distributed.Client's own timeout bounds the TCP connect, not the handshake after it:
    # without the replay's deadline this waits for ever.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        refused_within(10, address, "no Dask scheduler answered within 2 s")


def test_bad_addresses_and_names_are_refused_with_what_was_wrong(client: Any) -> None:
    refused_within(5, "bogus://127.0.0.1:8786", "unknown address scheme 'bogus'")
    refused_within(5, "tcp://127.0.0.1:port", "cannot connect")
    worker = next(iter(client.scheduler_info()["workers"]))
    refused_within(10, worker, "a Dask Worker answers there, not a scheduler")
    with pytest.raises(ReplayError, match="scheduler 'cluster': not one of Dask's"):
        replay(Path(__file__), EXTENSIONS, scheduler="cluster")


def test_paths_the_workers_lack_are_named_before_the_replay(
    client: Any, log: Path, tmp_path: Path
) -> None:
    """The workers open the log and load the plugins at the caller's paths: a folder
    that is here but not on the workers is refused naming them, not a FileNotFoundError
    from inside a task. (On one machine the workers see what we see: the folder goes away
    after the replay has started, at its first progress call, before the workers run.)"""
    import shutil

    plugins = _plugin(tmp_path / "plugins", "pid-veto", PID_VETO, {"submission.beforeSave": {}})

    def vanish(done: int, _total: int, _events: int) -> None:
        if done == 0:
            shutil.rmtree(plugins)

    with pytest.raises(ReplayError, match=r"the plugins folder .* is not on worker") as caught:
        bounded(lambda: replay(log, plugins, scheduler=client, blocksize=BLOCK, progress=vanish))
    for worker in client.scheduler_info()["workers"]:
        assert worker in str(caught.value)
    assert str(plugins.resolve()) in str(caught.value)
