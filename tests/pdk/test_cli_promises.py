"""Issue 15 §5: the command line keeps its promises: keys a user can make and register,
a simulate that sends what the host would, and mistakes that end in one line."""

import json
import subprocess
import sys

import pytest

from pliers_lab.pdk.cli import main


@pytest.fixture
def keys(tmp_path, monkeypatch):
    """A keys folder of the test's own (never the user's)."""
    folder = tmp_path / "keys"
    monkeypatch.setenv("PLIERS_KEYS", str(folder))
    return folder


def last_line(err):
    lines = err.strip().splitlines()
    return lines[-1] if lines else ""


def test_key_create_trust_publish_revoke_round_trip(tmp_path, keys, capsys):
    from pliers_lab.market import Registry

    assert main(["create", "notifier", "pinger", "--dir", str(tmp_path)]) == 0
    plugin, registry = str(tmp_path / "pinger"), str(tmp_path / "registry")
    assert main(["key", "create", "ann"]) == 0
    out = capsys.readouterr().out
    assert "next: pliers key trust ann --registry REGISTRY" in out
    assert (keys / "ann.pem").stat().st_mode & 0o077 == 0  # private stays private
    publish = ["publish", plugin, "--registry", registry, "--key", "ann"]

    assert main(publish) == 2  # a fresh registry trusts no key: say which command to run
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.endswith(f"run: pliers key trust ann --registry {registry}\n")
    assert not (tmp_path / "registry").exists()  # refused before anything was made

    assert main(["key", "trust", "ann", "--registry", registry]) == 0
    assert main(["key", "list", "--registry", registry]) == 0
    out = capsys.readouterr().out
    key_id = (keys / "ann.pub").read_text() and Registry(registry).keys("ann").popitem()[0]
    assert f"ann                  {key_id}" in out and f"{key_id} ann" in out

    assert main(publish) == 0
    assert "published pinger@0.1.0" in capsys.readouterr().out

    assert main(["key", "revoke", key_id, "--registry", registry]) == 0
    capsys.readouterr()
    manifest = tmp_path / "pinger" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"0.1.0"', '"0.1.1"'))
    assert main(publish) == 2
    err = capsys.readouterr().err
    assert err == (
        f"pliers publish: not published: key {key_id} is not trusted by the registry "
        f"{registry} for 'ann'; run: pliers key trust ann --registry {registry}\n"
    )
    assert [v.version for v in Registry(registry).plugin("pinger").versions] == ["0.1.0"]


def test_key_trust_takes_a_public_key_file_and_a_store(tmp_path, keys, capsys):
    from pliers_lab.market import PluginStore

    assert main(["key", "create", "bob", "--keys", str(tmp_path / "elsewhere")]) == 0
    pub = tmp_path / "elsewhere" / "bob.pub"
    store = str(tmp_path / "store")
    assert main(["key", "trust", str(pub), "--store", store]) == 0
    (key_id,) = PluginStore(store).trusted_keys()
    assert main(["key", "revoke", key_id, "--store", store]) == 0
    assert PluginStore(store).trusted_keys() == {}
    assert not keys.exists()  # --keys was used, not $PLIERS_KEYS


def test_simulate_without_data_sends_the_hooks_sample_payload(capsys):
    """submission-guard reads ctx.data["submission"]: an empty payload was a KeyError."""
    from pathlib import Path

    guard = Path(__file__).parents[2] / "extensions" / "submission-guard"
    assert main(["simulate", str(guard), "submission.beforeSave"]) == 0
    out, err = capsys.readouterr()
    assert "submission-guard" in out and " ok " in out and "KeyError" not in out
    assert err == (
        "pliers simulate: no --data; sending the sample payload for submission.beforeSave "
        "(form 'contact', submission 's-1')\n"
    )


def test_the_lab_and_the_pdk_share_one_sample_table():
    import pliers_lab.lab.widgets._simulator as lab
    import pliers_lab.samples as core

    assert lab.sample_payload is core.sample_payload
    assert set(core.sample_payload("workflow.action")) == {"form", "submission", "transition"}


def _broken_manifest(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"name": "broken",\n  "version": }')
    return folder


MISTAKES = [
    # (command, exit status, what the one stderr line says)
    (["validate", "{tmp}/nowhere"], 2, "nowhere: no such plugin folder or bundle"),
    (["test", "{tmp}/nowhere"], 2, "nowhere: no such folder"),
    (["docs", "{tmp}/nowhere"], 2, "nowhere: no such folder"),
    (["package", "{tmp}/nowhere"], 2, "nowhere: no such folder"),
    (["simulate", "{tmp}/nowhere", "form.validate"], 2, "nowhere: no such folder"),
    (["dev", "{tmp}/nowhere"], 2, "nowhere: no such folder"),
    (["test", "{tmp}"], 2, "no manifest.json"),
    (["docs", "{tmp}/broken"], 2, "malformed JSON at line 2, column 14"),
    (["package", "{tmp}/broken"], 2, "malformed JSON at line 2, column 14"),
    (["validate", "{tmp}/broken"], 1, "INVALID (1 error(s), listed above)"),
    (["simulate", "{tmp}/gate", "submision.beforeSave"], 2, "did you mean 'submission.beforeSave'"),
    (["simulate", "{tmp}/gate", "form.validate"], 2, "gate does not handle 'form.validate'"),
    (
        ["simulate", "{tmp}/gate", "submission.beforeSave", "--data", '{"a": 1,}'],
        2,
        "--data: not JSON (line 1 column 9",
    ),
    (
        ["simulate", "{tmp}/gate", "submission.beforeSave", "--data", "@{tmp}/no.json"],
        2,
        "cannot read",
    ),
    (["create", "nope", "x"], 2, "invalid choice: 'nope'"),
    (["create", "guard", "gate", "--dir", "{tmp}"], 2, "already exists"),
    (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
    (["docs", "{tmp}/gate", "--check", "{tmp}/no.md"], 2, "no.md: no such file"),
    (["package", "{tmp}/gate", "--key", "nokey"], 2, "make one with: pliers key create nokey"),
    (["package", "{tmp}/gate", "--key", "{tmp}/gate/plugin.py"], 2, "cannot read the private key"),
    (
        ["publish", "{tmp}/gate", "--registry", "{tmp}/reg", "--key", "ghost"],
        2,
        "no key 'ghost'",
    ),
    (["key", "trust", "ghost", "--registry", "{tmp}/reg"], 2, "no key 'ghost'"),
    (["key", "trust", "ghost"], 2, "say where: --registry DIR or --store DIR"),
    (["key", "revoke", "0123456789abcdef", "--registry", "{tmp}/reg"], 2, "not a registry"),
    (["key", "create", "a/b"], 2, "key name 'a/b' is not valid"),
    (["validate", "{tmp}/gate.zip"], 2, "no such plugin folder or bundle"),
]


@pytest.mark.parametrize(("argv", "status", "says"), MISTAKES)
def test_every_mistake_ends_in_one_line_and_a_nonzero_exit(
    tmp_path, keys, capsys, argv, status, says
):
    main(["create", "guard", "gate", "--dir", str(tmp_path)])
    _broken_manifest(tmp_path)
    capsys.readouterr()
    args = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(args) == status
    err = capsys.readouterr().err
    line = last_line(err)
    assert says in line, err
    assert line.startswith(f"pliers {args[0]}") or line.startswith("pliers:"), err
    assert "Traceback" not in err
    if status == 2:
        assert err.count("\n") == 1, err
    assert not (tmp_path / "reg").exists()  # no typo leaves an empty registry behind


def test_an_unexpected_error_is_one_line_too_and_debug_shows_it(tmp_path, monkeypatch):
    """A bug is not the user's mistake, but it still must not end in a traceback."""
    plugin = tmp_path / "p"
    main(["create", "guard", "p", "--dir", str(tmp_path)])
    code = (
        "import sys\n"
        "import pliers_lab.pdk._docs as d\n"
        "def boom(*a, **k): raise RuntimeError('boom')\n"
        "d.generate_docs = boom\n"
        "from pliers_lab.pdk.cli import main\n"
        f"sys.exit(main(['docs', {str(plugin)!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr == (
        "pliers docs: unexpected RuntimeError: boom (a bug in pliers? PLIERS_DEBUG=1 shows "
        "the traceback)\n"
    )
    debug = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "PLIERS_DEBUG": "1"},
    )
    assert "Traceback" in debug.stderr and debug.returncode == 1


def test_a_manifest_with_several_problems_is_still_one_line(tmp_path, capsys):
    main(["create", "guard", "gate", "--dir", str(tmp_path)])
    manifest = tmp_path / "gate" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["version"], data["main"] = "one", 5
    manifest.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["docs", str(tmp_path / "gate")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "2 problems" in err and "version" in err and "main" in err
