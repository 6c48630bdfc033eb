-- Incoming payments: C2B confirmations the relay forwards (a customer paid the shortcode
-- directly). The cashier attaches one to a sale; a typed code that matches one is verified.
CREATE TABLE c2b_payments (
    trans_id     TEXT PRIMARY KEY,       -- the M-Pesa receipt
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    msisdn       TEXT,                   -- as Daraja sends it: masked, hashed or plain; opaque
    bill_ref     TEXT,
    payer_name   TEXT,
    trans_time   TEXT,
    received_at  INTEGER NOT NULL,
    sale_id      INTEGER REFERENCES sales (id),
    raw          TEXT NOT NULL
);
CREATE INDEX c2b_unattached ON c2b_payments (received_at) WHERE sale_id IS NULL;
