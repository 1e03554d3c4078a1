"""Marketplace search: filters, facets, relevance, sorting, paging and the query record."""

from __future__ import annotations

import pytest

from pliers_lab.market import MarketplaceQuery, PluginMarketplace, Registry


@pytest.fixture
def catalog(registry: Registry, publish, market: PluginMarketplace) -> PluginMarketplace:
    publish("phone-check", keywords=["phone", "validation"], categories=["validation"])
    publish("phone-format", keywords=["phone"], categories=["data-transform"], license="Apache-2.0")
    publish("mailer", keywords=["email"], categories=["notification"], license="Apache-2.0")
    publish(
        "old-engine", engines={"pliers": "^2.0.0", "python": ">=3.11"}, categories=["reporting"]
    )
    publish(
        "old-engine",
        "2.0.0",
        engines={"pliers": "^3.0.0", "python": ">=3.11"},
        categories=["reporting"],
    )
    publish("charts", keywords=["charts", "phone-stats"], categories=["analytics", "reporting"])
    for _ in range(3):
        registry.download("mailer", "1.0.0")
    registry.download("charts", "1.0.0")
    registry.rate("charts", 5, user="u1")
    registry.rate("mailer", 3, user="u1")
    registry.set_verified("mailer")
    return market


def ids(result) -> list[str]:
    return [listing.id for listing in result]


def test_default_listing_is_by_name_with_the_spec_fields(catalog: PluginMarketplace) -> None:
    result = catalog.search()
    assert ids(result) == ["charts", "mailer", "old-engine", "phone-check", "phone-format"]
    listing = result[1].to_dict()
    assert {
        "id",
        "name",
        "description",
        "version",
        "author",
        "category",
        "tags",
        "license",
        "downloads",
        "rating",
        "verified",
        "lastUpdated",
        "compatibility",
        "homepage",
        "repository",
        "documentation",
    } <= set(listing)
    assert (listing["downloads"], listing["rating"], listing["verified"]) == (3, 3.0, True)
    assert listing["category"] == "notification" and listing["compatibility"] == ["^3.0.0"]
    assert result[2].version == "2.0.0"


def test_text_queries_rank_by_relevance(catalog: PluginMarketplace) -> None:
    result = catalog.search("phone")
    assert ids(result) == ["phone-check", "phone-format", "charts"]
    assert ids(catalog.search("phone validation")) == ["phone-check"]
    assert ids(catalog.search("PHONE", sort_by="name")) == ["charts", "phone-check", "phone-format"]
    assert ids(catalog.search("nothing-like-this")) == []


def test_filters_category_tags_license_verified(catalog: PluginMarketplace) -> None:
    assert ids(catalog.search(category="reporting")) == ["charts", "old-engine"]
    assert ids(catalog.search(tags=("phone",))) == ["phone-check", "phone-format"]
    assert ids(catalog.search(tags=("phone", "validation"))) == ["phone-check"]
    assert ids(catalog.search(license=("apache-2.0",))) == ["mailer", "phone-format"]
    assert ids(catalog.search(verified=True)) == ["mailer"]
    assert len(ids(catalog.search(verified=False))) == 4


def test_compatibility_picks_the_version_that_runs(catalog: PluginMarketplace) -> None:
    result = catalog.search(compatibility="2.5.0")
    assert ids(result) == ["old-engine"]
    assert result[0].version == "1.0.0" and result[0].compatibility == ("^2.0.0",)
    assert catalog.search(compatibility="3.2.0").total == 5


def test_facets_count_with_every_other_filter(catalog: PluginMarketplace) -> None:
    result = catalog.search(category="reporting", license=("MIT",))
    categories = {f["name"]: f["count"] for f in result.facets["categories"]}
    licenses = {f["name"]: f["count"] for f in result.facets["licenses"]}
    assert categories == {"validation": 1, "reporting": 2, "analytics": 1}  # license applied
    assert licenses == {"MIT": 2}  # category applied
    everything = catalog.search().facets
    assert everything["licenses"] == [
        {"name": "MIT", "count": 3},
        {"name": "Apache-2.0", "count": 2},
    ]


@pytest.mark.parametrize(
    ("sort_by", "order", "expected"),
    [
        ("downloads", None, ["mailer", "charts", "old-engine", "phone-check", "phone-format"]),
        ("downloads", "asc", ["old-engine", "phone-check", "phone-format", "charts", "mailer"]),
        ("rating", None, ["charts", "mailer", "old-engine", "phone-check", "phone-format"]),
        ("name", "desc", ["phone-format", "phone-check", "old-engine", "mailer", "charts"]),
        ("relevance", None, ["charts", "mailer", "old-engine", "phone-check", "phone-format"]),
    ],
)
def test_sorting(catalog: PluginMarketplace, sort_by, order, expected) -> None:
    assert ids(catalog.search(sort_by=sort_by, sort_order=order)) == expected


def test_updated_sorts_by_the_newest_release(catalog: PluginMarketplace, publish) -> None:
    publish("mailer", "1.1.0", keywords=["email"], categories=["notification"])
    assert ids(catalog.search(sort_by="updated"))[0] == "mailer"


def test_paging(catalog: PluginMarketplace) -> None:
    first = catalog.search(limit=2)
    assert ids(first) == ["charts", "mailer"] and first.total == 5 and first.has_more
    last = catalog.search(limit=2, offset=4)
    assert ids(last) == ["phone-format"] and not last.has_more
    page = last.to_dict()["pagination"]
    assert page == {"total": 5, "limit": 2, "offset": 4, "hasMore": False}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"limit": 101}, "limit must be an integer from 1 to 100"),
        ({"limit": 0}, "limit must be an integer from 1 to 100"),
        ({"offset": -1}, "offset must be a non-negative integer"),
        ({"category": "games"}, "category 'games' is not one of: form-processing, validation"),
        ({"sort_by": "stars"}, "sortBy 'stars' is not one of"),
        ({"sort_order": "up"}, "sortOrder 'up'"),
        ({"compatibility": "three"}, "compatibility 'three' is not a Pliers version"),
    ],
)
def test_bad_queries_name_the_field(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        MarketplaceQuery(**options)


def test_rest_parameters(catalog: PluginMarketplace) -> None:
    query = MarketplaceQuery.from_params(
        {
            "q": "phone",
            "tags": "phone, validation",
            "license": "MIT,Apache-2.0",
            "verified": "false",
            "sort": "relevance",
            "limit": "5",
            "offset": "0",
        }
    )
    assert query.tags == ("phone", "validation") and query.license == ("MIT", "Apache-2.0")
    assert ids(catalog.search(query)) == ["phone-check"]
    with pytest.raises(ValueError, match="limit must be an integer, got 'ten'"):
        MarketplaceQuery.from_params({"limit": "ten"})
    with pytest.raises(ValueError, match="unknown search parameter"):
        MarketplaceQuery.from_params({"qq": "x"})
    with pytest.raises(ValueError, match="verified must be true or false"):
        MarketplaceQuery.from_params({"verified": "yes"})
    with pytest.raises(TypeError, match="not both"):
        catalog.search(query, limit=3)


def test_categories_featured_popular(catalog: PluginMarketplace, registry: Registry) -> None:
    categories = catalog.get_categories()
    assert len(categories) == 10
    counts = {c["id"]: c["count"] for c in categories}
    assert counts["reporting"] == 2 and counts["workflow"] == 0
    assert categories[0] == {
        "id": "form-processing",
        "name": "Form processing",
        "description": "Work on form definitions and their lifecycle",
        "count": 0,
    }
    assert [p.id for p in catalog.get_popular(limit=2)] == ["mailer", "charts"]
    assert catalog.get_featured() == []
    registry.set_featured("phone-check")
    registry.set_featured("charts")
    assert [p.id for p in catalog.get_featured()] == ["charts", "phone-check"]
