"""What the centre needs of a payment provider: the sandbox (``sandbox.py``) and,
behind the same interface, WeChat Pay v3 (create a Native order, verify and decrypt a
notification, query an order)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from .orders import PaymentOrder


@dataclass(frozen=True, slots=True)
class PaymentNotice:
    """A provider's word that ``amount_fen`` was paid for an order, in its transaction
    ``transaction_id`` (WeChat Pay's ``transaction_id``)."""

    order_id: str
    transaction_id: str
    amount_fen: int


class Provider(Protocol):
    """``name`` is kept with each order and names the notification endpoint,
    ``/pay/notify/{name}``."""

    @property
    def name(self) -> str: ...

    async def create(self, order: PaymentOrder) -> str:
        """Opens the order with the provider; returns the provider's reference for it."""
        ...

    def verify(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        """The notice a notification carries, if the provider really sent it;
        ``NotificationRefused`` (``notification_forged``) otherwise."""
        ...

    async def query(self, order: PaymentOrder) -> PaymentNotice | None:
        """The provider's payment of ``order``, None if it has none: for a notification
        that never arrived."""
        ...
