"""WeChat Pay API v3's signing and encryption rules, without sockets: the messages are
checked against the examples of WeChat Pay's "签名生成" and "签名验证" guides."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from console.payments.wechat_crypto import (
    MAX_SKEW_S,
    Undecryptable,
    answer_message,
    authorization,
    check_signed,
    decrypt,
    new_nonce,
    request_message,
    sign,
    verify,
)
from tests.wechatpay_emulator import rsa_key

KEY = rsa_key()
OTHER = rsa_key()
SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"  # the guide's example serial
NOW = 1554209980  # the guide's example answer's Wechatpay-Timestamp
APIV3_KEY = b"0123456789abcdef0123456789abcdef"


def test_a_get_request_signs_five_lines_with_an_empty_body_line() -> None:
    """The guide's GET example: the body line is empty but still ended by ``\\n``."""
    message = request_message(
        "GET", "/v3/certificates", 1554208460, "593BEC0C930BF1AFEB40B4A08C8FB242", b""
    )
    assert message == b"GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n"


def test_a_post_request_signs_the_body_exactly_as_sent_and_keeps_the_query() -> None:
    body = '{"mchid":"1900009191","description":"停车费"}'.encode()
    message = request_message(
        "POST", "/v3/pay/transactions/out-trade-no/P1217752501?mchid=1900009191", 7, "N", body
    )
    assert message == (
        b"POST\n/v3/pay/transactions/out-trade-no/P1217752501?mchid=1900009191\n7\nN\n"
        + body
        + b"\n"
    )


def test_the_authorization_header_is_the_guides_one_line() -> None:
    header = authorization(
        "1900009191",
        "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C",
        "593BEC0C930BF1AFEB40B4A08C8FB242",
        1554208460,
        "uOVRnA4qG/MNnYzdQxJanN+zU+lTgIcnU9BxGw5dKjK+VdEUz2FeIoC+D5sB/LN+nGzX3hfZg6r5wT1pl2Zobm",
    )
    assert header == (
        'WECHATPAY2-SHA256-RSA2048 mchid="1900009191",'
        'nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",'
        'signature="uOVRnA4qG/MNnYzdQxJanN+zU+lTgIcnU9BxGw5dKjK+VdEUz2FeIoC+D5sB/LN+nGzX3hfZg6r5wT1pl2Zobm",'
        'timestamp="1554208460",serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"'
    )


def test_an_answer_signs_three_lines_and_a_204_ends_with_a_bare_newline() -> None:
    nonce = "c5ac7061fccab6bf3e254dcf98995b8c"
    assert answer_message("1554209980", nonce, b'{"data":[]}') == (
        b'1554209980\nc5ac7061fccab6bf3e254dcf98995b8c\n{"data":[]}\n'
    )
    assert answer_message("1554209980", nonce, b"") == b"1554209980\n" + nonce.encode() + b"\n\n"


def test_a_nonce_is_32_upper_case_hex_digits_and_never_repeats() -> None:
    nonces = {new_nonce() for _ in range(100)}
    assert len(nonces) == 100
    assert all(len(n) == 32 and n == n.upper() and int(n, 16) >= 0 for n in nonces)


def test_a_signature_verifies_with_the_public_key_and_not_over_another_message() -> None:
    signature = sign(KEY, b"GET\n/v3/x\n1\nN\n\n")
    assert verify(KEY.public_key(), b"GET\n/v3/x\n1\nN\n\n", signature)
    assert not verify(KEY.public_key(), b"GET\n/v3/y\n1\nN\n\n", signature)
    assert not verify(OTHER.public_key(), b"GET\n/v3/x\n1\nN\n\n", signature)
    assert not verify(KEY.public_key(), b"GET\n/v3/x\n1\nN\n\n", "not base64!")


def signed(body: bytes, *, key: rsa.RSAPrivateKey = KEY, timestamp: int = NOW) -> dict[str, str]:
    signature = sign(key, answer_message(str(timestamp), "N0", body))
    return {
        "Wechatpay-Timestamp": str(timestamp),
        "Wechatpay-Nonce": "N0",
        "Wechatpay-Signature": signature,
        "Wechatpay-Serial": SERIAL,
    }


KEYS = {SERIAL: KEY.public_key()}


def test_a_signed_answer_is_believed_whatever_the_case_of_its_header_names() -> None:
    headers = {name.lower(): value for name, value in signed(b"{}").items()}
    assert check_signed(headers, b"{}", KEYS, NOW) is None


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda h: h.pop("Wechatpay-Signature"), "missing_signature"),
        (lambda h: h.update({"Wechatpay-Serial": "PUB_KEY_ID_OTHER"}), "unknown_serial"),
        (lambda h: h.update({"Wechatpay-Timestamp": "soon"}), "stale_timestamp"),
        (lambda h: h.update({"Wechatpay-Nonce": "N1"}), "bad_signature"),
    ],
)
def test_an_answer_with_a_header_missing_or_altered_is_refused(
    change: Callable[[dict[str, str]], object], code: str
) -> None:
    headers = signed(b"{}")
    change(headers)
    refusal = check_signed(headers, b"{}", KEYS, NOW)
    assert refusal is not None and refusal.code == code


def test_an_altered_body_or_another_key_is_a_bad_signature() -> None:
    refusal = check_signed(signed(b'{"a":1}'), b'{"a":2}', KEYS, NOW)
    assert refusal is not None and refusal.code == "bad_signature"
    refusal = check_signed(signed(b"{}", key=OTHER), b"{}", KEYS, NOW)
    assert refusal is not None and refusal.code == "bad_signature"


def test_wechat_pays_signature_probe_is_refused() -> None:
    """WeChat Pay sometimes sends a notification signed ``WECHATPAY/SIGNTEST/…`` to see
    that merchants check; it must be answered as a bad signature."""
    headers = signed(b"{}") | {"Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + "A" * 344}
    refusal = check_signed(headers, b"{}", KEYS, NOW)
    assert refusal is not None and refusal.code == "bad_signature"


@pytest.mark.parametrize("skew", [MAX_SKEW_S + 1, -(MAX_SKEW_S + 1)])
def test_a_signature_more_than_five_minutes_from_now_either_way_is_stale(skew: int) -> None:
    refusal = check_signed(signed(b"{}", timestamp=NOW - skew), b"{}", KEYS, NOW)
    assert refusal is not None and refusal.code == "stale_timestamp"
    assert str(MAX_SKEW_S) in refusal.detail


def test_a_signature_exactly_five_minutes_old_is_still_believed() -> None:
    assert check_signed(signed(b"{}", timestamp=NOW - MAX_SKEW_S), b"{}", KEYS, NOW) is None


def seal(plaintext: bytes, key: bytes = APIV3_KEY) -> str:
    raw = AESGCM(key).encrypt(b"fdasflkja484", plaintext, b"transaction")
    return base64.b64encode(raw).decode()


def test_a_resource_decrypts_with_its_nonce_and_associated_data() -> None:
    clear = '{"trade_state":"SUCCESS","description":"停车"}'.encode()
    assert decrypt(APIV3_KEY, "fdasflkja484", "transaction", seal(clear)) == clear


@pytest.mark.parametrize(
    ("nonce", "associated", "ciphertext"),
    [
        ("fdasflkja484", "certificate", seal(b"{}")),  # other associated data
        ("fdasflkja485", "transaction", seal(b"{}")),  # other nonce
        ("fdasflkja484", "transaction", seal(b"{}", b"f" * 32)),  # other APIv3 key
        ("fdasflkja484", "transaction", "%%%"),  # not base64
        ("fdasflkja484", "transaction", "AAAA"),  # shorter than GCM's tag
    ],
)
def test_a_resource_that_was_altered_does_not_decrypt(
    nonce: str, associated: str, ciphertext: str
) -> None:
    with pytest.raises(Undecryptable):
        decrypt(APIV3_KEY, nonce, associated, ciphertext)
