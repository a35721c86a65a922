/**
 * What one call costs at a price, exactly: rates are read as yocto-dollars per token (price.ts)
 * and the cost is rounded once, up to the pico-dollar, at the end.
 *
 * Semantics mirror genai-prices (dist/index.js: `ne` for the leaves, `de`/`_e` for tiers): input
 * tokens include cache reads and writes and output tokens include reasoning; a part is split out
 * of its total only when it has its own rate, otherwise it is charged at the total's rate.
 */
import { BillingError } from '../errors.ts';
import { bigintToMicros, ceilDiv, roundDiv, type Micros } from '../money.ts';
import type { TokenUsage } from '../usage.ts';
import { decimalToYoctos, type PriceEntry, type Rate } from './price.ts';

export interface Cost {
  /** Exact provider cost in pico-dollars (rounded up only for rates finer than 6 decimals). */
  readonly costPicos: bigint;
  /** The exact cost rounded half-up to the micro-dollar. */
  readonly costMicros: Micros;
}

const YOCTOS_PER_PICO = 10n ** 12n;
const YOCTOS_PER_MICRO = 10n ** 18n;
/** A request rate is $ per thousand requests: one request costs a thousand times what a token at that $/Mtok does. */
const YOCTOS_PER_REQUEST_RATE = 1000n;

export function costOf(entry: PriceEntry, usage: TokenUsage): Cost {
  const { rates } = entry;
  const input = tokens(usage.inputTokens, 'inputTokens');
  const output = tokens(usage.outputTokens, 'outputTokens');
  // Parts without a rate of their own stay in their total and are charged at its rate.
  const cacheRead = rates.cacheRead === undefined ? 0 : tokens(usage.cacheReadTokens ?? 0, 'cacheReadTokens');
  const cacheWrite = rates.cacheWrite === undefined ? 0 : tokens(usage.cacheWriteTokens ?? 0, 'cacheWriteTokens');
  const reasoning = rates.reasoning === undefined ? 0 : tokens(usage.reasoningTokens ?? 0, 'reasoningTokens');
  const uncachedInput = input - cacheRead - cacheWrite;
  const plainOutput = output - reasoning;
  if (uncachedInput < 0) throw new BillingError('invalid_input', 'cacheReadTokens + cacheWriteTokens must not exceed inputTokens');
  if (plainOutput < 0) throw new BillingError('invalid_input', 'reasoningTokens must not exceed outputTokens');

  let yoctos = BigInt(uncachedInput) * rateYoctos(rates.input, input) + BigInt(plainOutput) * rateYoctos(rates.output, input);
  if (rates.cacheRead !== undefined) yoctos += BigInt(cacheRead) * rateYoctos(rates.cacheRead, input);
  if (rates.cacheWrite !== undefined) yoctos += BigInt(cacheWrite) * rateYoctos(rates.cacheWrite, input);
  if (rates.reasoning !== undefined) yoctos += BigInt(reasoning) * rateYoctos(rates.reasoning, input);
  if (rates.requests !== undefined) yoctos += rateYoctos(rates.requests, input) * YOCTOS_PER_REQUEST_RATE;

  // Up to the pico: the value priced from it is then the exact cost's rounded up once, so no
  // call sells below its cost and none is free, however fine its rates.
  return { costPicos: ceilDiv(yoctos, YOCTOS_PER_PICO), costMicros: bigintToMicros(roundDiv(yoctos, YOCTOS_PER_MICRO)) };
}

/**
 * The most a call with `inputTokens` input tokens and at most `maxOutputTokens` output tokens can
 * cost, in pico-dollars rounded up: every input token at the dearest input-side rate, every
 * output token at the dearest output-side rate. Tiers are not assumed to rise: the dearest of
 * the tiers reachable with up to `inputTokens` input tokens is used, so this bounds costOf for
 * any usage with at most these many tokens of each direction.
 */
export function worstCaseCostOf(entry: PriceEntry, inputTokens: number, maxOutputTokens: number): bigint {
  const { rates } = entry;
  const input = tokens(inputTokens, 'inputTokens');
  const output = tokens(maxOutputTokens, 'maxOutputTokens');
  const dearest = (list: (Rate | undefined)[]) =>
    list.reduce<bigint>((max, rate) => (rate === undefined ? max : bigMax(max, maxRateYoctos(rate, input))), 0n);
  const inputRate = dearest([rates.input, rates.cacheRead, rates.cacheWrite]);
  const outputRate = dearest([rates.output, rates.reasoning]);
  const request = rates.requests === undefined ? 0n : maxRateYoctos(rates.requests, input) * YOCTOS_PER_REQUEST_RATE;
  return ceilDiv(BigInt(input) * inputRate + BigInt(output) * outputRate + request, YOCTOS_PER_PICO);
}

/** A rate in yocto-dollars per token, for a request with `inputTokens` total input tokens. */
export function rateYoctos(rate: Rate, inputTokens: number): bigint {
  if (typeof rate === 'string') return decimalToYoctos(rate);
  let price = rate.base;
  let chosenStart = -1;
  for (const tier of rate.tiers) {
    if (inputTokens > tier.start && tier.start > chosenStart) {
      price = tier.price;
      chosenStart = tier.start;
    }
  }
  return decimalToYoctos(price);
}

/** The dearest rate any request with up to `inputTokens` input tokens can be charged. */
function maxRateYoctos(rate: Rate, inputTokens: number): bigint {
  if (typeof rate === 'string') return decimalToYoctos(rate);
  let max = decimalToYoctos(rate.base);
  for (const tier of rate.tiers) if (inputTokens > tier.start) max = bigMax(max, decimalToYoctos(tier.price));
  return max;
}

function bigMax(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

function tokens(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new BillingError('invalid_input', `${field} must be a non-negative whole number of tokens, got ${String(value)}`);
  }
  return value;
}
