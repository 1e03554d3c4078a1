"""Observations: executions, metrics, errors, logs, transitions — each exportable as a DataFrame."""

from .frames import require_pandas
from .logs import LogStore, PluginLogger
from .metrics import PluginMetrics, PluginStats
from .row_store import BoundedStore

__all__ = [
    "BoundedStore",
    "LogStore",
    "PluginLogger",
    "PluginMetrics",
    "PluginStats",
    "require_pandas",
]
