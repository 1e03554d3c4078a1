"""The shortcuts read the common range shapes exactly as the node-semver port does.

Two shortcuts, one domain: ``range_sets`` gives the comparator sets, ``range_tests`` the
compiled tests straight from the text (what ``satisfies`` needs on a range seen the first
time). On every input of those shapes both agree with the port (same sets; same tests as
the port's sets compiled), and on near misses both step aside, so the port keeps its
errors and oddities. Checked on generated inputs, on every range of npm's fixture cases,
and on hypothesis-drawn token soup with odd whitespace.
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pliers_lab.versions import Range, VersionError, parse_range, satisfies
from pliers_lab.versions._parse import (
    ComparatorParts,
    SemverSyntaxError,
    format_version,
    parse_range_sets,
    parse_version_parts,
)
from pliers_lab.versions._shortcut import plain_version_key, range_sets, range_tests
from pliers_lab.versions._version_keys import Test, compile_set, key_of

PARTS = ("0", "1", "2", "10", "x", "X", "*")
OPS = ("", "^", "~", "~>", ">=", "<=", ">", "<", "=")
PARTIALS = [".".join(p) for n in (1, 2, 3) for p in itertools.product(PARTS, repeat=n)]
PRERELEASES = (
    "1.2.3-beta.1", "0.0.1-0", "1.0.0-rc.1", "2.1.0-alpha", "0.0.0-0", "0.1.0-x.7",
    "10.0.0-9007199254740993", "1.2.3-01", "1.2.3-", "1.2.3-a..b", "0.0.0-alpha-1",
    "1.x.x-beta", "1.2.x-0", "x.x.x-rc.1", "1.x.3-0", "1.2.3-1000000000000000",
)  # fmt: skip
TOKENS = [op + partial for op in OPS for partial in (*PARTIALS, *PRERELEASES)]
CASES = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "semver" / "cases.json").read_text(encoding="utf-8")
)
FIXTURE_RANGES = sorted(
    {case[key] for cases in CASES.values() if isinstance(cases, list) for case in cases
     for key in ("range", "range1", "range2") if isinstance(case.get(key), str)}
)  # fmt: skip


def _well_ordered(partial: str) -> bool:
    """No number after an x (``1.x.2`` is for the port to reject)."""
    parts = [p in ("x", "X", "*") for p in partial.split(".")]
    return parts == sorted(parts)


WELL_ORDERED = [op + p for op in OPS for p in PARTIALS if _well_ordered(p)]


def _port_tests(sets: list[list[ComparatorParts]]) -> tuple[Test, ...]:
    """What Range compiles from comparator sets (the port's or ``range_sets``')."""
    return tuple(t for t in map(compile_set, sets) if t)


def _agrees(text: str, incpr: bool) -> bool:
    """Whether the shortcuts answered (and then: what the port answers). Both answer or
    neither does."""
    fast = range_sets(text, incpr)
    tests = range_tests(text, incpr)
    where = f"{text!r} (include_prerelease={incpr})"
    assert (fast is None) == (tests is None), f"{where}: one shortcut answers, not both"
    if fast is None:
        return False
    try:
        slow = parse_range_sets(text, incpr)
    except SemverSyntaxError as exc:
        raise AssertionError(f"{text!r}: the port rejects it ({exc}), not {fast}") from None
    assert fast == slow, where
    assert tests == _port_tests(slow[1]), where
    return True


@pytest.mark.parametrize("incpr", [False, True], ids=["plain", "include_prerelease"])
def test_every_single_comparator_reads_as_the_port_reads_it(incpr: bool) -> None:
    answered = {token for token in TOKENS if _agrees(token, incpr)}
    # The shortcut is used, not always stepping aside: all well-ordered comparators but
    # the rare ^x.x / ~x.x forms.
    assert set(WELL_ORDERED) <= answered


@pytest.mark.parametrize("incpr", [False, True], ids=["plain", "include_prerelease"])
def test_sets_alternatives_and_hyphens_read_as_the_port_reads_them(incpr: bool) -> None:
    rng = random.Random(17)
    texts = [f"{rng.choice(TOKENS)} {rng.choice(TOKENS)}" for _ in range(3000)]
    texts += [f"{rng.choice(TOKENS)} {rng.choice(TOKENS)} {rng.choice(TOKENS)}" for _ in range(500)]
    texts += [f"{rng.choice(TOKENS)} || {rng.choice(TOKENS)}" for _ in range(1500)]
    three = (rng.choice(TOKENS) for _ in range(1500))
    texts += [f"{a}||{b} {c}" for a, b, c in zip(three, three, three, strict=False)]
    small = [p for p in (*PARTIALS, *PRERELEASES) if set(p) <= set("01x.") or "-" in p]
    texts += [f"{a} - {b}" for a in small for b in small]
    texts += [f"{rng.choice(PARTIALS)} - {rng.choice(PARTIALS)}" for _ in range(3000)]
    answered = sum(_agrees(text, incpr) for text in texts)
    assert answered >= 0.4 * len(texts)  # about half the random tokens are well-ordered


@pytest.mark.parametrize("incpr", [False, True], ids=["plain", "include_prerelease"])
def test_null_and_any_sets_among_alternatives_read_as_the_port_reads_them(incpr: bool) -> None:
    """``choose_sets``: null sets (``<0.0.0-0``) go when others are left, and a set that
    admits anything stands alone, which changes what a prerelease may match."""
    null, anything = ("<0", "<x", "<0.0.x", "<0.0.0-0"), ("*", "x", ">=0", "^x", "0.x")
    other = ("^1.2.3", ">2 <1", ">=1.2.3-beta <2", "1.2.3-rc.1 - 2")
    for sets in itertools.product((*null, *anything, *other), repeat=3):
        assert _agrees(" || ".join(sets), incpr)


def test_every_range_of_the_npm_fixtures_reads_as_the_port_reads_it() -> None:
    for incpr in (False, True):
        answered = sum(_agrees(text, incpr) for text in FIXTURE_RANGES)
        assert answered >= 0.3 * len(FIXTURE_RANGES)


@pytest.mark.parametrize(
    "text",
    [
        "^1.2.3", "~1.2.3", "^1.2", "~1.2", "1.x", "1.2.x", ">=1.2.3 <2", ">=1.2.3",
        "<=1.2.3", "1.2.3", "1.2 - 2.3.4", "^1.2.3 || ^2", "*", "~>1.2", "^1.2.3-beta.1",
        ">=1.2.3-beta.1 <2", "1.2.3-rc.1 - 2.0.0-0",
    ],
)  # fmt: skip
def test_the_shapes_manifests_use_take_the_shortcut(text: str) -> None:
    assert _agrees(text, False) and _agrees(text, True)


NEAR_MISSES = [
    "", " ^1.2.3", "^1.2.3 ", "^1.2.3  <2", "> 1.2.3", "^ 1.2.3", "v1.2.3", "=v1.2.3",
    "1.2.3+build", "1.2.3-01", "1.2-beta", "01.2.3", "1.2.3.4", "1.x.2", "x.1",
    "^1.x.2", "1 -2", "1 - 2 - 3", "^1 - 2", "1 ||", "|| 1", "1 | 2", "1\t2",
    "1.2.3 - ^2", "~ 1", "**", "1.2.3x", "9999999999999999.0.0", "^1.x.x-beta",
    "1.2.x-0", "1 - 2.x-0", "1\u00a0- 2", "\ufeff1.2.3", "1.2.3\n", "=1.2.3 - 2",
    ">=1.2.3 <", "^9007199254740991.0.0", "1.2.3 ||| 2", "1.2.3 |||| 2", "1 - ",
]  # fmt: skip


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_are_left_to_the_port(text: str) -> None:
    for incpr in (False, True):
        assert range_sets(text, incpr) is None
        assert range_tests(text, incpr) is None


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_keep_the_ports_answer_and_error(text: str) -> None:
    """What the public API says on them is the port's: its sets, or its error message."""
    for incpr in (False, True):
        try:
            raw, sets = parse_range_sets(text, incpr)
        except SemverSyntaxError as exc:
            with pytest.raises(VersionError) as info:
                parse_range(text, include_prerelease=incpr)
            assert str(info.value) == f"invalid range {text!r}: {exc}"
            with pytest.raises(VersionError):
                satisfies("1.2.3", text, include_prerelease=incpr)
            continue
        r = Range(text, include_prerelease=incpr)
        assert (r.raw, r._tests) == (raw, _port_tests(sets))


@pytest.mark.parametrize("incpr", [False, True], ids=["plain", "include_prerelease"])
def test_ranges_compiled_from_the_text_read_their_parts_on_first_use(incpr: bool) -> None:
    """A Range from ``range_tests`` has no parts yet: ``set`` and ``str()`` read them
    again, and must say what a Range built from the port's parts says."""
    rng = random.Random(5)
    texts = [t for t in (f"{rng.choice(TOKENS)} {rng.choice(TOKENS)}" for _ in range(400))
             if range_tests(t, incpr) is not None]  # fmt: skip
    for text in [*texts, "^1.2.3 || 2.x", "1.2 - 2.3.4", "<0 || >=1.2.3-beta <2"]:
        fast = Range(text, include_prerelease=incpr)
        raw, sets = parse_range_sets(text, incpr)
        assert fast.raw == raw and fast._tests == _port_tests(sets)
        assert [[(c.operator, c.value) for c in s] for s in fast.set] == [
            [(op, "" if v is None else op + format_version(v)) for op, v in s] for s in sets
        ]


def test_an_invalid_version_never_satisfies_a_shortcut_range() -> None:
    for version in ("", "1.2", "01.2.3", "1.2.3.4", "v", "1.2.3-", "\u0661.2.3", "x"):
        assert satisfies(version, "^1.2.3") is False
        assert satisfies(version, "*", include_prerelease=True) is False


_SOUP = st.sampled_from(
    [*TOKENS[::7], " ", " ", "  ", "||", " || ", " - ", "-", "\t", "\u00a0", "v", "+b", "|"]
)


@given(st.lists(_SOUP, min_size=1, max_size=6).map("".join), st.booleans())
@settings(max_examples=1500, deadline=None)
def test_token_soup_reads_as_the_port_reads_it(text: str, incpr: bool) -> None:
    _agrees(text, incpr)


def test_plain_versions_read_as_the_port_reads_them() -> None:
    for text in ("0.0.0", "1.2.3", "10.20.30", "999999999999999.0.1"):
        parts = parse_version_parts(text)
        assert plain_version_key(text) == key_of(parts)
        assert format_version(parts) == text  # so the text is the normalized form
    for text in ("01.2.3", "1.2", "v1.2.3", " 1.2.3", "1.2.3-0", "1.2.3+b", "1.2.3.4",
                 "9999999999999999.0.0", "=1.2.3", "1.2.3\n", "\u0661.2.3"):  # fmt: skip
        assert plain_version_key(text) is None
