"""The centre's own decisions at the lanes: blacklisted plates held and alerted,
monthly passes, the whitelist and free stays let out, owed stays asked to pay at the
exit's display, entries let in; and escapes, the debts they leave and the alert when
the plate comes back.

``decide`` is pure; ``lists`` reads every car park's plate lists, ``keeper`` carries the
decisions out from the vehicle recorder's events, ``escapes`` records a car that left
without paying, and ``api`` serves a car park's rules and lists and the escapes.
"""
