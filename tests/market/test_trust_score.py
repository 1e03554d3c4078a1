"""Trust scores from a real registry, store and engine: every signal shown, the unknown
ones said to be unknown, caps from advisories and keys (issue 19 §2)."""

from __future__ import annotations

import json

import pytest

from pliers_lab import Engine
from pliers_lab.market import (
    Advisories,
    PluginMarketplace,
    PluginStore,
    PluginVerification,
    Registry,
    SecurityIssue,
    TrustScore,
    trust_score,
)
from pliers_lab.market._trust_score import ADVISORY_CAPS, REVOKED_CAP, WEIGHTS

FAILING_CODE = """\
from pliers_lab import hook


@hook("export.format")
def answer(ctx):
    if ctx.data.get("format") == "flaky":
        raise RuntimeError("flaky is flaky")
    return None
"""


def test_every_signal_is_listed_with_value_weight_and_contribution(
    registry: Registry, publish
) -> None:
    publish("csvx")
    score = trust_score(registry, "csvx")
    assert [s.name for s in score.signals] == list(WEIGHTS)
    assert {s.name: s.weight for s in score.signals} == WEIGHTS
    assert score.signal("signature").value == 1.0
    assert "registered to 'ann'" in score.signal("signature").detail
    assert score.signal("scan").value == 1.0 and score.signal("scan").measured == "100/100"
    assert score.signal("downloads").value == 0.0  # measured: 0 downloads, not unknown
    assert score.signal("downloads").measured == "0 downloads"
    # what cannot be known says so, and is left out of the sum (not counted as 0)
    for name, reason in [
        ("key trust", "no store given"),
        ("ratings", "nobody has rated"),
        ("runtime", "no engine given"),
    ]:
        signal = score.signal(name)
        assert signal.value is None and signal.contribution is None and reason in signal.detail
    known = [s for s in score.signals if s.known]
    assert score.uncapped == pytest.approx(sum(s.contribution for s in known), abs=0.05)
    total = sum(s.weight for s in known)
    for s in known:
        assert s.contribution == pytest.approx(100 * s.weight * s.value / total, abs=0.01)
    assert score.coverage == pytest.approx(total / sum(WEIGHTS.values()), abs=0.001)
    assert score.score is not None and 0 <= score.score <= 100
    assert TrustScore.from_dict(json.loads(json.dumps(score.to_dict()))).score == score.score
    frame = score.frame()
    assert list(frame["signal"]) == list(WEIGHTS)
    assert frame.set_index("signal").loc["ratings", "known"] == False  # noqa: E712
    assert "trust" in str(score) and "unknown" in str(score)


def test_downloads_ratings_and_the_store_raise_the_score(
    registry: Registry, store: PluginStore, publish
) -> None:
    publish("csvx")
    before = trust_score(registry, "csvx")
    for _ in range(30):
        registry.download("csvx", "1.0.0")
    registry.rate("csvx", 5, user="bob")
    after = trust_score(registry, "csvx", store=store)
    assert after.signal("downloads").value > before.signal("downloads").value
    assert after.signal("ratings").value == 1.0
    assert after.signal("key trust").value == 1.0
    untrusting = PluginStore(store.root.parent / "other-store")
    assert trust_score(registry, "csvx", store=untrusting).signal("key trust").value == 0.0


def test_reports_and_advisories_lower_and_cap_the_score(registry: Registry, publish) -> None:
    publish("csvx", "1.0.0")
    publish("csvx", "1.1.0")
    clean = trust_score(registry, "csvx", "1.0.0")
    advisories = Advisories(registry)
    issue = SecurityIssue("high", "leak", "sends rows out", "plugin.py:3", "do not")
    report = advisories.report("csvx", issue, version="1.0.0", reporter="bob")
    reported = trust_score(registry, "csvx", "1.0.0")
    assert reported.signal("reports").value == pytest.approx(0.8)  # high costs 20 of 100
    assert f"#{report.id} high leak" in reported.signal("reports").detail
    assert reported.score < clean.score
    advisory = advisories.confirm(report.id, user="ann", affected="<1.1.0", fixed_version="1.1.0")
    hit = trust_score(registry, "csvx", "1.0.0")
    assert hit.signal("advisories").value == 0.25 and advisory.id in hit.signal("advisories").detail
    assert hit.cap == ADVISORY_CAPS["high"] and hit.score <= ADVISORY_CAPS["high"]
    assert hit.signal("reports").value == 1.0  # confirmed: counted once, as the advisory
    fixed = trust_score(registry, "csvx", "1.1.0")
    assert fixed.signal("advisories").value == 1.0 and fixed.cap is None
    # the publisher's history carries the advisory on every version they publish
    assert fixed.signal("publisher history").value < clean.signal("publisher history").value


def test_a_revoked_key_caps_the_score(registry: Registry, publish, key) -> None:
    publish("csvx")
    registry.revoke_key(key.public_key.key_id)
    score = trust_score(registry, "csvx")
    assert (
        score.signal("signature").value == 0.0
        and "no longer holds" in score.signal("signature").detail
    )
    assert score.cap == REVOKED_CAP and score.score <= REVOKED_CAP


def test_the_engine_adds_the_runtime_signal(
    market: PluginMarketplace, registry: Registry, publish, engine: Engine, store: PluginStore
) -> None:
    publish("flaky", code=FAILING_CODE)
    market.install("flaky")
    verification = PluginVerification(registry, store=store, engine=engine)
    assert "has not run here yet" in verification.get_trust_score("flaky").signal("runtime").detail
    engine.fire("export.format", {"format": "csv"})
    engine.fire("export.format", {"format": "flaky"})
    runtime = verification.get_trust_score("flaky").signal("runtime")
    assert runtime.value == pytest.approx(0.5) and runtime.measured == "1/2 failed, 0 denied"
    publish("flaky", "2.0.0", code=FAILING_CODE)
    other = verification.get_trust_score("flaky", "2.0.0").signal("runtime")
    assert other.value is None and "runs flaky 1.0.0, not 2.0.0" in other.detail
