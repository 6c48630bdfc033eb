-- duka-relay schema v2: each till's numbering run has an epoch (a till whose watermark is from
-- another run re-syncs); C2B confirmations for a shop with no live till are held for the shop
-- and handed to the next till added; shop-wide claims on M-Pesa receipts (first claim wins).
--
-- The ALTER TABLE cannot be run twice: a database at user_version 0 or 1 that already has
-- these changes is recognised before this runs (see `MIGRATIONS` in src/store/migrate.rs).

ALTER TABLE tills ADD COLUMN epoch TEXT NOT NULL DEFAULT '';
UPDATE tills SET epoch = lower(hex(randomblob(8))) WHERE epoch = '';
CREATE TABLE IF NOT EXISTS shop_held (
    id INTEGER PRIMARY KEY, shop_id TEXT NOT NULL REFERENCES shops (id), kind TEXT NOT NULL,
    body TEXT NOT NULL, received_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (
    shop_id TEXT NOT NULL, key TEXT NOT NULL, till_id TEXT NOT NULL, sale TEXT NOT NULL,
    amount_cents INTEGER, claimed_at INTEGER NOT NULL,
    PRIMARY KEY (shop_id, key)
) WITHOUT ROWID;
