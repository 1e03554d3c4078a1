"""``api.http``: outbound HTTP made by the host for a plugin, within its allow-list.

The worker has no network at all; the host makes the request when the manifest's
``network.outbound`` allows ``host[:port]`` and the policy's deny list does not match the
host name or any address it resolves to (deny wins over allow). Redirects are followed at
most ``max_redirects`` times and each target is checked again; bodies are capped.

A request may ask for its own ``timeout`` (seconds): at most the policy's
``SandboxPolicy.http_timeout_s``, which is also the default — a larger one is clamped to
it (the host's cap, as for every per-plugin figure), a non-number or one <= 0 is a
VALIDATION_ERROR naming the argument. Like ``urllib``'s, it bounds each wait for the
server (connecting, the answer, each read of its body); running out is a TIMEOUT_ERROR
naming the method, the URL and the timeout applied.
"""

from __future__ import annotations

import ipaddress
import math
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from ..errors import PluginError, PluginErrorType

if TYPE_CHECKING:
    from ._plugin_limits import NetworkBudget

__all__ = ["NetworkRefused", "Outbound"]


class NetworkRefused(PermissionError):
    """The destination is not allowed (not granted, or denied by policy)."""


def _split(url: str) -> tuple[str, str, int]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NetworkRefused(f"{url!r}: only http(s) URLs with a host are allowed")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname.lower(), port


def _host_matches(pattern: str, host: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return fnmatchcase(host, pattern)


class Outbound:
    """Allow-list checks and requests for one plugin."""

    def __init__(
        self,
        allow: Sequence[tuple[str, int | None]],
        deny: Sequence[str],
        timeout_s: float = 10.0,
        max_redirects: int = 3,
        max_bytes: int = 4 << 20,
    ) -> None:
        self.allow = tuple(allow)
        self.deny_hosts = tuple(d.lower() for d in deny if "/" not in d)
        self.deny_nets = tuple(ipaddress.ip_network(d, strict=False) for d in deny if "/" in d)
        self.timeout_s = timeout_s
        self.max_redirects = max_redirects
        self.max_bytes = max_bytes
        self.budget: NetworkBudget | None = None
        """The plugin's bandwidth and bytes per call (``limits.network*``), if limited."""
        self._moved = [0, 0, 0]  # body bytes sent, received; requests sent
        self._counting = threading.Lock()  # several workers' calls may run at once

    def _count(self, sent: int = 0, received: int = 0, requests: int = 0) -> None:
        with self._counting:
            self._moved[0] += sent
            self._moved[1] += received
            self._moved[2] += requests

    def moved(self) -> tuple[int, int, int]:
        """Request-body bytes sent, response-body bytes received and HTTP requests sent
        for this plugin so far (the plugin's network figures: it has no other way out)."""
        with self._counting:
            return self._moved[0], self._moved[1], self._moved[2]

    def granted(self, host: str, port: int) -> bool:
        """Whether the manifest allows ``host:port`` (before the deny list)."""
        return any(_host_matches(h, host) and (p is None or p == port) for h, p in self.allow)

    def denied(self, host: str, port: int) -> str | None:
        """Why policy forbids ``host`` (name or any resolved address), else None."""
        if any(_host_matches(d, host) for d in self.deny_hosts):
            return f"{host} is on the deny list"
        try:
            addresses = {
                info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
            }
        except OSError as exc:
            return f"{host} does not resolve ({exc})"
        for addr in addresses:
            ip = ipaddress.ip_address(str(addr).split("%")[0])
            for net in self.deny_nets:
                if ip in net:
                    return f"{host} resolves to {ip}, inside denied {net}"
        return None

    def check(self, url: str) -> tuple[str, int]:
        _scheme, host, port = _split(url)
        why = self.denied(host, port)
        if why:
            raise NetworkRefused(f"{url}: {why}")
        return host, port

    def timeout_for(self, method: str, url: str, timeout: Any) -> tuple[float, str]:
        """The seconds a request waits, and why that many: its own ``timeout``, clamped
        to the policy's ``timeout_s``; VALIDATION_ERROR for a non-number or one <= 0."""
        cap = f"SandboxPolicy.http_timeout_s = {self.timeout_s:g} s"
        if timeout is None:
            return self.timeout_s, f"the host's default, {cap}"
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            raise PluginError(
                PluginErrorType.VALIDATION_ERROR,
                f"api.http {method.upper()} {url}: timeout must be a number of seconds "
                f"> 0, got {timeout!r}",
                metadata={"argument": "timeout", "url": url},
            )
        if timeout > self.timeout_s:
            return self.timeout_s, f"timeout={timeout:g} clamped to the host's cap, {cap}"
        return float(timeout), f"the request's timeout={timeout:g}"

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        body: str | None = None,
        json: Any = None,
        timeout: Any = None,
    ) -> dict[str, Any]:
        """Make the request (already permission-checked for ``url``); a plain dict back.

        ``timeout``: seconds, at most ``timeout_s`` (the policy's cap and the default; a
        larger one is clamped to it)."""
        import json as _json

        wait_s, why = self.timeout_for(method, url, timeout)
        self.check(url)
        data = None
        hdrs = dict(headers or {})
        if json is not None:
            data = _json.dumps(json).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif body is not None:
            data = str(body).encode()
        call = self.budget.call() if self.budget is not None else None
        if call is not None and data:
            call.charge(len(data))
        outbound = self

        class _Redirects(urllib.request.HTTPRedirectHandler):
            max_redirections = self.max_redirects

            def redirect_request(
                self, req: Any, fp: Any, code: int, msg: str, hdrs_: Any, newurl: str
            ) -> Any:
                _s, host, port = _split(newurl)
                if not outbound.granted(host, port):
                    raise NetworkRefused(f"redirect to {newurl} is not in the allow-list")
                outbound.check(newurl)
                followed = super().redirect_request(req, fp, code, msg, hdrs_, newurl)
                if followed is not None:
                    outbound._count(requests=1)
                return followed

        opener = urllib.request.build_opener(_Redirects())
        req = urllib.request.Request(url, data=data, headers=hdrs, method=method.upper())
        sent = len(data) if data is not None else 0
        self._count(requests=1)
        try:
            with opener.open(req, timeout=wait_s) as resp:
                raw = (
                    resp.read(self.max_bytes + 1)
                    if call is None
                    else call.read(resp, self.max_bytes)
                )
                status, headers_out = resp.status, dict(resp.headers.items())
        except urllib.error.HTTPError as exc:
            raw, status, headers_out = (
                exc.read(self.max_bytes + 1) if call is None else call.read(exc, self.max_bytes),
                exc.code,
                dict(exc.headers.items()),
            )
        except (TimeoutError, urllib.error.URLError) as exc:
            if not isinstance(exc, TimeoutError) and not isinstance(exc.reason, TimeoutError):
                raise
            raise PluginError(
                PluginErrorType.TIMEOUT_ERROR,
                f"api.http {method.upper()} {url} timed out: no answer within {wait_s:g} s ({why})",
                metadata={"url": url, "timeoutS": wait_s},
            ) from None
        finally:
            if call is not None:
                call.done()
        # Counted once an answer came: the body was sent (a redirect drops it).
        self._count(sent=sent, received=len(raw))
        if len(raw) > self.max_bytes:
            raise ValueError(f"response larger than {self.max_bytes} bytes")
        return {"status": status, "headers": headers_out, "text": raw.decode("utf-8", "replace")}
