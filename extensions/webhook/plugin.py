"""webhook: signed deliveries in, fields mapped onto a form, submissions out.

Endpoints (the manifest declares them; the web layer routes, validates and
authenticates before these functions run):

- ``POST /plugins/webhook/receive/:webhookId`` (no auth): the body must be signed,
  ``x-webhook-signature: sha256=<hex HMAC-SHA256 of the raw body with the webhook's
  secret>``, compared in constant time. Unknown webhook → 404, bad or missing
  signature → 401. The JSON payload is mapped through ``fieldMapping``
  (``{"contact.email": "email"}``: payload path → form field; no mapping keeps the
  payload's top level), then, if ``createSubmission``, submitted to ``formId`` and its
  ``actions`` run (``email``, ``api_call``; ``{{key}}`` is replaced by mapped values).
- ``GET /plugins/webhook/list`` (auth): webhooks without their secrets, ``limit`` 20 /
  ``offset`` 0.
- ``POST /plugins/webhook/create`` (auth): ``{name, formId, createSubmission?,
  fieldMapping?, actions?}`` → 201 with ``id``, ``url`` and a fresh 32-byte hex ``secret``.

Where things go: with a host attached to the server, submissions go through
``request.api.create_submission`` (the host's whole pipeline, its hooks included);
without one they are kept in this module's ``SUBMISSIONS`` list. Actions go to
``request.api.send_email`` / ``request.api.http`` when a host offers them, else to the
in-memory ``OUTBOX``. Webhooks and deliveries live in memory: they last as long as this
plugin's activation (webhooks in the configuration come back on every activation).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
import uuid
from typing import Any

_lock = threading.Lock()
WEBHOOKS: dict[str, dict[str, Any]] = {}
DELIVERIES: list[dict[str, Any]] = []
SUBMISSIONS: list[dict[str, Any]] = []
OUTBOX: list[dict[str, Any]] = []

_TEMPLATE = re.compile(r"\{\{\s*([\w.-]+)\s*\}\}")
_PUBLIC = (
    "id",
    "name",
    "formId",
    "createSubmission",
    "fieldMapping",
    "actions",
    "createdAt",
    "createdBy",
)


def _error(status: int, code: str, message: str, **details: Any) -> dict[str, Any]:
    return {
        "status": status,
        "body": {"error": {"code": code, "message": message, "details": details}},
    }


def on_activate(plugin: Any) -> None:
    """Start from the webhooks in the configuration (signed with ``webhookSecret``)."""
    secret = plugin.config.get("webhookSecret", "")
    with _lock:
        WEBHOOKS.clear()
        DELIVERIES.clear()
        for item in plugin.config.get("webhooks", []):
            if not secret:
                plugin.logger.warning(f"webhook {item['id']!r} ignored: webhookSecret is empty")
                continue
            WEBHOOKS[item["id"]] = {
                "fieldMapping": {},
                "actions": [],
                "createSubmission": False,
                **item,
                "secret": secret,
                "createdAt": time.time(),
                "createdBy": "configuration",
            }


def limit_payload(request: Any) -> dict[str, Any] | None:
    """Middleware: refuse deliveries above ``maxPayloadSize`` before anything else."""
    limit = int(request.config.get("maxPayloadSize", 1 << 20))
    if len(request.raw_body) > limit:
        return _error(
            413, "PAYLOAD_TOO_LARGE", f"delivery of {len(request.raw_body)} bytes exceeds {limit}"
        )
    return None


def sign(secret: str, body: bytes) -> str:
    """The ``x-webhook-signature`` value a sender puts on ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _path(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def map_fields(payload: Any, mapping: dict[str, str]) -> dict[str, Any]:
    """Form data from a payload: ``{payload path: form field}``; no mapping → top level."""
    if not mapping:
        return dict(payload) if isinstance(payload, dict) else {"payload": payload}
    out = {}
    for source, target in mapping.items():
        value = _path(payload, source)
        if value is not None:
            out[target] = value
    return out


def render(template: Any, values: dict[str, Any]) -> Any:
    """``{{key}}`` (dotted paths allowed) replaced in strings, recursively."""
    if isinstance(template, str):
        return _TEMPLATE.sub(
            lambda m: "" if (v := _path(values, m.group(1))) is None else str(v), template
        )
    if isinstance(template, dict):
        return {k: render(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, values) for v in template]
    return template


def _run_actions(
    request: Any, webhook: dict[str, Any], values: dict[str, Any]
) -> list[dict[str, Any]]:
    results = []
    api = request.api
    for action in webhook.get("actions", []):
        kind = action.get("type")
        filled = render({k: v for k, v in action.items() if k != "type"}, values)
        if kind == "email" and api.offers("send_email"):
            api.send_email(filled.get("to"), filled.get("subject", ""), filled.get("body", ""))
            results.append({"type": kind, "status": "sent"})
        elif kind == "api_call" and api.offers("http"):
            api.http.post(filled.get("url"), json=filled.get("body"))
            results.append({"type": kind, "status": "sent"})
        elif kind in ("email", "api_call"):
            with _lock:
                OUTBOX.append({"type": kind, "webhookId": webhook["id"], **filled})
            results.append(
                {"type": kind, "status": "queued", "detail": "no host service; kept in OUTBOX"}
            )
        else:
            results.append({"type": kind, "status": "skipped", "detail": "unknown action type"})
    return results


def receive(request: Any) -> dict[str, Any]:
    """``POST /plugins/webhook/receive/:webhookId``."""
    webhook_id = request.params["webhookId"]
    with _lock:
        webhook = WEBHOOKS.get(webhook_id)
    if webhook is None:
        return _error(404, "WEBHOOK_NOT_FOUND", f"no webhook {webhook_id!r}")
    given = request.headers.get("x-webhook-signature", "")
    if not given.startswith("sha256=") or not hmac.compare_digest(
        sign(webhook["secret"], request.raw_body).encode(), given.encode()
    ):
        return _error(
            401, "INVALID_SIGNATURE", "x-webhook-signature is missing or does not match the body"
        )
    payload = request.body
    if not isinstance(payload, dict):
        return _error(400, "INVALID_PAYLOAD", "a webhook delivery must be a JSON object")
    mapped = map_fields(payload, webhook.get("fieldMapping") or {})
    delivery_id = uuid.uuid4().hex
    now = time.time()
    answer: dict[str, Any] = {
        "success": True,
        "deliveryId": delivery_id,
        "webhookId": webhook_id,
        "data": mapped,
        "submissionId": None,
        "stored": None,
    }
    if webhook.get("createSubmission"):
        meta = {"source": "webhook", "webhookId": webhook_id, "deliveryId": delivery_id}
        if request.api.offers("create_submission"):
            try:
                saved = request.api.create_submission(webhook["formId"], mapped, meta)
            except Exception as exc:  # the host refused it: invalid data, unknown form, veto
                return _error(422, "SUBMISSION_REJECTED", str(exc), webhookId=webhook_id)
            answer.update(submissionId=saved["id"], stored="host", status=saved.get("status"))
        else:
            saved = {
                "id": uuid.uuid4().hex,
                "formId": webhook["formId"],
                "data": mapped,
                "metadata": meta,
                "status": "received",
                "createdAt": now,
            }
            with _lock:
                SUBMISSIONS.append(saved)
            answer.update(submissionId=saved["id"], stored="memory")
    answer["actions"] = _run_actions(request, webhook, {**mapped, "webhook": _public(webhook, "")})
    horizon = now - 86400 * int(request.config.get("retentionDays", 30))
    with _lock:
        DELIVERIES[:] = [d for d in DELIVERIES if d["receivedAt"] >= horizon]
        DELIVERIES.append(
            {
                "id": delivery_id,
                "webhookId": webhook_id,
                "receivedAt": now,
                "submissionId": answer["submissionId"],
            }
        )
    request.logger.info("delivery accepted", webhookId=webhook_id, deliveryId=delivery_id)
    return {"status": 200, "body": answer}


def _public(webhook: dict[str, Any], base_url: str) -> dict[str, Any]:
    view = {k: webhook.get(k) for k in _PUBLIC}
    view["url"] = f"{base_url}/plugins/webhook/receive/{webhook['id']}"
    return view


def list_webhooks(request: Any) -> dict[str, Any]:
    """``GET /plugins/webhook/list``: secrets removed, paged."""
    limit, offset = request.query["limit"], request.query["offset"]
    with _lock:
        hooks = sorted(WEBHOOKS.values(), key=lambda w: (w["createdAt"], w["id"]))
        counts: dict[str, int] = {}
        for d in DELIVERIES:
            counts[d["webhookId"]] = counts.get(d["webhookId"], 0) + 1
    page = [
        {**_public(w, request.base_url), "deliveries": counts.get(w["id"], 0)}
        for w in hooks[offset : offset + limit]
    ]
    return {
        "status": 200,
        "body": {
            "webhooks": page,
            "pagination": {
                "total": len(hooks),
                "limit": limit,
                "offset": offset,
                "hasMore": offset + len(page) < len(hooks),
            },
        },
    }


def create_webhook(request: Any) -> dict[str, Any]:
    """``POST /plugins/webhook/create``: 201 with the id, url and secret (shown once)."""
    body = request.body
    webhook = {
        "id": "wh_" + secrets.token_hex(8),
        "name": body["name"],
        "formId": body["formId"],
        "createSubmission": body.get("createSubmission", False),
        "fieldMapping": body.get("fieldMapping", {}),
        "actions": body.get("actions", []),
        "secret": secrets.token_hex(32),
        "createdAt": time.time(),
        "createdBy": request.user.id if request.user else None,
    }
    with _lock:
        WEBHOOKS[webhook["id"]] = webhook
    return {
        "status": 201,
        "body": {**_public(webhook, request.base_url), "secret": webhook["secret"]},
    }
