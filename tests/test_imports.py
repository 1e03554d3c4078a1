"""Importing the core stays light: no heavy library is pulled in by ``import pliers_lab``."""

import subprocess
import sys

HEAVY = ("pandas", "matplotlib", "networkx", "IPython", "ipywidgets", "jsonschema", "numpy")


def test_import_pliers_lab_pulls_in_no_heavy_library():
    code = (
        "import sys, pliers_lab\n"
        "from pliers_lab import Engine\n"
        "Engine().close()\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_heavy_libraries_load_when_a_frame_is_asked_for():
    code = (
        "import sys\n"
        "from pliers_lab import Engine\n"
        "engine = Engine()\n"
        "assert 'pandas' not in sys.modules\n"
        "engine.executions.frame()\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
