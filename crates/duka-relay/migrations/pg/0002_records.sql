-- duka-relay on PostgreSQL, schema v2: a till's own records (protocol 4 sync), as SQLite's
-- 0003_records.sql: the latest version of each (table, pk) a till sent, and the highest
-- record seq of each till committed here.
CREATE TABLE records (
    till_id text NOT NULL REFERENCES tills (id),
    tbl text NOT NULL,
    pk text NOT NULL,
    seq bigint NOT NULL,
    body text,                 -- NULL: the till deleted the row
    at bigint NOT NULL,        -- when the till made the change (UTC ms)
    received_at bigint NOT NULL,
    PRIMARY KEY (till_id, tbl, pk)
);
CREATE INDEX records_by_seq ON records (till_id, seq);
CREATE INDEX records_received ON records (received_at);
ALTER TABLE tills ADD COLUMN sync_seq bigint NOT NULL DEFAULT 0;
