"""submission-sanitizer through the real engine: sanitize and transform waterfalls."""

from __future__ import annotations

import copy
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pliers_lab import Engine, PluginState

PLUGIN_DIR = Path(__file__).parents[1]
CHAIN_DIR = PLUGIN_DIR.parent / "data-transform-chain"
PLUGIN = "submission-sanitizer"

FORM: dict[str, Any] = {
    "id": "contact",
    "name": "Contact us",
    "version": 3,
    "metadata": {},
    "fields": [
        {"id": "f1", "name": "name", "label": "Name", "type": "text", "required": True},
        {"id": "f2", "name": "email", "label": "E-mail", "type": "email", "required": True},
        {"id": "f3", "name": "message", "label": "Message", "type": "text", "required": False},
    ],
}


@pytest.fixture
def engine() -> Iterator[Engine]:
    with Engine() as engine:
        engine.load(PLUGIN_DIR)
        yield engine


def payload(answers: dict[str, Any], form: dict[str, Any] = FORM) -> dict[str, Any]:
    submission = {
        "id": "sub-7",
        "formId": form["id"],
        "data": answers,
        "metadata": {"source": "web"},
        "status": "new",
    }
    return {"form": form, "submission": submission}


def sanitize(engine: Engine, answers: dict[str, Any]) -> dict[str, Any]:
    result = engine.fire("submission.sanitize", payload(answers))
    assert result.ok, result.summary()
    cleaned: dict[str, Any] = result.value["submission"]["data"]
    return cleaned


def make_probe(tmp_path: Path, hooks: list[str]) -> Path:
    """A plugin at priority 1 that copies ``ctx.state`` into the submission's metadata."""
    folder = tmp_path / "state-probe"
    folder.mkdir()
    manifest = {
        "name": "state-probe",
        "version": "0.1.0",
        "description": "Test probe: reports ctx.state",
        "author": "tests",
        "license": "MIT",
        "main": "plugin.py",
        "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
        "hooks": {name: {"priority": 1, "async": False} for name in hooks},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    handlers = "\n".join(
        textwrap.dedent(f"""
        @hook({name!r})
        def probe_{i}(ctx: HookContext) -> dict[str, Any]:
            submission = ctx.data["submission"]
            metadata = {{**submission["metadata"], "state": dict(ctx.state)}}
            return {{**ctx.data, "submission": {{**submission, "metadata": metadata}}}}
        """)
        for i, name in enumerate(hooks)
    )
    (folder / "plugin.py").write_text(
        "from typing import Any\nfrom pliers_lab import HookContext, hook\n" + handlers
    )
    return folder


def test_manifest_loads_and_plugin_is_active(engine: Engine) -> None:
    manifest = json.loads((PLUGIN_DIR / "manifest.json").read_text())
    assert manifest["hooks"]["submission.sanitize"]["priority"] == 1000
    assert manifest["hooks"]["submission.transform"]["priority"] == 500
    assert engine.plugin(PLUGIN).state is PluginState.ACTIVE
    assert engine.plugin(PLUGIN).config == {"maxLength": 10000, "lowercaseEmails": True}


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ("<script>alert('x')</script>Hello", "Hello"),
        ("Hi<SCRIPT type='text/javascript'>\nsteal()\n</script >!", "Hi!"),
        ("<style>body{display:none}</style>Styled", "Styled"),
        ("<b>Bold</b> move", "Bold move"),
        ('<a href="javascript:alert(1)">link</a>', "link"),
        ("JavaScript:alert(document.cookie)", "alert(document.cookie)"),
        ("<img src=x onerror=alert(1)", ""),
        ('<div onclick="evil()">text</div>', "text"),
        ("<<b>script>alert(1)<</b>/script>tail", "tail"),
        ("<script>never closed", ""),
        ("a < b and 3 > 2", "a < b and 3 > 2"),
        ("abc\x00\x07def\x1b[0m", "abcdef[0m"),
        ("java\x00script:alert(1)", "alert(1)"),
        ("<scr\x00ipt>alert(1)</script>", ""),
        ("line1\r\nline2\tafter tab", "line1\nline2\tafter tab"),
        ("   padded  ", "padded"),
    ],
)
def test_strings_are_cleaned(engine: Engine, dirty: str, clean: str) -> None:
    assert sanitize(engine, {"message": dirty}) == {"message": clean}


def test_bare_event_handlers_are_removed(engine: Engine) -> None:
    cleaned = sanitize(engine, {"message": "Click onmouseover='steal()' here, price: one = 1"})
    assert "onmouseover" not in cleaned["message"] and "steal" not in cleaned["message"]
    assert cleaned["message"].endswith("price: one = 1")


def test_nested_values_are_cleaned_and_other_types_kept(engine: Engine) -> None:
    answers = {
        "tags": ["<i>urgent</i>", " billing "],
        "address": {"city": "<b>Paris</b>"},
        "age": 42,
        "subscribed": True,
        "nickname": None,
    }
    assert sanitize(engine, answers) == {
        "tags": ["urgent", "billing"],
        "address": {"city": "Paris"},
        "age": 42,
        "subscribed": True,
        "nickname": None,
    }


def test_max_length_comes_from_configuration(engine: Engine) -> None:
    assert sanitize(engine, {"message": "x" * 20000}) == {"message": "x" * 10000}
    engine.configure(PLUGIN, {"maxLength": 5})
    assert sanitize(engine, {"message": "  abcdefgh"}) == {"message": "abcde"}


def test_input_is_never_mutated_and_clean_data_passes_unchanged(engine: Engine) -> None:
    data = payload({"name": "<b>Jane</b>", "email": "jane@acme.io"})
    before = copy.deepcopy(data)
    result = engine.fire("submission.sanitize", data)
    assert data == before
    assert result.value["submission"]["data"] == {"name": "Jane", "email": "jane@acme.io"}
    assert result.value["form"] == FORM
    assert result.value["submission"]["metadata"] == {"source": "web"}

    clean = payload({"name": "Jane", "email": "jane@acme.io"})
    assert engine.fire("submission.sanitize", clean).value == clean


def test_changed_fields_are_recorded_in_state(engine: Engine, tmp_path: Path) -> None:
    engine.load(make_probe(tmp_path, ["submission.sanitize", "submission.transform"]))
    result = engine.fire(
        "submission.sanitize",
        payload({"name": " Jane ", "email": "jane@acme.io", "message": "<p>hi"}),
    )
    assert [o.plugin_id for o in result.outcomes] == [PLUGIN, "state-probe"]
    assert result.value["submission"]["metadata"]["state"] == {
        "sanitized_fields": ["name", "message"]
    }

    result = engine.fire(
        "submission.transform", payload({"name": "Jane   Doe", "email": "Jane@ACME.io"})
    )
    assert result.value["submission"]["metadata"]["state"] == {
        "sanitized_fields": ["name", "email"]
    }

    result = engine.fire("submission.transform", payload({"name": "Jane"}))
    assert result.value["submission"]["metadata"]["state"] == {"sanitized_fields": []}


def test_transform_normalises_whitespace_and_email_case(engine: Engine) -> None:
    answers = {
        "name": "Jane \t  Doe",
        "email": "  Jane.Doe@ACME.io ",
        "message": "First  line  \n\n\n\n  Second\tline",
        "company": "ACME Ltd",
    }
    result = engine.fire("submission.transform", payload(answers))
    assert result.value["submission"]["data"] == {
        "name": "Jane Doe",
        "email": "jane.doe@acme.io",
        "message": "First line\n\nSecond line",
        "company": "ACME Ltd",
    }


def test_email_lowercasing_can_be_switched_off(engine: Engine) -> None:
    engine.configure(PLUGIN, {"lowercaseEmails": False})
    result = engine.fire("submission.transform", payload({"email": "  Jane@ACME.io"}))
    assert result.value["submission"]["data"] == {"email": "Jane@ACME.io"}


def test_transform_runs_before_the_normal_priority_transform_chain(engine: Engine) -> None:
    engine.load(CHAIN_DIR)
    form = {
        **FORM,
        "fields": [
            *FORM["fields"],
            {"id": "f4", "name": "phone", "label": "Phone", "type": "phone", "required": False},
        ],
        "metadata": {
            "transformPipeline": [
                {"type": "enrich_company", "field": "email", "required": False},
                {"type": "normalize_phone", "field": "phone", "required": False},
            ]
        },
    }
    result = engine.fire(
        "submission.transform",
        payload({"email": " Sales@Acme.COM ", "phone": "(212)  555-0123"}, form),
    )
    assert [(o.plugin_id, o.status) for o in result.outcomes] == [
        (PLUGIN, "ok"),
        ("data-transform-chain", "ok"),
    ]
    data = result.value["submission"]["data"]
    assert data["email"] == "sales@acme.com"
    assert data["phone"] == "+12125550123"
    assert data["company"] == "Acme Corporation"


def test_control_characters_are_exactly_unicodes_cc_category(engine: Engine) -> None:
    """The plugin drops control characters with one pattern; it must drop exactly Cc
    (but tabs and newlines), as a per-character check would, and keep the rest."""
    import random
    import unicodedata

    everything = "".join(chr(i) for i in range(0x250)) + "é☃\u2028\u200b\U0001f600"
    expected = "".join(c for c in everything if c in "\n\t" or unicodedata.category(c) != "Cc")
    rng = random.Random(7)
    for _ in range(20):
        text = "".join(rng.choice(everything) for _ in range(60)).replace("\r", "")
        if any(ch in text for ch in "<=:"):
            text = text.replace("<", "").replace("=", "").replace(":", "")
        value = engine.fire("submission.sanitize", payload({"message": text})).value
        want = "".join(c for c in text if c in "\n\t" or unicodedata.category(c) != "Cc")
        assert value["submission"]["data"]["message"] == want.strip()
    assert len(everything) - len(expected) == 65 - 2  # Cc holds 65 code points


def test_fast_paths_change_nothing_the_full_rules_would_not(engine: Engine) -> None:
    """The plain-text shortcuts of clean_text and tidy_whitespace answer exactly what the
    full rules answer, on random text made of the characters the rules care about."""
    import random
    import re

    engine.unload(PLUGIN)
    engine.trust(PLUGIN)  # reads the module's functions, so it runs inline
    engine.load(PLUGIN_DIR)
    sanitizer = engine.plugin(PLUGIN).module
    assert sanitizer is not None

    def tidy_full(text: str) -> str:
        lines = [re.sub(r"[^\S\n]+", " ", line).strip() for line in text.split("\n")]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()

    rng = random.Random(17)
    alphabet = "ab  \t\n\r\x00\x1c\x85\xa0<>=:sjvcrpt"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert sanitizer.tidy_whitespace(text) == tidy_full(text), repr(text)
        slow = sanitizer.clean_text("\r" + text, 8)  # "\r" forces the full rules
        fast = sanitizer.clean_text(text, 8)
        assert fast == slow, repr(text)
