"""The SQLite store's tables, their migrations, and opening a file at the current schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .errors import StoreError
from .ledger import GENESIS_HASH

# ------------------------------------------------------------------ schema

SCHEMA_VERSION = 12

# One tuple of statements per schema version; a database at version N gets the tuples
# after N, each in its own transaction together with the new ``user_version``.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE users (
            username      TEXT PRIMARY KEY,
            role          TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            created_at    TEXT NOT NULL,
            disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))
        ) STRICT""",
        """CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            username   TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
            csrf_token TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        ) STRICT""",
        "CREATE INDEX sessions_by_expiry ON sessions (expires_at)",
        "CREATE INDEX sessions_by_user ON sessions (username)",
        """CREATE TABLE lanes (
            id         TEXT PRIMARY KEY,
            name       TEXT NOT NULL,
            car_park   TEXT NOT NULL,
            direction  TEXT NOT NULL CHECK (direction IN ('entry', 'exit')),
            token_hash TEXT NOT NULL
        ) STRICT""",
        "CREATE INDEX lanes_by_car_park ON lanes (car_park, id)",
        # ``at`` and ``detail`` hold the exact text that was hashed (see ledger.py).
        # ``lane`` is deliberately not a foreign key: an action on an unknown lane must
        # still be recorded.
        """CREATE TABLE audit (
            seq        INTEGER PRIMARY KEY CHECK (seq >= 1),
            at         TEXT NOT NULL,
            actor      TEXT NOT NULL,
            action     TEXT NOT NULL,
            lane       TEXT,
            command_id TEXT,
            reason     TEXT,
            outcome    TEXT,
            detail     TEXT NOT NULL,
            prev_hash  TEXT NOT NULL,
            hash       TEXT NOT NULL
        ) STRICT""",
        """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit ledger is append-only'); END""",
        """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit ledger is append-only'); END""",
        # Inserts only at the head, linked to it. This also closes INSERT OR REPLACE,
        # whose implicit delete skips delete triggers unless recursive_triggers is on.
        f"""CREATE TRIGGER audit_append_at_head BEFORE INSERT ON audit
        WHEN NEW.seq IS NOT (SELECT coalesce(max(seq), 0) + 1 FROM audit)
          OR NEW.prev_hash IS NOT coalesce(
               (SELECT hash FROM audit WHERE seq = NEW.seq - 1), '{GENESIS_HASH}')
        BEGIN SELECT RAISE(ABORT, 'audit ledger is append-only'); END""",
    ),
    (
        # What a running centre must hear of when another process (the ``seat`` CLI)
        # changes an account, ends sessions or rotates a lane's token: see
        # ``console.changes``. AUTOINCREMENT: a seq is never reused after pruning.
        """CREATE TABLE changes (
            seq     INTEGER PRIMARY KEY AUTOINCREMENT,
            kind    TEXT NOT NULL CHECK (kind IN ('user', 'session', 'lane')),
            subject TEXT NOT NULL
        ) STRICT""",
    ),
    (
        # The help stickers (``console.stickers``): each lane's current sticker serial,
        # bumped to revoke every sticker printed before, and the one key that signs
        # them, shared by every centre on this database (one row, inserted once).
        """ALTER TABLE lanes ADD COLUMN
            sticker_serial INTEGER NOT NULL DEFAULT 1 CHECK (sticker_serial >= 1)""",
        """CREATE TABLE sticker_key (
            one INTEGER PRIMARY KEY CHECK (one = 1),
            key BLOB NOT NULL CHECK (length(key) >= 32)
        ) STRICT""",
    ),
    (
        # The car parks an agent answers calls for: a JSON array of names; NULL for all.
        "ALTER TABLE users ADD COLUMN coverage TEXT",
        # The call queue's whole state (``console.calls``), rewritten after every step.
        """CREATE TABLE call_state (
            id       INTEGER PRIMARY KEY CHECK (id = 1),
            state    TEXT NOT NULL,
            saved_at TEXT NOT NULL
        ) STRICT""",
        # One row per finished call, written with the step that finished it. ``actions``
        # is a JSON array of the commands sent to the lane while it was answered.
        """CREATE TABLE call_records (
            id          TEXT PRIMARY KEY,
            lane        TEXT NOT NULL,
            car_park    TEXT NOT NULL,
            direction   TEXT NOT NULL CHECK (direction IN ('entry', 'exit')),
            source      TEXT NOT NULL CHECK (source IN ('lane', 'phone', 'hotline')),
            caller      TEXT,
            agent       TEXT,
            state       TEXT NOT NULL CHECK (state IN ('ended', 'abandoned')),
            ending      TEXT NOT NULL CHECK (ending IN ('agent', 'caller', 'timeout')),
            ended_by    TEXT,
            queued_at   TEXT NOT NULL,
            answered_at TEXT,
            ended_at    TEXT NOT NULL,
            wait_s      REAL NOT NULL,
            handle_s    REAL,
            breached    INTEGER NOT NULL CHECK (breached IN (0, 1)),
            presses     INTEGER NOT NULL,
            transfers   INTEGER NOT NULL,
            category    TEXT,
            plate       TEXT,
            amount_fen  INTEGER,
            note        TEXT,
            actions     TEXT NOT NULL
        ) STRICT""",
        "CREATE INDEX call_records_by_end ON call_records (ended_at)",
    ),
    (
        # Each finished call as the call queue holds it (``Call.to_json``), beside its
        # record: a restarted centre remembers the day's finished calls from here, and
        # ``call_state`` keeps only the open ones. A v4 state held them all: moved here.
        "ALTER TABLE call_records ADD COLUMN queue_call TEXT",
        """UPDATE call_records SET queue_call = (
            SELECT held.value FROM call_state, json_each(call_state.state, '$.queue.calls') AS held
            WHERE json_extract(held.value, '$.id') = call_records.id
        )""",
    ),
    (
        # Every vehicle a lane's camera read (``console.vehicles``), one row per event
        # id, and the stays (``console.stays.records``) their reads open and close.
        # ``snapshot`` is the picture's path under the data directory, NULL once
        # retention removed its day; ``box`` a JSON [x, y, width, height].
        """CREATE TABLE vehicle_events (
            event_id        TEXT PRIMARY KEY,
            lane            TEXT NOT NULL,
            car_park        TEXT NOT NULL,
            direction       TEXT NOT NULL CHECK (direction IN ('entry', 'exit')),
            at              TEXT NOT NULL,
            received_at     TEXT NOT NULL,
            plate           TEXT NOT NULL,
            plate_colour    TEXT NOT NULL,
            confidence      REAL NOT NULL CHECK (confidence BETWEEN 0 AND 1),
            box             TEXT NOT NULL,
            snapshot        TEXT,
            corrected_plate TEXT,
            stay_change     TEXT NOT NULL
                CHECK (stay_change IN ('opened', 'reopened', 'closed', 'no_entry', 'unread')),
            stay_id         INTEGER REFERENCES stays (id)
        ) STRICT""",
        "CREATE INDEX vehicle_events_by_lane ON vehicle_events (lane, at)",
        """CREATE INDEX vehicle_events_by_snapshot ON vehicle_events (snapshot)
            WHERE snapshot IS NOT NULL""",
        # A stay has its entry unless it is an exit alone (no_entry), and its end
        # unless it is open: its exit's time, or for no_exit the time of the entry that
        # closed it. One open stay per plate per car park, kept by the index.
        """CREATE TABLE stays (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            car_park    TEXT NOT NULL,
            plate       TEXT NOT NULL,
            state       TEXT NOT NULL CHECK (state IN ('open', 'exited', 'no_exit', 'no_entry')),
            entry_event TEXT REFERENCES vehicle_events (event_id),
            entered_at  TEXT,
            exit_event  TEXT REFERENCES vehicle_events (event_id),
            closed_at   TEXT,
            CHECK ((entry_event IS NULL) = (state = 'no_entry')),
            CHECK ((entered_at IS NULL) = (entry_event IS NULL)),
            CHECK ((closed_at IS NULL) = (state = 'open'))
        ) STRICT""",
        "CREATE UNIQUE INDEX stays_open ON stays (car_park, plate) WHERE state = 'open'",
    ),
    (
        # Each car park's billing rules (``console.billing.rules``), as their canonical
        # JSON; a car park without a row charges nothing and issues no order.
        """CREATE TABLE billing_rules (
            car_park TEXT PRIMARY KEY,
            rules    TEXT NOT NULL,
            set_at   TEXT NOT NULL
        ) STRICT""",
        # Payment orders (``console.payments``): what a driver at a lane is asked to pay.
        # ``rules_fen`` is what the rules charged when the order was made from a stay;
        # ``reason`` says why ``amount_fen`` differs from it. ``paid_at`` with ``paid``.
        """CREATE TABLE payment_orders (
            id           TEXT PRIMARY KEY,
            car_park     TEXT NOT NULL,
            lane         TEXT NOT NULL,
            plate        TEXT NOT NULL,
            stay_id      INTEGER REFERENCES stays (id),
            amount_fen   INTEGER NOT NULL CHECK (amount_fen BETWEEN 1 AND 10000000),
            rules_fen    INTEGER,
            reason       TEXT,
            created_at   TEXT NOT NULL,
            expires_at   TEXT NOT NULL,
            state        TEXT NOT NULL CHECK (state IN ('open', 'paid', 'expired', 'cancelled')),
            provider     TEXT NOT NULL,
            provider_ref TEXT,
            paid_at      TEXT,
            CHECK ((paid_at IS NULL) = (state != 'paid'))
        ) STRICT""",
        "CREATE INDEX payment_orders_by_lane ON payment_orders (lane, created_at)",
        # Every genuine notification a provider sent of an order, once per transaction:
        # a replay finds its row and changes nothing. ``effect`` is what it did.
        """CREATE TABLE payment_notifications (
            order_id       TEXT NOT NULL REFERENCES payment_orders (id),
            transaction_id TEXT NOT NULL,
            amount_fen     INTEGER NOT NULL,
            received_at    TEXT NOT NULL,
            effect         TEXT NOT NULL CHECK (effect IN ('paid', 'already_paid', 'late')),
            PRIMARY KEY (order_id, transaction_id)
        ) STRICT""",
        # The gate opens a paid order asked for, and how each ended (NULL until it has).
        """CREATE TABLE payment_opens (
            command_id   TEXT PRIMARY KEY,
            order_id     TEXT NOT NULL REFERENCES payment_orders (id),
            actor        TEXT NOT NULL,
            requested_at TEXT NOT NULL,
            outcome      TEXT,
            detail       TEXT
        ) STRICT""",
        "CREATE INDEX payment_opens_by_order ON payment_opens (order_id, requested_at)",
    ),
    (
        # Stays of cars without a plate (``console.noplate``): the phone that holds each
        # (its cookie's id), the entry code that opened it and the exit code that closed
        # it (each code lets one car through), and its temporary identity, the stay's
        # plate until an agent links it to a real one.
        """CREATE TABLE noplate_stays (
            stay_id    INTEGER PRIMARY KEY REFERENCES stays (id),
            phone      TEXT NOT NULL,
            identity   TEXT NOT NULL UNIQUE,
            entry_lane TEXT NOT NULL,
            entry_code TEXT NOT NULL UNIQUE,
            exit_code  TEXT UNIQUE
        ) STRICT""",
        "CREATE INDEX noplate_stays_by_phone ON noplate_stays (phone)",
    ),
    (
        # The second reading of an event's plate by OCR (``media.plates.ocr``), asked
        # for by an agent: the plate it read (normalised; '' when it read none), how
        # sure it was, and when. NULL until asked.
        "ALTER TABLE vehicle_events ADD COLUMN read_plate TEXT",
        """ALTER TABLE vehicle_events ADD COLUMN read_confidence REAL
            CHECK (read_confidence BETWEEN 0 AND 1)""",
        "ALTER TABLE vehicle_events ADD COLUMN read_at TEXT",
    ),
    (
        # How each payment was learnt (``console.payments.orders.NoticeSource``): by the
        # provider's notification, whose id is kept once (a replay finds it), or by the
        # centre's query after a notification that never came.
        "ALTER TABLE payment_notifications ADD COLUMN notification_id TEXT",
        "ALTER TABLE payment_notifications ADD COLUMN source TEXT NOT NULL"
        " DEFAULT 'notification' CHECK (source IN ('notification', 'query'))",
        "CREATE UNIQUE INDEX payment_notifications_by_id ON payment_notifications"
        " (notification_id) WHERE notification_id IS NOT NULL",
        # The orders not yet expired, for the centre to ask their providers after.
        "CREATE INDEX payment_orders_by_expiry ON payment_orders (expires_at)",
    ),
    (
        # Each car park's plate lists (``console.billing.lists``): monthly passes,
        # whitelist and blacklist, as their canonical JSON; a car park without a row
        # lets no plate go free and holds none.
        """CREATE TABLE plate_lists (
            car_park TEXT PRIMARY KEY,
            lists    TEXT NOT NULL,
            set_at   TEXT NOT NULL
        ) STRICT""",
        # What escapes left owed (``console.billing.escapes``): one debt per stay whose
        # car left without paying, owed by its plate at every car park until a paid
        # order that named it clears it (``order_id`` and ``cleared_at`` together).
        """CREATE TABLE debts (
            id          TEXT PRIMARY KEY,
            plate       TEXT NOT NULL,
            car_park    TEXT NOT NULL,
            stay_id     INTEGER NOT NULL REFERENCES stays (id),
            fen         INTEGER NOT NULL CHECK (fen BETWEEN 1 AND 10000000),
            incurred_at TEXT NOT NULL,
            recorded_by TEXT NOT NULL,
            note        TEXT NOT NULL,
            order_id    TEXT REFERENCES payment_orders (id),
            cleared_at  TEXT,
            CHECK ((cleared_at IS NULL) = (order_id IS NULL))
        ) STRICT""",
        "CREATE UNIQUE INDEX debts_by_stay ON debts (stay_id)",
        "CREATE INDEX debts_owed_by_plate ON debts (plate) WHERE cleared_at IS NULL",
        # Each blacklisted car the centre held at a lane (``console.gatekeeping.holds``):
        # the day's call ledger flags the calls about them.
        """CREATE TABLE blacklist_holds (
            event_id TEXT PRIMARY KEY REFERENCES vehicle_events (event_id),
            lane     TEXT NOT NULL,
            car_park TEXT NOT NULL,
            plate    TEXT NOT NULL,
            at       TEXT NOT NULL
        ) STRICT""",
        "CREATE INDEX blacklist_holds_by_time ON blacklist_holds (at)",
        # The debts an order asks for beside its fee: paying the order clears them.
        """CREATE TABLE payment_order_debts (
            order_id TEXT NOT NULL REFERENCES payment_orders (id),
            debt_id  TEXT NOT NULL REFERENCES debts (id),
            PRIMARY KEY (order_id, debt_id)
        ) STRICT""",
    ),
    (
        # The call queue's state's version, one more at each save: a server of the
        # centre saves a step only over the version it started from (``StateMoved``).
        "ALTER TABLE call_state ADD COLUMN version INTEGER NOT NULL DEFAULT 0",
    ),
)
assert len(_MIGRATIONS) == SCHEMA_VERSION

AUDIT_COLUMNS = "seq, at, actor, action, lane, command_id, reason, outcome, detail, prev_hash, hash"
USER_COLUMNS = "username, role, password_hash, created_at, disabled, coverage"
SESSION_COLUMNS = "token_hash, username, csrf_token, created_at, expires_at"
LANE_COLUMNS = "id, name, car_park, direction, token_hash"
CALL_RECORD_COLUMNS = (
    "id, lane, car_park, direction, source, caller, agent, state, ending, ended_by,"
    " queued_at, answered_at, ended_at, wait_s, handle_s, breached, presses, transfers,"
    " category, plate, amount_fen, note, actions"
)
VEHICLE_COLUMNS = (
    "event_id, lane, car_park, direction, at, received_at, plate, plate_colour, confidence,"
    " box, snapshot, corrected_plate, read_plate, read_confidence, read_at"
)


# ------------------------------------------------------------------ opening


def open_connection(path: Path, *, writer: bool) -> sqlite3.Connection:
    # isolation_level=None: the writer issues BEGIN/COMMIT itself; the reader never
    # holds a transaction open, so each read sees the latest committed batch.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=not writer)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA foreign_keys = ON")
        if writer:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise StoreError("open_failed", f"{path}: journal_mode is {mode}, not wal")
            conn.execute("PRAGMA synchronous = FULL")
        else:
            conn.execute("PRAGMA query_only = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Read inside the write lock: two processes opening a new file race otherwise.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                "schema_too_new",
                f"{path} has schema v{version}; this program knows up to v{SCHEMA_VERSION}",
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[target - 1]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def open_writer(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = open_connection(path, writer=True)
    try:
        _migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn
