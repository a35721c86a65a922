/**
 * The gate's rules, pure: given what an account has, is using and may use, may this call go
 * ahead? Checked in this order, the first failure wins:
 *   renewal paid (not past due) → model has a price → model allowed by the plan → no unpaid debt → daily limits →
 *   monthly limits → the member's caps (a team's cap on the calling user) → enough value for
 *   the hold.
 * Limits count what was used in the window, plus every open hold, plus this call's estimate;
 * a member's caps count the member's own usage and holds the same way. A call whose token
 * counts are not all known is weighed at its smallest and at its worst (checkUncounted).
 */
import { formatValue, type Display, type Micros } from './money.ts';
import type { Period } from './periods.ts';
import { modelAllowed, type Limit, type Plan } from './plan.ts';
import { refuse, type Refusal, type RefusalCode, type Remedy } from './refusal.ts';

export interface Amounts {
  valueMicros: number;
  tokens: number;
}

/** A team's caps on the calling member, and what the member used and holds in their windows. */
export interface MemberGate {
  userId: string;
  limits: readonly Limit[];
  used: { day: Amounts; month: Amounts };
  held: Amounts;
}

export interface GateState {
  plan: Plan;
  modelAllowed: boolean;
  modelPriced: boolean;
  /** Value in buckets this plan may draw from right now. */
  usableMicros: number;
  debtMicros: number;
  held: Amounts;
  used: { day: Amounts; month: Amounts };
  day: Period;
  period: Period;
  /** The caller's caps, when the account caps the user the call is for. */
  member?: MemberGate;
  /** A renewal's payment failed and its grace is over: nothing goes ahead until it is paid. */
  pastDue?: boolean;
}

export interface GateFailure {
  code: RefusalCode;
  resetsAt?: Date;
  limit?: Limit;
  /** The call alone is more than the whole limit: no reset of its window lets it through. */
  beyondLimit?: boolean;
  /** With beyondLimit: what the call alone weighs in the limit's unit, which a limit elsewhere must hold. */
  needs?: number;
  /** What the limit has left (in its unit) when it is not used up but the call could use more. */
  left?: number;
}

/** Value left for new holds: usable buckets less open holds less debt. Never below zero. */
export function availableMicros(state: Pick<GateState, 'usableMicros' | 'held' | 'debtMicros'>): Micros {
  return Math.max(0, state.usableMicros - state.held.valueMicros - state.debtMicros) as Micros;
}

export function checkGate(state: GateState, estimate: Amounts): GateFailure | undefined {
  if (state.pastDue) return { code: 'payment_past_due' };
  // Unpriced before not allowed: no plan could bill the model, so "upgrade" would sell nothing.
  if (!state.modelPriced) return { code: 'unknown_model' };
  if (!state.modelAllowed) return { code: 'model_not_allowed' };
  if (state.debtMicros > 0) return { code: 'debt' };
  const account = overLimit(state.plan.limits, state, estimate);
  const member = state.member && overLimit(state.member.limits, state.member, estimate);
  if (account || member) {
    // A limit the call alone is more than decides the refusal, whichever was reached first: no reset lets the call through.
    const beyond = state.plan.limits.find((l) => aloneOver(l, estimate));
    if (beyond) return { code: windowCode(beyond), limit: beyond, beyondLimit: true, needs: weight(beyond, estimate) };
    const beyondCap = state.member?.limits.find((l) => aloneOver(l, estimate));
    if (beyondCap) return { code: 'member_limit', limit: beyondCap, beyondLimit: true };
    return account ? limitFailure(windowCode(account), account, state, state) : limitFailure('member_limit', member!, state.member!, state);
  }
  if (availableMicros(state) < estimate.valueMicros) return { code: 'insufficient_balance' };
  return undefined;
}

/**
 * The gate's verdict on a call whose token counts are not all known: weighed at its smallest
 * (`least`: the counts given, at least one token) and at its worst (`worst`: a count not given
 * at the most one call may report). Refused if even its smallest is. A token limit that only its
 * worst would pass is `unbounded`: the counts would decide, so the call cannot go ahead without
 * them (a hold of its smallest would let concurrent calls pass the limit together).
 */
export function checkUncounted(state: GateState, least: Amounts, worst: Amounts): { failure?: GateFailure; unbounded?: GateFailure } {
  const failure = checkGate(state, least);
  if (failure) return { failure };
  const unbounded = checkGate(state, worst);
  return unbounded ? { unbounded } : {};
}

/**
 * What a limit weighs before a call, in its unit: what was used in its window, as charged (a
 * refund gives value back, not usage), and what open holds reserve. The gate and the account's
 * page (balance's limits) both read it here.
 */
export function limitUse(limit: Limit, { used, held }: Pick<MemberGate, 'used' | 'held'>): { used: number; held: number } {
  const key = limit.unit === 'usd' ? 'valueMicros' : 'tokens';
  return { used: used[limit.window][key], held: held[key] };
}

/** The first of `limits` (days first) that what was used, plus what is held, plus the estimate would pass. */
function overLimit(limits: readonly Limit[], use: Pick<MemberGate, 'used' | 'held'>, estimate: Amounts): Limit | undefined {
  for (const window of ['day', 'month'] as const) {
    for (const limit of limits.filter((l) => l.window === window)) {
      const { used, held } = limitUse(limit, use);
      if (used + held + (limit.unit === 'usd' ? estimate.valueMicros : estimate.tokens) > limit.amount) return limit;
    }
  }
  return undefined;
}

const resetOf = (limit: Limit, state: Pick<GateState, 'day' | 'period'>): Date => (limit.window === 'day' ? state.day.end : state.period.end);

const windowCode = (limit: Limit): RefusalCode => (limit.window === 'day' ? 'daily_limit' : 'monthly_limit');

/** What the call weighs in a limit's unit. */
const weight = (limit: Limit, estimate: Amounts) => (limit.unit === 'usd' ? estimate.valueMicros : estimate.tokens);

/** The call alone is more than the whole limit. */
const aloneOver = (limit: Limit, estimate: Amounts) => weight(limit, estimate) > limit.amount;

/** A limit's refusal, until its window resets. */
function limitFailure(code: RefusalCode, limit: Limit, use: Pick<MemberGate, 'used' | 'held'>, state: GateState): GateFailure {
  // Not used up, but less left than this call could use: said so, since the next, smaller call may pass.
  const { used, held } = limitUse(limit, use);
  const left = limit.amount - used - held;
  return { code, resetsAt: resetOf(limit, state), limit, ...(left > 0 && { left }) };
}

/** What the catalog offers this account, for choosing a remedy. */
export interface Offers {
  packs: boolean;
  /** The terms of the plans on sale that cost more than the account's. */
  dearerPlans: readonly Pick<Plan, 'limits' | 'models'>[];
  /** Auto-recharge turned itself off, and why (a declined card…): the refusal says so. */
  rechargeOff?: { code: RechargeOffCode; message: string } | undefined;
}

/**
 * Why auto-recharge turned itself off: the card (declined, or its bank wants the customer), no
 * saved card, a pack no longer for sale to the account, or a recharge the processor never answered.
 */
export type RechargeOffCode = 'card_declined' | 'authentication_required' | 'no_payment_method' | 'pack_unavailable' | 'processor_unanswered';

/**
 * Would moving to `plan` get past this failure? Its models must include the call's, whatever
 * refused it (a larger cap on a plan that refuses the model lets nothing through), and a limit
 * that refused must be larger there (or absent): a dearer plan with the same daily cap is no
 * remedy, nor, for a call alone more than the limit, one whose cap the call is more than too.
 */
export function relieves(plan: Pick<Plan, 'limits' | 'models'>, failure: GateFailure, call: { model: string; provider?: string | undefined }): boolean {
  if (!modelAllowed(plan, call.model, call.provider)) return false;
  const refusing = failure.code === 'daily_limit' || failure.code === 'monthly_limit' ? failure.limit : undefined;
  if (!refusing) return true;
  // The least cap that lets it through: more than the one that refused, and for a call alone more than that one, the call.
  const least = failure.needs ?? refusing.amount + 1;
  return !plan.limits.some((l) => l.window === refusing.window && l.unit === refusing.unit && l.amount < least);
}

export function remedyFor(failure: GateFailure, state: GateState, offers: Offers, call: { model: string; provider?: string | undefined }): Remedy {
  const nextAllowance: Remedy | undefined =
    state.plan.priceCents - state.plan.surchargeCents > 0 || state.plan.includedMicrosOverride ? { kind: 'wait_until', at: state.period.end } : undefined;
  const buyPack: Remedy | undefined = offers.packs && state.plan.overage === 'credits' ? { kind: 'buy_pack' } : undefined;
  const upgrade: Remedy | undefined = offers.dearerPlans.some((plan) => relieves(plan, failure, call)) ? { kind: 'upgrade' } : undefined;
  switch (failure.code) {
    case 'model_not_allowed':
      return upgrade ?? { kind: 'contact_support' };
    case 'unknown_model':
      return { kind: 'contact_support' };
    case 'payment_past_due':
      return { kind: 'billing_portal' };
    // A call larger than the whole limit: no reset lets it through.
    case 'daily_limit':
      return failure.beyondLimit ? upgrade ?? { kind: 'contact_support' } : { kind: 'wait_until', at: failure.resetsAt! };
    case 'monthly_limit':
      return upgrade ?? (failure.beyondLimit ? { kind: 'contact_support' } : { kind: 'wait_until', at: failure.resetsAt! });
    case 'member_limit':
      // The team's cap, not the plan's: only whoever set it can raise it.
      return failure.beyondLimit ? { kind: 'ask_account_admin' } : { kind: 'wait_until', at: failure.resetsAt! };
    case 'debt':
      return rechargeRemedy(offers) ?? (offers.packs ? { kind: 'buy_pack' } : undefined) ?? nextAllowance ?? upgrade ?? { kind: 'contact_support' };
    case 'insufficient_balance':
      return rechargeRemedy(offers) ?? buyPack ?? upgrade ?? nextAllowance ?? { kind: 'contact_support' };
  }
}

/** A card to update, when auto-recharge stopped on it; with no saved card, buying a pack saves one. */
function rechargeRemedy(offers: Offers): Remedy | undefined {
  switch (offers.rechargeOff?.code) {
    case 'card_declined':
    case 'authentication_required':
      return { kind: 'update_payment_method' };
    case 'no_payment_method':
      return offers.packs ? { kind: 'buy_pack' } : undefined;
    default:
      return undefined;
  }
}

export function describeLimit(limit: Limit, noun = 'limit', display?: Display): string {
  const amount = limit.unit === 'usd' ? formatValue(limit.amount, display) : `${limit.amount.toLocaleString('en-US')} tokens`;
  return `${limit.window === 'day' ? 'daily' : 'monthly'} ${noun} of ${amount}`;
}

function describeRemedy(remedy: Remedy): string {
  switch (remedy.kind) {
    case 'buy_pack':
      return 'Buy a credit pack to continue.';
    case 'upgrade':
      return 'Upgrade the plan to continue.';
    case 'wait_until':
      return `More becomes available at ${when(remedy.at)}.`;
    case 'contact_support':
      return 'Contact support.';
    case 'ask_account_admin':
      return 'Ask whoever manages this account to raise the cap.';
    case 'billing_portal':
      return 'Pay it, or change the payment method, in the billing portal.';
    case 'update_payment_method':
      return 'Update the card, then turn auto-recharge on again, or buy a credit pack.';
  }
}

/** A moment as people read it, in UTC: "00:00 UTC on Mar 11, 2026". */
function when(at: Date): string {
  const day = at.toLocaleDateString('en-US', { month: 'short', day: 'numeric', year: 'numeric', timeZone: 'UTC' });
  return `${at.toISOString().slice(11, 16)} UTC on ${day}`;
}

/** The refusal, its amounts in the display unit the account's people see (dollars when left out). */
export function refusalFor(
  failure: GateFailure, state: GateState, offers: Offers, { model, provider }: { model: string; provider?: string | undefined }, display?: Display,
): Refusal {
  const remedy = remedyFor(failure, state, offers, { model, provider });
  const limit = (noun?: string) => describeLimit(failure.limit!, noun, display);
  const left = () => (failure.limit!.unit === 'usd' ? formatValue(failure.left!, display) : `${failure.left!.toLocaleString('en-US')} tokens`);
  const accountLimit = () =>
    failure.beyondLimit ? `This request could use more than this account's whole ${limit()}.`
    : failure.left ? `This request could use more than the ${left()} left of this account's ${limit()}.`
    : `This account has reached its ${limit()}.`;
  const reasons: Record<RefusalCode, string> = {
    model_not_allowed: `The ${state.plan.name} plan does not include the model "${model}".`,
    // The provider asked for, when one was: a model priced at another one is a provider to fix.
    unknown_model: `The model "${model}"${provider === undefined ? '' : ` at the provider "${provider}"`} has no price, so it cannot be billed.`,
    debt: `This account owes ${formatValue(state.debtMicros, display)} from earlier usage.`,
    payment_past_due: "The payment for this account's plan renewal failed.",
    daily_limit: failure.limit ? accountLimit() : 'Daily limit reached.',
    monthly_limit: failure.limit ? accountLimit() : 'Monthly limit reached.',
    // Said to the member, who knows who they are: the host app's id for them is no name.
    member_limit: failure.beyondLimit
      ? `This request could use more than the whole ${limit('cap')} this account set for this member.`
      : failure.left ? `This request could use more than the ${left()} left of the ${limit('cap')} this account set for this member.`
      : `This member has reached the ${failure.limit ? limit('cap') : 'cap'} this account set for them.`,
    insufficient_balance: `This account has ${formatValue(availableMicros(state), display)} of usage left, not enough for this request.`,
  };
  // Out of value because auto-recharge stopped: say why, before what to do.
  const off = offers.rechargeOff && (failure.code === 'insufficient_balance' || failure.code === 'debt') ? ` Auto-recharge is off: ${offers.rechargeOff.message}` : '';
  return refuse(failure.code, `${reasons[failure.code]}${off}`, describeRemedy(remedy), remedy, failure.resetsAt);
}
