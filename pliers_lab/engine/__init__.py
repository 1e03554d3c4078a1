"""The engine: ``Engine`` is assembled in ``core`` from one mixin per job."""

from .core import Engine

__all__ = ["Engine"]
