// Generated from the Rust types by src-tauri/src/bindings.rs: do not edit.
// Regenerate: DUKA_UPDATE_BINDINGS=1 cargo test -p duka-desktop --lib bindings

export type UiError = { code: ErrorCode, message: string, };

export type ErrorCode = CoreErrorCode | DarajaErrorCode | AppCode;

export type AppCode = "simulator" | "connection_failed" | "signed_out" | "not_demo" | "internal";

export type CoreErrorCode = "invalid_input" | "not_found" | "conflict" | "bad_transition" | "bad_file" | "db_not_duka" | "db_schema_too_new" | "disk_full" | "read_only" | "database" | "io" | "secret_store" | "config" | "printer" | "no_printer" | "denied" | "needs_approval" | "locked" | "forged";

export type DarajaErrorCode = "invalid_request" | "bad_request" | "auth" | "merchant_config" | "in_progress" | "subscriber_locked" | "rate_limited" | "server_error" | "not_sent" | "outcome_unknown" | "unparseable";

export type Money = number;

export type Msisdn = string;

export type Cashier = { id: number, name: string, role: string, active: boolean, 
/**
 * Whether a PIN is set: a cashier without one cannot sign in.
 */
has_pin: boolean, 
/**
 * Wrong PINs in a row since the last sign-in (see `pin_lock`).
 */
pin_failures: number, };

export type SignInOptions = { 
/**
 * Active staff who can sign in (those with a PIN).
 */
cashiers: Array<Cashier>, 
/**
 * Nobody has a PIN yet: the first screen creates the manager.
 */
needs_setup: boolean, 
/**
 * Demo mode shows its staff and their PINs on the sign-in screen.
 */
demo_staff: Array<DemoStaff>, shop_name: string, };

export type DemoStaff = { name: string, role: string, pin: string, };

export type Product = { id: number, name: string, price: Money, barcode: string | null, sku: string | null, active: boolean, 
/**
 * Quantity on hand; `None` for what has no stock (a service).
 */
stock: number | null, 
/**
 * At or below this, the product is on the low-stock list.
 */
low_stock: number | null, };

export type LineInput = { product_id?: number, 
/**
 * A barcode or SKU, looked up in the catalogue.
 */
code?: string, 
/**
 * The free item's description (ignored for a product).
 */
description?: string, 
/**
 * As typed: "150", "1,250.50". A product's own price when empty.
 */
price?: string, quantity: number, };

export type Sale = { id: number, status: SaleStatus, cashier: string, total: Money, paid: Money, due: Money, lines: Array<SaleLine>, tenders: Array<Tender>, created_at: number, paid_at: number | null, 
/**
 * What the sale-wide discount takes off the lines' totals (zero without one).
 */
discount: Money, 
/**
 * Given back by refunds that count (not a failed reversal).
 */
refunded: Money, 
/**
 * Held aside while the next customer is served.
 */
parked: boolean, void_reason: string | null, 
/**
 * Who voided it (`None` if not voided, or voided before this was recorded).
 */
voided_by: string | null, 
/**
 * The shift it was rung up in.
 */
shift_id: number | null, };

export type SaleStatus = "open" | "awaiting_payment" | "paid" | "voided";

export type SaleLine = { line_no: number, product_id: number | null, description: string, unit_price: Money, quantity: number, 
/**
 * unit price × quantity − the line's discount.
 */
total: Money, 
/**
 * What the line's discount takes off (zero without one).
 */
discount: Money, };

export type Tender = { id: number, kind: TenderKind, 
/**
 * What this tender pays towards the sale.
 */
amount: Money, 
/**
 * Cash handed over (cash only).
 */
tendered: Money | null, change: Money, attempt_id: string | null, receipt: string | null, verified: boolean, cashier: string, created_at: number, };

export type TenderKind = "cash" | "mpesa_stk" | "mpesa_code";

export type CashPaid = { sale: Sale, change: Money, };

export type Phone = { msisdn: string, local: string, };

export type Attempt = { id: string, sale_id: number, phone: Msisdn, 
/**
 * Whole shillings.
 */
amount: number, checkout_request_id: string | null, 
/**
 * The ResultCode M-Pesa gave that Duka does not know, in state `unknown` only (a failure's
 * code is in the state itself: see `Attempt::code`).
 */
unknown_code: string | null, 
/**
 * M-Pesa's text for its last answer.
 */
result_desc: string | null, flag: string | null, 
/**
 * Given up on by the cashier but still followed until M-Pesa gives a final answer.
 */
followed: boolean, cashier: string, created_at: number, updated_at: number, } & ({ "state": "created" } | { "state": "pending", checkout_id: string, } | { "state": "paid", receipt: string | null, } | { "state": "failed", code: string, } | { "state": "unknown" });

export type AttemptState = { "state": "created" } | { "state": "pending", checkout_id: string, } | { "state": "paid", receipt: string | null, } | { "state": "failed", code: string, } | { "state": "unknown" };

export type PaymentEventRow = { id: number, at: number, source: string, event: string, outcome: string, from_state: string, to_state: string, detail: unknown, };

export type IncomingPayment = { trans_id: string, amount: Money, 
/**
 * As Daraja sent it (masked or hashed nowadays).
 */
msisdn: string | null, bill_ref: string | null, payer_name: string | null, received_at: number, sale_id: number | null, 
/**
 * Another till of the shop used it (it cannot be attached here).
 */
taken_by: TakenBy | null, };

export type TakenBy = { till: string, till_name: string, sale: string, };

export type LostClaim = { id: number, receipt: string, sale_id: number, kind: string, amount: Money, cashier: string, attached_at: number, winner: TakenBy, decided_at: number, };

export type UsedElsewhere = { receipt: string, by: TakenBy, };

export type Reconciled = { attempt_id: string, sale_id: number, before: string, after: string, 
/**
 * `query`, `poller` (still pending: handed to the poller), `cashier` (needs a person).
 */
how: string, note: string, };

export type CodeInfo = { code: string, class: Class, en: string, sw: string, };

export type Class = "success" | "final" | "retry" | "pending" | "unknown";

export type Prompt = { checkout_request_id: string, };

export type ReceiptView = { receipt: Receipt, 
/**
 * As printed, for the on-screen copy.
 */
text: Array<string>, printer: string | null, };

export type Receipt = { shop: string, sale_id: number, status: SaleStatus, cashier: string, 
/**
 * The latest tender's time, else when the sale was rung up (UTC milliseconds).
 */
time: number, 
/**
 * `time` in Africa/Nairobi: `2026-11-23 14:05:09`.
 */
time_local: string, lines: Array<SaleLine>, total: Money, paid: Money, due: Money, tenders: Array<ReceiptTender>, 
/**
 * The sale-wide discount (line discounts are on their lines).
 */
discount: Money, 
/**
 * Given back by refunds.
 */
refunded: Money, };

export type ReceiptTender = { kind: TenderKind, 
/**
 * `Cash`, `M-Pesa` (STK push) or `M-Pesa code` (typed by the cashier).
 */
label: string, 
/**
 * What the tender pays towards the sale (for cash: handed over minus change).
 */
amount: Money, 
/**
 * Cash only.
 */
change: Money | null, 
/**
 * M-Pesa only: the receipt number, or `pending` while none is known; a typed code not
 * yet matched ends in ` (unverified)`.
 */
reference: string | null, };

export type DayReport = { date: string, 
/**
 * Sales paid this day and their value.
 */
sales_paid: number, sales_total: Money, 
/**
 * What discounts took off those sales (line and sale-wide discounts).
 */
discounts: Money, 
/**
 * Money taken this day, by tender kind and by cashier (the two add up to the same).
 */
taken: Money, by_tender: Array<TenderTotal>, by_cashier: Array<CashierTotal>, 
/**
 * Only hours with payments, in order.
 */
by_hour: Array<HourTotal>, mpesa_receipts: Array<ReceiptRow>, 
/**
 * M-Pesa requests not yet final (any day): the manager settles these before closing.
 */
open_attempts: number, flagged_attempts: number, };

export type TenderTotal = { kind: TenderKind, count: number, amount: Money, };

export type CashierTotal = { cashier: string, count: number, amount: Money, };

export type HourTotal = { 
/**
 * 0..=23, East Africa Time.
 */
hour: number, count: number, amount: Money, 
/**
 * The M-Pesa part of `amount` (STK and typed codes).
 */
mpesa: Money, };

export type ReceiptRow = { at: number, receipt: string | null, verified: boolean, kind: TenderKind, 
/**
 * Masked: `2547****149`, or empty for a typed code.
 */
phone: string | null, amount: Money, cashier: string, sale_id: number, };

export type SettingsForm = { environment: string, daraja_base_url: string, shortcode: string, till_type: string, party_b: string, shop_name: string, printer: string, consumer_key: string, consumer_secret: string, passkey: string, relay_pairing: string, 
/**
 * The API operator for Transaction Status (optional), with its password and the path of
 * Safaricom's certificate.
 */
initiator: string, initiator_password: string, certificate: string, 
/**
 * The backup folder (a full path; empty: `backups/` beside the database) and how many
 * backups are kept (1 to 365; empty: 14). Left out (`null`), each stays as it is, so a
 * form that does not show them changes nothing.
 */
backup_dir: string | null, backup_keep: string | null, };

export type SettingsView = { settings: Settings, 
/**
 * Settings fixed by environment variables (the form shows them read-only).
 */
from_env: Array<string>, consumer_key_set: boolean, consumer_secret_set: boolean, passkey_set: boolean, initiator_password_set: boolean, 
/**
 * `keyring`, `file` or `memory`.
 */
secret_backend: string, relay: RelayView | null, 
/**
 * The shop's till or demo mode's; each has its own database and staff.
 */
till: Mode, 
/**
 * Saving switched to the other till: nobody is signed in there yet.
 */
signed_out: boolean, };

export type RelayView = { url: string, till: string, shop: string, connected: boolean, };

export type ConnectionTest = { environment: Environment, millis: number, };

export type TestPush = { outcome: PushOutcome, result_code: string | null, result_desc: string | null, 
/**
 * How long it took, the owner's PIN included.
 */
millis: number, };

export type PushOutcome = "paid" | "failed" | "no_answer";

export type Settings = { environment: Environment, daraja_base_url: string | null, shortcode: string | null, till_type: TillType, party_b: string | null, relay_url: string | null, shop_name: string, 
/**
 * The network receipt printer, if any.
 */
printer: string | null, 
/**
 * The API operator for Transaction Status (and reversals), if the shop has one.
 */
initiator: string | null, 
/**
 * Where Safaricom's certificate (PEM) for the initiator's password is.
 */
certificate: string | null, 
/**
 * The largest discount a cashier gives without a manager's PIN, in percent (10 unless set).
 */
discount_limit: number, 
/**
 * `error` … `trace` (the log files; `RUST_LOG` wins); `info` when not set.
 */
log_level: string, 
/**
 * The folder backups go to; `None`: `backups/` beside the database (`Till::backup_dir`).
 */
backup_dir: string | null, 
/**
 * How many backups are kept (14 unless set).
 */
backup_keep: number, 
/**
 * Each setting's source, by name.
 */
sources: Array<[string, Source]>, };

export type Environment = "demo" | "sandbox" | "production" | "custom";

export type TillType = "paybill" | "till";

export type Mode = "shop" | "demo";

export type Source = "env" | "stored" | "default";

export type BackupFile = { 
/**
 * The file's full path (what a restore takes).
 */
path: string, 
/**
 * Its name, e.g. `duka-2026-12-03T101500.db`.
 */
file: string, 
/**
 * Its size in bytes.
 */
size: number, 
/**
 * When it was taken (from its name), UTC milliseconds.
 */
at: number, 
/**
 * The schema version it holds; `None` when its header is not a Duka database's (a file
 * damaged on the stick).
 */
schema_version: number | null, };

export type Backups = { 
/**
 * How many are kept (setting `backup_keep`).
 */
keep: number, 
/**
 * Newest first.
 */
files: Array<BackupFile>, status: BackupStatus, };

export type BackupStatus = { 
/**
 * Where backups go.
 */
dir: string, 
/**
 * Whether this till backs itself up: the shop's till does, once a day (at its start and
 * while it runs) and when a manager looks at the day close; demo mode only when asked.
 */
automatic: boolean, 
/**
 * When the newest good backup was taken, and its file.
 */
last_ok: number | null, last_file: string | null, 
/**
 * The last backup that failed (the folder gone, the disk full), when no good one came
 * after it: when, and why.
 */
last_error: [number, string] | null, };

export type Restored = { 
/**
 * The database that was replaced.
 */
database: string, 
/**
 * The backup it now holds.
 */
from: string, 
/**
 * Where the database as it was before is kept (`None`: there was none yet).
 */
kept_aside: string | null, 
/**
 * The backup's schema version, and the database's after it was opened (migrated when the
 * backup was older).
 */
backup_schema_version: number, schema_version: number, };

export type RestoreDone = { restored: Restored, signed_out: boolean, };

export type Shift = { id: number, cashier: string, opened_at: number, 
/**
 * Cash counted into the drawer when the shift opened.
 */
float: Money, closed_at: number | null, closed_by: string | null, 
/**
 * The blind count at close.
 */
counted: Money | null, 
/**
 * What the drawer should have held at close (float + cash sales − cash refunds −
 * pay-outs + cash in), fixed when the shift closed.
 */
expected: Money | null, };

export type ZReport = { shift: Shift, sales: Tally, 
/**
 * Cash taken for sales (what was handed over minus change).
 */
cash_sales: Money, cash_refunds: Money, pay_outs: Tally, cash_in: Tally, 
/**
 * float + cash sales − cash refunds − pay-outs + cash in.
 */
expected_cash: Money, counted_cash: Money | null, 
/**
 * counted − expected, in cents: negative is a shortfall. `None` while the shift is open.
 */
difference_cents: number | null, 
/**
 * M-Pesa that Duka confirmed (STK payments and verified codes and incoming payments).
 */
mpesa_confirmed: Tally, 
/**
 * M-Pesa requests of the shift's sales still open or unknown.
 */
mpesa_open: Tally, 
/**
 * Codes typed from customers' SMS that M-Pesa has not confirmed yet.
 */
codes_unverified: Tally, 
/**
 * Refunds of every kind made in the shift.
 */
refunds: Tally, discounts: Money, voids: Tally, 
/**
 * Times the drawer was opened without a sale.
 */
drawer_opens: number, };

export type DayClose = { date: string, shifts: Array<ZReport>, expected_cash: Money, counted_cash: Money, 
/**
 * Sum of the closed shifts' differences, in cents (negative: short).
 */
difference_cents: number, cash_sales: Money, mpesa_confirmed: Tally, refunds: Tally, discounts: Money, voids: Tally, pay_outs: Tally, cash_in: Tally, 
/**
 * Still open: shifts not closed, M-Pesa requests not final, typed codes unverified,
 * reversals not final.
 */
open_shifts: number, open_attempts: number, codes_unverified: Tally, open_reversals: number, 
/**
 * Cash taken that day outside any shift (no shift was open).
 */
cash_outside_shifts: Money, 
/**
 * Refunds (not failed) made that day outside any shift: to M-Pesa or by hand, and cash
 * refunds recorded before a cash refund needed an open shift.
 */
refunds_outside_shifts: Tally, 
/**
 * Times the drawer was opened without a sale that day while no shift was open.
 */
drawer_opens_outside_shifts: number, };

export type Tally = { count: number, amount: Money, };

export type DrawerMove = { id: number, shift_id: number | null, kind: DrawerKind, amount: Money, reason: string, cashier: string, at: number, };

export type DrawerKind = "pay_out" | "cash_in" | "open";

export type Refund = { id: number, sale_id: number, shift_id: number | null, 
/**
 * `cash`, `mpesa` (Transaction Reversal) or `manual` (sent from the shop's phone).
 */
kind: string, amount: Money, reason: string, cashier: string, state: RefundState, 
/**
 * The payment reversed (M-Pesa).
 */
original_receipt: string | null, conversation_id: string | null, result_code: string | null, result_desc: string | null, 
/**
 * The reversal's own receipt, or the code of a manual transfer.
 */
receipt: string | null, 
/**
 * A manual transfer's code that M-Pesa confirmed (never, so far: unverified).
 */
verified: boolean, flag: string | null, lines: Array<RefundLine>, created_at: number, updated_at: number, };

export type RefundLine = { line_no: number, description: string, quantity: number, amount: Money, restock: boolean, };

export type RefundLineInput = { line_no: number, quantity: number, restock: boolean, };

export type RefundState = "done" | "requested" | "accepted" | "reversed" | "failed" | "unknown";

export type RefundTo = { "to": "cash" } | { "to": "mpesa" } | { "to": "manual", code: string, };

export type Discount = { "kind": "amount", "value": number } | { "kind": "percent", "value": number };

export type SaleEdit = { at: number, cashier: string, 
/**
 * `add`, `remove` or `quantity`.
 */
action: string, line_no: number, description: string, before_qty: number | null, after_qty: number | null, total_before: Money, total_after: Money, };

export type StockMove = { id: number, product_id: number, delta: number, 
/**
 * `sale`, `refund`, `count` or `edit` (a refund whose reversal failed takes it back).
 */
kind: string, reference: number | null, reason: string | null, cashier: string | null, at: number, };

export type SlipOf = { "of": "sale", "id": number } | { "of": "refund", "id": number } | { "of": "shift", "id": number };

export type Approval = { name: string, pin: string, };

export type RefundVia = { "to": "cash" } | { "to": "mpesa" } | { "to": "manual", code: string, };

export type Status = { environment: string, demo: boolean, health: Health, };

export type Health = { 
/**
 * Seconds since the epoch at which the cached Daraja token expires.
 */
token_valid_until: number | null, last_daraja_ok: number | null, last_daraja_error: [number, string] | null, open_attempts: number, poller_backlog: number, 
/**
 * The relay connection, when this till is paired with one.
 */
relay: RelayStatus | null, 
/**
 * How the till's backups are going: a failed one shows here (and in the log), never in
 * the cashier's way.
 */
backup: BackupStatus | null, };

export type RelayStatus = { connected: boolean, last_message_at: number | null, applied_seq: number, 
/**
 * Messages the relay holds for this till that it has not applied yet.
 */
backlog: number, last_error: string | null, 
/**
 * This till's records on the relay (see [`SyncStatus`]).
 */
sync: SyncStatus, 
/**
 * Changes not yet committed by the relay.
 */
sync_pending: number, };

export type SyncStatus = "off" | "sending" | "restorable" | "conflict";

export type CoreEvent = { "type": "attempt_changed", attempt: Attempt, } | { "type": "sale_changed", sale: Sale, } | { "type": "sale_paid", sale_id: number, } | { "type": "settings_changed", keys: Array<string>, } | { "type": "staff_changed" } | { "type": "incoming_attached", trans_id: string, sale_id: number, } | { "type": "shift_changed", shift: Shift, } | { "type": "drawer_moved", entry: DrawerMove, } | { "type": "refund_changed", refund: Refund, } | { "type": "stock_changed", product: Product, } | { "type": "health", health: Health, } | { "type": "backup", status: BackupStatus, } | { "type": "relay", status: RelayStatus, } | { "type": "possible_double_payment", attempt: Attempt, receipt: string | null, } | { "type": "incoming_payment", payment: IncomingPayment, } | { "type": "claim_lost", claim: LostClaim, } | { "type": "stk_receipt_used_elsewhere", receipt: string, by: TakenBy, } | { "type": "receipt_taken", receipt: string, by: TakenBy, };

export type ShopDay = { date: string, tills: Array<ShopTill>, totals: ShopTotals, 
/**
 * Every M-Pesa receipt of the day, oldest first, with its till.
 */
mpesa_receipts: Array<ShopReceipt>, 
/**
 * Every till's M-Pesa requests a manager must look at (open or flagged).
 */
attention: Array<ShopAttempt>, 
/**
 * Every till's shifts of the day and their cash-ups.
 */
shifts: Array<ShopShift>, };

export type ShopTill = { till: string, name: string, 
/**
 * The till asking.
 */
this_till: boolean, 
/**
 * When the relay got these figures (`None` for this till's own, read now).
 */
synced_at: number | null, 
/**
 * `None`: the till synced nothing of this day (closed, offline, or not yet paired).
 */
day: TillDay | null, 
/**
 * Figures the relay holds that this till could not read (another version's).
 */
problem: string | null, };

export type ShopTotals = { sales_paid: number, sales_total: Money, discounts: Money, taken: Money, by_tender: Array<TenderTotal>, 
/**
 * By cashier's name across the tills (one person on two tills is one line).
 */
by_cashier: Array<ShopCashier>, expected_cash: Money, counted_cash: Money, difference_cents: number, open_shifts: number, open_attempts: number, flagged_attempts: number, open_reversals: number, };

export type ShopCashier = { cashier: string, count: number, amount: Money, };

export type ShopReceipt = { 
/**
 * The till's name.
 */
till: string, item: ReceiptRow, };

export type ShopAttempt = { till: string, item: AttemptBrief, };

export type ShopShift = { till: string, item: ZReport, };

export type TillDay = { date: string, report: DayReport, close: DayClose, attention: Array<AttemptBrief>, };

export type AttemptBrief = { id: string, sale_id: number, state: string, 
/**
 * Whole shillings.
 */
amount: number, 
/**
 * Masked.
 */
phone: string, flag: string | null, created_at: number, cashier: string, };

export type RestoreSummary = { records: number, 
/**
 * The relay's position after the last record: this till's next change is numbered after.
 */
sync_seq: number, sales: number, 
/**
 * The number the next sale gets.
 */
next_sale: number, 
/**
 * Records left out because what they refer to is no longer on the relay (its retention).
 */
left_out: number, };

export type RelayRestoreDone = { restored: RestoreSummary, signed_out: boolean, };
