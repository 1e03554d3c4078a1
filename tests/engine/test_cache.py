"""Plugin caching: compiled code by source hash, results with a TTL."""

import time

import pytest

from pliers_lab.engine._cache import CodeCache, ResultCache


def test_code_cache_reuses_code_for_the_same_source_only():
    cache = CodeCache()
    first = cache.compile("p.py", b"x = 1\n")
    again = cache.compile("p.py", b"x = 1\n")
    edited = cache.compile("p.py", b"x = 2\n")
    assert first is again and edited is not first
    assert (cache.hits, cache.misses) == (1, 2)
    cache.invalidate("p.py")
    assert len(cache) == 0


def test_code_cache_raises_syntax_errors_with_the_path():
    with pytest.raises(SyntaxError) as info:
        CodeCache().compile("bad.py", b"def (:\n")
    assert info.value.filename == "bad.py"


def test_result_cache_expires_and_invalidates_by_pattern():
    cache = ResultCache()
    cache.set("crm:contact:1", {"id": 1}, ttl=0.05)
    cache.set("crm:contact:2", {"id": 2})
    cache.set("geo:paris", (48.8, 2.3))
    assert cache.get("crm:contact:1") == {"id": 1}
    time.sleep(0.06)
    assert cache.get("crm:contact:1", "gone") == "gone"
    assert cache.invalidate("crm:*") == 1
    assert cache.get("crm:contact:2") is None and cache.get("geo:paris") == (48.8, 2.3)


def test_result_cache_is_bounded():
    cache = ResultCache(max_entries=3)
    for i in range(5):
        cache.set(f"k{i}", i)
    assert len(cache) == 3 and cache.get("k0") is None and cache.get("k4") == 4


def test_plugins_reach_their_result_cache_through_the_api(engine):
    from support import manifest

    from pliers_lab import hook

    @hook("integration.sync")
    def sync(ctx):
        hits = ctx.api.cache.get("runs", 0) + 1
        ctx.api.cache.set("runs", hits)
        return hits

    engine.add_plugin(manifest("cached", {"integration.sync": {}}), {"sync": sync})
    assert [engine.fire("integration.sync").value for _ in range(3)] == [[1], [2], [3]]


def test_an_api_service_no_host_offers_is_a_clear_error(engine):
    from support import manifest

    from pliers_lab import PluginErrorType, hook

    @hook("integration.sync")
    def sync(ctx):
        return ctx.api.database.find("submissions")

    engine.add_plugin(manifest("needs-db", {"integration.sync": {}}), {"sync": sync})
    error = engine.fire("integration.sync").outcome("needs-db").error
    assert error.type is PluginErrorType.RUNTIME_ERROR
    assert "api.database is not available" in error.message
    assert error.hook == "integration.sync" and error.plugin_id == "needs-db"
    assert error.execution_id is not None


def test_a_plugins_cache_is_made_when_first_asked_for_and_then_kept():
    # Most plugins never cache: no cache (and lock) per loaded plugin until one asks.
    from pliers_lab.engine._plugin_api import PluginAPI

    class Named:
        id = "p"

    api = PluginAPI(Named())  # type: ignore[arg-type]
    assert api._cache is None
    api.cache.set("k", 1)
    assert api.cache is api._cache and api.cache.get("k") == 1
