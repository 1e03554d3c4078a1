"""``pliers quarantine``, ``pliers release``, ``pliers threats``: the security monitor's
verbs from a shell (issue 19 §3).

Two ways to reach an engine: ``--url`` (a running ``pliers serve``'s management API, with
the admin token it printed: ``--token`` or ``PLIERS_TOKEN``), or ``--store`` (the
``security_store`` file of an engine, read by the next engine started on it: how to keep
a plugin from starting at all). A refusal from the API is one line naming what was wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ..errors import PliersError

__all__ = ["add_commands"]


class ApiRefused(PliersError):
    """The management API said no (its status and its message)."""


def _target(p: argparse.ArgumentParser, store: bool = True) -> None:
    p.add_argument(
        "--url",
        default=os.environ.get("PLIERS_URL"),
        help="a running engine's server, as pliers serve printed it (or PLIERS_URL)",
    )
    p.add_argument(
        "--token",
        default=os.environ.get("PLIERS_TOKEN"),
        help="its admin token (default: PLIERS_TOKEN)",
    )
    if store:
        p.add_argument(
            "--store",
            help="instead of --url: an engine's security store file (Engine(security_store=),"
            " pliers serve --security-store); applies when an engine starts on it",
        )


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    url = args.url.rstrip("/") + path
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("content-type", "application/json")
    if args.token:
        request.add_header("authorization", f"Bearer {args.token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read()).get("error", {})
            message = f"{error.get('code')}: {error.get('message')}"
        except (ValueError, AttributeError):
            message = str(exc.reason)
        raise ApiRefused(f"{method} {url}: {exc.code} {message}") from None
    except urllib.error.URLError as exc:
        raise ApiRefused(f"{method} {url}: cannot reach the engine ({exc.reason})") from None


def _where(args: argparse.Namespace) -> str:
    if bool(args.url) == bool(getattr(args, "store", None)):
        raise PliersError(
            "give either --url (a running engine; or PLIERS_URL) or --store (a security store file)"
        )
    return "url" if args.url else "store"


def _quote(plugin_id: str) -> str:
    return urllib.parse.quote(plugin_id, safe="")


def cmd_quarantine(args: argparse.Namespace) -> int:
    if not args.reason.strip():
        raise PliersError("--reason must say why (it is recorded with the quarantine)")
    if _where(args) == "url":
        body: dict[str, Any] = {"reason": args.reason}
        if args.threat:
            body["threat"] = args.threat
        reply = _call(args, "POST", f"/v3/plugins/{_quote(args.plugin)}/quarantine", body)
        print(f"{reply['pluginId']}: quarantined ({reply['status']}): {reply['quarantined']}")
        return 0
    from ..security import QuarantineStore

    store = QuarantineStore(args.store)
    try:
        store.quarantine(args.plugin, args.reason, version=None, source="cli")
    finally:
        store.close()
    print(f"{args.plugin}: quarantined in {args.store} (from the next engine start on it)")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    reason = args.reason or "released from the command line"
    if _where(args) == "url":
        path = f"/v3/plugins/{_quote(args.plugin)}/release"
        reply = _call(args, "POST", path, {"reason": reason})
        print(f"{reply['pluginId']}: released ({reply['status']})")
        return 0
    from ..security import QuarantineStore

    store = QuarantineStore(args.store)
    try:
        if not store.release(args.plugin, version=None, source="cli", reason=reason):
            raise PliersError(f"{args.plugin!r} is not quarantined in {args.store}")
    finally:
        store.close()
    print(f"{args.plugin}: released in {args.store}")
    return 0


def cmd_threats(args: argparse.Namespace) -> int:
    if not args.url:
        raise PliersError("give --url (a running engine; or PLIERS_URL)")
    path = f"/v3/plugins/{_quote(args.plugin)}/threats" if args.plugin else "/v3/security/threats"
    threats = _call(args, "GET", path)["threats"]
    if args.json:
        print(json.dumps(threats, indent=2))
        return 0
    if not threats:
        print("no threats")
    for t in threats:
        print(f"{t['id']}  {t['severity']:<8}  {t['action']:<10}  {t['summary']}")
        for signal in t["signals"]:
            print(f"    {signal}")
    return 0


def add_commands(sub: Any) -> None:
    """Add ``quarantine``, ``release`` and ``threats`` to the ``pliers`` parser."""
    p = sub.add_parser("quarantine", help="stop a plugin and keep it stopped, with a reason")
    p.add_argument("plugin", help="the plugin's id")
    p.add_argument("--reason", required=True, help="why (recorded with the quarantine)")
    p.add_argument("--threat", help="with --url: a threat id whose evidence is recorded too")
    _target(p)
    p.set_defaults(run=cmd_quarantine)
    p = sub.add_parser("release", help="lift a plugin's quarantine")
    p.add_argument("plugin", help="the plugin's id")
    p.add_argument("--reason", help="why (recorded with the release)")
    _target(p)
    p.set_defaults(run=cmd_release)
    p = sub.add_parser("threats", help="threats the security monitor finds (a running engine)")
    p.add_argument("plugin", nargs="?", help="one plugin (default: every plugin)")
    p.add_argument("--json", action="store_true", help="the threats as JSON, evidence included")
    _target(p, store=False)
    p.set_defaults(run=cmd_threats)
