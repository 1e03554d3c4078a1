"""Precedence keys and compiled comparator sets, shared by the parser and the shortcut.

A version's key is a tuple whose natural order is SemVer precedence, so a comparator set
folds into ``lo <= key < hi`` plus the triples whose prereleases it admits (node's
``testSet`` rule). Both :mod:`pliers_lab.versions` (from comparator parts) and
:mod:`pliers_lab.versions._shortcut` (straight from range text) build these tests, so the
key rules live here once.
"""

from __future__ import annotations

from typing import Any

from ._parse import ComparatorParts, VersionParts

__all__ = [
    "MAX_KEY",
    "MIN_KEY",
    "NEXT",
    "NO_TRIPLES",
    "Key",
    "Test",
    "compile_set",
    "ident_key",
    "key_of",
]

#: A precedence key: (major, minor, patch, 1) for a release, (major, minor, patch, 0,
#: identifier keys...) for a prerelease, which sorts below its release.
Key = tuple[Any, ...]
#: One compiled comparator set: ``lo <= key < hi``, and the (major, minor, patch) triples
#: whose prereleases may pass.
Test = tuple[Key, Key, frozenset[Key]]

MIN_KEY: Key = ()
MAX_KEY: Key = (float("inf"),)
# Appending this to a version key gives the smallest key above it and below every other
# version, which turns ``>v`` into ``>=next(v)`` and ``<=v`` into ``<next(v)``.
NEXT: Key = ((),)
NO_TRIPLES: frozenset[Key] = frozenset()


def _number(ident: str) -> int | float:
    """JavaScript's ``+ident``: exact up to 2**53, a correctly rounded float beyond."""
    return int(ident) if len(ident) < 16 else float(ident)


def ident_key(ident: int | str) -> tuple[int, Any]:
    """node's ``compareIdentifiers``: numbers first (numerically), then ASCII order."""
    if isinstance(ident, int):
        return (0, ident)
    return (0, _number(ident)) if ident.isdigit() and ident.isascii() else (1, ident)


def key_of(parts: VersionParts) -> Key:
    """The precedence key of a version: a release sorts above its prereleases."""
    major, minor, patch, prerelease = parts[0], parts[1], parts[2], parts[3]
    if prerelease:
        return (major, minor, patch, 0, *map(ident_key, prerelease))
    return (major, minor, patch, 1)


def compile_set(comparators: list[ComparatorParts]) -> Test | None:
    """Fold a comparator set into ``lo <= key < hi`` plus the triples whose prereleases it
    admits; ``None`` when no version can pass (the set is then skipped by ``_match``)."""
    lo, hi = MIN_KEY, MAX_KEY
    allowed = NO_TRIPLES
    for op, version in comparators:
        if version is None:
            continue
        if version[3]:
            key = key_of(version)
            allowed = allowed | {key[:3]}
        else:
            key = (version[0], version[1], version[2], 1)
        if op == ">=" or op == "":
            lo = key if key > lo else lo
        elif op == ">":
            lo = key + NEXT if key + NEXT > lo else lo
        if op == "<":
            hi = key if key < hi else hi
        elif op == "<=" or op == "":
            hi = key + NEXT if key + NEXT < hi else hi
    return (lo, hi, allowed) if lo < hi else None
