"""The distribution's version, in a module of its own so that the package's parts can
name it without importing the package's face (and its doors)."""

__version__ = "0.1.0"
