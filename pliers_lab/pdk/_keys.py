"""``pliers key``: the author's signing keys, kept in one per-user folder.

A registry only accepts bundles signed by a key registered to the publishing user, and
a store only trusts bundles signed by a key it was told to trust. Without a command to
make and register keys an author had to write Python to publish; these functions are
what ``pliers key create|list|trust|revoke`` run.

The folder is ``--keys DIR``, else ``$PLIERS_KEYS``, else ``$PLIERS_LAB_DATA/.keys``
(a dot folder: plugin data folders there are named after plugins, which never start with
a dot), else ``$XDG_DATA_HOME/pliers_lab/keys`` (``~/.local/share/pliers_lab/keys``).
Each key is ``NAME.pem`` (the private key, mode 0600) and ``NAME.pub`` (its public key).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import PliersError

if TYPE_CHECKING:
    from ..market.signing import PublicKey, SigningKey

__all__ = [
    "KEYS_ENV",
    "KeyProblem",
    "LocalKey",
    "create_key",
    "keys_folder",
    "load_public_key",
    "load_signing_key",
    "local_keys",
]

KEYS_ENV = "PLIERS_KEYS"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class KeyProblem(PliersError):
    """A key that cannot be made, found or read (the message says which command helps)."""


@dataclass(frozen=True)
class LocalKey:
    """A key pair in the keys folder."""

    name: str
    key_id: str
    private: Path
    public: Path


def keys_folder(configured: str | os.PathLike[str] | None = None) -> Path:
    """Where the user's keys live (see the module docstring for the order)."""
    if configured:
        return Path(configured).expanduser()
    env = os.environ.get(KEYS_ENV)
    if env:
        return Path(env).expanduser()
    data = os.environ.get("PLIERS_LAB_DATA")
    if data:
        return Path(data).expanduser() / ".keys"
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return Path(base) / "pliers_lab" / "keys"


def create_key(name: str, folder: str | os.PathLike[str] | None = None) -> LocalKey:
    """A new Ed25519 key pair ``NAME.pem``/``NAME.pub``; an existing key is never replaced
    (every plugin signed with it would be orphaned)."""
    from ..market.signing import SigningKey

    if not NAME.match(name):
        raise KeyProblem(
            f"key name {name!r} is not valid: use letters, digits, '.', '_' and '-' "
            "(your registry user name is a good choice)"
        )
    root = keys_folder(folder)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    private, public = root / f"{name}.pem", root / f"{name}.pub"
    if private.exists() or public.exists():
        raise KeyProblem(f"a key {name!r} exists already in {root}; choose another name")
    key = SigningKey.generate()
    key.save(private)
    key.public_key.save(public)
    return LocalKey(name, key.key_id, private, public)


def local_keys(folder: str | os.PathLike[str] | None = None) -> list[LocalKey]:
    """Every key pair in the keys folder, by name (public halves that do not parse are
    skipped: the folder is the user's, not ours)."""
    from ..market.signing import PublicKey

    root = keys_folder(folder)
    found = []
    for public in sorted(root.glob("*.pub")) if root.is_dir() else []:
        try:
            key = PublicKey.load(public)
        except (OSError, ValueError):
            continue
        found.append(LocalKey(public.stem, key.key_id, public.with_suffix(".pem"), public))
    return found


def _find(ref: str, folder: str | os.PathLike[str] | None) -> LocalKey | None:
    for key in local_keys(folder):
        if ref in (key.name, key.key_id):
            return key
    return None


def load_public_key(
    ref: str, folder: str | os.PathLike[str] | None = None
) -> tuple[PublicKey, str]:
    """The public key ``ref`` names (a key name or id in the keys folder, or a PEM file,
    public or private) and a name for it."""
    from ..market.signing import PublicKey, SigningKey

    local = _find(ref, folder)
    if local is not None:
        return PublicKey.load(local.public), local.name
    path = Path(ref).expanduser()
    if not path.is_file():
        raise KeyProblem(
            f"no key {ref!r}: not a key name or id in {keys_folder(folder)}, nor a file; "
            f"make one with: pliers key create NAME"
        )
    try:
        return PublicKey.load(path), path.stem
    except ValueError:
        pass
    try:
        return SigningKey.load(path).public_key, path.stem
    except ValueError:
        raise KeyProblem(f"{path}: not an Ed25519 key in PEM form") from None


def load_signing_key(
    ref: str, folder: str | os.PathLike[str] | None = None
) -> tuple[SigningKey, str]:
    """The private key ``ref`` names (a key name or id in the keys folder, or a PEM file)
    and a name for it."""
    from ..market.signing import SigningKey

    local = _find(ref, folder)
    path = local.private if local is not None else Path(ref).expanduser()
    name = local.name if local is not None else path.stem
    if not path.is_file():
        raise KeyProblem(
            f"no key {ref!r}: not a key name or id in {keys_folder(folder)}, nor a file; "
            f"make one with: pliers key create {name if NAME.match(name) else 'NAME'}"
        )
    try:
        return SigningKey.load(path), name
    except ValueError as exc:
        raise KeyProblem(f"{exc} (a private Ed25519 key in PEM form is needed)") from None
