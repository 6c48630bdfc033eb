-- Shop-wide claims on M-Pesa receipts (several tills, one shop; the relay arbitrates).
-- `claim` on a tender that uses a receipt: NULL on a till without a relay, 'pending' when the
-- relay could not be asked yet (attached provisionally), 'won' once the relay gave it to us.
ALTER TABLE tenders ADD COLUMN claim TEXT CHECK (claim IN ('pending', 'won'));
CREATE INDEX tenders_claim_pending ON tenders (id) WHERE claim = 'pending';

-- Receipts another till of the shop holds: never attached here.
CREATE TABLE receipts_taken (
    receipt     TEXT PRIMARY KEY,
    till        TEXT NOT NULL,
    till_name   TEXT NOT NULL,
    sale        TEXT NOT NULL,
    learned_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- A provisional attachment that lost the race: the tender it was, kept for the manager, after
-- it stopped counting for its sale.
CREATE TABLE lost_claims (
    id            INTEGER PRIMARY KEY,
    receipt       TEXT NOT NULL,
    sale_id       INTEGER NOT NULL REFERENCES sales (id),
    kind          TEXT NOT NULL,
    amount_cents  INTEGER NOT NULL,
    cashier_id    INTEGER NOT NULL REFERENCES cashiers (id),
    attached_at   INTEGER NOT NULL,
    winner_till   TEXT NOT NULL,
    winner_name   TEXT NOT NULL,
    winner_sale   TEXT NOT NULL,
    decided_at    INTEGER NOT NULL
);

-- STK receipts this till was paid with, claimed shop-wide once paired (so that a code typed at
-- another till from the customer's SMS is refused there). No row yet: not claimed yet.
CREATE TABLE stk_claims (
    receipt      TEXT PRIMARY KEY,
    won          INTEGER NOT NULL CHECK (won IN (0, 1)),
    winner_till  TEXT NOT NULL,
    winner_name  TEXT NOT NULL,
    winner_sale  TEXT NOT NULL,
    decided_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX attempts_paid_receipt ON payment_attempts (receipt) WHERE state = 'paid' AND receipt IS NOT NULL;
