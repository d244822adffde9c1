"""The merchant's WeChat Pay account, read from ``SEAT_WECHAT_*`` (the README's
configuration table) and its key files loaded at start, so a wrong path or key stops the
centre with the variable named instead of failing the first driver who pays."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gates.textrules import parse_count

from .wechat_crypto import APIV3_KEY_BYTES

BASE_URL = "https://api.mch.weixin.qq.com"
# The only plain-HTTP base allowed is this machine's: a WeChat Pay emulator in tests.
LOOPBACK = ("127.0.0.1", "localhost", "::1")
REQUIRED = (
    "SEAT_WECHAT_MCHID",
    "SEAT_WECHAT_APPID",
    "SEAT_WECHAT_SERIAL",
    "SEAT_WECHAT_PRIVATE_KEY",
    "SEAT_WECHAT_APIV3_KEY",
    "SEAT_WECHAT_PLATFORM_KEY",
)
# WeChat Pay's RSA keys are 2048 bits, as its scheme's name (…-RSA2048) says.
MIN_RSA_BITS = 2048


@dataclass(frozen=True, slots=True)
class WeChatSettings:
    """``platform_keys`` maps a ``Wechatpay-Serial`` (a platform certificate's serial, or
    a WeChat Pay public key's ``PUB_KEY_ID_…``) to the key that signs with it."""

    mchid: str
    appid: str
    serial: str
    private_key: rsa.RSAPrivateKey = field(repr=False)
    apiv3_key: bytes = field(repr=False)
    platform_keys: Mapping[str, rsa.RSAPublicKey] = field(repr=False)
    base_url: str = BASE_URL
    timeout_s: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> WeChatSettings | None:
        """None when no ``SEAT_WECHAT_*`` variable is set (WeChat Pay is off); otherwise
        every required one must be, and ``ValueError`` names the first that is wrong."""
        if not any(name.startswith("SEAT_WECHAT_") and value for name, value in env.items()):
            return None
        missing = [name for name in REQUIRED if not env.get(name)]
        if missing:
            raise ValueError(f"WeChat Pay is half configured: set {', '.join(missing)}")
        mchid = env["SEAT_WECHAT_MCHID"]
        if parse_count(mchid) is None:
            raise ValueError(
                f"SEAT_WECHAT_MCHID must be the merchant number's digits, not {mchid!r}"
            )
        serial = env["SEAT_WECHAT_SERIAL"]
        if not re.fullmatch(r"[0-9A-Fa-f]{8,64}", serial):
            raise ValueError(
                "SEAT_WECHAT_SERIAL must be the merchant API certificate's serial in hex"
            )
        apiv3_key = env["SEAT_WECHAT_APIV3_KEY"].encode()
        if len(apiv3_key) != APIV3_KEY_BYTES:
            raise ValueError(
                f"SEAT_WECHAT_APIV3_KEY must be the {APIV3_KEY_BYTES} characters set in the "
                f"merchant platform, not {len(apiv3_key)}"
            )
        timeout_s = _timeout(env.get("SEAT_WECHAT_TIMEOUT_S", "10"))
        return cls(
            mchid=mchid,
            appid=env["SEAT_WECHAT_APPID"],
            serial=serial.upper(),
            private_key=load_private_key(Path(env["SEAT_WECHAT_PRIVATE_KEY"])),
            apiv3_key=apiv3_key,
            platform_keys=load_platform_key(
                Path(env["SEAT_WECHAT_PLATFORM_KEY"]), env.get("SEAT_WECHAT_PLATFORM_SERIAL", "")
            ),
            base_url=_base_url(env.get("SEAT_WECHAT_BASE_URL", BASE_URL)),
            timeout_s=timeout_s,
        )


def load_private_key(path: Path) -> rsa.RSAPrivateKey:
    """The merchant's ``apiclient_key.pem``."""
    name = "SEAT_WECHAT_PRIVATE_KEY"
    try:
        key = serialization.load_pem_private_key(_read(name, path), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name}: {path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_RSA_BITS:
        raise ValueError(f"{name}: {path} is not an RSA key of {MIN_RSA_BITS} bits or more")
    return key


def load_platform_key(path: Path, serial: str) -> dict[str, rsa.RSAPublicKey]:
    """WeChat Pay's key: a platform certificate (its serial is the certificate's, or
    ``serial`` when given, which must then agree) or a WeChat Pay public key (whose
    ``PUB_KEY_ID_…`` must be given as ``serial``)."""
    name = "SEAT_WECHAT_PLATFORM_KEY"
    data = _read(name, path)
    if b"-----BEGIN CERTIFICATE-----" in data:
        try:
            certificate = x509.load_pem_x509_certificate(data)
        except ValueError as exc:
            raise ValueError(f"{name}: {path} is not a PEM certificate: {exc}") from None
        own = f"{certificate.serial_number:X}"
        if serial and (
            not re.fullmatch(r"[0-9A-Fa-f]+", serial)
            or int(serial, 16) != certificate.serial_number
        ):
            raise ValueError(
                f"SEAT_WECHAT_PLATFORM_SERIAL {serial!r} is not the certificate's serial {own}"
            )
        key: object = certificate.public_key()
        serial = serial.upper() or own
    else:
        if not serial:
            raise ValueError(
                f"SEAT_WECHAT_PLATFORM_SERIAL must name the WeChat Pay public key in {path} "
                "(its PUB_KEY_ID_…, shown in the merchant platform)"
            )
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise ValueError(
                f"{name}: {path} is neither a PEM certificate nor a public key: {exc}"
            ) from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        raise ValueError(f"{name}: {path} does not hold an RSA key of {MIN_RSA_BITS} bits or more")
    return {serial: key}


def _read(name: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{name}: cannot read {path}: {exc.strerror}") from None


def _base_url(raw: str) -> str:
    try:
        url = httpx.URL(raw)
    except httpx.InvalidURL:
        raise ValueError(f"SEAT_WECHAT_BASE_URL is not a URL: {raw!r}") from None
    if url.scheme != "https" and not (url.scheme == "http" and url.host in LOOPBACK):
        raise ValueError(f"SEAT_WECHAT_BASE_URL must be an https:// URL, not {raw!r}")
    return raw.rstrip("/")


def _timeout(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise ValueError(f"SEAT_WECHAT_TIMEOUT_S must be a positive number of seconds, not {raw!r}")
    return value


def check_provider_choice(
    sandbox: bool, wechat: WeChatSettings | None, public_url: str | None
) -> None:
    """A centre takes payments through one provider: the sandbox, which pays with a tap,
    beside WeChat Pay would let any driver out for nothing. WeChat Pay calls the centre
    back at ``SEAT_PUBLIC_URL``/pay/notify/wechat, so it needs that address.
    ``ValueError`` naming the settings otherwise."""
    if sandbox and wechat is not None:
        raise ValueError(
            "SEAT_PAYMENT_SANDBOX=1 and SEAT_WECHAT_* are both set: a centre pays through "
            "the sandbox (demos, tests) or WeChat Pay, never both"
        )
    if wechat is not None and public_url is None:
        raise ValueError(
            "WeChat Pay sends its notifications to SEAT_PUBLIC_URL/pay/notify/wechat: "
            "set SEAT_PUBLIC_URL"
        )
