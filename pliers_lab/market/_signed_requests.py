"""Requests a publisher signs with its Ed25519 key: how the registry service knows who
publishes or rates (issue 19 §1).

The registry holds publishers' *public* keys (``Registry.register_key(user, key)``, on
the registry's machine: ``pliers key trust KEY --registry DIR --user U``); no shared
secret, no password, no token to leak. A write request carries::

    Authorization: Pliers-Ed25519 user="ann", keyId="<16 hex>", timestamp="<unix s>",
                   nonce="<32 hex>", signature="<base64>"

and the signature covers these lines (UTF-8, each ending in a newline)::

    pliers-registry-request-v1
    <METHOD>
    <path, percent-decoded, as the server routes it>
    <query string, exactly as sent>
    <user>
    <keyId>
    <timestamp>
    <nonce>
    sha256:<hex digest of the body>

So a signature is good for one method, path, query and body, by one user's key, within
``MAX_SKEW_S`` of the registry's clock, once (the service remembers nonces for that
long). A publish is checked twice: the request is the registered user's, and the
bundle inside is signed by a key registered to that same user (``Registry.publish``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .signing import PublicKey, SigningKey

__all__ = [
    "MAX_SKEW_S",
    "SCHEME",
    "AuthProblem",
    "NonceCache",
    "SignedRequest",
    "parse_authorization",
    "request_message",
    "sign_request",
    "verify_identity",
    "verify_signature",
]

SCHEME = "Pliers-Ed25519"
MAX_SKEW_S = 300
_PARAM = re.compile(r'\s*([A-Za-z]+)="([^"]*)"\s*(?:,|$)')
_FIELDS = ("user", "keyId", "timestamp", "nonce", "signature")
MAX_HEADER = 2048


class AuthProblem(ValueError):
    """Why a request's signature is refused: ``status`` 401 (who are you?) or 403 (you
    may not), and the sentence to answer with."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class SignedRequest:
    user: str
    key_id: str
    timestamp: int
    nonce: str
    signature: bytes


def request_message(
    method: str,
    path: str,
    query: str,
    body_sha256: str,
    user: str,
    key_id: str,
    timestamp: int,
    nonce: str,
) -> bytes:
    """The exact bytes a request signature covers (see the module docstring)."""
    lines = [
        "pliers-registry-request-v1",
        method.upper(),
        path,
        query,
        user,
        key_id,
        str(timestamp),
        nonce,
        f"sha256:{body_sha256}",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def sign_request(
    method: str,
    path: str,
    query: str,
    body: bytes,
    *,
    user: str,
    key: SigningKey,
    now: float | None = None,
) -> str:
    """The ``Authorization`` header value of a request (see the module docstring)."""
    if '"' in user or "\n" in user:
        raise ValueError(f"a registry user name cannot hold quotes or newlines: {user!r}")
    timestamp = int(time.time() if now is None else now)
    nonce = secrets.token_hex(16)
    message = request_message(
        method, path, query, hashlib.sha256(body).hexdigest(), user, key.key_id, timestamp, nonce
    )
    signature = base64.b64encode(key.sign(message)).decode()
    return (
        f'{SCHEME} user="{user}", keyId="{key.key_id}", timestamp="{timestamp}", '
        f'nonce="{nonce}", signature="{signature}"'
    )


def parse_authorization(header: str | None) -> SignedRequest:
    """The fields of an ``Authorization`` header; ``AuthProblem`` (401) says what is wrong."""
    if not header:
        raise AuthProblem(
            f"this request must be signed by a registered publisher key ({SCHEME}: see "
            "RemoteRegistry(url, user=..., key=...) or pliers publish --registry URL)"
        )
    if len(header) > MAX_HEADER:
        raise AuthProblem(f"the Authorization header is longer than {MAX_HEADER} characters")
    scheme, _, rest = header.partition(" ")
    if scheme != SCHEME:
        raise AuthProblem(
            f"unsupported authorization scheme {scheme[:40]!r}; the registry takes {SCHEME}"
        )
    fields: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if match is None or match.end() == position:
            raise AuthProblem(f"malformed {SCHEME} header near {rest[position : position + 30]!r}")
        fields[match.group(1)] = match.group(2)
        position = match.end()
    missing = [f for f in _FIELDS if f not in fields]
    if missing:
        raise AuthProblem(f"the {SCHEME} header lacks {', '.join(missing)}")
    try:
        timestamp = int(fields["timestamp"])
        signature = base64.b64decode(fields["signature"], validate=True)
    except (ValueError, binascii.Error):
        raise AuthProblem("the timestamp must be an integer and the signature base64") from None
    if not re.fullmatch(r"[0-9a-f]{16}", fields["keyId"]):
        raise AuthProblem("keyId must be 16 hexadecimal digits")
    if not re.fullmatch(r"[0-9a-f]{16,64}", fields["nonce"]):
        raise AuthProblem("nonce must be 16 to 64 hexadecimal digits")
    if not fields["user"] or len(fields["user"]) > 200:
        raise AuthProblem("user must be 1 to 200 characters")
    return SignedRequest(fields["user"], fields["keyId"], timestamp, fields["nonce"], signature)


class NonceCache:
    """Nonces seen in the last ``ttl_s`` seconds (a replayed request is refused)."""

    def __init__(self, ttl_s: float = 2 * MAX_SKEW_S, max_entries: int = 100_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_use(self, nonce: str, now: float | None = None) -> bool:
        moment = time.monotonic() if now is None else now
        with self._lock:
            if len(self._seen) >= self.max_entries:
                self._seen = {n: t for n, t in self._seen.items() if t > moment}
            if self._seen.get(nonce, 0.0) > moment:
                return False
            self._seen[nonce] = moment + self.ttl_s
            return True


def verify_identity(
    request: SignedRequest,
    *,
    key: PublicKey | None,
    key_owner: str | None,
    now: float | None = None,
) -> None:
    """What can be checked before the body is read: the clock, and that the key id is
    registered to the user (``key`` and ``key_owner`` are what the registry holds under
    the request's key id, None if nothing). ``AuthProblem`` says why not."""
    moment = time.time() if now is None else now
    skew = abs(moment - request.timestamp)
    if skew > MAX_SKEW_S:
        raise AuthProblem(
            f"the request was signed at {request.timestamp}, {skew:.0f} s from the "
            f"registry's clock (at most {MAX_SKEW_S} s): check the clock, then sign again"
        )
    if key is None or key_owner is None:
        raise AuthProblem(
            f"key {request.key_id} is not registered with this registry; its operator "
            f"registers it: pliers key trust KEY.pem --registry DIR --user {request.user}"
        )
    if key_owner != request.user:
        raise AuthProblem(
            f"key {request.key_id} is registered to {key_owner!r}, not {request.user!r}",
            status=403,
        )


def verify_signature(
    request: SignedRequest,
    *,
    method: str,
    path: str,
    query: str,
    body_sha256: str,
    key: PublicKey,
    nonces: NonceCache,
) -> str:
    """The user, once the signature verifies over this method, path, query and body
    and its nonce is new; ``AuthProblem`` otherwise."""
    message = request_message(
        method,
        path,
        query,
        body_sha256,
        request.user,
        request.key_id,
        request.timestamp,
        request.nonce,
    )
    if not key.verify(request.signature, message):
        raise AuthProblem(
            f"the request signature does not verify with key {request.key_id} (signed for "
            "another method, path, query or body, or not by that key)"
        )
    if not nonces.first_use(request.nonce):
        raise AuthProblem("this signed request was already used (a replay); sign it again")
    return request.user
