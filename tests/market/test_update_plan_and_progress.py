"""What the lab's marketplace widget needs of the core: ``plan_update`` (the permission
diff before an update is accepted, nothing changed) and the ``progress`` callback of
install and update (download, verify, scan, install, start)."""

from __future__ import annotations

import json

import pytest

from pliers_lab import Engine
from pliers_lab.market import (
    DependencyConflictError,
    NotFoundError,
    PluginMarketplace,
    PluginStore,
    UpdatePlan,
)
from pliers_lab.market.install import STEPS

CRM = {"network": {"outbound": ["api.crm.test"]}, "events": ["subscribe"]}


@pytest.fixture
def notes(publish) -> None:
    publish("notes", "1.0.0", changes=["first"])
    publish("notes", "1.1.0", changes=["talks to the CRM"], permissions=CRM)


def test_plan_update_shows_the_diff_and_changes_nothing(
    market: PluginMarketplace, notes, store: PluginStore, snap
) -> None:
    market.install("notes", "1.0.0")
    before = snap(store.root)
    plan = market.plan_update("notes")
    assert isinstance(plan, UpdatePlan)
    assert (plan.from_version, plan.to_version, plan.needed, plan.needs_consent) == (
        "1.0.0",
        "1.1.0",
        True,
        True,
    )
    assert plan.permissions.added == (
        ("events", "subscribe", "*"),
        ("network", "outbound", "api.crm.test"),
    )
    assert plan.changes == ("talks to the CRM",) and plan.dependencies == ()
    assert snap(store.root) == before
    assert json.loads(json.dumps(plan.to_dict()))["needsConsent"] is True
    # The plan and the refusal of an unaccepted update agree on the diff.
    result = market.update("notes", plan.to_version, accept_permissions=True)
    assert result.permissions == plan.permissions


def test_plan_update_with_nothing_to_do_and_back_down(market: PluginMarketplace, notes) -> None:
    market.install("notes")
    same = market.plan_update("notes")
    assert (same.to_version, same.needed, same.needs_consent) == ("1.1.0", False, False)
    down = market.plan_update("notes", "1.0.0")
    assert down.needed and not down.needs_consent
    assert down.permissions.removed and not down.permissions.added


def test_plan_update_names_new_dependencies_and_refuses_like_update(
    market: PluginMarketplace, publish
) -> None:
    publish("tool", "1.0.0")
    publish("helper", "1.0.0")
    publish("tool", "2.0.0", dependencies={"helper": "^1.0.0"})
    market.install("tool", "1.0.0")
    plan = market.plan_update("tool")
    assert plan.dependencies == ({"name": "helper", "version": "1.0.0"},)
    with pytest.raises(NotFoundError, match=r"tool has no version matching '9\.0\.0'"):
        market.plan_update("tool", "9.0.0")
    with pytest.raises(NotFoundError, match="plugin 'ghost' is not installed"):
        market.plan_update("ghost")
    publish("child", dependencies={"tool": "^1.0.0"})
    market.install("child")
    with pytest.raises(DependencyConflictError, match=r"cannot update tool@2.0.0"):
        market.plan_update("tool", "2.0.0")


def test_install_and_update_report_their_steps(
    market: PluginMarketplace, publish, engine: Engine
) -> None:
    publish("helper", "1.0.0")
    publish("tool", "1.0.0", dependencies={"helper": "^1.0.0"})
    publish("tool", "1.1.0", dependencies={"helper": "^1.0.0"})
    seen: list[tuple[str, str]] = []
    market.install("tool", "1.0.0", progress=lambda step, detail: seen.append((step, detail)))
    assert [step for step, _ in seen] == [
        "resolve",
        "download",
        "verify",
        "scan",
        "download",
        "verify",
        "scan",
        "install",
        "start",
    ]
    assert seen[1] == ("download", "downloading helper@1.0.0")
    assert seen[4] == ("download", "downloading tool@1.0.0")
    assert seen[7] == ("install", "unpacking helper@1.0.0, tool@1.0.0")
    assert {step for step, _ in seen} == set(STEPS)
    seen.clear()
    market.update("tool", progress=lambda step, detail: seen.append((step, detail)))
    assert [step for step, _ in seen] == ["resolve", *STEPS[1:]]
    assert seen[-1] == ("start", "reloading tool@1.1.0 in the engine")
    assert str(engine.plugin("tool").manifest.version) == "1.1.0"


def test_a_refused_install_stops_at_the_step_that_refused(
    tmp_path, market: PluginMarketplace, publish, key
) -> None:
    from pliers_lab.market import SignatureError, SigningKey, build_bundle

    from .conftest import write_plugin

    stranger = SigningKey.generate()
    market.registry.register_key("bob", stranger.public_key)
    folder = write_plugin(tmp_path / "bob", "strange")
    market.registry.publish(
        build_bundle(folder, tmp_path / "strange.zip", signing_key=stranger), user="bob"
    )
    seen: list[str] = []
    with pytest.raises(SignatureError, match=r"strange@1\.0\.0: signed by key"):
        market.install("strange", progress=lambda step, _detail: seen.append(step))
    assert seen == ["resolve", "download", "verify"]
