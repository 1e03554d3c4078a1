"""Tests of pliers_lab.versions: differential cases from npm's real ``semver``, focused unit
tests, and hypothesis properties.

``fixtures/semver/cases.json`` is written by ``fixtures/semver/generate.js`` (see there to
regenerate). Each category is checked in one loop that collects every mismatch, so a
regression reports "37/7230 differ" with the first 20, not thousands of test ids.
"""

from __future__ import annotations

import contextlib
import json
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pliers_lab.errors import PliersError
from pliers_lab.versions import (
    Comparator,
    Range,
    Version,
    VersionError,
    compare,
    intersects,
    max_satisfying,
    min_satisfying,
    parse_range,
    parse_version,
    satisfies,
    sort_versions,
    valid,
    valid_range,
)

CASES: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "semver" / "cases.json").read_text(encoding="utf-8")
)


Case = dict[str, Any]


def _mismatches(cases: list[Case], check: Callable[[Case], Iterator[str]]) -> None:
    """Run ``check`` on every case; fail once, listing the first 20 disagreements."""
    found = [f"{problem}  <- {case!r}"[:400] for case in cases for problem in check(case)]
    summary = f"{len(found)} mismatch(es) over {len(cases)} cases:\n"
    assert not found, summary + "\n".join(found[:20])


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except VersionError:
        return "throws"


# --- differential: node's answers ------------------------------------------------------


def test_fixtures_come_from_semver_7_and_cover_every_category() -> None:
    assert CASES["meta"]["semver"].startswith("7.")
    counts = {k: len(v) for k, v in CASES.items() if k != "meta"}
    assert len(counts) == 7 and min(counts.values()) >= 100, counts


def test_parse_and_valid_match_node() -> None:
    def check(case: Case) -> Iterator[str]:
        text, expected = case["input"], case["valid"]
        if valid(text) != expected:
            yield f"valid() gave {valid(text)!r}, node {expected!r}"
        parsed = _outcome(lambda: parse_version(text))
        if expected is None:
            if parsed != "throws":
                yield f"parse_version() returned {parsed!r}, node rejects"
            return
        if parsed == "throws":
            yield "parse_version() raised, node accepts"
            return
        got = [parsed.major, parsed.minor, parsed.patch, [*parsed.prerelease], [*parsed.build]]
        want = [case[k] for k in ("major", "minor", "patch", "prerelease", "build")]
        if got != want:
            yield f"fields {got!r} != node {want!r}"

    _mismatches(CASES["parse"], check)


def test_compare_and_build_order_match_node() -> None:
    def check(case: Case) -> Iterator[str]:
        a, b = case["a"], case["b"]
        if compare(a, b) != case["compare"]:
            yield f"compare() gave {compare(a, b)}, node {case['compare']}"
        want = [b, a] if case["compareBuild"] > 0 else [a, b]
        if (got := sort_versions([a, b])) != want:
            yield f"sort_versions() gave {got}, node's compareBuild {case['compareBuild']}"

    _mismatches(CASES["compare"], check)


def test_satisfies_matches_node() -> None:
    def check(case: Case) -> Iterator[str]:
        flag = case["includePrerelease"]
        got = satisfies(case["version"], case["range"], include_prerelease=flag)
        if got != case["result"]:
            yield f"satisfies() gave {got}, node {case['result']}"
        if parse_range(case["range"], include_prerelease=flag).test(case["version"]) != got:
            yield "Range.test() disagrees with satisfies()"

    _mismatches(CASES["satisfies"], check)


def test_max_and_min_satisfying_match_node() -> None:
    def check(case: Case) -> Iterator[str]:
        args = (case["versions"], case["range"])
        flag = case["includePrerelease"]
        if (got := max_satisfying(*args, include_prerelease=flag)) != case["max"]:
            yield f"max_satisfying() gave {got!r}, node {case['max']!r}"
        if (got := min_satisfying(*args, include_prerelease=flag)) != case["min"]:
            yield f"min_satisfying() gave {got!r}, node {case['min']!r}"

    _mismatches(CASES["maxMinSatisfying"], check)


def test_valid_range_and_normalized_text_match_node() -> None:
    def check(case: Case) -> Iterator[str]:
        for flag, key in ((False, "default"), (True, "includePrerelease")):
            want = case[key]
            if (got := valid_range(case["range"], include_prerelease=flag)) != want["validRange"]:
                yield f"[{key}] valid_range() gave {got!r}, node {want['validRange']!r}"
            text = _outcome(lambda f=flag: str(parse_range(case["range"], include_prerelease=f)))
            if text != (want["range"] if want["range"] is not None else "throws"):
                yield f"[{key}] str(parse_range()) gave {text!r}, node {want['range']!r}"

    _mismatches(CASES["validRange"], check)


def test_intersects_matches_node() -> None:
    def check(case: Case) -> Iterator[str]:
        flag = case["includePrerelease"]
        got = _outcome(lambda: intersects(case["range1"], case["range2"], include_prerelease=flag))
        if got != case["result"]:
            yield f"intersects() gave {got!r}, node {case['result']!r}"

    _mismatches(CASES["intersects"], check)


def test_sort_matches_node() -> None:
    def check(case: Case) -> Iterator[str]:
        if (got := sort_versions(case["versions"])) != case["sorted"]:
            yield f"sort_versions() gave {got}"
        if (got := sort_versions(case["versions"], reverse=True)) != case["rsorted"]:
            yield f"sort_versions(reverse=True) gave {got}"

    _mismatches(CASES["sort"], check)


# --- error messages --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1.2", "invalid version '1.2': expected MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]"),
        ("01.2.3", "invalid version '01.2.3': expected MAJOR.MINOR.PATCH"),
        ("=1.2.3", "invalid version '=1.2.3': expected"),
        ("9007199254740992.0.0", "major version 9007199254740992 is larger than 2**53-1"),
        ("1.2.3-" + "a" * 251, "longer than 256 characters"),
    ],
)
def test_version_error_names_input_and_reason(text: str, message: str) -> None:
    with pytest.raises(VersionError) as info:
        parse_version(text)
    assert message in str(info.value)
    assert isinstance(info.value, PliersError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (">=1.2.3 <", "invalid range '>=1.2.3 <': cannot read comparator '<'"),
        ("1.x.2", "invalid range '1.x.2': cannot read comparator '1.x.2'"),
        ("=1.2.3 - 2", "cannot read comparator '>==1.2.3'"),
        ("^9007199254740991.0.0", "major version 9007199254740992 is larger than 2**53-1"),
    ],
)
def test_range_error_names_input_and_reason(text: str, message: str) -> None:
    with pytest.raises(VersionError, match=r"^invalid range") as info:
        parse_range(text)
    assert message in str(info.value)


def test_non_strings_are_rejected_cleanly() -> None:
    with pytest.raises(VersionError, match="expected a string, not int"):
        parse_version(123)  # type: ignore[arg-type]
    with pytest.raises(VersionError, match="expected a string, not NoneType"):
        parse_range(None)  # type: ignore[arg-type]
    assert valid(None) is None  # type: ignore[arg-type]
    assert valid_range(None) is None  # type: ignore[arg-type]
    assert satisfies(None, "*") is False  # type: ignore[arg-type]


def test_invalid_range_raises_but_invalid_version_does_not_satisfy() -> None:
    assert satisfies("not-a-version", "^1.0.0") is False
    with pytest.raises(VersionError):
        satisfies("1.0.0", "^1.0.0 ||| ~")
    with pytest.raises(VersionError):
        max_satisfying(["1.0.0"], ">")


# --- the Python API --------------------------------------------------------------------


def test_version_is_immutable_hashable_and_ignores_build() -> None:
    v = parse_version(" v1.2.3-rc.1+sha.5114f85 ")
    assert (v.major, v.minor, v.patch) == (1, 2, 3)
    assert (v.prerelease, v.build) == (("rc", 1), ("sha", "5114f85"))
    assert str(v) == "1.2.3-rc.1" and v.full == "1.2.3-rc.1+sha.5114f85" and v.is_prerelease
    assert repr(v) == "Version('1.2.3-rc.1+sha.5114f85')"
    assert v == parse_version("1.2.3-rc.1") and hash(v) == hash(parse_version("1.2.3-rc.1+x"))
    with pytest.raises(AttributeError):
        v.major = 2  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(v)).full == v.full
    assert Version(1, 2, 3, ("beta", "2"), ("b",)).prerelease == ("beta", 2)
    with pytest.raises(VersionError):
        Version(1, 2, -3)


def test_range_api() -> None:
    r = parse_range("^1.2.3 || 2.x")
    assert r is parse_range("^1.2.3 || 2.x"), "parse_range caches"
    assert str(r) == ">=1.2.3 <2.0.0-0||>=2.0.0 <3.0.0-0"
    assert repr(r) == "Range('>=1.2.3 <2.0.0-0||>=2.0.0 <3.0.0-0')"
    assert r.set[0][0] == Comparator(">=", parse_version("1.2.3"), ">=1.2.3")
    assert r == Range(">=1.2.3 <2.0.0-0 || 2", include_prerelease=False)
    assert str(parse_range("*")) == "" and valid_range("*") == "*"
    assert r.test("2.5.0") and not r.test("3.0.0") and not r.test("garbage")
    assert pickle.loads(pickle.dumps(r)) == r
    with pytest.raises(AttributeError):
        r.raw = "x"  # type: ignore[misc]


def test_include_prerelease_follows_the_range_unless_given() -> None:
    loose = Range("^1.2.3", include_prerelease=True)
    assert satisfies("1.5.0-beta", loose)
    assert not satisfies("1.5.0-beta", loose, include_prerelease=False)
    assert not satisfies("1.5.0-beta", "^1.2.3")
    assert satisfies("1.5.0-beta", "^1.2.3", include_prerelease=True)
    assert parse_range(loose, include_prerelease=True) is loose


def test_prerelease_needs_a_comparator_on_the_same_tuple() -> None:
    assert satisfies("1.2.3-beta.2", ">=1.2.3-beta <2")
    assert not satisfies("1.2.4-beta", ">=1.2.3-beta <2")
    assert satisfies("1.2.4-beta", ">=1.2.3-beta <2", include_prerelease=True)
    assert satisfies("0.0.3", "^0.0.3") and not satisfies("0.0.4", "^0.0.3")


def test_max_min_satisfying_return_the_given_items() -> None:
    versions = ["v1.2.3", "1.2.4+b", "1.2.4+a", "2.0.0", "junk"]
    assert max_satisfying(versions, "~1.2") == "1.2.4+b"  # first of equals, as node
    assert min_satisfying(versions, "~1.2") == "v1.2.3"
    assert max_satisfying(versions, "^3") is None
    parsed = [parse_version(v) for v in versions[:4]]
    assert max_satisfying(parsed, "*") is parsed[3]


def test_intersects_detects_conflicts() -> None:
    assert intersects("^1.2.0", "~1.4")
    assert not intersects("^1.2.0", "^2")
    assert parse_range("1.x").intersects(">=1.9.0 <3")
    assert not intersects("1.2.3-beta", "*")  # node's prerelease rule, applied literally


# --- properties ------------------------------------------------------------------------

_ident = st.from_regex(r"[0-9A-Za-z-]{1,8}", fullmatch=True)
_pre_ident = st.one_of(
    st.integers(0, 2**53 - 2).map(str),
    st.from_regex(r"[0-9]{0,3}[A-Za-z-][0-9A-Za-z-]{0,5}", fullmatch=True),
)
_numbers = st.one_of(st.integers(0, 12), st.integers(0, 2**53 - 1))


@st.composite
def version_texts(draw: st.DrawFn) -> str:
    text = ".".join(str(draw(_numbers)) for _ in range(3))
    if pre := draw(st.lists(_pre_ident, max_size=3)):
        text += "-" + ".".join(pre)
    if build := draw(st.lists(_ident, max_size=2)):
        text += "+" + ".".join(build)
    return text


_range_alphabet = st.sampled_from([*"0123456789.-+xX*^~<>=v| \t", "||", " - ", "1.2.3"])
range_texts = st.lists(_range_alphabet, max_size=14).map("".join)


@given(st.one_of(st.text(max_size=40), range_texts))
@settings(max_examples=400)
def test_parsers_only_ever_raise_version_error(text: str) -> None:
    for call in (parse_version, parse_range, lambda t: parse_range(t, include_prerelease=True)):
        with contextlib.suppress(VersionError):
            call(text)


@given(version_texts())
def test_version_round_trips(text: str) -> None:
    v = parse_version(text)
    again = parse_version(str(v))
    assert str(again) == str(v) and again == v
    assert parse_version(v.full).build == v.build
    assert valid(text) == str(v)


@given(version_texts(), version_texts(), version_texts())
def test_ordering_is_a_total_order_consistent_with_compare(a: str, b: str, c: str) -> None:
    va, vb, vc = map(parse_version, (a, b, c))
    assert compare(a, b) == -compare(b, a)
    assert (compare(a, b) < 0) == (va < vb) and (compare(a, b) == 0) == (va == vb)
    assert (va <= vb) == (not va > vb)
    if va <= vb and vb <= vc:
        assert va <= vc
    # sort_versions breaks ties between equal precedence by build metadata, as node's
    # sort does (compareBuild); compare the precedence order only.
    ordered = [parse_version(v) for v in sort_versions([c, b, a])]
    assert ordered == sorted([vc, vb, va])


@given(range_texts, st.lists(version_texts(), max_size=6), st.booleans())
@settings(max_examples=300)
def test_normalized_range_means_the_same(text: str, versions: list[str], flag: bool) -> None:
    try:
        r = parse_range(text, include_prerelease=flag)
    except VersionError:
        return
    again = parse_range(str(r), include_prerelease=flag)
    assert str(again) == str(r)
    assert [again.test(v) for v in versions] == [r.test(v) for v in versions]
    matching = [v for v in versions if r.test(v)]
    best = max_satisfying(versions, r)
    assert (best is None) == (not matching)
    if best is not None:
        assert all(parse_version(best) >= parse_version(v) for v in matching)
