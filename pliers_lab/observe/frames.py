"""Lazy pandas: the core never imports it; a DataFrame is built only when asked for."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def require_pandas() -> Any:
    """Import pandas, or raise ImportError saying how to get it."""
    try:
        import pandas
    except ImportError as exc:  # pragma: no cover - pandas is in the test extra
        raise ImportError(
            "DataFrame export needs pandas: pip install 'pliers-lab[frames]'"
        ) from exc
    return pandas


def frame(
    rows: Iterable[Sequence[Any]], columns: Sequence[str], *, time_columns: Sequence[str] = ()
) -> Any:
    """A DataFrame from row tuples; epoch-second columns become UTC timestamps."""
    pd = require_pandas()
    df = pd.DataFrame(list(rows), columns=list(columns))
    for column in time_columns:
        df[column] = pd.to_datetime(df[column], unit="s", utc=True)
    return df
