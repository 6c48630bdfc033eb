-- duka-relay on PostgreSQL, schema v1: the SQLite schema's tables (shops, tills with their
-- rising message number and epoch, per-till messages, C2B held for a shop, receipt claims),
-- in PostgreSQL's types. Times are UTC milliseconds. Applied in one transaction, under an
-- advisory lock, and recorded in relay_schema (see src/store/pg/migrate.rs).

CREATE TABLE shops (
    id text PRIMARY KEY,
    name text NOT NULL UNIQUE,
    key text NOT NULL,
    c2b_default text NOT NULL DEFAULT 'Completed' CHECK (c2b_default IN ('Completed', 'Cancelled')),
    created_at bigint NOT NULL
);
CREATE TABLE tills (
    id text PRIMARY KEY,
    shop_id text NOT NULL REFERENCES shops (id),
    name text NOT NULL,
    key text NOT NULL,
    last_seq bigint NOT NULL DEFAULT 0,
    revoked_at bigint,
    created_at bigint NOT NULL,
    epoch text NOT NULL
);
CREATE INDEX tills_shop ON tills (shop_id);
CREATE INDEX tills_revoked ON tills (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE TABLE messages (
    till_id text NOT NULL,
    seq bigint NOT NULL,
    kind text NOT NULL,
    attempt_id text,
    body text NOT NULL,
    received_at bigint NOT NULL,
    PRIMARY KEY (till_id, seq)
);
CREATE INDEX messages_received ON messages (received_at);
CREATE TABLE shop_held (
    id bigserial PRIMARY KEY,
    shop_id text NOT NULL REFERENCES shops (id),
    kind text NOT NULL,
    body text NOT NULL,
    received_at bigint NOT NULL
);
CREATE INDEX shop_held_shop ON shop_held (shop_id, id);
-- First claim wins: the primary key is the arbiter between relay processes.
CREATE TABLE claims (
    shop_id text NOT NULL,
    key text NOT NULL,
    till_id text NOT NULL,
    sale text NOT NULL,
    amount_cents bigint,
    claimed_at bigint NOT NULL,
    PRIMARY KEY (shop_id, key)
);
