"""The common shapes of versions and ranges, read without the port's string rewriting.

``_parse`` reproduces node-semver's pipeline pass by pass, which is the only way to agree
on every odd input, and costs tens of microseconds for a range seen the first time. Almost
every range a manifest names is simpler: ``^1.2.3``, ``~1.2``, ``1.x``, ``>=1.2.3 <2``,
``1.2 - 2.3.4``, ``>=1.2.3-beta.1``, alternatives joined by ``||``: plain numbers, a
prerelease only after a full version, no build metadata, ``v`` or spaces inside a
comparator. Those are desugared here directly by the same rules (``range.js``:
``replaceCaret``, ``replaceTilde``, ``replaceXRange``, ``hyphenReplace``, the ``>=0.0.0``
drop, ``choose_sets``), in two forms over one domain: :func:`range_sets` gives the
comparators the port would produce, :func:`range_tests` the compiled tests ``Range`` would
make of them, without building them (all ``satisfies`` needs). Anything else returns
``None`` and goes through the port, which also owns every error message.
``tests/versions/test_shortcut.py`` checks both give the port's answer on every input of
these shapes and on the npm fixtures' ranges, and step aside on the near misses.
"""

from __future__ import annotations

import re
from typing import Any

from ._parse import ComparatorParts, VersionParts, choose_sets
from ._version_keys import MAX_KEY, MIN_KEY, NEXT, Key, Test, ident_key

__all__ = ["plain_version_key", "range_sets", "range_tests"]

# Numbers below 2**53 (node's MAX_SAFE_INTEGER) for certain: at most 15 digits.
_NUMBER = "0|[1-9][0-9]{0,14}"
_VERSION = re.compile(rf"({_NUMBER})\.({_NUMBER})\.({_NUMBER})")
_PART = rf"{_NUMBER}|[xX*]"
_OP = r"(\^|~>?|>=|<=|>|<|=)?"
_TOKEN = re.compile(rf"{_OP}({_PART})(?:\.({_PART})(?:\.({_PART}))?)?")
_PRE_ID = "0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*"
_PRE_TOKEN = re.compile(
    rf"{_OP}({_NUMBER})\.({_NUMBER})\.({_NUMBER})-((?:{_PRE_ID})(?:\.(?:{_PRE_ID}))*)"
)
_ALPHABET = re.compile(r"[0-9A-Za-z*.^~<>=| \-]+")
#: The port refuses versions longer than 256 characters and bounds its identifiers: a
#: range this short can meet neither limit.
_MAX_TEXT = 250
_MAX_SAFE_INTEGER = 2**53 - 1

#: (operator, major, minor, patch, prerelease) of one comparator as written
Token = tuple[str, str, "str | None", "str | None", tuple[int | str, ...]]

_NONE: tuple[int, ...] = ()
_LOW: tuple[int, ...] = (0,)  # the "-0" prerelease: below every other version of a triple
_ANY: ComparatorParts = ("", None)
_NULL: ComparatorParts = ("<", (0, 0, 0, _LOW, ()))


def plain_version_key(text: str) -> Key | None:
    """The key of ``MAJOR.MINOR.PATCH`` in plain digits (then ``text`` is already its
    normalized form), or None (then ask ``_parse``)."""
    m = _VERSION.fullmatch(text)
    if m is None:
        return None
    major, minor, patch = m.groups()
    return int(major), int(minor), int(patch), 1


def range_sets(text: str, incpr: bool) -> tuple[str, list[list[ComparatorParts]]] | None:
    """``parse_range_sets`` for the common shapes, or None (then ask ``_parse``)."""
    if (
        not text
        or len(text) > _MAX_TEXT
        or _ALPHABET.fullmatch(text) is None
        or "  " in text
        or text[0] == " "
        or text[-1] == " "
    ):
        return None
    if "||" not in text:  # one set: most ranges
        comparators = _set(text.split(" "), incpr)
        return None if comparators is None else (text, [_dedupe(comparators)])
    sets = []
    for part in text.split("||"):
        part = part.strip(" ")
        if not part:
            return None
        comparators = _set(part.split(" "), incpr)
        if comparators is None:
            return None
        sets.append(_dedupe(comparators))
    return text, choose_sets(sets)


def _set(tokens: list[str], incpr: bool) -> list[ComparatorParts] | None:
    if len(tokens) == 3 and tokens[1] == "-":
        return _hyphen(tokens[0], tokens[2], incpr)
    out: list[ComparatorParts] = []
    for text in tokens:
        token = _read(text)
        if token is None:
            return None
        op, major, minor, patch, pre = token
        if op == "^" or op == "~" or op == "~>":
            found = _caret_or_tilde(major, minor, patch, pre, incpr, op == "^")
        elif pre:  # a full version: the comparator as written
            found = [("" if op == "=" else op, (int(major), int(minor), int(patch), pre, ()))]  # type: ignore[arg-type]
        else:
            found = _xrange(op, major, minor, patch, incpr)
        if found is None:
            return None
        out.extend(found)
    for i, comp in enumerate(out):
        if comp[0] == ">=" and comp[1] is not None and comp[1][0] == 0:  # maybe >=0.0.0
            out[i] = _drop_gte0(comp, incpr)
    return out


def _read(text: str) -> Token | None:
    m = _TOKEN.fullmatch(text)
    if m is not None:
        op, major, minor, patch = m.groups()
        return op or "", major, minor, patch, ()
    m = _PRE_TOKEN.fullmatch(text)
    if m is None:
        return None
    pre = tuple(
        int(i) if i.isdigit() and int(i) < _MAX_SAFE_INTEGER else i for i in m.group(5).split(".")
    )
    return m.group(1) or "", m.group(2), m.group(3), m.group(4), pre


def _dedupe(comparators: list[ComparatorParts]) -> list[ComparatorParts]:
    """``_parse.dedupe`` keyed by the comparator itself instead of its formatted text
    (the same thing here: no build metadata, prereleases read the port's way)."""
    unique: dict[ComparatorParts, ComparatorParts] = {}
    for comp in comparators:
        if comp == _NULL:
            return [comp]
        unique[comp] = comp
    if len(unique) > 1:
        unique.pop(_ANY, None)
    return list(unique.values())


def _x(part: str | None) -> bool:
    return part is None or part in ("x", "X", "*")


def _v(major: int, minor: int, patch: int, low: bool = False) -> VersionParts:
    return major, minor, patch, _LOW if low else _NONE, ()


def _drop_gte0(comp: ComparatorParts, incpr: bool) -> ComparatorParts:
    """range.js drops ``>=0.0.0`` (``>=0.0.0-0`` with includePrerelease): any version."""
    version = comp[1]
    zero = version is not None and version[:4] == (0, 0, 0, _LOW if incpr else _NONE)
    return _ANY if comp[0] == ">=" and zero else comp


def _caret_or_tilde(
    major: str,
    minor: str | None,
    patch: str | None,
    pre: tuple[int | str, ...],
    incpr: bool,
    caret: bool,
) -> list[ComparatorParts] | None:
    if _x(major):
        return [_ANY]  # whatever follows, as range.js reads it
    a = int(major)
    if _x(minor):
        if patch is not None and not _x(patch):
            return None  # 1.x.2: the port decides (it rejects it)
        return [(">=", _v(a, 0, 0, incpr)), ("<", _v(a + 1, 0, 0, True))]
    b = int(minor)  # type: ignore[arg-type]
    if _x(patch):
        if caret and a != 0:
            return [(">=", _v(a, b, 0, incpr)), ("<", _v(a + 1, 0, 0, True))]
        return [(">=", _v(a, b, 0, incpr)), ("<", _v(a, b + 1, 0, True))]
    c = int(patch)  # type: ignore[arg-type]
    low: ComparatorParts = (">=", (a, b, c, pre, ()))
    if not caret:
        return [low, ("<", _v(a, b + 1, 0, True))]
    if a == 0:
        if b == 0:
            return [low, ("<", _v(a, b, c + 1, True))]
        return [low, ("<", _v(a, b + 1, 0, True))]
    return [low, ("<", _v(a + 1, 0, 0, True))]


def _xrange(
    op: str, major: str, minor: str | None, patch: str | None, incpr: bool
) -> list[ComparatorParts] | None:
    x_major = _x(major)
    if (x_major and not _x(minor)) or (_x(minor) and patch is not None and not _x(patch)):
        return None  # invalidXRangeOrder: the port rejects it, with its message
    x_minor = x_major or _x(minor)
    any_x = x_minor or _x(patch)
    if op == "=" and any_x:
        op = ""
    if x_major:
        return [_NULL] if op in (">", "<") else [_ANY]
    a = int(major)
    if op and any_x:
        b = 0 if x_minor else int(minor)  # type: ignore[arg-type]
        low = incpr
        if op == ">":
            op = ">="
            a, b = (a + 1, 0) if x_minor else (a, b + 1)
        elif op == "<=":
            op = "<"
            a, b = (a + 1, b) if x_minor else (a, b + 1)
        if op == "<":
            low = True
        return [(op, _v(a, b, 0, low))]
    if x_minor:
        return [(">=", _v(a, 0, 0, incpr)), ("<", _v(a + 1, 0, 0, True))]
    b = int(minor)  # type: ignore[arg-type]
    if any_x:
        return [(">=", _v(a, b, 0, incpr)), ("<", _v(a, b + 1, 0, True))]
    return [("" if op == "=" else op, _v(a, b, int(patch)))]  # type: ignore[arg-type]


def _hyphen(first: str, last: str, incpr: bool) -> list[ComparatorParts] | None:
    f, t = _read(first), _read(last)
    if f is None or t is None or f[0] or t[0]:
        return None
    out: list[ComparatorParts] = []
    _, f_major, f_minor, f_patch, f_pre = f
    if not _x(f_major):
        a = int(f_major)
        if _x(f_minor):
            out.append((">=", _v(a, 0, 0, incpr)))
        elif _x(f_patch):
            out.append((">=", _v(a, int(f_minor), 0, incpr)))  # type: ignore[arg-type]
        elif f_pre:
            out.append((">=", (a, int(f_minor), int(f_patch), f_pre, ())))  # type: ignore[arg-type]
        else:
            out.append((">=", _v(a, int(f_minor), int(f_patch), incpr)))  # type: ignore[arg-type]
    _, t_major, t_minor, t_patch, t_pre = t
    if not _x(t_major):
        a = int(t_major)
        if _x(t_minor):
            out.append(("<", _v(a + 1, 0, 0, True)))
        elif _x(t_patch):
            out.append(("<", _v(a, int(t_minor) + 1, 0, True)))  # type: ignore[arg-type]
        elif t_pre:
            out.append(("<=", (a, int(t_minor), int(t_patch), t_pre, ())))  # type: ignore[arg-type]
        elif incpr:
            out.append(("<", _v(a, int(t_minor), int(t_patch) + 1, True)))  # type: ignore[arg-type]
        else:
            out.append(("<=", _v(a, int(t_minor), int(t_patch))))  # type: ignore[arg-type]
    return [_drop_gte0(c, incpr) for c in out] or [_ANY]


# --- straight to compiled tests ---------------------------------------------------------
# ``satisfies`` on a range seen the first time needs only the compiled tests, not the
# comparator parts: the same shapes and the same desugaring rules as above, folded into
# ``(lo, hi, triples)`` bounds token by token (what ``compile_set`` makes of the parts),
# about half the cost of ``range_sets`` plus ``compile_set``.

#: One token's (or set's) bounds before the set is frozen: lo, hi, prerelease triples.
Bounds = tuple[Key, Key, tuple[Key, ...]]

# A number, or None for an x (``x``, ``X``, ``*``) or a missing part: range.js treats
# both alike, except that a number may not follow either.
_NUMBER_OR_X = rf"(?:({_NUMBER})|[xX*])"
_RANGE_TOKEN = re.compile(
    rf"{_OP}{_NUMBER_OR_X}(?:\.{_NUMBER_OR_X}(?:\.{_NUMBER_OR_X}"
    rf"(?:-((?:{_PRE_ID})(?:\.(?:{_PRE_ID}))*))?)?)?"
)
_LOW_ID: Key = (0, 0)  # the key of the "-0" prerelease identifier
_ZERO_LOW: Key = (0, 0, 0, 0, _LOW_ID)  # 0.0.0-0, the lowest version: "<" it is the null set
_ZERO: Key = (0, 0, 0, 1)  # 0.0.0
_ANY_BOUNDS: Bounds = (MIN_KEY, MAX_KEY, ())
_NULL_BOUNDS: Bounds = (MIN_KEY, _ZERO_LOW, ((0, 0, 0),))  # <0.0.0-0
_NULL_TEST: Test = (MIN_KEY, _ZERO_LOW, frozenset({(0, 0, 0)}))


def range_tests(text: str, incpr: bool) -> tuple[Test, ...] | None:
    """What ``Range`` compiles from ``range_sets(text, incpr)``, without building the
    comparators, or None (then ask ``range_sets``/``_parse``)."""
    if not text or len(text) > _MAX_TEXT or text[0] == " " or text[-1] == " " or "  " in text:
        return None
    if "||" not in text:
        if " " not in text:  # one comparator, most ranges: straight to its bounds
            bounds = _token(text, incpr)
            if bounds is None:
                return None
            lo, hi, triples = bounds
            return ((lo, hi, frozenset(triples)),) if lo < hi else ()
        test = _set_test(text, incpr)
        if test is None:
            return None
        return (test,) if test[0] < test[1] else ()
    tests = []
    for part in text.split("||"):
        part = part.strip(" ")
        test = _set_test(part, incpr) if part else None
        if test is None:
            return None
        tests.append(test)
    return _choose(tests)


def _choose(tests: list[Test]) -> tuple[Test, ...]:
    """``choose_sets`` on compiled sets: null sets go when others are left, and a set that
    admits any version stands alone (its prerelease rule then applies to all)."""
    kept = []
    others = False  # a set other than null ones
    for test in tests:
        lo, hi, _ = test
        if hi == _ZERO_LOW:
            continue
        if not lo and hi == MAX_KEY:
            return (test,)
        others = True
        if lo < hi:
            kept.append(test)
    return tuple(kept) if others else (tests[0],)  # all null: node keeps the first


def _set_test(part: str, incpr: bool) -> Test | None:
    """One comparator set: its tokens' bounds intersected. A null comparator makes the
    whole set null (``dedupe``), which only it can: no other bound reaches 0.0.0-0."""
    tokens = part.split(" ")
    if len(tokens) == 1:
        bounds = _token(tokens[0], incpr)
        return None if bounds is None else (bounds[0], bounds[1], frozenset(bounds[2]))
    if len(tokens) == 3 and tokens[1] == "-":
        bounds = _hyphen_bounds(tokens[0], tokens[2], incpr)
        return None if bounds is None else (bounds[0], bounds[1], frozenset(bounds[2]))
    lo, hi = MIN_KEY, MAX_KEY
    allowed: tuple[Key, ...] = ()
    for token in tokens:
        bounds = _token(token, incpr)
        if bounds is None:
            return None
        if bounds[0] > lo:
            lo = bounds[0]
        if bounds[1] < hi:
            hi = bounds[1]
        allowed += bounds[2]
    return _NULL_TEST if hi == _ZERO_LOW else (lo, hi, frozenset(allowed))


def _token(text: str, incpr: bool) -> Bounds | None:
    """The bounds of one comparator as written (``^1.2.3``, ``>=1.2``, ``1.x``...)."""
    m = _RANGE_TOKEN.fullmatch(text)
    if m is None:
        return None
    op, major, minor, patch, pre = m.groups()
    if op == "^":
        return _caret_tilde_bounds(major, minor, patch, pre, incpr, True)
    if op == "~" or op == "~>":
        return _caret_tilde_bounds(major, minor, patch, pre, incpr, False)
    if pre is None:
        return _xrange_bounds(op, major, minor, patch, incpr)
    if major is None or minor is None or patch is None:
        return None  # 1.x.x-beta: the port decides
    a, b, c = int(major), int(minor), int(patch)
    return _compare_bounds(op, _pre_key(a, b, c, pre), ((a, b, c),), incpr)


def _pre_key(a: int, b: int, c: int, pre: str) -> Key:
    """The key of ``a.b.c-pre``, identifiers read as the port reads them (``key_of``)."""
    key: list[Any] = [a, b, c, 0]
    for ident in pre.split("."):
        if ident.isdigit():  # ASCII digits, by the token's pattern
            number = int(ident)
            key.append((0, number) if number < _MAX_SAFE_INTEGER else ident_key(ident))
        else:
            key.append((1, ident))
    return tuple(key)


def _compare_bounds(op: str | None, key: Key, triples: tuple[Key, ...], incpr: bool) -> Bounds:
    """A primitive comparator on a full version; range.js drops ``>=0.0.0`` (``>=0.0.0-0``
    with includePrerelease), which then admits any version."""
    if op == ">=":
        if key == (_ZERO_LOW if incpr else _ZERO):
            return _ANY_BOUNDS
        return key, MAX_KEY, triples
    if op == ">":
        return key + NEXT, MAX_KEY, triples
    if op == "<":
        return MIN_KEY, key, triples
    if op == "<=":
        return MIN_KEY, key + NEXT, triples
    return key, key + NEXT, triples  # "" or "=": exactly this version


def _at_least(a: int, b: int, c: int, incpr: bool) -> tuple[Key, tuple[Key, ...]]:
    """A desugared lower bound ``>=a.b.c`` (``-0`` with includePrerelease): the key and
    its prerelease triples; at 0.0.0 range.js drops it."""
    if not (a or b or c):
        return MIN_KEY, ()
    if incpr:
        return (a, b, c, 0, _LOW_ID), ((a, b, c),)
    return (a, b, c, 1), ()


def _under(a: int, b: int, c: int) -> tuple[Key, tuple[Key, ...]]:
    """A desugared upper bound ``<a.b.c-0`` (below every version of the triple): the key
    and its prerelease triple."""
    return (a, b, c, 0, _LOW_ID), ((a, b, c),)


def _between(low: tuple[int, int, int], top: tuple[int, int, int], incpr: bool) -> Bounds:
    """``>=low <top-0``, how ^, ~ and x-ranges desugar (the lower end as ``_at_least``,
    written out: this is the commonest path)."""
    hi = (*top, 0, _LOW_ID)
    if not (low[0] or low[1] or low[2]):
        return MIN_KEY, hi, (top,)  # >=0.0.0 (-0) dropped
    if incpr:
        return (*low, 0, _LOW_ID), hi, (low, top)
    return (*low, 1), hi, (top,)


def _caret_tilde_bounds(
    major: str | None,
    minor: str | None,
    patch: str | None,
    pre: str | None,
    incpr: bool,
    caret: bool,
) -> Bounds | None:
    """``_caret_or_tilde`` as bounds (a None part is an x or missing)."""
    if major is None:
        return None if pre is not None else _ANY_BOUNDS  # ^x.x.x-beta: the port decides
    a = int(major)
    if minor is None:
        if patch is not None or pre is not None:
            return None  # 1.x.2, 1.x.x-beta: the port decides (it rejects 1.x.2)
        return _between((a, 0, 0), (a + 1, 0, 0), incpr)
    b = int(minor)
    if patch is None:
        if pre is not None:
            return None  # 1.2.x-beta: the port decides
        return _between((a, b, 0), (a + 1, 0, 0) if caret and a else (a, b + 1, 0), incpr)
    c = int(patch)
    if caret and a:
        top = (a + 1, 0, 0)
    elif caret and not b:
        top = (a, b, c + 1)  # ^0.0.3 is exactly 0.0.3's patch
    else:
        top = (a, b + 1, 0)  # ~ always, ^0.2.3
    hi = (*top, 0, _LOW_ID)
    if pre is None:
        if a or b or c or incpr:
            return (a, b, c, 1), hi, (top,)
        return MIN_KEY, hi, (top,)  # >=0.0.0 dropped
    lo = _pre_key(a, b, c, pre)
    if incpr and lo == _ZERO_LOW:
        return MIN_KEY, hi, (top,)  # >=0.0.0-0 dropped
    return lo, hi, ((a, b, c), top)


def _xrange_bounds(
    op: str | None, major: str | None, minor: str | None, patch: str | None, incpr: bool
) -> Bounds | None:
    """``_xrange`` as bounds (a None part is an x or missing). An operator on a partial
    version covering ``[low, top)``: ``>1.2`` is ``>=1.3.0``, ``<=1.2`` is ``<1.3.0-0``,
    ``<1.2`` is ``<1.2.0-0``, ``1.2`` is both ends."""
    if major is None:
        if minor is not None or patch is not None:
            return None  # invalidXRangeOrder: the port rejects it, with its message
        return _NULL_BOUNDS if op == ">" or op == "<" else _ANY_BOUNDS
    a = int(major)
    if minor is None:
        if patch is not None:
            return None  # invalidXRangeOrder, as above
        low, top = (a, 0, 0), (a + 1, 0, 0)
    elif patch is None:
        b = int(minor)
        low, top = (a, b, 0), (a, b + 1, 0)
    else:
        return _compare_bounds(op, (a, int(minor), int(patch), 1), (), incpr)
    if op is None or op == "=":
        return _between(low, top, incpr)
    if op == "<" or op == "<=":
        end = low if op == "<" else top
        return MIN_KEY, (*end, 0, _LOW_ID), (end,)  # at 0.0.0: the null set
    lo, triples = _at_least(*(top if op == ">" else low), incpr)
    return lo, MAX_KEY, triples


def _hyphen_bounds(first: str, last: str, incpr: bool) -> Bounds | None:
    """``_hyphen`` as bounds: ``A - B`` with plain or partial versions, no operators."""
    f, t = _RANGE_TOKEN.fullmatch(first), _RANGE_TOKEN.fullmatch(last)
    if f is None or t is None:
        return None
    f_op, f_major, f_minor, f_patch, f_pre = f.groups()
    t_op, t_major, t_minor, t_patch, t_pre = t.groups()
    if f_op or t_op:
        return None
    lo, allowed = _hyphen_low(f_major, f_minor, f_patch, f_pre, incpr)
    hi, more = _hyphen_high(t_major, t_minor, t_patch, t_pre, incpr)
    if lo is None or hi is None:
        return None
    return lo, hi, allowed + more


def _hyphen_low(
    major: str | None, minor: str | None, patch: str | None, pre: str | None, incpr: bool
) -> tuple[Key | None, tuple[Key, ...]]:
    """The lower end of ``A - B`` (None key: the port decides). An x ends the version,
    whatever follows it, as in ``hyphenReplace``."""
    if pre is not None and (major is None or minor is None or patch is None):
        return None, ()
    if major is None:
        return MIN_KEY, ()
    a = int(major)
    if minor is None:
        return _at_least(a, 0, 0, incpr)
    b = int(minor)
    if patch is None:
        return _at_least(a, b, 0, incpr)
    c = int(patch)
    if pre is None:
        return _at_least(a, b, c, incpr)
    key = _pre_key(a, b, c, pre)
    return (MIN_KEY, ()) if incpr and key == _ZERO_LOW else (key, ((a, b, c),))


def _hyphen_high(
    major: str | None, minor: str | None, patch: str | None, pre: str | None, incpr: bool
) -> tuple[Key | None, tuple[Key, ...]]:
    """The upper end of ``A - B`` (None key: the port decides)."""
    if pre is not None and (major is None or minor is None or patch is None):
        return None, ()
    if major is None:
        return MAX_KEY, ()
    a = int(major)
    if minor is None:
        return _under(a + 1, 0, 0)
    b = int(minor)
    if patch is None:
        return _under(a, b + 1, 0)
    c = int(patch)
    if pre is not None:
        return _pre_key(a, b, c, pre) + NEXT, ((a, b, c),)
    if incpr:
        return _under(a, b, c + 1)
    return (a, b, c, 1, ()), ()
