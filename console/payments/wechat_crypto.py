"""WeChat Pay API v3's signatures and encryption, pure: the messages signed, the
``Authorization`` header, the check of a signed answer or notification, and the
decryption of a notification's resource. No I/O and no clock: callers pass ``now``.

The rules are WeChat Pay's "签名生成", "签名验证" and "证书和回调报文解密" guides:
SHA256 with RSA (PKCS#1 v1.5) over lines each ended by ``\\n``, and AEAD_AES_256_GCM
keyed by the merchant's 32-byte APIv3 key."""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gates.textrules import parse_count

SCHEME = "WECHATPAY2-SHA256-RSA2048"
# WeChat Pay refuses a request whose timestamp is more than five minutes from its clock,
# and its guide asks merchants to refuse answers and notifications the same way: a
# captured message replayed later is then worthless.
MAX_SKEW_S = 300
APIV3_KEY_BYTES = 32
GCM_NONCE_CHARS = 12


def request_message(method: str, url: str, timestamp: int, nonce: str, body: bytes) -> bytes:
    """What a request's signature covers: the method, the URL's path and query (no
    scheme or host), the timestamp in seconds, the nonce and the body exactly as sent
    (empty for a GET), each line ended by ``\\n``."""
    head = f"{method}\n{url}\n{timestamp}\n{nonce}\n".encode()
    return head + body + b"\n"


def answer_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    """What an answer's or a notification's signature covers: the ``Wechatpay-Timestamp``
    and ``Wechatpay-Nonce`` headers and the body as received (empty for a 204)."""
    return f"{timestamp}\n{nonce}\n".encode() + body + b"\n"


def new_nonce() -> str:
    """A request's nonce: 32 upper-case hex digits, as in the guide's examples."""
    return secrets.token_hex(16).upper()


def sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    """The base64 of the RSA PKCS#1 v1.5 SHA-256 signature of ``message``."""
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def verify(key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    """Whether ``signature`` (base64) is ``key``'s over ``message``."""
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


def authorization(mchid: str, serial: str, nonce: str, timestamp: int, signature: str) -> str:
    """The ``Authorization`` header of a signed request, on one line."""
    return (
        f'{SCHEME} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{serial}"'
    )


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a signed answer or notification is not believed: ``code`` as in
    ``console.payments.errors`` and a detail naming what was wrong."""

    code: str
    detail: str


def check_signed(
    headers: Mapping[str, str],
    body: bytes,
    keys: Mapping[str, rsa.RSAPublicKey],
    now: float,
) -> Refusal | None:
    """None when ``body`` is signed by the WeChat Pay key whose serial (certificate serial
    or ``PUB_KEY_ID_…``) the ``Wechatpay-Serial`` header names, at a time within
    ``MAX_SKEW_S`` of ``now``; otherwise why not. Header names are read without regard
    to case, as HTTP has them."""
    lowered = {name.lower(): value for name, value in headers.items()}
    names = ("Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial")
    missing = [name for name in names if not lowered.get(name.lower())]
    if missing:
        return Refusal("missing_signature", f"no {', '.join(missing)} header")
    timestamp, nonce, signature, serial = (lowered[name.lower()] for name in names)
    key = keys.get(serial)
    if key is None:
        return Refusal(
            "unknown_serial",
            f"signed with key {serial!r}, not the WeChat Pay key configured "
            f"({', '.join(sorted(keys))})",
        )
    seconds = parse_count(timestamp)
    if seconds is None:
        return Refusal("stale_timestamp", f"Wechatpay-Timestamp {timestamp!r} is not seconds")
    skew = now - seconds
    if abs(skew) > MAX_SKEW_S:
        return Refusal(
            "stale_timestamp",
            f"signed {skew:+.0f} s from now, beyond the {MAX_SKEW_S} s allowed",
        )
    if not verify(key, answer_message(timestamp, nonce, body), signature):
        return Refusal("bad_signature", f"the signature does not match key {serial!r}")
    return None


class Undecryptable(Exception):
    """The resource does not decrypt: tampered, or another APIv3 key."""


def decrypt(apiv3_key: bytes, nonce: str, associated_data: str, ciphertext: str) -> bytes:
    """A notification's resource in clear. The nonce and associated data are used as
    their UTF-8 bytes, the ciphertext is base64 with GCM's 16-byte tag at its end."""
    try:
        raw = base64.b64decode(ciphertext, validate=True)
        return AESGCM(apiv3_key).decrypt(nonce.encode(), raw, associated_data.encode())
    except (binascii.Error, ValueError, InvalidTag) as exc:
        raise Undecryptable(type(exc).__name__) from None
