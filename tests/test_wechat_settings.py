"""``SEAT_WECHAT_*``: off when unset, and every mistake stops the start naming its variable."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from console.payments.wechat_settings import WeChatSettings
from console.settings import Settings
from tests.test_cli import seat
from tests.wechatpay_emulator import Keys

KEYS = Keys()
CERT_SERIAL = 0x5157F09EFDC096DE15EBE81A47057A7232F1B8E1


def pem_private(path: Path, keys: Keys = KEYS) -> Path:
    path.write_bytes(
        keys.merchant.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def pem_public(path: Path) -> Path:
    path.write_bytes(
        KEYS.platform.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def pem_certificate(path: Path) -> Path:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(KEYS.platform.public_key())
        .serial_number(CERT_SERIAL)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(KEYS.platform, hashes.SHA256())
    )
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "SEAT_WECHAT_MCHID": KEYS.mchid,
        "SEAT_WECHAT_APPID": KEYS.appid,
        "SEAT_WECHAT_SERIAL": KEYS.merchant_serial.lower(),
        "SEAT_WECHAT_PRIVATE_KEY": str(pem_private(tmp_path / "apiclient_key.pem")),
        "SEAT_WECHAT_APIV3_KEY": KEYS.apiv3_key.decode(),
        "SEAT_WECHAT_PLATFORM_KEY": str(pem_public(tmp_path / "pub_key.pem")),
        "SEAT_WECHAT_PLATFORM_SERIAL": KEYS.platform_serial,
        "SEAT_PUBLIC_URL": "https://seat.example.com",
    }


def test_wechat_pay_is_off_when_no_variable_is_set() -> None:
    assert WeChatSettings.from_env({"SEAT_PORT": "8080"}) is None
    assert Settings.from_env({}).wechat is None


def test_a_full_configuration_loads_the_keys_and_the_centre_settings_carry_it(
    env: dict[str, str],
) -> None:
    settings = Settings.from_env(env).wechat
    assert settings is not None
    assert (settings.mchid, settings.serial) == (KEYS.mchid, KEYS.merchant_serial)
    assert settings.base_url == "https://api.mch.weixin.qq.com"
    assert list(settings.platform_keys) == [KEYS.platform_serial]
    assert settings.private_key.private_numbers() == KEYS.merchant.private_numbers()
    assert KEYS.apiv3_key.decode() not in repr(settings)


def test_half_a_configuration_names_every_missing_variable(env: dict[str, str]) -> None:
    del env["SEAT_WECHAT_APIV3_KEY"], env["SEAT_WECHAT_APPID"]
    with pytest.raises(ValueError, match="set SEAT_WECHAT_APPID, SEAT_WECHAT_APIV3_KEY"):
        WeChatSettings.from_env(env)


def test_a_platform_certificate_gives_its_own_serial(env: dict[str, str], tmp_path: Path) -> None:
    env["SEAT_WECHAT_PLATFORM_KEY"] = str(pem_certificate(tmp_path / "platform.pem"))
    del env["SEAT_WECHAT_PLATFORM_SERIAL"]
    settings = WeChatSettings.from_env(env)
    assert settings is not None
    assert list(settings.platform_keys) == ["5157F09EFDC096DE15EBE81A47057A7232F1B8E1"]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SEAT_WECHAT_MCHID", "19000091a", "SEAT_WECHAT_MCHID must be"),
        ("SEAT_WECHAT_SERIAL", "not-hex", "SEAT_WECHAT_SERIAL must be"),
        ("SEAT_WECHAT_APIV3_KEY", "short", "SEAT_WECHAT_APIV3_KEY must be the 32 characters"),
        ("SEAT_WECHAT_PRIVATE_KEY", "/nonexistent/key.pem", "SEAT_WECHAT_PRIVATE_KEY: cannot"),
        ("SEAT_WECHAT_PLATFORM_SERIAL", "", "SEAT_WECHAT_PLATFORM_SERIAL must name"),
        ("SEAT_WECHAT_BASE_URL", "http://api.example.com", "SEAT_WECHAT_BASE_URL must be"),
        ("SEAT_WECHAT_TIMEOUT_S", "0", "SEAT_WECHAT_TIMEOUT_S must be"),
    ],
)
def test_each_wrong_variable_is_named(
    env: dict[str, str], name: str, value: str, message: str
) -> None:
    env[name] = value
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_a_key_file_that_is_not_rsa_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "ec.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    env["SEAT_WECHAT_PRIVATE_KEY"] = str(path)
    with pytest.raises(ValueError, match=r"SEAT_WECHAT_PRIVATE_KEY: .* is not an RSA key"):
        WeChatSettings.from_env(env)


def test_a_certificate_whose_serial_disagrees_is_refused(
    env: dict[str, str], tmp_path: Path
) -> None:
    env["SEAT_WECHAT_PLATFORM_KEY"] = str(pem_certificate(tmp_path / "platform.pem"))
    env["SEAT_WECHAT_PLATFORM_SERIAL"] = "ABCDEF"
    with pytest.raises(ValueError, match="is not the certificate's serial 5157F09E"):
        WeChatSettings.from_env(env)


def test_the_emulators_plain_http_base_is_allowed_on_this_machine_only(
    env: dict[str, str],
) -> None:
    env["SEAT_WECHAT_BASE_URL"] = "http://127.0.0.1:8999/"
    settings = WeChatSettings.from_env(env)
    assert settings is not None and settings.base_url == "http://127.0.0.1:8999"


def test_the_centre_will_not_start_half_configured(tmp_path: Path) -> None:
    """``seat`` stops at start naming what is missing, before anything runs."""
    result = seat(tmp_path, "audit", "verify", env={"SEAT_WECHAT_MCHID": KEYS.mchid})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "seat: WeChat Pay is half configured: set SEAT_WECHAT_APPID, SEAT_WECHAT_SERIAL, "
        "SEAT_WECHAT_PRIVATE_KEY, SEAT_WECHAT_APIV3_KEY, SEAT_WECHAT_PLATFORM_KEY"
    )


def test_the_sandbox_and_wechat_pay_together_stop_the_start(
    env: dict[str, str], tmp_path: Path
) -> None:
    """The sandbox pays with a tap: beside WeChat Pay any driver would leave for free."""
    env["SEAT_PAYMENT_SANDBOX"] = "1"
    result = seat(tmp_path, "audit", "verify", env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "seat: SEAT_PAYMENT_SANDBOX=1 and SEAT_WECHAT_* are both set: a centre pays through "
        "the sandbox (demos, tests) or WeChat Pay, never both"
    )


def test_wechat_pay_without_a_public_url_stops_the_start(env: dict[str, str]) -> None:
    """WeChat Pay must be told where to send its notifications."""
    del env["SEAT_PUBLIC_URL"]
    with pytest.raises(ValueError, match="set SEAT_PUBLIC_URL"):
        Settings.from_env(env)
