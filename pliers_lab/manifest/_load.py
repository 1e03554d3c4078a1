"""Reading a manifest: from a Python object or from a plugin folder on disk.

Whatever is wrong — a missing file, a path the system refuses (too long, through a file,
permission denied), a folder or a FIFO where the file should be, a file too large, bytes
that are not UTF-8, broken JSON, bad fields, a ``main`` that does not exist, a file that
links out of the plugin folder — surfaces as one :class:`ManifestError` naming the file
and listing every problem found, never as ``OSError``, ``JSONDecodeError`` or pydantic's
``ValidationError``. How files are looked at and read is in :mod:`.paths`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .fields import DEFAULT_MAIN, is_plugin_name, main_kind
from .models import Manifest
from .plugin_files import MANIFEST_LIMIT, Unreadable, escape, probe, read_file
from .problems import ManifestError, ManifestProblem, describe, translate

__all__ = ["MANIFEST_FILE", "load_manifest", "parse_manifest"]

#: The manifest's file name inside a plugin folder.
MANIFEST_FILE = "manifest.json"


def parse_manifest(
    data: object, *, source: str = MANIFEST_FILE, known_hooks: Iterable[str] = ()
) -> Manifest:
    """Validate already-decoded JSON as a manifest.

    ``known_hooks`` are custom hooks declared by other loaded plugins, which this plugin
    may implement. ``source`` names the file in error messages. Raises
    :class:`ManifestError` listing every problem.
    """
    manifest, problems = _validate(data, source, known_hooks)
    if manifest is None:
        raise ManifestError(source, problems, plugin_id=_name_of(data))
    return manifest


def load_manifest(path: str | os.PathLike[str], *, known_hooks: Iterable[str] = ()) -> Manifest:
    """Read and validate a plugin's manifest, and check the files it names exist.

    ``path`` is a ``manifest.json`` or the plugin folder that contains one. The returned
    manifest's ``root`` is that folder. Raises :class:`ManifestError` (a ``LOAD_ERROR``)
    naming the file and listing every problem.
    """
    given = Path(path)
    kind, why = probe(given)
    if why is not None:
        raise _fail(str(given), f"cannot look at it: {why}")
    if kind == "folder" and given.name == MANIFEST_FILE:
        raise _fail(str(given), "it is a folder, not a file", f"{MANIFEST_FILE} must be a file")
    as_folder = kind == "folder" or (kind == "missing" and given.suffix != ".json")
    file = given / MANIFEST_FILE if as_folder else given
    folder = file.parent
    source = str(file)

    folder_kind, why = probe(folder)
    if why is not None:
        raise _fail(source, f"cannot look in the plugin folder {str(folder)!r}: {why}")
    if folder_kind == "missing":
        raise _fail(source, f"plugin folder {str(folder)!r} does not exist")
    if folder_kind != "folder":
        raise _fail(source, f"{str(folder)!r} is not a folder, so it cannot be a plugin folder")
    outside = escape(folder, MANIFEST_FILE)
    if outside is not None:
        raise _fail(source, str(outside))
    file_kind, why = probe(file)
    if file_kind == "missing" and why is None:
        raise _fail(
            source, f"no such file (looked in {str(folder)!r})", f"a plugin needs {MANIFEST_FILE}"
        )
    try:
        raw = read_file(file, MANIFEST_LIMIT)
    except Unreadable as exc:
        raise _fail(source, exc.reason) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail(source, f"not UTF-8 text (invalid byte at offset {exc.start})") from None
    duplicates: list[str] = []
    try:
        data = json.loads(
            text,
            object_pairs_hook=lambda pairs: _object(pairs, duplicates),
            parse_constant=_reject_constant,
        )
    except json.JSONDecodeError as exc:
        raise _fail(
            source, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise _fail(source, f"malformed JSON: {_reason(exc)}") from None

    problems = [
        ManifestProblem(source, (), f"duplicate key {describe(k)} (only the last one counts)")
        for k in dict.fromkeys(duplicates)
    ]
    manifest, model_problems = _validate(data, source, known_hooks)
    problems += model_problems
    if isinstance(data, dict):
        problems += _missing_files(data, folder, source, model_problems)
    if manifest is None or problems:
        raise ManifestError(source, problems, plugin_id=_name_of(data))
    manifest._root = folder.absolute()
    return manifest


def _fail(source: str, message: str, hint: str | None = None) -> ManifestError:
    return ManifestError(source, [ManifestProblem(source, (), message, hint)])


def _validate(
    data: object, source: str, known_hooks: Iterable[str]
) -> tuple[Manifest | None, list[ManifestProblem]]:
    if not isinstance(data, dict):
        got = describe(data)
        return None, [ManifestProblem(source, (), f"expected a JSON object, got {got}")]
    try:
        context = {"known_hooks": frozenset(known_hooks)}
        return Manifest.model_validate(data, context=context), []
    except ValidationError as exc:
        return None, translate(exc, source)


def _object(pairs: list[tuple[str, Any]], duplicates: list[str]) -> dict[str, Any]:
    """``json`` object hook: keep the last value, as ``json`` does, but note the repeat."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            duplicates.append(key)
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).split(";")[0] or "invalid value"


def _name_of(data: object) -> str | None:
    """The plugin's name, if the manifest has a usable one (for ``plugin_id``)."""
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) and is_plugin_name(name) else None


def _missing_files(
    data: dict[str, Any], folder: Path, source: str, found: list[ManifestProblem]
) -> list[ManifestProblem]:
    """Files the manifest names that are not in the plugin folder, or lead out of it.

    A field already reported as invalid is not checked again (its path could point
    anywhere); a dotted module name in ``main`` is imported later, not looked up here.
    """

    def clean(path: tuple[str, ...]) -> bool:
        return not any(p.path[: len(path)] == path for p in found)

    problems = []
    main = data.get("main", DEFAULT_MAIN)
    if isinstance(main, str) and clean(("main",)):
        message = _missing_main(main, folder)
        if message:
            problems.append(ManifestProblem(source, ("main",), message))
    config = data.get("configuration")
    files: list[tuple[tuple[str, ...], Any]] = []
    if isinstance(config, dict):
        for key in ("schema", "default"):
            files.append((("configuration", key), config.get(key, config.get(f"{key}_file"))))
        envs = config.get("environments")
        if isinstance(envs, dict):
            files.extend(
                (("configuration", "environments", env), name) for env, name in envs.items()
            )
    for path, name in files:
        if isinstance(name, str) and clean(path):
            message = _missing_file(name, folder)
            if message:
                problems.append(ManifestProblem(source, path, message))
    return problems


def _missing_file(name: str, folder: Path) -> str | None:
    outside = escape(folder, name)
    if outside is not None:
        return str(outside)
    kind, why = probe(folder / name)
    if why is not None:
        return f"file {name!r}: cannot look at it: {why}"
    if kind == "file":
        return None
    if kind == "folder":
        return f"{name!r} is a folder, not a file"
    if kind == "other":
        return f"{name!r} is not a regular file"
    return f"file {name!r} not found in the plugin folder"


def _missing_main(main: str, folder: Path) -> str | None:
    kind = main_kind(main)
    if kind == "module":
        return None
    outside = escape(folder, main)
    if outside is not None:
        return str(outside)
    found, why = probe(folder / main)
    if why is not None:
        return f"{main!r}: cannot look at it: {why}"
    if kind == "file" and found != "file":
        implicit = " (the default)" if main == DEFAULT_MAIN else ""
        return f"file {main!r}{implicit} not found in the plugin folder"
    if kind == "package":
        outside = escape(folder, Path(main, "__init__.py"))
        if outside is not None:
            return str(outside)
        init, why = probe(folder / main / "__init__.py")
        if why is not None:
            return f"{main!r}: cannot look at its __init__.py: {why}"
        if init != "file":
            if found == "folder":
                return f"folder {main!r} is not a package: it has no __init__.py"
            return f"package folder {main!r} not found in the plugin folder"
    return None
