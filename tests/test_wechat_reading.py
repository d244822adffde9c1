"""Reading WeChat Pay's transaction object, without sockets: payloads shaped as the
examples of the "商户订单号查询订单" documentation, and what is refused."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from console.payments.wechat import OtherMerchant, TradeState, WeChatOrder, read_transaction

MCHID = "1900006891"


def paid() -> dict[str, Any]:
    return {
        "amount": {"currency": "CNY", "payer_currency": "CNY", "payer_total": 1, "total": 1},
        "appid": "wxdace645e0bc2c424",
        "attach": "",
        "bank_type": "OTHERS",
        "mchid": MCHID,
        "out_trade_no": "44_2126281063_5504",
        "payer": {"openid": "o4GgauJP_mgWEWictzA15WT15XXX"},
        "promotion_detail": [],
        "success_time": "2021-03-22T10:29:05+08:00",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "trade_type": "NATIVE",
        "transaction_id": "4200000891202103228088184743",
    }


def unpaid() -> dict[str, Any]:
    return {
        "amount": {"payer_currency": "CNY", "total": 1},
        "appid": "wxdace645e0bc2c424",
        "mchid": MCHID,
        "out_trade_no": "44_2126281063_5505",
        "promotion_detail": [],
        "scene_info": {"device_id": ""},
        "trade_state": "NOTPAY",
        "trade_state_desc": "订单未支付",
    }


def test_a_paid_transaction_reads_with_its_id_amount_and_beijing_time() -> None:
    order = read_transaction(paid(), MCHID)
    assert order == WeChatOrder(
        "44_2126281063_5504",
        TradeState.SUCCESS,
        "4200000891202103228088184743",
        1,
        datetime.fromisoformat("2021-03-22T10:29:05+08:00"),
    )
    assert order.success_time is not None
    assert order.success_time.utcoffset() == timedelta(hours=8)


def test_an_unpaid_transaction_has_no_id_and_no_time() -> None:
    order = read_transaction(unpaid(), MCHID)
    assert (order.state, order.transaction_id, order.success_time) == (
        TradeState.NOTPAY,
        None,
        None,
    )
    assert order.amount_fen == 1


def test_another_merchants_transaction_is_refused_as_such() -> None:
    with pytest.raises(OtherMerchant, match="1900006891"):
        read_transaction(paid(), "1900009191")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"trade_state": "REVOKED"}, "unknown trade_state 'REVOKED'"),
        ({"trade_state": None}, "unknown trade_state None"),
        ({"out_trade_no": 44}, "no out_trade_no"),
        ({"transaction_id": 4200000891}, "transaction_id is not a string"),
        ({"amount": {"total": -1}}, "amount.total -1 is not fen"),
        ({"amount": {"total": 1.5}}, "amount.total 1.5 is not fen"),
        ({"success_time": "2021-03-22T10:29:05"}, "has no UTC offset"),
        ({"success_time": "yesterday"}, "is not RFC 3339"),
    ],
)
def test_a_transaction_that_breaks_the_documented_shape_is_refused(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        read_transaction(paid() | change, MCHID)


def test_what_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="not a JSON object"):
        read_transaction(["SUCCESS"], MCHID)
