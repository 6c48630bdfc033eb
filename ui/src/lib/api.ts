// The only module that talks to the Rust side (invoke/listen). Everything else calls these.
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";

import type {
  Approval,
  BackupFile,
  Backups,
  RestoreDone,
  RelayRestoreDone,
  Attempt,
  Cashier,
  CashPaid,
  CodeInfo,
  ConnectionTest,
  CoreEvent,
  DayClose,
  DayReport,
  ShopDay,
  DrawerMove,
  ErrorCode,
  IncomingPayment,
  LineInput,
  LostClaim,
  Money,
  Phone,
  Product,
  Prompt,
  ReceiptView,
  Reconciled,
  Refund,
  RefundLineInput,
  RefundVia,
  Sale,
  Shift,
  SlipOf,
  TestPush,
  StockMove,
  SettingsForm,
  SettingsView,
  SignInOptions,
  Status,
  UiError,
  UsedElsewhere,
  ZReport,
} from "./bindings";

// Every payload type comes from the Rust side (generated into ./bindings.ts).
export type * from "./bindings";

/** Amounts in the store and on the wire are integer cents. */
export type Cents = Money;

export type AttemptStateName = Attempt["state"];

/** Every failure arrives as `{code, message}`. */
export function asUiError(e: unknown): UiError {
  if (e && typeof e === "object" && "code" in e && "message" in e) return e as UiError;
  return { code: "internal" satisfies ErrorCode, message: String(e) };
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
  voidSale: (saleId: number, reason: string) => invoke<Sale>("void_sale", { saleId, reason }),
  parkSale: (saleId: number) => invoke<Sale>("park_sale", { saleId }),
  recallSale: (saleId: number) => invoke<Sale>("recall_sale", { saleId }),
  parkedSales: () => invoke<Sale[]>("parked_sales"),
  addLine: (saleId: number, line: LineInput) => invoke<Sale>("add_line", { saleId, line }),
  removeLine: (saleId: number, lineNo: number) => invoke<Sale>("remove_line", { saleId, lineNo }),
  setQuantity: (saleId: number, lineNo: number, quantity: number) =>
    invoke<Sale>("set_quantity", { saleId, lineNo, quantity }),
  recentSales: (date?: string) => invoke<Sale[]>("recent_sales", { date }),
  payCash: (saleId: number, tendered: string) => invoke<CashPaid>("pay_cash", { saleId, tendered }),
  payCode: (saleId: number, code: string, amount?: string) => invoke<Sale>("pay_code", { saleId, code, amount }),
  checkPhone: (input: string) => invoke<Phone>("check_phone", { input }),
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
  shopDay: (date?: string) => invoke<ShopDay>("shop_day", { date }),
  exportCsv: (date?: string) => invoke<string>("export_csv", { date }),
  problemAttempts: () => invoke<Attempt[]>("problem_attempts"),
  lostClaims: () => invoke<LostClaim[]>("lost_claims"),
  receiptsUsedElsewhere: () => invoke<UsedElsewhere[]>("receipts_used_elsewhere"),
  reconcile: () => invoke<Reconciled[]>("reconcile"),
  getSettings: () => invoke<SettingsView>("get_settings"),
  saveSettings: (form: SettingsForm) => invoke<SettingsView>("save_settings", { form }),
  testConnection: (form: SettingsForm) => invoke<ConnectionTest>("test_connection", { form }),
  checkSettings: (form: SettingsForm) => invoke<void>("check_settings", { form }),
  testPush: (form: SettingsForm, phone: string) => invoke<TestPush>("test_push", { form, phone }),
  staff: () => invoke<Cashier[]>("staff"),
  addStaff: (name: string, role: string, pin: string) => invoke<Cashier>("add_staff", { name, role, pin }),
  setStaffPin: (name: string, pin: string) => invoke<void>("set_staff_pin", { name, pin }),
  unlockStaff: (name: string) => invoke<Cashier>("unlock_staff", { name }),
  demoPrompts: () => invoke<Prompt[]>("demo_prompts"),
  demoAnswer: (checkoutRequestId: string, resultCode: string) =>
    invoke<void>("demo_answer", { checkoutRequestId, resultCode }),
  currentShift: () => invoke<Shift | null>("current_shift"),
  openShift: (float: string) => invoke<Shift>("open_shift", { float }),
  closeShift: (counted: string) => invoke<ZReport>("close_shift", { counted }),
  zReport: (shiftId: number) => invoke<ZReport>("z_report", { shiftId }),
  dayClose: (date?: string) => invoke<DayClose>("day_close", { date }),
  drawerMove: (kind: "pay_out" | "cash_in" | "open", amount: string, reason: string) =>
    invoke<DrawerMove>("drawer_move", { kind, amount, reason }),
  discount: (saleId: number, lineNo: number | null, value: string, approval?: Approval) =>
    invoke<Sale>("discount", { saleId, lineNo, value, approval }),
  refund: (saleId: number, lines: RefundLineInput[], reason: string, via: RefundVia) =>
    invoke<Refund>("refund", { saleId, lines, reason, via }),
  settleReversal: (refundId: number, receipt: string | null) =>
    invoke<Refund>("settle_reversal", { refundId, receipt }),
  confirmRefund: (refundId: number) => invoke<Refund>("confirm_refund", { refundId }),
  refundsOf: (saleId: number) => invoke<Refund[]>("refunds_of", { saleId }),
  lowStock: () => invoke<Product[]>("low_stock"),
  trackStock: (productId: number, onHand: number | null, lowStock: number | null) =>
    invoke<Product>("track_stock", { productId, onHand, lowStock }),
  countStock: (productId: number, counted: number, reason: string) =>
    invoke<StockMove>("count_stock", { productId, counted, reason }),
  stockMoves: (productId: number) => invoke<StockMove[]>("stock_moves", { productId }),
  slipText: (of: SlipOf) => invoke<string[]>("slip_text", { of }),
  printSlip: (of: SlipOf) => invoke<string>("print_slip", { of }),
  saveSlipPdf: (of: SlipOf) => invoke<string>("save_slip_pdf", { of }),
  backupNow: () => invoke<BackupFile>("backup_now"),
  backups: () => invoke<Backups>("backups"),
  restoreBackup: (path: string) => invoke<RestoreDone>("restore_backup", { path }),
  restoreFromRelay: () => invoke<RelayRestoreDone>("restore_from_relay"),
  onCoreEvent: (f: (e: CoreEvent) => void): Promise<UnlistenFn> => listen<CoreEvent>("core-event", (e) => f(e.payload)),
};

/** Figures the desktop benchmark reads through WebDriver (src-tauri/benches/desktop.rs). */
export const perf: { signInClickedAt: number | null; tillReadyMs: number | null; eventToScreenMs: number[] } = {
  signInClickedAt: null,
  tillReadyMs: null,
  eventToScreenMs: [],
};
(globalThis as unknown as { __duka: typeof perf }).__duka = perf;
