"""A line-by-line port of node-semver 7.8's non-loose parser (``internal/re.js``,
``classes/semver.js``, ``classes/range.js``, ``internal/trim-comparator-whitespace.js``).

Why a literal port instead of a grammar of our own: npm's range syntax is defined by what
this string-rewriting pipeline accepts (``=1.2.3 - 2`` is invalid while ``v1.2.3 - 2`` is
fine, ``**`` is invalid while ``*`` is not, ``~0.0`` loses its lower bound with
``includePrerelease``...). Reproducing each pass, with node's "safe" bounded regexes and
JavaScript's notion of whitespace, is the only way to agree on every input. This runs once
per distinct string; :mod:`pliers_lab.versions` caches the result and compiles it to keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable

MAX_LENGTH = 256
MAX_SAFE_INTEGER = 2**53 - 1
MAX_SAFE_BUILD_LENGTH = MAX_LENGTH - 6

# ECMAScript's \s and String.prototype.trim (WhiteSpace + LineTerminator); Python's \s and
# str.strip() differ (they include \x1c-\x1f and \x85, and miss \ufeff).
JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)

#: (major, minor, patch, prerelease identifiers, build identifiers)
VersionParts = tuple[int, int, int, tuple[int | str, ...], tuple[str, ...]]
#: (operator, version or None for "any") — operator is one of "", "<", "<=", ">", ">="
ComparatorParts = tuple[str, VersionParts | None]


class SemverSyntaxError(Exception):
    """Why node-semver would throw; :mod:`pliers_lab.versions` adds the input's name."""


def js_trim(text: str) -> str:
    """``String.prototype.trim``."""
    return text.strip(JS_WHITESPACE)


def _utf16_length(text: str) -> int:
    """``String.prototype.length``: astral characters count twice, as in JavaScript."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF) if len(text) > 128 else len(text)


# --- internal/re.js (strict tokens only) ------------------------------------------------

_LDN = "[a-zA-Z0-9-]"
_SRC: dict[str, str] = {}


def _tok(name: str, value: str) -> str:
    _SRC[name] = value
    return value


_tok("NUMERICIDENTIFIER", r"0|[1-9]\d*")
_tok("NONNUMERICIDENTIFIER", rf"\d*[a-zA-Z-]{_LDN}*")
_tok("MAINVERSION", r"({0})\.({0})\.({0})".format(_SRC["NUMERICIDENTIFIER"]))
_tok("PRERELEASEIDENTIFIER", f"(?:{_SRC['NONNUMERICIDENTIFIER']}|{_SRC['NUMERICIDENTIFIER']})")
_tok("PRERELEASE", r"(?:-({0}(?:\.{0})*))".format(_SRC["PRERELEASEIDENTIFIER"]))
_tok("BUILDIDENTIFIER", f"{_LDN}+")
_tok("BUILD", r"(?:\+({0}(?:\.{0})*))".format(_SRC["BUILDIDENTIFIER"]))
_tok("FULLPLAIN", f"v?{_SRC['MAINVERSION']}{_SRC['PRERELEASE']}?{_SRC['BUILD']}?")
_tok("FULL", f"^{_SRC['FULLPLAIN']}$")
_tok("GTLT", "((?:<|>)?=?)")
_tok("XRANGEIDENTIFIER", rf"{_SRC['NUMERICIDENTIFIER']}|x|X|\*")
_tok(
    "XRANGEPLAIN",
    r"[v=\s]*({0})(?:\.({0})(?:\.({0})(?:{1})?{2}?)?)?".format(
        _SRC["XRANGEIDENTIFIER"], _SRC["PRERELEASE"], _SRC["BUILD"]
    ),
)
_tok("XRANGE", rf"^{_SRC['GTLT']}\s*{_SRC['XRANGEPLAIN']}$")
_tok("LONETILDE", "(?:~>?)")
_tok("TILDETRIM", rf"(\s*){_SRC['LONETILDE']}\s+")
_tok("TILDE", f"^{_SRC['LONETILDE']}{_SRC['XRANGEPLAIN']}$")
_tok("LONECARET", r"(?:\^)")
_tok("CARETTRIM", rf"(\s*){_SRC['LONECARET']}\s+")
_tok("CARET", f"^{_SRC['LONECARET']}{_SRC['XRANGEPLAIN']}$")
_tok("COMPARATOR", rf"^{_SRC['GTLT']}\s*({_SRC['FULLPLAIN']})$|^$")
_tok("HYPHENRANGE", r"^\s*({0})\s+-\s+({0})\s*$".format(_SRC["XRANGEPLAIN"]))
_tok("STAR", r"(<|>)?=?\s*\*")
_tok("GTE0", r"^\s*>=\s*0\.0\.0\s*$")
_tok("GTE0PRE", r"^\s*>=\s*0\.0\.0-0\s*$")

_SAFE_REPLACEMENTS = ((r"\s", 1), (r"\d", MAX_LENGTH), (_LDN, MAX_SAFE_BUILD_LENGTH))


def _js_regex(source: str, *, safe: bool = True) -> re.Pattern[str]:
    """Compile a re.js source as node does (``makeSafeRegex``), in Python's dialect."""
    if safe:
        for token, limit in _SAFE_REPLACEMENTS:
            source = source.replace(token + "*", f"{token}{{0,{limit}}}")
            source = source.replace(token + "+", f"{token}{{1,{limit}}}")
    source = source.replace(r"[v=\s]", f"[v={JS_WHITESPACE}]").replace(r"\s", f"[{JS_WHITESPACE}]")
    # JavaScript's $ (no multiline) only matches at the very end; Python's also before "\n".
    return re.compile(source.replace(r"\d", "[0-9]").replace("$", r"\Z"))


_RE = {name: _js_regex(src) for name, src in _SRC.items()}
_FULL = _RE["FULL"]
_COMPARATOR = _RE["COMPARATOR"]
_BUILD_STRIP = _js_regex(_SRC["BUILD"], safe=False)  # range.js' unbounded BUILDSTRIPRE
_SPACES = re.compile(f"[{JS_WHITESPACE}]+")
_NUMERIC = re.compile("[0-9]+")


# --- classes/semver.js ------------------------------------------------------------------


def parse_version_parts(text: str) -> VersionParts:
    """``new SemVer(text)`` without ``loose``; raises :class:`SemverSyntaxError`."""
    if _utf16_length(text) > MAX_LENGTH:
        raise SemverSyntaxError(f"longer than {MAX_LENGTH} characters")
    m = _FULL.search(js_trim(text))
    if m is None:
        raise SemverSyntaxError("expected MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]")
    numbers = []
    for name, digits in zip(("major", "minor", "patch"), m.group(1, 2, 3), strict=True):
        value = int(digits)
        if value > MAX_SAFE_INTEGER:
            raise SemverSyntaxError(f"{name} version {digits} is larger than 2**53-1")
        numbers.append(value)
    prerelease: tuple[int | str, ...] = ()
    if m.group(4):
        # node turns numeric identifiers into numbers, except those >= MAX_SAFE_INTEGER
        prerelease = tuple(
            int(i) if _NUMERIC.fullmatch(i) and int(i) < MAX_SAFE_INTEGER else i
            for i in m.group(4).split(".")
        )
    build = tuple(m.group(5).split(".")) if m.group(5) else ()
    return numbers[0], numbers[1], numbers[2], prerelease, build


def format_version(parts: VersionParts) -> str:
    """``SemVer.format()``: the normalized text, without build metadata."""
    text = f"{parts[0]}.{parts[1]}.{parts[2]}"
    if parts[3]:
        text += "-" + ".".join(str(i) for i in parts[3])
    return text


# --- classes/range.js -------------------------------------------------------------------


def _is_x(ident: str | None) -> bool:
    return not ident or ident.lower() == "x" or ident == "*"


def _inc(number: str) -> str:
    """``${+n + 1}``; beyond 2**53 node prints garbage that later fails validation anyway."""
    return str(int(number) + 1)


def _hyphen_replace(incpr: bool) -> Callable[[re.Match[str]], str]:
    z = "-0" if incpr else ""

    def replace(m: re.Match[str]) -> str:
        frm, f_maj, f_min, f_pat, f_pre = m.group(1, 2, 3, 4, 5)
        to, t_maj, t_min, t_pat, t_pre = m.group(7, 8, 9, 10, 11)
        if _is_x(f_maj):
            frm = ""
        elif _is_x(f_min):
            frm = f">={f_maj}.0.0{z}"
        elif _is_x(f_pat):
            frm = f">={f_maj}.{f_min}.0{z}"
        elif f_pre:
            frm = f">={frm}"
        else:
            frm = f">={frm}{z}"
        if _is_x(t_maj):
            to = ""
        elif _is_x(t_min):
            to = f"<{_inc(t_maj)}.0.0-0"
        elif _is_x(t_pat):
            to = f"<{t_maj}.{_inc(t_min)}.0-0"
        elif t_pre:
            to = f"<={t_maj}.{t_min}.{t_pat}-{t_pre}"
        elif incpr:
            to = f"<{t_maj}.{t_min}.{_inc(t_pat)}-0"
        else:
            to = f"<={to}"
        return js_trim(f"{frm} {to}")

    return replace


def _replace_caret_or_tilde(comp: str, incpr: bool, caret: bool) -> str:
    z = "-0" if incpr else ""

    def replace(m: re.Match[str]) -> str:
        maj, mnr, pat, pre = m.group(1, 2, 3, 4)
        if _is_x(maj):
            return ""
        if _is_x(mnr):
            return f">={maj}.0.0{z} <{_inc(maj)}.0.0-0"
        low = f"{maj}.{mnr}.{pat}-{pre}" if pre else f"{maj}.{mnr}.{pat}"
        if not caret:  # ~1.2 / ~1.2.3: patch-level changes
            if _is_x(pat):
                return f">={maj}.{mnr}.0{z} <{maj}.{_inc(mnr)}.0-0"
            return f">={low} <{maj}.{_inc(mnr)}.0-0"
        if _is_x(pat):
            if maj == "0":
                return f">={maj}.{mnr}.0{z} <{maj}.{_inc(mnr)}.0-0"
            return f">={maj}.{mnr}.0{z} <{_inc(maj)}.0.0-0"
        if maj == "0":
            if mnr == "0":
                return f">={low} <{maj}.{mnr}.{_inc(pat)}-0"
            return f">={low} <{maj}.{_inc(mnr)}.0-0"
        return f">={low} <{_inc(maj)}.0.0-0"

    pattern = _RE["CARET"] if caret else _RE["TILDE"]
    return " ".join(pattern.sub(replace, c, count=1) for c in _SPACES.split(js_trim(comp)))


def _replace_xrange(comp: str, incpr: bool) -> str:
    comp = js_trim(comp)

    def replace(m: re.Match[str]) -> str:
        gtlt, maj, mnr, pat = m.group(1, 2, 3, 4)
        if (_is_x(maj) and not _is_x(mnr)) or (_is_x(mnr) and pat and not _is_x(pat)):
            return comp  # invalidXRangeOrder: left for the comparator parser to reject
        x_maj = _is_x(maj)
        x_min = x_maj or _is_x(mnr)
        any_x = x_min or _is_x(pat)
        if gtlt == "=" and any_x:
            gtlt = ""
        pr = "-0" if incpr else ""
        if x_maj:
            return "<0.0.0-0" if gtlt in (">", "<") else "*"
        if gtlt and any_x:
            if x_min:
                mnr = "0"
            pat = "0"
            if gtlt == ">":  # >1 => >=2.0.0, >1.2 => >=1.3.0
                gtlt = ">="
                if x_min:
                    maj, mnr = _inc(maj), "0"
                else:
                    mnr = _inc(mnr)
            elif gtlt == "<=":  # <=0.7.x is <0.8.0-0
                gtlt = "<"
                if x_min:
                    maj = _inc(maj)
                else:
                    mnr = _inc(mnr)
            if gtlt == "<":
                pr = "-0"
            return f"{gtlt}{maj}.{mnr}.{pat}{pr}"
        if x_min:
            return f">={maj}.0.0{pr} <{_inc(maj)}.0.0-0"
        if any_x:
            return f">={maj}.{mnr}.0{pr} <{maj}.{_inc(mnr)}.0-0"
        return m.group(0)

    return _RE["XRANGE"].sub(replace, comp, count=1)


def _parse_comparator_text(comp: str, incpr: bool) -> str:
    """``parseComparator``: desugar one token into primitive comparators."""
    comp = _RE["BUILD"].sub("", comp, count=1)
    comp = _replace_caret_or_tilde(comp, incpr, caret=True)
    comp = _replace_caret_or_tilde(comp, incpr, caret=False)
    comp = " ".join(_replace_xrange(c, incpr) for c in _SPACES.split(comp))
    return _RE["STAR"].sub("", js_trim(comp), count=1)


def _comparator(comp: str) -> ComparatorParts:
    """``new Comparator(comp)``."""
    m = _COMPARATOR.search(" ".join(_SPACES.split(js_trim(comp))))
    if m is None:
        raise SemverSyntaxError(
            f"cannot read comparator {comp!r} (expected <, <=, >, >= or = and a full "
            "MAJOR.MINOR.PATCH, ^ or ~ with a version or partial, an x-range like 1.x, "
            "or a hyphen range A - B)"
        )
    operator = m.group(1) or ""
    if not m.group(2):
        return ("" if operator == "=" else operator), None
    try:
        parts = parse_version_parts(m.group(2))
    except SemverSyntaxError as exc:
        raise SemverSyntaxError(f"comparator {comp!r}: {exc}") from None
    return ("" if operator == "=" else operator), parts


def comparator_value(comp: ComparatorParts) -> str:
    """``Comparator.value``: operator plus normalized version, "" for any."""
    return "" if comp[1] is None else comp[0] + format_version(comp[1])


_NULL_SET = "<0.0.0-0"


def _parse_set(text: str, incpr: bool) -> list[ComparatorParts]:
    """``Range.parseRange``: one ``||`` alternative into deduplicated comparators."""
    text = _BUILD_STRIP.sub("", text)
    text = _RE["HYPHENRANGE"].sub(_hyphen_replace(incpr), text, count=1)
    text = trim_comparator_whitespace(text)
    text = _RE["TILDETRIM"].sub(r"\1~", text)
    text = _RE["CARETTRIM"].sub(r"\1^", text)
    joined = " ".join(_parse_comparator_text(c, incpr) for c in text.split(" "))
    gte0 = _RE["GTE0PRE"] if incpr else _RE["GTE0"]
    comparators = [_comparator(gte0.sub("", js_trim(c), count=1)) for c in _SPACES.split(joined)]
    return dedupe(comparators)


def dedupe(comparators: list[ComparatorParts]) -> list[ComparatorParts]:
    """The end of ``parseRange``: a null set wins alone, equal comparators count once, and
    "any" goes when anything else is left."""
    unique: dict[str, ComparatorParts] = {}
    for comp in comparators:
        value = comparator_value(comp)
        if value == _NULL_SET:
            return [comp]
        unique[value] = comp
    if len(unique) > 1:
        unique.pop("", None)
    return list(unique.values())


def parse_range_sets(text: str, incpr: bool) -> tuple[str, list[list[ComparatorParts]]]:
    """``new Range(text)``: the cleaned raw text and the comparator sets (ORed)."""
    raw = _SPACES.sub(" ", js_trim(text))
    sets = [s for s in (_parse_set(js_trim(part), incpr) for part in raw.split("||")) if s]
    return raw, choose_sets(sets)


def choose_sets(sets: list[list[ComparatorParts]]) -> list[list[ComparatorParts]]:
    """The end of ``new Range``: null sets go when others are left, and a set that admits
    any version stands alone."""
    if not sets:  # unreachable in strict mode (every alternative keeps a comparator)
        raise SemverSyntaxError("no comparator sets")
    if len(sets) > 1:
        first = sets[0]
        sets = [s for s in sets if comparator_value(s[0]) != _NULL_SET] or [first]
        if len(sets) > 1:
            for s in sets:
                if len(s) == 1 and s[0][1] is None:
                    sets = [s]
                    break
    return sets


# --- internal/trim-comparator-whitespace.js ---------------------------------------------
# Joins an operator to its version ("> 1.2.3" -> ">1.2.3") with the exact boundaries of
# node's former COMPARATORTRIM regex. Out-of-range reads return "" (node's undefined).


def _at(s: str, i: int) -> str:
    return s[i] if i < len(s) else ""


def _digit(ch: str) -> bool:
    return "0" <= ch <= "9" and ch != ""


def _letter(ch: str) -> bool:
    return ch != "" and ("a" <= ch <= "z" or "A" <= ch <= "Z")


def _ident_char(ch: str) -> bool:
    return _digit(ch) or _letter(ch) or ch == "-"


def _prefix_char(ch: str) -> bool:
    return ch != "" and (ch in "v=" or ch in JS_WHITESPACE)


def _version_start(ch: str) -> bool:
    return _digit(ch) or (ch != "" and ch in "xX*")


def _digits_end(s: str, start: int, limit: int) -> int:
    if not _digit(_at(s, start)):
        return start
    end = start + 1
    while _digit(_at(s, end)):
        end += 1
    return min(start + limit, end)


def _number_end(s: str, start: int, loose: bool) -> int:
    if not loose and _at(s, start) == "0":
        return start + 1
    return _digits_end(s, start, MAX_LENGTH if loose else MAX_LENGTH + 1)


def _pre_ident_end(s: str, start: int, loose: bool) -> int:
    digits_end = _digits_end(s, start, MAX_LENGTH)
    if _letter(_at(s, digits_end)) or _at(s, digits_end) == "-":
        end = digits_end + 1
        limit = end + MAX_SAFE_BUILD_LENGTH
        while end < limit and _ident_char(_at(s, end)):
            end += 1
        return end
    return _number_end(s, start, loose)


def _dotted_end(s: str, end: int, ident_end: Callable[[int], int]) -> int:
    while _at(s, end) == ".":
        nxt = ident_end(end + 1)
        if nxt == end + 1:
            break
        end = nxt
    return end


def _prerelease_end(s: str, start: int, loose: bool) -> int:
    hyphen = _at(s, start) == "-"
    if not loose and not hyphen:
        return start
    ident_start = start + (1 if hyphen else 0)
    end = _pre_ident_end(s, ident_start, loose)
    if end == ident_start:
        if not loose or not hyphen:
            return start
        end = _pre_ident_end(s, start, loose)
    return _dotted_end(s, end, lambda i: _pre_ident_end(s, i, loose))


def _build_ident_end(s: str, start: int) -> int:
    end = start
    while end - start < MAX_SAFE_BUILD_LENGTH and _ident_char(_at(s, end)):
        end += 1
    return end


def _build_end(s: str, start: int) -> int:
    if _at(s, start) != "+":
        return start
    end = _build_ident_end(s, start + 1)
    if end == start + 1:
        return start
    return _dotted_end(s, end, lambda i: _build_ident_end(s, i))


def _loose_full_end(s: str, start: int) -> int:
    end = start
    for component in range(3):
        nxt = _number_end(s, end, True)
        if nxt == end:
            return start
        end = nxt
        if component < 2:
            if _at(s, end) != ".":
                return start
            end += 1
    return _build_end(s, _prerelease_end(s, end, True))


def _partial_component_end(s: str, start: int) -> int:
    ch = _at(s, start)
    if _digit(ch):
        return _number_end(s, start, False)
    return start + 1 if _version_start(ch) else start


def _partial_end(s: str, start: int) -> int:
    end = _partial_component_end(s, start)
    for _ in range(2):
        if _at(s, end) != ".":
            return end
        nxt = _partial_component_end(s, end + 1)
        if nxt == end + 1:
            return end
        end = nxt
    return _build_end(s, _prerelease_end(s, end, False))


def _removable_whitespace(s: str, match_start: int) -> int:
    pos = match_start
    if _at(s, pos) in JS_WHITESPACE and _at(s, pos) != "":
        pos += 1
    if _at(s, pos) in ("<", ">"):
        pos += 1
    if _at(s, pos) == "=":
        pos += 1
    ch = _at(s, pos)
    return pos if ch != "" and ch in JS_WHITESPACE else -1


def trim_comparator_whitespace(s: str) -> str:
    """``trimComparatorWhitespace``: drop the one space between an operator and a version."""
    out: list[str] = []
    copy_from = cursor = 0
    n = len(s)
    while cursor < n:
        match_start = cursor
        ch = s[cursor]
        if ch in ("<", ">"):
            cursor += 1
        elif not _prefix_char(ch) and not _version_start(ch):
            cursor += 1
            continue
        while cursor < n and _prefix_char(s[cursor]):
            cursor += 1
        if not _version_start(_at(s, cursor)):
            continue
        ws = _removable_whitespace(s, match_start)
        if ws != -1:
            out.append(s[copy_from:ws])
            copy_from = ws + 1
        full_end = _loose_full_end(s, cursor)
        cursor = full_end if full_end != cursor else _partial_end(s, cursor)
    out.append(s[copy_from:])
    return "".join(out)
