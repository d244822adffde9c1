"""The store's parts put together: what ``SQLiteStore`` and ``PostgresStore`` both are,
each with its own way to open its database."""

from __future__ import annotations

from .sqlite_accounts import AccountsPart
from .sqlite_audit import AuditPart
from .sqlite_billing import BillingPart
from .sqlite_calls import CallsPart
from .sqlite_changes import ChangesPart
from .sqlite_lanes import LanesPart
from .sqlite_orders import OrdersPart
from .sqlite_parking import ParkingPart

# A centre reads the change feed every second; ten thousand changes is hours of the
# busiest administration, so a centre that misses them was stopped, not slow.
CHANGES_KEPT = 10_000


class StoreParts(
    AccountsPart,
    LanesPart,
    ChangesPart,
    AuditPart,
    CallsPart,
    ParkingPart,
    BillingPart,
    OrdersPart,
):
    """Every part of the ``Store``, over the writer and reads ``StoreBase`` is given."""
