-- Duka schema v1. Money is integer cents (amount_cents) or, for M-Pesa pushes, whole
-- shillings (amount). Times are UTC milliseconds since the epoch. No secrets are stored here.

CREATE TABLE cashiers (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role        TEXT NOT NULL CHECK (role IN ('cashier', 'manager')),
    pin_hash    TEXT,
    active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at  INTEGER NOT NULL
);

CREATE TABLE products (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    barcode     TEXT UNIQUE,
    sku         TEXT UNIQUE,
    active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX products_name ON products (name COLLATE NOCASE);

CREATE TABLE sales (
    id          INTEGER PRIMARY KEY,
    status      TEXT NOT NULL CHECK (status IN ('open', 'awaiting_payment', 'paid', 'voided')),
    cashier_id  INTEGER NOT NULL REFERENCES cashiers (id),
    total_cents INTEGER NOT NULL CHECK (total_cents >= 0),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    paid_at     INTEGER,
    voided_at   INTEGER
);
CREATE INDEX sales_created ON sales (created_at);
CREATE INDEX sales_paid ON sales (paid_at) WHERE paid_at IS NOT NULL;

CREATE TABLE sale_lines (
    sale_id          INTEGER NOT NULL REFERENCES sales (id),
    line_no          INTEGER NOT NULL,
    product_id       INTEGER REFERENCES products (id),
    description      TEXT NOT NULL,
    unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    total_cents      INTEGER NOT NULL CHECK (total_cents >= 0),
    PRIMARY KEY (sale_id, line_no)
) WITHOUT ROWID;

CREATE TABLE payment_attempts (
    id                  TEXT PRIMARY KEY,          -- 32 lowercase hex: unguessable, never reused
    sale_id             INTEGER NOT NULL REFERENCES sales (id),
    phone               TEXT NOT NULL,             -- normalised 2547XXXXXXXX / 2541XXXXXXXX
    amount              INTEGER NOT NULL CHECK (amount BETWEEN 1 AND 250000), -- whole shillings
    state               TEXT NOT NULL CHECK (state IN ('created', 'pending', 'paid', 'failed', 'unknown')),
    checkout_request_id TEXT UNIQUE,
    merchant_request_id TEXT,
    result_code         TEXT,
    result_desc         TEXT,
    receipt             TEXT,
    flag                TEXT,                      -- why a manager must look (conflicting facts)
    cashier_id          INTEGER NOT NULL REFERENCES cashiers (id),
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    finalized_at        INTEGER
);
-- "open attempts" (resume on start, poller) stay cheap however old the till is.
CREATE INDEX attempts_open ON payment_attempts (state) WHERE state IN ('created', 'pending', 'unknown');
-- At most one non-final attempt per sale, enforced by the database itself.
CREATE UNIQUE INDEX attempts_one_active_per_sale ON payment_attempts (sale_id)
    WHERE state IN ('created', 'pending', 'unknown');
CREATE INDEX attempts_sale ON payment_attempts (sale_id);
CREATE INDEX attempts_flagged ON payment_attempts (flag) WHERE flag IS NOT NULL;

-- Append-only log of every transition and every conflicting fact.
CREATE TABLE payment_events (
    id          INTEGER PRIMARY KEY,
    attempt_id  TEXT NOT NULL REFERENCES payment_attempts (id),
    at          INTEGER NOT NULL,
    source      TEXT NOT NULL,          -- engine | query | callback | status | cashier | reconcile
    event       TEXT NOT NULL,          -- push_accepted | result | deadline | ...
    outcome     TEXT NOT NULL CHECK (outcome IN ('changed', 'conflict')),
    from_state  TEXT NOT NULL,
    to_state    TEXT NOT NULL,
    detail      TEXT NOT NULL           -- JSON: the event and anything learned with it
);
CREATE INDEX payment_events_attempt ON payment_events (attempt_id, id);
CREATE TRIGGER payment_events_no_update BEFORE UPDATE ON payment_events
BEGIN SELECT RAISE(ABORT, 'payment_events is append-only'); END;
CREATE TRIGGER payment_events_no_delete BEFORE DELETE ON payment_events
BEGIN SELECT RAISE(ABORT, 'payment_events is append-only'); END;

CREATE TABLE tenders (
    id             INTEGER PRIMARY KEY,
    sale_id        INTEGER NOT NULL REFERENCES sales (id),
    kind           TEXT NOT NULL CHECK (kind IN ('cash', 'mpesa_stk', 'mpesa_code')),
    amount_cents   INTEGER NOT NULL CHECK (amount_cents > 0),
    tendered_cents INTEGER,
    change_cents   INTEGER NOT NULL DEFAULT 0 CHECK (change_cents >= 0),
    attempt_id     TEXT UNIQUE REFERENCES payment_attempts (id),
    receipt        TEXT,
    verified       INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1)),
    cashier_id     INTEGER NOT NULL REFERENCES cashiers (id),
    created_at     INTEGER NOT NULL
);
CREATE INDEX tenders_sale ON tenders (sale_id);
-- "receipts of one day" and the day report read tenders by time.
CREATE INDEX tenders_created ON tenders (created_at, kind);
CREATE UNIQUE INDEX tenders_receipt ON tenders (receipt) WHERE receipt IS NOT NULL;

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
