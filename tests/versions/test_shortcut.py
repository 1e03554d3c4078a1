"""The shortcut reads the common range shapes exactly as the node-semver port does: on
every input of those shapes both give the same comparator sets (or the shortcut steps
aside), and on near misses it steps aside, so the port keeps its errors and oddities."""

from __future__ import annotations

import itertools
import random

import pytest

from pliers_lab.versions._parse import SemverSyntaxError, parse_range_sets, parse_version_parts
from pliers_lab.versions._shortcut import range_sets, version_parts

PARTS = ("0", "1", "2", "10", "x", "X", "*")
OPS = ("", "^", "~", "~>", ">=", "<=", ">", "<", "=")
PARTIALS = [".".join(p) for n in (1, 2, 3) for p in itertools.product(PARTS, repeat=n)]
PRERELEASES = (
    "1.2.3-beta.1", "0.0.1-0", "1.0.0-rc.1", "2.1.0-alpha", "0.0.0-0", "0.1.0-x.7",
    "10.0.0-9007199254740993", "1.2.3-01", "1.2.3-", "1.2.3-a..b", "0.0.0-alpha-1",
)  # fmt: skip
TOKENS = [op + partial for op in OPS for partial in (*PARTIALS, *PRERELEASES)]


def _well_ordered(partial: str) -> bool:
    """No number after an x (``1.x.2`` is for the port to reject)."""
    parts = [p in ("x", "X", "*") for p in partial.split(".")]
    return parts == sorted(parts)


WELL_ORDERED = [op + p for op in OPS for p in PARTIALS if _well_ordered(p)]


def _agrees(text: str, incpr: bool) -> bool:
    """Whether the shortcut answered (and then: what the port answers)."""
    fast = range_sets(text, incpr)
    if fast is None:
        return False
    try:
        slow = parse_range_sets(text, incpr)
    except SemverSyntaxError as exc:
        raise AssertionError(f"{text!r}: the port rejects it ({exc}), not {fast}") from None
    assert fast == slow, f"{text!r} (include_prerelease={incpr})"
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
    texts += [f"{rng.choice(TOKENS)} || {rng.choice(TOKENS)}" for _ in range(1500)]
    three = (rng.choice(TOKENS) for _ in range(1500))
    texts += [f"{a}||{b} {c}" for a, b, c in zip(three, three, three, strict=False)]
    small = [p for p in (*PARTIALS, *PRERELEASES) if set(p) <= set("01x.") or "-" in p]
    texts += [f"{a} - {b}" for a in small for b in small]
    texts += [f"{rng.choice(PARTIALS)} - {rng.choice(PARTIALS)}" for _ in range(3000)]
    answered = sum(_agrees(text, incpr) for text in texts)
    assert answered >= 0.4 * len(texts)  # about half the random tokens are well-ordered


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


@pytest.mark.parametrize(
    "text",
    [
        "", " ^1.2.3", "^1.2.3 ", "^1.2.3  <2", "> 1.2.3", "^ 1.2.3", "v1.2.3", "=v1.2.3",
        "1.2.3+build", "1.2.3-01", "1.2-beta", "01.2.3", "1.2.3.4", "1.x.2", "x.1",
        "^1.x.2", "1 -2", "1 - 2 - 3", "^1 - 2", "1 ||", "|| 1", "1 | 2", "1\t2",
        "1.2.3 - ^2", "~ 1", "**", "1.2.3x", "9999999999999999.0.0",
    ],
)  # fmt: skip
def test_near_misses_are_left_to_the_port(text: str) -> None:
    for incpr in (False, True):
        assert range_sets(text, incpr) is None


def test_plain_versions_read_as_the_port_reads_them() -> None:
    for text in ("0.0.0", "1.2.3", "10.20.30", "999999999999999.0.1"):
        assert version_parts(text) == parse_version_parts(text)
    for text in ("01.2.3", "1.2", "v1.2.3", " 1.2.3", "1.2.3-0", "1.2.3+b", "1.2.3.4",
                 "9999999999999999.0.0", "=1.2.3"):  # fmt: skip
        assert version_parts(text) is None
