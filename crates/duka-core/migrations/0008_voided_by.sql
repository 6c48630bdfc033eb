-- Who voided a sale, and in which shift (the one open at the void, not the one it was rung up
-- in). NULL on sales voided before this migration.
ALTER TABLE sales ADD COLUMN voided_by INTEGER REFERENCES cashiers (id);
ALTER TABLE sales ADD COLUMN voided_shift_id INTEGER REFERENCES shifts (id);
