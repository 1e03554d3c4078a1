"""``RemoteRegistry``: a registry service (``pliers registry serve``) read and written
over HTTP, with the interface ``PluginMarketplace`` uses of a local ``Registry``
(issue 19 §1).

::

    market = PluginMarketplace("http://registry.internal:8080", store, engine=engine)
    market.search("crm"); market.install("crm-integration")
    RemoteRegistry(url, user="ann", key=SigningKey.load("ann.pem")).publish(bundle)

What the server says is never trusted for an install: a downloaded bundle is opened with
this client's own limits, its files checked against their checksums, its checksum
compared with the record's, and its signature verified against the *store's* trusted
keys (``install.prepare``) — a registry that serves altered bytes, or lies about them
consistently, is refused. Publishing and rating sign each request with the publisher's
Ed25519 key (``_signed_requests``); the key must be registered to the user on the
registry.

Only the standard library is used (``urllib``). A registry that cannot be reached is a
``RegistryUnavailableError`` naming the URL and what was being done; a 4xx or 5xx reply
becomes the marketplace error of its status (``NotFoundError``, ``AlreadyExistsError``,
``RegistryAccessError``, ``SignatureError``, ``UnsafePluginError``, ``MarketError``),
its message naming the plugin, the URL and what the registry said.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._listings import PublishResult
from ._package import DEFAULT_LIMITS, Limits
from ._record_json import bundle_file, listing_from_wire, plugin_from_wire, search_from_wire
from .query import CATEGORIES, MarketplaceQuery, PluginListing, SearchResult
from .refusals import (
    AlreadyExistsError,
    MarketError,
    NotFoundError,
    RegistryAccessError,
    RegistryUnavailableError,
    SignatureError,
    UnsafePluginError,
)
from .sources import RecordReads

if TYPE_CHECKING:
    from ._listings import PluginRecord
    from .signing import SigningKey

__all__ = ["RemoteRegistry"]

#: The largest JSON reply read.
MAX_REPLY = 64 << 20
#: Bundles may exceed the limits' uncompressed total by this much (zip headers).
BUNDLE_SLACK = 1 << 20
_CHUNK = 1 << 16
_REFUSALS: dict[str, type[MarketError]] = {
    "NotFoundError": NotFoundError,
    "AlreadyExistsError": AlreadyExistsError,
    "RegistryAccessError": RegistryAccessError,
    "SignatureError": SignatureError,
    "UnsafePluginError": UnsafePluginError,
}
_BY_STATUS: dict[int, type[MarketError]] = {
    404: NotFoundError,
    409: AlreadyExistsError,
    401: RegistryAccessError,
    403: RegistryAccessError,
}


class RemoteRegistry(RecordReads):
    """The registry service at ``url`` (``http://host:port``, or wherever it is mounted).

    Args:
        user, key: the publisher this client publishes and rates as (a ``SigningKey``
            registered to ``user`` on the registry); reads need neither.
        timeout: seconds to wait for the registry on each request.
        limits: what a downloaded bundle may hold (this client's, whatever the server's).
        cache: where downloaded bundles are kept (default: a temporary folder removed
            when this object goes).
    """

    def __init__(
        self,
        url: str,
        *,
        user: str | None = None,
        key: SigningKey | None = None,
        timeout: float = 30.0,
        limits: Limits = DEFAULT_LIMITS,
        cache: str | os.PathLike[str] | None = None,
    ) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"a registry URL is http(s)://host[:port][/path], got {url!r}")
        if (user is None) != (key is None):
            raise ValueError("publishing needs both user= and key= (or neither, to only read)")
        self.url = url.rstrip("/")
        self.user = user
        self.key = key
        self.timeout = timeout
        self.limits = limits
        if cache is None:
            folder = tempfile.mkdtemp(prefix="pliers-registry-")
            weakref.finalize(self, _remove, folder)
            cache = folder
        self.cache = Path(cache)
        self._opener = urllib.request.build_opener()

    @property
    def root(self) -> str:
        """The URL (what the store records as where a version came from)."""
        return self.url

    def __repr__(self) -> str:
        who = f", user={self.user!r}" if self.user else ""
        return f"RemoteRegistry({self.url!r}{who})"

    # ------------------------------------------------------------------- HTTP
    def _request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        body: bytes | None = None,
        content_type: str | None = None,
        signed: bool = False,
        plugin: str | None = None,
    ) -> http.client.HTTPResponse:
        """Send one request; the open response, or the refusal (see the module docstring)."""
        query = urllib.parse.urlencode(list(params))
        full = self.url + path + (f"?{query}" if query else "")
        headers = {"Accept": "application/json", "User-Agent": "pliers-lab registry client"}
        if content_type:
            headers["Content-Type"] = content_type
        if signed:
            headers["Authorization"] = self._sign(method, full, query, body or b"", what)
        request = urllib.request.Request(full, data=body, headers=headers, method=method)
        try:
            response: http.client.HTTPResponse = self._opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            with exc:
                raise self._refusal(exc, what, plugin) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise RegistryUnavailableError(
                f"{_subject(plugin)}cannot reach the registry {self.url} to {what}: {reason}",
                plugin_id=plugin,
                details={"url": full},
            ) from None
        return response

    def _sign(self, method: str, full: str, query: str, body: bytes, what: str) -> str:
        from ._signed_requests import sign_request

        user, key = self._publisher(what)
        path = urllib.parse.unquote(urllib.parse.urlsplit(full).path)
        return sign_request(method, path, query, body, user=user, key=key)

    def _publisher(self, what: str) -> tuple[str, SigningKey]:
        if self.user is None or self.key is None:
            raise RegistryAccessError(
                f"{what} on the registry {self.url} needs a publisher: "
                "RemoteRegistry(url, user=..., key=SigningKey.load(...))"
            )
        return self.user, self.key

    def _refusal(self, exc: urllib.error.HTTPError, what: str, plugin: str | None) -> MarketError:
        raw = _read(exc, 1 << 20)
        try:
            error = json.loads(raw)["error"]
            code, message = str(error["code"]), str(error["message"])
            details = error.get("details") if isinstance(error.get("details"), dict) else {}
        except (ValueError, KeyError, TypeError):
            code, message, details = "", raw[:200].decode("utf-8", "replace").strip(), {}
        kind = _REFUSALS.get(str(details.get("refusal")))
        if kind is None:
            kind = (
                RegistryUnavailableError
                if exc.code >= 500
                else _BY_STATUS.get(exc.code, MarketError)
            )
        plugin = plugin or (
            details.get("pluginId") if isinstance(details.get("pluginId"), str) else None
        )
        said = f"{exc.code} {code}: {message}" if code else f"{exc.code}: {message or exc.reason}"
        return kind(
            f"{_subject(plugin)}the registry {self.url} refused to {what}: {said}",
            plugin_id=plugin,
            details={**details, "status": exc.code, "url": exc.url},
        )

    def _json(self, method: str, path: str, what: str, **options: Any) -> Any:
        plugin = options.get("plugin")
        with self._request(method, path, what, **options) as response:
            raw = _read(response, MAX_REPLY)
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise RegistryUnavailableError(
                f"{_subject(plugin)}the registry {self.url} answered {what} with something "
                f"that is not JSON ({raw[:60]!r})",
                plugin_id=plugin,
            ) from None

    def _malformed(self, what: str, exc: Exception, plugin: str | None = None) -> MarketError:
        return RegistryUnavailableError(
            f"{_subject(plugin)}the registry {self.url} sent a malformed answer to {what}: {exc}",
            plugin_id=plugin,
        )

    # ------------------------------------------------------------------ reads
    def info(self) -> dict[str, Any]:
        """What the registry says of itself (``GET /v1``)."""
        found = self._json("GET", "/v1", "describe itself")
        if not isinstance(found, dict):
            raise self._malformed("describe itself", ValueError("not a JSON object"))
        return found

    def plugin(self, name: str, *, include_empty: bool = False) -> PluginRecord:
        what = f"read the record of {name}"
        data = self._json("GET", f"/v1/plugins/{_segment(name)}/record", what, plugin=name)
        try:
            return plugin_from_wire(
                data.get("plugin") if isinstance(data, dict) else None, self._bundle_path
            )
        except ValueError as exc:
            raise self._malformed(what, exc, name) from None

    def plugins(self) -> list[PluginRecord]:
        """Every plugin's record (paged reads of ``/v1/records``; a large registry is
        better searched)."""
        out: list[PluginRecord] = []
        offset = 0
        while True:
            what = "list its plugins"
            data = self._json(
                "GET", "/v1/records", what, params=[("offset", str(offset)), ("limit", "500")]
            )
            try:
                page = data["plugins"]
                total = int(data["total"])
                out.extend(plugin_from_wire(item, self._bundle_path) for item in page)
            except (ValueError, KeyError, TypeError) as exc:
                raise self._malformed(what, exc) from None
            offset += len(page)
            if not page or offset >= total:
                return out

    def search(self, query: MarketplaceQuery) -> SearchResult:
        params = _query_params(query)
        data = self._json("GET", "/v1/search", "search", params=params)
        try:
            return search_from_wire(data)
        except ValueError as exc:
            raise self._malformed("search", exc) from None

    def featured(self, limit: int = 6) -> list[PluginListing]:
        return self._listings("/v1/featured", "list featured plugins", limit)

    def popular(self, limit: int = 10) -> list[PluginListing]:
        return self._listings("/v1/popular", "list popular plugins", limit)

    def _listings(self, path: str, what: str, limit: int) -> list[PluginListing]:
        data = self._json("GET", path, what, params=[("limit", str(max(1, min(limit, 100))))])
        try:
            return [listing_from_wire(item) for item in data["plugins"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise self._malformed(what, exc) from None

    def category_counts(self) -> dict[str, int]:
        data = self._json("GET", "/v1/categories", "count categories")
        try:
            counts = {str(c["id"]): int(c["count"]) for c in data["categories"]}
        except (ValueError, KeyError, TypeError) as exc:
            raise self._malformed("count categories", exc) from None
        return {str(c): counts.get(str(c), 0) for c in CATEGORIES}

    def updates(
        self, installed: Mapping[str, str], pliers_version: str | None = None
    ) -> list[dict[str, Any]]:
        """The registry's view of updates for ``installed`` (``POST /v1/updates``)."""
        body: dict[str, Any] = {"installed": dict(installed)}
        if pliers_version is not None:
            body["pliersVersion"] = pliers_version
        data = self._json(
            "POST", "/v1/updates", "list updates", body=json.dumps(body).encode(),
            content_type="application/json",
        )  # fmt: skip
        if not isinstance(data, dict) or not isinstance(data.get("updates"), list):
            raise self._malformed("list updates", ValueError("no updates list"))
        return list(data["updates"])

    def key_owner(self, key_id: str) -> str | None:
        """The user a key is registered to on the registry (None: not registered)."""
        try:
            data = self._json("GET", f"/v1/keys/{_segment(key_id)}", f"look up key {key_id}")
        except NotFoundError:
            return None
        return str(data.get("user")) if isinstance(data, dict) and data.get("user") else None

    def _bundle_path(self, name: str, version: str) -> Path:
        return self.cache / name / bundle_file(name, version)

    def download(self, name: str, version: str, *, count: bool = True) -> Path:
        """Fetch ``name@version``'s bundle into the cache; its path. Nothing is checked
        here but the size: the installer opens and verifies it with its own keys."""
        what = f"download {name}@{version}"
        target = self._bundle_path(name, version)
        target.parent.mkdir(parents=True, exist_ok=True)
        cap = self.limits.max_total_size + BUNDLE_SLACK
        params = [] if count else [("count", "false")]
        path = f"/v1/plugins/{_segment(name)}/versions/{_segment(version)}/bundle"
        handle, tmp = tempfile.mkstemp(prefix=".download-", dir=target.parent)
        try:
            with (
                os.fdopen(handle, "wb") as out,
                self._request("GET", path, what, params=params, plugin=name) as response,
            ):
                size = 0
                while chunk := response.read(_CHUNK):
                    size += len(chunk)
                    if size > cap:
                        raise MarketError(
                            f"{name}: the registry {self.url} sent more than {cap} bytes for "
                            f"{name}@{version}; refused",
                            plugin_id=name,
                        )
                    out.write(chunk)
            os.replace(tmp, target)
        except (OSError, http.client.HTTPException) as exc:
            Path(tmp).unlink(missing_ok=True)
            raise RegistryUnavailableError(
                f"{name}: the download of {name}@{version} from the registry {self.url} "
                f"broke off: {exc}",
                plugin_id=name,
            ) from None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    # ----------------------------------------------------------------- writes
    def publish(
        self,
        bundle_path: str | os.PathLike[str],
        *,
        user: str | None = None,
        changes: Sequence[str] | str = (),
    ) -> PublishResult:
        """Publish a signed bundle as this client's publisher (``user`` must be that
        publisher if given). The registry checks the request's signature, the bundle's
        signature (a key registered to the same user), the version and the scan."""
        if user is not None and self.user is not None and user != self.user:
            raise RegistryAccessError(
                f"this client publishes to {self.url} as {self.user!r} (with key "
                f"{self.key.key_id if self.key else '-'}); it cannot publish as {user!r}"
            )
        what = f"publish {Path(bundle_path).name}"
        self._publisher(what)
        notes = [changes] if isinstance(changes, str) else list(changes)
        data = Path(bundle_path).read_bytes()
        answer = self._json(
            "POST", "/v1/plugins", what, params=[("changes", n) for n in notes], body=data,
            content_type="application/zip", signed=True,
        )  # fmt: skip
        try:
            return _publish_result(answer)
        except (ValueError, KeyError, TypeError) as exc:
            raise self._malformed(what, exc) from None

    def rate(self, name: str, stars: int, *, user: str | None = None) -> float:
        """Record this client's publisher's rating of ``name``; the new average."""
        if user is not None and user != self.user:
            raise RegistryAccessError(
                f"this client rates on {self.url} as {self.user!r}; it cannot rate as {user!r}"
            )
        what = f"rate {name}"
        answer = self._json(
            "POST", f"/v1/plugins/{_segment(name)}/ratings", what,
            body=json.dumps({"stars": stars}).encode(), content_type="application/json",
            signed=True, plugin=name,
        )  # fmt: skip
        try:
            return float(answer["rating"])
        except (ValueError, KeyError, TypeError) as exc:
            raise self._malformed(what, exc, name) from None


def _publish_result(answer: Any) -> PublishResult:
    from .scan import SecurityIssue, SecurityScanResult

    security = answer["security"]
    scan = SecurityScanResult(
        safe=bool(security["safe"]),
        issues=tuple(
            SecurityIssue(
                i["severity"], i["type"], i["description"], i.get("location"), i["recommendation"]
            )
            for i in security["issues"]
        ),
        recommendations=tuple(security["recommendations"]),
        score=int(security["score"]),
        hosts=tuple(security.get("hosts", ())),
        files_scanned=int(security.get("filesScanned", 0)),
    )
    return PublishResult(
        plugin_id=str(answer["pluginId"]),
        version=str(answer["version"]),
        checksum=str(answer["checksum"]),
        key_id=answer.get("keyId"),
        release_date=str(answer["releaseDate"]),
        tags=tuple(answer["tags"]),
        scan=scan,
    )


def _query_params(query: MarketplaceQuery) -> list[tuple[str, str]]:
    """``query`` as the service's search parameters (``MarketplaceQuery.from_params``)."""
    params: list[tuple[str, str]] = []
    if query.query:
        params.append(("q", query.query))
    if query.category:
        params.append(("category", str(query.category)))
    for key, values in (("tags", query.tags), ("license", query.license)):
        if values:
            if any("," in v for v in values):
                raise ValueError(f"{key}: a value with a comma cannot be sent to a registry")
            params.append((key, ",".join(values)))
    if query.compatibility:
        params.append(("compatibility", query.compatibility))
    if query.verified is not None:
        params.append(("verified", "true" if query.verified else "false"))
    if query.sort_by:
        params.append(("sort", query.sort_by))
    if query.sort_order:
        params.append(("order", query.sort_order))
    params += [("limit", str(query.limit)), ("offset", str(query.offset))]
    return params


def _segment(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def _subject(plugin: str | None) -> str:
    return f"{plugin}: " if plugin else ""


def _read(response: Any, cap: int) -> bytes:
    data: bytes = response.read(cap + 1)
    if len(data) > cap:
        raise RegistryUnavailableError(f"a registry reply larger than {cap} bytes was refused")
    return data


def _remove(folder: str) -> None:
    import shutil

    with contextlib.suppress(OSError):
        shutil.rmtree(folder)
