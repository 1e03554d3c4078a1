"""``pliers``: the plugin author's command line.

    pliers create TEMPLATE NAME [--dir D]   a new plugin from a template
    pliers validate PATH [--store S]        manifest, code, handlers, config, tests, docs;
                                            a bundle: signature (trusted by S?) and scan
    pliers test PATH [-- PYTEST ARGS]       the plugin's tests with the pliers fixtures
    pliers docs PATH [-o FILE] [--check [DOCS]]   Markdown docs from the manifest and
                                            schema; --check: does DOCS (README.md) name
                                            every hook, setting, endpoint?
    pliers simulate PATH HOOK [--data JSON|@FILE]   fire one hook at the plugin (without
                                            --data: the hook's sample payload)
    pliers dev PATH [--seconds N]           load, watch, reload on save, report
    pliers package PATH [--key K] [-o DIR]  a (signed) bundle of the plugin
    pliers key create NAME | list | trust KEY --registry R [--user U] | revoke KEY
                                            signing keys (kept in a per-user folder, or
                                            --keys / $PLIERS_KEYS) and who trusts them
    pliers publish PATH --registry R --key K [--user U]   tests (80 % coverage), scan,
                                            bundle, sign, publish (R: a folder, or a
                                            registry service's URL)
    pliers serve [--extensions D] [--port P] [--trust ID] [--trust-folder D]
                                            plugin endpoints and the /v3 REST API
    pliers registry serve --root DIR [--host H] [--port P]   a registry over HTTP
    pliers registry export DIR --root DIR|URL   a registry as a mirror folder (offline)
    pliers demo                             the example plugins through their hooks

Every user mistake is one line on stderr and exit status 2; a plugin that fails its
checks exits 1 after its report, with one line on stderr saying so. No command ends in a
traceback (``PLIERS_DEBUG=1`` shows one for an unexpected error).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from ..errors import PliersError

__all__ = ["main"]


class Mistake(PliersError):
    """A user mistake on the command line: one line on stderr, exit status 2."""


class Failed(PliersError):
    """The plugin failed a check whose report was printed: one line on stderr, exit 1."""


def _fail(message: str) -> NoReturn:
    """Exit status 1 with the one stderr line that says what failed (its report is above)."""
    raise Failed(message)


def _data(text: str | None) -> Any:
    if text is None:
        return {}
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise Mistake(f"--data {path}: cannot read: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Mistake(
            f"--data: not JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from None


def _plugin_folder(path: str | Path) -> Path:
    """``path`` as a plugin folder, or the mistake in one line (before anything runs)."""
    folder = Path(path)
    if not folder.exists():
        raise Mistake(f"{folder}: no such folder")
    if not folder.is_dir():
        raise Mistake(f"{folder}: not a folder (a plugin is a folder with a manifest.json)")
    if not (folder / "manifest.json").is_file():
        raise Mistake(
            f"{folder}: no manifest.json; start from a template (pliers create) or write one "
            f"for existing code (pliers init {shlex.quote(str(folder))})"
        )
    return folder


def cmd_create(args: argparse.Namespace) -> int:
    from .templates import create

    path = create(args.template, args.name, args.dir, author=args.author)
    print(f"created {path} ({args.template}); next: pliers test {path}")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from ._checks import check_plugin
    from ._init import init_plugin

    path = init_plugin(args.path, name=args.name, author=args.author)
    print(f"wrote {path}")
    report = check_plugin(args.path)
    print(report.render())
    return 0 if report.valid else _fail(f"{args.path}: INVALID ({len(report.errors)} error(s))")


def cmd_validate(args: argparse.Namespace) -> int:
    from ._checks import check_bundle, check_plugin

    path = Path(args.path)
    if not path.exists():
        raise Mistake(f"{path}: no such plugin folder or bundle")
    if path.is_file() and path.name != "manifest.json":  # a bundle
        report = check_bundle(path, _store_keys(args.store))
    else:
        if args.store is not None:
            raise Mistake("--store: only for a bundle (.zip); a folder is not signed")
        report = check_plugin(path)
    print(report.render())
    if report.valid:
        return 0
    return _fail(f"{path}: INVALID ({len(report.errors)} error(s), listed above)")


def _store_keys(store: str | None) -> list[Any]:
    """The keys a plugin store trusts (``--store``), or none."""
    if store is None:
        return []
    return list(_store(store).trusted_keys().values())


def cmd_test(args: argparse.Namespace) -> int:
    from ._testing import run_plugin_tests

    result = run_plugin_tests(_plugin_folder(args.path), args.pytest_args)
    print(result.render())
    if result.failed:
        return _fail(f"{result.failed} test(s) failed")
    if not result.passed:
        return _fail("no test passed (none ran?)")
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from ._docs import generate_docs, validate_docs

    folder = _plugin_folder(args.path)
    if args.check:
        docs = folder / DEFAULT_DOCS if args.check is True else Path(args.check)
        if not docs.is_file():
            raise Mistake(f"--check {docs}: no such file")
        problems = validate_docs(folder, docs)
        for problem in problems:
            print(problem)
        print(f"{docs}: {'complete' if not problems else f'{len(problems)} missing'}")
        if problems:
            return _fail(f"{docs} leaves out {len(problems)} thing(s) the manifest declares")
        return 0
    text = generate_docs(folder)
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
    """Fire one hook; without ``--data`` the hook's sample payload (the host's shapes), so
    a plugin that reads ``ctx.data["submission"]`` is not failed by an empty payload."""
    from ..catalog import CORE_HOOKS, suggest_hook
    from ..engine import Engine
    from ..samples import describe_sample, sample_payload

    folder = _plugin_folder(args.path)
    data = _data(args.data) if args.data is not None else None
    with Engine(default_isolation=args.isolation, trust=trust_policy(args)) as engine:
        plugin = engine.load(folder)
        _warn([plugin])
        handled = list(plugin.manifest.hooks)
        if args.hook not in handled:
            it_handles = f"{plugin.manifest.name} handles " + (", ".join(handled) or "no hook")
            known = [*CORE_HOOKS, *plugin.manifest.custom_hooks]
            if args.hook in known:
                raise Mistake(f"{plugin.manifest.name} does not handle {args.hook!r}; {it_handles}")
            guess = suggest_hook(args.hook, handled) or suggest_hook(args.hook, known)
            hint = f" (did you mean {guess!r}?)" if guess else ""
            raise Mistake(f"unknown hook {args.hook!r}{hint}; {it_handles}")
        if data is None:
            data = sample_payload(args.hook)
            print(
                f"pliers simulate: no --data; sending {describe_sample(args.hook)}",
                file=sys.stderr,
                flush=True,
            )
        result = engine.fire(args.hook, data, user_id=args.user, session_id=args.session)
        print(result.summary())
        return 0 if result.ok else _fail(f"{args.hook} failed (see the report above)")


def cmd_dev(args: argparse.Namespace) -> int:
    from ..engine import Engine

    folder = _plugin_folder(args.path)
    with Engine(default_isolation=args.isolation, trust=trust_policy(args)) as engine:
        plugin = engine.load(folder)
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


def _key(ref: str | None, keys: str | None) -> Any:
    """The signing key ``--key`` names: a key of ``pliers key create`` or a PEM file."""
    if ref is None:
        return None
    from ._keys import load_signing_key

    return load_signing_key(ref, keys)[0]


def _own_bundles(folder: Path, name: str, *more: Path) -> list[str]:
    """Earlier bundles of this plugin inside its folder (its top level, or an output folder
    within it), as bundle paths to leave out."""
    root = folder.resolve()
    found: set[str] = set()
    for where in (folder, *more):
        if where.resolve().is_relative_to(root):
            found.update(
                p.resolve().relative_to(root).as_posix() for p in where.glob(f"{name}-*.zip")
            )
    return sorted(found)


def cmd_package(args: argparse.Namespace) -> int:
    """A bundle; earlier bundles of this plugin written into its own folder (``pliers
    package .`` run twice) are left out, so a bundle never nests its predecessor."""
    from ..manifest import load_manifest
    from ..market import build_bundle

    folder = _plugin_folder(args.path)
    key = _key(args.key, args.keys)
    name = load_manifest(folder).name
    out = Path(args.output or ".")
    if args.output is not None and not out.is_dir():
        raise Mistake(f"-o {out}: no such folder")
    bundle = build_bundle(
        folder, out, signing_key=key, signer=args.signer, exclude=_own_bundles(folder, name, out)
    )
    print(f"wrote {bundle}")
    return 0


def _registry_arg(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument("--registry", required=required, metavar="DIR", help="the registry folder")


def _keys_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--keys",
        metavar="DIR",
        help="the keys folder (default: $PLIERS_KEYS, else $PLIERS_LAB_DATA/.keys, "
        "else ~/.local/share/pliers_lab/keys)",
    )


def _registry(path: str, *, create: bool = False) -> Any:
    """The registry at ``path``; only ``create`` makes a new one (a typo in ``--registry``
    must not leave an empty registry behind)."""
    from ..market import Registry

    if not create and not (Path(path) / "registry.db").is_file():
        raise Mistake(f"--registry {path}: not a registry (no registry.db)")
    return Registry(path)


def _store(path: str) -> Any:
    from ..market import PluginStore

    if not (Path(path) / "store.db").is_file():
        raise Mistake(f"--store {path}: not a plugin store (no store.db)")
    return PluginStore(path)


def cmd_key(args: argparse.Namespace) -> int:
    """``pliers key create|list|trust|revoke``: keys, and the registries and stores that
    trust them (a registry: registered to a user, who may then publish with it)."""
    from . import _keys as keys

    if args.key_command == "create":
        made = keys.create_key(args.name, args.keys)
        print(f"created key {made.name} ({made.key_id}): {made.private} (private, keep it so)")
        print(f"public key: {made.public}")
        print(f"next: pliers key trust {made.name} --registry REGISTRY")
        return 0
    if args.key_command == "list":
        return _key_list(args)
    if args.registry is None and args.store is None:
        raise Mistake("say where: --registry DIR or --store DIR")
    if args.key_command == "trust":
        public, name = keys.load_public_key(args.key, args.keys)
        if args.registry is not None:
            user = args.user or name
            _registry(args.registry, create=True).register_key(user, public)
            print(f"key {public.key_id} registered to {user!r} in the registry {args.registry}")
        if args.store is not None:
            from ..market import PluginStore

            PluginStore(args.store).trust_key(public, args.user or name)  # a new store is fine
            print(f"key {public.key_id} trusted by the store {args.store}")
        return 0
    key_id = _key_id(args.key, args.keys)
    if args.registry is not None:
        user = _registry(args.registry).revoke_key(key_id)
        print(f"key {key_id} of {user!r} revoked in the registry {args.registry}")
    if args.store is not None:
        _store(args.store).untrust_key(key_id)
        print(f"key {key_id} no longer trusted by the store {args.store}")
    return 0


def _key_id(ref: str, folder: str | None) -> str:
    """A key id as given, or the id of the key ``ref`` names (a name or a PEM file)."""
    from ._keys import KeyProblem, load_public_key

    try:
        return load_public_key(ref, folder)[0].key_id
    except KeyProblem:
        if len(ref) == 16 and all(c in "0123456789abcdef" for c in ref):
            return ref  # the id of a key this machine does not hold
        raise


def _key_list(args: argparse.Namespace) -> int:
    from ._keys import keys_folder, local_keys

    folder = keys_folder(args.keys)
    mine = local_keys(args.keys)
    print(f"keys in {folder}: {len(mine)}")
    for key in mine:
        print(f"  {key.name:<20} {key.key_id}")
    if args.registry is not None:
        registry = _registry(args.registry)
        registered = registry.keys()
        print(f"registered in the registry {args.registry}: {len(registered)}")
        for key_id in sorted(registered):
            print(f"  {key_id} {registry.key_owner(key_id)}")
    if args.store is not None:
        trusted = _store(args.store).trusted_keys()
        print(f"trusted by the store {args.store}: {len(trusted)}")
        for key_id in sorted(trusted):
            print(f"  {key_id}")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    """Publishing gates (the spec's publishing facts): the key is registered to the user
    in that registry (checked first: the tests take a while), the tests pass with at
    least 80 % coverage, the scan is clean enough for the registry, the bundle is signed."""
    from ..manifest import load_manifest
    from ..market import Registry, build_bundle
    from ._keys import load_signing_key
    from ._testing import COVERAGE_THRESHOLD, run_plugin_tests

    folder = _plugin_folder(args.path)
    key, name = load_signing_key(args.key, args.keys)
    user = args.user or name
    if args.registry.startswith(("http://", "https://")):
        return _publish_remote(args, folder, key, user)
    fresh = not (Path(args.registry) / "registry.db").is_file()
    registry = None if fresh else Registry(args.registry)
    if registry is None or key.key_id not in registry.keys(user):
        owner = None if registry is None else registry.key_owner(key.key_id)
        if owner is not None:
            raise Mistake(
                f"not published: key {key.key_id} is registered to {owner!r} in "
                f"{args.registry}, not {user!r}; publish with --user {shlex.quote(owner)}"
            )
        trust = ["pliers", "key", "trust", args.key, "--registry", args.registry]
        trust += ["--user", user] if user != name else []
        trust += ["--keys", args.keys] if args.keys else []
        raise Mistake(
            f"not published: key {key.key_id} is not trusted by the registry "
            f"{args.registry} for {user!r}; run: {shlex.join(trust)}"
        )
    tests = run_plugin_tests(folder)
    print(tests.render())
    if tests.failed or not tests.passed:
        raise Mistake("not published: the plugin's tests must pass")
    if tests.coverage is not None and tests.coverage < COVERAGE_THRESHOLD:
        raise Mistake(
            f"not published: coverage {tests.coverage:.0f}% is below {COVERAGE_THRESHOLD:.0f}%"
        )
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        bundle = build_bundle(
            folder,
            tmp,
            signing_key=key,
            signer=user,
            exclude=_own_bundles(folder, load_manifest(folder).name),
        )
        record = Registry(args.registry).publish(bundle, user=user, changes=args.changes)
    print(
        f"published {record.plugin_id}@{record.version} ({record.checksum}, "
        f"scan score {record.scan.score})"
    )
    return 0


def _publish_remote(args: argparse.Namespace, folder: Path, key: Any, user: str) -> int:
    """``pliers publish --registry URL``: the same gates, then a signed upload to the
    registry service (issue 19 §1), which checks the request, the bundle's signature and
    the scan again."""
    import tempfile

    from ..manifest import load_manifest
    from ..market import RemoteRegistry, build_bundle
    from ._testing import COVERAGE_THRESHOLD, run_plugin_tests

    remote = RemoteRegistry(args.registry, user=user, key=key)
    owner = remote.key_owner(key.key_id)
    if owner != user:
        where = f"registered to {owner!r}" if owner else "not registered"
        raise Mistake(
            f"not published: key {key.key_id} is {where} on {args.registry}; the registry's "
            f"operator runs: pliers key trust KEY.pem --registry DIR --user {shlex.quote(user)}"
        )
    tests = run_plugin_tests(folder)
    print(tests.render())
    if tests.failed or not tests.passed:
        raise Mistake("not published: the plugin's tests must pass")
    if tests.coverage is not None and tests.coverage < COVERAGE_THRESHOLD:
        raise Mistake(
            f"not published: coverage {tests.coverage:.0f}% is below {COVERAGE_THRESHOLD:.0f}%"
        )
    with tempfile.TemporaryDirectory() as tmp:
        bundle = build_bundle(
            folder,
            tmp,
            signing_key=key,
            signer=user,
            exclude=_own_bundles(folder, load_manifest(folder).name),
        )
        record = remote.publish(bundle, changes=args.changes)
    print(
        f"published {record.plugin_id}@{record.version} to {args.registry} "
        f"({record.checksum}, scan score {record.scan.score})"
    )
    return 0


def cmd_registry(args: argparse.Namespace) -> int:
    """``pliers registry serve|export`` (issue 19 §1): a registry folder served over
    HTTP until Ctrl-C, or written out as a mirror folder."""
    if args.registry_command == "export":
        from ..market import export_registry

        source = args.root
        if not source.startswith(("http://", "https://")):
            _registry_root(source)  # a typo must not create an empty registry to export
        about = export_registry(source, args.dir)
        print(
            f"exported {about['plugins']} plugins ({about['versions']} versions) from "
            f"{source} to {args.dir}; install from it with "
            f"PluginMarketplace({str(Path(args.dir).resolve().as_uri())!r}, store)"
        )
        return 0
    from ..market.service import registry_app
    from ..web import Server

    registry = _registry_root(args.root, create=args.create)
    server = Server(registry_app(registry), args.host, args.port, log_level="info").start()
    from ..market import MarketplaceQuery

    count = registry.search(MarketplaceQuery(limit=1)).total
    print(f"pliers registry: {server.url}/v1 serves {args.root} ({count} plugins)")
    print(
        f"engines: PluginMarketplace({server.url!r}, store); publish: pliers publish PATH "
        f"--registry {server.url} --key KEY",
        flush=True,
    )
    import signal

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # a service manager's SIGTERM ends it as Ctrl-C does

    signal.signal(signal.SIGTERM, stop)
    try:
        while server.running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0 if not server.error else 1


def _registry_root(path: str, *, create: bool = False) -> Any:
    from ..market import Registry

    if not create and not (Path(path) / "registry.db").is_file():
        raise Mistake(f"--root {path}: not a registry (no registry.db; --create makes one)")
    return Registry(path)


def cmd_serve(args: argparse.Namespace) -> int:
    from ..web.serve_command import run

    return run(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run

    run(args.extensions).close()
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from ._doctor import doctor

    return doctor()


DEFAULT_DOCS = "README.md"


class _Parser(argparse.ArgumentParser):
    """Usage mistakes in one line (argparse prints the whole usage block first)."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: {message} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from .templates import TEMPLATES

    parser = _Parser(prog="pliers", description="The Pliers plugin development kit.")
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
        "--check",
        metavar="DOCS",
        nargs="?",
        const=True,
        help="check that DOCS (default: the plugin's README.md) names every hook, "
        "setting, endpoint and dependency",
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
            p.add_argument(
                "--data", help="JSON payload, or @file (default: the hook's sample payload)"
            )
            p.add_argument("--user")
            p.add_argument("--session")
            p.set_defaults(run=cmd_simulate)
        else:
            p.add_argument("--seconds", type=float, default=0, help="stop after this long")
            p.set_defaults(run=cmd_dev)
    p = sub.add_parser("package", help="a bundle of the plugin (signed with --key)")
    p.add_argument("path")
    p.add_argument("-o", "--output", help="folder for the bundle (default: here)")
    p.add_argument("--key", help="sign with this key: a name from pliers key create, or a PEM file")
    p.add_argument("--signer", help="who signs, recorded in the signature")
    _keys_arg(p)
    p.set_defaults(run=cmd_package)
    p = sub.add_parser("key", help="signing keys: create, list, trust, revoke")
    key_sub = p.add_subparsers(dest="key_command", required=True, metavar="ACTION")
    k = key_sub.add_parser("create", help="a new Ed25519 key pair in the keys folder")
    k.add_argument("name", help="its name (your registry user name is a good choice)")
    _keys_arg(k)
    k = key_sub.add_parser("list", help="the keys here, and those a registry or store trusts")
    _registry_arg(k)
    k.add_argument("--store", metavar="DIR", help="also list the keys this store trusts")
    _keys_arg(k)
    for action, helptext in (
        ("trust", "register a key to a user of a registry (or trust it in a store)"),
        ("revoke", "withdraw a key from a registry (or a store)"),
    ):
        k = key_sub.add_parser(action, help=helptext)
        k.add_argument(
            "key", help="a key name or id from pliers key list, or a PEM public key file"
        )
        _registry_arg(k)
        k.add_argument("--store", metavar="DIR", help="a plugin store")
        if action == "trust":
            k.add_argument(
                "--user", help="the registry user it belongs to (default: the key's name)"
            )
        _keys_arg(k)
    p.set_defaults(run=cmd_key)
    p = sub.add_parser("publish", help="test, scan, bundle, sign and publish to a registry")
    p.add_argument("path")
    p.add_argument(
        "--registry", required=True, metavar="DIR|URL",
        help="the registry folder, or a registry service's URL (http://host:8080)",
    )  # fmt: skip
    p.add_argument(
        "--key", required=True, help="your key: a name from pliers key create, or a PEM file"
    )
    p.add_argument("--user", help="the publishing user (default: the key's name)")
    p.add_argument("--changes", action="append", default=[], help="a line of release notes")
    _keys_arg(p)
    p.set_defaults(run=cmd_publish)
    p = sub.add_parser("serve", help="serve plugin endpoints and the management API")
    p.add_argument("--extensions", type=Path, default=None, help="folder of plugins to load")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (0: any free one)")
    p.add_argument("--with-host", action="store_true", help="attach a simulated Pliers host")
    p.add_argument("--db", default=None, help="the host's SQLite file (default: in memory)")
    p.add_argument(
        "--security-store",
        default=None,
        help="a SQLite file where quarantines outlast the server (pliers quarantine --store)",
    )
    p.add_argument(
        "--isolation",
        choices=("inline", "process"),
        default=None,
        help="where the --extensions plugins run unless trusted (default: process); "
        "installs over HTTP always run sandboxed unless trusted",
    )
    p.add_argument(
        "--registry",
        default=None,
        metavar="DIR|URL",
        help="a marketplace: the registry folder, service URL or mirror installs come from",
    )
    p.add_argument(
        "--store", default=None, metavar="DIR", help="the plugin store (with --registry)"
    )
    p.add_argument(
        "--advisory-policy",
        choices=("warn", "disable"),
        default=None,
        help="what an advisory affecting a running plugin does (with --registry; default "
        "warn): disable stops it, recorded as plugin.advisory",
    )
    p.add_argument(
        "--advisory-interval",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how often the registry's advisories are checked (default 300)",
    )
    add_trust_options(p)
    p.set_defaults(run=cmd_serve)
    p = sub.add_parser("registry", help="a registry over HTTP, or exported as a mirror folder")
    reg_sub = p.add_subparsers(dest="registry_command", required=True, metavar="ACTION")
    r = reg_sub.add_parser("serve", help="serve a registry folder over HTTP (uvicorn)")
    r.add_argument("--root", required=True, metavar="DIR", help="the registry folder")
    r.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    r.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any free one)")
    r.add_argument("--create", action="store_true", help="create the registry if missing")
    r = reg_sub.add_parser("export", help="write a registry into a mirror folder")
    r.add_argument("dir", help="the mirror folder (new, empty, or a mirror to update)")
    r.add_argument(
        "--root", required=True, metavar="DIR|URL", help="the registry folder or service URL"
    )
    p.set_defaults(run=cmd_registry)
    p = sub.add_parser("demo", help="the example plugins through their hooks")
    p.add_argument("--extensions", type=Path, default=None)
    p.set_defaults(run=cmd_demo)
    p = sub.add_parser(
        "doctor",
        help="what this machine gives the engine: python, isolation layers, data folder "
        "(exit 1 when untrusted plugins cannot run isolated here)",
    )
    p.set_defaults(run=cmd_doctor)
    from ._security_cli import add_commands as add_security_commands

    add_security_commands(sub)
    from ._advisory_cli import add_commands as add_advisory_commands

    add_advisory_commands(sub)
    return parser


def one_line(message: str) -> str:
    """A message of several lines (a manifest's problems) as one line."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else "failed"
    return f"{lines[0].rstrip(':')}: " + "; ".join(lines[1:])


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; whatever goes wrong ends in one line on stderr, never a traceback:
    exit 2 for a mistake (the user's or the plugin's files'), 1 for a failed check, 1
    with a pointer to ``PLIERS_DEBUG`` for an unexpected error."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage mistake already reported in one line
        return exc.code if isinstance(exc.code, int) else 2
    command = args.command + (f" {args.key_command}" if args.command == "key" else "")
    command += f" {args.registry_command}" if args.command == "registry" else ""
    status, message = 2, ""
    try:
        return int(args.run(args))
    except Failed as exc:
        status, message = 1, str(exc)
    except PliersError as exc:
        message = str(exc)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        message = f"{where}{exc.strerror or exc}"
    except KeyboardInterrupt:
        status, message = 130, "interrupted"
    except Exception as exc:
        if os.environ.get("PLIERS_DEBUG"):
            raise
        status = 1
        message = (
            f"unexpected {type(exc).__name__}: {exc} "
            "(a bug in pliers? PLIERS_DEBUG=1 shows the traceback)"
        )
    print(f"pliers {command}: {one_line(message)}", file=sys.stderr, flush=True)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
