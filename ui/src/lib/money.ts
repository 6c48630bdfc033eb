// KES formatting for the UI. Amounts are integer cents, as in the store.

/** `KES 1,250.00` */
export function kes(cents: number): string {
  const sign = cents < 0 ? "-" : "";
  const abs = Math.abs(Math.trunc(cents));
  const whole = Math.floor(abs / 100)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const frac = (abs % 100).toString().padStart(2, "0");
  return `${sign}KES ${whole}.${frac}`;
}

/** What an M-Pesa push asks for: whole shillings, rounded up. */
export function pushShillings(dueCents: number): number {
  return Math.ceil(dueCents / 100);
}
