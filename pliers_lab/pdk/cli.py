"""``pliers``: the plugin author's command line.

    pliers create TEMPLATE NAME [--dir D]   a new plugin from a template
    pliers validate PATH [--store S]        manifest, code, handlers, config, tests, docs;
                                            a bundle: signature (trusted by S?) and scan
    pliers test PATH [-- PYTEST ARGS]       the plugin's tests with the pliers fixtures
    pliers docs PATH [-o FILE]              Markdown docs from the manifest and schema
    pliers simulate PATH HOOK [--data JSON|@FILE]   fire one hook at the plugin
    pliers dev PATH [--seconds N]           load, watch, reload on save, report
    pliers package PATH [--key K] [-o DIR]  a (signed) bundle of the plugin
    pliers publish PATH --registry R --key K --user U   tests (80 % coverage), scan,
                                            bundle, sign, publish
    pliers serve [--extensions D] [--port P] [--trust ID] [--trust-folder D]
                                            plugin endpoints and the /v3 REST API
    pliers demo                             the example plugins through their hooks

Every user mistake is one line on stderr and exit status 2; a plugin that fails its
checks exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import PliersError

__all__ = ["main"]


def _data(text: str | None) -> Any:
    if text is None:
        return {}
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PliersError(f"--data {path}: cannot read: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PliersError(
            f"--data: not JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from None


def cmd_create(args: argparse.Namespace) -> int:
    from .templates import create

    path = create(args.template, args.name, args.dir, author=args.author)
    print(f"created {path} ({args.template}); next: pliers test {path}")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from .checks import check_plugin
    from .init import init_plugin

    path = init_plugin(args.path, name=args.name, author=args.author)
    print(f"wrote {path}")
    report = check_plugin(args.path)
    print(report.render())
    return 0 if report.valid else 1


def cmd_validate(args: argparse.Namespace) -> int:
    from .checks import check_bundle, check_plugin

    path = Path(args.path)
    if path.is_file() and path.name != "manifest.json":  # a bundle
        report = check_bundle(path, _store_keys(args.store))
    else:
        if args.store is not None:
            raise PliersError("--store: only for a bundle (.zip); a folder is not signed")
        report = check_plugin(path)
    print(report.render())
    return 0 if report.valid else 1


def _store_keys(store: str | None) -> list[Any]:
    """The keys a plugin store trusts (``--store``), or none."""
    if store is None:
        return []
    if not (Path(store) / "store.db").is_file():
        raise PliersError(f"--store {store}: not a plugin store (no store.db)")
    from ..market import PluginStore

    return list(PluginStore(store).trusted_keys().values())


def cmd_test(args: argparse.Namespace) -> int:
    from .testing import run_plugin_tests

    result = run_plugin_tests(args.path, args.pytest_args)
    print(result.render())
    return 0 if result.failed == 0 and result.passed > 0 else 1


def cmd_docs(args: argparse.Namespace) -> int:
    from .docs import generate_docs, validate_docs

    if args.check:
        problems = validate_docs(args.path, args.check)
        for problem in problems:
            print(problem)
        print(f"{args.check}: {'complete' if not problems else f'{len(problems)} missing'}")
        return 1 if problems else 0
    text = generate_docs(args.path)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        print(text)
    return 0


def trust_policy(args: argparse.Namespace) -> Any:
    """The ``TrustPolicy`` of ``--trust ID`` and ``--trust-folder DIR`` (issue 13 §1)."""
    from ..trust import TrustPolicy

    return TrustPolicy(plugins=args.trust or (), folders=args.trust_folder or ())


def add_trust_options(p: argparse.ArgumentParser) -> None:
    """``--trust`` and ``--trust-folder``, repeatable: what may run where it asks."""
    p.add_argument(
        "--trust",
        action="append",
        metavar="PLUGIN_ID",
        help="trust this plugin: it runs where its manifest asks, inline included "
        "(repeatable; a manifest alone cannot ask its way out of the sandbox)",
    )
    p.add_argument(
        "--trust-folder",
        action="append",
        type=Path,
        metavar="DIR",
        help="trust every plugin in this folder (symlinks resolved; repeatable)",
    )


def _warn(plugins: Any) -> None:
    for plugin in plugins:
        for warning in plugin.warnings:
            print(f"warning: {warning}", file=sys.stderr, flush=True)


def cmd_simulate(args: argparse.Namespace) -> int:
    from ..engine import Engine

    with Engine(default_isolation=args.isolation, trust=trust_policy(args)) as engine:
        _warn([engine.load(args.path)])
        result = engine.fire(
            args.hook, _data(args.data), user_id=args.user, session_id=args.session
        )
        print(result.summary())
        return 0 if result.ok else 1


def cmd_dev(args: argparse.Namespace) -> int:
    from ..engine import Engine

    with Engine(default_isolation=args.isolation, trust=trust_policy(args)) as engine:
        plugin = engine.load(args.path)
        _warn([plugin])
        reloader = engine.watch()
        assert reloader is not None
        reloader.listeners.append(
            lambda r: print(
                f"{time.strftime('%H:%M:%S')} {r.plugin_id} {r.kind} reload "
                + ("ok" if r.ok else f"FAILED — still serving the previous version:\n  {r.error}"),
                flush=True,
            )
        )
        print(
            f"watching {plugin.root} ({plugin.key}); save a file to reload; Ctrl-C stops",
            flush=True,
        )
        deadline = time.monotonic() + args.seconds if args.seconds else None
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.1)
        except KeyboardInterrupt:
            pass
    return 0


def _key(path: str | None) -> Any:
    if path is None:
        return None
    from ..market import SigningKey

    return SigningKey.load(path)


def cmd_package(args: argparse.Namespace) -> int:
    from ..market import build_bundle

    bundle = build_bundle(args.path, args.output, signing_key=_key(args.key), signer=args.signer)
    print(f"wrote {bundle}")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    """Publishing gates (the spec's publishing facts): the tests pass with at least 80 %
    coverage, the scan is clean enough for the registry, the bundle is signed."""
    from ..market import Registry, build_bundle
    from .testing import COVERAGE_THRESHOLD, run_plugin_tests

    tests = run_plugin_tests(args.path)
    print(tests.render())
    if tests.failed or not tests.passed:
        raise PliersError("not published: the plugin's tests must pass")
    if tests.coverage is not None and tests.coverage < COVERAGE_THRESHOLD:
        raise PliersError(
            f"not published: coverage {tests.coverage:.0f}% is below {COVERAGE_THRESHOLD:.0f}%"
        )
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        bundle = build_bundle(args.path, tmp, signing_key=_key(args.key), signer=args.user)
        record = Registry(args.registry).publish(bundle, user=args.user, changes=args.changes)
    print(
        f"published {record.plugin_id}@{record.version} ({record.checksum}, "
        f"scan score {record.scan.score})"
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ..web.cli import run

    return run(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run

    run(args.extensions).close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .templates import TEMPLATES

    parser = argparse.ArgumentParser(
        prog="pliers", description="The Pliers plugin development kit."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("create", help="a new plugin from a template")
    p.add_argument("template", choices=sorted(TEMPLATES))
    p.add_argument("name", help="the plugin's name (lowercase, digits, hyphens)")
    p.add_argument("--dir", default=".", help="where to create it (default: here)")
    p.add_argument("--author", default="Plugin Author <author@example.com>")
    p.set_defaults(run=cmd_create)
    p = sub.add_parser(
        "validate", help="check a plugin folder, or a bundle (.zip), as the engine would"
    )
    p.add_argument("path", help="a plugin folder or a bundle (.zip)")
    p.add_argument(
        "--store",
        help="a bundle's signature is checked against the keys this plugin store trusts "
        "(default: none, so any signature is by an unknown key)",
    )
    p.set_defaults(run=cmd_validate)
    p = sub.add_parser("test", help="run a plugin's tests")
    p.add_argument("path")
    p.add_argument("pytest_args", nargs="*", help="after --: passed to pytest")
    p.set_defaults(run=cmd_test)
    p = sub.add_parser("docs", help="Markdown docs from the manifest and schema")
    p.add_argument("path")
    p.add_argument("-o", "--output", help="write to this file instead of printing")
    p.add_argument(
        "--check", metavar="DOCS", help="check that DOCS names every hook, setting, endpoint"
    )
    p.set_defaults(run=cmd_docs)
    p = sub.add_parser("init", help="a manifest for a folder that already holds plugin code")
    p.add_argument("path")
    p.add_argument("--name", help="the plugin's name (default: from the folder's)")
    p.add_argument("--author", default="Plugin Author <author@example.com>")
    p.set_defaults(run=cmd_init)
    for name, helptext in (
        ("simulate", "fire one hook at a plugin"),
        ("dev", "load, watch and reload"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("path")
        p.add_argument("--isolation", default="inline", choices=("inline", "process"))
        add_trust_options(p)
        if name == "simulate":
            p.add_argument("hook")
            p.add_argument("--data", help="JSON payload, or @file")
            p.add_argument("--user")
            p.add_argument("--session")
            p.set_defaults(run=cmd_simulate)
        else:
            p.add_argument("--seconds", type=float, default=0, help="stop after this long")
            p.set_defaults(run=cmd_dev)
    p = sub.add_parser("package", help="a bundle of the plugin (signed with --key)")
    p.add_argument("path")
    p.add_argument("-o", "--output", help="folder for the bundle (default: here)")
    p.add_argument("--key", help="Ed25519 private key file (PEM) to sign with")
    p.add_argument("--signer", help="who signs, recorded in the signature")
    p.set_defaults(run=cmd_package)
    p = sub.add_parser("publish", help="test, scan, bundle, sign and publish to a registry")
    p.add_argument("path")
    p.add_argument("--registry", required=True, help="the registry folder")
    p.add_argument("--key", required=True, help="the user's Ed25519 private key (PEM)")
    p.add_argument("--user", required=True, help="the publishing user (owns the key)")
    p.add_argument("--changes", action="append", default=[], help="a line of release notes")
    p.set_defaults(run=cmd_publish)
    p = sub.add_parser("serve", help="serve plugin endpoints and the management API")
    p.add_argument("--extensions", type=Path, default=None, help="folder of plugins to load")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (0: any free one)")
    p.add_argument("--with-host", action="store_true", help="attach a simulated Pliers host")
    p.add_argument("--db", default=None, help="the host's SQLite file (default: in memory)")
    p.add_argument(
        "--isolation",
        choices=("inline", "process"),
        default=None,
        help="where the --extensions plugins run unless trusted (default: process); "
        "installs over HTTP always run sandboxed unless trusted",
    )
    add_trust_options(p)
    p.set_defaults(run=cmd_serve)
    p = sub.add_parser("demo", help="the example plugins through their hooks")
    p.add_argument("--extensions", type=Path, default=None)
    p.set_defaults(run=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except PliersError as exc:
        print(f"pliers {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
