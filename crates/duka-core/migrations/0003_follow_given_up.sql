-- An attempt the cashier gave up on ("no prompt reached the phone") is final for the sale, so a
-- new push may go out, but M-Pesa may still answer it: `follow` = 1 keeps it queried until
-- M-Pesa gives a final answer (a late success is flagged: the customer may have paid twice).
ALTER TABLE payment_attempts ADD COLUMN follow INTEGER NOT NULL DEFAULT 0 CHECK (follow IN (0, 1));
CREATE INDEX attempts_followed ON payment_attempts (id) WHERE follow = 1;
