"""The sandbox package's bytecode is kept compiled for the workers (bytecode.py)."""

from __future__ import annotations

import importlib.util
import os
import py_compile
from pathlib import Path

from pliers_lab.sandbox._bytecode import _fresh, compile_sandbox


def test_freshness_follows_the_importers_rules(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text("x = 1\n")
    pyc = Path(importlib.util.cache_from_source(str(source)))
    assert not _fresh(source, pyc)  # none yet
    py_compile.compile(str(source), cfile=str(pyc), doraise=True)
    assert _fresh(source, pyc)
    source.write_text("x = 22\n")  # another size
    assert not _fresh(source, pyc)
    py_compile.compile(str(source), cfile=str(pyc), doraise=True)
    stat = source.stat()
    os.utime(source, (stat.st_atime, stat.st_mtime + 5))  # same size, touched
    assert not _fresh(source, pyc)


def test_compiling_twice_compiles_nothing_the_second_time() -> None:
    compile_sandbox()
    assert compile_sandbox() == 0
    worker = Path(importlib.util.find_spec("pliers_lab.sandbox.worker").origin or "")
    assert _fresh(worker, Path(importlib.util.cache_from_source(str(worker))))
