-- Corrections to an unpaid sale (a line added, removed or its quantity changed), kept for the
-- manager: nothing about a sale disappears without a trace.
CREATE TABLE sale_edits (
    id          INTEGER PRIMARY KEY,
    sale_id     INTEGER NOT NULL REFERENCES sales (id),
    at          INTEGER NOT NULL,
    cashier_id  INTEGER NOT NULL REFERENCES cashiers (id),
    action      TEXT NOT NULL CHECK (action IN ('add', 'remove', 'quantity')),
    line_no     INTEGER NOT NULL,
    description TEXT NOT NULL,
    before_qty  INTEGER,
    after_qty   INTEGER,
    total_before_cents INTEGER NOT NULL,
    total_after_cents  INTEGER NOT NULL
);
CREATE INDEX sale_edits_by_sale ON sale_edits (sale_id, id);
