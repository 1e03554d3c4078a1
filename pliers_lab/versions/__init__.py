"""npm-style semantic versions and ranges, with node-semver's exact (non-loose) semantics.

Plugin-to-plugin dependency ranges are written in npm syntax (DESIGN.md §3), so a range
must mean here exactly what it means to ``npm``: ``^0.0.3`` is ``>=0.0.3 <0.0.4-0``, and a
prerelease such as ``1.3.0-beta`` satisfies no range unless a comparator of the same set
names a prerelease of ``1.3.0``. :mod:`pliers_lab.versions._parse` ports node-semver's parser
literally; each comparator set is compiled, once, into two precomputed tuple keys
(``lo <= key < hi``, :mod:`pliers_lab.versions._version_keys`), so the resolver's hot path is
a cache hit plus a chained comparison. A range seen the first time is mostly one of a few common
shapes, which :mod:`pliers_lab.versions._shortcut` compiles straight from the text, leaving
the comparator objects and normalized text to be built only if asked for.

Differences from node-semver, on purpose:

* An invalid *range* raises :class:`VersionError` (node's ``satisfies`` returns ``false``):
  a malformed range in a manifest is a bug its author must see, not a silent mismatch.
  An invalid *version* still just fails to satisfy, as in node.
* ``include_prerelease=None`` (the default) lets a :class:`Range` keep its own setting.

Known, deliberate gap: node compares numeric identifiers beyond 2**53 as rounded floats
and stops at the first "equal" pair, which is not a total order (``1.0.0-99999999999999999999.b``
equals ``1.0.0-99999999999999999998.a`` but not ``1.0.0-99999999999999999999.a``); we keep a
total order and agree with node everywhere else. The same holds for build identifiers such
as ``001`` vs ``1`` followed by more identifiers, which only matters for :func:`sort_versions`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any, NamedTuple, TypeVar, final

from pliers_lab.errors import PliersError
from pliers_lab.versions._parse import (
    ComparatorParts,
    SemverSyntaxError,
    VersionParts,
    format_version,
    parse_range_sets,
    parse_version_parts,
)
from pliers_lab.versions._shortcut import plain_version_key, range_sets, range_tests
from pliers_lab.versions._version_keys import Key, Test, compile_set, ident_key, key_of

__all__ = [
    "Comparator",
    "Range",
    "Version",
    "VersionError",
    "compare",
    "intersects",
    "max_satisfying",
    "min_satisfying",
    "parse_range",
    "parse_version",
    "satisfies",
    "sort_versions",
    "valid",
    "valid_range",
]

_CACHE_SIZE = 65536

_V = TypeVar("_V", str, "Version")


class VersionError(PliersError, ValueError):
    """A version or range that node-semver would reject; the message names the input."""


@final
class Version:
    """An immutable, totally ordered semantic version (build metadata never compares).

    ``str()`` is node's normalized ``version`` (what :func:`valid` returns, no build);
    :attr:`full` adds the build metadata back.
    """

    # Three slots (the numbers are read from the key): a check against a range seen the
    # first time builds a Version, and each slot filled costs there. A plain release
    # shares one ((), ()) tail.
    __slots__ = ("_key", "_tail", "_text")

    _key: Key
    _tail: tuple[tuple[int | str, ...], tuple[str, ...]]  # (prerelease, build)
    _text: str

    def __init__(
        self,
        major: int,
        minor: int,
        patch: int,
        prerelease: Iterable[int | str] = (),
        build: Iterable[str] = (),
    ) -> None:
        # Validate by formatting and re-parsing, so a hand-built Version obeys the grammar.
        pre, bld = ".".join(map(str, prerelease)), ".".join(build)
        text = f"{major}.{minor}.{patch}" + (f"-{pre}" if pre else "") + (f"+{bld}" if bld else "")
        _fill_version(self, _parse_parts_or_raise(text))

    @classmethod
    def _from_parts(cls, parts: VersionParts) -> Version:
        self = object.__new__(cls)
        _fill_version(self, parts)
        return self

    @property
    def major(self) -> int:
        """The major version number."""
        number: int = self._key[0]  # typed: the key is a tuple of Any
        return number

    @property
    def minor(self) -> int:
        """The minor version number."""
        number: int = self._key[1]  # typed: the key is a tuple of Any
        return number

    @property
    def patch(self) -> int:
        """The patch version number."""
        number: int = self._key[2]  # typed: the key is a tuple of Any
        return number

    @property
    def prerelease(self) -> tuple[int | str, ...]:
        """The prerelease identifiers, numeric ones as ints (below 2**53-1, as node)."""
        return self._tail[0]

    @property
    def build(self) -> tuple[str, ...]:
        """The build metadata identifiers (never compared)."""
        return self._tail[1]

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Version is immutable (cannot set {name!r})")

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return parse_version, (self.full,)

    @property
    def full(self) -> str:
        """The normalized version with its build metadata, e.g. ``1.2.3-rc.1+sha.5114f85``."""
        build = self._tail[1]
        return self._text + ("+" + ".".join(build) if build else "")

    @property
    def is_prerelease(self) -> bool:
        """Whether the version has prerelease identifiers (and so is excluded by default)."""
        return bool(self._tail[0])

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Version({self.full!r})"

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: object) -> bool:
        return self._key == other._key if isinstance(other, Version) else NotImplemented

    def __lt__(self, other: Version) -> bool:
        return self._key < other._key if isinstance(other, Version) else NotImplemented

    def __le__(self, other: Version) -> bool:
        return self._key <= other._key if isinstance(other, Version) else NotImplemented

    def __gt__(self, other: Version) -> bool:
        return self._key > other._key if isinstance(other, Version) else NotImplemented

    def __ge__(self, other: Version) -> bool:
        return self._key >= other._key if isinstance(other, Version) else NotImplemented


def _slot_setters(cls: type, *names: str) -> tuple[Callable[[Any, Any], None], ...]:
    """The slots' descriptor ``__set__``s: they fill an immutable instance past its
    refusing ``__setattr__`` at half the cost of ``object.__setattr__``."""
    return tuple(vars(cls)[name].__set__ for name in names)


_set_version_key, _set_version_tail, _set_version_text = _slot_setters(
    Version, "_key", "_tail", "_text"
)
_PLAIN_TAIL: tuple[tuple[int | str, ...], tuple[str, ...]] = ((), ())


def _fill_version(version: Version, parts: VersionParts) -> None:
    """Set a new Version's slots from parsed parts."""
    _set_version_key(version, key_of(parts))
    _set_version_tail(version, (parts[3], parts[4]) if parts[3] or parts[4] else _PLAIN_TAIL)
    _set_version_text(version, format_version(parts))


def _parse_parts_or_raise(text: str) -> VersionParts:
    try:
        return parse_version_parts(text)
    except SemverSyntaxError as exc:
        raise VersionError(f"invalid version {text!r}: {exc}") from None


@lru_cache(maxsize=_CACHE_SIZE)
def _cached_version(text: str) -> Version | None:
    key = plain_version_key(text)
    if key is not None:  # plain MAJOR.MINOR.PATCH, its text already normalized
        version = object.__new__(Version)
        _set_version_key(version, key)
        _set_version_tail(version, _PLAIN_TAIL)
        _set_version_text(version, text)
        return version
    try:
        return Version._from_parts(parse_version_parts(text))
    except SemverSyntaxError:
        return None


def _version_or_none(version: object) -> Version | None:
    if version.__class__ is str:
        return _cached_version(version)
    return version if isinstance(version, Version) else None


def parse_version(text: str | Version) -> Version:
    """Parse like node's ``semver.parse`` (strict): surrounding whitespace and a leading
    ``v`` are accepted, anything else that is not SemVer 2.0 raises :class:`VersionError`."""
    if isinstance(text, Version):
        return text
    if not isinstance(text, str):
        raise VersionError(
            f"invalid version {text!r}: expected a string, not {type(text).__name__}"
        )
    version = _cached_version(text)
    if version is None:
        _parse_parts_or_raise(text)  # raises with the precise reason
        raise AssertionError("unreachable")  # pragma: no cover
    return version


def valid(text: str | Version) -> str | None:
    """node's ``semver.valid``: the normalized version, or ``None`` if it does not parse."""
    version = _version_or_none(text)
    return None if version is None else version._text


def compare(a: str | Version, b: str | Version) -> int:
    """-1, 0 or 1 by SemVer precedence (build metadata ignored); invalid input raises."""
    ka, kb = parse_version(a)._key, parse_version(b)._key
    return (ka > kb) - (ka < kb)


def sort_versions(versions: Iterable[_V], *, reverse: bool = False) -> list[_V]:
    """node's ``semver.sort``/``rsort``: precedence, then build metadata; stable."""
    items = list(versions)
    keys = {id(item): _sort_key(parse_version(item)) for item in items}
    return sorted(items, key=lambda item: keys[id(item)], reverse=reverse)


def _sort_key(version: Version) -> tuple[Any, ...]:
    return (version._key, tuple(ident_key(b) for b in version.build))


class Comparator(NamedTuple):
    """One primitive comparison of a range; ``version`` is ``None`` for "any version"."""

    operator: str  # "", "<", "<=", ">", ">=" ("" means equal)
    version: Version | None
    value: str  # node's ``Comparator.value``: operator + normalized version, "" for any

    def __str__(self) -> str:
        return self.value


def _comparator(parts: ComparatorParts) -> Comparator:
    op, version_parts = parts
    if version_parts is None:
        return Comparator(op, None, "")
    version = Version._from_parts(version_parts)
    return Comparator(op, version, op + version._text)


@final
class Range:
    """A parsed npm range: ``||``-separated sets of comparators, compiled for fast tests.

    ``str()`` is node's ``new Range(text).range`` ("" for any version, where
    :func:`valid_range` says ``*``). Prefer :func:`parse_range`, which caches.
    """

    __slots__ = ("_parts", "_set", "_tests", "_text_cache", "include_prerelease", "raw")

    raw: str
    include_prerelease: bool
    _parts: list[list[ComparatorParts]]
    _set: tuple[tuple[Comparator, ...], ...]
    _text_cache: str
    _tests: tuple[Test, ...]

    def __init__(self, text: str, *, include_prerelease: bool = False) -> None:
        _fill_range(self, text, bool(include_prerelease))

    @property
    def set(self) -> tuple[tuple[Comparator, ...], ...]:
        """The comparator sets (ORed), each a tuple of ``Comparator`` (ANDed)."""
        try:
            return self._set
        except AttributeError:
            value = tuple(tuple(_comparator(c) for c in s) for s in self._sets)
            object.__setattr__(self, "_set", value)
            return value

    @property
    def _sets(self) -> list[list[ComparatorParts]]:
        """The comparator parts, read again from ``raw`` if the tests came without them."""
        try:
            return self._parts
        except AttributeError:
            parts = _read_range(self.raw, self.include_prerelease)[1]
            object.__setattr__(self, "_parts", parts)
            return parts

    @property
    def _text(self) -> str:
        try:
            return self._text_cache
        except AttributeError:
            text = "||".join(" ".join(c.value for c in s) for s in self.set)
            object.__setattr__(self, "_text_cache", text)
            return text

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Range is immutable (cannot set {name!r})")

    def __reduce__(self) -> tuple[Any, tuple[str, bool]]:
        return _cached_range, (self.raw, self.include_prerelease)

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        flag = ", include_prerelease=True" if self.include_prerelease else ""
        return f"Range({self._text or '*'!r}{flag})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Range):
            return NotImplemented
        return (self._text, self.include_prerelease) == (other._text, other.include_prerelease)

    def __hash__(self) -> int:
        return hash((self._text, self.include_prerelease))

    def test(self, version: str | Version) -> bool:
        """Whether ``version`` satisfies the range; an invalid version never does."""
        parsed = _version_or_none(version)
        return parsed is not None and self._match(parsed)

    def _match(self, version: Version) -> bool:
        key = version._key
        if not key[3] and not self.include_prerelease:  # key[3] is 0 for a prerelease
            # node's testSet: a prerelease passes a set only if a comparator of that set
            # carries a prerelease on the same [major, minor, patch].
            triple = key[:3]
            for lo, hi, allowed in self._tests:  # noqa: SIM110 - any(genexpr) is ~2x slower
                if lo <= key < hi and triple in allowed:
                    return True
            return False
        for lo, hi, _ in self._tests:  # noqa: SIM110 - hot path, see above
            if lo <= key < hi:
                return True
        return False

    def intersects(self, other: str | Range) -> bool:
        """node's ``Range.intersects``: could some version satisfy both ranges?"""
        incpr = self.include_prerelease
        theirs = _as_range(other, incpr)
        return any(
            _satisfiable(mine, incpr)
            and any(
                _satisfiable(their, incpr)
                and all(_comparators_intersect(a, b, incpr) for a in mine for b in their)
                for their in theirs.set
            )
            for mine in self.set
        )


_set_range_raw, _set_range_incpr, _set_range_tests, _set_range_parts = _slot_setters(
    Range, "raw", "include_prerelease", "_tests", "_parts"
)


def _fill_range(range_: Range, text: str, incpr: bool) -> None:
    """Set a new Range's slots. The common shapes compile straight from the text (all
    that ``satisfies`` needs); their comparator parts, behind ``set`` and ``str()``, are
    read on first use."""
    tests = range_tests(text, incpr) if text.__class__ is str else None
    if tests is None:
        raw, parts = _read_range(text, incpr)
        tests = tuple(t for t in map(compile_set, parts) if t)
        _set_range_parts(range_, parts)
    else:
        raw = text  # the shortcut's shapes have no whitespace for node to clean
    _set_range_raw(range_, raw)
    _set_range_incpr(range_, incpr)
    _set_range_tests(range_, tests)


def _read_range(text: object, incpr: bool) -> tuple[str, list[list[ComparatorParts]]]:
    """node's cleaned raw text and comparator sets, through the shortcut when it can;
    :class:`VersionError` with the port's reason when node would throw."""
    if not isinstance(text, str):
        raise VersionError(f"invalid range {text!r}: expected a string, not {type(text).__name__}")
    found = range_sets(text, incpr)  # the common shapes, quickly
    if found is not None:
        return found
    try:
        return parse_range_sets(text, incpr)
    except SemverSyntaxError as exc:
        raise VersionError(f"invalid range {text!r}: {exc}") from None


@lru_cache(maxsize=_CACHE_SIZE)
def _cached_range(text: str, include_prerelease: bool) -> Range:
    range_ = object.__new__(Range)  # Range(...) without the call's keyword handling
    _fill_range(range_, text, include_prerelease)
    return range_


def parse_range(text: str | Range, *, include_prerelease: bool | None = None) -> Range:
    """Parse (and cache) an npm range; raise :class:`VersionError` if node would reject it.

    ``include_prerelease=None`` keeps a given Range's own setting (False for text).
    """
    return _as_range(text, include_prerelease)


def _as_range(range_: object, include_prerelease: bool | None) -> Range:
    if range_.__class__ is str:
        return _cached_range(range_, bool(include_prerelease))
    if isinstance(range_, Range):
        if include_prerelease is None or range_.include_prerelease == bool(include_prerelease):
            return range_
        return _cached_range(range_.raw, bool(include_prerelease))
    raise VersionError(f"invalid range {range_!r}: expected a string, not {type(range_).__name__}")


def valid_range(text: str, *, include_prerelease: bool = False) -> str | None:
    """node's ``semver.validRange``: the normalized range (``*`` for any), or ``None``."""
    try:
        return str(_as_range(text, include_prerelease)) or "*"
    except VersionError:
        return None


def satisfies(
    version: str | Version, range: str | Range, *, include_prerelease: bool | None = None
) -> bool:
    """Whether ``version`` satisfies ``range``, as node's ``semver.satisfies``.

    An invalid version gives ``False`` (as in node); an invalid range raises
    :class:`VersionError` (node says ``false``): a malformed range in a manifest is a bug.
    """
    if range.__class__ is str and not include_prerelease:
        compiled = _cached_range(range, False)  # the resolver's hot path
    else:
        compiled = _as_range(range, include_prerelease)
    parsed = _cached_version(version) if version.__class__ is str else _version_or_none(version)
    return parsed is not None and compiled._match(parsed)


def max_satisfying(
    versions: Iterable[_V], range: str | Range, *, include_prerelease: bool | None = None
) -> _V | None:
    """The highest of ``versions`` that satisfies ``range`` (the first of equals), or None."""
    return _extreme(versions, range, include_prerelease, highest=True)


def min_satisfying(
    versions: Iterable[_V], range: str | Range, *, include_prerelease: bool | None = None
) -> _V | None:
    """The lowest of ``versions`` that satisfies ``range`` (the first of equals), or None."""
    return _extreme(versions, range, include_prerelease, highest=False)


def _extreme(
    versions: Iterable[_V], range: str | Range, include_prerelease: bool | None, *, highest: bool
) -> _V | None:
    compiled = _as_range(range, include_prerelease)
    best: _V | None = None
    best_key: tuple[Any, ...] = ()
    for item in versions:
        parsed = _version_or_none(item)
        if parsed is None or not compiled._match(parsed):
            continue
        # Strictly better only: the first of equal versions wins, as in node.
        if best is None or (best_key < parsed._key if highest else best_key > parsed._key):
            best, best_key = item, parsed._key
    return best


def intersects(
    range1: str | Range, range2: str | Range, *, include_prerelease: bool | None = None
) -> bool:
    """node's ``semver.intersects``: whether some version could satisfy both ranges.

    Conflict detection uses it; invalid ranges raise :class:`VersionError` (as node throws).
    """
    first = _as_range(range1, include_prerelease)
    return first.intersects(_as_range(range2, first.include_prerelease))


# --- node's Comparator.intersects / isSatisfiable, ported literally ---------------------


def _comparators_intersect(a: Comparator, b: Comparator, incpr: bool) -> bool:
    if a.operator == "":
        if a.value == "":
            return True
        return _cached_range(b.value, incpr).test(a.value)
    if b.operator == "":
        if b.value == "":
            return True
        assert b.version is not None
        return _cached_range(a.value, incpr)._match(b.version)
    assert a.version is not None and b.version is not None
    if incpr and "<0.0.0-0" in (a.value, b.value):
        return False
    if not incpr and (a.value.startswith("<0.0.0") or b.value.startswith("<0.0.0")):
        return False
    a_up, b_up = a.operator[0] == ">", b.operator[0] == ">"
    if a_up == b_up:  # same direction: both unbounded the same way
        return True
    if a.version._text == b.version._text and "=" in a.operator and "=" in b.operator:
        return True
    if a.version._key < b.version._key and a_up and not b_up:
        return True
    return a.version._key > b.version._key and not a_up and b_up


def _satisfiable(comparators: tuple[Comparator, ...], incpr: bool) -> bool:
    """node's ``isSatisfiable``: do the comparators of one set pairwise intersect?"""
    remaining = list(comparators)
    result = True
    current = remaining.pop()
    while result and remaining:
        result = all(_comparators_intersect(current, other, incpr) for other in remaining)
        current = remaining.pop()
    return result
