"""The wire's fast codec (orjson) against the stdlib path it must match exactly.

Every frame is decoded and encoded both ways here: with orjson (``wire.load_fast_codec``,
the host's and every worker's codec) and with the stdlib path alone (orjson switched off),
and the outcomes compared by ``repr`` (so ``1`` and ``1.0``, ``0.0`` and ``-0.0`` differ).
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import math
import os
import socket
import time
import uuid
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sandbox.helpers import MakePlugin

from pliers_lab import Engine
from pliers_lab.sandbox import ProcessRuntime, wire
from pliers_lab.sandbox._supervisor import HOST_ENCODER
from pliers_lab.sandbox.wire import (
    Channel,
    WireError,
    decode,
    encode,
    fast_codec,
    make_encoder,
)
from pliers_lab.sandbox.worker import _jsonable

pytestmark = pytest.mark.skipif(fast_codec() is None, reason="orjson is not installed")


@pytest.fixture
def stdlib_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(wire, "_dumps", None)
    monkeypatch.setattr(wire, "_loads", None)
    yield


def _outcome(call: Callable[[], Any]) -> tuple[str, str]:
    try:
        return "ok", repr(call())
    except (WireError, TypeError, ValueError) as exc:
        return type(exc).__name__, ""


def _both(call: Callable[[], Any]) -> tuple[tuple[str, str], tuple[str, str]]:
    """``call``'s outcome with orjson, then with the stdlib path alone."""
    fast = _outcome(call)
    saved = wire._dumps, wire._loads
    wire._dumps = wire._loads = None
    try:
        slow = _outcome(call)
    finally:
        wire._dumps, wire._loads = saved
    return fast, slow


# ----------------------------------------------------------------------------- decode
BODIES = [
    b'{"t":"x","n":123456789012345678901234567890}',  # orjson: a float
    b'{"t":"x","n":-9223372036854775809}',  # below int64: orjson, a float
    b'{"t":"x","n":18446744073709551616}',  # above uint64
    b'{"t":"x","n":18446744073709551615}',
    b'{"t":"x","n":-9223372036854775808}',
    b'{"t":"x","n":[1,-0,0.0,-0.0,1E+2,1e-7,5e-324,2.2250738585072011e-308]}',
    b'{"t":"x","n":0.1000000000000000055511151231257827}',
    b'{"t":"x","n":1e400}',  # the stdlib reads inf: what it did, it does
    b'{"t":"x","n":-1e400}',
    b'{"t":"x","n":1.7976931348623159e308}',
    b'{"t":"x","n":1e-400}',
    b'{"t":"x","n":NaN}',
    b'{"t":"x","n":-Infinity}',
    b'{"t":"x","s":"\\ud800"}',  # a lone surrogate: orjson refuses, the stdlib reads it
    b'{"t":"x","s":"\\udc00\\ud800"}',
    b'{"t":"x","s":"\\ud83d\\ude00"}',
    b'{"t":"x","s":"\xed\xa0\x80"}',  # a surrogate in UTF-8: invalid
    b'{"t":"x","s":"\xff"}',
    b'{"t":"x","s":"\x01"}',
    b'{"t":"x","s":"\x7f \xc3\xa9 \\u00e9 \\/ \\b\\f\\n\\r\\t \\u0000"}',
    b'{"t":"x","s":"\\x"}',
    b' {"t":"x"}',
    b'{"t":"x"} ',
    b'{"t":"x"}\n',
    b'\xef\xbb\xbf{"t":"x"}',
    b'{"t" : "x" , "a" : [ 1 , 2 ] }',
    b'{"t":"x","a":1,"a":2,"b":3,"a":4}',
    b'{"t":"x","":{"":[]}}',
    b'{"t":"x"}{"t":"y"}',
    b'{"t":1}',
    b'{"v":1}',
    b'{"t":"x","d":' + b"[" * 70 + b"]" * 70 + b"}",
    b'{"t":"x","d":' + b"[" * 2000 + b"]" * 2000 + b"}",
    b'{"t":"x","n":' + b"9" * 5000 + b"}",
    b'{"t":"x","n":01}',
    b'{"t":"x","n":1.}',
    b'{"t":"x","n":+1}',
    b'{"t":"x",}',
    b'{"t":"x","n":true,"f":false,"z":null}',
]


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("max_depth", [wire.MAX_DEPTH, None])
def test_decode_matches_the_stdlib_path(body: bytes, max_depth: int | None) -> None:
    fast, slow = _both(lambda: decode(body, max_depth=max_depth))
    assert fast == slow


def test_decode_refuses_what_it_refused(stdlib_only: None) -> None:
    # What the fast path must keep refusing from a worker (the stdlib path decides).
    for body in (b' {"t":"x"}', b'{"t":"x"} ', b'{"t":"x","n":NaN}', b'{"t":"x","s":"\xff"}'):
        with pytest.raises(WireError):
            decode(body)


def test_integers_beyond_64_bits_stay_integers() -> None:
    value = decode(b'{"t":"x","n":[123456789012345678901234567890,-9223372036854775809]}')
    assert value["n"] == [123456789012345678901234567890, -9223372036854775809]
    assert all(type(n) is int for n in value["n"])


def test_whitespace_around_the_object_is_refused() -> None:
    for body in (b' {"t":"x"}', b'{"t":"x"} ', b'\n{"t":"x"}'):
        with pytest.raises(WireError):
            decode(body)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),  # surrogates included
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_round_trips_match_the_stdlib_path(value: Any) -> None:
    message = {"t": "x", "v": value}
    fast, slow = _both(lambda: decode(encode(message)[4:]))
    assert fast == slow == ("ok", repr(message))
    stdlib_body = _both(lambda: encode(message))[1]
    assert stdlib_body[0] == "ok"


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(0, 25))
def test_floats_parse_as_the_stdlib_parses_them(x: float, digits: int) -> None:
    for text in (repr(x), f"{x:.{digits}e}", f"{abs(x):.{digits}f}"):
        body = b'{"t":"x","v":' + text.encode() + b"}"
        fast, slow = _both(lambda body=body: decode(body))  # type: ignore[misc]
        assert fast == slow


# ----------------------------------------------------------------------------- encode
@dataclasses.dataclass
class Point:
    x: int


class Color(enum.Enum):
    RED = (1, 2)


class Level(enum.IntEnum):
    HIGH = 3


class Word(str):
    def __str__(self) -> str:
        return "not this"


class Num(int):
    def __repr__(self) -> str:
        return "not this"


class Ratio(float):
    pass


class Ordered(dict[str, Any]):
    def items(self) -> Any:  # the stdlib encoder asks items(); orjson would not
        return [(k, v * 2) for k, v in super().items()]


Pair = namedtuple("Pair", "a b")


HOST_VALUES: list[Any] = [
    (1, 2, (3,)),
    {1: "a", False: "b", None: "c", 1.5: "d", "e": "e"},
    2**64,
    -(2**63) - 1,
    2**64 - 1,
    math.nan,
    -math.inf,
    [None, math.nan],
    {"a": None, "b": [1.5, math.inf]},
    None,
    [None, "null"],
    Point(1),
    datetime.datetime(2026, 12, 3, 21, 0, 0, 123456, tzinfo=datetime.UTC),
    datetime.datetime(2026, 12, 3),
    datetime.date(2026, 12, 3),
    datetime.time(21, 0, 0, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
    decimal.Decimal("1.10"),
    uuid.UUID(int=7),
    Path("/a/b"),
    Color.RED,
    Level.HIGH,
    {3, 1, 2},
    Word("word"),
    Num(5),
    Ratio(1.5),
    Ordered(a=1),
    OrderedDict(a=1),
    Pair(1, [2]),
    "\ud800 lone",
    "é ☃ \U0001f600",
    b"bytes",
    [[[[[[]]]]]],
]


@pytest.mark.parametrize("value", HOST_VALUES, ids=repr)
def test_host_data_crosses_as_with_the_stdlib(value: Any) -> None:
    """What a handler sees of host data: the stdlib JSON round trip's value, exactly."""
    message = {"t": "call", "data": value, "meta": {"executionId": "e", "n": None}}
    fast, slow = _both(lambda: decode(encode(message, encoder=HOST_ENCODER)[4:]))
    assert fast == slow


def test_host_nan_is_still_refused() -> None:
    for value in (math.nan, [None, math.inf], {"a": None, "b": -math.inf}):
        with pytest.raises(ValueError, match="Out of range float"):
            encode({"t": "call", "data": value, "z": None}, encoder=HOST_ENCODER)


def test_deep_and_circular_host_data() -> None:
    deep: list[Any] = []
    for _ in range(300):  # deeper than orjson's 254 levels: the stdlib encodes it
        deep = [deep]
    assert decode(encode({"t": "x", "v": deep})[4:], max_depth=None)["v"] == deep
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="contains itself"):
        encode({"t": "x", "v": loop})


def test_top_level_none_keeps_the_fast_path() -> None:
    """A ``null`` the message's own top-level None explains is no NaN: orjson's frame
    stands (the stdlib encoder is not asked); any other sends it the stdlib way."""

    def refuse(value: Any, indent: int) -> Any:
        raise AssertionError("the stdlib encoder was asked")

    enc = make_encoder(_jsonable)
    enc.stdlib = refuse
    done = {"t": "done", "id": 1, "ok": True, "value": None}
    assert decode(encode(done, encoder=enc)[4:]) == done
    with pytest.raises(AssertionError, match="stdlib"):
        encode({"t": "done", "id": 1, "ok": True, "value": [None]}, encoder=enc)


def test_worker_answers_with_enums_and_uuids_cross() -> None:
    """A plugin's enum member crosses as its value and a UUID as its canonical string,
    as host data does (the stdlib encoder refused them, orjson writes them: both paths
    now do); what else was refused still is (sets, datetimes, dataclasses, NaN)."""
    enc = make_encoder(_jsonable)
    ident = uuid.UUID(int=7)
    answer = {"t": "done", "id": 1, "ok": True, "value": [Color.RED, ident, Level.HIGH]}
    fast, slow = _both(lambda: decode(encode(answer, encoder=enc)[4:])["value"])
    assert fast == slow == ("ok", repr([[1, 2], str(ident), 3]))
    for refused in ({1}, datetime.date(2026, 1, 1), Point(1), math.nan):
        message = {"t": "done", "value": refused}
        fast, slow = _both(lambda message=message: encode(message, encoder=enc))  # type: ignore[misc]
        assert fast[0] == slow[0] != "ok"


# ----------------------------------------------------------------------------- workers
PLUGIN = """
import enum, uuid
from pliers_lab import hook

class Color(enum.Enum):
    RED = "red"

@hook("submission.afterSave")
def after(ctx):
    return {"seen": ctx.data, "color": Color.RED, "id": uuid.UUID(int=7)}
"""


def test_workers_use_the_fast_codec(
    sandbox: Engine, runtime: ProcessRuntime, make_plugin: MakePlugin
) -> None:
    """The first worker (a fresh interpreter, ``-S``) and one forked by the warm
    template both load orjson before their lockdown, and answer through it."""
    sandbox.load(make_plugin("first", PLUGIN))
    template = runtime.template
    assert template is not None and template.wait_up()
    sandbox.load(make_plugin("forked", PLUGIN))
    data = {"big": 2**70, "s": "\ud800", "tuple": (1, 2), "keys": {1: "a"}, "none": None}
    for name in ("first", "forked"):
        worker = runtime.process(name).worker
        assert worker is not None and (worker.template is not None) == (name == "forked")
        assert worker.codec is not None and worker.codec.startswith("orjson")
    result = sandbox.fire("submission.afterSave", data)
    for outcome in result.outcomes:
        assert outcome.error is None
        assert outcome.value == {
            "seen": {
                "big": 2**70,
                "s": "\ud800",
                "tuple": [1, 2],
                "keys": {"1": "a"},
                "none": None,
            },
            "color": "red",
            "id": str(uuid.UUID(int=7)),
        }


# ----------------------------------------------------------------------------- output
PRINTER = """
import sys
from pliers_lab import hook

@hook("submission.afterSave")
def after(ctx):
    if ctx.data.get("quiet"):
        return "quiet"
    print("x" * ctx.data["n"], end="")  # no newline: flushed when the call ends
    sys.stderr.write("warned\\n")
    return "printed"
"""


def test_output_is_capped_per_call_and_flushed_at_its_end(
    tmp_path: Path, make_plugin: MakePlugin
) -> None:
    """Each call gets the whole output cap (the worker resets the outputs a call wrote to,
    and only those), and a last line without its newline is sent when the call ends."""
    from pliers_lab.sandbox import Limits, SandboxPolicy

    policy = SandboxPolicy(data_root=tmp_path / "data", limits=Limits(max_output_bytes=30))
    runtime = ProcessRuntime(policy)
    with Engine(default_isolation="process") as engine:
        engine.register_runtime(runtime)
        engine.load(make_plugin("printer", PRINTER))
        for data in ({"n": 25}, {"quiet": True}, {"n": 25}, {"n": 40}):
            assert engine.fire("submission.afterSave", data).outcomes[0].error is None
        messages = [e.message for e in engine.logs.for_plugin("printer")]
    runtime.close()
    assert messages.count("x" * 25) == 2  # the second call of 25 had its whole cap again
    assert messages.count("warned") == 3
    assert "x" * 30 + "\n[output truncated at 30 characters]" in messages


@pytest.mark.parametrize("extra", [0, 1])
def test_nesting_cap_at_its_edge(extra: int) -> None:
    """Short bodies skip the bracket count (2 bytes a level): the cap holds at its edge."""
    n = wire.MAX_DEPTH - 1 + extra  # the object itself is one level
    body = b'{"t":"","d":' + b"[" * n + b"]" * n + b"}"
    if extra:
        fast, slow = _both(lambda: decode(body))
        assert fast == slow == ("WireError", "")
    else:
        assert decode(body)["d"] is not None


# ----------------------------------------------------------------------------- the mark
def _through_pipe(frames: list[bytes]) -> list[dict[str, Any]]:
    r, w = os.pipe()
    try:
        buf = bytearray()
        out = []
        for frame in frames:
            os.write(w, frame)
            out.append(wire.read_frame_blocking(r, buf))
        os.write(w, b"".join(frames))  # several at once: the buffered path
        out += [wire.read_frame_blocking(r, buf) for _ in frames]
        return out
    finally:
        os.close(r)
        os.close(w)


def test_host_frames_orjson_wrote_are_marked_and_read_alike() -> None:
    """The host's frames to a worker say in their header when orjson wrote them (the
    worker then reads them with orjson alone); stdlib-written ones are not marked, and
    every frame reads as it did."""
    plain = {"t": "call", "data": {"a": [1, 2.5, "é", True, 2**64 - 1]}, "id": 1}
    big = {"t": "call", "data": {"n": 2**70, "s": "\ud800"}, "id": 2}
    marked = encode(plain, encoder=HOST_ENCODER, mark=wire.ORJSON_MARK)
    unmarked = encode(big, encoder=HOST_ENCODER, mark=wire.ORJSON_MARK)
    assert marked[0] & 0x80 and not unmarked[0] & 0x80
    assert not encode(plain)[0] & 0x80  # only when asked
    assert _through_pipe([marked, unmarked]) == [plain, big, plain, big]


def test_a_false_mark_is_read_with_the_checks() -> None:
    """A marked body orjson would read differently (not what orjson writes) is decoded
    the usual way: the mark saves work, it never changes a value."""
    body = b'{"t":"x","n":123456789012345678901234567890,"s":"\\ud800"}'
    frame = (len(body) | wire.ORJSON_MARK).to_bytes(4, "big") + body
    expected = {"t": "x", "n": 123456789012345678901234567890, "s": "\ud800"}
    assert _through_pipe([frame]) == [expected, expected]
    bad = b'{"v":1}'
    with pytest.raises(WireError):
        _through_pipe([(len(bad) | wire.ORJSON_MARK).to_bytes(4, "big") + bad])


def test_the_host_ignores_the_mark() -> None:
    """The host never trusts a worker's header: a marked size is a size over the cap."""
    a, b = socket.socketpair()
    channel = Channel(a.detach())
    body = b'{"t":"done"}'
    b.sendall((len(body) | wire.ORJSON_MARK).to_bytes(4, "big") + body)
    with pytest.raises(WireError, match="announces"):
        channel.recv(time.monotonic() + 1)
    channel.close()
    b.close()
