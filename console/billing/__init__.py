"""Billing of car parks, pure: a car park's billing rules as data (``rules.py``, read
strictly through ``reading.py``), a stay's fee with the breakdown a driver is shown
(``fees.py``), which plates go free or are held (``lists.py``) and what an escape left
owing adds to a plate's next payment (``debts.py``). Times are read in Asia/Shanghai
(``localtime.py``). No storage, no clock, no I/O: callers pass the time in."""
