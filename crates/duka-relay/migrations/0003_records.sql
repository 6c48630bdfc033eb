-- A till's own records (protocol 4 sync): the latest version of each (table, pk) it sent,
-- for shop-wide views and for restoring a replaced till. `seq` is the till's numbering of its
-- changes; a version with a lower seq than the one kept changes nothing (replays).
CREATE TABLE records (
    till_id     TEXT NOT NULL REFERENCES tills (id),
    tbl         TEXT NOT NULL,
    pk          TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    body        TEXT,                 -- NULL: the till deleted the row
    at          INTEGER NOT NULL,     -- when the till made the change (UTC ms)
    received_at INTEGER NOT NULL,
    PRIMARY KEY (till_id, tbl, pk)
) WITHOUT ROWID;
CREATE INDEX records_by_seq ON records (till_id, seq);
CREATE INDEX records_received ON records (received_at);

-- The highest record seq of each till committed here.
ALTER TABLE tills ADD COLUMN sync_seq INTEGER NOT NULL DEFAULT 0;
