-- Wrong PINs in a row, per staff member, kept across restarts: sign-in locks for longer and
-- longer after 5 (see `store::pin_lock`), and after 10 until a manager unlocks.
ALTER TABLE cashiers ADD COLUMN pin_failures INTEGER NOT NULL DEFAULT 0 CHECK (pin_failures >= 0);
ALTER TABLE cashiers ADD COLUMN pin_failed_at INTEGER;
