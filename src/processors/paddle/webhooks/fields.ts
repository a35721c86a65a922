/** Reading a Paddle notification's fields the way every event file needs. */

/** Paddle's times are RFC 3339 strings; one that does not parse is no time. */
export function dateOf(value: string | null | undefined): Date | undefined {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** Paddle's amounts are strings of the currency's smallest unit ("2000" is $20.00). */
export function amountOf(value: string | null | undefined): number | undefined {
  if (!value || !/^\d{1,15}$/.test(value)) return undefined;
  return Number(value);
}
