-- A shop's whole day: shifts and the drawer, discounts, parked sales and void reasons,
-- refunds (cash, M-Pesa reversal, or paid back by hand), and stock.

-- One shift at a time on a till: opened with the float counted into the drawer, closed with
-- a blind count. Sales, tenders, refunds and drawer moves carry their shift.
CREATE TABLE shifts (
    id             INTEGER PRIMARY KEY,
    cashier_id     INTEGER NOT NULL REFERENCES cashiers (id),
    opened_at      INTEGER NOT NULL,
    float_cents    INTEGER NOT NULL CHECK (float_cents >= 0),
    closed_at      INTEGER,
    closed_by      INTEGER REFERENCES cashiers (id),
    counted_cents  INTEGER CHECK (counted_cents >= 0),
    expected_cents INTEGER,
    CHECK ((closed_at IS NULL) = (counted_cents IS NULL))
);
-- At most one open shift, enforced by the database itself.
CREATE UNIQUE INDEX shifts_one_open ON shifts ((closed_at IS NULL)) WHERE closed_at IS NULL;
CREATE INDEX shifts_opened ON shifts (opened_at);

-- Cash out of (pay-out) or into (cash in) the drawer, and the drawer opened by hand.
CREATE TABLE drawer_moves (
    id           INTEGER PRIMARY KEY,
    shift_id     INTEGER REFERENCES shifts (id),
    kind         TEXT NOT NULL CHECK (kind IN ('pay_out', 'cash_in', 'open')),
    amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0),
    reason       TEXT NOT NULL,
    cashier_id   INTEGER NOT NULL REFERENCES cashiers (id),
    at           INTEGER NOT NULL
);
CREATE INDEX drawer_moves_shift ON drawer_moves (shift_id);

ALTER TABLE sales ADD COLUMN shift_id INTEGER REFERENCES shifts (id);
-- A discount is kept as it was given (`amount:CENTS` or `percent:BASIS_POINTS`) and its cents
-- follow the lines it applies to.
ALTER TABLE sales ADD COLUMN discount_spec TEXT;
ALTER TABLE sales ADD COLUMN discount_cents INTEGER NOT NULL DEFAULT 0 CHECK (discount_cents >= 0);
ALTER TABLE sales ADD COLUMN discount_by INTEGER REFERENCES cashiers (id);
ALTER TABLE sales ADD COLUMN parked_at INTEGER;
ALTER TABLE sales ADD COLUMN void_reason TEXT;
CREATE INDEX sales_shift ON sales (shift_id);
CREATE INDEX sales_parked ON sales (parked_at) WHERE parked_at IS NOT NULL;

ALTER TABLE sale_lines ADD COLUMN discount_spec TEXT;
ALTER TABLE sale_lines ADD COLUMN discount_cents INTEGER NOT NULL DEFAULT 0 CHECK (discount_cents >= 0);
ALTER TABLE sale_lines ADD COLUMN discount_by INTEGER REFERENCES cashiers (id);

ALTER TABLE tenders ADD COLUMN shift_id INTEGER REFERENCES shifts (id);
CREATE INDEX tenders_shift ON tenders (shift_id);

-- A refund is a record of its own; the sale keeps its history.
--   kind cash: paid from the drawer at once (state done).
--   kind mpesa: by Transaction Reversal: requested (committed before it is sent) → accepted
--     (Daraja queued it) → reversed | failed | unknown.
--   kind manual: the shop sent the money from its phone; the M-Pesa code it typed is
--     unverified until matched.
CREATE TABLE refunds (
    id              INTEGER PRIMARY KEY,
    sale_id         INTEGER NOT NULL REFERENCES sales (id),
    shift_id        INTEGER REFERENCES shifts (id),
    kind            TEXT NOT NULL CHECK (kind IN ('cash', 'mpesa', 'manual')),
    amount_cents    INTEGER NOT NULL CHECK (amount_cents > 0),
    reason          TEXT NOT NULL,
    cashier_id      INTEGER NOT NULL REFERENCES cashiers (id),
    state           TEXT NOT NULL CHECK (state IN ('done', 'requested', 'accepted', 'reversed', 'failed', 'unknown')),
    original_receipt TEXT,              -- the payment reversed (kind mpesa)
    conversation_id TEXT UNIQUE,
    result_code     TEXT,
    result_desc     TEXT,
    receipt         TEXT,               -- the reversal's receipt, or the code typed (manual)
    verified        INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1)),
    flag            TEXT,               -- why a manager must look (contradicting facts)
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX refunds_sale ON refunds (sale_id);
CREATE INDEX refunds_shift ON refunds (shift_id);
CREATE INDEX refunds_open ON refunds (state) WHERE state IN ('requested', 'accepted', 'unknown');
-- A receipt is reversed at most once while a reversal of it is open or done.
CREATE UNIQUE INDEX refunds_one_reversal ON refunds (original_receipt)
    WHERE kind = 'mpesa' AND state IN ('requested', 'accepted', 'reversed', 'unknown');

CREATE TABLE refund_lines (
    refund_id    INTEGER NOT NULL REFERENCES refunds (id),
    line_no      INTEGER NOT NULL,
    quantity     INTEGER NOT NULL CHECK (quantity > 0),
    amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0),
    restock      INTEGER NOT NULL CHECK (restock IN (0, 1)),
    PRIMARY KEY (refund_id, line_no)
) WITHOUT ROWID;

CREATE TABLE refund_events (
    id         INTEGER PRIMARY KEY,
    refund_id  INTEGER NOT NULL REFERENCES refunds (id),
    at         INTEGER NOT NULL,
    source     TEXT NOT NULL,
    event      TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    detail     TEXT NOT NULL
);
CREATE INDEX refund_events_refund ON refund_events (refund_id, id);

-- Stock: optional per product (a service has none).
ALTER TABLE products ADD COLUMN stock_qty INTEGER;
ALTER TABLE products ADD COLUMN low_stock INTEGER CHECK (low_stock IS NULL OR low_stock >= 0);

CREATE TABLE stock_moves (
    id         INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL REFERENCES products (id),
    delta      INTEGER NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('sale', 'refund', 'count', 'edit')),
    ref        INTEGER,                -- the sale or refund
    reason     TEXT,
    cashier_id INTEGER REFERENCES cashiers (id),
    at         INTEGER NOT NULL
);
CREATE INDEX stock_moves_product ON stock_moves (product_id, id);

-- The day close looks for typed codes still unverified and cash taken outside any shift
-- without reading every tender.
CREATE INDEX tenders_unverified_codes ON tenders (sale_id) WHERE kind = 'mpesa_code' AND verified = 0;
CREATE INDEX tenders_outside_shifts ON tenders (created_at) WHERE shift_id IS NULL;
