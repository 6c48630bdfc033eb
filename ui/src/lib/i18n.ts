// English and Swahili. Every key exists in both (a test checks).

export type Lang = "en" | "sw";

const en = {
  demo_banner: "DEMO — M-Pesa is simulated; no money moves",
  till: "Till",
  item: "Item",
  price: "Price",
  qty: "Qty",
  add: "Add",
  total: "Total",
  due: "Due",
  empty_cart: "Scan a barcode or type an item",
  phone: "Customer's phone",
  phone_hint: "0712 345 678",
  charge: "Charge M-Pesa",
  new_sale: "New sale",
  sent: "Sending the M-Pesa request…",
  waiting_pin: "Waiting for the customer's PIN on {phone}",
  paid: "Paid",
  receipt: "M-Pesa receipt {receipt}",
  receipt_pending: "Receipt pending (it comes with M-Pesa's message)",
  failed: "Not paid",
  unknown: "Unknown — do not charge again yet",
  unknown_help: "Ask the customer whether a prompt arrived and check their SMS.",
  retry: "Try again",
  other_phone: "Other phone",
  no_prompt: "No prompt reached the phone: send again",
  phone_panel: "Simulated phone",
  no_prompts: "No M-Pesa prompt on the phone",
  approve: "Enter PIN",
  cancel: "Cancel",
  let_time_out: "Ignore",
  open_attempts: "{n} open",
  relay_on: "relay connected",
  relay_off: "relay offline (polling)",
  daraja_ok: "M-Pesa reachable",
  daraja_err: "M-Pesa error",
};

const sw: Record<keyof typeof en, string> = {
  demo_banner: "MAJARIBIO — M-Pesa ni ya kuigiza; hakuna pesa zinazohamishwa",
  till: "Till",
  item: "Bidhaa",
  price: "Bei",
  qty: "Idadi",
  add: "Ongeza",
  total: "Jumla",
  due: "Kiasi kinachodaiwa",
  empty_cart: "Changanua msimbo au andika bidhaa",
  phone: "Simu ya mteja",
  phone_hint: "0712 345 678",
  charge: "Lipisha kwa M-Pesa",
  new_sale: "Mauzo mapya",
  sent: "Tunatuma ombi la M-Pesa…",
  waiting_pin: "Tunasubiri PIN ya mteja kwenye {phone}",
  paid: "Imelipwa",
  receipt: "Risiti ya M-Pesa {receipt}",
  receipt_pending: "Risiti inasubiriwa (itakuja na ujumbe wa M-Pesa)",
  failed: "Haijalipwa",
  unknown: "Haijulikani — usilipishe tena bado",
  unknown_help: "Muulize mteja kama ombi lilifika na uangalie SMS yake.",
  retry: "Jaribu tena",
  other_phone: "Simu nyingine",
  no_prompt: "Ombi halikufika kwenye simu: tuma tena",
  phone_panel: "Simu ya kuigiza",
  no_prompts: "Hakuna ombi la M-Pesa kwenye simu",
  approve: "Weka PIN",
  cancel: "Ghairi",
  let_time_out: "Puuza",
  open_attempts: "{n} wazi",
  relay_on: "relay imeunganishwa",
  relay_off: "relay haipo (tunauliza M-Pesa)",
  daraja_ok: "M-Pesa inafikika",
  daraja_err: "Hitilafu ya M-Pesa",
};

export type Key = keyof typeof en;
export const dictionaries: Record<Lang, Record<Key, string>> = { en, sw };

export function t(lang: Lang, key: Key, vars: Record<string, string | number> = {}): string {
  return dictionaries[lang][key].replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? `{${k}}`));
}
