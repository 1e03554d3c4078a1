"""The ``pliers`` command line, run as a user runs it (a real subprocess where it matters)."""

import json
import subprocess
import sys
import time

from pliers_lab.pdk.cli import main


def pliers(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "pliers_lab.pdk.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_create_validate_docs_and_simulate(tmp_path, capsys):
    assert main(["create", "guard", "gate", "--dir", str(tmp_path)]) == 0
    folder = tmp_path / "gate"
    assert main(["validate", str(folder)]) == 0
    assert "gate: valid" in capsys.readouterr().out
    assert main(["docs", str(folder), "-o", str(tmp_path / "DOCS.md")]) == 0
    docs = (tmp_path / "DOCS.md").read_text()
    assert "| `submission.beforeSave` | veto | 100 | 5000 | 0 | @hook |" in docs
    assert '| `blockedDomains` | array |  | ["mailinator.com"]' in docs
    payload = tmp_path / "payload.json"
    payload.write_text(
        json.dumps({"form": {}, "submission": {"data": {"email": "x@mailinator.com"}}})
    )
    assert main(["simulate", str(folder), "submission.beforeSave", "--data", f"@{payload}"]) == 0
    assert "e-mail domain 'mailinator.com' is blocked" in capsys.readouterr().out


def test_validate_lists_every_problem_and_exits_1(tmp_path, capsys):
    main(["create", "notifier", "noisy", "--dir", str(tmp_path)])
    manifest = tmp_path / "noisy" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["hooks"]["submission.afterSave"]["priority"] = "high"
    data["peerDependency"] = {}
    manifest.write_text(json.dumps(data))
    assert main(["validate", str(tmp_path / "noisy")]) == 1
    out = capsys.readouterr().out
    assert 'hooks."submission.afterSave".priority: expected an integer, got "high"' in out
    assert 'peerDependency: unknown field (hint: did you mean "peerDependencies"?)' in out


def test_user_mistakes_are_one_line_and_exit_2(tmp_path):
    done = pliers("simulate", str(tmp_path / "nowhere"), "form.validate")
    assert (
        done.returncode == 2 and done.stderr.count("\n") == 1 and "pliers simulate:" in done.stderr
    )
    main(["create", "guard", "g", "--dir", str(tmp_path)])
    bad = pliers("simulate", str(tmp_path / "g"), "submission.beforeSave", "--data", "{oops")
    assert bad.returncode == 2 and "--data: not JSON (line 1 column 2" in bad.stderr


def test_dev_reloads_on_save_and_reports_it(tmp_path):
    main(["create", "transformer", "shaper", "--dir", str(tmp_path)])
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pliers_lab.pdk.cli",
            "dev",
            str(tmp_path / "shaper"),
            "--seconds",
            "4",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("watching ")
        time.sleep(0.3)
        code = tmp_path / "shaper" / "plugin.py"
        code.write_text(code.read_text() + "\nEDITED = True\n")
        line = proc.stdout.readline()
        assert "shaper code reload ok" in line
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_publish_gates_on_tests_then_bundles_signs_and_publishes(tmp_path, capsys):
    from pliers_lab.market import Registry, SigningKey

    key = SigningKey.generate()
    key.save(tmp_path / "ann.pem")
    registry = tmp_path / "registry"
    Registry(registry).register_key("ann", key.public_key)
    main(["create", "exporter", "json-out", "--dir", str(tmp_path)])
    folder = str(tmp_path / "json-out")
    args = [
        "publish",
        folder,
        "--registry",
        str(registry),
        "--key",
        str(tmp_path / "ann.pem"),
        "--user",
        "ann",
        "--changes",
        "first release",
    ]
    assert main(args) == 0
    assert "published json-out@0.1.0 (sha256:" in capsys.readouterr().out
    assert [v.version for v in Registry(registry).plugin("json-out").versions] == ["0.1.0"]
    code = tmp_path / "json-out" / "plugin.py"
    code.write_text(code.read_text().replace('!= "json"', '!= "never"'))
    assert main(args) == 2
    assert "not published: the plugin's tests must pass" in capsys.readouterr().err


def test_package_writes_a_signed_bundle(tmp_path):
    from pliers_lab.market import PublicKey, SigningKey, open_bundle, verify_bundle

    key = SigningKey.generate()
    key.save(tmp_path / "k.pem")
    main(["create", "guard", "gate", "--dir", str(tmp_path)])
    assert (
        main(
            [
                "package",
                str(tmp_path / "gate"),
                "-o",
                str(tmp_path),
                "--key",
                str(tmp_path / "k.pem"),
            ]
        )
        == 0
    )
    (bundle_path,) = tmp_path.glob("gate-0.1.0*")
    result = verify_bundle(open_bundle(bundle_path), [key.public_key])
    assert result.valid and isinstance(key.public_key, PublicKey)


def test_init_writes_a_manifest_for_existing_code(tmp_path, capsys):
    folder = tmp_path / "Tag Maker"
    folder.mkdir()
    (folder / "tags.py").write_text(
        "from pliers_lab import hook\n\n"
        "@hook('submission.enrich')\n"
        "def tag(ctx):\n"
        "    return {**ctx.data, 'tags': ['new']}\n\n"
        "@hook('submission.afterSave')\n"
        "async def note(ctx):\n"
        "    return 'noted'\n"
    )
    assert main(["init", str(folder)]) == 0
    out = capsys.readouterr().out
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["name"] == "tag-maker" and manifest["main"] == "tags.py"
    assert list(manifest["hooks"]) == ["submission.enrich", "submission.afterSave"]
    assert f"{folder}: valid" in out and "2 hook handler(s) bound" in out
    assert main(["simulate", str(folder), "submission.enrich", "--data", '{"x": 1}']) == 0
    assert "new" in capsys.readouterr().out
    assert main(["init", str(folder)]) == 2  # never overwrites
    assert "exists already" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "x.py").write_text("def f():\n    return 1\n")
    assert main(["init", str(empty)]) == 2
    assert 'no function decorated @hook("...")' in capsys.readouterr().err


def test_docs_check_names_what_is_missing(tmp_path, capsys):
    main(["create", "guard", "gate", "--dir", str(tmp_path)])
    folder = tmp_path / "gate"
    main(["docs", str(folder), "-o", str(tmp_path / "DOCS.md")])
    capsys.readouterr()
    assert main(["docs", str(folder), "--check", str(tmp_path / "DOCS.md")]) == 0
    assert "complete" in capsys.readouterr().out
    (tmp_path / "SHORT.md").write_text("# gate\n\nIt guards `submission.beforeSave`.\n")
    assert main(["docs", str(folder), "--check", str(tmp_path / "SHORT.md")]) == 1
    out = capsys.readouterr().out
    assert "the configuration property 'blockedDomains' is not documented" in out
    assert "'submission.beforeSave'" not in out  # named in SHORT.md


ASKER = """
import os
from pliers_lab import hook

@hook("submission.afterSave")
def pid(ctx):
    return os.getpid()
"""


def _asker(tmp_path):
    folder = tmp_path / "asker"
    folder.mkdir()
    manifest = {
        "name": "asker",
        "version": "1.0.0",
        "description": "asks to run inline",
        "author": "Tests <t@example.com>",
        "license": "MIT",
        "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
        "isolation": "inline",
        "hooks": {"submission.afterSave": {}},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "plugin.py").write_text(ASKER)
    return folder


def test_simulate_sandboxes_an_inline_request_unless_trusted(tmp_path, capsys):
    """Issue 13 §1: --isolation process is the operator's choice; the manifest cannot
    overrule it, --trust can."""
    import os

    folder = _asker(tmp_path)
    args = ["simulate", str(folder), "submission.afterSave", "--isolation", "process"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert f"value: [{os.getpid()}]" not in out and "value: [" in out
    assert err.startswith("warning: plugin 'asker' asks to run inline") and "--trust asker" in err
    assert main([*args, "--trust", "asker"]) == 0
    out, err = capsys.readouterr()
    assert f"value: [{os.getpid()}]" in out and "warning" not in err
    assert err.startswith("pliers simulate: no --data; sending the sample payload")
    assert main([*args, "--trust-folder", str(tmp_path)]) == 0
    assert f"value: [{os.getpid()}]" in capsys.readouterr().out


def test_validate_a_bundle_says_unsigned_unknown_key_and_inline(tmp_path, capsys):
    from pliers_lab.market import PluginStore, SigningKey, build_bundle

    folder = _asker(tmp_path)
    assert main(["validate", str(folder)]) == 1  # a folder: the scan's high issue
    out = capsys.readouterr().out
    assert "INVALID" in out and "high inline-isolation" in out
    (tmp_path / "dist").mkdir()
    (tmp_path / "signed").mkdir()
    unsigned = build_bundle(folder, tmp_path / "dist")
    assert main(["validate", str(unsigned)]) == 1
    out = capsys.readouterr().out
    assert "warn  unsigned: no .pliers/signature.json; it will run sandboxed" in out
    assert 'warn  asks for isolation: "inline"' in out and "error security scan" in out

    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["isolation"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    key = SigningKey.generate()
    signed = build_bundle(folder, tmp_path / "signed", signing_key=key, signer="ann")
    assert main(["validate", str(signed)]) == 0
    out = capsys.readouterr().out
    assert f"warn  signed by key {key.key_id} (ann), which is not trusted here" in out
    store = PluginStore(tmp_path / "store")
    store.trust_key(key.public_key, "ann")
    assert main(["validate", str(signed), "--store", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert f"ok    signature: signed by trusted key {key.key_id}" in out and "warn" not in out
    bad = pliers("validate", str(signed), "--store", str(tmp_path / "nowhere"))
    assert bad.returncode == 2 and "not a plugin store" in bad.stderr


def test_serve_builds_its_trust_policy_from_the_flags(tmp_path):
    from pliers_lab import TrustPolicy
    from pliers_lab.pdk.cli import build_parser, trust_policy

    args = build_parser().parse_args(
        ["serve", "--trust", "a", "--trust", "b", "--trust-folder", str(tmp_path)]
    )
    assert trust_policy(args) == TrustPolicy(plugins={"a", "b"}, folders=[tmp_path])
    assert not trust_policy(build_parser().parse_args(["serve"]))
