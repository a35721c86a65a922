/**
 * The gate inside AI code, with the AI SDK's own mock model: each model call is authorized
 * with a hold sized from its prompt before the provider is called, and settled from what the
 * provider reported (or, for a stream cut short, what was streamed); a refusal stops the call
 * before any token; a failure before any output releases the hold.
 */
import { createAnthropic } from '@ai-sdk/anthropic';
import { APICallError, type LanguageModelV3StreamPart, type LanguageModelV3Usage } from '@ai-sdk/provider';
import { generateText, stepCountIs, streamText, tool } from 'ai';
import { MockLanguageModelV3, simulateReadableStream } from 'ai/test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Billing } from '../src/index.ts';
import { BillingRefusedError, refusalOf, wrap } from '../src/ai/index.ts';
import { promptTokens } from '../src/ai/estimate.ts';
import { ENGINES, useBilling } from './support/harness.ts';

const usage = (input: number, output: number, parts: { cacheRead?: number; cacheWrite?: number; reasoning?: number } = {}): LanguageModelV3Usage => ({
  inputTokens: { total: input, noCache: input - (parts.cacheRead ?? 0) - (parts.cacheWrite ?? 0), cacheRead: parts.cacheRead, cacheWrite: parts.cacheWrite },
  outputTokens: { total: output, text: output - (parts.reasoning ?? 0), reasoning: parts.reasoning },
});
const stop = { unified: 'stop' as const, raw: 'stop' };
const answer = (text: string, used: LanguageModelV3Usage, modelId?: string) => ({
  content: [{ type: 'text' as const, text }], finishReason: stop, usage: used, warnings: [],
  response: { id: `resp-${text.length}`, ...(modelId ? { modelId } : {}) },
});

/** A provider's stream: its parts, or an error after `failAfter` of them, as a real provider's body fails when its request is aborted. */
function providerStream(parts: LanguageModelV3StreamPart[], options: { signal?: AbortSignal; delayMs?: number } = {}): ReadableStream<LanguageModelV3StreamPart> {
  let next = 0;
  return new ReadableStream({
    async pull(controller) {
      if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
      if (options.signal?.aborted) return controller.error(new DOMException('This operation was aborted', 'AbortError'));
      if (next < parts.length) controller.enqueue(parts[next++]!);
      else controller.close();
    },
  });
}

const textParts = (deltas: string[], used?: LanguageModelV3Usage, modelId?: string): LanguageModelV3StreamPart[] => [
  { type: 'stream-start', warnings: [] },
  { type: 'response-metadata', id: 'resp-stream', ...(modelId ? { modelId } : {}) },
  { type: 'text-start', id: 't' },
  ...deltas.map((delta): LanguageModelV3StreamPart => ({ type: 'text-delta', id: 't', delta })),
  { type: 'text-end', id: 't' },
  ...(used ? [{ type: 'finish', finishReason: stop, usage: used } as LanguageModelV3StreamPart] : []),
];

interface EventRow {
  model: string; input_tokens: number; output_tokens: number; cache_read_tokens: number | null; cache_write_tokens: number | null;
  reasoning_tokens: number | null; idempotency_key: string; user_id: string | null; metadata: Record<string, unknown>; price_model: string; value_micros: number;
}

for (const engine of ENGINES) {
  describe(`AI SDK middleware on ${engine.name}`, () => {
    const t = useBilling(engine);

    async function funded(billing: Billing = t.billing) {
      await billing.admin.applyPreset('credit-packs');
      await billing.upsertAccount({ id: 'team', kind: 'team', name: 'Acme' });
      await billing.credit('team', { source: 'bonus', amountMicros: 10_000_000, reference: 'seed' });
      return billing;
    }
    const events = () =>
      t.sql.query<EventRow>(
        `SELECT model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, idempotency_key, user_id, metadata,
           price->>'model' AS price_model, value_micros FROM usage_events ORDER BY id`,
      );
    // In the order they were charged (a hold's key orders them only by the millisecond), released ones last.
    const holds = () =>
      t.sql.query<{ status: string; tokens: number; model: string; user_id: string | null }>('SELECT status, tokens, model, user_id FROM holds ORDER BY usage_event_id NULLS LAST, id');

    it('generate: holds the prompt estimate plus maxOutputTokens, then settles the reported usage under the model that answered', async () => {
      const billing = await funded();
      // The provider answers with a dated version whose price is not the alias's ($5/$15 a million, not $2.50/$10).
      const mock = new MockLanguageModelV3({ provider: 'openai.chat', modelId: 'gpt-4o', doGenerate: answer('Paris.', usage(120, 30), 'gpt-4o-2024-05-13') });
      const model = wrap(billing, mock, { accountId: 'team', userId: 'u_7', metadata: { chat: 'c_1' } });
      const result = await generateText({ model, system: 'Be brief.', prompt: 'The capital of France?', maxOutputTokens: 200 });
      expect(result.text).toBe('Paris.');

      const [hold] = await holds();
      expect(hold).toEqual({ status: 'settled', tokens: promptTokens(mock.doGenerateCalls[0]!) + 200, model: 'gpt-4o', user_id: 'u_7' });
      const [event] = await events();
      expect(event).toMatchObject({
        model: 'gpt-4o-2024-05-13', price_model: 'gpt-4o-2024-05-13', input_tokens: 120, output_tokens: 30, cache_read_tokens: null, reasoning_tokens: null,
        user_id: 'u_7', metadata: { chat: 'c_1', aiCall: { responseId: 'resp-6', finishReason: 'stop' } },
      });
      expect(event!.idempotency_key).toMatch(/^ai:hold_/);
      expect(event!.value_micros).toBe(2 * (120 * 5 + 30 * 15)); // at the 50% margin
      expect((await billing.balance('team')).heldMicros).toBe(0);
    });

    it('stream: settles on the finish part, cache and reasoning mapped exactly, before the finish reaches the app', async () => {
      const billing = await funded();
      const used = usage(1_000, 300, { cacheRead: 700, cacheWrite: 100, reasoning: 200 });
      const mock = new MockLanguageModelV3({
        provider: 'anthropic.messages', modelId: 'claude-sonnet-4-0',
        doStream: { stream: simulateReadableStream({ chunks: textParts(['Bonjour', ' le ', 'monde'], used) }) },
      });
      let heldAtFinish: number | undefined;
      const result = streamText({
        model: wrap(billing, mock, { accountId: 'team' }), prompt: 'Say hello in French', maxOutputTokens: 500,
        onFinish: async () => {
          heldAtFinish = (await billing.balance('team')).heldMicros;
        },
      });
      expect(await result.text).toBe('Bonjour le monde');
      await result.consumeStream();
      expect(heldAtFinish).toBe(0);
      const [event] = await events();
      expect(event).toMatchObject({
        model: 'claude-sonnet-4-0', input_tokens: 1_000, output_tokens: 300, cache_read_tokens: 700, cache_write_tokens: 100, reasoning_tokens: 200,
      });
      // Priced by part: the same usage recorded directly costs the same.
      const direct = await billing.record('team', { model: 'claude-sonnet-4-0', provider: 'anthropic', usage: { inputTokens: 1_000, outputTokens: 300, cacheReadTokens: 700, cacheWriteTokens: 100, reasoningTokens: 200 } }, { idempotencyKey: 'direct' });
      expect(event!.value_micros).toBe(direct.valueMicros);
    });

    it('an aborted stream settles the estimated input and the output streamed so far', async () => {
      const billing = await funded();
      const controller = new AbortController();
      const deltas = ['Once upon a time, ', 'there was a gate ', 'that said no, ', 'politely, ', 'with a remedy.'];
      const mock = new MockLanguageModelV3({
        provider: 'openai.chat', modelId: 'gpt-4o-mini',
        doStream: async (params) => ({ stream: providerStream(textParts(deltas, usage(50, 25)), { signal: params.abortSignal, delayMs: 5 }) }),
      });
      const result = streamText({ model: wrap(billing, mock, { accountId: 'team' }), prompt: 'Tell a story', maxOutputTokens: 100, abortSignal: controller.signal });
      let seen = '';
      for await (const text of result.textStream) {
        seen += text;
        if (seen.length >= 'Once upon a time, there was a gate '.length) controller.abort();
      }
      await result.consumeStream({ onError: () => {} });
      await waitFor(async () => (await holds())[0]?.status === 'settled');
      const [event] = await events();
      const streamed = deltas.slice(0, 2).join('');
      expect(event).toMatchObject({ input_tokens: promptTokens(mock.doStreamCalls[0]!), metadata: { aiCall: { finishReason: 'aborted', estimated: true } } });
      // What was counted is what reached the middleware: at least what the app saw, at most one delta more.
      expect(event!.output_tokens).toBeGreaterThanOrEqual(Math.ceil(Buffer.byteLength(streamed) / 2));
      expect(event!.output_tokens).toBeLessThanOrEqual(Math.ceil(Buffer.byteLength(deltas.slice(0, 3).join('')) / 2));
    });

    it('a provider error before the first token releases the hold, in generate and in stream', async () => {
      const billing = await funded();
      const failure = () => new APICallError({ message: 'overloaded', url: 'https://api.example/v1', requestBodyValues: {}, statusCode: 529, isRetryable: false });
      const failing = new MockLanguageModelV3({
        provider: 'anthropic.messages', modelId: 'claude-sonnet-4-0',
        doGenerate: async () => { throw failure(); },
        doStream: async () => { throw failure(); },
      });
      const model = wrap(billing, failing, { accountId: 'team' });
      await expect(generateText({ model, prompt: 'hi', maxOutputTokens: 10 })).rejects.toThrow('overloaded');
      const errors: unknown[] = [];
      await streamText({ model, prompt: 'hi', maxOutputTokens: 10, onError: ({ error }) => void errors.push(error) }).consumeStream();
      // A stream that fails in its first part, before any output.
      const erroring = new MockLanguageModelV3({
        provider: 'anthropic.messages', modelId: 'claude-sonnet-4-0',
        doStream: { stream: simulateReadableStream({ chunks: [{ type: 'stream-start', warnings: [] }, { type: 'error', error: failure() }] as LanguageModelV3StreamPart[] }) },
      });
      await streamText({ model: wrap(billing, erroring, { accountId: 'team' }), prompt: 'hi', maxOutputTokens: 10, onError: ({ error }) => void errors.push(error) }).consumeStream();
      expect(errors).toHaveLength(2);
      await waitFor(async () => (await holds()).every((h) => h.status === 'released'));
      expect((await holds()).map((h) => h.status)).toEqual(['released', 'released', 'released']);
      expect(await events()).toEqual([]);
      expect((await billing.balance('team')).heldMicros).toBe(0);
    });

    it('a three-step tool loop: each model call its own hold and charge, metered once', async () => {
      const billing = await funded();
      const toolCall = (id: string, city: string) => ({
        content: [{ type: 'tool-call' as const, toolCallId: id, toolName: 'weather', input: JSON.stringify({ city }) }],
        finishReason: { unified: 'tool-calls' as const, raw: 'tool_use' }, usage: usage(200, 20), warnings: [],
      });
      const mock = new MockLanguageModelV3({
        provider: 'openai.chat', modelId: 'gpt-4o-mini',
        doGenerate: [toolCall('c1', 'Paris'), toolCall('c2', 'Lyon'), answer('Both sunny.', usage(400, 10))],
      });
      const result = await generateText({
        model: wrap(billing, mock, { accountId: 'team', userId: 'u_1' }), prompt: 'Weather in Paris and Lyon?', maxOutputTokens: 100, stopWhen: stepCountIs(3),
        tools: { weather: tool({ description: 'The weather in a city', inputSchema: z.object({ city: z.string() }), execute: async ({ city }) => `${city}: sunny` }) },
      });
      expect(result.text).toBe('Both sunny.');
      expect(mock.doGenerateCalls).toHaveLength(3);
      const charged = await events();
      expect(charged.map((e) => [e.input_tokens, e.output_tokens])).toEqual([[200, 20], [200, 20], [400, 10]]);
      expect(new Set(charged.map((e) => e.idempotency_key)).size).toBe(3);
      // Each step's hold was sized from its own prompt, which grew by the tool results.
      const sizes = (await holds()).map((h) => h.tokens);
      expect(sizes).toEqual(mock.doGenerateCalls.map((call) => promptTokens(call) + 100));
      expect(sizes[2]!).toBeGreaterThan(sizes[0]!);
    });

    it('a stream without reported usage is charged the tool calls it streamed, whole or in deltas, once each', async () => {
      const billing = await funded();
      const unreported: LanguageModelV3Usage = {
        inputTokens: { total: undefined, noCache: undefined, cacheRead: undefined, cacheWrite: undefined },
        outputTokens: { total: undefined, text: undefined, reasoning: undefined },
      };
      const input = JSON.stringify({ query: 'tolls '.repeat(300) });
      const mock = new MockLanguageModelV3({
        provider: 'openai.chat', modelId: 'gpt-4o-mini',
        doStream: { stream: simulateReadableStream({ chunks: [
          { type: 'stream-start', warnings: [] },
          // One call's input in deltas, then the call; another's whole, in its call alone.
          { type: 'tool-input-start', id: 'c1', toolName: 'search' },
          { type: 'tool-input-delta', id: 'c1', delta: input },
          { type: 'tool-input-end', id: 'c1' },
          { type: 'tool-call', toolCallId: 'c1', toolName: 'search', input },
          { type: 'tool-call', toolCallId: 'c2', toolName: 'search', input },
          { type: 'finish', finishReason: { unified: 'tool-calls', raw: 'tool_use' }, usage: unreported },
        ] as LanguageModelV3StreamPart[] }) },
      });
      await streamText({ model: wrap(billing, mock, { accountId: 'team' }), prompt: 'Search twice', maxOutputTokens: 2_000 }).consumeStream();
      const [event] = await events();
      expect(event).toMatchObject({ output_tokens: 2 * Math.ceil(Buffer.byteLength(input) / 2), metadata: { aiCall: { estimated: true } } });
    });

    it("holds an Anthropic call's thinking budget, which its provider asks for on top of maxOutputTokens", async () => {
      const billing = await funded();
      // The real provider, answering from here: what it asks Anthropic for is what the hold must cover.
      const asked: number[] = [];
      const anthropic = createAnthropic({
        apiKey: 'test',
        fetch: async (_url, init) => {
          asked.push(JSON.parse(String(init!.body)).max_tokens);
          return Response.json({
            id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-sonnet-4-0', content: [{ type: 'text', text: 'ok' }],
            stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 10, output_tokens: 5 },
          });
        },
      });
      const model = wrap(billing, anthropic('claude-sonnet-4-0'), { accountId: 'team' });
      const thinking = (budgetTokens?: number) => ({ anthropic: { thinking: { type: 'enabled' as const, ...(budgetTokens === undefined ? {} : { budgetTokens }) } } });
      await generateText({ model, prompt: 'Think', maxOutputTokens: 1_000, providerOptions: thinking(4_000) });
      await generateText({ model, prompt: 'Think', maxOutputTokens: 1_000, providerOptions: thinking() }); // the provider's default budget
      await generateText({ model, prompt: 'Think', maxOutputTokens: 1_000 });
      const held = await t.sql.query<{ tokens: number }>('SELECT tokens FROM holds');
      const prompt = promptTokens({ prompt: [{ role: 'user', content: [{ type: 'text', text: 'Think' }] }] });
      expect(asked).toEqual([5_000, 2_024, 1_000]);
      expect(held.map((h) => h.tokens - prompt).sort((a, b) => a - b)).toEqual([1_000, 2_024, 5_000]);
    });

    it('a request retried with its own idempotency key is charged once', async () => {
      const billing = await funded();
      const mock = new MockLanguageModelV3({ provider: 'openai.chat', modelId: 'gpt-4o-mini', doGenerate: answer('Hello!', usage(10, 5)) });
      for (let attempt = 0; attempt < 2; attempt++) {
        const model = wrap(billing, mock, { accountId: 'team', idempotencyKey: 'msg_42' });
        expect((await generateText({ model, prompt: 'hi', maxOutputTokens: 50 })).text).toBe('Hello!');
      }
      expect((await events()).map((e) => e.idempotency_key)).toEqual(['msg_42:0']);
      expect((await holds()).map((h) => h.status)).toEqual(['settled', 'released']);
    });

    it('a request whose call the SDK retried, itself retried, is charged once: a failed call takes no number', async () => {
      const billing = await funded();
      let calls = 0;
      const mock = new MockLanguageModelV3({
        provider: 'anthropic.messages', modelId: 'claude-sonnet-4-0',
        doGenerate: async () => {
          // Overloaded once, on the request's first attempt: the SDK retries the call.
          if (calls++ === 0) throw new APICallError({ message: 'overloaded', url: 'https://api.example/v1', requestBodyValues: {}, statusCode: 529, isRetryable: true });
          return answer('Hello!', usage(10, 5));
        },
      });
      for (let attempt = 0; attempt < 2; attempt++) {
        const model = wrap(billing, mock, { accountId: 'team', idempotencyKey: 'msg_43' });
        expect((await generateText({ model, prompt: 'hi', maxOutputTokens: 50 })).text).toBe('Hello!');
      }
      expect(mock.doGenerateCalls).toHaveLength(3);
      expect((await events()).map((e) => e.idempotency_key)).toEqual(['msg_43:0']);
      expect((await holds()).map((h) => h.status)).toEqual(['settled', 'released', 'released']);
    });

    it('a refusal throws BillingRefusedError before the provider is called; streamText tells it before any output', async () => {
      const billing = await funded();
      await billing.upsertAccount({ id: 'broke', kind: 'personal' });
      const mock = new MockLanguageModelV3({
        provider: 'openai.chat', modelId: 'gpt-4o', doGenerate: answer('never', usage(1, 1)),
        doStream: async () => ({ stream: simulateReadableStream({ chunks: textParts(['fine'], usage(1, 1)) }) }),
      });
      const model = wrap(billing, mock, { accountId: 'broke' });
      const error = await generateText({ model, prompt: 'hi', maxOutputTokens: 100_000 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BillingRefusedError);
      expect(error).toMatchObject({ code: 'insufficient_balance', remedy: { kind: 'buy_pack' }, refusal: { ok: false, code: 'insufficient_balance' } });

      const result = streamText({ model, prompt: 'hi', maxOutputTokens: 100_000, onError: () => {} });
      expect(await refusalOf(result)).toMatchObject({ code: 'insufficient_balance' });
      expect([mock.doGenerateCalls.length, mock.doStreamCalls.length]).toEqual([0, 0]);
      expect(await holds()).toEqual([]);

      const fine = streamText({ model: wrap(billing, mock, { accountId: 'team' }), prompt: 'hi', maxOutputTokens: 10 });
      expect(await refusalOf(fine)).toBeUndefined();
      expect(await fine.text).toBe('fine'); // refusalOf read a copy: the answer is whole
      expect(mock.doStreamCalls).toHaveLength(1);
    });

    it('without maxOutputTokens the hold reserves the context window left; a settle naming an unpriced model charges the one authorized', async () => {
      const billing = await funded();
      const mock = new MockLanguageModelV3({ provider: 'openai.chat', modelId: 'gpt-4o-mini', doGenerate: answer('ok', usage(10, 2), 'gpt-4o-mini-custom-build') });
      await generateText({ model: wrap(billing, mock, { accountId: 'team' }), prompt: 'hi' });
      expect((await holds())[0]!.tokens).toBe(128_000);
      expect((await events())[0]).toMatchObject({ model: 'gpt-4o-mini', price_model: 'gpt-4o-mini' });
      // An app default replaces the window.
      await generateText({ model: wrap(billing, mock, { accountId: 'team', maxOutputTokens: 300 }), prompt: 'hi' });
      expect((await holds())[1]!.tokens).toBe(promptTokens(mock.doGenerateCalls[1]!) + 300);
    });
  });
}

async function waitFor(done: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
