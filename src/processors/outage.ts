/**
 * A call the processor failed to answer (down, unreachable, too busy: a 5xx, a connection refused
 * or cut, a 429) is the engine's processor_error, which says the request may be retried: nothing
 * was stored here (the engine's transaction rolls back), and a retry under the same idempotency
 * key asks the processor for the same thing again. Its refusals and declines stay as they are.
 */
import { BillingError } from '../core/errors.ts';

/** What kept the processor from answering, in a few words; undefined for any other error. */
export type Outage = (error: unknown) => string | undefined;

/** The call's answer, or processor_error if the processor failed to give one. */
export async function reached<T>(processor: string, outage: Outage, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    const why = outage(error);
    if (why === undefined) throw error;
    // `unanswered`: what it did is not known, as against a refusal, which is an answer.
    throw new BillingError('processor_error', `${processor} failed to answer (${why}): nothing was changed here; retry the request in a moment, with the same idempotency key`, { processor, unanswered: true });
  }
}
