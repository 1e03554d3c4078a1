"""The worker: one plugin, one process, locked down before the plugin's code loads.

Started by the supervisor as ``<venv python> -I -S -B _boot.py <in> <out> [<hand-off>]``
with a clean environment, ``/dev/null`` on fds 0-2 and the wire (two pipes) on the fds
named, or forked by the runtime's warm template (``_template``), which has imported this
module already and runs ``main`` in the child with the same arguments. Sequence: move the
wire to fds 3-4 and close every other fd → say hello (protocol version) → receive
``init`` → rlimits → the data file system (``layers.datafs``) → network namespace →
no_new_privs → Landlock → drop capabilities → seccomp → (forked: wait for ``go``, sent
once the host has placed it in its cgroups) → import the plugin → ``ready`` (layers
applied, functions found) → serve calls until ``stop`` or end of wire.

Frames: host→worker ``init go call life event gc ret stop``; worker→host ``hello ready
done log api attempt``. A ``call`` carries a hook's context, or an endpoint's ``request``;
``event`` runs an ``events.subscribe`` handler; ``gc`` is the ResourceOptimizer's. The
audit hook installed here only *classifies* attempts (a clear message for the host); the
kernel layers are what stop them.
"""

from __future__ import annotations

import _thread
import errno
import os
import select
import sys
import time

from . import guest
from .wire import (
    PROTOCOL_VERSION,
    WireError,
    as_json,
    encode,
    fast_codec,
    load_fast_codec,
    make_encoder,
    read_frame_blocking,
    write_blocking,
)

TYPE_CHECKING = False  # not typing's: the worker must not pay for importing typing
if TYPE_CHECKING:
    from typing import Any, ClassVar

__all__ = ["main"]

WIRE_IN, WIRE_OUT = 3, 4
#: A socket to the host, open only until the seccomp listener has been handed over.
HANDOFF = 5
LIFECYCLE = ("on_load", "on_activate", "on_deactivate", "on_unload", "on_error", "on_config_change")
_FATAL_EVENTS = {
    "subprocess.Popen",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.fork",
    "os.forkpty",
    "pty.spawn",
}
_WATCHED = _FATAL_EVENTS | {
    "os.kill",
    "os.killpg",
    "socket.__new__",
    "ctypes.dlsym",
    "open",
    "os.chmod",
    "os.chown",
    "signal.pthread_kill",
}
_MAX_ATTEMPTS = 20


class _State:
    """Mutable worker state, module-level so the audit hook can reach it cheaply.

    An instance, not the class: storing into a class's attributes (twice per call)
    would invalidate the interpreter's attribute caches for the class each time.
    """

    def __init__(self) -> None:
        self.call: int | None = None
        self.thread: int | None = None
        self.attempts: list[str] = []
        self.buf = bytearray()
        self.lock = _thread.allocate_lock()
        self.api_seq = 0
        self.subscribers: dict[int, Any] = {}  # event handlers by callback number
        self.loop: Any = None
        self.read_roots: tuple[str, ...] = ()
        self.write_roots: tuple[str, ...] = ()
        self.pid = 0
        self.quiet = False  # set while the worker's own code runs (formatting a traceback)
        self.handoff: int | None = None  # the socket the seccomp listener leaves by
        self.prefetched: tuple[str, bytes] | None = None  # the plugin's source, pre-seccomp


S = _State()


def _send(msg: dict[str, Any]) -> None:
    frame = encode(msg)
    with S.lock:
        write_blocking(WIRE_OUT, frame)


def _send_quiet(msg: dict[str, Any]) -> None:
    try:  # noqa: SIM105 - contextlib would cost the worker an import
        _send(msg)
    except Exception:  # a log line that cannot be encoded is dropped, never fatal
        pass


# ----------------------------------------------------------------------------- lockdown
def _close_other_fds(keep_handoff: bool) -> None:
    os.closerange(HANDOFF + 1 if keep_handoff else WIRE_OUT + 1, 1 << 16)


def _prefetch(info: dict[str, Any]) -> None:
    """Read a one-file plugin's source under Landlock, before seccomp: once the filter is
    on, every open waits for the host's look at its path (a round trip per file)."""
    root, main = info.get("root"), info["main"]
    target = os.path.join(root, main) if root else None
    if target and os.path.isfile(target):
        try:
            with open(target, "rb") as f:
                S.prefetched = (target, f.read())
        except OSError:
            pass  # read (and refused, and reported) again at import


def _seccomp() -> str:
    """Install the filter and hand its listener to the host, keeping no copy of it: a
    thread of the plugin holding it could answer its own refused calls."""
    from .layers import seccomp
    from .layers._sys import send_fd

    detail, listener = seccomp.apply(S.handoff is not None)
    handoff, S.handoff = S.handoff, None
    try:
        if listener is not None and handoff is not None:
            send_fd(handoff, listener)
    finally:
        if listener is not None:
            os.close(listener)
        if handoff is not None:
            os.close(handoff)
    return detail


def _lockdown(init: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Apply the requested layers in order; ``(applied, failed)`` name → detail."""
    from .layers import caps, landlock, netns, rlimits

    wanted = set(init.get("layers", ()))
    applied: dict[str, str] = {}
    failed: dict[str, str] = {}

    def step(name: str, fn: Any, *args: Any) -> None:
        if name not in wanted:
            return
        try:
            applied[name] = fn(*args)
        except Exception as exc:
            failed[name] = f"{type(exc).__name__}: {exc}"

    step("rlimits", rlimits.apply, init["rlimits"])
    data = init.get("datafs")
    if data:  # before Landlock opens the folder, while it may still mount (root)
        from .layers import datafs

        wanted.add("datafs")
        step("datafs", datafs.apply, data["source"], data["target"])
    step("netns", netns.apply)
    try:
        caps.no_new_privs()
    except OSError as exc:
        failed["no_new_privs"] = str(exc)
    step("landlock", landlock.apply, init["read"], init["write"])
    step("capabilities", caps.apply)
    _prefetch(init["plugin"])
    step("seccomp", _seccomp)
    if S.handoff is not None:  # no seccomp: nothing to hand over
        os.close(S.handoff)
        S.handoff = None
    return applied, failed


# ----------------------------------------------------------------------------- audit
def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event not in _WATCHED or S.quiet or (S.call is None and event != "open"):
        return
    try:
        what = _describe(event, args)
    except Exception:  # classification must never change what the plugin's call does
        what = f"{event} (unclassified)"
    if what is None:
        return
    if len(S.attempts) < _MAX_ATTEMPTS:
        S.attempts.append(what)
    if event in _FATAL_EVENTS:
        _send_quiet({"t": "attempt", "what": what})


def _describe(event: str, args: tuple[Any, ...]) -> str | None:
    if event == "open":
        path, mode = args[0], args[1]
        if not isinstance(path, str) or not path.startswith("/"):
            return None
        writing = isinstance(mode, str) and any(c in mode for c in "wax+")
        if isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            writing = True
        roots = S.write_roots if writing else S.read_roots + S.write_roots
        if path.startswith(roots) or path in ("/dev/null", "/etc/localtime", "/etc/ld.so.cache"):
            return None
        return f"open({path!r}, {'write' if writing else 'read'}) outside the plugin's files"
    if event in ("os.kill", "os.killpg", "signal.pthread_kill"):
        if event == "os.kill" and args[0] == S.pid:
            return None
        if event == "signal.pthread_kill":
            return None
        return f"{event}({args[0]}, {args[1]}) signalling another process"
    if event == "ctypes.dlsym":
        name = args[1] if len(args) > 1 else None
        if name in ("syscall", "ptrace", "unshare", "setns", "mount", "prctl", "process_vm_readv"):
            # Not an attempt by itself; sent ahead so a SIGSYS death can say what led to it.
            _send_quiet({"t": "attempt", "what": f"raw system calls through ctypes ({name})"})
        return None
    if event == "socket.__new__":
        if args[1] == 1:  # AF_UNIX: asyncio's socketpair wraps its fds; socket() is refused anyway
            return None
        return f"socket(family={args[1]}, type={args[2]}): new sockets are refused"
    if event in ("os.chmod", "os.chown"):
        return f"{event}({args[0]!r}): metadata changes are refused"
    if not args:
        return f"{event}(): starting processes is refused"
    detail = repr(args[1] if event in ("subprocess.Popen", "os.exec") else args[0])[:200]
    return f"{event} {detail}: starting processes is refused"


def _arm_audit(init: dict[str, Any]) -> None:
    S.pid = os.getpid()
    S.read_roots = tuple(p.rstrip("/") + "/" for p in init["read"]) + tuple(init["read"])
    S.write_roots = tuple(p.rstrip("/") + "/" for p in init["write"])
    sys.addaudithook(_audit)


# ----------------------------------------------------------------------------- plugin
def _import_plugin(info: dict[str, Any]) -> dict[str, Any]:
    import types

    root, main = info.get("root"), info["main"]
    name = "pliers_plugins." + info["name"].replace("-", "_")
    target = os.path.join(root, main) if root else main
    if root and os.path.isfile(target):
        prefetched, S.prefetched = S.prefetched, None
        if prefetched is not None and prefetched[0] == target:
            source = prefetched[1]
        else:
            with open(target, "rb") as f:
                source = f.read()
        try:
            code = compile(source, target, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:  # worded as the inline loader words it
            where = f"{target} line {getattr(exc, 'lineno', '?')}"
            raise _LoadFailure(f"{where}: {type(exc).__name__}: {exc}") from None
        module = types.ModuleType(name)
        module.__file__ = target
        sys.modules[name] = module
        exec(code, module.__dict__)
        return module.__dict__
    if root and os.path.isfile(os.path.join(target, "__init__.py")):
        import importlib.util

        spec = importlib.util.spec_from_file_location(
            name, os.path.join(target, "__init__.py"), submodule_search_locations=[target]
        )
        if spec is None or spec.loader is None:
            raise ImportError(f"{target}: cannot import this package")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module.__dict__
    import importlib

    return importlib.import_module(main).__dict__


class _LoadFailure(Exception):
    """A plugin that cannot be compiled (message already says where)."""


def _one_arg(fn: Any) -> bool:
    code = getattr(fn, "__code__", None)
    if code is None:
        return True
    positional = code.co_argcount - (1 if getattr(fn, "__self__", None) is not None else 0)
    required = positional - len(getattr(fn, "__defaults__", None) or ())
    kw_required = code.co_kwonlyargcount - len(getattr(fn, "__kwdefaults__", None) or {})
    return required <= 1 and kw_required == 0 and (positional >= 1 or bool(code.co_flags & 4))


def _coroutine(fn: Any) -> bool:
    """``inspect.iscoroutinefunction`` without importing inspect: an ``async def`` (through
    bound methods and ``functools.partial``)."""
    for _ in range(100):
        inner = getattr(fn, "__func__", None) or getattr(fn, "func", None)
        if inner is None or inner is fn:
            break
        fn = inner
    code = getattr(fn, "__code__", None)
    return bool(getattr(code, "co_flags", 0) & 0x80)  # CO_COROUTINE


def _functions(namespace: dict[str, Any], handler_names: set[str]) -> dict[str, Any]:
    found = {}
    for attr, value in namespace.items():
        if not callable(value):
            continue
        hooks = getattr(value, "__pliers_hooks__", ())
        if hooks or attr in handler_names or attr in LIFECYCLE:
            found[attr] = {
                "hooks": [h for h in hooks if isinstance(h, str)],
                "one_arg": _one_arg(value),
                "coroutine": _coroutine(value),  # the manifest's "async": false refuses it
            }
    return found


# ----------------------------------------------------------------------------- calls
def _classify(exc: BaseException) -> tuple[str, str]:
    T = guest.PluginErrorType
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, guest.PluginError):
        return exc.type, str(exc)
    if isinstance(exc, MemoryError):
        return T.RESOURCE_ERROR, f"memory limit reached ({text})"
    if isinstance(exc, OSError):
        code = exc.errno
        if code in (errno.EACCES, errno.EPERM):
            return T.SECURITY_ERROR, f"denied by the sandbox: {text}"
        if code in (errno.ENETUNREACH, errno.ENETDOWN, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
            return T.SECURITY_ERROR, f"no network inside the sandbox: {text}"
        if code == errno.ENOSYS:
            return T.SECURITY_ERROR, f"system call refused by the sandbox: {text}"
        if code in (errno.EFBIG, errno.ENOSPC, errno.EDQUOT):
            return T.RESOURCE_ERROR, f"disk limit reached: {text}"
        if code in (errno.EMFILE, errno.ENFILE):
            return T.RESOURCE_ERROR, f"open-files limit reached: {text}"
        if code == errno.EAGAIN:
            return T.RESOURCE_ERROR, f"process/thread limit reached: {text}"
    if isinstance(exc, RuntimeError) and "thread" in str(exc):
        return T.RESOURCE_ERROR, f"process/thread limit reached: {text}"
    if isinstance(exc, SystemExit):
        return T.RUNTIME_ERROR, f"handler called sys.exit({exc.code!r})"
    return T.RUNTIME_ERROR, f"handler raised {text}"


def _format_trace(exc: BaseException) -> str:
    """The traceback, with source lines only from files the plugin may read: looking up
    the worker's own lines would be a refused open, reported to the host as the plugin's."""
    import traceback

    te = traceback.TracebackException(type(exc), exc, exc.__traceback__, lookup_lines=False)
    seen: set[int] = set()
    todo = [te]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for frame in current.stack:
            if not frame.filename.startswith(S.read_roots):
                frame._line = ""  # type: ignore[attr-defined]  # never looked up
        todo += [t for t in (current.__cause__, current.__context__) if t is not None]
    return "".join(te.format())[-8000:]


def _error_reply(call_id: int, exc: BaseException) -> dict[str, Any]:
    kind, message = _classify(exc)
    S.quiet = True
    try:
        trace = _format_trace(exc)
    except Exception:
        trace = ""
    finally:
        S.quiet = False
    return {
        "t": "done",
        "id": call_id,
        "ok": False,
        "error": {
            "type": kind,
            "message": message[:4000],
            "exc": type(exc).__name__,
            "errno": exc.errno if isinstance(exc, OSError) and type(exc.errno) is int else None,
            "trace": trace,
        },
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, guest.Veto):
        return {"allow": False, "reason": str(value.reason)}
    return as_json(value)  # enum members, UUIDs; TypeError for the rest


_encode_answer = make_encoder(_jsonable)


def _finish(reply: dict[str, Any]) -> None:
    """Send a reply; an answer that cannot cross becomes a clear error instead."""
    if S.attempts:
        reply["attempts"] = list(S.attempts)
    try:
        frame = encode(reply, encoder=_encode_answer)
    except (TypeError, ValueError, RecursionError, WireError) as exc:
        kind = "resource_error" if isinstance(exc, WireError) else "validation_error"
        try:
            text = str(exc)[:2000]  # a hostile answer can make the message itself huge
        except Exception:
            text = type(exc).__name__
        frame = encode(
            {
                "t": "done",
                "id": reply.get("id"),
                "ok": False,
                "attempts": [str(a)[:300] for a in S.attempts[:_MAX_ATTEMPTS]],
                "error": {
                    "type": kind,
                    "exc": type(exc).__name__[:200],
                    "trace": "",
                    "message": f"the answer cannot cross to the host: {text}",
                },
            }
        )
    with S.lock:
        write_blocking(WIRE_OUT, frame)


def _run(value: Any) -> Any:
    if hasattr(value, "__await__") and hasattr(value, "send"):
        if S.loop is None:
            import asyncio

            S.loop = asyncio.new_event_loop()  # on a pipe: see ``selfpipe``
        return S.loop.run_until_complete(value)
    return value


def _api_request(svc: str, op: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if S.call is None or _thread.get_ident() != S.thread:
        raise guest.PluginError(
            "runtime_error",
            f"api.{svc}.{op}: the host API answers only during a hook call, "
            "from the handler's own thread",
        )
    S.api_seq += 1
    rid = S.api_seq
    try:
        _send(
            {
                "t": "api",
                "id": rid,
                "call": S.call,
                "svc": svc,
                "op": op,
                "args": args,
                "kw": kwargs,
            }
        )
    except (TypeError, ValueError, WireError) as exc:
        raise guest.PluginError(
            "validation_error", f"api.{svc}.{op}: arguments are not JSON: {exc}"
        ) from None
    while True:
        msg = read_frame_blocking(WIRE_IN, S.buf)
        kind = msg.get("t")
        if kind == "ret" and msg.get("id") == rid:
            break
        if kind in _SERVED:  # delivered while we wait (an event we published, say)
            _handle(msg)
    if msg.get("ok"):
        return msg.get("value")
    err = msg.get("error") or {}
    raise guest.PluginError(err.get("type", "runtime_error"), err.get("message", "refused"))


class _Served:
    """What serving a call needs, set once the plugin is imported."""

    namespace: ClassVar[dict[str, Any]] = {}
    view: Any = None
    outputs: ClassVar[list[Any]] = []
    root = "/"  # the plugin's folder: whose frames a trace keeps


def _done(call_id: int, value: Any) -> dict[str, Any]:
    return {"t": "done", "id": call_id, "ok": True, "value": value}


def _call(msg: dict[str, Any], view: guest.PluginView) -> dict[str, Any]:
    """A hook handler, or an endpoint's middleware or handler (``request`` in the frame)."""
    fn = _Served.namespace[msg["fn"]]
    if "request" in msg:
        request = guest.GuestRequest(
            msg["request"], msg.get("state") or {}, view, msg.get("services"), msg.get("offers")
        )
        reply = _done(msg["id"], guest.response_out(_run(fn(request))))
        reply["state"] = request.state
        return reply
    ctx = guest.GuestContext(msg, view)
    debug = msg.get("debug")
    if debug is not None:
        return _debugged(msg, debug, lambda: _run(fn(ctx)), ctx)
    value = fn(ctx)
    if type(value) not in _PLAIN:  # a coroutine, say (``_run``)
        value = _run(value)
    # ``_answer``, inline: a hook call's ``done``.
    reply = {"t": "done", "id": msg["id"], "ok": True, "value": value}
    state = ctx._state
    if state or msg.get("state"):
        reply["state"] = state if state is not None else {}
    return reply


#: What handlers return most: no ``_run`` needed (not awaitable).
_PLAIN = frozenset({type(None), dict, list, str, int, float, bool, tuple})


def _answer(msg: dict[str, Any], ctx: guest.GuestContext, value: Any) -> dict[str, Any]:
    """A hook call's ``done``, with the shared state when there is some (or was)."""
    reply = _done(msg["id"], value)
    state = ctx._state  # the host's dict, if it sent one, or one the handler asked for
    if state or msg.get("state"):
        reply["state"] = state if state is not None else {}
    return reply


def _debugged(
    msg: dict[str, Any], debug: dict[str, Any], call: Any, ctx: guest.GuestContext
) -> dict[str, Any]:
    """A hook call traced or profiled for the host's debugger; the recording comes back
    in the answer's ``debug``, also when the handler raised."""
    from . import guest_debug

    report: dict[str, Any] = {}
    try:
        if "trace" in debug:
            options = debug["trace"]
            recorder = guest_debug.Recorder(
                guest_debug.under(_Served.root),
                int(options.get("max_frames", 10_000)),
                options.get("breakpoints", []),
            )
            try:
                value = recorder.run(call)
            finally:
                report = recorder.result()
        else:
            value, report = guest_debug.profiled(call)
        reply = _answer(msg, ctx, value)
    except BaseException as exc:
        reply = _error_reply(msg["id"], exc)
    reply["debug"] = report
    return reply


def _life(msg: dict[str, Any], view: guest.PluginView) -> dict[str, Any]:
    """A lifecycle handler (``on_activate``...), if the plugin has it."""
    fn = _Served.namespace.get(msg["name"])
    args = msg.get("args") or []
    if msg["name"] == "on_error" and args and isinstance(args[0], dict):
        import types

        args = [types.SimpleNamespace(**args[0]), *args[1:]]
    if callable(fn):
        _run(fn(view, *args))
    return _done(msg["id"], None)


def _event(msg: dict[str, Any], view: guest.PluginView) -> dict[str, Any]:
    """An event for one of the plugin's ``events.subscribe`` handlers."""
    handler = S.subscribers.get(msg.get("cb", 0))
    if handler is None:
        raise guest.PluginError(
            "runtime_error", f"no event handler {msg.get('cb')!r} in this worker"
        )
    _run(handler(msg.get("event")))
    return _done(msg["id"], None)


def _gc(msg: dict[str, Any], view: guest.PluginView) -> dict[str, Any]:
    """The engine's ResourceOptimizer: collect garbage, optionally empty ``api.cache``."""
    import gc

    dropped = view.api.cache.invalidate("*") if msg.get("clear_cache") else 0
    return _done(msg["id"], {"collected": gc.collect(), "cacheEntriesDropped": dropped})


_SERVED: dict[str, Any] = {"call": _call, "life": _life, "event": _event, "gc": _gc}
_get_ident = _thread.get_ident


def _handle(msg: dict[str, Any]) -> None:
    """Run one served frame (``_SERVED``) and send its ``done`` answer.

    Also entered while a handler waits for an ``api`` answer: an event the handler
    published may be delivered to this plugin's own subscription first (nested).
    """
    call_id, view = msg["id"], _Served.view
    if "config" in msg:
        view.config = msg["config"]
    outer_call, outer_thread, outer_attempts = S.call, S.thread, S.attempts
    S.call = call_id
    S.thread = _get_ident()
    S.attempts = []
    touched = guest.TOUCHED  # the outputs written to since the last reset
    if touched:
        for out in touched:
            out._used = 0  # each call gets the whole output cap
        touched[:] = [out for out in touched if out._line]
    try:
        reply = _SERVED[msg["t"]](msg, view)
    except BaseException as exc:
        reply = _error_reply(call_id, exc)
    if touched:
        for out in touched:
            if out._line:  # a last line without its newline
                out.flush()
    S.call = outer_call
    S.thread = outer_thread
    _finish(reply)  # reads this call's attempts
    S.attempts = outer_attempts


def _serve(spin_s: float) -> None:
    ready = select.poll()
    ready.register(WIRE_IN, select.POLLIN)
    # Spinning helps only with another CPU to run the host on (as adaptive mutexes do).
    spin = spin_s if len(os.sched_getaffinity(0)) > 1 else 0.0
    while True:
        msg = read_frame_blocking(WIRE_IN, S.buf, spin, ready)
        kind = msg["t"]
        if kind == "stop":
            return
        if kind in _SERVED:
            _handle(msg)


def main(argv: list[str] | None = None) -> None:
    """Entry point in the worker process (see the module docstring)."""
    marks = {"main": time.monotonic()}
    argv = sys.argv if argv is None else argv
    fd_in, fd_out = int(argv[1]), int(argv[2])
    fd_handoff = int(argv[3]) if len(argv) > 3 else None
    # Move the wire to fds 3 (in) and 4 (out), the hand-off socket to 5, whatever numbers
    # the spawn gave them.
    fds = [os.dup(fd) for fd in (fd_in, fd_out, fd_handoff) if fd is not None]
    for fd, target in zip(fds, (WIRE_IN, WIRE_OUT, HANDOFF), strict=False):
        os.dup2(fd, target)
    _close_other_fds(fd_handoff is not None)
    write_blocking(WIRE_OUT, encode({"t": "hello", "v": PROTOCOL_VERSION, "pid": os.getpid()}))
    # Pre-import what the lockdown needs while the host prepares the init frame, and the
    # debugger's half: once locked down, the worker cannot read the sandbox's own files.
    # The wire's fast codec too (a forked worker has it from the template already).
    load_fast_codec()
    from . import guest_debug, selfpipe  # noqa: F401
    from .layers import caps, datafs, landlock, netns, rlimits, seccomp  # noqa: F401

    if fd_handoff is not None:
        S.handoff = HANDOFF

    init = read_frame_blocking(WIRE_IN, S.buf)
    marks["init"] = t0 = time.monotonic()
    applied, failed = _lockdown(init)
    marks["locked"] = time.monotonic()
    lock_ms = (marks["locked"] - t0) * 1000
    info = init["plugin"]
    if failed and not set(failed) <= set(init.get("accept_missing", ())):
        _send({"t": "ready", "ok": False, "layers": applied, "failed": failed})
        os._exit(3)
    if init.get("go"):  # forked by the template: placed in its cgroups before plugin code
        if read_frame_blocking(WIRE_IN, S.buf).get("t") != "go":
            os._exit(3)
        marks["placed"] = time.monotonic()
    sys.path[:] = [*init["sys_path"]]
    os.chdir(info.get("data_dir") or info.get("root") or "/")
    guest.install_shim()
    selfpipe.install()
    logger = guest.Logger(_send_quiet)
    cache = guest.LocalCache()
    view = guest.PluginView(info, logger, guest.Api(_api_request, cache, S.subscribers))
    view.config = init.get("config") or {}
    cap = int(init.get("max_output", 65536))
    outputs = [guest.Output(_send_quiet, "info", cap), guest.Output(_send_quiet, "warning", cap)]
    sys.stdout, sys.stderr = outputs
    _arm_audit(init)
    try:
        namespace = _import_plugin(info)
    except BaseException as exc:
        kind, message = _classify(exc)
        where = os.path.basename(info["main"].rstrip("/"))
        if isinstance(exc, _LoadFailure):
            kind, message = "load_error", str(exc)
        elif kind == "runtime_error":
            kind, message = "load_error", f"importing {where} raised {type(exc).__name__}: {exc}"
        reply = _error_reply(0, exc)
        reply.update(t="ready", ok=False, layers=applied, failed={})
        reply["error"].update(type=kind, message=message)
        _finish(reply)
        os._exit(4)
    marks["imported"] = time.monotonic()
    handler_names = {h for h in init.get("handlers", {}).values() if h}
    _send(
        {
            "t": "ready",
            "ok": True,
            "layers": applied,
            "failed": failed,
            "functions": _functions(namespace, handler_names),
            "lockdown_ms": round(lock_ms, 3),
            "codec": fast_codec(),
            "marks": marks,
        }
    )
    _Served.namespace, _Served.view, _Served.outputs = namespace, view, outputs
    _Served.root = os.path.realpath(info.get("root") or "/")
    try:  # noqa: SIM105 - contextlib would cost the worker an import
        _serve(float(init.get("spin_s") or 0.0))
    except BaseException:
        pass
    os._exit(0)
