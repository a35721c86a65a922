/**
 * The fake processor: a real implementation that charges nobody. Every checkout completes at
 * once with a generated reference, and the engine then writes the same rows a real payment
 * would, so the demo and the tests run with no vendor account. Only ever chosen on the server
 * (an account's processor is set by the API's key holder, never by a browser).
 */
import { randomUUID } from 'node:crypto';
import type { Processor } from '../../engine/processor.ts';

export function fakeProcessor(): Processor {
  return {
    name: 'fake',
    subscribe: async () => ({ status: 'completed', reference: `fake_sub_${randomUUID()}` }),
    purchase: async () => ({ status: 'completed', reference: `fake_pay_${randomUUID()}` }),
    cancel: async () => ({ status: 'completed', reference: `fake_cancel_${randomUUID()}` }),
  };
}
