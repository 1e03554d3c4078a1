"""The marketplace browser without a frontend: a real registry, store and engine in tmp
folders, real signed bundles; the widget is driven as a user would (set values,
``click()``) and checked on what it shows and what the store and engine did."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from html import unescape
from pathlib import Path
from typing import Any

import ipywidgets as w
import pytest

from pliers_lab import Engine, PluginState
from pliers_lab.market import (
    PluginMarketplace,
    PluginStore,
    Registry,
    SigningKey,
    build_bundle,
)
from pliers_lab.market.install import STEPS

CODE = """\
from pliers_lab import hook


@hook("export.format")
def answer(ctx):
    if ctx.data.get("format") == {name!r}:
        return {{"plugin": {name!r}, "version": {version!r}}}
    return None
"""
CRM = {"network": {"outbound": ["api.crm.test"]}, "events": ["subscribe"]}


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    """The lab's default engine, its sandbox's data folders in tmp."""
    from pliers_lab.lab import default_engine
    from pliers_lab.sandbox import ProcessRuntime, SandboxPolicy

    eng = default_engine()
    eng.register_runtime(ProcessRuntime(SandboxPolicy(data_root=tmp_path / "data")))
    return eng


@pytest.fixture
def market(tmp_path: Path, key: SigningKey, engine: Engine) -> PluginMarketplace:
    registry = Registry(tmp_path / "registry")
    registry.register_key("ann", key.public_key)
    store = PluginStore(tmp_path / "store")
    store.trust_key(key.public_key, "ann")
    return PluginMarketplace(registry, store)  # no engine: the widget uses the default


Publish = Callable[..., Any]


@pytest.fixture
def publish(tmp_path: Path, market: PluginMarketplace, key: SigningKey) -> Publish:
    """``publish(name, version, **manifest fields)``: write, build, sign, publish."""

    def run(
        name: str,
        version: str = "1.0.0",
        *,
        signing_key: SigningKey | None = None,
        user: str = "ann",
        files: dict[str, str] | None = None,
        changes: tuple[str, ...] = (),
        **fields: Any,
    ) -> Any:
        folder = tmp_path / "src" / f"{name}-{version}"
        folder.mkdir(parents=True)
        manifest = {
            "name": name,
            "version": version,
            "description": fields.pop("description", f"{name}, a test plugin"),
            "author": "Tests <tests@example.com>",
            "license": fields.pop("license", "MIT"),
            "main": "plugin.py",
            "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
            "keywords": fields.pop("keywords", ["test"]),
            "categories": fields.pop("categories", ["reporting"]),
            "hooks": {"export.format": {}},
            **fields,
        }
        (folder / "manifest.json").write_text(json.dumps(manifest))
        (folder / "plugin.py").write_text(CODE.format(name=name, version=version))
        for rel, text in (files or {}).items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text)
        bundle = build_bundle(folder, tmp_path / "dist", signing_key=signing_key or key)
        return market.registry.publish(bundle, user=user, changes=changes)

    (tmp_path / "dist").mkdir()
    return run


@pytest.fixture
def notes(publish: Publish) -> None:
    publish("notes", "1.0.0", keywords=["notes", "crm"], changes=("first release",))
    publish(
        "notes",
        "1.1.0",
        keywords=["notes", "crm"],
        permissions=CRM,
        files={"templates/card.html": '<button onclick="go()">go</button>'},
        changes=("pushes each note to the CRM",),
    )


@pytest.fixture
def browser(market: PluginMarketplace, notes: None) -> Iterator[Any]:
    from pliers_lab.lab.widgets import MarketplaceBrowser

    yield MarketplaceBrowser(market)


def ask(engine: Engine, name: str) -> Any:
    result = engine.fire("export.format", {"format": name})
    assert result.ok, result.summary()
    return result.value


def text(html: str) -> str:
    return unescape(html)


def one_error_line(widget: Any) -> str:
    """The widget's error message: one line, no traceback."""
    html = widget.message.value
    assert "pliers-error" in html and "Traceback" not in html and "\n" not in html, html
    return text(html)


# ------------------------------------------------------------------------ search
def test_search_filters_and_sorts_the_registry(
    market: PluginMarketplace, publish: Publish, notes: None
) -> None:
    from pliers_lab.lab.widgets import MarketplaceBrowser

    publish("guard", categories=["security"], keywords=["spam"], description="stops spam")
    publish("counter", categories=["analytics"], keywords=["stats"])
    market.registry.set_verified("guard")
    for _ in range(3):
        market.registry.download("notes", "1.0.0")
    ui = MarketplaceBrowser(market)
    assert isinstance(ui, w.VBox) and "pliers-marketplace" in ui._dom_classes
    assert list(ui.plugin.options) == ["counter", "guard", "notes"]  # by name
    assert "3 plugins found" in ui.summary.value
    assert 'data-plugin="notes"' in ui.results.value and "pliers-market-results" in ui.results.value
    ui.query.value = "spam"
    assert list(ui.plugin.options) == ["guard"] and ui.plugin.value == "guard"
    assert 'data-plugin="notes"' not in ui.results.value
    ui.query.value = ""
    ui.category.value = "analytics"
    assert list(ui.plugin.options) == ["counter"]
    ui.category.value = ""
    ui.verified.value = True
    assert list(ui.plugin.options) == ["guard"]
    ui.verified.value = False
    ui.sort.value = "downloads"
    assert list(ui.plugin.options) == ["notes", "counter", "guard"]  # most downloaded first
    ui.query.value = "nothing-like-this"
    assert list(ui.plugin.options) == [] and "0 plugins found" in ui.summary.value
    assert "no plugin selected" in ui.details.value and ui.install_button.disabled


# ----------------------------------------------------------------------- details
def test_details_show_signature_scan_permissions_and_versions(browser: Any) -> None:
    browser.plugin.value = "notes"
    details = browser.details.value
    assert "data-plugin='notes'" in details and "data-version='1.1.0'" in details
    assert "pliers-market-signature' data-status='verified'" in details
    assert "signed by trusted key" in details and "runs sandboxed" in details
    # 1.1.0 ships a template with an inline handler: a medium finding, still publishable.
    assert 'data-severity="medium"' in details and "inline-event-handler" in details
    assert "templates/card.html" in details
    assert "api.crm.test" in details  # its permissions
    assert 'data-version="1.1.0"' in details and 'data-version="1.0.0"' in details
    assert "pushes each note to the CRM" in details
    assert [value for _label, value in browser.version.options] == ["", "1.1.0", "1.0.0"]
    assert browser.version.options[0][0] == "newest (1.1.0)"
    browser.version.value = "1.0.0"
    details = browser.details.value
    assert "data-version='1.0.0'" in details and "no findings" in details
    assert not browser.install_button.disabled and browser.update_button.disabled


def test_a_bundle_signed_by_an_unknown_key_shows_untrusted(
    market: PluginMarketplace, publish: Publish
) -> None:
    from pliers_lab.lab.widgets import MarketplaceBrowser

    stranger = SigningKey.generate()
    market.registry.register_key("bob", stranger.public_key)
    publish("strange", signing_key=stranger, user="bob")
    ui = MarketplaceBrowser(market)
    assert "data-status='untrusted'" in ui.details.value
    assert "which is not trusted here" in ui.details.value
    ui.install_button.click()
    line = one_error_line(ui)
    assert line.count("could not install strange@latest: strange@1.0.0: signed by key") == 1
    assert "allow_unsigned" in line
    assert "strange" not in market.store.installed()
    assert ui.progress.bar_style == "danger" and "stopped at verify" in ui.step.value
    ui.allow_unsigned.value = True
    ui.install_button.click()
    assert "installed strange 1.0.0" in text(ui.message.value)
    assert "pliers-warning" in ui.message.value  # what allow_unsigned let through


# ----------------------------------------------------------------------- actions
def test_install_reports_each_step_and_runs_sandboxed(
    browser: Any, market: PluginMarketplace, engine: Engine
) -> None:
    browser.plugin.value = "notes"
    browser.version.value = "1.0.0"
    browser.install_button.click()
    assert [step for step, _detail in browser.steps] == list(STEPS)
    assert ("download", "downloading notes@1.0.0") in browser.steps
    assert (
        browser.progress.value == browser.progress.max and browser.progress.bar_style == "success"
    )
    assert 'data-step="done"' in browser.step.value or "data-step='done'" in browser.step.value
    assert "installed notes 1.0.0; runs in process isolation" in text(browser.message.value)
    assert market.store.get("notes").version == "1.0.0"
    plugin = engine.plugin("notes")
    assert plugin.state is PluginState.ACTIVE and plugin.isolation == "process"
    assert ask(engine, "notes") == {"plugin": "notes", "version": "1.0.0"}
    assert 'data-installed="1.0.0"' in browser.results.value
    assert "data-installed='1.0.0'" in browser.details.value
    assert browser.version.value == ""  # back to newest for the next action
    assert browser.install_button.disabled and not browser.update_button.disabled
    assert browser.rollback_button.disabled  # nothing to roll back to yet
    # Beside the installed 1.0.0, the versions table says what 1.1.0 would add.
    assert "+ events.subscribe, network.outbound[api.crm.test]" in text(browser.details.value)


def test_update_shows_the_permission_diff_before_it_is_accepted(
    browser: Any, market: PluginMarketplace, engine: Engine
) -> None:
    browser.plugin.value = "notes"
    browser.version.value = "1.0.0"
    browser.install_button.click()
    browser.update_button.click()
    plan = browser.pending
    assert plan is not None and (plan.from_version, plan.to_version) == ("1.0.0", "1.1.0")
    assert browser.prompt.layout.display == ""
    prompt = text(browser.prompt_html.value)
    assert "update notes 1.0.0 → 1.1.0" in prompt
    assert prompt.count('data-change="added"') == 2 and "api.crm.test" in prompt
    assert "pushes each note to the CRM" in prompt
    assert browser.accept_button.description == "Accept and update"
    assert "notes 1.1.0 asks for new permissions" in text(browser.message.value)
    # Nothing changed yet.
    assert market.store.get("notes").version == "1.0.0"
    assert ask(engine, "notes")["version"] == "1.0.0"

    browser.cancel_button.click()
    assert browser.pending is None and browser.prompt.layout.display == "none"
    assert "update of notes to 1.1.0 cancelled; 1.0.0 stays" in text(browser.message.value)
    assert market.store.get("notes").version == "1.0.0"

    browser.update_button.click()
    browser.accept_button.click()
    assert [step for step, _ in browser.steps] == list(STEPS)
    assert market.store.get("notes").version == "1.1.0"
    assert ask(engine, "notes") == {"plugin": "notes", "version": "1.1.0"}
    assert engine.plugin("notes").isolation == "process"
    assert (
        "updated notes 1.0.0 → 1.1.0; granted events.subscribe, network.outbound[api.crm.test]"
        in text(browser.message.value)
    )
    assert browser.prompt.layout.display == "none" and not browser.rollback_button.disabled

    browser.rollback_button.click()
    assert market.store.get("notes").version == "1.0.0"
    assert ask(engine, "notes")["version"] == "1.0.0"
    assert "rolled notes back from 1.1.0 to 1.0.0; permissions dropped: events.subscribe" in (
        text(browser.message.value)
    )
    assert browser.progress.layout.display == "none"  # quick actions show no bar

    browser.uninstall_button.click()
    assert "notes" not in market.store.installed() and "notes" not in engine
    assert "uninstalled notes 1.0.0" in text(browser.message.value)
    assert not browser.install_button.disabled and browser.update_button.disabled


def test_update_with_nothing_to_do_says_so(browser: Any, market: PluginMarketplace) -> None:
    browser.plugin.value = "notes"
    browser.install_button.click()
    assert market.store.get("notes").version == "1.1.0"
    browser.update_button.click()
    assert browser.pending is None and browser.prompt.layout.display == "none"
    assert "notes is already at 1.1.0: nothing to update" in text(browser.message.value)
    # Going down drops permissions: shown, no consent needed, one click to confirm.
    browser.version.value = "1.0.0"
    browser.update_button.click()
    assert 'data-change="removed"' in browser.prompt_html.value
    assert browser.accept_button.description == "Update"
    browser.accept_button.click()
    assert market.store.get("notes").version == "1.0.0"
    assert "moved down from 1.1.0 to 1.0.0" in text(browser.message.value)  # the core's warning


def test_refusals_are_one_line_naming_the_plugin_and_version(
    market: PluginMarketplace, publish: Publish, engine: Engine
) -> None:
    from pliers_lab.lab.widgets import MarketplaceBrowser

    publish("base", "1.0.0")
    publish("base", "2.0.0")
    publish("child", dependencies={"base": "^1.0.0"})
    ui = MarketplaceBrowser(market)
    ui.plugin.value = "child"
    ui.install_button.click()
    assert "installed child 1.0.0 with base 1.0.0" in text(ui.message.value)

    ui.plugin.value = "base"
    ui.version.value = "2.0.0"
    ui.update_button.click()
    line = one_error_line(ui)
    assert "could not update base@2.0.0: cannot update base@2.0.0: dependencies cannot be" in line
    assert "base 2.0.0 vs child (^1.0.0)" in line
    assert ui.pending is None and market.store.get("base").version == "1.0.0"

    ui.uninstall_button.click()
    line = one_error_line(ui)
    assert "could not uninstall base: cannot uninstall base: child depends on it" in line
    assert "base" in market.store.installed()

    # The store changed behind the widget's back: its buttons are stale, the core refuses.
    market.uninstall("child", engine=engine)
    market.uninstall("base", engine=engine)
    ui.plugin.value = "base"
    ui.update()
    assert "could not update base@2.0.0: plugin 'base' is not installed" in one_error_line(ui)
    ui.accept()
    assert "no update to accept: click Update first" in one_error_line(ui)


def test_a_plugin_the_engine_trusts_runs_where_its_manifest_asks(
    browser: Any, engine: Engine
) -> None:
    assert "runs sandboxed (process isolation)" in browser.details.value
    engine.trust("notes")
    browser.search_button.click()
    assert "the engine trusts this plugin or its key" in browser.details.value
    browser.install_button.click()
    assert "installed notes 1.1.0; runs in inline isolation" in text(browser.message.value)
    assert engine.plugin("notes").isolation == "inline"
