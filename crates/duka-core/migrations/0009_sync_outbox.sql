-- Till → relay sync (several tills, one shop). Every change to a synced table is written here
-- by a trigger in the same transaction as the change (the triggers are generated from the
-- tables' columns by the store after each migration: see store/sync.rs). The relay client
-- sends the rows in `seq` order and deletes them once the relay has committed them.
CREATE TABLE sync_outbox (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused: the relay keeps the highest it saw
    tbl   TEXT NOT NULL,
    pk    TEXT NOT NULL,                       -- JSON array of the row's primary key
    body  TEXT,                                -- JSON object of the row; NULL: the row was deleted
    at    INTEGER NOT NULL                     -- when the change was made (UTC ms)
);

-- One row: whether changes are recorded, for which relay till, and the highest seq it committed.
-- (A restore from the relay is one transaction: there is no half-restored state to record.)
-- `history` names this database's history: made with it, kept by its backups, sent as the
-- first record of every full sync, taken over by a till restored from the relay. A till whose
-- relay holds a history of the same name is this till (from an older backup), not another.
CREATE TABLE sync_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    enabled    INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
    till       TEXT,
    acked      INTEGER NOT NULL DEFAULT 0 CHECK (acked >= 0),
    history    TEXT NOT NULL DEFAULT (lower(hex(randomblob(16))))
);
INSERT INTO sync_state (id) VALUES (1);
