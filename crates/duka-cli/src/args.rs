//! The command line: every subcommand and its flags (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "duka",
    version,
    about = "Duka: an M-Pesa till, headless",
    propagate_version = true
)]
pub struct Cli {
    /// Where the database and files live [default: the platform's data directory]
    #[arg(long, global = true, env = "DUKA_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print JSON for scripts instead of text
    #[arg(long, global = true)]
    pub json: bool,
    /// Cashier doing the work [default: the first cashier, made by `duka init`]
    #[arg(long, global = true, env = "DUKA_CASHIER")]
    pub cashier: Option<String>,
    /// Where secrets are kept: auto (keyring, else file), keyring, file
    #[arg(
        long,
        global = true,
        env = "DUKA_SECRET_BACKEND",
        default_value = "auto"
    )]
    pub secret_backend: String,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Create the data directory and database (safe to run again)
    Init(InitArgs),
    /// A worked example with sample products and sales, no credentials needed
    Demo,
    /// Settings (never secrets)
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Daraja credentials and keys, kept in the OS keyring (or the headless file store)
    #[command(subcommand)]
    Secret(SecretCmd),
    #[command(subcommand)]
    Cashier(CashierCmd),
    #[command(subcommand)]
    Product(ProductCmd),
    #[command(subcommand)]
    Sale(SaleCmd),
    #[command(subcommand)]
    Report(ReportCmd),
    /// Shifts: open with the float, close with a blind count (the Z-report), the day close
    #[command(subcommand)]
    Shift(ShiftCmd),
    /// Cash out of (pay-out, manager) or into the drawer, or the drawer opened without a sale
    #[command(subcommand)]
    Drawer(DrawerCmd),
    /// Refund a paid sale (manager), whole or by line, to cash or paid back by hand
    Refund(RefundArgs),
    /// The refunds of a sale
    Refunds { sale: i64 },
    /// A manager settles a refund from the M-Pesa statement: a reversal M-Pesa left without a
    /// final answer (--reversed RECEIPT or --not-reversed), or a refund sent by hand (--seen)
    RefundCheck(RefundCheckArgs),
    /// Stock kept per product: track, count, the low-stock list, the moves
    #[command(subcommand)]
    Stock(StockCmd),
    /// Charge a sale by M-Pesa STK push and follow it to the end: exit 0 paid, 2 failed, 3 unknown
    Charge(ChargeArgs),
    /// M-Pesa payment attempts, newest first
    Attempts(AttemptsArgs),
    /// Settle attempts a crash or a power cut left open; waits for those still pending
    Reconcile,
    /// After an unknown attempt, send again: only when no prompt reached the customer's phone
    Resend {
        attempt: String,
        /// The cashier confirms the customer received no M-Pesa prompt
        #[arg(long)]
        no_prompt_reached: bool,
    },
    /// Check an M-Pesa code typed from a customer's SMS against what M-Pesa told Duka
    VerifyCode {
        code: String,
        #[arg(long)]
        sale: i64,
    },
    /// The callback relay: pair this till, see its status
    #[command(subcommand)]
    Relay(RelayCmd),
    /// Incoming payments (customers who paid the shortcode directly), and attaching one to a sale
    Inbox {
        #[command(subcommand)]
        cmd: Option<InboxCmd>,
    },
    /// Export sales as CSV (or JSON with --json)
    Export(ExportArgs),
    /// A slip as printed: a sale's receipt, a refund's, or a shift's Z-report; shown, saved as PDF or printed
    Receipt(ReceiptArgs),
    /// Backups of the database (manager): take one now, list them, restore one
    #[command(subcommand)]
    Backup(BackupCmd),
}

#[derive(Subcommand)]
pub enum BackupCmd {
    /// Take a backup now into the backup folder (setting backup_dir); prints its path
    Now,
    /// The backups in the backup folder, newest first: file, size, time, schema version
    List,
    /// Replace the shop's database with a backup. Close the desktop app first (a database
    /// open elsewhere is refused); the current one is kept aside as duka.db.before-restore-TIME
    Restore {
        file: PathBuf,
        /// Restore demo mode's database instead of the shop's
        #[arg(long)]
        demo: bool,
    },
}

#[derive(Args)]
pub struct RefundCheckArgs {
    pub refund: i64,
    /// The reversal went through: its receipt, from the statement
    #[arg(
        long,
        value_name = "RECEIPT",
        conflicts_with_all = ["not_reversed", "seen"],
        required_unless_present_any = ["not_reversed", "seen"]
    )]
    pub reversed: Option<String>,
    /// The reversal did not go through (the sale can be refunded another way)
    #[arg(long, conflicts_with = "seen")]
    pub not_reversed: bool,
    /// The code of a refund sent by hand is on the statement
    #[arg(long)]
    pub seen: bool,
}

#[derive(Args)]
pub struct ReceiptArgs {
    /// sale | refund | shift
    pub of: String,
    pub id: i64,
    /// Save it as a PDF here instead of showing it
    #[arg(long, value_name = "FILE")]
    pub pdf: Option<PathBuf>,
    /// Send it to the receipt printer (setting `printer`)
    #[arg(long, conflicts_with = "pdf")]
    pub print: bool,
}

#[derive(Args)]
pub struct InitArgs {
    /// Name of the first cashier (a manager) when there is none yet
    #[arg(long, default_value = "Owner")]
    pub owner: String,
    #[arg(long)]
    pub shop_name: Option<String>,
    /// demo | sandbox | production | custom
    #[arg(long)]
    pub environment: Option<String>,
    #[arg(long)]
    pub shortcode: Option<String>,
    /// paybill | till
    #[arg(long)]
    pub till_type: Option<String>,
    #[arg(long)]
    pub party_b: Option<String>,
}

#[derive(Args)]
pub struct ChargeArgs {
    #[arg(long)]
    pub sale: i64,
    /// The customer's phone: 0712 345 678, +254712345678, …
    #[arg(long)]
    pub phone: String,
    /// Whole shillings [default: what is due]
    #[arg(long, allow_hyphen_values = true)]
    pub amount: Option<String>,
    /// Above 250,000, send several requests (each approved by the customer)
    #[arg(long)]
    pub split: bool,
    /// Return once the request is sent; the poller is not kept running
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Args)]
pub struct AttemptsArgs {
    /// Only those not final yet (created, pending, unknown)
    #[arg(long)]
    pub open: bool,
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// One attempt with its event log
    #[arg(long)]
    pub id: Option<String>,
}

#[derive(Args)]
pub struct ExportArgs {
    /// First day, YYYY-MM-DD (Nairobi time)
    #[arg(long)]
    pub from: String,
    /// Last day, inclusive [default: --from]
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long, default_value = "csv")]
    pub format: String,
    /// Write to this file instead of standard output
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum RelayCmd {
    /// Pair with a relay: the pairing string `duka-relay till add` printed, on standard input
    /// (typed or pasted at the prompt, or piped), never on the command line
    Pair {
        /// Refused: a pairing string here would stay in the shell's history and `ps`
        #[arg(hide = true)]
        pairing: Option<String>,
    },
    /// Pairing, last applied message, this till's records on the relay, and whether the relay
    /// answers now
    Status,
    /// Send this till's records (sales, payments, refunds, shifts, stock) to the relay now and
    /// wait until it has committed them; the desktop app does this on its own while it runs
    Sync,
    /// A new PC paired as the till it replaces: take that till's history back from the relay
    /// (sales, payments, refunds, shifts, stock, staff without their PINs). Only into a till
    /// with no sales of its own; all or nothing (run it again if cut off). Set the PINs again
    /// afterwards.
    Restore,
}

#[derive(Subcommand)]
pub enum InboxCmd {
    /// Attach an incoming payment to a sale
    Attach {
        trans_id: String,
        #[arg(long)]
        sale: i64,
    },
}

#[derive(Subcommand)]
pub enum ConfigCmd {
    /// Effective settings and where each comes from
    Show,
    /// Store a setting: environment, daraja_base_url, shortcode, till_type, party_b, relay_url, shop_name, printer
    Set { key: String, value: String },
}

#[derive(Subcommand)]
pub enum SecretCmd {
    /// Read the value from standard input (never from the command line) and store it
    Set {
        /// consumer_key | consumer_secret | passkey | relay_key | initiator_password
        key: String,
    },
    Delete {
        key: String,
    },
    /// Which secrets are set and where (never their values)
    Status,
}

#[derive(Subcommand)]
pub enum CashierCmd {
    Add {
        #[arg(long)]
        name: String,
        /// cashier | manager
        #[arg(long, default_value = "cashier")]
        role: String,
    },
    List,
    /// Set a cashier's sign-in PIN (4 to 8 digits, read from standard input); also unlocks
    Pin {
        #[arg(long)]
        name: String,
    },
    /// Let a cashier locked out by wrong PINs try again
    Unlock {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
pub enum ProductCmd {
    Add {
        #[arg(long)]
        name: String,
        #[arg(long, allow_hyphen_values = true)]
        price: String,
        #[arg(long)]
        barcode: Option<String>,
        #[arg(long)]
        sku: Option<String>,
    },
    List {
        /// Include inactive products
        #[arg(long)]
        all: bool,
    },
    /// Import a price list CSV (columns name, price; optional barcode, sku, active, stock,
    /// low_stock); all rows or none. A stock cell sets what is on hand (a count, manager);
    /// an empty one leaves the stock as it is
    Import { file: PathBuf },
    /// Export every product as a price list CSV that import reads back (JSON with --json)
    Export {
        /// Write to this file instead of standard output
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum SaleCmd {
    /// Ring up a sale. Each --item or --barcode starts a line; --price and --qty after it belong
    /// to it: `--item "Sugar 1kg" --price 150 --qty 2 --barcode 6001 --qty 3`
    New(NewSaleArgs),
    /// A sale with its lines (numbered), tenders, and the corrections made to it
    Show { id: i64 },
    /// Sales of one day (Nairobi time), newest first
    List {
        #[arg(long)]
        date: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Take cash or a typed M-Pesa code for a sale
    Pay(PayArgs),
    /// Void a sale that has taken no money, with the reason (it shows on the shift's report)
    Void {
        id: i64,
        #[arg(long)]
        reason: String,
    },
    /// Add a line to an unpaid sale: a free item (--item NAME --price P) or a product (--barcode)
    AddLine(AddLineArgs),
    /// Remove a line (by its number, `duka sale show` lists them) from an unpaid sale
    RemoveLine {
        id: i64,
        #[arg(long)]
        line: i64,
    },
    /// Change the quantity of a line of an unpaid sale
    SetQty {
        id: i64,
        #[arg(long)]
        line: i64,
        #[arg(long, allow_hyphen_values = true)]
        qty: String,
    },
    /// Put an unpaid sale aside (the customer fetches more money) to serve the next one
    Park { id: i64 },
    /// Bring a parked sale back
    Recall { id: i64 },
    /// Parked sales, oldest first
    Parked,
    /// A discount on a line (--line) or the whole sale: an amount (50) or a percentage (10%).
    /// Above the limit (setting discount_limit) a manager approves: --approved-by NAME, their
    /// PIN on standard input
    Discount {
        id: i64,
        /// The line's number [default: the whole sale]
        #[arg(long)]
        line: Option<i64>,
        /// 50, KES 20.50 or 10%
        #[arg(required_unless_present = "remove")]
        value: Option<String>,
        /// Take the discount away
        #[arg(long, conflicts_with = "value")]
        remove: bool,
        /// The manager who approves it (reads their PIN from standard input)
        #[arg(long, value_name = "MANAGER")]
        approved_by: Option<String>,
    },
}

#[derive(Args)]
pub struct NewSaleArgs {
    #[arg(long, action = clap::ArgAction::Append)]
    pub item: Vec<String>,
    #[arg(long, action = clap::ArgAction::Append)]
    pub barcode: Vec<String>,
    #[arg(long, action = clap::ArgAction::Append, allow_hyphen_values = true)]
    pub price: Vec<String>,
    #[arg(long, action = clap::ArgAction::Append, allow_hyphen_values = true)]
    pub qty: Vec<String>,
    /// Cash handed over, applied at once
    #[arg(long, allow_hyphen_values = true)]
    pub cash: Option<String>,
    /// M-Pesa code from the customer's SMS, applied at once for what is due
    #[arg(long)]
    pub mpesa_code: Option<String>,
}

#[derive(Args)]
pub struct PayArgs {
    pub id: i64,
    #[arg(
        long,
        conflicts_with = "mpesa_code",
        required_unless_present = "mpesa_code",
        allow_hyphen_values = true
    )]
    pub cash: Option<String>,
    #[arg(long)]
    pub mpesa_code: Option<String>,
    /// Amount for the M-Pesa code [default: what is due]
    #[arg(long, requires = "mpesa_code", allow_hyphen_values = true)]
    pub amount: Option<String>,
}

#[derive(Args)]
pub struct AddLineArgs {
    pub id: i64,
    /// A free item's description (needs --price)
    #[arg(long, conflicts_with = "barcode", required_unless_present = "barcode")]
    pub item: Option<String>,
    /// A product's barcode or SKU
    #[arg(long)]
    pub barcode: Option<String>,
    /// The item's price (for a product: instead of its own)
    #[arg(long, allow_hyphen_values = true)]
    pub price: Option<String>,
    /// How many [default: 1]
    #[arg(long, allow_hyphen_values = true)]
    pub qty: Option<String>,
}

#[derive(Subcommand)]
pub enum ReportCmd {
    /// The day's totals by tender and cashier, and its M-Pesa receipts
    Day {
        #[arg(long)]
        date: Option<String>,
    },
    /// The whole shop's day (manager): every till's own figures from the relay, side by side
    /// and summed: totals by till, cashier and tender, every M-Pesa receipt, what needs a
    /// manager, the shifts and their cash-ups
    Shop {
        #[arg(long)]
        date: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum ShiftCmd {
    /// Open a shift with the float counted into the drawer (one shift is open at a time)
    Open {
        #[arg(long, allow_hyphen_values = true)]
        float: String,
    },
    /// Close the open shift with the cash counted (blind), and print its Z-report
    Close {
        #[arg(long, allow_hyphen_values = true)]
        counted: String,
    },
    /// A shift's report [default: the open shift's, which only a manager sees]
    Show {
        #[arg(long)]
        id: Option<i64>,
    },
    /// The manager's day close: the day's shifts, their sums and what is still open
    Day {
        #[arg(long)]
        date: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum DrawerCmd {
    /// Cash taken out of the drawer (manager), with the reason
    PayOut(DrawerArgs),
    /// Cash put into the drawer, with the reason
    CashIn(DrawerArgs),
    /// The drawer opened without a sale (manager), with the reason
    Open {
        #[arg(long)]
        reason: String,
    },
}

#[derive(Args)]
pub struct DrawerArgs {
    #[arg(long, allow_hyphen_values = true)]
    pub amount: String,
    #[arg(long)]
    pub reason: String,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("to").required(true).args(["cash", "manual_code", "mpesa"])))]
pub struct RefundArgs {
    /// The sale refunded
    pub sale: i64,
    #[arg(long)]
    pub reason: String,
    /// Paid back from the drawer now
    #[arg(long)]
    pub cash: bool,
    /// Paid back from the shop's phone: the M-Pesa code of that transfer
    #[arg(long, value_name = "CODE")]
    pub manual_code: Option<String>,
    /// Back to the customer's M-Pesa by Transaction Reversal (needs the initiator); waits
    /// for M-Pesa's answer
    #[arg(long)]
    pub mpesa: bool,
    /// LINE:QTY or LINE:QTY:restock, repeated (default: all that is left of the sale); `restock`
    /// puts the goods back in stock
    #[arg(
        long,
        value_name = "LINE:QTY[:restock]",
        action = clap::ArgAction::Append,
        allow_hyphen_values = true
    )]
    pub line: Vec<String>,
}

#[derive(Subcommand)]
pub enum StockCmd {
    /// Keep stock of a product (manager): what is on hand now, and its low-stock line
    Track {
        product: i64,
        #[arg(long, allow_hyphen_values = true)]
        on_hand: String,
        /// At or below this, the product is on the low-stock list
        #[arg(long, allow_hyphen_values = true)]
        low: Option<String>,
    },
    /// Stop keeping stock of a product (manager)
    Untrack { product: i64 },
    /// A stock count (manager): the quantity counted replaces what Duka had
    Count {
        product: i64,
        #[arg(long, allow_hyphen_values = true)]
        counted: String,
        #[arg(long)]
        reason: String,
    },
    /// Products at or below their low-stock line, the emptiest first
    Low,
    /// A product's stock moves, newest first
    Moves {
        product: i64,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}
