// The only module that talks to the Rust side (invoke/listen). Everything else calls these.
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";

export type Cents = number;

export interface UiError {
  code: string;
  message: string;
}

export interface Product {
  id: number;
  name: string;
  price: Cents;
  barcode: string | null;
  sku: string | null;
}

export interface LineInput {
  product_id?: number;
  description?: string;
  price?: string;
  quantity: number;
}

export interface Tender {
  id: number;
  kind: "cash" | "mpesa_stk" | "mpesa_code";
  amount: Cents;
  change: Cents;
  receipt: string | null;
  verified: boolean;
}

export interface Sale {
  id: number;
  status: "open" | "awaiting_payment" | "paid" | "voided";
  cashier: string;
  total: Cents;
  paid: Cents;
  due: Cents;
  lines: { line_no: number; description: string; unit_price: Cents; quantity: number; total: Cents }[];
  tenders: Tender[];
  created_at: number;
}

export type AttemptStateName = "created" | "pending" | "paid" | "failed" | "unknown";

export interface Attempt {
  id: string;
  sale_id: number;
  phone: string;
  amount: number;
  state: AttemptStateName;
  checkout_id?: string;
  receipt?: string | null;
  code?: string;
  unknown_code: string | null;
  result_desc: string | null;
  flag: string | null;
  updated_at: number;
}

export interface Cashier {
  id: number;
  name: string;
  role: "cashier" | "manager";
  active: boolean;
  has_pin: boolean;
  /** Wrong PINs in a row; from 5 sign-in waits, from 10 a manager must unlock. */
  pin_failures: number;
}

export interface SignInOptions {
  cashiers: Cashier[];
  needs_setup: boolean;
  demo_staff: { name: string; role: string; pin: string }[];
  shop_name: string;
}

export interface IncomingPayment {
  trans_id: string;
  amount: Cents;
  msisdn: string | null;
  bill_ref: string | null;
  payer_name: string | null;
  received_at: number;
  sale_id: number | null;
  /** Another till of the shop used it: it cannot be attached here. */
  taken_by: TakenBy | null;
}

export interface ReceiptView {
  receipt: { sale_id: number; total: Cents; due: Cents; status: string };
  text: string[];
  printer: string | null;
}

export interface SettingsForm {
  environment: string;
  daraja_base_url: string;
  shortcode: string;
  till_type: string;
  party_b: string;
  shop_name: string;
  printer: string;
  consumer_key: string;
  consumer_secret: string;
  passkey: string;
  relay_pairing: string;
}

/** Another till of the shop holds an M-Pesa receipt. */
export interface TakenBy {
  till: string;
  till_name: string;
  sale: string;
}

/** A receipt attached offline that another till had claimed first (no longer counted). */
export interface LostClaim {
  id: number;
  receipt: string;
  sale_id: number;
  kind: string;
  /** Cents. */
  amount: number;
  cashier: string;
  attached_at: number;
  winner: TakenBy;
  decided_at: number;
}

export interface SettingsView {
  settings: {
    environment: string;
    daraja_base_url: string | null;
    shortcode: string | null;
    till_type: string;
    party_b: string | null;
    relay_url: string | null;
    shop_name: string;
    printer: string | null;
  };
  from_env: string[];
  /** "shop" or "demo": each has its own database and staff. */
  till: "shop" | "demo";
  /** Saving switched till: sign in again there. */
  signed_out: boolean;
  consumer_key_set: boolean;
  consumer_secret_set: boolean;
  passkey_set: boolean;
  secret_backend: string;
  relay: { url: string; till: string; shop: string; connected: boolean } | null;
}

export interface DayReport {
  date: string;
  sales_paid: number;
  sales_total: Cents;
  taken: Cents;
  by_tender: { kind: string; count: number; amount: Cents }[];
  by_cashier: { cashier: string; count: number; amount: Cents }[];
  by_hour: { hour: number; count: number; amount: Cents; mpesa: Cents }[];
  mpesa_receipts: { at: number; receipt: string | null; verified: boolean; kind: string; phone: string | null; amount: Cents; cashier: string; sale_id: number }[];
  open_attempts: number;
  flagged_attempts: number;
}

export interface CodeInfo {
  code: string;
  class: "success" | "final" | "retry" | "pending" | "unknown";
  en: string;
  sw: string;
}

export interface Status {
  environment: string;
  demo: boolean;
  health: {
    token_valid_until: number | null;
    last_daraja_ok: number | null;
    last_daraja_error: [number, string] | null;
    open_attempts: number;
    poller_backlog: number;
    relay: { connected: boolean; backlog: number } | null;
  };
}

export type CoreEvent =
  | { type: "attempt_changed"; attempt: Attempt }
  | { type: "sale_paid"; sale_id: number }
  | { type: "health" }
  | { type: "relay"; status: { connected: boolean; backlog: number } }
  | { type: "incoming_payment"; payment: { trans_id: string; amount: Cents } };

/** Every failure arrives as `{code, message}`. */
export function asUiError(e: unknown): UiError {
  if (e && typeof e === "object" && "code" in e && "message" in e) return e as UiError;
  return { code: "internal", message: String(e) };
}

export const api = {
  health: () => invoke<Status>("health"),
  signInOptions: () => invoke<SignInOptions>("sign_in_options"),
  signIn: (name: string, pin: string) => invoke<Cashier>("sign_in", { name, pin }),
  signOut: () => invoke<void>("sign_out"),
  session: () => invoke<Cashier | null>("session"),
  setupManager: (name: string, pin: string) => invoke<Cashier>("setup_manager", { name, pin }),
  products: (search: string) => invoke<Product[]>("products", { search }),
  createSale: (lines: LineInput[]) => invoke<Sale>("create_sale", { lines }),
  getSale: (id: number) => invoke<Sale>("get_sale", { id }),
  recentSales: (date?: string) => invoke<Sale[]>("recent_sales", { date }),
  payCash: (saleId: number, tendered: string) => invoke<{ sale: Sale; change: Cents }>("pay_cash", { saleId, tendered }),
  payCode: (saleId: number, code: string, amount?: string) => invoke<Sale>("pay_code", { saleId, code, amount }),
  checkPhone: (input: string) => invoke<{ msisdn: string; local: string }>("check_phone", { input }),
  charge: (saleId: number, phone: string) => invoke<Attempt>("charge", { saleId, phone }),
  attempts: (openOnly: boolean) => invoke<Attempt[]>("attempts", { openOnly }),
  resend: (attemptId: string) => invoke<Attempt>("resend", { attemptId, noPromptReached: true }),
  incoming: () => invoke<IncomingPayment[]>("incoming"),
  attachIncoming: (transId: string, saleId: number) => invoke<Sale>("attach_incoming", { transId, saleId }),
  receipt: (saleId: number) => invoke<ReceiptView>("get_receipt", { saleId }),
  printReceipt: (saleId: number) => invoke<string>("print_receipt", { saleId }),
  saveReceiptPdf: (saleId: number) => invoke<string>("save_receipt_pdf", { saleId }),
  uiReady: (screen: string) => invoke<void>("ui_ready", { screen }),
  resultCodes: () => invoke<CodeInfo[]>("result_codes"),
  dayReport: (date?: string) => invoke<DayReport>("day_report", { date }),
  exportCsv: (date?: string) => invoke<string>("export_csv", { date }),
  problemAttempts: () => invoke<Attempt[]>("problem_attempts"),
  lostClaims: () => invoke<LostClaim[]>("lost_claims"),
  receiptsUsedElsewhere: () => invoke<{ receipt: string; by: TakenBy }[]>("receipts_used_elsewhere"),
  reconcile: () => invoke<unknown[]>("reconcile"),
  getSettings: () => invoke<SettingsView>("get_settings"),
  saveSettings: (form: SettingsForm) => invoke<SettingsView>("save_settings", { form }),
  testConnection: (form: SettingsForm) => invoke<{ environment: string; millis: number }>("test_connection", { form }),
  staff: () => invoke<Cashier[]>("staff"),
  addStaff: (name: string, role: string, pin: string) => invoke<Cashier>("add_staff", { name, role, pin }),
  setStaffPin: (name: string, pin: string) => invoke<void>("set_staff_pin", { name, pin }),
  unlockStaff: (name: string) => invoke<Cashier>("unlock_staff", { name }),
  demoPrompts: () => invoke<{ checkout_request_id: string }[]>("demo_prompts"),
  demoAnswer: (checkoutRequestId: string, resultCode: string) =>
    invoke<void>("demo_answer", { checkoutRequestId, resultCode }),
  onCoreEvent: (f: (e: CoreEvent) => void): Promise<UnlistenFn> => listen<CoreEvent>("core-event", (e) => f(e.payload)),
};

/** Figures the desktop benchmark reads through WebDriver (src-tauri/benches/desktop.rs). */
export const perf: { signInClickedAt: number | null; tillReadyMs: number | null; eventToScreenMs: number[] } = {
  signInClickedAt: null,
  tillReadyMs: null,
  eventToScreenMs: [],
};
(globalThis as unknown as { __duka: typeof perf }).__duka = perf;
