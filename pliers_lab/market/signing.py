"""Ed25519 signatures of plugin bundles (spec: Plugin Verification, ``verifySignature``).

What is signed is the line-based message::

    pliers-bundle-v1
    <name>@<version>
    sha256:<checksum of the file listing>

The checksum covers every file of the plugin (see ``package``), and the name and version
bind the signature to this plugin: a valid signature cannot be moved to another plugin or
version, and a changed byte anywhere breaks it. The signature travels inside the bundle as
``.pliers/signature.json``::

    {"format": "pliers-signature-v1", "algorithm": "ed25519", "keyId": "<16 hex>",
     "publicKey": "<PEM>", "signer": "alice", "signedAt": "...",
     "plugin": "<name>@<version>", "checksum": "sha256:...", "signature": "<base64>"}

The embedded public key is a convenience (it says who signed, and lets a verifier tell a
well-formed signature by an unknown key from a forgery); trust never comes from it. A
bundle is *verified* only when its key id is among the verifier's trusted keys and the
signature checks with that trusted key.

A key id is the first 16 hex digits of SHA-256 over the raw 32-byte public key.
``cryptography`` is imported only when a key is used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .refusals import SignatureError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    from ._package import PackageMetadata
    from .bundle import Bundle

__all__ = [
    "SIGNATURE_FORMAT",
    "PublicKey",
    "SigningKey",
    "VerificationResult",
    "sign_bundle",
    "signature_document",
    "signed_message",
    "verify_bundle",
]

SIGNATURE_FORMAT = "pliers-signature-v1"
Status = Literal["verified", "unsigned", "untrusted", "invalid"]


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:  # pragma: no cover - a dependency of pliers_lab
        raise ImportError(
            "bundle signatures need the 'cryptography' package: pip install cryptography"
        ) from exc
    return serialization, ed25519


def _key_id(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:16]


class PublicKey:
    """An Ed25519 public key: verifies signatures; ``key_id`` names it."""

    __slots__ = ("_key", "key_id", "pem")

    def __init__(self, key: Ed25519PublicKey) -> None:
        serialization, _ = _crypto()
        self._key = key
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = _key_id(raw)
        self.pem: str = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def __repr__(self) -> str:
        return f"PublicKey({self.key_id})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.key_id == self.key_id

    def __hash__(self) -> int:
        return hash(self.key_id)

    @classmethod
    def from_pem(cls, pem: str | bytes) -> PublicKey:
        """Parse a PEM public key; ``ValueError`` if it is not an Ed25519 one."""
        serialization, ed25519 = _crypto()
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not a PEM public key: {exc}") from None
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise ValueError(f"not an Ed25519 key ({type(key).__name__})")
        return cls(key)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PublicKey:
        return cls.from_pem(Path(path).read_bytes())

    def save(self, path: str | os.PathLike[str]) -> Path:
        target = Path(path)
        target.write_text(self.pem)
        return target

    def verify(self, signature: bytes, message: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


class SigningKey:
    """An Ed25519 private key: signs bundles. Keep its file private (saved as 0600)."""

    __slots__ = ("_key", "public_key")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key = PublicKey(key.public_key())

    def __repr__(self) -> str:
        return f"SigningKey({self.key_id})"

    @property
    def key_id(self) -> str:
        return self.public_key.key_id

    @classmethod
    def generate(cls) -> SigningKey:
        _, ed25519 = _crypto()
        return cls(ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: str | os.PathLike[str], password: bytes | None = None) -> SigningKey:
        """Read a PEM (PKCS#8) key file; ``ValueError`` for a wrong password or key type."""
        serialization, ed25519 = _crypto()
        data = Path(path).read_bytes()
        try:
            key = serialization.load_pem_private_key(data, password=password)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: cannot read the private key: {exc}") from None
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise ValueError(f"{path}: not an Ed25519 key ({type(key).__name__})")
        return cls(key)

    def save(
        self,
        path: str | os.PathLike[str],
        *,
        password: bytes | None = None,
        overwrite: bool = False,
    ) -> Path:
        """Write the key as PEM (PKCS#8, encrypted with ``password`` if given), mode 0600.

        An existing file is kept unless ``overwrite``: losing a signing key by a typo
        would orphan every plugin signed with it.
        """
        serialization, _ = _crypto()
        encryption = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        pem = self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
        target = Path(path)
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
        fd = os.open(target, flags, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        return target

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


def signed_message(name: str, version: str, checksum: str) -> bytes:
    """The exact bytes a bundle signature covers (see the module docstring)."""
    return f"pliers-bundle-v1\n{name}@{version}\n{checksum}\n".encode()


def signature_document(
    metadata: PackageMetadata, key: SigningKey, signer: str | None = None
) -> dict[str, Any]:
    """The ``.pliers/signature.json`` content for a bundle with ``metadata``."""
    message = signed_message(metadata.name, metadata.version, metadata.checksum)
    return {
        "format": SIGNATURE_FORMAT,
        "algorithm": "ed25519",
        "keyId": key.key_id,
        "publicKey": key.public_key.pem,
        "signer": signer,
        "signedAt": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "plugin": metadata.key,
        "checksum": metadata.checksum,
        "signature": base64.b64encode(key.sign(message)).decode(),
    }


def sign_bundle(
    path: str | os.PathLike[str], key: SigningKey, *, signer: str | None = None
) -> Path:
    """Sign (or re-sign) the bundle at ``path`` in place; returns the path.

    The bundle is opened and checked first, so a corrupt or tampered bundle is never
    signed (``BundleError``); a plain zip gets its ``package.json`` written too.
    """
    from ._package import PACKAGE_FILE, SIGNATURE_FILE, _json_bytes, rewrite_metadata
    from .bundle import open_bundle

    bundle = open_bundle(path)
    document = signature_document(bundle.metadata, key, signer)
    rewrite_metadata(
        bundle.path,
        {
            PACKAGE_FILE: _json_bytes(bundle.metadata.to_dict()),
            SIGNATURE_FILE: _json_bytes(document),
        },
    )
    return bundle.path


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """The spec's ``VerificationResult``.

    ``status`` is ``verified`` (a trusted key signed exactly this bundle), ``unsigned``,
    ``untrusted`` (a well-formed signature by a key the verifier does not trust) or
    ``invalid`` (tampered, forged, made by another key than it names, or malformed);
    ``reason`` says it in a sentence.
    """

    status: Status
    reason: str
    key_id: str | None = None
    signer: str | None = None

    @property
    def valid(self) -> bool:
        return self.status == "verified"

    @property
    def signed(self) -> bool:
        return self.status != "unsigned"

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "status": self.status,
            "keyId": self.key_id,
            "signer": self.signer,
            "reason": self.reason,
        }

    def require(self, *, allow_unsigned: bool = False, plugin_id: str | None = None) -> None:
        """Raise ``SignatureError`` unless verified, or (with ``allow_unsigned``) at least
        not invalid: unsigned and untrusted bundles pass only when explicitly allowed."""
        if self.valid or (allow_unsigned and self.status in ("unsigned", "untrusted")):
            return
        hint = (
            "; pass allow_unsigned=True to install it anyway"
            if self.status in ("unsigned", "untrusted")
            else ""
        )
        raise SignatureError(
            f"{plugin_id or 'bundle'}: {self.reason}{hint}",
            plugin_id=plugin_id,
            details={"verification": self.to_dict()},
        )


def _trusted_map(trusted: Mapping[str, PublicKey] | Iterable[PublicKey]) -> dict[str, PublicKey]:
    if isinstance(trusted, Mapping):
        return dict(trusted)
    return {key.key_id: key for key in trusted}


def verify_bundle(
    bundle: Bundle, trusted: Mapping[str, PublicKey] | Iterable[PublicKey] = ()
) -> VerificationResult:
    """Check ``bundle``'s signature against the ``trusted`` keys (see ``VerificationResult``)."""
    if bundle.signature_bytes is None:
        return VerificationResult("unsigned", f"{bundle.metadata.key} is not signed")
    try:
        doc = json.loads(bundle.signature_bytes)
        if not isinstance(doc, dict) or doc.get("format") != SIGNATURE_FORMAT:
            raise ValueError(f"not a {SIGNATURE_FORMAT} document")
        if doc.get("algorithm") != "ed25519":
            raise ValueError(f"unsupported algorithm {doc.get('algorithm')!r}")
        key_id = str(doc["keyId"])
        signature = base64.b64decode(str(doc["signature"]), validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        return VerificationResult("invalid", f"malformed signature document: {exc}")
    signer = doc.get("signer") if isinstance(doc.get("signer"), str) else None
    meta = bundle.metadata

    def invalid(reason: str) -> VerificationResult:
        return VerificationResult("invalid", reason, key_id, signer)

    if doc.get("plugin") != meta.key or doc.get("checksum") != meta.checksum:
        return invalid(
            f"the signature is for {doc.get('plugin')} {doc.get('checksum')}, not for "
            f"{meta.key} {meta.checksum} (the bundle was changed after signing)"
        )
    message = signed_message(meta.name, meta.version, meta.checksum)
    key = _trusted_map(trusted).get(key_id)
    if key is not None:
        if key.verify(signature, message):
            return VerificationResult("verified", f"signed by trusted key {key_id}", key_id, signer)
        return invalid(
            f"the signature does not verify with trusted key {key_id} (forged or tampered)"
        )
    try:
        embedded = PublicKey.from_pem(str(doc.get("publicKey", "")))
    except ValueError:
        return invalid(f"signed by unknown key {key_id} and carries no usable public key")
    if embedded.key_id != key_id:
        return invalid(f"the embedded public key is {embedded.key_id}, not the named {key_id}")
    if not embedded.verify(signature, message):
        return invalid(f"the signature does not verify with its own key {key_id} (forged)")
    who = f" ({signer})" if signer else ""
    return VerificationResult(
        "untrusted", f"signed by key {key_id}{who}, which is not trusted here", key_id, signer
    )
