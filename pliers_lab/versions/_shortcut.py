"""The common shapes of versions and ranges, read without the port's string rewriting.

``_parse`` reproduces node-semver's pipeline pass by pass, which is the only way to agree
on every odd input, and costs tens of microseconds for a range seen the first time. Almost
every range a manifest names is simpler: ``^1.2.3``, ``~1.2``, ``1.x``, ``>=1.2.3 <2``,
``1.2 - 2.3.4``, ``>=1.2.3-beta.1``, alternatives joined by ``||``: plain numbers, a
prerelease only after a full version, no build metadata, ``v`` or spaces inside a
comparator. Those are desugared here directly into the
comparators the port would produce, by the same rules (``range.js``: ``replaceCaret``,
``replaceTilde``, ``replaceXRange``, ``hyphenReplace``, the ``>=0.0.0`` drop); anything
else returns ``None`` and goes through the port, which also owns every error message.
``tests/versions/test_shortcut.py`` checks both give the same answer on every input of
these shapes, and on the near misses that must fall through.
"""

from __future__ import annotations

import re

from ._parse import ComparatorParts, VersionParts, choose_sets

__all__ = ["range_sets", "version_parts"]

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


def version_parts(text: str) -> VersionParts | None:
    """``MAJOR.MINOR.PATCH`` in plain digits, or None (then ask ``_parse``)."""
    m = _VERSION.fullmatch(text)
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), (), ()


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
