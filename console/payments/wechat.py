"""WeChat Pay API v3 "Native" payments: the centre asks WeChat Pay for an order's
``code_url`` (the QR code a driver scans), asks after the order, closes it, and believes
a payment notification only once it is verified and decrypted.

Every request is signed with the merchant's API key (``wechat_crypto``); every answer
that is not an error must carry WeChat Pay's signature, or it is refused, as the API v3
guide asks ("没有携带签名的成功应答...应认为是伪造或被篡改的应答")."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import httpx

from ..billing.localtime import SHANGHAI
from .errors import (
    BadNotification,
    BadPaymentRequest,
    UntrustedResponse,
    WeChatRefused,
    WeChatUnavailable,
)
from .wechat_crypto import (
    Undecryptable,
    authorization,
    check_signed,
    decrypt,
    new_nonce,
    request_message,
    sign,
)
from .wechat_settings import WeChatSettings

log = logging.getLogger("seat.payments")

# WeChat Pay's rules for the merchant's order number: 6 to 32 of these characters.
OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_\-|*]{6,32}")
MAX_DESCRIPTION = 127
MAX_NOTIFY_URL = 255
# WeChat Pay's API rules ask every caller to name itself in User-Agent.
USER_AGENT = "remote-seat/0.1 (WeChat Pay API v3)"


class TradeState(StrEnum):
    """An order's ``trade_state`` as WeChat Pay reports it."""

    SUCCESS = "SUCCESS"
    NOTPAY = "NOTPAY"
    CLOSED = "CLOSED"
    REFUND = "REFUND"
    USERPAYING = "USERPAYING"
    PAYERROR = "PAYERROR"


@dataclass(frozen=True, slots=True)
class WeChatOrder:
    """An order as WeChat Pay has it. ``transaction_id``, the amount and the time of
    payment are known once it was paid."""

    out_trade_no: str
    state: TradeState
    transaction_id: str | None
    amount_fen: int | None
    success_time: datetime | None


@dataclass(frozen=True, slots=True)
class WeChatNotification:
    """A verified, decrypted payment notification. WeChat Pay sends one again, with the
    same ``notification_id``, until it is answered 2xx: a caller records it once."""

    notification_id: str
    out_trade_no: str
    transaction_id: str
    trade_state: TradeState
    amount_fen: int
    success_time: datetime


class WeChatPay:
    """A client of one merchant's account. ``clock`` gives the wall-clock seconds the
    protocol's timestamps are counted in. Close it with ``aclose``."""

    def __init__(self, settings: WeChatSettings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._http = httpx.AsyncClient(base_url=settings.base_url, timeout=settings.timeout_s)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def create_native(
        self,
        out_trade_no: str,
        amount_fen: int,
        description: str,
        notify_url: str,
        expires_at: datetime,
    ) -> str:
        """The ``code_url`` of a new Native order, to draw as a QR code. Asking again
        with the same arguments before it is paid gives the same order's link."""
        check_out_trade_no(out_trade_no)
        if type(amount_fen) is not int or amount_fen < 1:
            raise BadPaymentRequest(
                "bad_amount", f"amount_fen must be whole fen above 0, not {amount_fen!r}"
            )
        if not 1 <= len(description) <= MAX_DESCRIPTION:
            raise BadPaymentRequest(
                "bad_description", f"description must be 1 to {MAX_DESCRIPTION} characters"
            )
        check_notify_url(notify_url)
        if expires_at.tzinfo is None or expires_at.utcoffset() is None:
            raise BadPaymentRequest("naive_time", "expires_at must carry its UTC offset")
        payload = {
            "appid": self._settings.appid,
            "mchid": self._settings.mchid,
            "description": description,
            "out_trade_no": out_trade_no,
            # RFC 3339 with the offset, in Beijing time as WeChat Pay's examples are.
            "time_expire": expires_at.astimezone(SHANGHAI).isoformat(timespec="seconds"),
            "notify_url": notify_url,
            "amount": {"total": amount_fen, "currency": "CNY"},
        }
        answer = await self._call("POST", "/v3/pay/transactions/native", payload)
        code_url = answer.get("code_url")
        if not isinstance(code_url, str) or not code_url:
            raise UntrustedResponse("malformed_response", "the order's answer has no code_url")
        log.info("payments.wechat.created out_trade_no=%s amount_fen=%d", out_trade_no, amount_fen)
        return code_url

    async def query(self, out_trade_no: str) -> WeChatOrder:
        """The order as WeChat Pay has it now; ``WeChatRefused`` ``order_not_found`` for
        one it never had."""
        check_out_trade_no(out_trade_no)
        path = f"/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={self._settings.mchid}"
        answer = await self._call("GET", path, None)
        try:
            return read_transaction(answer, self._settings.mchid)
        except ValueError as exc:
            raise UntrustedResponse("malformed_response", str(exc)) from None

    async def close(self, out_trade_no: str) -> None:
        """Closes an unpaid order, so its QR code can no longer be paid (WeChat Pay
        answers 204); a paid one is ``WeChatRefused`` ``ORDERPAID``."""
        check_out_trade_no(out_trade_no)
        path = f"/v3/pay/transactions/out-trade-no/{out_trade_no}/close"
        await self._call("POST", path, {"mchid": self._settings.mchid})
        log.info("payments.wechat.closed out_trade_no=%s", out_trade_no)

    def verify_notification(
        self, headers: Mapping[str, str], body: bytes, now: float | None = None
    ) -> WeChatNotification:
        """The payment a notification reports, once its signature, serial and timestamp
        are checked and its resource decrypted; ``BadNotification`` otherwise."""
        refusal = check_signed(
            headers, body, self._settings.platform_keys, self._clock() if now is None else now
        )
        if refusal is not None:
            log.warning("payments.wechat.notification.refused code=%s", refusal.code)
            raise BadNotification(refusal.code, refusal.detail)
        try:
            notification_id, nonce, associated, ciphertext = _sealed(body)
        except (ValueError, KeyError, TypeError) as exc:
            raise BadNotification("malformed_notification", f"not a notification: {exc}") from None
        try:
            clear = decrypt(self._settings.apiv3_key, nonce, associated, ciphertext)
        except Undecryptable:
            log.warning("payments.wechat.notification.refused code=undecryptable_resource")
            raise BadNotification(
                "undecryptable_resource",
                "the resource does not decrypt with the APIv3 key: altered, or another key",
            ) from None
        try:
            order = read_transaction(json.loads(clear), self._settings.mchid)
            if order.transaction_id is None or order.amount_fen is None or not order.success_time:
                raise ValueError("a payment needs its transaction_id, amount and success_time")
        except OtherMerchant as exc:
            raise BadNotification("other_merchant", str(exc)) from None
        except ValueError as exc:
            raise BadNotification("malformed_notification", str(exc)) from None
        log.info(
            "payments.wechat.notification id=%s out_trade_no=%s state=%s",
            notification_id,
            order.out_trade_no,
            order.state,
        )
        return WeChatNotification(
            notification_id,
            order.out_trade_no,
            order.transaction_id,
            order.state,
            order.amount_fen,
            order.success_time,
        )

    async def _call(self, method: str, path: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        """Sends a signed request and gives the verified answer's JSON ({} for a 204)."""
        body = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        request = self._http.build_request(method, path, content=body, headers=headers)
        timestamp, nonce = int(self._clock()), new_nonce()
        signed = request_message(method, request.url.raw_path.decode(), timestamp, nonce, body)
        request.headers["Authorization"] = authorization(
            self._settings.mchid,
            self._settings.serial,
            nonce,
            timestamp,
            sign(self._settings.private_key, signed),
        )
        try:
            response = await self._http.send(request)
        except httpx.TimeoutException:
            log.warning("payments.wechat.timeout method=%s path=%s", method, path)
            raise WeChatUnavailable(
                "wechat_timeout", f"WeChat Pay did not answer {method} {path} in time"
            ) from None
        except httpx.TransportError as exc:
            raise WeChatUnavailable(
                "wechat_unreachable", f"WeChat Pay cannot be reached: {exc}"
            ) from None
        return self._answer(method, path, response)

    def _answer(self, method: str, path: str, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        # An error may come unsigned (a request refused before it was authenticated); a
        # success may not, and a signature that is there must hold.
        if response.is_success or "Wechatpay-Signature" in response.headers:
            refusal = check_signed(
                response.headers, response.content, self._settings.platform_keys, self._clock()
            )
            if refusal is not None:
                log.warning("payments.wechat.answer.refused code=%s path=%s", refusal.code, path)
                raise UntrustedResponse(refusal.code, f"{method} {path}: {refusal.detail}")
        try:
            answer = json.loads(response.content) if response.content else {}
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise UntrustedResponse("malformed_response", f"{method} {path}: {status}, not JSON")
        if response.is_success:
            return answer
        wechat_code, message = str(answer.get("code", "")), str(answer.get("message", ""))
        detail = f"{method} {path}: WeChat Pay answered {status} {wechat_code}: {message}"
        log.warning("payments.wechat.error status=%d code=%s path=%s", status, wechat_code, path)
        if status >= 500:
            raise WeChatUnavailable("wechat_server_error", detail)
        code = "order_not_found" if wechat_code == "ORDER_NOT_EXIST" else "wechat_refused"
        raise WeChatRefused(code, detail, wechat_code=wechat_code, wechat_status=status)


class OtherMerchant(ValueError):
    """The transaction is another merchant's."""


def read_transaction(data: object, mchid: str) -> WeChatOrder:
    """The transaction object of a query's answer or a notification's resource, which
    must be merchant ``mchid``'s; ``ValueError`` naming what is wrong or missing."""
    if not isinstance(data, dict):
        raise ValueError("the transaction is not a JSON object")
    if data.get("mchid") != mchid:
        raise OtherMerchant(f"the transaction is merchant {data.get('mchid')!r}'s, not {mchid}'s")
    out_trade_no = data.get("out_trade_no")
    if not isinstance(out_trade_no, str):
        raise ValueError("the transaction has no out_trade_no")
    try:
        state = TradeState(str(data.get("trade_state")))
    except ValueError:
        raise ValueError(f"unknown trade_state {data.get('trade_state')!r}") from None
    transaction_id = data.get("transaction_id")
    if transaction_id is not None and not isinstance(transaction_id, str):
        raise ValueError("transaction_id is not a string")
    amount = data.get("amount")
    total = amount.get("total") if isinstance(amount, dict) else None
    if total is not None and (type(total) is not int or total < 0):
        raise ValueError(f"amount.total {total!r} is not fen")
    return WeChatOrder(
        out_trade_no, state, transaction_id or None, total, _success_time(data.get("success_time"))
    )


def _sealed(body: bytes) -> tuple[str, str, str, str]:
    """A notification's id and its resource's nonce, associated data and ciphertext;
    ``ValueError``, ``KeyError`` or ``TypeError`` when it is not a notification."""
    envelope = json.loads(body)
    resource = envelope["resource"]
    if resource["algorithm"] != "AEAD_AES_256_GCM":
        raise ValueError(f"resource algorithm {resource['algorithm']!r}")
    fields = (
        envelope["id"],
        resource["nonce"],
        resource["associated_data"],
        resource["ciphertext"],
    )
    if not all(isinstance(value, str) for value in fields):
        raise ValueError("id, nonce, associated_data and ciphertext must be strings")
    return fields


def check_out_trade_no(out_trade_no: str) -> None:
    if not OUT_TRADE_NO.fullmatch(out_trade_no):
        raise BadPaymentRequest(
            "bad_out_trade_no",
            f"out_trade_no must be 6 to 32 of 0-9 A-Z a-z _ - | *, not {out_trade_no!r}",
        )


def check_notify_url(url: str) -> None:
    """WeChat Pay calls back an absolute http(s) URL without a query, of at most 255."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = httpx.URL()
    if (
        parsed.scheme not in ("http", "https")
        or not parsed.host
        or parsed.query
        or len(url) > MAX_NOTIFY_URL
    ):
        raise BadPaymentRequest(
            "bad_notify_url",
            f"notify_url must be an absolute http(s) URL without a query, of at most "
            f"{MAX_NOTIFY_URL} characters, not {url!r}",
        )


def _success_time(raw: object) -> datetime | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise ValueError("success_time is not a string")
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"success_time {raw!r} is not RFC 3339") from None
    if at.utcoffset() is None:
        raise ValueError(f"success_time {raw!r} has no UTC offset")
    return at
