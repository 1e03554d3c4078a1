"""Who decides that a plugin may run inline: the host, never the plugin (issue 13 §1).

A plugin's manifest may ask for ``isolation: "inline"``, but asking is all it can do.
``TrustPolicy`` is the host's list of what it trusts — plugin ids, signing keys, folders
— and ``decide_isolation`` is the one place where a plugin's request, where it came from
and the host's choices become the runtime it gets:

1. the host's explicit choice for this plugin wins: ``engine.trust(id)`` (inline), then
   ``Engine.load(path, isolation=...)``;
2. a plugin the policy trusts (its id, the verified key that signed its bundle, or a
   trusted folder holding it) runs where its manifest asks, else the engine's default;
3. an untrusted plugin from a bundle (marketplace install, HTTP upload or path install)
   always runs in ``process``: an engine's inline default never extends to third parties;
4. an untrusted local plugin (a folder the host's code or user named) follows the
   engine's default, or ``process`` if its manifest asks for it; asking for ``inline``
   while the default is ``process`` does not get it.

A refused ``inline`` request is not an error: the plugin runs sandboxed anyway, and the
warning (on the plugin record, its log, the activity feed, the lab and the HTTP API)
says how to trust it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["ORIGINS", "Placement", "TrustPolicy", "decide_isolation", "refused_inline"]

#: Where a plugin folder came from: ``local`` (the host named it) or ``bundle`` (a
#: marketplace install, an HTTP upload or an HTTP path install: third-party code).
ORIGINS = ("local", "bundle")
Origin = Literal["local", "bundle"]

_KEY_ID = re.compile(r"^[0-9a-f]{16}$")


def _key_id(key: Any) -> str:
    """A 16-hex key id from a string or a key object (``PublicKey``, ``SigningKey``)."""
    raw = getattr(key, "key_id", key)
    text = str(raw).strip().lower()
    if not _KEY_ID.match(text):
        raise ValueError(
            f"TrustPolicy(keys=...): {raw!r} is not a key id (16 hex digits, as "
            "PublicKey.key_id and signature.json's keyId)"
        )
    return text


@dataclass(frozen=True, init=False)
class TrustPolicy:
    """What the host trusts to run where its manifest asks (inline included).

    Immutable and picklable (Dask ships it to replay workers). Empty by default: nothing
    is trusted.
    """

    plugins: frozenset[str]
    """Plugin ids (manifest ``name``) the host trusts, wherever they come from."""
    keys: frozenset[str]
    """Signing key ids (16 hex digits) whose verified bundles the host trusts. The
    caller that verified the signature (the marketplace) tells the engine the key id;
    the engine never takes it from the plugin."""
    folders: tuple[Path, ...]
    """Local folders whose plugins are trusted: a plugin whose folder, with symlinks
    resolved, lies under one of them (resolved when the policy is made)."""

    def __init__(
        self,
        plugins: Iterable[str] = frozenset(),
        keys: Iterable[Any] = frozenset(),
        folders: Iterable[str | Path] = (),
    ) -> None:
        if isinstance(plugins, str):
            plugins = (plugins,)
        object.__setattr__(self, "plugins", frozenset(plugins))
        if isinstance(keys, str):
            keys = (keys,)
        object.__setattr__(self, "keys", frozenset(_key_id(k) for k in keys))
        if isinstance(folders, str | Path):
            folders = (folders,)
        resolved = tuple(dict.fromkeys(Path(f).expanduser().resolve() for f in folders))
        object.__setattr__(self, "folders", resolved)

    def reason(
        self,
        plugin_id: str,
        *,
        root: str | Path | None = None,
        signer: str | None = None,
    ) -> str | None:
        """Why the plugin is trusted (``"trusted id"``, ``"signed by trusted key …"``,
        ``"under trusted folder …"``), or None.

        ``signer`` is the key id of a signature the caller has verified; ``root`` the
        plugin's folder.
        """
        if plugin_id in self.plugins:
            return "trusted id"
        if signer is not None and signer.lower() in self.keys:
            return f"signed by trusted key {signer.lower()}"
        if root is not None and self.folders:
            where = Path(root).resolve()
            for folder in self.folders:
                if where.is_relative_to(folder):
                    return f"under trusted folder {folder}"
        return None

    def with_plugins(self, *plugin_ids: str) -> TrustPolicy:
        """This policy with more trusted plugin ids."""
        return TrustPolicy(self.plugins | set(plugin_ids), self.keys, self.folders)

    def __bool__(self) -> bool:
        return bool(self.plugins or self.keys or self.folders)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one plugin runs and why (``decide_isolation``'s answer)."""

    isolation: str
    """The runtime: ``inline``, ``process`` (or another registered runtime's name)."""
    reason: str
    """Why it runs there, in a phrase (``"untrusted bundle: always sandboxed"``)."""
    trust: str | None = None
    """Why the host trusts it, or None."""
    warning: str | None = None
    """Set when the plugin asked for ``inline`` and did not get it."""
    origin: str = "local"
    """Where its folder came from (``ORIGINS``)."""
    signer: str | None = None
    """The verified signing key id of its bundle, if any."""


def refused_inline(plugin_id: str, origin: str, signer: str | None) -> str:
    """The warning of a plugin whose ``inline`` request the host did not grant."""
    if origin == "bundle":
        source = (
            f"its bundle is signed by key {signer}, which TrustPolicy.keys does not list"
            if signer
            else "its bundle is not signed by a verified, trusted key"
        )
    else:
        source = "its id is not trusted and its folder is not under a trusted folder"
    return (
        f'plugin {plugin_id!r} asks to run inline (manifest.json: isolation: "inline"), but '
        f"the host has not trusted it ({source}), so it runs sandboxed (process isolation). "
        f"To run it inline, trust it: Engine(trust=TrustPolicy(plugins={{{plugin_id!r}}})) "
        f"or engine.trust({plugin_id!r}) before loading, a trusted signing key "
        "(TrustPolicy(keys=...)) or a trusted folder (TrustPolicy(folders=...)); on the "
        f"command line, --trust {plugin_id} or --trust-folder DIR."
    )


def decide_isolation(
    plugin_id: str,
    *,
    asked: str | None,
    default: str,
    policy: TrustPolicy,
    origin: str = "local",
    signer: str | None = None,
    root: str | Path | None = None,
    chosen: str | None = None,
    forced_inline: bool = False,
) -> Placement:
    """The runtime a plugin gets (the module docstring's rule).

    Args:
        asked: the manifest's ``isolation`` (None: no request).
        default: the engine's ``default_isolation``.
        origin: ``local`` or ``bundle`` (see ``ORIGINS``).
        signer: the verified signing key id of a bundle, if any.
        root: the plugin's folder (for trusted folders).
        chosen: the host's choice for this plugin (``Engine.load(isolation=...)``).
        forced_inline: ``engine.trust(plugin_id)`` was called.
    """
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {', '.join(ORIGINS)}, got {origin!r}")
    trust = policy.reason(plugin_id, root=root, signer=signer)

    def place(isolation: str, reason: str, warning: str | None = None) -> Placement:
        return Placement(isolation, reason, trust, warning, origin, signer)

    if forced_inline:
        trust = "trusted by engine.trust"
        return place("inline", "the host trusted it (engine.trust)")
    if chosen is not None:
        return place(chosen, f"the host chose {chosen} (load(isolation={chosen!r}))")
    if trust is not None:
        if asked is not None:
            return place(asked, f"trusted ({trust}); its manifest asks for {asked}")
        return place(default, f"trusted ({trust}); the engine's default")
    refused = (
        refused_inline(plugin_id, origin, signer)
        if asked == "inline" and (origin == "bundle" or default != "inline")
        else None
    )
    if origin == "bundle":
        return place("process", "untrusted bundle: always sandboxed", refused)
    if asked == "process":
        return place("process", "its manifest asks for process")
    if refused is not None:
        return place("process", "untrusted: its inline request is refused", refused)
    return place(default, f"the engine's default ({default})")
