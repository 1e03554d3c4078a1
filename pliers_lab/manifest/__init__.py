"""Plugin manifests: the validated ``manifest.json`` of a plugin, and how to load one.

>>> manifest = load_manifest("extensions/webhook")        # doctest: +SKIP
>>> manifest.key, manifest.hooks["form.validate"].priority  # doctest: +SKIP

Everything wrong with a manifest is reported at once as a :class:`ManifestError` whose
``problems`` each carry the file, the field path, a sentence and an optional hint.
"""

from ._load import MANIFEST_FILE, load_manifest, parse_manifest
from ._permissions import Permissions
from .models import Category, CustomHook, Endpoint, HookConfig, Manifest, Recovery
from .problems import ManifestError, ManifestProblem

__all__ = [
    "MANIFEST_FILE",
    "Category",
    "CustomHook",
    "Endpoint",
    "HookConfig",
    "Manifest",
    "ManifestError",
    "ManifestProblem",
    "Permissions",
    "Recovery",
    "load_manifest",
    "parse_manifest",
]
