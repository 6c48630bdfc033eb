-- duka-relay schema v1: shops and their keys, tills and their keys with a rising message
-- number, and each till's messages until it acknowledges them. Times are UTC milliseconds.
--
-- IF NOT EXISTS on purpose: the first relays created these tables without a transaction, so a
-- database can hold them (or some of them) with user_version still 0. Applied to such a
-- database this migration changes nothing and is stamped as done.
-- The statements are as those relays wrote them, so every database has the same schema text.

CREATE TABLE IF NOT EXISTS shops (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, key TEXT NOT NULL,
    c2b_default TEXT NOT NULL DEFAULT 'Completed' CHECK (c2b_default IN ('Completed', 'Cancelled')),
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tills (
    id TEXT PRIMARY KEY, shop_id TEXT NOT NULL REFERENCES shops (id), name TEXT NOT NULL,
    key TEXT NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0, revoked_at INTEGER, created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    till_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, attempt_id TEXT,
    body TEXT NOT NULL, received_at INTEGER NOT NULL,
    PRIMARY KEY (till_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS messages_received ON messages (received_at);
