"""Plugin caching (spec: Plugin Caching): compiled code and results.

Compiled code is keyed by the source's hash, so reloading an unchanged plugin skips the
compiler and an edited one can never be served stale code.
"""

from __future__ import annotations

import fnmatch
import hashlib
import threading
import time
from types import CodeType
from typing import Any

__all__ = ["CodeCache", "ResultCache"]


class CodeCache:
    """Code objects by (path, sha256 of source)."""

    def __init__(self) -> None:
        self._codes: dict[tuple[str, str], CodeType] = {}
        self.hits = 0
        self.misses = 0

    def compile(self, path: str, source: bytes) -> CodeType:
        """Compile ``source`` (raises SyntaxError) or return the cached code object."""
        key = (path, hashlib.sha256(source).hexdigest())
        code = self._codes.get(key)
        if code is None:
            self.misses += 1
            code = compile(source, path, "exec", dont_inherit=True)
            self._codes[key] = code
        else:
            self.hits += 1
        return code

    def invalidate(self, path: str) -> None:
        for key in [k for k in self._codes if k[0] == path]:
            del self._codes[key]

    def __len__(self) -> int:
        return len(self._codes)


class ResultCache:
    """A small TTL cache for plugin results (``cacheResult`` / ``getCachedResult``)."""

    _MISSING = object()

    def __init__(self, max_entries: int = 10_000) -> None:
        self._items: dict[str, tuple[float | None, Any]] = {}
        self._max = max_entries
        self._lock = threading.Lock()

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Keep ``value`` under ``key`` for ``ttl`` seconds (None: until invalidated)."""
        expires = time.monotonic() + ttl if ttl is not None else None
        with self._lock:
            if len(self._items) >= self._max and key not in self._items:
                self._items.pop(next(iter(self._items)))
            self._items[key] = (expires, value)

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                return default
            expires, value = entry
            if expires is not None and expires < time.monotonic():
                del self._items[key]
                return default
            return value

    def invalidate(self, pattern: str = "*") -> int:
        """Drop keys matching a glob pattern; returns how many were dropped."""
        with self._lock:
            doomed = [k for k in self._items if fnmatch.fnmatchcase(k, pattern)]
            for key in doomed:
                del self._items[key]
        return len(doomed)

    def __len__(self) -> int:
        return len(self._items)
