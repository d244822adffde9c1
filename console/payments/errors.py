"""Errors of payments: an order request that breaks a rule, an order in a state that
forbids the step, a provider's notification that does not stand; and for WeChat Pay, a
payment request the centre refuses to send, WeChat Pay refusing or failing to answer
one, an answer from it that cannot be trusted, and a notification that is not WeChat
Pay's.

Each raise names a precise ``code`` (``stale_timestamp``, ``wechat_timeout``) and a
detail a person can act on. A refused notification changed nothing: it is verified and
decrypted before anything reads it."""

from __future__ import annotations

from ..errors import BadRequest, Conflict, ConsoleError, NotFound


class PaymentError(ConsoleError):
    code = "payment_error"
    status = 502


class BadPaymentRequest(PaymentError):
    """What the centre was asked to send breaks WeChat Pay's rules and was not sent:
    ``bad_out_trade_no``, ``bad_amount``, ``bad_description``, ``bad_notify_url``,
    ``naive_time``."""

    code = "bad_payment_request"
    status = 400


class WeChatRefused(PaymentError):
    """WeChat Pay answered the request with an error, e.g. ``ORDER_NOT_EXIST`` (404) or
    ``SIGN_ERROR`` (401): ``wechat_code``, ``wechat_status`` and WeChat's message in the
    detail. The code is ``wechat_refused``, or ``order_not_found`` for an unknown order."""

    code = "wechat_refused"

    def __init__(self, code: str, detail: str, *, wechat_code: str, wechat_status: int) -> None:
        super().__init__(code, detail, wechat_code=wechat_code, wechat_status=wechat_status)
        self.wechat_code = wechat_code
        self.wechat_status = wechat_status


class WeChatUnavailable(PaymentError):
    """WeChat Pay could not be asked: ``wechat_timeout`` (no answer in time),
    ``wechat_unreachable`` (no connection), ``wechat_server_error`` (it answered 5xx).
    Whether a timed-out order was created is unknown: query it before creating another."""

    code = "wechat_unavailable"
    status = 503


class UntrustedResponse(PaymentError):
    """An answer that does not carry a valid WeChat Pay signature, or does not say what
    the API documents: ``missing_signature``, ``unknown_serial``, ``stale_timestamp``,
    ``bad_signature``, ``malformed_response``. It is not believed."""

    code = "untrusted_response"


class BadNotification(PaymentError):
    """A payment notification refused: ``missing_signature``, ``unknown_serial``,
    ``stale_timestamp`` (a replay), ``bad_signature`` (forged or altered),
    ``malformed_notification``, ``undecryptable_resource`` (tampered ciphertext or the
    wrong APIv3 key), ``other_merchant``. WeChat Pay is answered 4xx and sends it again
    later; nothing was recorded."""

    code = "bad_notification"
    status = 400


class BadOrder(BadRequest):
    """An order request breaks a rule: ``invalid_amount`` (not a whole number of fen from
    1 to 10,000,000), ``reason_required`` (an amount other than the rules' without a
    reason), ``amount_required`` (no stay to price it by and no amount), ``plate_required``
    (no stay to take the plate from and no plate), ``invalid_stay_id``."""

    code = "bad_order"


class UnknownOrder(NotFound):
    code = "unknown_order"


class OrderClosed(Conflict):
    """The order cannot take the step in its state: ``order_paid``, ``order_expired``,
    ``order_cancelled``; or ``nothing_to_pay`` when the rules charge the stay nothing."""

    code = "order_closed"


class NotificationRefused(BadRequest):
    """A provider's notification that does not stand: ``notification_forged`` (its
    signature or tag does not match), ``malformed_notification`` (signed, but not what
    the provider sends), ``amount_mismatch`` (genuine, but of another sum),
    ``unknown_order``."""

    code = "notification_refused"
