/**
 * The gate inside AI code: AI SDK middleware (v3 spec) that meters every model call.
 *
 *   const model = wrap(billing, openai('gpt-4o'), { accountId, userId });   // tollgate/ai
 *   streamText({ model, messages });
 *
 * Before the provider is called, the call is authorized with a hold sized from the prompt (a
 * token estimate of its messages, tools and response format: estimate.ts) plus its
 * maxOutputTokens (and an Anthropic thinking budget, asked for on top of them), or when it sets
 * none, the `maxOutputTokens` given here, else the model's context window less the prompt (the
 * price data documents windows, not output limits), else the settings' minimum hold. A refusal throws `BillingRefusedError` before any token is spent.
 *
 * After it, the hold is settled from the provider's reported usage (usage.ts), under the model
 * id the provider answered with when it differs. A stream settles on its finish part, before
 * passing it on; a stream aborted through the call's abortSignal, or canceled by its reader,
 * settles at once, whether or not the provider's stream fails on it (the SDK reports no usage
 * then): the estimated input plus the output counted so far from the streamed deltas and tool
 * calls. A call aborted while the provider is answering, before any output, is charged its
 * estimated input; one that fails otherwise before any output releases its hold. Each model
 * call of a multi-step tool loop goes through here once: its own hold, its own charge. A charge
 * is keyed by the call's hold, or, given the request's own `idempotencyKey`, by that key and the
 * call's order among the request's charges (a call that failed and was retried takes none), so
 * a retried request is charged once; its calls' holds are then released.
 */
import type {
  LanguageModelV3, LanguageModelV3CallOptions, LanguageModelV3Content, LanguageModelV3Middleware, LanguageModelV3StreamPart, LanguageModelV3StreamResult,
} from '@ai-sdk/provider';
import { z } from 'zod';
import { BillingError } from '../core/errors.ts';
import { catalogProvider, findCatalogPrice } from '../core/pricing/genai-catalog.ts';
import { holdKey } from '../core/hold-id.ts';
import { accountIdSchema, idSchema, metadataSchema, modelSchema, parseInput, plain, tokenCount } from '../core/input.ts';
import type { TokenUsage } from '../core/usage.ts';
import type { AuthorizeInput, AuthorizeResult, Hold } from '../engine/gate/authorize.ts';
import type { Charge, SettleOptions } from '../engine/charge/charge.ts';
import { bytesToTokens, promptTokens, utf8Length } from './estimate.ts';
import { BillingRefusedError } from './refused.ts';
import { tokenUsageOf } from './usage.ts';

/** What the middleware needs of the facade: its gate. */
export interface Meter {
  authorize(accountId: string, input: AuthorizeInput): Promise<AuthorizeResult>;
  settle(holdId: string, usage: TokenUsage, options: SettleOptions): Promise<Charge>;
  release(holdId: string): Promise<unknown>;
}

/** A charge the middleware could not write: enough to write it later (settle takes the hold id for as long as the hold exists). */
export interface UnsettledCall {
  holdId: string;
  usage: TokenUsage | null;
  idempotencyKey: string;
}

const optionsSchema = plain(
  z
    .object({
      accountId: accountIdSchema,
      userId: idSchema.optional(),
      metadata: metadataSchema.optional(),
      /** Room is left for the call's order: `${key}:${n}` is a key too. */
      idempotencyKey: idSchema.max(180, 'must be at most 180 characters').optional(),
      maxOutputTokens: tokenCount.optional(),
      onSettleError: z.custom<(error: unknown, call: UnsettledCall) => void>((f) => typeof f === 'function', 'must be a function').optional(),
    })
    .strict(),
);

export type MiddlewareOptions = z.input<typeof optionsSchema>;

/** A model call on its way: its hold, what its prompt was estimated at, and the key its charge is written under, once it has one. */
interface MeteredCall {
  hold: Hold;
  inputTokens: number;
  idempotencyKey?: string;
}

/** What a call's answer says of itself, kept with its charge. */
interface Answer {
  model?: string;
  responseId?: string;
  finishReason?: string;
  /** Some of the counts are the estimate's: the provider reported none, or the stream was cut. */
  estimated?: boolean;
}

export function billingMiddleware(meter: Meter, input: MiddlewareOptions): LanguageModelV3Middleware {
  const options = parseInput(optionsSchema, input, 'middleware options');
  /**
   * Calls charged under the request's key, numbered as they are charged: a call that failed and
   * was retried (the SDK retries an overloaded provider) takes no number, so a retried request
   * numbers its charges alike.
   */
  let charged = 0;
  const chargeKey = (call: MeteredCall) =>
    (call.idempotencyKey ??= options.idempotencyKey === undefined ? holdChargeKey(call) : `${options.idempotencyKey}:${charged++}`);
  const holdChargeKey = (call: MeteredCall) => `ai:${holdKey(call.hold.id)}`;
  const report = options.onSettleError ?? ((error: unknown, call: UnsettledCall) => {
    console.error(`[tollgate] a model call's charge was not written (hold ${call.holdId}, key ${call.idempotencyKey}, usage ${JSON.stringify(call.usage)}):`, error);
  });

  async function open(params: LanguageModelV3CallOptions, model: LanguageModelV3): Promise<MeteredCall> {
    const inputTokens = promptTokens(params);
    const provider = catalogProvider(model.provider);
    const asked = params.maxOutputTokens ?? options.maxOutputTokens;
    const maxOutputTokens = asked === undefined ? outputRoom(model.modelId, provider, inputTokens) : asked + thinkingBudget(params, model);
    const result = await meter.authorize(options.accountId, {
      model: model.modelId, inputTokens,
      ...(provider === undefined ? {} : { provider }),
      ...(maxOutputTokens === undefined ? {} : { maxOutputTokens }),
      ...(options.userId === undefined ? {} : { userId: options.userId }),
    });
    if (!result.ok) throw new BillingRefusedError(result);
    return { hold: result.hold, inputTokens };
  }

  async function settle(call: MeteredCall, usage: TokenUsage, answer: Answer): Promise<void> {
    const answered = answer.model !== undefined && answer.model !== call.hold.model && modelSchema.safeParse(answer.model).success ? answer.model : undefined;
    const about = Object.fromEntries(Object.entries({ ...answer, model: undefined }).filter(([, v]) => v !== undefined));
    const idempotencyKey = chargeKey(call);
    try {
      await meter.settle(call.hold.id, usage, {
        idempotencyKey,
        metadata: { ...options.metadata, ...(Object.keys(about).length > 0 ? { aiCall: about } : {}) },
        ...(answered === undefined ? {} : { model: answered }),
      });
    } catch (error) {
      if (error instanceof BillingError && error.code === 'idempotency_conflict' && options.idempotencyKey !== undefined) {
        // The request was retried and this call of it charged already: its new hold goes.
        await release(call, usage);
        return;
      }
      report(error, { holdId: call.hold.id, usage, idempotencyKey });
    }
  }

  async function release(call: MeteredCall, usage: TokenUsage | null = null): Promise<void> {
    await meter.release(call.hold.id).catch((error: unknown) => report(error, { holdId: call.hold.id, usage, idempotencyKey: call.idempotencyKey ?? holdChargeKey(call) }));
  }

  /**
   * The provider's call failed before answering. Aborted after it was made, the provider has
   * the prompt and bills it, as for an aborted stream: the estimated input is charged. Any
   * other failure (or an abort before the call) frees the hold.
   */
  async function unanswered(call: MeteredCall, signal: AbortSignal | undefined, abortedBefore: boolean): Promise<void> {
    if (signal?.aborted !== true || abortedBefore) return release(call);
    return settle(call, { inputTokens: call.inputTokens, outputTokens: 0 }, { finishReason: 'aborted', estimated: true });
  }

  return {
    specificationVersion: 'v3',

    wrapGenerate: async ({ doGenerate, params, model }) => {
      const call = await open(params, model);
      const abortedBefore = params.abortSignal?.aborted === true;
      let result;
      try {
        result = await doGenerate();
      } catch (error) {
        await unanswered(call, params.abortSignal, abortedBefore);
        throw error;
      }
      const { usage, estimated } = tokenUsageOf(result.usage, { inputTokens: call.inputTokens, outputTokens: bytesToTokens(contentBytes(result.content)) });
      await settle(call, usage, {
        model: result.response?.modelId, responseId: result.response?.id, finishReason: result.finishReason.unified, ...(estimated && { estimated }),
      });
      return result;
    },

    wrapStream: async ({ doStream, params, model }) => {
      const call = await open(params, model);
      const abortedBefore = params.abortSignal?.aborted === true;
      let result: LanguageModelV3StreamResult;
      try {
        result = await doStream();
      } catch (error) {
        await unanswered(call, params.abortSignal, abortedBefore);
        throw error;
      }
      return { ...result, stream: metered(result.stream, call, params.abortSignal) };
    },
  };

  /**
   * The provider's stream, passed on part by part, counting the output it carries; its charge
   * is written once: on the finish part, or when it ends otherwise (cut, failed, canceled by its
   * reader, or aborted through the call's signal), whichever comes first. An abort ends the
   * call at once, whether or not the provider notices: what was streamed is charged, the
   * provider's stream is let go, and this one fails with the abort's reason, as a provider's
   * does; nothing the provider sends after it is passed on or charged.
   */
  function metered(source: ReadableStream<LanguageModelV3StreamPart>, call: MeteredCall, signal: AbortSignal | undefined) {
    const reader = source.getReader();
    const answer: Answer = {};
    let outputBytes = 0;
    let reasoningBytes = 0;
    /** Tool calls whose input came as deltas, counted already: one streamed whole is counted at its tool-call part. */
    const streamedInputs = new Set<string>();
    let failed = false;
    let canceled = false;
    /** Nothing more goes on: the stream closed, failed, was canceled or aborted. */
    let ended = false;
    let closed: Promise<void> | undefined;
    const close = (finish?: Extract<LanguageModelV3StreamPart, { type: 'finish' }>) => {
      closed ??= (async () => {
        signal?.removeEventListener('abort', abort);
        const counted = { inputTokens: call.inputTokens, outputTokens: bytesToTokens(outputBytes) };
        if (finish) {
          const { usage, estimated } = tokenUsageOf(finish.usage, counted);
          return settle(call, usage, { ...answer, finishReason: finish.finishReason.unified, ...(estimated && { estimated }) });
        }
        // Cut short: a failure before any output frees the hold; an abort, or a failure after
        // output, is charged the prompt and what was streamed (the provider bills both).
        const aborted = signal?.aborted === true || canceled;
        if (failed && outputBytes === 0 && !aborted) return release(call);
        const usage = { ...counted, ...(reasoningBytes > 0 ? { reasoningTokens: Math.min(bytesToTokens(reasoningBytes), counted.outputTokens) } : {}) };
        return settle(call, usage, { ...answer, finishReason: aborted ? 'aborted' : failed ? 'error' : 'incomplete', estimated: true });
      })();
      return closed;
    };
    const count = (part: LanguageModelV3StreamPart) => {
      switch (part.type) {
        case 'text-delta':
          outputBytes += utf8Length(part.delta);
          break;
        case 'tool-input-delta':
          outputBytes += utf8Length(part.delta);
          streamedInputs.add(part.id);
          break;
        case 'tool-call':
          if (!streamedInputs.has(part.toolCallId)) outputBytes += utf8Length(part.input);
          break;
        case 'reasoning-delta':
          outputBytes += utf8Length(part.delta);
          reasoningBytes += utf8Length(part.delta);
          break;
        case 'response-metadata':
          if (part.modelId !== undefined) answer.model = part.modelId;
          if (part.id !== undefined) answer.responseId = part.id;
          break;
        case 'error':
          failed = true;
          break;
      }
    };
    let output!: ReadableStreamDefaultController<LanguageModelV3StreamPart>;
    const end = (how: () => void) => {
      if (ended) return;
      ended = true;
      how();
    };
    function abort() {
      void close();
      end(() => output.error(signal!.reason));
      reader.cancel(signal!.reason).catch(() => {});
    }
    const stream = new ReadableStream<LanguageModelV3StreamPart>({
      start(controller) {
        output = controller;
      },
      async pull(controller) {
        let next: ReadableStreamReadResult<LanguageModelV3StreamPart>;
        try {
          next = await reader.read();
        } catch (error) {
          failed = true;
          await close();
          end(() => controller.error(error));
          return;
        }
        if (ended) return; // aborted while the provider was being read: what it sent is not the app's
        if (next.done) {
          await close();
          end(() => controller.close());
          return;
        }
        count(next.value);
        // The charge is written before the finish part goes on: whoever waits for it sees it.
        if (next.value.type === 'finish') await close(next.value);
        if (!ended) controller.enqueue(next.value);
      },
      async cancel(reason) {
        canceled = true;
        ended = true;
        await Promise.all([close(), reader.cancel(reason).catch(() => {})]);
      },
    });
    if (signal?.aborted) abort();
    else signal?.addEventListener('abort', abort, { once: true });
    return stream;
  }
}

/** The bytes of what a generated answer says: its text, its reasoning and its tool calls' input. */
function contentBytes(content: readonly LanguageModelV3Content[]): number {
  return content.reduce((sum, part) => {
    if (part.type === 'text' || part.type === 'reasoning') return sum + utf8Length(part.text);
    if (part.type === 'tool-call') return sum + utf8Length(part.input);
    return sum;
  }, 0);
}

/** Anthropic's default thinking budget, which its provider sends when thinking is enabled without one. */
const ANTHROPIC_THINKING_BUDGET = 1_024;

/**
 * Output a call may write beyond its maxOutputTokens: Anthropic's provider asks for the thinking
 * budget on top of them (`providerOptions.anthropic.thinking`, or under the provider's own name).
 */
function thinkingBudget(params: LanguageModelV3CallOptions, model: LanguageModelV3): number {
  if (!model.provider.includes('anthropic')) return 0;
  // The options under the provider's own name, when given, override Anthropic's.
  const named = params.providerOptions?.[model.provider.split('.')[0]!]?.thinking ?? params.providerOptions?.anthropic?.thinking;
  const thinking = named as { type?: unknown; budgetTokens?: unknown } | null | undefined;
  if (thinking?.type !== 'enabled') return 0;
  return typeof thinking.budgetTokens === 'number' ? thinking.budgetTokens : ANTHROPIC_THINKING_BUDGET;
}

/** Output tokens a call without its own maximum may still produce: the model's context window less its prompt, when the price data knows it. */
function outputRoom(model: string, provider: string | undefined, inputTokens: number): number | undefined {
  const window = findCatalogPrice(model, provider, new Date())?.contextWindow;
  return window === undefined ? undefined : Math.max(1, window - inputTokens);
}
