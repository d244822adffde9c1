"""What a refusal says back stays short, and a sandbox notification that is signed but
not one the sandbox sends is refused and ledgered, never a 500; over a real centre."""

from __future__ import annotations

import hmac

import pytest

from console.errors import DETAIL_MAX, NotFound, clip
from console.ledger import AuditAction
from console.payments.sandbox import SIGNATURE_HEADER, sandbox_key
from tests.conftest import Centre
from tests.test_payments_api import PLATE, issue, ledger
from tests.test_payments_api import settings as settings  # a centre paying in the sandbox


def test_a_detail_is_cut_to_its_limit_with_an_ellipsis() -> None:
    assert clip("no order 42") == "no order 42"
    long = NotFound("unknown_order", "no order " + "x" * 5000)
    assert len(long.detail) == DETAIL_MAX and long.detail.endswith("…")
    assert str(long) == f"unknown_order: {long.detail}"


async def test_an_unknown_order_of_5000_characters_is_not_echoed_back(staffed: Centre) -> None:
    await staffed.add_lane("P1-OUT")
    async with staffed.client("alice") as client:
        response = await client.post(f"/api/payments/{'7' * 5000}/open", json={})
    assert (response.status_code, response.json()["error"]) == (404, "unknown_order")
    assert len(response.json()["detail"]) <= DETAIL_MAX


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b"not json",
        b"\xff\xfe",
        b"{}",
        b'{"order_id": "a", "transaction_id": "t"}',
        b'{"order_id": 1, "transaction_id": "t", "amount_fen": 800}',
        b'{"order_id": "a", "transaction_id": null, "amount_fen": 800}',
        b'{"order_id": "a", "transaction_id": "t", "amount_fen": "800"}',
        b'{"order_id": "a", "transaction_id": "t", "amount_fen": 8.5}',
    ],
)
async def test_a_signed_notification_the_sandbox_never_sends_is_malformed_and_ledgered(
    staffed: Centre, body: bytes
) -> None:
    await staffed.add_lane("P1-OUT")
    async with staffed.client("alice") as client:
        issued = await issue(client, {"plate": PLATE, "amount_fen": 800})
        assert issued.status_code == 201, issued.text
        key = await staffed.store.get_sticker_key()  # made for the first pay link
        assert key is not None
        signature = hmac.digest(sandbox_key(key), body, "sha256").hex()
        response = await client.post(
            "/pay/notify/sandbox", content=body, headers={SIGNATURE_HEADER: signature}
        )
        order = (await client.get(f"/api/payments/{issued.json()['order_id']}")).json()
    assert (response.status_code, response.json()["error"]) == (400, "malformed_notification")
    assert (order["state"], order["notifications"]) == ("open", [])
    refused = (await ledger(staffed))[-1]
    assert (refused.action, refused.outcome) == (
        AuditAction.PAYMENT_REFUSED,
        "malformed_notification",
    )
