/**
 * The gate's refusal inside AI code: the middleware throws it before the model is called, so
 * no token is spent. generateText rejects with it; streamText reports it as the stream's first
 * error (and to onError), which `refusalOf` finds before any byte of the answer is sent, so an
 * app can still answer 402 (tollgate/hono's `refusalBody`, gives the server's shape).
 */
import type { Refusal, RefusalCode, Remedy } from '../core/refusal.ts';

export class BillingRefusedError extends Error {
  override readonly name = 'BillingRefusedError';
  readonly code: RefusalCode;
  readonly remedy: Remedy;
  readonly resetsAt?: Date;

  constructor(readonly refusal: Refusal) {
    super(refusal.message);
    this.code = refusal.code;
    this.remedy = refusal.remedy;
    if (refusal.resetsAt) this.resetsAt = refusal.resetsAt;
  }
}

/** Parts a stream opens with before the first model call answers. */
const OPENING = new Set(['start', 'start-step']);

/**
 * Whether a streamText result's first model call was refused: waits for the stream's first
 * part past its opening and answers the refusal, or undefined once anything else comes. It
 * reads a copy of the stream (each `fullStream` is one), so the answer is still whole to send.
 */
export async function refusalOf(result: { fullStream: AsyncIterable<{ type: string; error?: unknown }> }): Promise<Refusal | undefined> {
  for await (const part of result.fullStream) {
    if (OPENING.has(part.type)) continue;
    return part.type === 'error' && part.error instanceof BillingRefusedError ? part.error.refusal : undefined;
  }
  return undefined;
}
