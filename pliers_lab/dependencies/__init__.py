"""Plugin dependency resolution (spec: Plugin Dependency Resolution).

``Catalog`` holds the plugin versions available; ``resolve`` picks one version per plugin
by a ``ResolutionStrategy``, reports ``Conflict`` records and a load order; the result's
``graph`` is a networkx DiGraph with everything the lab draws.
"""

from ._model import Conflict, DependencyError, PluginSpec, Requirement, ResolutionStrategy
from ._resolver import Resolution, resolve
from .candidates import Catalog

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
