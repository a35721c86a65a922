/**
 * `tollgate/ai`: the gate inside AI SDK code. Over the library's facade, never inside it.
 *
 *   import { wrap } from 'tollgate/ai';
 *   streamText({ model: wrap(billing, openai('gpt-4o'), { accountId, userId }), messages });
 */
import type { LanguageModelV3 } from '@ai-sdk/provider';
import { wrapLanguageModel } from 'ai';
import { billingMiddleware, type Meter, type MiddlewareOptions } from './middleware.ts';

/** The model, wrapped with the billing middleware: every call authorized before it and settled after it. */
export function wrap(billing: Meter, model: LanguageModelV3, options: MiddlewareOptions): LanguageModelV3 {
  return wrapLanguageModel({ model, middleware: billingMiddleware(billing, options) });
}

export { billingMiddleware, type Meter, type MiddlewareOptions, type UnsettledCall } from './middleware.ts';
export { BillingRefusedError, refusalOf } from './refused.ts';
