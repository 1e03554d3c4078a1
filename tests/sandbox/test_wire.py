"""The wire: frames, caps and checks (no processes)."""

from __future__ import annotations

import os
import socket
import time

import pytest

from pliers_lab.sandbox.wire import (
    MAX_DEPTH,
    Channel,
    WireClosed,
    WireError,
    decode,
    encode,
    make_encoder,
    read_frame_blocking,
)


def body(frame: bytes) -> bytes:
    return frame[4:]


def test_round_trip_and_header() -> None:
    msg = {"t": "call", "id": 3, "data": {"a": [1, 2.5, None, True, "é"]}}
    frame = encode(msg)
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    assert decode(body(frame)) == msg


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b'{"t": "x", "v": NaN}', "NaN"),
        (b'{"t": "x"} trailing', "trailing"),
        (b'{"t": "x"', "malformed"),
        (b"[1, 2]", "object"),
        (b'{"v": 1}', "string 't'"),
        (b'{"t": "\xff"}', "malformed"),
        (b'{"t": "x", "n": ' + b"9" * 5000 + b"}", "malformed"),
    ],
)
def test_bad_bodies_are_refused(raw: bytes, why: str) -> None:
    with pytest.raises(WireError, match=why):
        decode(raw)


def test_nesting_cap() -> None:
    deep = b'{"t": "x", "d": ' + b"[" * (MAX_DEPTH + 5) + b"]" * (MAX_DEPTH + 5) + b"}"
    with pytest.raises(WireError, match="deeper"):
        decode(deep)
    very_deep = b'{"t": "x", "d": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    with pytest.raises(WireError):
        decode(very_deep)


def test_encoding_refuses_non_json_and_oversize() -> None:
    with pytest.raises(TypeError, match="set"):
        encode({"t": "x", "v": {1, 2}})
    with pytest.raises(ValueError):
        encode({"t": "x", "v": float("nan")})
    with pytest.raises(WireError, match="cap"):
        encode({"t": "x", "v": "a" * 100}, limit=50)
    enc = make_encoder(lambda v: sorted(v))
    assert decode(body(encode({"t": "x", "v": {2, 1}}, encoder=enc)))["v"] == [1, 2]


def test_channel_caps_announced_size_before_reading() -> None:
    a, b = socket.socketpair()
    channel = Channel(a.detach(), max_frame=1024)
    b.sendall((10**9).to_bytes(4, "big"))
    with pytest.raises(WireError, match="announces"):
        channel.recv(time.monotonic() + 1)
    channel.close()
    b.close()


def test_channel_deadline_and_close() -> None:
    a, b = socket.socketpair()
    channel = Channel(a.detach())
    t0 = time.monotonic()
    assert channel.recv(t0 + 0.05) is None
    assert time.monotonic() - t0 < 1
    b.sendall(encode({"t": "log"})[:6])  # half a frame, then nothing
    assert channel.recv(time.monotonic() + 0.05) is None
    b.close()
    with pytest.raises(WireClosed):
        channel.recv(time.monotonic() + 1)
    channel.close()


def test_send_gives_up_when_the_peer_stops_reading() -> None:
    a, b = socket.socketpair()
    channel = Channel(a.detach())
    big = encode({"t": "x", "v": "a" * (4 << 20)})
    with pytest.raises(TimeoutError):
        channel.send(big, time.monotonic() + 0.1)
    channel.close()
    b.close()
    assert not os.path.exists("/nonexistent")


def test_spinning_wait_answers_keeps_deadlines_and_sees_the_end() -> None:
    """The host's spin-then-sleep wait (module doc): same answers, deadlines and ends."""
    a, b = socket.socketpair()
    channel = Channel(a.detach(), spin_s=0.05)
    # With one CPU for both ends spinning is pointless, and the channel does not.
    assert channel.spin_s == (0.05 if len(os.sched_getaffinity(0)) > 1 else 0.0)
    channel.send(encode({"t": "call"}), time.monotonic() + 1)  # starts the spin window
    assert body(b.recv(100)) == b'{"t":"call"}'
    b.sendall(encode({"t": "done", "id": 1}))
    assert channel.recv(time.monotonic() + 1) == {"t": "done", "id": 1}
    channel.send(encode({"t": "call"}), time.monotonic() + 1)
    t0 = time.monotonic()  # a deadline inside the spin window still ends the wait
    assert channel.recv(t0 + 0.01) is None
    assert time.monotonic() - t0 < 0.04
    channel.send(encode({"t": "call"}), time.monotonic() + 1)
    b.close()  # the worker's end closing is seen while spinning
    with pytest.raises(WireClosed):
        channel.recv(time.monotonic() + 1)
    channel.close()


def test_worker_read_spins_then_blocks() -> None:
    import select
    import threading

    r, w = os.pipe()
    ready = select.poll()
    ready.register(r, select.POLLIN)
    frame = encode({"t": "call", "id": 7})
    # Arrives after the 1 ms spin window: the read must fall through to a blocking read.
    threading.Timer(0.05, os.write, (w, frame)).start()
    assert read_frame_blocking(r, bytearray(), 0.001, ready) == {"t": "call", "id": 7}
    os.write(w, frame)  # arrives at once: answered from the spin
    assert read_frame_blocking(r, bytearray(), 0.05, ready)["id"] == 7
    os.close(w)
    with pytest.raises(WireClosed):
        read_frame_blocking(r, bytearray(), 0.001, ready)
    os.close(r)


def test_threads_may_encode_the_same_host_data_at_once() -> None:
    """One encoder serves every thread: two encoding the same form (whose dates go through
    the host's ``default``, letting the other thread run) must not see a cycle."""
    import datetime
    import threading

    from pliers_lab.sandbox._supervisor import HOST_ENCODER

    shared = {"form": {"fields": [{"name": f"f{i}", "at": datetime.date(2026, 1, i % 28 + 1)}
                                  for i in range(30)]}}  # fmt: skip
    failures: list[Exception] = []

    def encode_many() -> None:
        for _ in range(1500):
            try:
                encode({"t": "call", "data": shared}, encoder=HOST_ENCODER)
            except Exception as exc:  # the test reports whatever it was
                failures.append(exc)
                return

    threads = [threading.Thread(target=encode_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_a_message_that_refers_to_itself_is_named_as_such() -> None:
    data: dict[str, object] = {"name": "loop"}
    data["self"] = data
    with pytest.raises(ValueError, match="Circular reference detected: the message contains"):
        encode({"t": "call", "data": data})


def test_a_message_nested_too_deep_is_named_as_such() -> None:
    value: list[object] = []
    for _ in range(100_000):
        value = [value]
    with pytest.raises(ValueError, match="maximum recursion depth exceeded while encoding"):
        encode({"t": "reply", "value": value})
