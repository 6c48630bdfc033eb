import { describe, expect, it } from "vitest";
import { kes, pushShillings } from "./money";
import { addLine, fromSale, lineNo, parsePrice, setQuantity, toLines, total } from "./cart";
import { dictionaries, errorCodes, errorText, t } from "./i18n";
import { panel, localPhone, maskPhone, promptSecondsLeft } from "./payment";
import type { Attempt, CodeInfo, ErrorCode, UiError } from "./api";

describe("money", () => {
  it("formats KES with grouping", () => {
    expect(kes(125000)).toBe("KES 1,250.00");
    expect(kes(5)).toBe("KES 0.05");
    expect(kes(12345678)).toBe("KES 123,456.78");
    expect(pushShillings(15050)).toBe(151);
  });
});

describe("cart", () => {
  it("adds, merges the same product, changes quantities and totals", () => {
    let c = addLine([], { productId: 1, description: "Sugar", price: 15000, quantity: 1 });
    c = addLine(c, { productId: 1, description: "Sugar", price: 15000, quantity: 1 });
    c = addLine(c, { description: "Tomatoes", price: 4550, quantity: 3 });
    expect(c).toHaveLength(2);
    expect(total(c)).toBe(2 * 15000 + 3 * 4550);
    c = setQuantity(c, c[1].key, 0);
    expect(c).toHaveLength(1);
    expect(toLines(addLine(c, { description: "Bread", price: 6550, quantity: 1 }))).toEqual([
      { product_id: 1, quantity: 2 },
      { description: "Bread", price: "65.50", quantity: 1 },
    ]);
  });
  it("parses prices as cashiers type them", () => {
    expect(parsePrice("150")).toBe(15000);
    expect(parsePrice("1,250.5")).toBe(125050);
    expect(parsePrice("KES 99.05")).toBe(9905);
    for (const bad of ["", "-5", "1.234", "12,50", "abc"]) expect(parsePrice(bad)).toBeNull();
  });
});

describe("i18n", () => {
  it("has every key in English and Swahili, with the same placeholders", () => {
    const keys = Object.keys(dictionaries.en);
    expect(Object.keys(dictionaries.sw).sort()).toEqual(keys.sort());
    for (const k of keys) {
      const vars = (s: string) => (s.match(/\{\w+\}/g) ?? []).sort();
      expect(vars(dictionaries.sw[k as keyof typeof dictionaries.en])).toEqual(vars(dictionaries.en[k as keyof typeof dictionaries.en]));
    }
    expect(t("sw", "waiting_pin", { phone: "0712 345 678" })).toBe("Tunasubiri PIN ya mteja kwenye 0712 345 678");
  });
});

describe("payment panel", () => {
  const codes: CodeInfo[] = [
    { code: "1032", class: "retry", en: "The customer cancelled the request.", sw: "Mteja ameghairi ombi." },
    { code: "2028", class: "final", en: "Not set up.", sw: "Haijawekwa." },
  ];
  const base: Attempt = {
    id: "a", sale_id: 1, phone: "254712345678", amount: 100, state: "pending", checkout_id: "ws_CO_1",
    checkout_request_id: "ws_CO_1", unknown_code: null, result_desc: null, flag: null, followed: false,
    cashier: "Wanjiku", created_at: 0, updated_at: 0,
  };
  it("follows an attempt to its end in the cashier's language", () => {
    expect(localPhone("254712345678")).toBe("0712 345 678");
    expect(panel(base, codes, "en").title).toBe("Waiting for the customer's PIN on 0712 345 678");
    expect(panel({ ...base, state: "paid", receipt: "UJ22T8IYOU" }, codes, "en").detail).toBe("M-Pesa receipt UJ22T8IYOU");
    const cancelled = panel({ ...base, state: "failed", code: "1032" }, codes, "sw");
    expect(cancelled.detail).toBe("Mteja ameghairi ombi.");
    expect(cancelled.actions).toEqual(["retry", "other_phone"]);
    expect(panel({ ...base, state: "failed", code: "2028" }, codes, "en").actions).toEqual(["other_phone"]);
    expect(panel({ ...base, state: "unknown" }, codes, "en").actions).toEqual(["resend"]);
  });
});

describe("payment panel helpers", () => {
  const pending: Attempt = {
    id: "a1", sale_id: 1, phone: "254712345678", amount: 100, state: "pending", checkout_id: "ws_CO_1",
    checkout_request_id: "ws_CO_1", unknown_code: null, result_desc: null, flag: null, followed: false,
    cashier: "Wanjiku", created_at: 1_000_000, updated_at: 1_000_000,
  };

  it("counts the PIN prompt down from when it was sent, never below zero", () => {
    expect(promptSecondsLeft(pending, 1_000_000)).toBe(60);
    expect(promptSecondsLeft(pending, 1_000_000 + 15_500)).toBe(45);
    expect(promptSecondsLeft(pending, 1_000_000 + 600_000)).toBe(0);
    expect(promptSecondsLeft({ ...pending, state: "paid", receipt: null }, 1_000_000)).toBeNull();
  });

  it("masks phones like the logs do", () => {
    expect(maskPhone("254708374149")).toBe("2547****149");
    expect(maskPhone("0708")).toBe("****");
  });
});

describe("errors", () => {
  it("say what the code means in the cashier's language, with the code", () => {
    const e: UiError = { code: "disk_full", message: "the till's disk is full (database or disk is full)" };
    expect(errorText("sw", e)).toBe("Diski ya till imejaa (disk_full): the till's disk is full (database or disk is full)");
    expect(errorText("en", e).startsWith("The till's disk is full (disk_full)")).toBe(true);
    // A code from a newer Rust side than this UI was built with still shows its message.
    expect(errorText("sw", { code: "something_new" as ErrorCode, message: "x" })).toBe("x (something_new)");
    for (const c of errorCodes) {
      expect(dictionaries.sw[`err_${c}`], c).toBeTruthy();
      expect(dictionaries.en[`err_${c}`], c).toBeTruthy();
    }
  });
});

describe("a stored sale in the cart", () => {
  it("keeps each line's number so a correction names the right line", () => {
    const sale = {
      id: 7, status: "open", cashier: "Amina", total: 36_500, paid: 0, due: 36_500, tenders: [], created_at: 0,
      paid_at: null, discount: 0, refunded: 0, parked: false, void_reason: null, voided_by: null, shift_id: null,
      lines: [
        { line_no: 1, product_id: 3, description: "Sugar 1kg", unit_price: 15_000, quantity: 2, total: 30_000, discount: 0 },
        { line_no: 4, product_id: null, description: "Bread", unit_price: 6_500, quantity: 1, total: 6_500, discount: 0 },
      ],
    } satisfies Parameters<typeof fromSale>[0];
    const cart = fromSale(sale);
    expect(cart.map((l) => lineNo(l.key))).toEqual([1, 4]);
    expect(cart[1].productId).toBeUndefined();
    expect(total(cart)).toBe(36_500);
    expect(lineNo("1700000000-0")).toBeNull();
  });
});
