"""What the lab's widgets share: engine lookup and one-line status messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._displays import STYLE, esc

if TYPE_CHECKING:
    from ...engine import Engine

__all__ = ["engine_or_default", "message", "panel"]

_COLOURS = {"ok": "#2e7d32", "error": "#c62828", "warning": "#ef6c00", "info": "#555"}
_ICONS = {"ok": "✓", "error": "✗", "warning": "!", "info": "·"}


def engine_or_default(engine: Engine | None) -> Engine:
    """``engine``, or the lab's default engine when None."""
    if engine is not None:
        return engine
    from .._default import default_engine

    return default_engine()


def message(kind: str, text: str) -> str:
    """One line of HTML: ``kind`` is ok, error, warning or info (a CSS class too)."""
    return (
        f'<span class="pliers-lab pliers-message pliers-{kind}" style="color:{_COLOURS[kind]}">'
        f"{_ICONS[kind]} {esc(text)}</span>"
    )


def panel(html: str, css_class: str = "") -> str:
    """Wrap HTML in the lab's styled container."""
    return f'{STYLE}<div class="pliers-lab {css_class}">{html}</div>'
