"""The marketplace's checks against their floors: what safety and search cost.

- open: ``open_bundle`` (every entry's name, type and size checked, every file hashed and
  compared with package.json) against the floor of reading every entry with ``zipfile``.
- verify: an Ed25519 signature check of a bundle against the floor of opening it.
- scan: the static security scan of a plugin's files against the floor of ``ast.parse``
  of the same Python files.
- search: a text query with facets over 300 published plugins against the floor of
  loading them from the registry's SQLite (``Registry.plugins()``), which search needs.

Interleaved repeats, medians. Run: ``python benchmarks/bench_market.py``

Prints a table, then one ``RESULT <name> <metric> <value> target <op> <target> PASS|FAIL``
line per target (DESIGN.md §4).
"""

from __future__ import annotations

import ast
import json
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _timing import interleaved, result_line

from pliers_lab.market import (
    MarketplaceQuery,
    Registry,
    SigningKey,
    build_bundle,
    open_bundle,
    verify_bundle,
)
from pliers_lab.market.query import search
from pliers_lab.market.scan import scan_files

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "extensions" / "advanced-validation"
PLUGINS = 300
WORDS = ["phone", "email", "export", "audit", "guard", "charts", "crm", "sanitize", "forms"]
CATEGORIES = ["validation", "reporting", "security", "integration", "data-transform"]


def read_all(path: Path) -> int:
    with zipfile.ZipFile(path) as zf:
        return sum(len(zf.read(info)) for info in zf.infolist())


def publish_many(registry: Registry, key: SigningKey, work: Path) -> None:
    for i in range(PLUGINS):
        folder = work / f"p{i}"
        folder.mkdir()
        words = [WORDS[i % len(WORDS)], WORDS[(i * 7) % len(WORDS)]]
        manifest = {
            "name": f"{words[0]}-plugin-{i}",
            "version": "1.0.0",
            "description": f"A generated plugin about {' and '.join(words)} number {i}",
            "author": "Bench <bench@example.com>",
            "license": "MIT" if i % 3 else "Apache-2.0",
            "main": "plugin.py",
            "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
            "keywords": words,
            "categories": [CATEGORIES[i % len(CATEGORIES)]],
        }
        (folder / "manifest.json").write_text(json.dumps(manifest))
        (folder / "plugin.py").write_text("X = 1\n")
        registry.publish(build_bundle(folder, work, signing_key=key), user="bench")


def main() -> None:
    key = SigningKey.generate()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bundle_path = build_bundle(EXAMPLE, work, signing_key=key)
        bundle = open_bundle(bundle_path)
        files = bundle.files()
        manifest = bundle.manifest
        sources = [data.decode() for name, data in files.items() if name.endswith(".py")]
        trusted = [key.public_key]

        rows = []
        times = interleaved(
            {
                "open_bundle": lambda: open_bundle(bundle_path),
                "zipfile": lambda: read_all(bundle_path),
            },
            number=50,
            repeats=7,
        )
        rows.append(("open", times["open_bundle"], times["zipfile"], 3.0))
        times = interleaved(
            {
                "verify": lambda: verify_bundle(bundle, trusted),
                "open": lambda: open_bundle(bundle_path),
            },
            number=50,
            repeats=7,
        )
        rows.append(("verify", times["verify"], times["open"], 1.0))
        times = interleaved(
            {
                "scan": lambda: scan_files(files, manifest),
                "parse": lambda: [ast.parse(s) for s in sources],
            },
            number=20,
            repeats=7,
        )
        rows.append(("scan", times["scan"], times["parse"], 3.0))

        registry = Registry(work / "registry")
        registry.register_key("bench", key.public_key)
        publish_many(registry, key, work)
        query = MarketplaceQuery(query="phone", category="validation")
        times = interleaved(
            {
                "search": lambda: search(registry.plugins(), query),
                "load": lambda: registry.plugins(),
            },
            number=5,
            repeats=7,
        )
        rows.append(("search", times["search"], times["load"], 1.5))

    print(f"{'check':<8} {'ours (ms)':>10} {'floor (ms)':>11} {'ratio':>7}")
    for name, ours, floor, _target in rows:
        print(f"{name:<8} {ours * 1e3:>10.3f} {floor * 1e3:>11.3f} {ours / floor:>7.2f}")
    for name, ours, floor, target in rows:
        print(result_line(f"market_{name}", "ratio_vs_floor", ours / floor, "<=", target))


if __name__ == "__main__":
    main()
