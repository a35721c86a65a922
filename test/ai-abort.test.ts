/**
 * A stream the app stops reading, with the real AI SDK: the consumer aborts through
 * streamText's abortSignal, a reader cancels the model's stream, or a chat server's client
 * goes away, while the provider's stream never fails (it stops producing, or goes on slowly,
 * deaf to the abort). The hold is settled at once with the estimated input and the output
 * streamed so far, exactly once, and the account's ledger reconciles; the provider's stream is
 * let go, and nothing it sends after the end is passed on or charged. (A reader of streamText's
 * own result streams reads a copy: the SDK tees them and keeps one, so canceling it reaches
 * neither the middleware nor the provider. A server passes the request's signal as abortSignal.)
 */
import type { LanguageModelV3StreamPart, LanguageModelV3Usage } from '@ai-sdk/provider';
import { generateText, streamText, wrapLanguageModel } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { Billing } from '../src/index.ts';
import { promptTokens } from '../src/ai/estimate.ts';
import { billingMiddleware, wrap, type Meter } from '../src/ai/index.ts';
import { ENGINES, useBilling } from './support/harness.ts';

const used: LanguageModelV3Usage = {
  inputTokens: { total: 50, noCache: 50, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 25, text: 25, reasoning: undefined },
};
const DELTAS = ['Once upon a time, ', 'there was a gate ', 'that said no, ', 'politely, ', 'with a remedy.'];

/**
 * A provider's stream that never fails: its opening parts, then one delta per `delayMs`, and
 * then, with `hang`, nothing ever again (no finish, no error, no end); with `finishWhen`, its
 * finish once that promise resolves. It ignores any abort.
 * `pulled` counts the deltas it handed out; `canceled` says whether its reader let it go.
 */
function deafStream(options: { deltas: string[]; delayMs: number; hang?: boolean; finishWhen?: Promise<unknown>; laterDeltas?: { after: number; when: Promise<unknown> } }) {
  const parts: LanguageModelV3StreamPart[] = [
    { type: 'stream-start', warnings: [] },
    { type: 'response-metadata', id: 'resp-deaf' },
    { type: 'text-start', id: 't' },
    ...options.deltas.map((delta): LanguageModelV3StreamPart => ({ type: 'text-delta', id: 't', delta })),
    ...(options.hang ? [] : [{ type: 'text-end', id: 't' } as const, { type: 'finish', finishReason: { unified: 'stop', raw: 'stop' }, usage: used } as const]),
  ];
  const probe = { pulled: 0, canceled: false };
  let next = 0;
  const stream = new ReadableStream<LanguageModelV3StreamPart>({
    async pull(controller) {
      if (next >= parts.length) {
        if (options.hang) return new Promise<void>(() => {}); // stops producing, and never says so
        controller.close();
        return;
      }
      const part = parts[next++]!;
      if (part.type === 'text-end') await options.finishWhen;
      if (part.type === 'text-delta') {
        // The deltas past `after` wait for `when`: what the provider says once the test lets it.
        if (options.laterDeltas && probe.pulled >= options.laterDeltas.after) await options.laterDeltas.when;
        await new Promise((resolve) => setTimeout(resolve, options.delayMs));
        probe.pulled += 1;
      }
      controller.enqueue(part);
    },
    cancel() {
      probe.canceled = true;
    },
  });
  return { stream, probe };
}

/** Output tokens of `text` as the middleware counts streamed deltas: two UTF-8 bytes a token, rounded up. */
const tokensOf = (text: string) => Math.ceil(Buffer.byteLength(text) / 2);

for (const engine of ENGINES) {
  describe(`a stream the app stops reading, on ${engine.name}`, () => {
    const t = useBilling(engine);

    async function funded(): Promise<Billing> {
      const billing = t.billing;
      await billing.admin.applyPreset('credit-packs');
      await billing.upsertAccount({ id: 'team', kind: 'team', name: 'Acme' });
      await billing.credit('team', { source: 'bonus', amountMicros: 10_000_000, reference: 'seed' });
      return billing;
    }
    const events = () =>
      t.sql.query<{ input_tokens: number; output_tokens: number; metadata: Record<string, any>; value_micros: number }>(
        'SELECT input_tokens, output_tokens, metadata, value_micros FROM usage_events ORDER BY id',
      );
    const holds = () => t.sql.query<{ status: string }>('SELECT status FROM holds');

    /** The hold settled, once, with the estimated input and `streamed` as output; nothing held; the ledger reconciles. */
    async function expectSettled(billing: Billing, mock: MockLanguageModelV3, streamed: { atLeast: string; atMost: string }, finishReason: string) {
      const [event, ...more] = await events();
      expect(more).toEqual([]);
      expect(event).toMatchObject({ input_tokens: promptTokens(mock.doStreamCalls[0]!), metadata: { aiCall: { finishReason, estimated: true } } });
      expect(event!.output_tokens).toBeGreaterThanOrEqual(tokensOf(streamed.atLeast));
      expect(event!.output_tokens).toBeLessThanOrEqual(tokensOf(streamed.atMost));
      expect((await holds()).map((h) => h.status)).toEqual(['settled']);
      expect(await billing.balance('team')).toMatchObject({ heldMicros: 0, debtMicros: 0 });
      expect((await billing.reconcile('team')).problems).toEqual([]);
    }

    it('an abort through abortSignal settles at once, though the provider stops producing and never fails', async () => {
      const billing = await funded();
      const deaf = deafStream({ deltas: DELTAS.slice(0, 2), delayMs: 1, hang: true });
      const mock = new MockLanguageModelV3({ provider: 'openai.chat', modelId: 'gpt-4o-mini', doStream: async () => ({ stream: deaf.stream }) });
      const controller = new AbortController();
      const result = streamText({ model: wrap(billing, mock, { accountId: 'team' }), prompt: 'Tell a story', maxOutputTokens: 100, abortSignal: controller.signal, onError: () => {} });
      const reader = result.textStream.getReader();
      let seen = '';
      while (seen !== DELTAS.slice(0, 2).join('')) seen += (await reader.read()).value ?? '';
      // The provider has nothing more to say and never will; the user goes away.
      controller.abort();
      await waitFor(async () => (await holds())[0]?.status === 'settled', 2_000);
      await expectSettled(billing, mock, { atLeast: seen, atMost: seen }, 'aborted');
      // The provider's stream is let go, and the app's reader ends rather than hanging.
      expect(deaf.probe.canceled).toBe(true);
      await expect(Promise.race([reader.read().then(() => 'ended', () => 'ended'), sleep(2_000).then(() => 'hung')])).resolves.toBe('ended');
    });

    it('an abort through abortSignal settles at once, though the provider goes on slowly; what it sends after is neither passed on nor charged', async () => {
      const billing = await funded();
      let goOn!: () => void;
      const deaf = deafStream({ deltas: DELTAS, delayMs: 150, laterDeltas: { after: 2, when: new Promise<void>((resolve) => (goOn = resolve)) } });
      const mock = new MockLanguageModelV3({ provider: 'openai.chat', modelId: 'gpt-4o-mini', doStream: async () => ({ stream: deaf.stream }) });
      const controller = new AbortController();
      const result = streamText({ model: wrap(billing, mock, { accountId: 'team' }), prompt: 'Tell a story', maxOutputTokens: 100, abortSignal: controller.signal, onError: () => {} });
      let seen = '';
      const reading = (async () => {
        for await (const text of result.textStream) {
          seen += text;
          if (seen === DELTAS.slice(0, 2).join('')) controller.abort();
        }
      })();
      await waitFor(async () => controller.signal.aborted);
      // Settled while the provider's next delta waits on the test: the settle did not wait for the provider.
      await waitFor(async () => (await holds())[0]?.status === 'settled', 2_000);
      expect(deaf.probe.pulled).toBe(2);
      // Then the provider goes on slowly.
      goOn();
      await reading;
      expect(seen).toBe(DELTAS.slice(0, 2).join(''));
      // The provider keeps nothing going that would be charged again or passed on.
      await sleep(400);
      await expectSettled(billing, mock, { atLeast: seen, atMost: DELTAS.slice(0, 3).join('') }, 'aborted');
      expect(deaf.probe.canceled).toBe(true);
      expect(deaf.probe.pulled).toBeLessThanOrEqual(3);
    });

    it("a reader that cancels the model's stream settles what was streamed at once, though the provider never ends", async () => {
      const billing = await funded();
      const deaf = deafStream({ deltas: DELTAS.slice(0, 3), delayMs: 1, hang: true });
      const mock = new MockLanguageModelV3({ provider: 'openai.chat', modelId: 'gpt-4o-mini', doStream: async () => ({ stream: deaf.stream }) });
      // Read as a framework other than streamText reads a model: the wrapped model's own stream.
      const { stream } = await wrap(billing, mock, { accountId: 'team' }).doStream({
        prompt: [{ role: 'user', content: [{ type: 'text', text: 'Tell a story' }] }], maxOutputTokens: 100,
      });
      const reader = stream.getReader();
      let seen = '';
      while (seen !== DELTAS.slice(0, 3).join('')) {
        const { value } = await reader.read();
        if (value?.type === 'text-delta') seen += value.delta;
      }
      await reader.cancel(new Error('the reader has seen enough'));
      // The cancel is answered once the charge is written.
      await expectSettled(billing, mock, { atLeast: seen, atMost: seen }, 'aborted');
      expect(deaf.probe.canceled).toBe(true);
    });

    it("a chat server whose client goes away mid-answer: the request's signal, as abortSignal, settles what was streamed at once", async () => {
      const billing = await funded();
      const deaf = deafStream({ deltas: DELTAS.slice(0, 2), delayMs: 1, hang: true });
      const mock = new MockLanguageModelV3({ provider: 'openai.chat', modelId: 'gpt-4o-mini', doStream: async () => ({ stream: deaf.stream }) });
      const app = new Hono().post('/chat', (c) =>
        streamText({ model: wrap(billing, mock, { accountId: 'team' }), prompt: 'Tell a story', maxOutputTokens: 100, abortSignal: c.req.raw.signal, onError: () => {} })
          .toTextStreamResponse());
      const server = await new Promise<ServerType>((resolve) => {
        const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
      });
      try {
        const { port } = server.address() as AddressInfo;
        let seen = '';
        await new Promise<void>((resolve, reject) => {
          const request = httpRequest({ host: '127.0.0.1', port, path: '/chat', method: 'POST' }, (response) => {
            response.setEncoding('utf8');
            response.on('data', (text: string) => {
              seen += text;
              // The user closes the tab: the connection goes, mid-answer.
              if (seen === DELTAS.slice(0, 2).join('')) request.destroy();
            });
            response.on('close', () => resolve());
          });
          request.on('error', (error) => (request.destroyed ? resolve() : reject(error)));
          request.end();
        });
        await waitFor(async () => (await holds())[0]?.status === 'settled', 2_000);
        await expectSettled(billing, mock, { atLeast: seen, atMost: seen }, 'aborted');
        expect(deaf.probe.canceled).toBe(true);
      } finally {
        server.close();
      }
    });

    it('an abort, a cancel and a finish after them, all at once, still settle once', async () => {
      const billing = await funded();
      let finish!: () => void;
      const deaf = deafStream({ deltas: DELTAS.slice(0, 2), delayMs: 1, finishWhen: new Promise<void>((resolve) => (finish = resolve)) });
      const mock = new MockLanguageModelV3({ provider: 'openai.chat', modelId: 'gpt-4o-mini', doStream: async () => ({ stream: deaf.stream }) });
      const controller = new AbortController();
      // The middleware over a meter that counts the settles it is asked for.
      const settles: string[] = [];
      const meter: Meter = {
        authorize: (...args) => billing.authorize(...args),
        settle: (...args) => (settles.push(args[0]), billing.settle(...args)),
        release: (...args) => billing.release(...args),
      };
      const wrapped = wrapLanguageModel({ model: mock, middleware: billingMiddleware(meter, { accountId: 'team' }) });
      const result = streamText({ model: wrapped, prompt: 'Tell a story', maxOutputTokens: 100, abortSignal: controller.signal, onError: () => {} });
      const reader = result.textStream.getReader();
      let seen = '';
      while (seen !== DELTAS.slice(0, 2).join('')) seen += (await reader.read()).value ?? '';
      controller.abort();
      finish();
      await reader.cancel();
      await waitFor(async () => (await holds())[0]?.status === 'settled', 2_000);
      await sleep(100);
      expect(settles).toHaveLength(1);
      await expectSettled(billing, mock, { atLeast: seen, atMost: seen }, 'aborted');
    });

    it('an abort while the provider is still answering charges the estimated input, in generate and in stream; an abort before the call frees the hold', async () => {
      const billing = await funded();
      // A provider that has the prompt and has not answered yet: its request fails on the abort.
      const answering = (options: { abortSignal?: AbortSignal }) =>
        new Promise<never>((_, reject) => {
          if (options.abortSignal?.aborted) reject(options.abortSignal.reason);
          options.abortSignal?.addEventListener('abort', () => reject(options.abortSignal!.reason));
        });
      // The user goes away while the provider works.
      let user = new AbortController();
      const leaves = (options: { abortSignal?: AbortSignal }) => (setTimeout(() => user.abort(), 10), answering(options));
      const mock = new MockLanguageModelV3({ provider: 'openai.chat', modelId: 'gpt-4o-mini', doGenerate: leaves, doStream: leaves });
      const model = wrap(billing, mock, { accountId: 'team' });
      const prompt = 'A long document to summarize. '.repeat(200);

      await expect(generateText({ model, prompt, maxOutputTokens: 100, abortSignal: user.signal })).rejects.toThrow();
      user = new AbortController();
      await streamText({ model, prompt, maxOutputTokens: 100, abortSignal: user.signal, onError: () => {} }).consumeStream({ onError: () => {} });
      await waitFor(async () => (await holds()).length === 2 && (await holds()).every((h) => h.status === 'settled'));
      const charged = await events();
      expect(charged.map((e) => [e.input_tokens, e.output_tokens, e.metadata.aiCall])).toEqual([
        [promptTokens(mock.doGenerateCalls[0]!), 0, { finishReason: 'aborted', estimated: true }],
        [promptTokens(mock.doStreamCalls[0]!), 0, { finishReason: 'aborted', estimated: true }],
      ]);

      // Aborted before the provider was called: nothing reached it, nothing is charged.
      const middleware = billingMiddleware(billing, { accountId: 'team' });
      const call = { prompt: [{ role: 'user' as const, content: [{ type: 'text' as const, text: 'hi' }] }], maxOutputTokens: 10, abortSignal: AbortSignal.abort() };
      await expect(middleware.wrapGenerate!({ doGenerate: () => answering(call), doStream: () => answering(call), params: call, model: mock })).rejects.toThrow();
      expect((await holds()).map((h) => h.status)).toEqual(['settled', 'settled', 'released']);
      expect(await events()).toHaveLength(2);
      expect(await billing.balance('team')).toMatchObject({ heldMicros: 0, debtMicros: 0 });
      expect((await billing.reconcile('team')).problems).toEqual([]);
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(done: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await sleep(10);
  }
}
