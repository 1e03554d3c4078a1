"""submission-sanitizer: cleans submission input before anything else reads it.

- ``submission.sanitize`` (priority 1000, CRITICAL, so it runs first): removes
  ``<script>``/``<style>`` blocks and every other tag, ``javascript:``/``vbscript:`` URLs,
  inline ``on*=`` event handlers and control characters; trims whitespace and cuts strings
  to ``maxLength``.
- ``submission.transform`` (priority 500, HIGH, so it runs before the NORMAL transforms):
  collapses runs of whitespace and lower-cases e-mail addresses.

Both return a modified copy of the data (``ctx.data`` is never touched) and record the
names of the answers they changed in ``ctx.state["sanitized_fields"]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pliers_lab import HookContext, hook

Data = dict[str, Any]

_SCRIPT_BLOCK = re.compile(r"<(script|style)\b[^>]*>.*?(?:</\1\s*>|$)", re.I | re.S)
_EVENT_HANDLER = re.compile(r"\bon[a-z]{3,}\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]*)", re.I)
_SCRIPT_URL = re.compile(r"\b(?:java|vb)\s*script\s*:", re.I)
_TAG = re.compile(r"</?[a-z!][^>]*(?:>|$)", re.I)
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")
#: Unicode's Cc category is exactly these code points (C0, DEL, C1) but for \t and \n.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: Every pattern of ``clean_text`` needs one of these characters to match.
_ACTIVE = re.compile("[<=:]")
#: A carriage return, a control character or an active one: text without any of them
#: only needs trimming (one scan instead of two replaces, a substitution and a search).
_SUSPECT = re.compile("[\r\x00-\x08\x0b-\x1f\x7f-\x9f<=:]")
#: Whitespace other than a space (a tab, a newline, a no-break space...): with two
#: spaces in a row or whitespace at either end, what ``tidy_whitespace`` would change.
#: A one-class pattern plus ``in`` and ``isspace``: a single pattern with the four
#: alternatives tries each of them at every character, four times slower.
_ODD_SPACE = re.compile(r"[^\S ]")


def clean_text(text: str, max_length: int) -> str:
    """Strip active content and control characters, trim, and cut to ``max_length``."""
    if not _SUSPECT.search(text):  # the common case: plain text
        return text.strip()[:max_length]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Cc covers NUL, escape sequences, DEL...; newlines and tabs are kept for text areas.
    # First, so that "java\x00script:" cannot hide from the patterns below.
    text = _CONTROL.sub("", text)
    if not _ACTIVE.search(text):  # no "<", "=" or ":": none of the patterns can match
        return text.strip()[:max_length]
    previous = None
    while text != previous:  # until stable: removing "<b>" from "<<b>script>" makes a tag
        previous = text
        for pattern in (_SCRIPT_BLOCK, _EVENT_HANDLER, _TAG, _SCRIPT_URL):
            text = pattern.sub("", text)
    return text.strip()[:max_length]


def tidy_whitespace(text: str) -> str:
    """Collapse runs of spaces within lines and of blank lines; trim every line."""
    if not (_ODD_SPACE.search(text) or "  " in text or text[:1].isspace() or text[-1:].isspace()):
        return text  # already tidy: the common case
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    """``fn`` applied to every string in a JSON-like value (dicts and lists are rebuilt)."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {key: _map_strings(item, fn) for key, item in value.items()}
    if isinstance(value, list):
        return [_map_strings(item, fn) for item in value]
    return value


def _email_fields(form: dict[str, Any]) -> set[str]:
    return {
        f["name"]
        for f in form.get("fields", [])
        if f.get("type") == "email" or (f.get("type") == "text" and f.get("format") == "email")
    }


def _rewrite(ctx: HookContext, fn: Callable[[str, Any], Any]) -> Data | None:
    """A copy of ``ctx.data`` with ``fn(name, value)`` applied to every answer.

    Returns None (data unchanged) when no answer changed, and records the changed
    answers' names in ``ctx.state["sanitized_fields"]``.
    """
    answers: dict[str, Any] = ctx.data["submission"].get("data", {})
    cleaned: dict[str, Any] = {}
    changed: list[str] = []
    for name, value in answers.items():
        cleaned[name] = new = fn(name, value)
        if new != value:
            changed.append(name)
    recorded: list[str] = ctx.state.setdefault("sanitized_fields", [])
    if not changed:
        return None
    recorded.extend(name for name in changed if name not in recorded)
    ctx.logger.info(
        "sanitized answers", submission=ctx.data["submission"].get("id"), fields=changed
    )
    # A new dict on top: the form is passed on as is, only the submission is replaced.
    return {**ctx.data, "submission": {**ctx.data["submission"], "data": cleaned}}


@hook("submission.sanitize")
def sanitize(ctx: HookContext) -> Data | None:
    """Remove markup, script URLs, event handlers and control characters."""
    max_length = int(ctx.config["maxLength"])

    def clean(text: str) -> str:
        return clean_text(text, max_length)

    def fix(_name: str, value: Any) -> Any:
        return (
            clean_text(value, max_length) if isinstance(value, str) else _map_strings(value, clean)
        )

    return _rewrite(ctx, fix)


@hook("submission.transform")
def normalize(ctx: HookContext) -> Data | None:
    """Collapse whitespace and (when configured) lower-case e-mail addresses."""
    emails = _email_fields(ctx.data["form"]) if ctx.config["lowercaseEmails"] else set()

    def fix(name: str, value: Any) -> Any:
        if name in emails and isinstance(value, str):
            return value.strip().lower()
        return _map_strings(value, tidy_whitespace)

    return _rewrite(ctx, fix)
