"""crm-integration: saved submissions go to a CRM; enrichment looks contacts up there.

Only forms whose metadata enables it are touched: ``form["metadata"]["crm"] =
{"enabled": true, "fieldMapping": {answer name: CRM field}}``.

- ``submission.afterSave`` (sync): the answers named in the mapping table (the
  configuration's ``fieldMapping``, with the form's ``crm.fieldMapping`` over it) are
  renamed to their CRM fields, ``source``, ``formId`` and ``submissionId`` are added, and
  the record is POSTed to ``<crmApiUrl>/contacts`` with ``Authorization: Bearer <apiKey>``
  and ``Idempotency-Key: <submission id>`` (a retry never makes a second record in a CRM
  that honours it). The CRM's record id goes into ``submission.metadata.crm``
  (``api.submissions.update``). When the CRM fails (an error status, a timeout, no
  answer) a ``crm-sync-retry`` task is scheduled ``retryDelay`` ms later
  (``api.tasks.schedule``; 5 minutes by default).
- ``task.crm-sync-retry`` (the host publishes a due task as this event): the record the
  task carries is sent again; a failure schedules the next attempt until
  ``retryAttempts`` retries have failed, and ``metadata.crm.status`` says ``"failed"``.
- ``submission.enrich`` (a waterfall): the contact with the submission's e-mail address
  is looked up (``GET <crmApiUrl>/contacts/lookup?email=...``); a 200 adds its JSON object
  as ``submission.metadata.crmContact``, a 404 means none (data unchanged). A failed
  lookup is logged and leaves the data unchanged, so the waterfall goes on.

Network: the plugin reaches the CRM only through ``ctx.api.http``, which the host makes
within the manifest's ``permissions.network.outbound``. Before any request the plugin
checks that ``crmApiUrl``'s host and port are declared there, so a configuration pointing
elsewhere is reported (naming both) instead of being refused by the host as a security
violation, which would quarantine the plugin. Timeouts: each request passes its own to
``api.http`` (``syncTimeout``, 10 s, and ``lookupTimeout``, 5 s, by default), which the
host caps at its policy's ``http_timeout_s`` (10 s by default): a slower CRM is a
``timeout_error``, handled as any failed request.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import time
import urllib.parse
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from pliers_lab import HookContext, Plugin, PluginError, hook

RETRY_TASK = "crm-sync-retry"
MANIFEST = Path(__file__).with_name("manifest.json")

Data = dict[str, Any]

_subscribed: dict[str, str] = {}
"""Plugin id → the host subscription id of its retry-task handler."""


class CrmFailed(Exception):
    """The CRM did not take the record or answer the lookup (worth a retry)."""


class NotReachable(Exception):
    """The configuration points where the plugin may not go (a retry would not help)."""


# --------------------------------------------------------------------------- checks


def crm_settings(form: Any) -> Data | None:
    """The form's ``metadata.crm`` when it enables the CRM, else None."""
    meta = form.get("metadata") if isinstance(form, dict) else None
    crm = meta.get("crm") if isinstance(meta, dict) else None
    if isinstance(crm, dict) and crm.get("enabled") is True:
        return crm
    return None


@functools.cache
def _declared_outbound() -> tuple[str, ...]:
    """``permissions.network.outbound`` of the manifest this module was loaded with."""
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    network = manifest.get("permissions", {}).get("network", {})
    if isinstance(network, list):
        return ("*",) if "outbound" in network else ()
    grant = network.get("outbound", []) if isinstance(network, dict) else []
    if grant is True:
        return ("*",)
    return tuple(p for p in grant if isinstance(p, str)) if isinstance(grant, list) else ()


def _matches(pattern: str, host: str, port: int) -> bool:
    """The host's reading of a ``host[:port]`` grant (``*``, ``*.domain``, ``[v6]``)."""
    if pattern.startswith("["):
        name, _, rest = pattern[1:].partition("]")
        want = rest[1:]
    elif pattern.count(":") == 1:
        name, want = pattern.split(":")
    else:
        name, want = pattern, ""
    if want and want != "*" and want != str(port):
        return False
    name = name.lower()
    if name == "*":
        return True
    if name.startswith("*."):
        return host.endswith(name[1:])
    return fnmatchcase(host, name)


def undeclared(config: Data) -> str | None:
    """Why ``crmApiUrl`` is out of bounds (not http(s), or its host and port are not in
    the manifest's ``network.outbound``), else None."""
    url = str(config.get("crmApiUrl", ""))
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"configuration crmApiUrl {url!r} is not an http(s) URL with a host"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname.lower()
    declared = _declared_outbound()
    if not any(_matches(p, host, port) for p in declared):
        return (
            f"configuration crmApiUrl {url!r} needs {host}:{port} in "
            f"{MANIFEST} permissions.network.outbound (declared: "
            f"{', '.join(declared) or 'nothing'})"
        )
    return None


def unreachable(config: Data) -> str | None:
    """Why no request may be made with ``config``, else None."""
    why = undeclared(config)
    if why is None and not config.get("apiKey"):
        why = "configuration apiKey is empty: the CRM would refuse every request"
    return why


def _error_text(exc: PluginError) -> str:
    kind = getattr(exc.type, "value", exc.type)
    return f"{kind}: {getattr(exc, 'message', None) or exc}"


# --------------------------------------------------------------------------- requests


def _headers(config: Data, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {config['apiKey']}", "Accept": "application/json", **extra}


def _endpoint(config: Data, path: str) -> str:
    return str(config["crmApiUrl"]).rstrip("/") + path


def _timeout_s(config: Data, key: str, default_ms: int) -> float:
    """``config[key]`` (ms) in seconds, as ``api.http`` takes it."""
    return int(config.get(key, default_ms)) / 1000


def _json(answer: Data) -> Any:
    try:
        return json.loads(answer.get("text") or "null")
    except ValueError:
        return None


def push(api: Any, config: Data, record: Data) -> Any:
    """POST ``record``; the CRM's record id (None if its answer names none)."""
    why = unreachable(config)
    if why:
        raise NotReachable(why)
    url = _endpoint(config, "/contacts")
    try:
        answer = api.http.post(
            url,
            json=record,
            headers=_headers(config, **{"Idempotency-Key": str(record["submissionId"])}),
            timeout=_timeout_s(config, "syncTimeout", 10_000),
        )
    except PluginError as exc:
        raise CrmFailed(f"POST {url}: {_error_text(exc)}") from None
    status = int(answer.get("status", 0))
    if not 200 <= status < 300:
        raise CrmFailed(f"POST {url}: HTTP {status}: {str(answer.get('text', ''))[:200]}")
    body = _json(answer)
    return body.get("id", body.get("recordId")) if isinstance(body, dict) else None


def lookup(api: Any, config: Data, email: str) -> Data | None:
    """The CRM's contact with ``email``; None when it has none (404)."""
    why = unreachable(config)
    if why:
        raise NotReachable(why)
    url = _endpoint(config, "/contacts/lookup?" + urllib.parse.urlencode({"email": email}))
    try:
        answer = api.http.get(
            url, headers=_headers(config), timeout=_timeout_s(config, "lookupTimeout", 5_000)
        )
    except PluginError as exc:
        raise CrmFailed(f"GET {url}: {_error_text(exc)}") from None
    status = int(answer.get("status", 0))
    if status == 404:
        return None
    if status != 200:
        raise CrmFailed(f"GET {url}: HTTP {status}: {str(answer.get('text', ''))[:200]}")
    contact = _json(answer)
    if not isinstance(contact, dict):
        raise CrmFailed(f"GET {url}: the answer is not a JSON object")
    return contact


# --------------------------------------------------------------------------- records


def mapping(config: Data, crm: Data) -> dict[str, str]:
    """Answer name → CRM field: the configuration's table, the form's over it."""
    table = dict(config.get("fieldMapping") or {})
    table.update(crm.get("fieldMapping") or {})
    return {str(k): str(v) for k, v in table.items() if v}


def record_for(config: Data, form: Data, submission: Data) -> Data:
    """What the CRM receives: mapped answers, then the source and the ids."""
    answers = submission.get("data") or {}
    crm = crm_settings(form) or {}
    record = {
        field: answers[name]
        for name, field in mapping(config, crm).items()
        if answers.get(name) not in (None, "")
    }
    record.update(
        source=str(crm.get("source") or config.get("source") or "pliers"),
        formId=form.get("id"),
        submissionId=submission.get("id"),
    )
    return record


def email_of(config: Data, form: Data, submission: Data) -> str | None:
    """The answer mapped to the CRM's ``email``, else the first e-mail field, else
    ``email``."""
    answers = submission.get("data") or {}
    names = [n for n, f in mapping(config, crm_settings(form) or {}).items() if f == "email"]
    names += [
        f.get("name")
        for f in form.get("fields") or []
        if f.get("type") == "email" or f.get("format") == "email"
    ]
    names.append("email")
    for name in names:
        value = answers.get(name) if name else None
        if isinstance(value, str) and "@" in value:
            return value.strip()
    return None


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- sync


def sync(api: Any, config: Data, logger: Any, record: Data, attempt: int) -> None:
    """Send ``record`` (attempt 0 is the first, n the n-th retry); note the outcome in
    the submission's metadata and schedule the next retry on failure."""
    sid = str(record["submissionId"])
    try:
        record_id = push(api, config, record)
    except NotReachable as exc:
        logger.error("CRM sync not attempted", submissionId=sid, reason=str(exc))
        _note(api, sid, {"status": "error", "error": str(exc), "attempts": attempt})
        return
    except CrmFailed as exc:
        _failed(api, config, logger, record, attempt, str(exc))
        return
    if record_id is None:
        logger.warning("CRM answered without a record id", submissionId=sid)
    _note(
        api,
        sid,
        {
            "status": "synced",
            "recordId": record_id,
            "syncedAt": _iso(time.time()),
            "attempts": attempt + 1,
        },
    )


def _failed(api: Any, config: Data, logger: Any, record: Data, attempt: int, why: str) -> None:
    sid = str(record["submissionId"])
    if attempt >= int(config["retryAttempts"]):
        logger.error("CRM sync failed, no retries left", submissionId=sid, error=why)
        _note(api, sid, {"status": "failed", "error": why, "attempts": attempt + 1})
        return
    delay_s = int(config["retryDelay"]) / 1000
    task_id = api.tasks.schedule(
        RETRY_TASK, {"record": record, "attempt": attempt + 1}, delay_s=delay_s
    )
    logger.warning(
        "CRM sync failed, retry scheduled",
        submissionId=sid,
        error=why,
        retry=attempt + 1,
        taskId=task_id,
        inSeconds=delay_s,
    )
    _note(
        api,
        sid,
        {
            "status": "retrying",
            "error": why,
            "attempts": attempt + 1,
            "retryTaskId": task_id,
            "nextAttemptAt": _iso(time.time() + delay_s),
        },
    )


def _note(api: Any, submission_id: str, crm: Data) -> None:
    api.submissions.update(submission_id, metadata={"crm": crm})


def _retry_handler(plugin: Any) -> Any:
    def on_retry(event: Data) -> None:
        task = event.get("payload") or {}
        if task.get("pluginId") != plugin.id:
            return  # another plugin's task of the same name
        payload = task.get("payload") or {}
        record, attempt = payload.get("record"), payload.get("attempt")
        if not isinstance(record, dict) or not isinstance(attempt, int):
            plugin.logger.error("malformed crm-sync-retry task", taskId=task.get("taskId"))
            return
        sync(plugin.api, plugin.config, plugin.logger, record, attempt)

    return on_retry


def _subscribe(plugin: Any) -> None:
    """Receive due ``crm-sync-retry`` tasks; without a host there are none to receive.

    Called at activation and again by each sync until it succeeds: a host attached after
    the plugin loaded (``pliers serve --extensions … --with-host``) still runs retries."""
    if plugin.id in _subscribed:
        return
    try:
        _subscribed[plugin.id] = plugin.api.events.subscribe(
            f"task.{RETRY_TASK}", _retry_handler(plugin)
        )
    except PluginError as exc:
        plugin.logger.info("no host events: retries cannot run here", reason=_error_text(exc))


# --------------------------------------------------------------------------- hooks


@hook("submission.afterSave")
def sync_submission(ctx: HookContext) -> Data | None:
    form, submission = ctx.data["form"], ctx.data["submission"]
    if crm_settings(form) is None:
        return None
    _subscribe(ctx.plugin)
    sync(ctx.api, ctx.config, ctx.logger, record_for(ctx.config, form, submission), 0)
    return None


@hook("submission.enrich")
def enrich(ctx: HookContext) -> Data | None:
    form, submission = ctx.data["form"], ctx.data["submission"]
    if crm_settings(form) is None:
        return None
    email = email_of(ctx.config, form, submission)
    if email is None:
        return None
    try:
        contact = lookup(ctx.api, ctx.config, email)
    except (CrmFailed, NotReachable) as exc:
        ctx.logger.warning("CRM lookup failed; data unchanged", error=str(exc))
        return None
    if contact is None:
        return None
    out: Data = copy.deepcopy(ctx.data)
    out["submission"].setdefault("metadata", {})["crmContact"] = contact
    return out


# --------------------------------------------------------------------------- lifecycle


def on_activate(plugin: Plugin) -> None:
    why = undeclared(plugin.config)
    if why:
        raise ValueError(why)  # refused at load, naming the setting and the manifest field
    why = unreachable(plugin.config)
    if why:
        plugin.logger.info("CRM calls are skipped until configured", reason=why)
    _subscribe(plugin)


def on_config_change(plugin: Plugin, config: Data) -> None:
    why = unreachable(config)
    if why:
        plugin.logger.error("CRM calls are skipped until this is fixed", reason=why)


def on_deactivate(plugin: Plugin) -> None:
    subscription = _subscribed.pop(plugin.id, None)
    if subscription is not None:
        with contextlib.suppress(PluginError):  # the host went first
            plugin.api.events.unsubscribe(subscription)
