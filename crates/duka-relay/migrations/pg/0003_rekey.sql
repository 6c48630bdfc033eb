-- A till given a new key (a stolen or replaced PC): when, so that every relay process closes
-- the connections opened with the old one, as for a revocation.
ALTER TABLE tills ADD COLUMN rekeyed_at BIGINT;
