"""``jsonschema`` is imported without building ``rfc3987_syntax``'s parsers, and its
``iri`` format checks still run the real code (``pliers_lab/config/_jsonschema.py``).

Each case runs in a fresh interpreter: this one has imported ``jsonschema`` long ago.
"""

import importlib.util
import json
import subprocess
import sys

#: Values whose ``iri`` / ``iri-reference`` verdicts must not change.
VALUES = [
    "http://example.org/ä",
    "https://例え.jp/パス?q=1#frag",
    "not an iri",
    "//example.org/relative",
    "relative/path",
    "http://exa mple.org",
    "",
    12,
]

VERDICTS = (
    "from jsonschema import Draft7Validator, FormatChecker\n"
    "verdicts = [[Draft7Validator({'format': f}, format_checker=FormatChecker()).is_valid(v)"
    f" for v in {VALUES!r}] for f in ('iri', 'iri-reference')]\n"
)


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_iri_checker_is_installed_here() -> None:
    # Jupyter brings it (jsonschema[format-nongpl]); were it gone, the stand-in is moot.
    assert importlib.util.find_spec("rfc3987_syntax") is not None


def test_jsonschema_imports_without_rfc3987_syntax_and_iri_checks_stay_real() -> None:
    ours = _run(
        "import sys, json\n"
        "from pliers_lab.config._jsonschema import import_jsonschema\n"
        "import_jsonschema()\n"
        "import jsonschema\n"
        "loaded_at_import = 'rfc3987_syntax' in sys.modules\n"
        + VERDICTS
        + "real = sys.modules['rfc3987_syntax']\n"
        "print(json.dumps({'at_import': loaded_at_import, 'verdicts': verdicts,"
        " 'real_file': getattr(real, '__file__', None)}))\n"
    )
    plain = _run("import json\nimport jsonschema\n" + VERDICTS + "print(json.dumps(verdicts))\n")
    assert ours["at_import"] is False
    assert ours["verdicts"] == plain
    assert [False, True] in [sorted(set(v)) for v in plain]  # the checks do tell apart
    assert ours["real_file"] and ours["real_file"].endswith(".py")  # the real module now


def test_an_already_imported_rfc3987_syntax_is_left_alone() -> None:
    out = _run(
        "import sys, json, rfc3987_syntax\n"
        "before = sys.modules['rfc3987_syntax']\n"
        "from pliers_lab.config._jsonschema import import_jsonschema\n"
        "import_jsonschema()\n"
        "from jsonschema import _format\n"
        "print(json.dumps({'same': sys.modules['rfc3987_syntax'] is before,"
        " 'checker_is_real': _format._rfc3987_is_valid_syntax is before.is_valid_syntax}))\n"
    )
    assert out == {"same": True, "checker_is_real": True}


def test_any_other_name_read_from_the_stand_in_loads_the_real_module() -> None:
    out = _run(
        "import sys, json\n"
        "from pliers_lab.config._jsonschema import _deferred\n"
        "stand_in = _deferred('rfc3987_syntax')\n"
        "sys.modules['rfc3987_syntax'] = stand_in\n"
        "names = ['RFC3987_SYNTAX_TERMS', 'make_syntax_validator']\n"
        "got = {n: hasattr(stand_in, n) for n in names}\n"
        "real = sys.modules['rfc3987_syntax']\n"
        "print(json.dumps({'got': got, 'replaced': real is not stand_in,"
        " 'same_object': all(getattr(stand_in, n) is getattr(real, n) for n in names)}))\n"
    )
    assert out == {
        "got": {"RFC3987_SYNTAX_TERMS": True, "make_syntax_validator": True},
        "replaced": True,
        "same_object": True,
    }
