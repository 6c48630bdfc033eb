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
  result_code: string | null;
  result_desc: string | null;
  flag: string | null;
  updated_at: number;
}

export interface DayReport {
  date: string;
  sales_paid: number;
  sales_total: Cents;
  taken: Cents;
  by_tender: { kind: string; count: number; amount: Cents }[];
  by_cashier: { cashier: string; count: number; amount: Cents }[];
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
  cashiers: () => invoke<{ id: number; name: string; role: string }[]>("cashiers"),
  products: (search: string) => invoke<Product[]>("products", { search }),
  createSale: (cashier: string, lines: LineInput[]) => invoke<Sale>("create_sale", { cashier, lines }),
  getSale: (id: number) => invoke<Sale>("get_sale", { id }),
  payCash: (saleId: number, tendered: string, cashier: string) =>
    invoke<{ sale: Sale; change: Cents }>("pay_cash", { saleId, tendered, cashier }),
  payCode: (saleId: number, code: string, cashier: string, amount?: string) =>
    invoke<Sale>("pay_code", { saleId, code, amount, cashier }),
  checkPhone: (input: string) => invoke<{ msisdn: string; local: string }>("check_phone", { input }),
  charge: (saleId: number, phone: string, cashier: string) => invoke<Attempt>("charge", { saleId, phone, cashier }),
  attempts: (openOnly: boolean) => invoke<Attempt[]>("attempts", { openOnly }),
  resend: (attemptId: string, cashier: string) =>
    invoke<Attempt>("resend", { attemptId, noPromptReached: true, cashier }),
  resultCodes: () => invoke<CodeInfo[]>("result_codes"),
  dayReport: (date?: string) => invoke<DayReport>("day_report", { date }),
  reconcile: () => invoke<unknown[]>("reconcile"),
  demoPrompts: () => invoke<{ checkout_request_id: string }[]>("demo_prompts"),
  demoAnswer: (checkoutRequestId: string, resultCode: string) =>
    invoke<void>("demo_answer", { checkoutRequestId, resultCode }),
  onCoreEvent: (f: (e: CoreEvent) => void): Promise<UnlistenFn> => listen<CoreEvent>("core-event", (e) => f(e.payload)),
};
