"""``pliers advisories``, ``pliers advisory ...``, ``pliers trust``: security reports,
advisories and trust scores from a shell (issue 19 §2).

- ``pliers advisories --store DIR --registry DIR``: the advisories affecting what the
  store has installed, with the fixing update (``pliers advisories --url URL`` asks a
  running engine's management API instead: what it runs, what its policy did).
  Exit 1 when something installed is affected, so a cron job or CI step can gate on it.
- ``pliers advisory report|confirm|dismiss|publish|withdraw``: the registry's side
  (``--registry URL --key K``: a registry service, the requests signed with the key).
- ``pliers trust NAME[@VERSION] --registry DIR|URL [--store DIR]``: the score and its
  signals.

``--registry`` is a registry folder, a registry service's URL or a mirror's
``file://`` URL wherever only reading is done.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ..errors import PliersError

__all__ = ["add_commands"]


class _Mistake(PliersError):
    """A command-line mistake (``main`` prints it on one line, exit 2)."""


def _registry(path: str | None) -> Any:
    """The registry ``--registry`` names: a folder, a service's URL or a mirror's."""
    from ..market import Registry

    if path is None:
        raise _Mistake("--registry DIR|URL is needed (the registry folder or service)")
    if path.startswith(("http://", "https://", "file:")):
        from ..market.sources import open_registry

        return open_registry(path)
    if not (Path(path) / "registry.db").is_file():
        raise _Mistake(f"--registry {path}: not a registry (no registry.db)")
    return Registry(path)


def _writer(args: argparse.Namespace) -> Any:
    """Where ``pliers advisory`` writes: the registry's database, or its service with
    requests signed by ``--key`` (a key registered to ``--user`` there)."""
    from ..market import Advisories, RemoteAdvisories

    if args.registry.startswith(("http://", "https://")):
        if args.key is None:
            raise _Mistake(
                f"--registry {args.registry}: a registry service takes signed requests; "
                "name your signing key with --key"
            )
        from ._keys import load_signing_key

        key = load_signing_key(args.key, args.keys)[0]
        return _Signed(RemoteAdvisories(args.registry, prefix="/v1", user=args.user, key=key))
    return Advisories(_registry(args.registry))


class _Signed:
    """A ``RemoteAdvisories`` answering as ``Advisories`` does (the user is the signer)."""

    def __init__(self, remote: Any) -> None:
        self.remote = remote

    def report(self, plugin: str, issue: Any, *, version: str | None, reporter: str) -> Any:
        return self.remote.report(plugin, issue, version=version)

    def confirm(self, reports: list[int], *, user: str, **fields: Any) -> Any:
        if len(reports) != 1:
            raise _Mistake("a registry service confirms one report at a time")
        return self.remote.confirm(reports[0], **fields)

    def dismiss(self, report: int, *, user: str, reason: str) -> Any:
        return self.remote.dismiss(report, reason=reason)

    def publish(self, plugin: str, *, user: str, **fields: Any) -> Any:
        return self.remote.publish(plugin, **fields)

    def withdraw(self, advisory: str, *, user: str) -> Any:
        return self.remote.withdraw(advisory)


def _store(path: str) -> Any:
    from ..market import PluginStore

    if not (Path(path) / "store.db").is_file():
        raise _Mistake(f"--store {path}: not a plugin store (no store.db)")
    return PluginStore(path)


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def cmd_advisories(args: argparse.Namespace) -> int:
    if args.url:
        found = _get(args.url, args.token, "/v3/advisories")["advisories"]
    elif args.store:
        from ..market import AdvisoryWatch, PluginMarketplace

        market = PluginMarketplace(_registry(args.registry), _store(args.store))
        found = [f.to_dict() for f in AdvisoryWatch(market).check()]
    else:
        from ..market._verification import advisory_source

        listed = advisory_source(_registry(args.registry)).advisories(args.plugin)
        if args.json:
            _print([a.to_dict() for a in listed])
        for a in [] if args.json else listed:
            fix = f"fixed in {a.fixed_version}" if a.fixed_version else "no fix yet"
            gone = " (withdrawn)" if a.withdrawn_at else ""
            print(f"{a.id}  {a.severity:<8} {a.plugin_id} {a.affected}  {fix}{gone}: {a.title}")
        return 0
    if args.plugin:
        found = [f for f in found if f["pluginId"] == args.plugin]
    if args.json:
        _print(found)
    elif not found:
        print("no installed plugin is affected by an advisory")
    for f in [] if args.json else found:
        a, update = f["advisory"], f.get("update")
        offer = (
            f"update to {update['newVersion']}"
            + (" (asks for new permissions)" if update.get("needsConsent") else "")
            if update
            else f["note"]
        )
        print(
            f"{f['pluginId']} {f['installedVersion']}: {a['id']} {a['severity']} "
            f"({a['affected']}) {a['title']} -> {offer} [{f['action']}, {f['state']}]"
        )
    return 1 if found else 0


def cmd_advisory(args: argparse.Namespace) -> int:
    advisories = _writer(args)
    action = args.advisory_command
    result: Any
    if action == "report":
        issue = {
            "severity": args.severity,
            "type": args.type,
            "description": args.description,
            "location": args.location,
            "recommendation": args.recommendation or "",
        }
        result = advisories.report(args.plugin, issue, version=args.version, reporter=args.user)
    elif action == "confirm":
        result = advisories.confirm(
            args.reports, user=args.user, affected=args.affected,
            fixed_version=args.fixed, severity=args.severity, title=args.title,
        )  # fmt: skip
    elif action == "dismiss":
        result = advisories.dismiss(args.report, user=args.user, reason=args.reason)
    elif action == "publish":
        result = advisories.publish(
            args.plugin, user=args.user, affected=args.affected, severity=args.severity,
            title=args.title, description=args.description or "", fixed_version=args.fixed,
        )  # fmt: skip
    else:
        result = advisories.withdraw(args.advisory, user=args.user)
    _print(result.to_dict())
    return 0


def cmd_trust(args: argparse.Namespace) -> int:
    from ..market import PluginVerification

    name, _, version = args.plugin.partition("@")
    store = _store(args.store) if args.store else None
    verification = PluginVerification(_registry(args.registry), store=store)
    score = verification.get_trust_score(name, version or None)
    if args.json:
        _print(score.to_dict())
    else:
        print(score)
    return 0


def _get(url: str, token: str | None, path: str) -> Any:
    request = urllib.request.Request(url.rstrip("/") + path)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = exc.reason
        raise _Mistake(f"GET {url.rstrip('/')}{path}: {exc.code} {message}") from None
    except urllib.error.URLError as exc:
        raise _Mistake(f"GET {url.rstrip('/')}{path}: {exc.reason}") from None


def add_commands(sub: Any) -> None:
    """Add ``advisories``, ``advisory`` and ``trust`` to the ``pliers`` parser."""
    p = sub.add_parser(
        "advisories",
        help="advisories affecting what is installed, with the fixing update (exit 1 if any)",
    )
    p.add_argument("--registry", metavar="DIR|URL", help="the registry folder or service")
    p.add_argument("--store", metavar="DIR", help="the plugin store whose installs to check")
    p.add_argument("--url", default=os.environ.get("PLIERS_URL"), help="a running engine")
    p.add_argument("--token", default=os.environ.get("PLIERS_TOKEN"), help="its admin token")
    p.add_argument("--plugin", help="only this plugin")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_advisories)

    p = sub.add_parser("advisory", help="report, confirm, dismiss, publish, withdraw")
    verbs = p.add_subparsers(dest="advisory_command", required=True, metavar="ACTION")
    severities = ("critical", "high", "medium", "low")
    v = verbs.add_parser("report", help="report a security problem with a published version")
    v.add_argument("plugin")
    v.add_argument("--version", help="the version (default: latest)")
    v.add_argument("--severity", choices=severities, required=True)
    v.add_argument("--type", required=True, help="what kind of problem (data-exfiltration...)")
    v.add_argument("--description", required=True)
    v.add_argument("--location", help="file:line")
    v.add_argument("--recommendation")
    v = verbs.add_parser("confirm", help="turn open reports into an advisory (maintainers)")
    v.add_argument("reports", type=int, nargs="+", metavar="REPORT_ID")
    v.add_argument("--affected", required=True, help="the affected versions, an npm range")
    v.add_argument("--fixed", help="the version that fixes it")
    v.add_argument("--severity", choices=severities, help="default: the worst reported")
    v.add_argument("--title")
    v = verbs.add_parser("dismiss", help="close a report as not a problem (maintainers)")
    v.add_argument("report", type=int, metavar="REPORT_ID")
    v.add_argument("--reason", required=True)
    v = verbs.add_parser("publish", help="publish an advisory without a report (maintainers)")
    v.add_argument("plugin")
    v.add_argument("--affected", required=True, help="the affected versions, an npm range")
    v.add_argument("--severity", choices=severities, required=True)
    v.add_argument("--title", required=True)
    v.add_argument("--description")
    v.add_argument("--fixed", help="the version that fixes it")
    v = verbs.add_parser("withdraw", help="take back an advisory (maintainers)")
    v.add_argument("advisory", metavar="ADVISORY_ID")
    for action in verbs.choices.values():
        action.add_argument(
            "--registry", metavar="DIR|URL", required=True, help="a registry folder or service"
        )
        action.add_argument("--user", required=True, help="who reports or decides")
        action.add_argument("--key", help="the signing key (for a registry service)")
        action.add_argument("--keys", metavar="DIR", help="the keys folder")
    p.set_defaults(run=cmd_advisory)

    p = sub.add_parser("trust", help="a plugin version's trust score and its signals")
    p.add_argument("plugin", metavar="NAME[@VERSION]")
    p.add_argument("--registry", metavar="DIR|URL", required=True)
    p.add_argument("--store", metavar="DIR", help="adds whether this store trusts the key")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_trust)
