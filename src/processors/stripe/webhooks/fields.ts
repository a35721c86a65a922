/** Reading a Stripe object's fields the way every event file needs. */

/** A reference Stripe sends either as an id or, expanded, as the object. */
export function idOf(ref: string | { id: string }): string {
  return typeof ref === 'string' ? ref : ref.id;
}

/** Stripe's times are Unix seconds. */
export function dateOf(seconds: number): Date {
  return new Date(seconds * 1000);
}
