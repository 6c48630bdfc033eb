// What the payment panel shows for an attempt, in the cashier's language.
import type { Attempt, CodeInfo } from "./api";
import { t, type Lang } from "./i18n";

export type Tone = "busy" | "good" | "bad" | "warn";

export interface Panel {
  tone: Tone;
  title: string;
  detail: string;
  /** Next steps the cashier may take. */
  actions: ("retry" | "other_phone" | "resend")[];
}

export function localPhone(msisdn: string): string {
  const n = msisdn.replace(/^254/, "");
  return `0${n.slice(0, 3)} ${n.slice(3, 6)} ${n.slice(6)}`;
}

export function panel(a: Attempt, codes: CodeInfo[], lang: Lang): Panel {
  const code = a.state === "failed" ? a.code : (a.unknown_code ?? "");
  const info = codes.find((c) => c.code === code);
  switch (a.state) {
    case "created":
      return { tone: "busy", title: t(lang, "sent"), detail: "", actions: [] };
    case "pending":
      return { tone: "busy", title: t(lang, "waiting_pin", { phone: localPhone(a.phone) }), detail: "", actions: [] };
    case "paid":
      return {
        tone: "good",
        title: t(lang, "paid"),
        detail: a.receipt ? t(lang, "receipt", { receipt: a.receipt }) : t(lang, "receipt_pending"),
        actions: [],
      };
    case "failed":
      return {
        tone: "bad",
        title: t(lang, "failed"),
        detail: info ? info[lang] : `${code} ${a.result_desc ?? ""}`.trim(),
        actions: info?.class === "final" ? ["other_phone"] : ["retry", "other_phone"],
      };
    case "unknown":
      return { tone: "warn", title: t(lang, "unknown"), detail: t(lang, "unknown_help"), actions: ["resend"] };
  }
}

/** How long an STK prompt stays on the customer's phone before M-Pesa gives up on it. */
export const PROMPT_LIFETIME_S = 60;

/** Seconds left on the customer's PIN prompt while the attempt is pending; null otherwise. */
export function promptSecondsLeft(a: Attempt, nowMs: number): number | null {
  if (a.state !== "pending") return null;
  const left = Math.ceil((a.updated_at + PROMPT_LIFETIME_S * 1000 - nowMs) / 1000);
  return Math.max(0, Math.min(PROMPT_LIFETIME_S, left));
}

/** As the manager's lists show a phone: `2547****149` (the same mask as the logs). */
export function maskPhone(msisdn: string): string {
  return /^254\d{9}$/.test(msisdn) ? `${msisdn.slice(0, 4)}****${msisdn.slice(9)}` : "****";
}
