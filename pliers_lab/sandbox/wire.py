"""The wire between supervisor and worker: length-prefixed JSON frames, capped and checked.

Two pipes created by the supervisor before the worker starts (a pipe round trip costs
~6 us here against ~10 us for a unix socketpair, and carries no file descriptors).

A frame is a 4-byte big-endian length and a UTF-8 JSON object with a string ``t`` (its
type). Nothing else crosses: never pickle, whose loading would run code the worker chose.
Everything the worker sends is the plugin's word, so the host side checks each frame on
arrival: the size cap is checked on the header before the body is read, the body must be
strict JSON (no NaN/Infinity, no trailing bytes, valid UTF-8) nested at most
``MAX_DEPTH`` deep. A violation is a ``WireError``; the supervisor charges it to the plugin
and restarts the worker, which is how it resynchronises.

The codec is orjson where it is installed (``load_fast_codec``; ~5x faster than the C
accelerator both ways), kept to exactly what the stdlib codec gives: a frame orjson would
read or write differently goes through the stdlib path instead, which stays the reference
(``_json``'s scanner and encoder directly: the ``json`` package imports ``re``, which alone
costs the worker ~5 ms of its cold start). orjson differs on: integers beyond 64 bits
(it reads them as floats, and refuses to write them), NaN and infinities (written as
``null``), lone surrogates, non-string keys, subclasses of the built-in types, dataclasses
and datetimes (native to orjson, the encoder's ``default`` for the stdlib), whitespace
around the object. Decoding sends every body with a run of 19 or more digits, and every
body orjson refuses, to the stdlib scanner; encoding sends to the stdlib encoder every
message orjson refuses and every one whose output holds a ``null`` that no ``None`` at
the message's top level explains. The checks on what a worker sends (strict JSON, UTF-8,
the nesting and size caps) apply to both paths; what a frame carries decodes to the same
values either way. orjson writes UTF-8 where the stdlib writes ``\\u`` escapes: the same
text, fewer bytes. orjson writes enum members (their value) and UUIDs (their canonical
string) itself; every stdlib ``default`` here does the same (``as_json``), as the host's
already did for host data, so that a frame's fate never depends on the path it took.

Waiting for an answer spins briefly before it sleeps. On this kind of machine (a VM with 2
vCPUs) waking a process that sleeps on another CPU costs ~20 us, so a blocking round trip
costs 6 us or 50 us depending on where the scheduler put the two ends. For the first
``spin_s`` after a send the host retries a non-blocking read and yields its CPU in between
(``sched_yield``: any runnable thread, the worker included, goes first), which answers a
short handler without either side sleeping. Longer handlers then pay a sleep as before;
the CPU spent spinning is bounded by ``spin_s`` per call. The worker does the same, for a
shorter while, after each answer: a host firing hooks back to back finds it awake.
"""

from __future__ import annotations

import _json
import _struct
import os
import select
import sys
import time

TYPE_CHECKING = False  # not typing's: the worker must not pay for importing typing
if TYPE_CHECKING:
    from typing import Any, ClassVar

__all__ = [
    "DEFAULT_SPIN_S",
    "DEFAULT_WORKER_SPIN_S",
    "MAX_DEPTH",
    "MAX_FRAME",
    "ORJSON_MARK",
    "PROTOCOL_VERSION",
    "Channel",
    "WireClosed",
    "WireError",
    "as_json",
    "decode",
    "encode",
    "fast_codec",
    "load_fast_codec",
    "read_frame_blocking",
    "write_blocking",
]

#: Bumped whenever a frame's meaning changes; the handshake refuses any other version.
PROTOCOL_VERSION = 2  # 2: ORJSON_MARK in the header of the host's frames
#: Largest frame body either side accepts (bytes).
MAX_FRAME = 8 << 20
#: Deepest nesting of lists/objects accepted from a worker.
MAX_DEPTH = 64
_READ_CHUNK = 1 << 16
_HEADER = _struct.Struct(">I")  # a frame's 4-byte big-endian length
_header = _HEADER.pack
_size_of = _HEADER.unpack_from
_read, _sched_yield, _monotonic = os.read, os.sched_yield, time.monotonic
#: Header bit of a host's frame whose body orjson wrote (``encode(mark=...)``): orjson reads
#: it back exactly (it writes no integer beyond 64 bits, no lone surrogate, floats in their
#: shortest form), so the worker skips the checks ``decode`` makes for the stdlib's sake.
#: Only the worker reads it (the host is trusted); the host never honours it.
ORJSON_MARK = 1 << 31
#: How long the host spins (read, yield, read...) for an answer before it sleeps.
DEFAULT_SPIN_S = 100e-6
#: How long a worker spins for the next call after answering one.
DEFAULT_WORKER_SPIN_S = 50e-6


class WireError(Exception):
    """A frame broke the protocol (size, encoding, JSON, nesting, shape)."""


class WireClosed(Exception):
    """The other end closed the wire (the worker exited or was killed)."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class _ScanContext:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_no_constant)
    memo: ClassVar[dict[str, Any]] = {}


def as_json(value: Any) -> Any:
    """What every encoder makes of an enum member (its value) and a UUID (its canonical
    string), as orjson writes them natively: the same on both paths. ``TypeError`` for
    anything else (the modules are looked up, never imported: a worker that has neither
    holds neither)."""
    enum = sys.modules.get("enum")
    if enum is not None and isinstance(value, enum.Enum):
        return value.value
    uuid = sys.modules.get("uuid")
    if uuid is not None and isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


_not_json = as_json


_scan = _json.make_scanner(_ScanContext())  # type: ignore[arg-type]

# orjson, when ``load_fast_codec`` found it: its dumps, loads and options, else None.
_dumps: Any = None
_loads: Any = None
_DUMP_OPTIONS = 0
_fast_name: str | None = None
#: Types the stdlib encoder writes itself, subclasses included (orjson hands their
#: subclasses, with OPT_PASSTHROUGH_SUBCLASS, to ``default``: the stdlib path then).
_STDLIB_NATIVE = (str, int, float, list, tuple, dict)
#: A body with a run of this many digits may hold an integer beyond 64 bits, which orjson
#: would read as a float: the stdlib scanner reads it.
_LONG_RUN = b"0" * 19
_DIGITS = bytes.maketrans(b"123456789", b"000000000")


class _Encoder:
    """The stdlib encoder for one ``default``, and the same ``default`` for orjson."""

    __slots__ = ("fast_default", "stdlib")

    def __init__(self, default: Any) -> None:
        # No ``markers`` dict for cycle detection: the encoder would keep one for its whole life,
        # so two threads encoding the same object at once (the same form in two partitions of a
        # threaded replay) would see each other's marks and report a cycle that is not there (and
        # an encode that failed half-way would leave marks behind). A real cycle ends in
        # RecursionError instead, like very deep nesting; ``encode`` tells the two apart.
        self.stdlib = _json.make_encoder(
            None, default, _json.encode_basestring_ascii, None, ":", ",", False, False, False
        )

        def fast_default(value: Any) -> Any:
            if isinstance(value, _STDLIB_NATIVE):  # a subclass: the stdlib writes it
                raise TypeError("for the stdlib encoder")
            return default(value)

        self.fast_default = fast_default


_encode_plain = _Encoder(_not_json)


def _import_orjson() -> Any:
    try:
        return __import__("orjson")
    except ImportError:
        return None


def load_fast_codec() -> bool:
    """Use orjson from now on, if it can be imported; whether it is in use.

    The worker runs with ``-S`` (no site-packages on ``sys.path`` until its lockdown): it
    looks in its interpreter's site-packages (the venv's, then the base's), appended after
    the standard library so that nothing there shadows a stdlib module, for this import
    only. Called before the lockdown: orjson's own imports read the standard library.
    """
    global _dumps, _loads, _DUMP_OPTIONS, _fast_name
    if _dumps is not None:
        return True
    orjson = _import_orjson()
    if orjson is None:
        version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
        venv = os.path.dirname(os.path.dirname(sys.executable))
        for prefix in (venv, sys.base_prefix):
            site = os.path.join(prefix, "lib", version, "site-packages")
            if not os.path.isdir(os.path.join(site, "orjson")) or site in sys.path:
                continue
            sys.path.append(site)
            try:
                orjson = _import_orjson()
            finally:
                sys.path.remove(site)
            break
    if orjson is None:
        return False
    _DUMP_OPTIONS = (
        orjson.OPT_PASSTHROUGH_DATACLASS
        | orjson.OPT_PASSTHROUGH_DATETIME
        | orjson.OPT_PASSTHROUGH_SUBCLASS
    )
    _loads = orjson.loads
    _fast_name = f"orjson {orjson.__version__}"
    _dumps = orjson.dumps
    return True


if not sys.flags.no_site:  # the host (a worker, run with -S, loads it before its lockdown)
    load_fast_codec()


def fast_codec() -> str | None:
    """The fast codec in use (``"orjson <version>"``), or None: the stdlib's only."""
    return _fast_name


def make_encoder(default: Any) -> Any:
    """An encoder like ``encode``'s, with ``default`` for non-JSON values (host data);
    safe to share between threads."""
    return _Encoder(default)


def encode(
    message: dict[str, Any], limit: int = MAX_FRAME, encoder: Any = None, mark: int = 0
) -> bytes:
    """One frame for ``message``; ``TypeError``/``ValueError`` if not JSON, ``WireError``
    if larger than ``limit``. ``mark=ORJSON_MARK`` (the host's frames to a worker): a body
    orjson wrote says so in its header, and the worker reads it with orjson alone."""
    enc = encoder or _encode_plain
    if _dumps is not None:
        try:
            body = _dumps(message, enc.fast_default, _DUMP_OPTIONS)
        except TypeError:  # orjson's JSONEncodeError: the stdlib path says why, or writes it
            pass
        else:
            # NaN and infinities become ``null`` in orjson (the stdlib refuses them): a
            # ``null`` that the message's own top-level ``None`` values do not account for
            # sends it the stdlib way.
            # (``find``, not ``in``: ``in`` tries the operand as an integer first, and
            # raising and clearing that TypeError costs more than the search.)
            if body.find(b"null") < 0 or body.count(b"null") == _top_nones(message):
                if len(body) > limit:
                    raise WireError(f"frame of {len(body)} bytes exceeds the {limit}-byte cap")
                return _header(len(body) | mark) + body  # type: ignore[no-any-return]
    try:
        body = "".join(enc.stdlib(message, 0)).encode("ascii")
    except RecursionError:
        raise ValueError(_too_deep(message)) from None
    if len(body) > limit:
        raise WireError(f"frame of {len(body)} bytes exceeds the {limit}-byte cap")
    return _header(len(body)) + body


def _top_nones(message: dict[str, Any]) -> int:
    n = 0
    for value in message.values():
        if value is None:
            n += 1
    return n


def _too_deep(message: Any) -> str:
    """Why encoding ``message`` recursed too deep: a container inside itself, or nesting
    deeper than Python's recursion limit (walked without recursion, on the error path)."""
    on_path: set[int] = set()
    stack: list[tuple[Any, Any]] = [(message, None)]
    while stack:
        item, children = stack[-1]
        if children is None:
            if id(item) in on_path:
                return "Circular reference detected: the message contains itself"
            on_path.add(id(item))
            values = item.values() if isinstance(item, dict) else item
            children = iter([v for v in values if isinstance(v, dict | list | tuple)])
            stack[-1] = (item, children)
        child = next(children, None)
        if child is None:
            on_path.discard(id(item))
            stack.pop()
        else:
            stack.append((child, None))
    return (
        "maximum recursion depth exceeded while encoding: the message is nested deeper "
        "than Python's recursion limit"
    )


def _depth_ok(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, dict | list))
    return True


def decode(body: bytes, max_depth: int | None = MAX_DEPTH) -> dict[str, Any]:
    """Parse and check one frame body; ``WireError`` says what is wrong with it.
    ``max_depth=None``: the sender is trusted (the host), its nesting is not checked."""
    value: Any = None
    if (
        _loads is not None
        and body[:1] == b"{"  # orjson allows whitespace around the value; we do not
        and body[-1:] == b"}"
        and body.translate(_DIGITS).find(_LONG_RUN) < 0  # not ``in``: see ``encode``
    ):
        try:
            value = _loads(body)
        except ValueError:  # JSONDecodeError: the stdlib scanner has the last word
            value = None
        else:  # an object (the body starts with "{"): the usual frame returns here
            # Nesting d deep takes 2d brackets: a body of at most 2 * max_depth bytes
            # cannot be too deep, and is not counted.
            if type(value.get("t")) is str and (
                max_depth is None
                or len(body) <= 2 * max_depth
                or body.count(b"[") + body.count(b"{") <= max_depth
            ):
                return value  # type: ignore[no-any-return]
    if value is None:
        try:
            text = body.decode("utf-8")
            value, end = _scan(text, 0)
        except StopIteration as exc:
            raise WireError(f"malformed JSON at byte {exc.value}") from None
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise WireError(f"malformed frame: {type(exc).__name__}: {str(exc)[:200]}") from None
        if end != len(text):
            raise WireError(f"trailing bytes after the JSON value at {end}")
    if not isinstance(value, dict) or not isinstance(value.get("t"), str):
        raise WireError(f"a frame must be an object with a string 't', got {type(value).__name__}")
    if (
        max_depth is not None
        and body.count(b"[") + body.count(b"{") > max_depth
        and not _depth_ok(value, max_depth)
    ):
        raise WireError(f"frame nested deeper than {max_depth}")
    return value


class Channel:
    """The supervisor's end: non-blocking, every wait bounded by a deadline.

    The worker may stop reading or flood the wire; neither may block the host past the
    deadline it gives, and no frame larger than ``max_frame`` is ever buffered whole.
    """

    __slots__ = (
        "_buf",
        "_poll_in",
        "_poll_out",
        "_spin_until",
        "fd",
        "max_frame",
        "out_fd",
        "received",
        "sent",
        "spin_s",
    )

    def __init__(
        self,
        fd: int,
        out_fd: int | None = None,
        max_frame: int = MAX_FRAME,
        spin_s: float = DEFAULT_SPIN_S,
    ) -> None:
        self.fd = fd
        self.out_fd = fd if out_fd is None else out_fd
        self.max_frame = max_frame
        # Spinning is pointless with one CPU for both ends (as for adaptive mutexes).
        self.spin_s = spin_s if len(os.sched_getaffinity(0)) > 1 else 0.0
        self._spin_until = 0.0
        os.set_blocking(fd, False)
        os.set_blocking(self.out_fd, False)
        self._buf = bytearray()
        self.sent = 0
        """Bytes written to the worker (its rchar counts them: the usage figures less them)."""
        self.received = 0
        """Bytes read from the worker (in its wchar)."""
        self._poll_in = select.poll()
        self._poll_in.register(fd, select.POLLIN)
        self._poll_out = select.poll()
        self._poll_out.register(self.out_fd, select.POLLOUT)

    def send(self, frame: bytes, deadline: float) -> None:
        """Write a whole frame; ``TimeoutError`` if the worker stops reading."""
        try:  # the usual frame: one write takes it whole
            n = os.write(self.out_fd, frame)
        except BlockingIOError:
            n = 0
        except (BrokenPipeError, ConnectionResetError):
            raise WireClosed("the worker closed the wire") from None
        self.sent += n
        if n != len(frame):
            self._send_rest(memoryview(frame)[n:], deadline)
        if self.spin_s:
            self._spin_until = time.monotonic() + self.spin_s

    def _send_rest(self, view: memoryview, deadline: float) -> None:
        while view:
            wait = deadline - time.monotonic()
            if wait <= 0 or not self._poll_out.poll(wait * 1000):
                raise TimeoutError("the worker stopped reading the wire")
            try:
                n = os.write(self.out_fd, view)
            except BlockingIOError:
                n = 0
            except (BrokenPipeError, ConnectionResetError):
                raise WireClosed("the worker closed the wire") from None
            self.sent += n
            view = view[n:]

    def buffered(self) -> bool:
        """Whether bytes of a next frame were already read (no system call)."""
        return bool(self._buf)

    def recv(self, deadline: float) -> dict[str, Any] | None:
        """The next frame, or None at the deadline. Raises WireError / WireClosed."""
        buf = self._buf
        poll = self._poll_in.poll
        while True:
            if buf:
                frame = self._from_buffer()
                if frame is not None:
                    return frame
            now = _monotonic()
            if now < self._spin_until and now < deadline:
                # The answer of a short handler arrives while we yield (module doc): yield
                # first (it cannot be there yet just after the send; on one CPU the worker
                # answers during the yield), then look; a poll that finds nothing costs
                # less than a read raising BlockingIOError.
                _sched_yield()
                if not poll(0):
                    continue
            else:
                wait = deadline - now
                if not poll(wait * 1000 if wait > 0 else 0):
                    if _monotonic() >= deadline:
                        return None
                    continue
            try:
                chunk = _read(self.fd, _READ_CHUNK)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                chunk = b""
            n = len(chunk)
            if not n:
                raise WireClosed("the worker closed the wire")
            self.received += n
            if n > 4 and not buf:  # the usual answer: one read, one whole frame
                (size,) = _size_of(chunk)
                if size + 4 == n and size <= self.max_frame:
                    return decode(chunk[4:])
            buf += chunk

    def _from_buffer(self) -> dict[str, Any] | None:
        """The frame whole in the buffer, if there is one (its header checked first)."""
        buf = self._buf
        if len(buf) < 4:
            return None
        (size,) = _size_of(buf)
        if size > self.max_frame:
            raise WireError(f"frame header announces {size} bytes (cap {self.max_frame})")
        if len(buf) < 4 + size:
            return None
        body = bytes(buf[4 : 4 + size])
        del buf[: 4 + size]
        return decode(body)

    def close(self) -> None:
        for fd in {self.fd, self.out_fd}:
            try:  # noqa: SIM105 - contextlib would cost the worker an import
                os.close(fd)
            except OSError:
                pass


def write_blocking(fd: int, frame: bytes) -> None:
    """The worker's send: a blocking write of the whole frame."""
    n = os.write(fd, frame)  # the usual frame: one write takes it whole
    if n != len(frame):
        view = memoryview(frame)[n:]
        while view:
            view = view[os.write(fd, view) :]


def _decode_marked(body: bytes) -> dict[str, Any]:
    """A host frame orjson wrote (``ORJSON_MARK``): orjson reads it alone."""
    if _loads is not None:
        try:
            value = _loads(body)
        except ValueError:
            pass
        else:
            if type(value) is dict and type(value.get("t")) is str:
                return value
    return decode(body, None)  # no orjson here, or not what the mark said: checked


def read_frame_blocking(
    fd: int, buf: bytearray, spin_s: float = 0.0, ready: Any = None
) -> dict[str, Any]:
    """The worker's receive (the host is trusted, but the cap still applies).

    With ``spin_s`` and ``ready`` (a ``select.poll`` watching ``fd``) it first checks and
    yields for up to ``spin_s`` before it blocks: a host firing hooks back to back then
    finds the worker awake (module doc).
    """
    spin_until = time.monotonic() + spin_s if spin_s else 0.0
    while True:
        if len(buf) >= 4:
            size = int.from_bytes(buf[:4], "big") & ~ORJSON_MARK  # decoded with its checks
            if size > MAX_FRAME:
                raise WireError(f"frame of {size} bytes from the host exceeds the cap")
            if len(buf) >= 4 + size:
                body = bytes(buf[4 : 4 + size])
                del buf[: 4 + size]
                return decode(body, max_depth=None)  # the host is trusted
        if spin_until:
            # Yield first: just after an answer the host needs the CPU to read it (on one
            # CPU), and its next call cannot be there before it has.
            os.sched_yield()
            if not ready.poll(0):
                if time.monotonic() < spin_until:
                    continue
                spin_until = 0.0
        chunk = os.read(fd, _READ_CHUNK)
        if not chunk:
            raise WireClosed("the host closed the wire")
        n = len(chunk)
        if n > 4 and not buf:  # the usual call: one read, one whole frame
            (size,) = _size_of(chunk)
            if size & ORJSON_MARK:
                size ^= ORJSON_MARK
                if size + 4 == n and size <= MAX_FRAME:
                    return _decode_marked(chunk[4:])
            elif size + 4 == n and size <= MAX_FRAME:
                return decode(chunk[4:], None)
        buf += chunk
