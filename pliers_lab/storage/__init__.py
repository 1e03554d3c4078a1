"""Storage: the one SQLite layer (``sqlite``) every on-disk store of the engine uses."""

from .sqlite import (
    Migration,
    SchemaError,
    connect,
    migrate,
    migrate_file,
    schema_version,
    transaction,
)

__all__ = [
    "Migration",
    "SchemaError",
    "connect",
    "migrate",
    "migrate_file",
    "schema_version",
    "transaction",
]
