"""Manifest fixtures: a minimal and a full valid manifest, and plugin folders on disk."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

MINIMAL: dict[str, Any] = {
    "name": "advanced-validation",
    "version": "1.0.0",
    "description": "Validates phone numbers, cards and e-mails",
    "author": "Plugin Developer <dev@example.com>",
    "license": "MIT",
    "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
}

FULL: dict[str, Any] = {
    **MINIMAL,
    "main": "plugin.py",
    "keywords": ["form", "validation"],
    "categories": ["form-processing", "validation"],
    "permissions": {
        "database": ["read"],
        "network": {"outbound": ["api.example.com:443"], "inbound": True},
        "events": ["subscribe", "publish"],
    },
    "customHooks": {"validation.phone": {"mode": "validate", "description": "Phone checks"}},
    "hooks": {
        "form.validate": {"priority": 200, "async": False, "timeout": 5000},
        "submission.beforeValidate": {"priority": 150, "retries": 2, "handler": "check"},
        "validation.phone": {},
    },
    "dependencies": {"phone-lib": "^1.10.0"},
    "peerDependencies": {"pliers-core": "^3.0.0"},
    "optionalDependencies": {"card-validator": "^2.0.0"},
    "configuration": {"schema": "config-schema.json", "default": "config-default.json"},
    "api": {
        "endpoints": [
            {
                "path": "/plugins/webhook/receive/:webhookId",
                "method": "POST",
                "handler": "receive",
                "middleware": ["verify_signature"],
                "validation": {"body": {"type": "object"}},
                "rateLimit": {"requests": 100, "window": 60},
                "auth": {"required": False},
            },
            {
                "path": "/plugins/webhook/list",
                "method": "GET",
                "handler": "list_hooks",
                "auth": {"required": True, "roles": ["admin"]},
            },
        ]
    },
    "requirements": ["phonenumbers>=8.13", "requests[socks]>=2; python_version >= '3.11'"],
    "isolation": "process",
    "recovery": {
        "strategy": "fallback",
        "fallbackPlugin": "basic-validation",
        "maxRetries": 2,
        "backoffStrategy": "linear",
        "backoffMs": 250,
        "circuitBreaker": {"threshold": 3, "resetAfterMs": 60000},
    },
}


@pytest.fixture(scope="session")
def minimal() -> Callable[..., dict[str, Any]]:
    """A fresh minimal valid manifest dict, with top-level keys overridden."""
    return lambda **override: {**copy.deepcopy(MINIMAL), **override}


@pytest.fixture(scope="session")
def full() -> Callable[..., dict[str, Any]]:
    """A fresh valid manifest dict that uses every field."""
    return lambda **override: {**copy.deepcopy(FULL), **override}


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Callable[..., Path]:
    """Write a plugin folder: manifest (dict, str or bytes) plus files (name → text)."""

    def make(manifest: dict[str, Any] | str | bytes, files: dict[str, str] | None = None) -> Path:
        folder = tmp_path / "plugin"
        folder.mkdir(exist_ok=True)
        if isinstance(manifest, dict):
            manifest = json.dumps(manifest, indent=2)
        if isinstance(manifest, str):
            manifest = manifest.encode()
        (folder / "manifest.json").write_bytes(manifest)
        for name, text in (files or {}).items():
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        return folder

    return make
