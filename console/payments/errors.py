"""Errors of payments. Each raise names a precise ``code``; the class gives the family
and so the HTTP status. Nothing is changed by a refused request."""

from __future__ import annotations

from ..errors import BadRequest, Conflict, NotFound


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
    signature or tag does not match), ``amount_mismatch`` (genuine, but of another sum),
    ``unknown_order``."""

    code = "notification_refused"
