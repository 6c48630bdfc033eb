// The cart being rung up: pure functions, no I/O.
import type { LineInput, Sale } from "./api";

export interface CartLine {
  key: string;
  productId?: number;
  description: string;
  /** Unit price in cents. */
  price: number;
  quantity: number;
  /** A stored line's discount and total after it (cents). */
  discount?: number;
  lineTotal?: number;
}

export function addLine(cart: CartLine[], line: Omit<CartLine, "key">): CartLine[] {
  // The same product again: one more of it, as a barcode scanner expects.
  if (line.productId !== undefined) {
    const i = cart.findIndex((l) => l.productId === line.productId && l.price === line.price);
    if (i >= 0) return cart.map((l, j) => (j === i ? { ...l, quantity: l.quantity + line.quantity } : l));
  }
  return [...cart, { ...line, key: `${Date.now()}-${cart.length}` }];
}

export function setQuantity(cart: CartLine[], key: string, quantity: number): CartLine[] {
  if (quantity <= 0) return cart.filter((l) => l.key !== key);
  return cart.map((l) => (l.key === key ? { ...l, quantity: Math.min(Math.trunc(quantity), 100000) } : l));
}

export function total(cart: CartLine[]): number {
  return cart.reduce((sum, l) => sum + lineTotal(l), 0);
}

/** A line's amount: the stored total (after its discount), else price × quantity. */
export function lineTotal(l: CartLine): number {
  return l.lineTotal ?? l.price * l.quantity;
}

/** What `create_sale` takes. */
export function toLines(cart: CartLine[]): LineInput[] {
  return cart.map((l) =>
    l.productId !== undefined
      ? { product_id: l.productId, quantity: l.quantity }
      : { description: l.description, price: (l.price / 100).toFixed(2), quantity: l.quantity },
  );
}

/** Parses what a cashier types as a price ("150", "1,250.50") into cents, or null. */
export function parsePrice(input: string): number | null {
  const s = input.trim().replace(/^(kes|ksh|sh)\.?\s*/i, "");
  if (!/^(\d{1,3}(,\d{3})+|\d+)(\.\d{1,2})?$/.test(s)) return null;
  const [whole, frac = ""] = s.replace(/,/g, "").split(".");
  const cents = Number(whole) * 100 + Number(frac.padEnd(2, "0"));
  return Number.isSafeInteger(cents) ? cents : null;
}

/** A stored sale's lines as the cart shows them; the key carries the line's number. */
export function fromSale(sale: Sale): CartLine[] {
  return sale.lines.map((l) => ({
    key: `line-${l.line_no}`,
    productId: l.product_id ?? undefined,
    description: l.description,
    price: l.unit_price,
    quantity: l.quantity,
    discount: l.discount,
    lineTotal: l.total,
  }));
}

/** The stored line number behind a cart key made by `fromSale`, or null. */
export function lineNo(key: string): number | null {
  const m = /^line-(\d+)$/.exec(key);
  return m ? Number(m[1]) : null;
}
