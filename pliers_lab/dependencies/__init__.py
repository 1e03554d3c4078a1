"""Plugin dependency resolution (spec: Plugin Dependency Resolution).

``Catalog`` holds the plugin versions available; ``resolve`` picks one version per plugin
by a ``ResolutionStrategy``, reports ``Conflict`` records and a load order; the result's
``graph`` is a networkx DiGraph with everything the lab draws.
"""

from .candidates import Catalog
from .model import Conflict, DependencyError, PluginSpec, Requirement, ResolutionStrategy
from .resolver import Resolution, resolve

__all__ = [
    "Catalog",
    "Conflict",
    "DependencyError",
    "PluginSpec",
    "Requirement",
    "Resolution",
    "ResolutionStrategy",
    "resolve",
]
