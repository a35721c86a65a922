/**
 * Everything the app asks of Tollgate, behind one small interface, so that the rest of the app
 * does not care where Tollgate runs: in this process on the app's own database (in-process.ts),
 * or as a separate server reached over HTTP (over-http.ts). Both answer in the same shapes: those
 * of Tollgate's HTTP API (dates as ISO strings), except the gate, which answers as the library
 * does, so that `wrap` from tollgate/ai takes either as its Meter.
 */
import type { Balance, Limit } from 'tollgate';
import type { Meter } from 'tollgate/ai';

/** A value as it comes out of JSON: its dates as ISO strings. */
export type Wire<T> = T extends Date ? string : T extends string | number | boolean | null | undefined ? T : T extends readonly (infer U)[] ? Wire<U>[] : T extends object ? { [K in keyof T]: Wire<T[K]> } : T;

/** A person's own account, or a team's shared one. */
export interface BilledAccount {
  id: string;
  kind: 'personal' | 'team';
  name: string;
}

/** A member's role in a team; a personal account's user is its owner. */
export type Role = 'owner' | 'admin' | 'member';

/** An amount as `GET /v1/pricing` gives it: in the display unit, and as a person reads it. */
export interface PricingAmount {
  amount: number;
  display: string;
}

/** The pricing table as customers see it (`GET /v1/pricing`): the plans and packs on sale. */
export interface Pricing {
  unit: 'usd' | 'credits';
  /** What one credit is worth, when the unit is credits. */
  credit: { micros: number; display: string } | null;
  plans: {
    slug: string;
    name: string;
    price: { cents: number; display: string };
    free: boolean;
    default: boolean;
    included: PricingAmount;
    limits: { window: 'day' | 'month'; unit: 'usd' | 'tokens'; display: string }[];
    overage: 'block' | 'credits';
    models: string[];
  }[];
  packs: {
    slug: string;
    name: string;
    price: { cents: number; display: string };
    value: PricingAmount;
    addOn: boolean;
  }[];
}

export interface Tollgate extends Meter {
  /** Where Tollgate runs, for the start's banner. */
  readonly mode: 'in-process' | 'http';
  /** Creates the account, or renames it; safe to call again. */
  ensureAccount(account: BilledAccount): Promise<void>;
  /** What the account has left: its plan, available value, buckets, limits and members' caps. */
  balance(accountId: string): Promise<Wire<Balance>>;
  /** The plans and packs on sale. */
  pricing(): Promise<Pricing>;
  /**
   * Caps what one member may use of a team's pool (no limits: lifts the cap); `name`, the
   * member's display name, is what Tollgate's pages show for them instead of their user id.
   */
  setMemberLimits(teamId: string, userId: string, limits: Limit[], name?: string): Promise<void>;
  /**
   * A short-lived link to Tollgate's hosted billing page for one account, for one user with a
   * role there (only an owner or admin may buy); back to `returnUrl` when they are done.
   */
  billingLink(accountId: string, who: { userId: string; role: Role; returnUrl: string }): Promise<string>;
  close(): Promise<void>;
}

/**
 * A person's display name as Tollgate takes a member's (trimmed, 1–100 characters, no control
 * characters): sign-up lets a name be longer or hold a line break; none when nothing is left.
 */
export function memberName(name: string | null | undefined): string | undefined {
  // Cut at 100 UTF-16 units, as the library counts, without leaving half of a pair behind.
  const fitted = (name ?? '').toWellFormed().replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim().slice(0, 100).replace(/[\ud800-\udbff]$/, '').trim();
  return fitted === '' ? undefined : fitted;
}
