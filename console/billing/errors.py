"""Errors of billing: bad rules, plate lists or debts as an operator wrote them, and a
stay no fee can be computed for.

They are ``ConsoleError``s answered with 400, so the HTTP layer maps them as it maps the
rest; each raise names a precise ``code`` (``bands_overlap``, ``reversed_stay``) and a
detail naming the field, e.g. ``bands[1].fen_per_period must be a whole number of fen
from 0 to 10000000``. Nothing is changed by a refused input: parsing builds nothing."""

from __future__ import annotations

from ..errors import ConsoleError, NotConfigured


class BillingError(ConsoleError):
    code = "billing_error"
    status = 400


class BadRules(BillingError):
    """A car park's billing rules break a rule: ``unknown_key``, ``missing_key``,
    ``bad_type``, ``bad_amount``, ``bad_minutes``, ``bad_time``, ``bad_name``,
    ``bands_overlap``, ``bands_gap``."""

    code = "bad_rules"


class BadPlateList(BillingError):
    """A monthly pass, whitelist or blacklist entry breaks a rule (``bad_plate``,
    ``bad_dates`` and the reading codes of ``BadRules``)."""

    code = "bad_plate_list"


class BadStay(BillingError):
    """No fee can be computed for the stay: ``naive_time`` (a time without its UTC
    offset), ``reversed_stay`` (it leaves at or before it entered), ``out_of_range``."""

    code = "bad_stay"


class BadDebts(BillingError):
    """The debts given to settle are not a plate's open debts: ``other_plate``,
    ``duplicate_debt``, ``bad_amount``, ``bad_fee``."""

    code = "bad_debts"


class NoBillingRules(NotConfigured):
    """``no_billing_rules``: the car park has no billing rules (``seat parks rules set``),
    so no fee can be charged there. Nothing was done."""

    code = "no_billing_rules"
