/**
 * An account as the gate and the ledger weigh it: its terms, open holds, buckets with value
 * left, debt and its usage counters, exact as of its four versions. It is read from the
 * database in one statement (snapshot.ts), or remembered by this process (known-accounts.ts)
 * and brought forward by the writes this process makes itself. What the gate and a charge
 * need is derived from it here, the same way whichever of the two it came from.
 */
import { allowanceReference, usableSources, type BucketSource } from '../../core/bucket.ts';
import type { GateState, MemberGate } from '../../core/gate.ts';
import type { Micros } from '../../core/money.ts';
import { includedMicros } from '../../core/plan.ts';
import { holdKey } from '../../core/hold-id.ts';
import { totalTokens } from '../../core/usage.ts';
import { hasStarted } from '../../core/time.ts';
import { countUsage, usedIn, type CountedUsage, type UsageWindows } from '../../core/usage-windows.ts';
import type { LedgerState, PreparedCharge } from '../charge/write.ts';
import { memberGates, type MemberState } from './members.ts';
import { termsFromRow, type Terms, type TermsRow } from '../terms.ts';

/**
 * What a write made on remembered state must find unchanged: the gate (holds, plan), the
 * ledger (value), the account's terms and the catalog (plans, settings).
 */
export interface Versions {
  gate: number;
  ledger: number;
  terms: number;
  catalog: number;
}

/** The versions a write requires to be unchanged; a version left out is not checked. */
export type Guard = Partial<Versions>;

/** A guard for a write on the ledger: its version is always checked. */
export type LedgerGuard = Guard & { ledger: number };

export interface StateBucket {
  id: number;
  source: BucketSource;
  priority: number;
  startsAt: Date;
  expiresAt: Date | null;
  createdAt: Date;
  remainingMicros: Micros;
}

export interface StateHold {
  /** The hold's key (core/hold-id.ts). */
  id: string;
  amountMicros: Micros;
  tokens: number;
  expiresAt: Date;
  model: string;
  provider: string;
  userId: string | null;
  createdAt: Date;
}

export interface AccountState {
  termsRow: TermsRow;
  versions: Versions;
  debtMicros: number;
  /** The references of the allowances not expired when read, to tell whether this period's is open. */
  allowances: readonly string[];
  /** Buckets with value left that had not expired when read. */
  buckets: readonly StateBucket[];
  /** Holds open and not lapsed when read. */
  holds: readonly StateHold[];
  /** Usage counters of the current and previous day and month windows. */
  windows: UsageWindows;
  /** The members the account caps, with their usage counters (members.ts); none for most accounts. */
  members: readonly MemberState[];
}

export interface GateSnapshot {
  terms: Terms;
  versions: Versions;
  /** This period's allowance is open (or the plan includes none). */
  allowanceOpen: boolean;
  state: Omit<GateState, 'modelAllowed' | 'modelPriced' | 'member'>;
  /** The capped members, by user id: a call for one of them is weighed against their caps too. */
  members: Map<string, MemberGate>;
}

/** A bucket opened by a process whose clock runs ahead is usable here too (core/time.ts). */
const usableAt = (b: StateBucket, now: Date) => b.remainingMicros > 0 && hasStarted(b.startsAt, now) && (b.expiresAt === null || b.expiresAt > now);

function allowanceOpen(allowances: readonly string[], terms: Terms): boolean {
  return includedMicros(terms.plan) === 0 || allowances.includes(allowanceReference(terms.plan.id, terms.period.start));
}

/** What the gate weighs at `now`. */
export function gateSnapshot(state: AccountState, now: Date): GateSnapshot {
  const terms = termsFromRow(state.termsRow, now);
  const sources = new Set(usableSources(terms.plan.overage));
  const usable = state.buckets.filter((b) => sources.has(b.source) && usableAt(b, now));
  const open = state.holds.filter((h) => h.expiresAt > now);
  return {
    terms,
    versions: state.versions,
    allowanceOpen: allowanceOpen(state.allowances, terms),
    members: memberGates(state.members, open, terms, now),
    state: {
      plan: terms.plan,
      usableMicros: usable.reduce((sum, b) => sum + b.remainingMicros, 0),
      debtMicros: state.debtMicros,
      held: { valueMicros: open.reduce((sum, h) => sum + h.amountMicros, 0), tokens: open.reduce((sum, h) => sum + h.tokens, 0) },
      used: { day: usedIn(state.windows, 'day', terms.day.start, now), month: usedIn(state.windows, 'month', terms.period.start, now) },
      day: terms.day,
      period: terms.period,
      pastDue: terms.pastDue,
    },
  };
}

/**
 * The gate's state as it will be once this period's allowance opens (on the account's next
 * call, which pays any debt from it first), and that allowance: what a read that writes
 * nothing (balance, canStart, the admin's list) shows and weighs.
 */
export function withPendingAllowance(snap: GateSnapshot): { state: GateSnapshot['state']; pendingMicros: Micros } {
  const pendingMicros = (snap.allowanceOpen ? 0 : includedMicros(snap.terms.plan)) as Micros;
  const { usableMicros, debtMicros } = snap.state;
  return {
    state: { ...snap.state, usableMicros: usableMicros + Math.max(0, pendingMicros - debtMicros), debtMicros: Math.max(0, debtMicros - pendingMicros) },
    pendingMicros,
  };
}

/** What a charge draws on at `now`: the buckets this plan may spend, as fresh objects to draw down. */
export function ledgerOf(state: AccountState, now: Date): LedgerState {
  const { versions, debtMicros, allowances, buckets, windows, members } = state;
  return ledgerFrom(termsFromRow(state.termsRow, now), { version: versions.ledger, debtMicros, allowances, buckets, windows, members });
}

/**
 * A charge's ledger from its parts, however they were read, at the terms' moment. `consistent`
 * is false when they were read under a lock that had to wait: read again before drawing.
 */
export function ledgerFrom(
  terms: Terms,
  parts: {
    version: number; debtMicros: number; allowances: readonly string[]; buckets: readonly StateBucket[]; windows: UsageWindows;
    members: readonly MemberState[];
  },
  consistent = true,
): LedgerState {
  const sources = new Set(usableSources(terms.plan.overage));
  return {
    terms,
    version: parts.version,
    debtMicros: parts.debtMicros,
    consistent,
    allowanceOpen: allowanceOpen(parts.allowances, terms),
    windows: parts.windows,
    members: new Map(parts.members.map((m) => [m.userId, m.windows])),
    buckets: parts.buckets
      .filter((b) => sources.has(b.source) && usableAt(b, terms.now))
      .map((b) => ({ id: b.id, priority: b.priority, expiresAt: b.expiresAt, createdAt: b.createdAt, remainingMicros: b.remainingMicros })),
  };
}

/**
 * The state after this process placed `holds` on the account in one statement, which moved
 * its gate version by one.
 * Holds that had lapsed by then are dropped: a settle of one of them reads afresh.
 */
export function withHolds(state: AccountState, holds: readonly StateHold[]): AccountState {
  const at = Math.min(...holds.map((h) => h.createdAt.getTime()));
  const open = state.holds.filter((h) => h.expiresAt.getTime() > at);
  return { ...state, versions: { ...state.versions, gate: state.versions.gate + 1 }, holds: [...open, ...holds] };
}

/** A charge as the usage counters see it. */
export function countedUsage(c: PreparedCharge): CountedUsage {
  return { at: c.terms.now, dayStart: c.terms.day.start, monthStart: c.terms.period.start, valueMicros: c.valueMicros, tokens: totalTokens(c.usage) };
}

/** The state after this process wrote `charges` on the account (its ledger version moved by one). */
export function withCharges(state: AccountState, charges: readonly PreparedCharge[]): AccountState {
  const drawn = new Map<number, number>();
  for (const a of charges.flatMap((c) => c.allocations)) drawn.set(a.bucketId, (drawn.get(a.bucketId) ?? 0) + a.amountMicros);
  const settled = new Set(charges.map((c) => c.holdId && holdKey(c.holdId)));
  return {
    ...state,
    versions: { ...state.versions, ledger: state.versions.ledger + 1 },
    debtMicros: state.debtMicros + charges.reduce((sum, c) => sum + c.shortfallMicros, 0),
    buckets: state.buckets.map((b) => (drawn.has(b.id) ? { ...b, remainingMicros: (b.remainingMicros - drawn.get(b.id)!) as Micros } : b)),
    holds: state.holds.filter((h) => !settled.has(h.id)),
    windows: charges.reduce((windows, c) => countUsage(windows, countedUsage(c)), state.windows),
    members: state.members.map((m) => {
      const mine = charges.filter((c) => c.userId === m.userId);
      return mine.length === 0 ? m : { ...m, windows: mine.reduce((windows, c) => countUsage(windows, countedUsage(c)), m.windows) };
    }),
  };
}
