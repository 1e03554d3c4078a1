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
