"""What the centre needs of a payment provider: the sandbox (``sandbox.py``) and,
behind the same interface, WeChat Pay v3 (``wechat_provider.py``): open an order and
say what its QR code holds, close a replaced one, verify and read a notification, ask
after an order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from .orders import PaymentOrder


@dataclass(frozen=True, slots=True)
class PaymentNotice:
    """A provider's word that ``amount_fen`` was paid for an order, in its transaction
    ``transaction_id`` (WeChat Pay's ``transaction_id``). ``notification_id`` names the
    notification that said so (WeChat Pay's ``id``); None for a query's answer, or a
    provider whose notifications have no id of their own."""

    order_id: str
    transaction_id: str
    amount_fen: int
    notification_id: str | None = None


@dataclass(frozen=True, slots=True)
class Placed:
    """An order opened with its provider: the provider's ``reference`` for it, and
    ``scan``, what the QR code on the lane's display encodes: the centre's pay page for
    the sandbox, WeChat Pay's ``code_url`` for WeChat Pay."""

    reference: str
    scan: str


class Provider(Protocol):
    """``name`` is kept with each order and names the notification endpoint,
    ``/pay/notify/{name}``."""

    @property
    def name(self) -> str: ...

    async def create(self, order: PaymentOrder, pay_link: str) -> Placed:
        """Opens the order with the provider. ``pay_link`` is the centre's signed pay
        page for the order, for a provider that has the driver pay there."""
        ...

    async def close(self, order: PaymentOrder) -> None:
        """Stops a replaced order being paid with the provider; an order already paid,
        or unknown to it, is left as it is."""
        ...

    def verify(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        """The notice a notification carries, if the provider really sent it;
        ``NotificationRefused`` with the reason's code otherwise."""
        ...

    async def query(self, order: PaymentOrder) -> PaymentNotice | None:
        """The provider's payment of ``order``, None if it has none: for a notification
        that never arrived."""
        ...
