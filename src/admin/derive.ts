/**
 * The figures the panel derives as the admin types: what a plan or pack's value costs in
 * provider spend at the margin, about how many tokens of a model that buys, and the margin
 * said as a sentence. Pure: the pages pass the settings and the model's price in.
 */
import { BPS_PER_UNIT, ceilDiv, costFromValue, PICOS_PER_MICRO, valueFromCost, type Micros } from '../core/money.ts';
import { decimalToYoctos, type PriceEntry, type Rate } from '../core/pricing/price.ts';
import { costOf } from '../core/pricing/cost.ts';
import { percent, RATE_STEP, rateSteps, usd } from './format.ts';

/** The call whose mix of tokens "about N tokens" assumes: 3,000 in, 1,000 out. */
export const SAMPLE_CALL = { inputTokens: 3_000, outputTokens: 1_000 } as const;
const SAMPLE_TOKENS = BigInt(SAMPLE_CALL.inputTokens + SAMPLE_CALL.outputTokens);

/** About how many tokens `costMicros` of provider cost buys of a model, in calls like SAMPLE_CALL; undefined when the model is free. */
export function tokensFor(costMicros: number, price: PriceEntry): number | undefined {
  const { costPicos } = costOf(price, SAMPLE_CALL);
  if (costPicos === 0n) return undefined;
  return Number((BigInt(costMicros) * PICOS_PER_MICRO * SAMPLE_TOKENS) / costPicos);
}

export interface Derived {
  valueMicros: Micros;
  /** The provider cost that value pays for at the margin. */
  costMicros: Micros;
  /** About how many tokens of the chosen model that cost buys; undefined without a price (or for a free model). */
  tokens?: number;
}

export function derive(valueMicros: Micros, marginBps: number, price?: PriceEntry): Derived {
  const costMicros = costFromValue(valueMicros, marginBps);
  return { valueMicros, costMicros, ...(price ? { tokens: tokensFor(costMicros, price) } : {}) };
}

/** "at 50% margin people pay $20.00 for $10.00 of provider cost". */
export function marginSentence(marginBps: number, costMicros = 10_000_000): string {
  const paid = valueFromCost(BigInt(costMicros) * PICOS_PER_MICRO, marginBps);
  return `at ${percent(marginBps)} margin people pay ${usd(paid)} for ${usd(costMicros)} of provider cost`;
}

/**
 * What a customer pays per million tokens for a provider's rate at the margin: the rate ÷
 * (1 − margin), rounded up as values are, to a ten-thousandth of a dollar ("≈" when that
 * rounded); a tiered rate by its base, with "+".
 */
export function rateAtMargin(rate: Rate, marginBps: number): string {
  const exact = decimalToYoctos(typeof rate === 'string' ? rate : rate.base) * BigInt(BPS_PER_UNIT);
  const kept = BigInt(BPS_PER_UNIT - marginBps);
  const steps = ceilDiv(exact, kept * RATE_STEP);
  return `${rateSteps(steps, steps * kept * RATE_STEP === exact)}${typeof rate === 'string' ? '' : '+'}`;
}
