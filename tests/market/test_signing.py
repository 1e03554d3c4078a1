"""Ed25519 keys and bundle signatures: verified, unsigned, untrusted and invalid."""

from __future__ import annotations

import base64
import json
import stat
import zipfile
from pathlib import Path

import pytest

from pliers_lab.market import (
    PublicKey,
    SignatureError,
    SigningKey,
    build_bundle,
    open_bundle,
    sign_bundle,
    verify_bundle,
)
from pliers_lab.market._package import SIGNATURE_FILE, rewrite_metadata
from pliers_lab.market.signing import signed_message

from .conftest import EXTENSIONS


@pytest.fixture
def signed(dist: Path, key: SigningKey) -> Path:
    return build_bundle(EXTENSIONS / "csv-export", dist, signing_key=key, signer="ann")


def doc_of(path: Path) -> dict:
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read(SIGNATURE_FILE))


def with_doc(path: Path, doc: dict) -> Path:
    rewrite_metadata(path, {SIGNATURE_FILE: json.dumps(doc).encode()})
    return path


def test_keys_save_and_load_as_private_pem(tmp_path: Path, key: SigningKey) -> None:
    file = key.save(tmp_path / "ann.pem")
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert file.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert SigningKey.load(file).key_id == key.key_id
    with pytest.raises(FileExistsError):
        key.save(file)
    key.save(file, overwrite=True)
    locked = key.save(tmp_path / "locked.pem", password=b"s3cret")
    assert "ENCRYPTED" in locked.read_text()
    assert SigningKey.load(locked, password=b"s3cret").key_id == key.key_id
    with pytest.raises(ValueError, match="cannot read the private key"):
        SigningKey.load(locked, password=b"wrong")


def test_public_keys_round_trip_and_name_themselves(tmp_path: Path, key: SigningKey) -> None:
    public = PublicKey.load(key.public_key.save(tmp_path / "ann.pub"))
    assert public == key.public_key and hash(public) == hash(key.public_key)
    assert len(public.key_id) == 16 and int(public.key_id, 16) >= 0
    assert public.verify(key.sign(b"hello"), b"hello")
    assert not public.verify(key.sign(b"hello"), b"hellO")
    with pytest.raises(ValueError, match="not a PEM public key"):
        PublicKey.from_pem("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")


def test_a_rsa_key_is_not_an_ed25519_key(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError, match="not an Ed25519 key"):
        PublicKey.from_pem(pem)


def test_a_bundle_signed_by_a_trusted_key_verifies(signed: Path, key: SigningKey) -> None:
    result = verify_bundle(open_bundle(signed), [key.public_key])
    assert result.valid and result.status == "verified"
    assert result.key_id == key.key_id and result.signer == "ann"
    assert result.to_dict()["valid"] is True
    result.require()


def test_the_signature_covers_name_version_and_checksum(signed: Path, key: SigningKey) -> None:
    bundle = open_bundle(signed)
    doc = doc_of(signed)
    message = signed_message("csv-export", "1.0.0", bundle.checksum)
    assert message == f"pliers-bundle-v1\ncsv-export@1.0.0\n{bundle.checksum}\n".encode()
    assert key.public_key.verify(base64.b64decode(doc["signature"]), message)
    assert doc["plugin"] == "csv-export@1.0.0" and doc["algorithm"] == "ed25519"


def test_unsigned_and_untrusted_bundles_need_explicit_consent(
    dist: Path, signed: Path, key: SigningKey, other_key: SigningKey
) -> None:
    plain = open_bundle(build_bundle(EXTENSIONS / "audit-log", dist))
    unsigned = verify_bundle(plain, [key.public_key])
    assert unsigned.status == "unsigned" and not unsigned.signed
    with pytest.raises(SignatureError, match="is not signed; pass allow_unsigned=True"):
        unsigned.require(plugin_id="audit-log")
    unsigned.require(allow_unsigned=True)
    untrusted = verify_bundle(open_bundle(signed), [other_key.public_key])
    assert untrusted.status == "untrusted"
    assert f"signed by key {key.key_id} (ann), which is not trusted here" == untrusted.reason
    with pytest.raises(SignatureError, match="not trusted here"):
        untrusted.require()
    untrusted.require(allow_unsigned=True)


def test_a_signature_by_another_key_than_it_names_is_invalid(
    signed: Path, key: SigningKey, other_key: SigningKey
) -> None:
    doc = doc_of(signed)
    forged = base64.b64encode(
        other_key.sign(signed_message("csv-export", "1.0.0", doc["checksum"]))
    )
    doc["signature"] = forged.decode()
    bundle = open_bundle(with_doc(signed, doc))
    result = verify_bundle(bundle, [key.public_key])
    assert result.status == "invalid"
    assert "does not verify with trusted key" in result.reason
    with pytest.raises(SignatureError, match="forged or tampered"):
        result.require(allow_unsigned=True)  # never allowed, whatever the flag
    assert verify_bundle(bundle, []).status == "invalid"  # its own embedded key refutes it too


def test_an_embedded_key_that_is_not_the_named_one_is_invalid(
    signed: Path, other_key: SigningKey
) -> None:
    doc = doc_of(signed)
    doc["publicKey"] = other_key.public_key.pem
    result = verify_bundle(open_bundle(with_doc(signed, doc)), [])
    assert result.status == "invalid" and "embedded public key" in result.reason


def test_a_signature_moved_to_another_bundle_is_invalid(
    dist: Path, signed: Path, key: SigningKey
) -> None:
    other = build_bundle(EXTENSIONS / "audit-log", dist)
    rewrite_metadata(other, {SIGNATURE_FILE: json.dumps(doc_of(signed)).encode()})
    result = verify_bundle(open_bundle(other), [key.public_key])
    assert result.status == "invalid"
    assert "is for csv-export@1.0.0" in result.reason and "audit-log@1.0.0" in result.reason


def test_content_changed_and_metadata_recomputed_breaks_the_signature(
    signed: Path, key: SigningKey, tmp_path: Path
) -> None:
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(signed) as src, zipfile.ZipFile(tampered, "w") as dst:
        for info in src.infolist():
            if not info.filename.startswith(".pliers/"):
                data = src.read(info)
                dst.writestr(
                    info.filename, data + b"\n# evil" if info.filename == "plugin.py" else data
                )
    doc = doc_of(signed)
    sign_bundle(tampered, SigningKey.generate())  # writes fresh package.json (new checksum)
    rewrite_metadata(tampered, {SIGNATURE_FILE: json.dumps(doc).encode()})  # old signature back
    result = verify_bundle(open_bundle(tampered), [key.public_key])
    assert result.status == "invalid" and "changed after signing" in result.reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d.update(format="v0"), "not a pliers-signature-v1 document"),
        (lambda d: d.update(algorithm="rsa"), "unsupported algorithm 'rsa'"),
        (lambda d: d.update(signature="***"), "malformed signature document"),
        (lambda d: d.pop("keyId"), "malformed signature document"),
    ],
)
def test_malformed_signature_documents_are_invalid(signed, key, change, reason) -> None:
    doc = doc_of(signed)
    change(doc)
    result = verify_bundle(open_bundle(with_doc(signed, doc)), [key.public_key])
    assert result.status == "invalid" and reason in result.reason


def test_sign_bundle_signs_a_plain_zip_and_re_signs(dist: Path, key, other_key) -> None:
    plain = build_bundle(EXTENSIONS / "audit-log", dist)
    sign_bundle(plain, key, signer="ann")
    assert verify_bundle(open_bundle(plain), [key.public_key]).valid
    sign_bundle(plain, other_key)
    assert verify_bundle(open_bundle(plain), [key.public_key]).status == "untrusted"
    assert verify_bundle(open_bundle(plain), [other_key.public_key]).valid
