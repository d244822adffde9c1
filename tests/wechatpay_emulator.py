"""A WeChat Pay API v3 emulator: a real HTTP server on 127.0.0.1 with keys made per test.

It does what WeChat Pay's documentation says its servers do for a Native payment: it
refuses a request whose ``Authorization`` does not verify (401 ``SIGN_ERROR``), answers
``POST /v3/pay/transactions/native``, ``GET /v3/pay/transactions/out-trade-no/{no}`` and
``POST …/{no}/close`` with WeChat's JSON (errors as ``{"code", "message"}``), signs
every answer with its platform key, and posts signed notifications whose resource is
encrypted with the APIv3 key. Faults are asked for: a 500 or no answer on the next call,
an answer held until the test releases it, an answer with a forged signature; and
notifications replayed, forged, from an unknown key, with a ciphertext that does not
decrypt, of another merchant or of another sum."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console.payments.wechat_crypto import (
    MAX_SKEW_S,
    SCHEME,
    answer_message,
    new_nonce,
    request_message,
    sign,
    verify,
)
from console.payments.wechat_settings import WeChatSettings
from console.server import listening_socket

SHANGHAI = ZoneInfo("Asia/Shanghai")


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class Keys:
    """One merchant's account and WeChat Pay's keys, as the merchant platform hands them
    out, made fresh for a test."""

    mchid: str = "1900009191"
    appid: str = "wxd678efh567hg6787"
    merchant_serial: str = "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"
    platform_serial: str = "PUB_KEY_ID_0119000091912025112900000000000001"
    merchant: rsa.RSAPrivateKey = field(default_factory=rsa_key, repr=False)
    platform: rsa.RSAPrivateKey = field(default_factory=rsa_key, repr=False)
    apiv3_key: bytes = field(default_factory=lambda: secrets.token_hex(16).encode(), repr=False)

    def settings(self, base_url: str, timeout_s: float = 5.0) -> WeChatSettings:
        """The merchant's client settings for an emulator at ``base_url``."""
        return WeChatSettings(
            mchid=self.mchid,
            appid=self.appid,
            serial=self.merchant_serial,
            private_key=self.merchant,
            apiv3_key=self.apiv3_key,
            platform_keys={self.platform_serial: self.platform.public_key()},
            base_url=base_url,
            timeout_s=timeout_s,
        )


class Fault(StrEnum):
    """What the next call of an operation gets instead of its answer."""

    SERVER_ERROR = "server_error"  # 500 SYSTEM_ERROR
    TIMEOUT = "timeout"  # no answer until the emulator stops
    FORGED_ANSWER = "forged_answer"  # the right answer, signed by another key
    HELD = "held"  # the right answer, once the test calls ``release``


class NotifyFault(StrEnum):
    """How a notification is spoiled."""

    REPLAYED = "replayed"  # signed six minutes ago
    FORGED = "forged"  # signed by a key that is not WeChat Pay's
    WRONG_SERIAL = "wrong_serial"  # names a key the merchant does not have
    # The ciphertext altered, then the whole signed: what a wrong APIv3 key looks like,
    # so the decryption (not the signature) is what catches it.
    TAMPERED_CIPHERTEXT = "tampered_ciphertext"
    # Genuinely signed and encrypted, but not what the merchant's order says: what a
    # key shared with another merchant, or a bug at WeChat Pay, would bring.
    OTHER_MERCHANT = "other_merchant"  # the transaction is another merchant's
    OTHER_AMOUNT = "other_amount"  # a fen more than the order's total


@dataclass
class Order:
    out_trade_no: str
    request: dict[str, Any]
    code_url: str
    state: str = "NOTPAY"
    transaction_id: str | None = None
    success_time: str | None = None

    @property
    def total(self) -> int:
        total: int = self.request["amount"]["total"]
        return total


@dataclass(frozen=True)
class Sent:
    """A notification posted, and the merchant's answer."""

    out_trade_no: str
    notification_id: str
    body: bytes
    status: int
    answer: bytes


def error(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"code": code, "message": message}


class WeChatPayEmulator:
    def __init__(self, keys: Keys, clock: Callable[[], float] = time.time) -> None:
        self.keys = keys
        self.clock = clock
        self.orders: dict[str, Order] = {}
        self.faults: dict[str, list[Fault]] = {"create": [], "query": [], "close": []}
        # Requests refused for their signature, as (status, WeChat code): what a test
        # asserts the emulator saw.
        self.refused: list[tuple[int, str]] = []
        # The out_trade_no of each order query, in order, faults included; and of each
        # close answered, as it is answered.
        self.queries: list[str] = []
        self.closes: asyncio.Queue[str] = asyncio.Queue()
        self._release = asyncio.Event()
        self._held = asyncio.Event()
        self._forger = rsa_key()
        self.app = Starlette(
            routes=[
                Route("/v3/pay/transactions/native", self._create, methods=["POST"]),
                Route("/v3/pay/transactions/out-trade-no/{no}", self._query, methods=["GET"]),
                Route(
                    "/v3/pay/transactions/out-trade-no/{no}/close", self._close, methods=["POST"]
                ),
            ]
        )
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.url = ""

    async def start(self) -> None:
        self._server, self._task, port = await serve(self.app)
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self._release.set()  # lets a TIMEOUT fault's request end, so the server can stop
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task

    def release(self) -> None:
        """Calls held by ``Fault.HELD`` are answered."""
        self._held.set()

    def fail_next(self, operation: str, fault: Fault) -> None:
        """The next ``create``, ``query`` or ``close`` meets ``fault``."""
        self.faults[operation].append(fault)

    def place(self, out_trade_no: str, total: int, notify_url: str) -> Order:
        """An order of the merchant's that the centre did not make (another of its
        systems did, or a forger guesses at ids): its notifications name an order the
        centre does not know."""
        request = {"amount": {"total": total, "currency": "CNY"}, "notify_url": notify_url}
        order = Order(out_trade_no, request, f"weixin://wxpay/bizpayurl?pr={out_trade_no[:7]}")
        self.orders[out_trade_no] = order
        return order

    def pay(self, out_trade_no: str) -> Order:
        """The driver scans the code and pays: the order is SUCCESS now. WeChat will not
        take a payment for a closed order."""
        order = self.orders[out_trade_no]
        if order.state == "CLOSED":
            raise ValueError(f"order {out_trade_no} is closed: WeChat Pay takes no payment")
        order.state = "SUCCESS"
        order.transaction_id = "42000" + "".join(secrets.choice("0123456789") for _ in range(23))
        order.success_time = datetime.fromtimestamp(int(self.clock()), SHANGHAI).isoformat()
        return order

    # -- the API ---------------------------------------------------------------------

    async def _create(self, request: Request) -> Response:
        return await self._handle("create", request, self._native)

    async def _query(self, request: Request) -> Response:
        self.queries.append(request.path_params["no"])
        return await self._handle("query", request, self._order)

    async def _close(self, request: Request) -> Response:
        answer = await self._handle("close", request, self._closed)
        self.closes.put_nowait(request.path_params["no"])
        return answer

    async def _handle(
        self,
        operation: str,
        request: Request,
        answer: Callable[[Request, bytes], tuple[int, dict[str, Any] | None]],
    ) -> Response:
        body = await request.body()
        refused = self._check_authorization(request, body)
        if refused is not None:
            self.refused.append((refused[0], refused[1]["code"]))
            return Response(json.dumps(refused[1]), refused[0], media_type="application/json")
        fault = self.faults[operation].pop(0) if self.faults[operation] else None
        if fault is Fault.TIMEOUT:
            await self._release.wait()
            return Response(status_code=504)
        if fault is Fault.HELD:
            await self._held.wait()
        payload: dict[str, Any] | None
        if fault is Fault.SERVER_ERROR:
            status, payload = error(500, "SYSTEM_ERROR", "系统错误")
        else:
            status, payload = answer(request, body)
        content = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        key = self._forger if fault is Fault.FORGED_ANSWER else self.keys.platform
        headers = self.signed_headers(content, key=key)
        return Response(content, status, headers=headers, media_type="application/json")

    def _check_authorization(
        self, request: Request, body: bytes
    ) -> tuple[int, dict[str, Any]] | None:
        header = request.headers.get("authorization", "")
        scheme, _, params = header.partition(" ")
        if scheme != SCHEME:
            return error(401, "SIGN_ERROR", "错误的签名类型或缺少Authorization")
        fields: dict[str, str] = {}
        for part in params.split(","):
            name, _, value = part.strip().partition("=")
            fields[name] = value.strip('"')
        if fields.get("mchid") != self.keys.mchid:
            return error(401, "SIGN_ERROR", "商户号与签名不一致")
        if fields.get("serial_no") != self.keys.merchant_serial:
            return error(401, "SIGN_ERROR", "商户证书序列号有误")
        timestamp = fields.get("timestamp", "")
        if not timestamp.isdigit() or abs(self.clock() - int(timestamp)) > MAX_SKEW_S:
            return error(
                401, "SIGN_ERROR", "Http头Authorization中的timestamp与发起请求的时间不得超过5分钟"
            )
        url = request.scope["raw_path"].decode()
        if request.url.query:
            url += "?" + request.scope["query_string"].decode()
        message = request_message(
            request.method, url, int(timestamp), fields.get("nonce_str", ""), body
        )
        if not verify(self.keys.merchant.public_key(), message, fields.get("signature", "")):
            return error(401, "SIGN_ERROR", "签名错误")
        return None

    def _native(self, request: Request, body: bytes) -> tuple[int, dict[str, Any] | None]:
        try:
            data = json.loads(body)
            no, total = data["out_trade_no"], data["amount"]["total"]
            for name in ("appid", "mchid", "description", "notify_url"):
                if not isinstance(data[name], str):
                    raise TypeError(name)
        except (ValueError, KeyError, TypeError) as exc:
            return error(400, "PARAM_ERROR", f"参数错误: {exc}")
        if data["mchid"] != self.keys.mchid or data["appid"] != self.keys.appid:
            return error(400, "PARAM_ERROR", "appid和mch_id不匹配")
        if type(total) is not int or total < 1:
            return error(400, "PARAM_ERROR", "订单金额必须大于0")
        order = self.orders.get(no)
        if order is None:
            order = Order(no, data, f"weixin://wxpay/bizpayurl?pr={secrets.token_urlsafe(6)}")
            self.orders[no] = order
        elif order.request != data:
            return error(400, "OUT_TRADE_NO_USED", "商户订单号重复")
        elif order.state == "SUCCESS":
            return error(400, "ORDERPAID", "该订单已支付")
        elif order.state == "CLOSED":
            return error(400, "ORDER_CLOSED", "该订单已关闭")
        return 200, {"code_url": order.code_url}

    def _order(self, request: Request, body: bytes) -> tuple[int, dict[str, Any] | None]:
        if request.query_params.get("mchid") != self.keys.mchid:
            return error(400, "PARAM_ERROR", "mchid不正确")
        order = self.orders.get(request.path_params["no"])
        if order is None:
            return error(404, "ORDER_NOT_EXIST", "订单不存在")
        return 200, self.transaction(order)

    def _closed(self, request: Request, body: bytes) -> tuple[int, dict[str, Any] | None]:
        order = self.orders.get(request.path_params["no"])
        if order is None:
            return error(404, "ORDER_NOT_EXIST", "订单不存在")
        if order.state == "SUCCESS":
            return error(400, "ORDERPAID", "订单已支付")
        order.state = "CLOSED"
        return 204, None

    def transaction(self, order: Order) -> dict[str, Any]:
        """The transaction object of a query's answer and a notification's resource."""
        paid = order.state in ("SUCCESS", "REFUND")
        data: dict[str, Any] = {
            "appid": self.keys.appid,
            "mchid": self.keys.mchid,
            "out_trade_no": order.out_trade_no,
            "trade_type": "NATIVE",
            "trade_state": order.state,
            "trade_state_desc": {"SUCCESS": "支付成功", "NOTPAY": "未支付"}.get(order.state, ""),
            "amount": {"total": order.total, "currency": "CNY"}
            | ({"payer_total": order.total, "payer_currency": "CNY"} if paid else {}),
        }
        if paid:
            data |= {
                "transaction_id": order.transaction_id,
                "bank_type": "OTHERS",
                "success_time": order.success_time,
                "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
            }
        return data

    # -- signing and notifications ---------------------------------------------------------

    def signed_headers(
        self,
        body: bytes,
        *,
        key: rsa.RSAPrivateKey | None = None,
        serial: str | None = None,
        timestamp: int | None = None,
    ) -> dict[str, str]:
        at = str(int(self.clock()) if timestamp is None else timestamp)
        nonce = new_nonce()
        signature = sign(key or self.keys.platform, answer_message(at, nonce, body))
        return {
            "Wechatpay-Timestamp": at,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature,
            "Wechatpay-Serial": serial or self.keys.platform_serial,
            "Request-ID": str(uuid.uuid4()),
        }

    def notification(self, order: Order, fault: NotifyFault | None = None) -> bytes:
        """The body of a payment notification for ``order``, its resource encrypted."""
        nonce = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
        transaction = self.transaction(order)
        if fault is NotifyFault.OTHER_MERCHANT:
            transaction["mchid"] = "1230000109"
        if fault is NotifyFault.OTHER_AMOUNT:
            transaction["amount"] = transaction["amount"] | {"total": order.total + 1}
        clear = json.dumps(transaction, ensure_ascii=False).encode()
        sealed = AESGCM(self.keys.apiv3_key).encrypt(nonce.encode(), clear, b"transaction")
        if fault is NotifyFault.TAMPERED_CIPHERTEXT:
            sealed = bytes([sealed[0] ^ 1]) + sealed[1:]
        envelope = {
            "id": str(uuid.uuid4()),
            "create_time": datetime.fromtimestamp(int(self.clock()), SHANGHAI).isoformat(),
            "resource_type": "encrypt-resource",
            "event_type": "TRANSACTION.SUCCESS",
            "summary": "支付成功",
            "resource": {
                "original_type": "transaction",
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(sealed).decode(),
                "associated_data": "transaction",
                "nonce": nonce,
            },
        }
        return json.dumps(envelope, ensure_ascii=False).encode()

    async def notify(self, out_trade_no: str, fault: NotifyFault | None = None) -> Sent:
        """Posts a notification of ``out_trade_no``'s state to its ``notify_url``."""
        order = self.orders[out_trade_no]
        body = self.notification(order, fault)
        return await self.post(order, body, fault)

    async def resend(self, sent: Sent) -> Sent:
        """WeChat Pay's retry: the same notification, signed afresh."""
        order = self.orders[sent.out_trade_no]
        return await self.post(order, sent.body, None)

    async def post(self, order: Order, body: bytes, fault: NotifyFault | None) -> Sent:
        headers = self.signed_headers(
            body,
            key=self._forger if fault is NotifyFault.FORGED else None,
            serial="PUB_KEY_ID_0000000000000000000000000000000000"
            if fault is NotifyFault.WRONG_SERIAL
            else None,
            timestamp=int(self.clock()) - MAX_SKEW_S - 60
            if fault is NotifyFault.REPLAYED
            else None,
        )
        headers["Content-Type"] = "application/json"
        async with httpx.AsyncClient() as client:
            response = await client.post(order.request["notify_url"], content=body, headers=headers)
        notification_id: str = json.loads(body)["id"]
        return Sent(
            order.out_trade_no, notification_id, body, response.status_code, response.content
        )


async def serve(app: Starlette) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    """``app`` under uvicorn on 127.0.0.1, on a free port, accepting once this returns."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off")
    sock = listening_socket(config)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    return server, task, sock.getsockname()[1]
