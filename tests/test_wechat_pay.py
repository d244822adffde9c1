"""The WeChat Pay client against the emulator over real sockets: orders created, asked
after and closed; notifications posted to a real merchant endpoint, believed only when
verified and decrypted; and every fault refused with its own error."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from console.payments.errors import (
    BadNotification,
    BadPaymentRequest,
    UntrustedResponse,
    WeChatRefused,
    WeChatUnavailable,
)
from console.payments.wechat import TradeState, WeChatNotification, WeChatPay
from tests.wechatpay_emulator import (
    Fault,
    Keys,
    NotifyFault,
    WeChatPayEmulator,
    rsa_key,
    serve,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
KEYS = Keys()
NO = "P20261129000001"


def expiry() -> datetime:
    return datetime.now(SHANGHAI) + timedelta(minutes=15)


@pytest.fixture
async def emulator() -> AsyncIterator[WeChatPayEmulator]:
    running = WeChatPayEmulator(KEYS)
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def wechat(emulator: WeChatPayEmulator) -> AsyncIterator[WeChatPay]:
    client = WeChatPay(KEYS.settings(emulator.url, timeout_s=1.0))
    yield client
    await client.aclose()


@dataclass
class Merchant:
    """The centre's side of notifications: a real endpoint that verifies each one with
    the client and answers as WeChat Pay asks (204, or 4xx with ``{"code": "FAIL"}``)."""

    wechat: WeChatPay
    url: str = ""
    received: list[WeChatNotification] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    async def notify(self, request: Request) -> Response:
        try:
            notification = self.wechat.verify_notification(request.headers, await request.body())
        except BadNotification as exc:
            self.refused.append(exc.code)
            return JSONResponse({"code": "FAIL", "message": exc.detail}, status_code=400)
        self.received.append(notification)
        return Response(status_code=204)


@pytest.fixture
async def merchant(wechat: WeChatPay) -> AsyncIterator[Merchant]:
    endpoint = Merchant(wechat)
    app = Starlette(routes=[Route("/wechat/notify", endpoint.notify, methods=["POST"])])
    server, task, port = await serve(app)
    endpoint.url = f"http://127.0.0.1:{port}/wechat/notify"
    yield endpoint
    server.should_exit = True
    await task


# One expiry for every order a test places with ``create``: placing the same order again
# must send the same body, and one computed anew could fall a second later.
EXPIRES_AT = expiry()


async def create(wechat: WeChatPay, merchant_url: str = "https://seat.example.com/n") -> str:
    return await wechat.create_native(NO, 1500, "停车费 京A12345", merchant_url, EXPIRES_AT)


async def test_create_native_gives_the_code_url_of_the_order_it_placed(
    wechat: WeChatPay, emulator: WeChatPayEmulator
) -> None:
    """The order reaches WeChat Pay signed, in fen, expiring in Beijing time."""
    expires_at = datetime(2026, 11, 29, 2, 30, tzinfo=ZoneInfo("UTC"))
    code_url = await wechat.create_native(
        NO, 1500, "停车费 京A12345", "https://seat.example.com/n", expires_at
    )
    order = emulator.orders[NO]
    assert code_url == order.code_url and code_url.startswith("weixin://wxpay/bizpayurl?pr=")
    assert order.request["amount"] == {"total": 1500, "currency": "CNY"}
    assert order.request["time_expire"] == "2026-11-29T10:30:00+08:00"
    assert order.request["description"] == "停车费 京A12345"
    assert (order.request["mchid"], order.request["appid"]) == (KEYS.mchid, KEYS.appid)


async def test_creating_the_same_order_again_gives_the_same_code_url(wechat: WeChatPay) -> None:
    """A retry after a lost answer (the same body) is the same order."""
    assert await create(wechat) == await create(wechat)


async def test_an_unpaid_order_is_notpay_with_no_transaction(wechat: WeChatPay) -> None:
    await create(wechat)
    order = await wechat.query(NO)
    assert order.state is TradeState.NOTPAY
    assert (order.transaction_id, order.success_time, order.amount_fen) == (None, None, 1500)


async def test_a_paid_order_is_success_with_its_transaction_and_time(
    wechat: WeChatPay, emulator: WeChatPayEmulator
) -> None:
    await create(wechat)
    paid = emulator.pay(NO)
    order = await wechat.query(NO)
    assert order.state is TradeState.SUCCESS
    assert order.transaction_id == paid.transaction_id
    assert order.amount_fen == 1500
    assert order.success_time is not None and order.success_time.utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize("state", [TradeState.USERPAYING, TradeState.PAYERROR, TradeState.REFUND])
async def test_query_reports_each_state_wechat_pay_has(
    wechat: WeChatPay, emulator: WeChatPayEmulator, state: TradeState
) -> None:
    await create(wechat)
    if state is TradeState.REFUND:
        emulator.pay(NO)
    emulator.orders[NO].state = state.value
    assert (await wechat.query(NO)).state is state


async def test_an_order_wechat_pay_never_had_is_order_not_found(wechat: WeChatPay) -> None:
    with pytest.raises(WeChatRefused) as caught:
        await wechat.query("P_UNKNOWN_1")
    assert caught.value.code == "order_not_found"
    assert (caught.value.wechat_code, caught.value.wechat_status) == ("ORDER_NOT_EXIST", 404)


async def test_a_closed_order_is_reported_closed_and_cannot_be_placed_again(
    wechat: WeChatPay,
) -> None:
    await create(wechat)
    await wechat.close(NO)
    assert (await wechat.query(NO)).state is TradeState.CLOSED
    with pytest.raises(WeChatRefused) as caught:
        await create(wechat)
    assert caught.value.wechat_code == "ORDER_CLOSED"


async def test_a_paid_order_cannot_be_closed(
    wechat: WeChatPay, emulator: WeChatPayEmulator
) -> None:
    await create(wechat)
    emulator.pay(NO)
    with pytest.raises(WeChatRefused) as caught:
        await wechat.close(NO)
    assert (caught.value.wechat_code, caught.value.wechat_status) == ("ORDERPAID", 400)
    assert (await wechat.query(NO)).state is TradeState.SUCCESS


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("P1", 1500, "停车费", "https://seat.example.com/n"), "bad_out_trade_no"),
        ((NO, 0, "停车费", "https://seat.example.com/n"), "bad_amount"),
        ((NO, 1500, "", "https://seat.example.com/n"), "bad_description"),
        ((NO, 1500, "停车费", "https://seat.example.com/n?order=1"), "bad_notify_url"),
        ((NO, 1500, "停车费", "seat.example.com/n"), "bad_notify_url"),
    ],
)
async def test_a_request_breaking_wechat_pays_rules_is_not_sent(
    wechat: WeChatPay,
    emulator: WeChatPayEmulator,
    args: tuple[str, int, str, str],
    code: str,
) -> None:
    with pytest.raises(BadPaymentRequest) as caught:
        await wechat.create_native(*args, expiry())
    assert caught.value.code == code
    assert emulator.orders == {}


async def test_a_naive_expiry_is_refused(wechat: WeChatPay) -> None:
    with pytest.raises(BadPaymentRequest) as caught:
        await wechat.create_native(NO, 1, "停车费", "https://s.example.com/n", datetime(2026, 1, 1))
    assert caught.value.code == "naive_time"


async def test_a_request_signed_with_another_key_is_refused_with_sign_error(
    emulator: WeChatPayEmulator,
) -> None:
    """WeChat Pay verifies the merchant's signature; a wrong key gets 401 SIGN_ERROR."""
    settings = dataclasses.replace(KEYS.settings(emulator.url), private_key=rsa_key())
    client = WeChatPay(settings)
    try:
        with pytest.raises(WeChatRefused) as caught:
            await create(client)
    finally:
        await client.aclose()
    assert (caught.value.wechat_code, caught.value.wechat_status) == ("SIGN_ERROR", 401)
    assert emulator.refused == [(401, "SIGN_ERROR")] and emulator.orders == {}


async def test_a_request_from_a_clock_six_minutes_slow_is_refused(
    emulator: WeChatPayEmulator,
) -> None:
    client = WeChatPay(KEYS.settings(emulator.url), clock=lambda: time.time() - 360)
    try:
        with pytest.raises(WeChatRefused) as caught:
            await client.query(NO)
    finally:
        await client.aclose()
    assert caught.value.wechat_code == "SIGN_ERROR"
    assert "5分钟" in caught.value.detail


@pytest.mark.parametrize("operation", ["create", "query"])
async def test_a_server_error_is_wechat_unavailable_and_the_next_call_goes_through(
    wechat: WeChatPay, emulator: WeChatPayEmulator, operation: str
) -> None:
    if operation == "query":
        await create(wechat)
    emulator.fail_next(operation, Fault.SERVER_ERROR)
    with pytest.raises(WeChatUnavailable) as caught:
        await (create(wechat) if operation == "create" else wechat.query(NO))
    assert caught.value.code == "wechat_server_error" and "SYSTEM_ERROR" in caught.value.detail
    if operation == "create":
        assert await create(wechat) == emulator.orders[NO].code_url
    else:
        assert (await wechat.query(NO)).state is TradeState.NOTPAY


@pytest.mark.parametrize("operation", ["create", "query"])
async def test_no_answer_in_time_is_a_timeout(
    wechat: WeChatPay, emulator: WeChatPayEmulator, operation: str
) -> None:
    if operation == "query":
        await create(wechat)
    emulator.fail_next(operation, Fault.TIMEOUT)
    with pytest.raises(WeChatUnavailable) as caught:
        await (create(wechat) if operation == "create" else wechat.query(NO))
    assert caught.value.code == "wechat_timeout"


async def test_an_answer_with_a_forged_signature_is_not_believed(
    wechat: WeChatPay, emulator: WeChatPayEmulator
) -> None:
    await create(wechat)
    emulator.fail_next("query", Fault.FORGED_ANSWER)
    with pytest.raises(UntrustedResponse) as caught:
        await wechat.query(NO)
    assert caught.value.code == "bad_signature"


async def test_an_answer_signed_by_a_key_the_merchant_does_not_have_is_not_believed(
    emulator: WeChatPayEmulator,
) -> None:
    other = {"PUB_KEY_ID_OLD": KEYS.platform.public_key()}
    client = WeChatPay(dataclasses.replace(KEYS.settings(emulator.url), platform_keys=other))
    try:
        with pytest.raises(UntrustedResponse) as caught:
            await create(client)
    finally:
        await client.aclose()
    assert caught.value.code == "unknown_serial"


async def test_nothing_listening_is_unreachable(emulator: WeChatPayEmulator) -> None:
    await emulator.stop()
    client = WeChatPay(KEYS.settings(emulator.url))
    try:
        with pytest.raises(WeChatUnavailable) as caught:
            await client.query(NO)
    finally:
        await client.aclose()
    assert caught.value.code == "wechat_unreachable"


async def test_a_payment_notification_is_verified_and_decrypted(
    wechat: WeChatPay, emulator: WeChatPayEmulator, merchant: Merchant
) -> None:
    await create(wechat, merchant.url)
    paid = emulator.pay(NO)
    sent = await emulator.notify(NO)
    assert sent.status == 204
    assert merchant.received == [
        WeChatNotification(
            sent.notification_id,
            NO,
            str(paid.transaction_id),
            TradeState.SUCCESS,
            1500,
            datetime.fromisoformat(str(paid.success_time)),
        )
    ]


async def test_a_notification_sent_twice_is_verified_twice_with_one_id(
    wechat: WeChatPay, emulator: WeChatPayEmulator, merchant: Merchant
) -> None:
    """WeChat Pay retries; the caller tells the copies apart by ``notification_id``."""
    await create(wechat, merchant.url)
    emulator.pay(NO)
    first = await emulator.notify(NO)
    again = await emulator.resend(first)
    assert (first.status, again.status) == (204, 204)
    assert [n.notification_id for n in merchant.received] == [first.notification_id] * 2
    assert merchant.received[0] == merchant.received[1]


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (NotifyFault.REPLAYED, "stale_timestamp"),
        (NotifyFault.FORGED, "bad_signature"),
        (NotifyFault.WRONG_SERIAL, "unknown_serial"),
        (NotifyFault.TAMPERED_CIPHERTEXT, "undecryptable_resource"),
    ],
)
async def test_a_spoiled_notification_is_refused_with_its_reason(
    wechat: WeChatPay,
    emulator: WeChatPayEmulator,
    merchant: Merchant,
    fault: NotifyFault,
    code: str,
) -> None:
    await create(wechat, merchant.url)
    emulator.pay(NO)
    sent = await emulator.notify(NO, fault)
    assert sent.status == 400 and json.loads(sent.answer)["code"] == "FAIL"
    assert merchant.refused == [code] and merchant.received == []


async def test_a_signed_notification_that_is_not_one_is_malformed(
    wechat: WeChatPay, emulator: WeChatPayEmulator, merchant: Merchant
) -> None:
    await create(wechat, merchant.url)
    emulator.pay(NO)
    sent = await emulator.post(emulator.orders[NO], b'{"id": "x", "resource": {}}', None)
    assert sent.status == 400
    assert merchant.refused == ["malformed_notification"]


async def test_a_notification_for_another_merchant_is_refused(
    wechat: WeChatPay, emulator: WeChatPayEmulator, merchant: Merchant
) -> None:
    await create(wechat, merchant.url)
    emulator.pay(NO)
    other = WeChatPayEmulator(dataclasses.replace(KEYS, mchid="1900000109"))
    sent = await other.post(emulator.orders[NO], other.notification(emulator.orders[NO]), None)
    assert sent.status == 400
    assert merchant.refused == ["other_merchant"]
