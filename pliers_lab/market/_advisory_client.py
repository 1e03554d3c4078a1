"""A registry service's reports, advisories and trust scores, from a client (issue 19 §2):
``RemoteAdvisories(url, token=...)`` speaks to ``_advisory_routes`` and answers as
``Advisories`` and ``trust_score`` answer locally, so an ``AdvisoryWatch`` takes it as its
source (``AdvisoryWatch(market, source=RemoteAdvisories(url))``).

The standard library's ``urllib`` is enough for these small JSON calls. A refusal comes
back as the marketplace error of its status (``NotFoundError``, ``RegistryAccessError``,
``AdvisoryError``), its message naming the URL; a registry that cannot be reached is a
``RegistryUnavailableError`` naming it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._advisories import Advisory, AdvisoryError, SecurityReport
from .refusals import MarketError, NotFoundError, RegistryAccessError, RegistryUnavailableError

if TYPE_CHECKING:
    from ..engine import Engine
    from ._trust_score import TrustScore
    from .scan import SecurityIssue
    from .signing import SigningKey

__all__ = ["RemoteAdvisories"]

#: The largest reply read (an advisory list of a very large registry fits many times).
MAX_REPLY = 32 << 20


class RemoteAdvisories:
    """Reports, advisories and trust scores of the registry service at ``url``.

    Args:
        user, key: the registry user writes are signed as (a ``SigningKey`` registered
            to ``user`` on the registry: the service's signed requests); reads need none.
        token: or a bearer token, for a service whose ``authenticate`` takes one.
        prefix: where the service mounts the advisory routes (``/v1`` on ``pliers
            registry serve``).
    """

    def __init__(
        self,
        url: str,
        *,
        user: str | None = None,
        key: SigningKey | None = None,
        token: str | None = None,
        prefix: str = "",
        timeout_s: float = 30.0,
    ) -> None:
        if (user is None) != (key is None):
            raise ValueError("signed writes need both user= and key= (or neither)")
        self.url = url.rstrip("/") + prefix.rstrip("/")
        self.user, self.key = user, key
        self.token = token
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"RemoteAdvisories({self.url!r})"

    # ------------------------------------------------------------------- reads
    def advisories(self, plugin_id: str | None = None) -> list[Advisory]:
        """Advisories (of ``plugin_id``), oldest first, withdrawn ones marked."""
        query = "" if plugin_id is None else "?" + urllib.parse.urlencode({"plugin": plugin_id})
        found = self._call("GET", f"/advisories{query}")["advisories"]
        return [Advisory.from_dict(a) for a in found]

    def get(self, advisory_id: str) -> Advisory:
        return Advisory.from_dict(self._call("GET", f"/advisories/{_quote(advisory_id)}"))

    def affecting(self, plugin_id: str, version: str) -> list[Advisory]:
        return [a for a in self.advisories(plugin_id) if a.affects(version)]

    def trust_score(
        self, plugin_id: str, version: str | None = None, *, engine: Engine | None = None
    ) -> TrustScore:
        """The registry's score of ``plugin_id@version``; with ``engine``, its runtime
        record replaces the unknown runtime signal."""
        from ._trust_score import TrustScore, runtime_signal

        path = f"/trust/{_quote(plugin_id)}" + (f"/{_quote(version)}" if version else "")
        score = TrustScore.from_dict(self._call("GET", path))
        if engine is not None:
            score = score.with_signal(runtime_signal(engine, plugin_id, score.version))
        return score

    def reports(self, plugin_id: str, *, status: str | None = None) -> list[SecurityReport]:
        """Reports on ``plugin_id`` (its maintainers only)."""
        query = {"plugin": plugin_id} | ({} if status is None else {"status": status})
        found = self._call("GET", f"/reports?{urllib.parse.urlencode(query)}")["reports"]
        return [SecurityReport.from_dict(r) for r in found]

    # ------------------------------------------------------------------ writes
    def report(
        self,
        plugin_id: str,
        issue: SecurityIssue | Mapping[str, Any],
        *,
        version: str | None = None,
    ) -> SecurityReport:
        """``reportSecurity`` as this client's user."""
        body = {"pluginId": plugin_id, **(issue if isinstance(issue, Mapping) else issue.to_dict())}
        if version is not None:
            body["version"] = version
        reply = self._call("POST", "/reports", body)
        return SecurityReport.from_dict(reply)

    def confirm(self, report_id: int, *, affected: str, **fields: str | None) -> Advisory:
        """Confirm a report into an advisory (``fixed_version``, ``severity``, ``title``,
        ``description`` as ``Advisories.confirm``)."""
        body = {"affected": affected, **_camel(fields)}
        return Advisory.from_dict(self._call("POST", f"/reports/{int(report_id)}/confirm", body))

    def dismiss(self, report_id: int, *, reason: str) -> SecurityReport:
        reply = self._call("POST", f"/reports/{int(report_id)}/dismiss", {"reason": reason})
        return SecurityReport.from_dict(reply)

    def publish(
        self, plugin_id: str, *, affected: str, severity: str, title: str, **fields: str | None
    ) -> Advisory:
        body = {"pluginId": plugin_id, "affected": affected, "severity": severity,
                "title": title, **_camel(fields)}  # fmt: skip
        reply = self._call("POST", "/advisories", body)
        return Advisory.from_dict(reply)

    def withdraw(self, advisory_id: str) -> Advisory:
        return Advisory.from_dict(self._call("POST", f"/advisories/{_quote(advisory_id)}/withdraw"))

    # ------------------------------------------------------------------ private
    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        url = self.url + path
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.key is not None and self.user is not None:  # reading reports is signed too
            from ._signed_requests import sign_request

            parts = urllib.parse.urlsplit(url)
            path = urllib.parse.unquote(parts.path)
            header = sign_request(
                method, path, parts.query, data or b"", user=self.user, key=self.key
            )
            request.add_header("Authorization", header)
        elif self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as reply:
                raw = reply.read(MAX_REPLY + 1)
        except urllib.error.HTTPError as exc:
            raise _refusal(method, url, exc) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RegistryUnavailableError(f"{method} {url}: no answer ({reason})") from None
        if len(raw) > MAX_REPLY:
            raise RegistryUnavailableError(f"{method} {url}: reply over {MAX_REPLY} bytes")
        try:
            return json.loads(raw)
        except ValueError:
            raise RegistryUnavailableError(f"{method} {url}: the reply is not JSON") from None


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def _camel(fields: Mapping[str, str | None]) -> dict[str, str]:
    names = {"fixed_version": "fixedVersion"}
    return {names.get(k, k): v for k, v in fields.items() if v is not None}


def _refusal(method: str, url: str, exc: urllib.error.HTTPError) -> MarketError:
    try:
        error = json.loads(exc.read(1 << 16))["error"]
        message = str(error["message"])
    except (ValueError, KeyError, TypeError):
        message = str(exc.reason)
    text = f"{method} {url}: {exc.code} {message}"
    if exc.code == 404:
        return NotFoundError(text)
    if exc.code in (401, 403):
        return RegistryAccessError(text)
    if 400 <= exc.code < 500:
        return AdvisoryError(text)
    return RegistryUnavailableError(text)
